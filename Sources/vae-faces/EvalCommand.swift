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
            --iw K adds the importance-weighted bound (Burda et al. 2016) −L_K = −log (1/K) Σ_k \
            p(x|z_k) p(z_k) / q(z_k|x), z_k ~ q(z|x): at most the −ELBO in expectation, falling \
            towards −log p(x) as K grows (it costs K decodes per image; its first sample is the \
            ELBO's ε). Likelihood caveat: p(x|z) is a Bernoulli on continuous [0, 1] pixels, as in \
            training, not a distribution over 8-bit images, so these numbers are not comparable \
            to published discretised bits/dim (NVAE's 2.03 on CelebA 64, IWAE on binarised data, …); \
            they compare decoders with each other. The text output repeats this under the numbers.
            """)

    /// Printed under every bits/dim (and in the JSON as `bits_per_dim_note`).
    static let bitsPerDimensionCaveat = "bits/dim of a Bernoulli likelihood on continuous [0, 1] pixels, not of 8-bit images: "
        + "a relative measure between decoders, not comparable to published bits/dim (NVAE's 2.03 on CelebA 64 is discretised)"

    @Option(help: "The model file (.safetensors: checkpoint, export or PyTorch state_dict).")
    var model: String

    @OptionGroup var data: DataOptions

    @Option(help: "The split: train, val or test.")
    var split: Split = .test

    @Option(help: "Images per batch.")
    var batch = 64

    @Option(help: "Seed of the noise ε.")
    var seed: UInt64 = 0

    @Option(name: .customLong("iw"), help: ArgumentHelp("Also compute the importance-weighted bound with K samples per image.", valueName: "K"))
    var importanceSamples: Int?

    @Flag(help: "Print the result as JSON.")
    var json = false

    @OptionGroup var threads: ThreadOptions

    func validate() throws {
        guard batch > 0 else { throw ValidationError("--batch must be positive, got \(batch)") }
        if let k = importanceSamples, k < 1 { throw ValidationError("--iw needs at least 1 sample, got \(k)") }
    }

    func run() throws {
        threads.apply()
        let loaded = try ModelFile.load(path: model, requireEncoder: true)
        let prepared = try data.open()
        let result = try Evaluation.run(loaded.model, cache: prepared, split: split, batchSize: batch, noiseSeed: seed)
        let bound = try importanceSamples.map {
            try Evaluation.importanceWeighted(loaded.model, cache: prepared, split: split, samples: $0, batchSize: batch,
                                              noiseSeed: seed)
        }
        if json {
            struct Output: Encodable {
                var model: String, decoder: String, split: String, images: Int
                var negative_elbo_nats: Double, bits_per_dim: Double, reconstruction: Double, kl: Double
                var noise_seed: UInt64
                var iw_samples: Int?, iw_negative_bound_nats: Double?, iw_bits_per_dim: Double?
                var bits_per_dim_note: String
            }
            try printJSON(Output(model: model, decoder: loaded.decoder.rawValue, split: split.rawValue, images: result.images,
                                 negative_elbo_nats: result.negativeELBO, bits_per_dim: result.bitsPerDimension,
                                 reconstruction: result.reconstruction, kl: result.kl, noise_seed: result.noiseSeed,
                                 iw_samples: bound?.samples, iw_negative_bound_nats: bound?.negativeBound,
                                 iw_bits_per_dim: bound?.bitsPerDimension, bits_per_dim_note: Self.bitsPerDimensionCaveat))
        } else {
            print(Self.text(split: split, decoder: loaded.decoder, result: result, bound: bound), terminator: "")
        }
    }

    /// The report for people: the bound(s) in nats per image and bits/dim, then the caveat.
    static func text(split: Split, decoder: DecoderKind, result: EvaluationResult, bound: ImportanceWeightedResult?) -> String {
        var lines = ["\(split.rawValue) split, \(result.images) images, \(decoder.rawValue) model:",
                     String(format: "  −ELBO %.2f nats/image = %.4f bits/dim", result.negativeELBO, result.bitsPerDimension),
                     String(format: "  reconstruction %.2f nats/image, KL %.2f nats/image", result.reconstruction, result.kl)]
        if let bound {
            lines.append(String(format: "  importance-weighted bound −L_K, K = %d: %.2f nats/image = %.4f bits/dim",
                                bound.samples, bound.negativeBound, bound.bitsPerDimension))
        }
        lines.append("  note: " + bitsPerDimensionCaveat)
        return lines.joined(separator: "\n") + "\n"
    }
}
