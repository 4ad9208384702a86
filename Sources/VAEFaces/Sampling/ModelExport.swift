import Foundation
import NeuralCore
import TensorIO

/// Exported models: the weights and BatchNorm statistics of a VAE, nothing else, under the
/// PyTorch peer's `state_dict` names, so that
///
///     model = VAE("pixeldcl"); model.load_state_dict(safetensors.torch.load_file(path))
///
/// loads it strictly (every key present, none unexpected). Values are F32, or F16 with `half`
/// (about half the size; weights rounded to 11 significant bits). `num_batches_tracked` stays
/// F32 either way (F16 counts exactly only to 2048); PyTorch's loader copies it into its int64
/// buffer. Metadata: "format" = "vae-faces-model", "decoder", "latent_dimension", "kl_weight",
/// and "step" when known; `record` adds entries (an export of a checkpoint carries its
/// "configuration" and "training_state", so a shipped model says how it was trained).
public enum ModelExport {
    public static let format = "vae-faces-model"

    /// The file's bytes are written atomically to `path`.
    public static func write(_ model: VAE, to path: String, half: Bool = false, step: Int? = nil,
                             record: [String: String] = [:]) throws {
        var metadata = record.merging([
            "format": format,
            "decoder": model.configuration.decoder.rawValue,
            "latent_dimension": String(model.configuration.latentDimension),
            "kl_weight": "\(model.configuration.klWeight)",
        ]) { _, fixed in fixed }
        if let step { metadata["step"] = String(step) }
        var writer = SafeTensorsWriter(metadata: metadata)
        for (name, tensor) in model.stateDict {
            let exact = !half || name.hasSuffix(".num_batches_tracked")
            writer.add(name, values: tensor, storage: exact ? .float32 : .float16)
        }
        try writer.write(to: path)
    }

    /// The metadata entries of a checkpoint or model file that describe how it was trained.
    public static let recordKeys = ["configuration", "training_state", "training_record"]

    /// Writes the model of a checkpoint or model file with its step and training record
    /// (`vae-faces export`).
    public static func write(_ loaded: LoadedModel, to path: String, half: Bool = false) throws {
        try write(loaded.model, to: path, half: half, step: loaded.step,
                  record: loaded.metadata.filter { recordKeys.contains($0.key) })
    }
}
