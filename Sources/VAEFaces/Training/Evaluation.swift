import Foundation
import NeuralCore
import TensorIO

/// The negative ELBO of a model on a set of images, and its two parts.
public struct EvaluationResult: Codable, Equatable, Sendable {
    /// Images evaluated.
    public var images: Int
    /// −ELBO = reconstruction + KL, nats per image (averaged over the images).
    public var negativeELBO: Double
    /// E_q[−log p(x|z)] estimated with one z per image: Σ_pixels BCE(σ(logits), x), nats/image.
    public var reconstruction: Double
    /// KL(q(z|x) ‖ N(0, I)) in closed form, nats/image.
    public var kl: Double
    /// −ELBO in bits per dimension: nats / (3·64·64 · ln 2).
    public var bitsPerDimension: Double
    /// The seed of the evaluation noise ε.
    public var noiseSeed: UInt64

    enum CodingKeys: String, CodingKey {
        case images, kl, reconstruction
        case negativeELBO = "negative_elbo_nats"
        case bitsPerDimension = "bits_per_dim"
        case noiseSeed = "noise_seed"
    }

    /// Dimensions of one image: 3·64·64.
    public static let dimensions = Double(VAEConfiguration.imageChannels * VAEConfiguration.imageSize * VAEConfiguration.imageSize)

    /// nats per image → bits per dimension.
    public static func bitsPerDimension(nats: Double) -> Double { nats / (dimensions * log(2.0)) }
}

/// Validation and test losses: the negative ELBO, −ELBO(x) = E_q(z|x)[−log p(x|z)] + KL(q(z|x) ‖ p(z)),
/// with p(x|z) the Bernoulli-logit likelihood the model trains on (so −ELBO is the training loss
/// at β = 1, whatever β the model was trained with).
///
/// - BatchNorm in inference mode (running averages): an image's value does not depend on what
///   else is in its batch, so the batch size does not matter.
/// - The reconstruction term is a one-sample Monte-Carlo estimate, z = μ + σ·ε, with ε for the
///   image at cache index i drawn from `SeededGenerator(seed: fmix64(seed ^ fmix64(i + C)),
///   stream: 3)` (`noise(forImage:)`): fixed by (seed, image), so evaluation is deterministic and
///   unbiased, and two models are compared on the same noise. (Using z = μ instead would give a
///   lower, biased value that is not an ELBO.) The KL term is exact.
public enum Evaluation {
    /// ε for the image at cache index `index`, written to `out` (`dimension` values).
    public static func noise(forImage index: Int, seed: UInt64, dimension: Int, into out: UnsafeMutablePointer<Float>) {
        let imageSeed = StableHash.fmix64(seed ^ StableHash.fmix64(UInt64(index) &+ 0x6576_616C_6E6F_6973))
        var generator = SeededGenerator(seed: imageSeed, stream: 3)
        for j in 0..<dimension { out[j] = generator.nextNormal() }
    }

    /// −ELBO of `model` over `split` of `cache` (the first `limit` images in file-name order when
    /// given), in batches of `batchSize`.
    public static func run(_ model: VAE, cache: PreparedCache, split: Split, batchSize: Int = 64,
                           noiseSeed: UInt64 = 0, limit: Int? = nil) throws -> EvaluationResult {
        var indices = cache.indices(in: split)
        if let limit { indices = Array(indices.prefix(limit)) }
        guard !indices.isEmpty else {
            throw FileError(file: cache.path, "the \(split.rawValue) split has no images to evaluate")
        }
        return run(model, cache: cache, indices: indices, batchSize: batchSize, noiseSeed: noiseSeed)
    }

    /// −ELBO of `model` over the cache images `indices`.
    public static func run(_ model: VAE, cache: PreparedCache, indices: [Int], batchSize: Int = 64,
                           noiseSeed: UInt64 = 0) -> EvaluationResult {
        precondition(!indices.isEmpty && batchSize > 0, "Evaluation.run: \(indices.count) images, batch \(batchSize)")
        let d = model.configuration.latentDimension
        let loader = BatchLoader(cache: cache, indices: indices, batchSize: batchSize, mode: .evaluation)
        let noise = Tensor(shape: [min(batchSize, indices.count), d])
        var reconstruction = 0.0, kl = 0.0
        while let batch = loader.next() {
            noise.reshape([batch.count, d])
            for (k, index) in batch.indices.enumerated() {
                self.noise(forImage: index, seed: noiseSeed, dimension: d, into: noise.pointer + k * d)
            }
            let value = model.loss(model.forward(batch.tensor, noise: noise, mode: .inference), target: batch.tensor)     // batch means
            reconstruction += value.reconstruction * Double(batch.count)
            kl += value.kl * Double(batch.count)
        }
        let n = Double(indices.count)
        let total = (reconstruction + kl) / n
        return EvaluationResult(images: indices.count, negativeELBO: total, reconstruction: reconstruction / n, kl: kl / n,
                                bitsPerDimension: EvaluationResult.bitsPerDimension(nats: total), noiseSeed: noiseSeed)
    }
}
