import Foundation
import NeuralCore
import TensorIO

/// Where a run stands after a step: everything besides weights and optimiser moments that a
/// resumed run needs to continue exactly as if it had never stopped.
public struct TrainingState: Codable, Equatable, Sendable {
    /// Steps done (the last completed step; 0 before the first).
    public var step: Int
    /// The data loader's position of the *next* batch (epoch, batch within the epoch); the data
    /// order is a pure function of (seed, epoch), so this fixes every later batch.
    public var position: BatchLoader.Position
    /// The state of the ε noise generator (4 words of xoshiro256**, hexadecimal), before the
    /// next step's draw.
    public var noiseGenerator: [String]
    /// Lowest validation loss (negative ELBO, nats/image) so far and its step.
    public var bestValidationLoss: Double?
    public var bestValidationStep: Int?
    /// The most recent validation and its step.
    public var lastValidation: EvaluationResult?
    public var lastValidationStep: Int?
    /// Seconds spent in training steps so far (not validation), over all sessions.
    public var trainingSeconds: Double
    /// Worker threads of the session that wrote the checkpoint: sums are split by worker, so
    /// losses match bit for bit only when a run is resumed with the same count.
    public var threads: Int
    /// Processes that trained together in the session that wrote the checkpoint (data
    /// parallelism); nil for one process (and in checkpoints from before it). Like `threads`,
    /// it fixes the order of sums, so only the same count resumes bit for bit.
    public var ranks: Int?

    public init(step: Int = 0, position: BatchLoader.Position = .init(), noiseGenerator: SeededGenerator,
                bestValidationLoss: Double? = nil, bestValidationStep: Int? = nil, trainingSeconds: Double = 0,
                threads: Int = Threading.workers) {
        self.step = step
        self.position = position
        self.noiseGenerator = []
        self.bestValidationLoss = bestValidationLoss
        self.bestValidationStep = bestValidationStep
        self.trainingSeconds = trainingSeconds
        self.threads = threads
        setNoiseGenerator(noiseGenerator)
    }

    public mutating func setNoiseGenerator(_ generator: SeededGenerator) {
        let s = generator.state
        noiseGenerator = [s.0, s.1, s.2, s.3].map { String($0, radix: 16) }
    }

    /// The noise generator, or nil if the stored words are not 4 hexadecimal UInt64s.
    public var restoredNoiseGenerator: SeededGenerator? {
        let words = noiseGenerator.compactMap { UInt64($0, radix: 16) }
        guard words.count == 4, noiseGenerator.count == 4 else { return nil }
        return SeededGenerator(state: (words[0], words[1], words[2], words[3]))
    }
}

/// Training checkpoints: one safetensors file holding
///
/// - every parameter and buffer of the model under its PyTorch `state_dict` name
///   ("encoder.features.0.weight", …, "decoder.bns.3.num_batches_tracked"), F32;
/// - Adam's moments as "adam.m.<name>" and "adam.v.<name>", F32;
/// - in `__metadata__` (all strings): "format" = "vae-faces-checkpoint", "format_version" = "1",
///   "decoder" (e.g. "pixeldcl"), "latent_dimension", "kl_weight", "step", "adam_step",
///   "configuration" (`TrainingConfiguration` as JSON) and "training_state" (`TrainingState`
///   as JSON: step, data position, noise-generator state, best validation loss, …).
///
/// Files are written to a temporary file and renamed into place, so a crash or kill -9 at any
/// moment leaves the previous checkpoint intact. A checkpoint loads into the PyTorch peer with
/// `model.load_state_dict(safetensors.torch.load_file(path), strict=False)` (the extra Adam
/// entries are the only unexpected keys); `vae-faces export` writes the strict-loading form.
public enum Checkpoint {
    public static let format = "vae-faces-checkpoint"
    public static let formatVersion = 1
    static let adamPrefix = "adam."

    /// A checkpoint read from disk and validated, ready to restore.
    public struct File {
        public let archive: SafeTensorsArchive
        public let configuration: TrainingConfiguration
        public let state: TrainingState
        public let adamStep: Int
        public var path: String { archive.source }
    }

