import Foundation
import NeuralCore
import TensorIO

/// A VAE read from a model file, with what the file said about it.
public struct LoadedModel {
    public let model: VAE
    public let path: String
    public let decoder: DecoderKind
    /// Where the decoder kind came from: "metadata" or "tensor names".
    public let decoderSource: String
    /// Whether the file held the encoder (decoder-only files can sample but not encode).
    public let hasEncoder: Bool
    /// The file's safetensors metadata (empty for a plain PyTorch state_dict).
    public let metadata: [String: String]
    /// The training step, for a vae-faces checkpoint or export.
    public var step: Int? { metadata["step"].flatMap { Int($0) } }
}

/// Reading a model from any of the files that hold one: a training checkpoint
/// (`latest.safetensors`, `best.safetensors`), an exported model (`vae-faces export`), or a
/// PyTorch state_dict of the peer's `VAE` saved with `safetensors.torch.save_file` — all the
/// same tensor names ("encoder.features.0.weight", "decoder.ups.2.w1", …, PyTorch layouts).
///
/// - Decoder kind: the metadata's `"decoder"` when present, else inferred from the first Up
///   layer's tensors: `w0, w1, w2` → pixeldcl; `w1, w2, w3` → ipixeldcl; `weight` of shape
///   [Cin, Cout, 6, 6] → dcl, [Cout, Cin, 3, 3] → resizeconv.
/// - Latent size: from `decoder.fc.weight` [4096, latent].
/// - Prefixes: names may carry one (`module.`, `_orig_mod.` from DataParallel/torch.compile).
///   A decoder-only state_dict (`model.decoder.state_dict()`, names "fc.weight", "ups.0.w0", …)
///   is accepted for sampling (`hasEncoder` false).
/// - Element types: F32, F16, BF16, F64 weights; `num_batches_tracked` as I64 (PyTorch) or F32
///   (vae-faces), and optional (PyTorch's own loader also tolerates its absence).
/// - Extra tensors (a checkpoint's Adam moments) are ignored.
/// Every failure names the file and says what is wrong: missing, truncated, not safetensors,
/// not a VAE, a missing tensor, a wrong shape, non-finite weights.
public enum ModelFile {
    /// Where a file's state_dict entries live.
    struct Layout: Equatable {
        /// Prefix of the whole model's names ("" for a plain state_dict).
        var modelPrefix: String
        /// Prefix of the decoder's names (modelPrefix + "decoder.", or the decoder-only prefix).
        var decoderPrefix: String
        var hasEncoder: Bool
    }

    /// Finds the decoder's tensors (the file's names end in "…fc.weight" next to "…ups.0.…").
    static func layout(of archive: SafeTensorsArchive) throws -> Layout {
        let names = Set(archive.names)
        let candidates = archive.names.filter { $0.hasSuffix("fc.weight") }
            .map { String($0.dropLast("fc.weight".count)) }
            .filter { prefix in names.contains { $0.hasPrefix(prefix + "ups.0.") } }
            .sorted { $0.count < $1.count }
        guard let decoderPrefix = candidates.first else {
            let example = archive.names.prefix(3).map { "'\($0)'" }.joined(separator: ", ")
            throw FileError(file: archive.source, "not a VAE model: no decoder tensors ('decoder.fc.weight' and 'decoder.ups.0.…') among its \(archive.names.count) tensors\(archive.names.isEmpty ? "" : " (e.g. \(example))")")
        }
        let modelPrefix = decoderPrefix.hasSuffix("decoder.") ? String(decoderPrefix.dropLast("decoder.".count)) : decoderPrefix
        let hasEncoder = decoderPrefix.hasSuffix("decoder.") && names.contains(modelPrefix + "encoder.features.0.weight")
        return Layout(modelPrefix: modelPrefix, decoderPrefix: decoderPrefix, hasEncoder: hasEncoder)
    }

    /// The decoder kind from the first Up layer's tensor names and shapes (see the type's notes).
    static func inferDecoder(_ archive: SafeTensorsArchive, decoderPrefix: String) throws -> DecoderKind {
        let up = decoderPrefix + "ups.0."
        let has = { (name: String) in archive.shape(up + name) != nil }
        if has("w0") && has("w1") && has("w2") { return .pixeldcl }
        if has("w1") && has("w2") && has("w3") { return .ipixeldcl }
        if let shape = archive.shape(up + "weight"), shape.count == 4 {
            if shape[2] == 6 && shape[3] == 6 { return .dcl }
            if shape[2] == 3 && shape[3] == 3 { return .resizeconv }
        }
        let found = archive.names.filter { $0.hasPrefix(up) }.map { "'\($0)' \(archive.shape($0) ?? [])" }
        throw FileError(file: archive.source, "cannot tell the decoder kind: no \"decoder\" metadata, and the first Up layer's tensors (\(found.joined(separator: ", "))) match none of dcl (weight [Cin, Cout, 6, 6]), pixeldcl (w0, w1, w2), ipixeldcl (w1, w2, w3), resizeconv (weight [Cout, Cin, 3, 3])")
    }

