import ArgumentParser
import Foundation
import NeuralCore
import VAEFaces

extension Split: ExpressibleByArgument {}

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Negative ELBO of a model on a data split, in nats per image and bits per dimension.",
        discussion: """
            −ELBO = reconstruction (Σ over pixels of BCE(σ(logits), x), one z = μ + σ·ε per image) \
            + KL(q(z|x) ‖ N(0, I)) (exact), averaged over the images; bits/dim = nats / (3·64·64·ln 2). \
            BatchNorm uses its running averages, and ε is fixed by --seed and each image, so the \
            value is deterministic and does not depend on --batch.
            """)

    @Option(help: "The model file (.safetensors: checkpoint, export or PyTorch state_dict).")
    var model: String

    @Option(help: "The data folder (default: $VAE_FACES_DATA).")
    var data: String?

    @Option(help: "The prepared cache.")
    var cache: String?

    @Option(help: "The split: train, val or test.")
    var split: Split = .test

    @Option(help: "Images per batch.")
    var batch = 64

    @Option(help: "Seed of the noise ε.")
    var seed: UInt64 = 0

    @Flag(help: "Print the result as JSON.")
    var json = false

    @OptionGroup var threads: ThreadOptions

    func validate() throws {
        guard batch > 0 else { throw ValidationError("--batch must be positive, got \(batch)") }
    }

    func run() throws {
        threads.apply()
        let loaded = try ModelFile.load(path: model, requireEncoder: true)
        let folder = data != nil || cache == nil ? try DataPreparation.resolveDataFolder(data) : nil
        let prepared = try DataPreparation.openOrPrepare(dataFolder: folder, cachePath: cache) { event in
            if case .note(let text) = event { printError(text) }
        }
        let result = try Evaluation.run(loaded.model, cache: prepared, split: split, batchSize: batch, noiseSeed: seed)
        if json {
            struct Output: Encodable {
                var model: String, decoder: String, split: String, images: Int
                var negative_elbo_nats: Double, bits_per_dim: Double, reconstruction: Double, kl: Double
                var noise_seed: UInt64
            }
            try printJSON(Output(model: model, decoder: loaded.decoder.rawValue, split: split.rawValue, images: result.images,
                                 negative_elbo_nats: result.negativeELBO, bits_per_dim: result.bitsPerDimension,
                                 reconstruction: result.reconstruction, kl: result.kl, noise_seed: result.noiseSeed))
        } else {
            print("\(split.rawValue) split, \(result.images) images, \(loaded.decoder.rawValue) model:")
            print(String(format: "  −ELBO %.2f nats/image = %.4f bits/dim", result.negativeELBO, result.bitsPerDimension))
            print(String(format: "  reconstruction %.2f nats/image, KL %.2f nats/image", result.reconstruction, result.kl))
        }
    }
}