    /// Writes a checkpoint of `model` and `optimizer` to `path` atomically; `buffers`, when given,
    /// replace the model's own buffers (copies of the BatchNorm statistics taken at `state`'s step:
    /// `ImmediateCheckpoint`).
    public static func write(to path: String, model: VAE, optimizer: Adam, configuration: TrainingConfiguration,
                             state: TrainingState, buffers: [(name: String, tensor: Tensor)]? = nil) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var metadata = [
            "format": format,
            "format_version": String(formatVersion),
            "decoder": configuration.model.decoder.rawValue,
            "latent_dimension": String(configuration.model.latentDimension),
            "kl_weight": "\(configuration.model.klWeight)",
            "step": String(state.step),
            "adam_step": String(optimizer.stepCount),
        ]
        metadata["configuration"] = String(decoding: try encoder.encode(configuration), as: UTF8.self)
        metadata["training_state"] = String(decoding: try encoder.encode(state), as: UTF8.self)
        var writer = SafeTensorsWriter(metadata: metadata)
        let modelState = buffers.map { model.parameters.map { ($0.name, $0.parameter.value) } + $0 } ?? model.stateDict
        for (name, tensor) in modelState { writer.add(name, values: tensor) }
        for (name, tensor) in optimizer.state { writer.add(name, values: tensor) }
        try writer.write(to: path)
    }

    /// Reads and validates the checkpoint at `path` (the model is not built yet: see `restore`).
    public static func read(path: String) throws -> File {
        let archive = try SafeTensorsArchive.read(path: path)
        guard archive.metadata["format"] == format else {
            let what = archive.metadata["format"].map { "a '\($0)' file" }
                ?? (archive.names.contains { $0.hasSuffix("fc.weight") } ? "a model without training state (an export or a PyTorch state_dict)" : "not a vae-faces file")
            throw FileError(file: path, "not a vae-faces training checkpoint (\(what)); only latest.safetensors or best.safetensors of a run can be resumed")
        }
        guard let version = archive.metadata["format_version"].flatMap(Int.init), version == formatVersion else {
            throw FileError(file: path, "checkpoint format version \(archive.metadata["format_version"] ?? "missing"); this build reads version \(formatVersion)")
        }
        let decoder = JSONDecoder()
        let configuration: TrainingConfiguration
        let state: TrainingState
        do {
            configuration = try decoder.decode(TrainingConfiguration.self, from: Data((archive.metadata["configuration"] ?? "").utf8))
            state = try decoder.decode(TrainingState.self, from: Data((archive.metadata["training_state"] ?? "").utf8))
        } catch {
            throw FileError(file: path, "damaged checkpoint: its configuration or training state metadata cannot be read (\(error))")
        }
        try checkTensors(of: archive, describe: configuration.model)
        guard state.restoredNoiseGenerator != nil, state.step >= 0 else {
            throw FileError(file: path, "damaged checkpoint: invalid training state (step \(state.step), noise generator \(state.noiseGenerator))")
        }
        guard let adamStep = archive.metadata["adam_step"].flatMap(Int.init), adamStep >= 0 else {
            throw FileError(file: path, "damaged checkpoint: no valid \"adam_step\" in its metadata")
        }
        return File(archive: archive, configuration: configuration, state: state, adamStep: adamStep)
    }

    /// Throws unless the tensors are those of the model the metadata describes (its decoder kind
    /// and latent size): a file whose metadata and tensors come from different models — another
    /// run's tensors under this run's metadata, or a damaged latent size — is refused before a
    /// model is built from the metadata (a huge latent size would allocate without bound).
    static func checkTensors(of archive: SafeTensorsArchive, describe model: VAEConfiguration) throws {
        let decoder = try? ModelFile.inferDecoder(archive, decoderPrefix: "decoder.")
        let fc = archive.shape("decoder.fc.weight")
        if decoder == model.decoder && fc == [256 * 4 * 4, model.latentDimension] { return }
        let tensors = "\(decoder?.rawValue ?? "unknown") decoder, decoder.fc.weight \(fc.map { "\($0)" } ?? "missing")"
        throw FileError(file: archive.source, "belongs to another model: its metadata describes a \(model.decoder.rawValue) VAE with latent size \(model.latentDimension), but its tensors are another's (\(tensors))")
    }

    /// Copies the checkpoint's weights, buffers and Adam state into a model and optimiser built
    /// from its configuration. Every tensor must be present with its shape.
    public static func restore(_ file: File, model: VAE, optimizer: Adam) throws {
        precondition(model.configuration == file.configuration.model, "Checkpoint.restore: the model's configuration differs from the checkpoint's")
        for (name, tensor) in model.stateDict + optimizer.state {
            guard let shape = file.archive.shape(name) else {
                throw FileError(file: file.path, "damaged checkpoint: no tensor '\(name)'")
            }
            guard shape == tensor.shape else {
                throw FileError(file: file.path, "damaged checkpoint: tensor '\(name)' has shape \(shape), expected \(tensor.shape)")
            }
            try file.archive.load(name, into: tensor)
        }
        model.parametersDidChange()
        optimizer.stepCount = file.adamStep
    }
}