    /// Reads the model at `path`. `requireEncoder`: refuse decoder-only files (for encoding).
    public static func load(path: String, requireEncoder: Bool = false) throws -> LoadedModel {
        let archive = try SafeTensorsArchive.read(path: path)
        return try load(archive, requireEncoder: requireEncoder)
    }

    /// The model in an already opened file.
    public static func load(_ archive: SafeTensorsArchive, requireEncoder: Bool = false) throws -> LoadedModel {
        let layout = try self.layout(of: archive)
        if requireEncoder && !layout.hasEncoder {
            throw FileError(file: archive.source, "holds only a decoder (no 'encoder.…' tensors), so it can sample but not encode images; use a full checkpoint or state_dict")
        }
        let inferred = try? inferDecoder(archive, decoderPrefix: layout.decoderPrefix)
        let decoder: DecoderKind
        let source: String
        if let named = archive.metadata["decoder"] {
            guard let kind = DecoderKind(rawValue: named) else {
                throw FileError(file: archive.source, "its metadata names the decoder '\(named)', which is none of \(DecoderKind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            if let inferred, inferred != kind {
                throw FileError(file: archive.source, "its metadata says decoder '\(named)' but its tensors are those of '\(inferred.rawValue)'")
            }
            (decoder, source) = (kind, "metadata")
        } else {
            (decoder, source) = (try inferDecoder(archive, decoderPrefix: layout.decoderPrefix), "tensor names")
        }
        guard let fcShape = archive.shape(layout.decoderPrefix + "fc.weight"), fcShape.count == 2, fcShape[0] == 256 * 4 * 4, fcShape[1] > 0 else {
            throw FileError(file: archive.source, "'\(layout.decoderPrefix)fc.weight' has shape \(archive.shape(layout.decoderPrefix + "fc.weight") ?? []), expected [4096, latent]")
        }
        let configuration = VAEConfiguration(latentDimension: fcShape[1], decoder: decoder,
                                             klWeight: archive.metadata["kl_weight"].flatMap(Float.init) ?? 1)
        let model = VAE(configuration: configuration, seed: 0)
        try loadState(model, from: archive, layout: layout)
        return LoadedModel(model: model, path: archive.source, decoder: decoder, decoderSource: source,
                           hasEncoder: layout.hasEncoder, metadata: archive.metadata)
    }

    /// Copies every state_dict entry of `model` that the layout provides from `archive`
    /// (the encoder's only when the file has it). A missing `num_batches_tracked` is set to 0.
    static func loadState(_ model: VAE, from archive: SafeTensorsArchive, layout: Layout) throws {
        var parts: [(prefix: String, module: any Module)] = [(layout.decoderPrefix, model.decoder)]
        if layout.hasEncoder { parts.insert((layout.modelPrefix + "encoder.", model.encoder), at: 0) }
        for (prefix, module) in parts {
            for (name, tensor) in module.stateDict {
                let fileName = prefix + name
                guard let shape = archive.shape(fileName) else {
                    if name.hasSuffix(".num_batches_tracked") {
                        tensor.zero()
                        continue
                    }
                    throw FileError(file: archive.source, "incomplete \(model.configuration.decoder.rawValue) model: no tensor '\(fileName)' (the file has \(archive.names.count) tensors)")
                }
                guard shape == tensor.shape else {
                    throw FileError(file: archive.source, "tensor '\(fileName)' has shape \(shape), but a \(model.configuration.decoder.rawValue) VAE with latent size \(model.configuration.latentDimension) needs \(tensor.shape)")
                }
                try archive.load(fileName, into: tensor)
                if let bad = (0..<tensor.count).first(where: { !tensor[$0].isFinite }) {
                    throw FileError(file: archive.source, "tensor '\(fileName)' holds a non-finite value (\(tensor[bad]) at index \(bad))")
                }
            }
        }
        model.parametersDidChange()
    }
}
