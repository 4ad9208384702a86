import Foundation
import NeuralCore
import TensorIO

/// What a person asks of a training session (`vae-faces train`'s options), and the policy that
/// turns it into a `Trainer`: start a run or resume one, which settings a resumed run keeps,
/// where the data comes from, how long to train.
public struct TrainingRequest: Sendable {
    /// A new run in a folder of its own, or the continuation of the run in a folder.
    public enum Run: Sendable, Equatable {
        case new(folder: String)
        case resume(folder: String)
    }

    /// How far to train: to a total step, or to the end of a total epoch.
    public enum Length: Sendable, Equatable {
        case steps(Int)
        case epochs(Int)
    }

    public var run: Run
    public var length: Length
    /// The decoder: required for a new run; on resume, if given, it must be the run's.
    public var decoder: DecoderKind?
    /// The data folder and the prepared cache; nil: the run's own (on resume), else
    /// $VAE_FACES_DATA.
    public var data: String?
    public var cache: String?
    /// Settings of a new run (nil: the defaults of `TrainingConfiguration` and
    /// `VAEConfiguration`); on resume they must agree with the run's, except the learning rate,
    /// which then changes from the next step on.
    public var batchSize: Int?
    public var learningRate: Double?
    public var latentDimension: Int?
    public var klWeight: Float?
    public var seed: UInt64?
    /// The `TrainingSchedule`'s intervals.
    public var sampleEvery: Int?
    public var checkpointEvery: Int? = 200
    public var evalEvery: Int?
    /// Validate on at most this many val images (nil: all; for quick tests).
    public var validationLimit: Int?

    public init(run: Run, length: Length, decoder: DecoderKind? = nil) {
        self.run = run
        self.length = length
        self.decoder = decoder
    }

    /// Options given on resume that contradict the run's settings, one phrase each.
    public struct ResumeConflict: Error, CustomStringConvertible, Sendable {
        public var conflicts: [String]
        public var description: String { "a resumed run keeps its settings; drop " + conflicts.joined(separator: ", ") }
    }

    /// A trainer ready to `run`, and what a person is told about it.
    public struct Setup {
        public let trainer: Trainer
        public let stepsPerEpoch: Int
        /// "training pixeldcl VAE (latent 128, β 1.0), batch 64, …: step 0 → 5000 (…) in RUN".
        public var description: String {
            let c = trainer.configuration
            return "\(trainer.isResumed ? "resuming" : "training") \(c.model.decoder.rawValue) VAE (latent \(c.model.latentDimension), β \(c.model.klWeight)), "
                + "batch \(c.batchSize), lr \(c.learningRate), seed \(c.seed), \(Threading.workers) threads\(processes): "
                + "step \(trainer.state.step) → \(trainer.schedule.steps) (\(stepsPerEpoch) steps per epoch) in \(trainer.folder.path)"
        }

        /// " in each of 4 processes (16 images each)" when several train together, else "".
        private var processes: String {
            let ranks = trainer.communicator.size
            return ranks > 1 ? " in each of \(ranks) processes (\(trainer.configuration.batchSize / ranks) images each)" : ""
        }
    }

    /// Reads the checkpoint (on resume), opens or prepares the data, and builds the trainer.
    /// `note` hears what a person should know (data preparation, a changed learning rate).
    /// Throws `ResumeConflict` for options a resumed run cannot take, and file and settings errors.
    ///
    /// With several processes in `communicator` (data parallelism), every process calls this;
    /// rank 0 opens or prepares the data first and the others then open what it prepared.
    public func makeTrainer(note: (String) -> Void, communicator: any Communicator = SingleProcess()) throws -> Setup {
        let folder: RunFolder
        let checkpoint: Checkpoint.File?
        switch run {
        case .new(let path):
            folder = RunFolder(path)
            checkpoint = nil
        case .resume(let path):
            folder = RunFolder(path)
            guard FileManager.default.fileExists(atPath: folder.latestCheckpoint) else {
                throw FileError(file: folder.path, "no latest.safetensors here: not a training run folder (start one with --out)")
            }
            checkpoint = try Checkpoint.read(path: folder.latestCheckpoint)
        }
        if let checkpoint { try checkResumable(checkpoint.configuration) }
        var configuration = try checkpoint?.configuration ?? newConfiguration()
        try configuration.validate()

        if communicator.rank > 0 { communicator.barrier() }
        let prepared = try openData(configuration: &configuration, note: note)
        if communicator.isDistributed && communicator.rank == 0 { communicator.barrier() }
        let stepsPerEpoch = prepared.indices(in: .train).count / configuration.batchSize
        guard stepsPerEpoch > 0 else {
            throw FileError(file: prepared.path, "the train split has \(prepared.indices(in: .train).count) images, fewer than one batch of \(configuration.batchSize)")
        }
        let steps: Int
        switch length {
        case .steps(let count): steps = count
        case .epochs(let count): steps = count * stepsPerEpoch
        }
        let schedule = TrainingSchedule(steps: steps, sampleEvery: sampleEvery, checkpointEvery: checkpointEvery, evalEvery: evalEvery,
                                        validationLimit: validationLimit)
        try schedule.validate()

        let trainer: Trainer
        if let checkpoint {
            if let learningRate, learningRate != checkpoint.configuration.learningRate {
                note("note: the learning rate changes from \(checkpoint.configuration.learningRate) to \(learningRate) from step \(checkpoint.state.step + 1) on")
            }
            trainer = try Trainer(resuming: checkpoint, schedule: schedule, folder: folder, cache: prepared, learningRate: learningRate,
                                  communicator: communicator)
        } else {
            trainer = try Trainer(configuration: configuration, schedule: schedule, folder: folder, cache: prepared,
                                  communicator: communicator)
        }
        return Setup(trainer: trainer, stepsPerEpoch: stepsPerEpoch)
    }

    /// The configuration of a new run from the options and the defaults.
    private func newConfiguration() throws -> TrainingConfiguration {
        guard let decoder else { throw VAEFacesError("choose the decoder of the new run (dcl, pixeldcl, ipixeldcl or resizeconv)") }
        let defaults = TrainingConfiguration(), model = VAEConfiguration()
        return TrainingConfiguration(
            model: VAEConfiguration(latentDimension: latentDimension ?? model.latentDimension, decoder: decoder,
                                    klWeight: klWeight ?? model.klWeight),
            batchSize: batchSize ?? defaults.batchSize, learningRate: learningRate ?? defaults.learningRate,
            seed: seed ?? defaults.seed)
    }

    /// Throws `ResumeConflict` if an option that defines the run differs from the run's setting.
    private func checkResumable(_ c: TrainingConfiguration) throws {
        var conflicts = [String]()
        if let decoder, decoder != c.model.decoder {
            conflicts.append("--decoder \(decoder.rawValue) (the run's: \(c.model.decoder.rawValue))")
        }
        if let latentDimension, latentDimension != c.model.latentDimension {
            conflicts.append("--latent \(latentDimension) (the run's: \(c.model.latentDimension))")
        }
        if let batchSize, batchSize != c.batchSize { conflicts.append("--batch \(batchSize) (the run's: \(c.batchSize))") }
        if let klWeight, klWeight != c.model.klWeight { conflicts.append("--beta \(klWeight) (the run's: \(c.model.klWeight))") }
        if let seed, seed != c.seed { conflicts.append("--seed \(seed) (the run's: \(c.seed))") }
        if !conflicts.isEmpty { throw ResumeConflict(conflicts: conflicts) }
    }

    /// The data: the options first, else the run's own, else $VAE_FACES_DATA; prepared when no
    /// cache exists. Records the folder and the explicit cache in `configuration`. Only the val
    /// images are held in memory (validation, grids and the artifact curves use them); train
    /// batches are read from the cache file as they are needed.
    private func openData(configuration: inout TrainingConfiguration, note: (String) -> Void) throws -> PreparedCache {
        let dataFolder = data.map(DataFolder.absolutePath) ?? (cache == nil ? configuration.dataFolder : nil)
        let cachePath = cache.map(DataFolder.absolutePath) ?? (data == nil ? configuration.cachePath : nil)
        let resolvedFolder = cachePath != nil && dataFolder == nil ? nil : try DataPreparation.resolveDataFolder(dataFolder)
        let prepared = try DataPreparation.openOrPrepare(dataFolder: resolvedFolder, cachePath: cachePath, inMemory: [.val]) { event in
            switch event {
            case .note(let text): note(text)
            case .skipped(let file, let reason): note("skipped \(file): \(reason)")
            case .progress(let done, let total, _, _) where done == total: note("prepared \(total) files")
            case .progress: break
            }
        }
        configuration.dataFolder = resolvedFolder ?? configuration.dataFolder
        configuration.cachePath = cachePath
        return prepared
    }
}
