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
    /// ε for the image at cache index `index`, written to `out` (`dimension` values): the first
    /// `dimension` normals of `noiseGenerator(forImage:seed:)`.
    public static func noise(forImage index: Int, seed: UInt64, dimension: Int, into out: UnsafeMutablePointer<Float>) {
        var generator = noiseGenerator(forImage: index, seed: seed)
        for j in 0..<dimension { out[j] = generator.nextNormal() }
    }

    /// The evaluation noise of the image at cache index `index`. The ELBO takes its first ε from
    /// it; the importance-weighted bound takes its K samples in order, so its first sample is the
    /// ELBO's.
    public static func noiseGenerator(forImage index: Int, seed: UInt64) -> SeededGenerator {
        let imageSeed = StableHash.fmix64(seed ^ StableHash.fmix64(UInt64(index) &+ 0x6576_616C_6E6F_6973))
        return SeededGenerator(seed: imageSeed, stream: 3)
    }

    /// The images of `split` to evaluate: all of them in file-name order, or the first `limit`.
    static func indices(of cache: PreparedCache, split: Split, limit: Int?) throws -> [Int] {
        var indices = cache.indices(in: split)
        if let limit { indices = Array(indices.prefix(limit)) }
        guard !indices.isEmpty else {
            throw FileError(file: cache.path, "the \(split.rawValue) split has no images to evaluate")
        }
        return indices
    }

    /// −ELBO of `model` over `split` of `cache` (the first `limit` images in file-name order when
    /// given), in batches of `batchSize`.
    public static func run(_ model: VAE, cache: PreparedCache, split: Split, batchSize: Int = 64,
                           noiseSeed: UInt64 = 0, limit: Int? = nil) throws -> EvaluationResult {
        run(model, cache: cache, indices: try indices(of: cache, split: split, limit: limit), batchSize: batchSize,
            noiseSeed: noiseSeed)
    }

    /// −ELBO of `model` over the cache images `indices`. With several ranks in `communicator`,
    /// each evaluates its contiguous share of `indices` and the sums are summed over the ranks
    /// (every rank gets the result; an image's value does not depend on who evaluates it).
    public static func run(_ model: VAE, cache: PreparedCache, indices: [Int], batchSize: Int = 64,
                           noiseSeed: UInt64 = 0, communicator: any Communicator = SingleProcess()) -> EvaluationResult {
        precondition(!indices.isEmpty && batchSize > 0, "Evaluation.run: \(indices.count) images, batch \(batchSize)")
        let d = model.configuration.latentDimension
        let rank = communicator.rank, ranks = communicator.size
        let share = Array(indices[indices.count * rank / ranks ..< indices.count * (rank + 1) / ranks])
        var reconstruction = 0.0, kl = 0.0
        if !share.isEmpty {
            (reconstruction, kl) = sums(model, cache: cache, indices: share, batchSize: batchSize, noiseSeed: noiseSeed, latentDimension: d)
        }
        let total = communicator.allReduceSum([reconstruction, kl])
        (reconstruction, kl) = (total[0], total[1])
        let n = Double(indices.count)
        let negativeELBO = (reconstruction + kl) / n
        return EvaluationResult(images: indices.count, negativeELBO: negativeELBO, reconstruction: reconstruction / n, kl: kl / n,
                                bitsPerDimension: EvaluationResult.bitsPerDimension(nats: negativeELBO), noiseSeed: noiseSeed)
    }

    /// Σ over the images `indices` of the reconstruction term and of the KL term (nats).
    private static func sums(_ model: VAE, cache: PreparedCache, indices: [Int], batchSize: Int, noiseSeed: UInt64,
                             latentDimension d: Int) -> (reconstruction: Double, kl: Double) {
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
        return (reconstruction, kl)
    }
}

// MARK: - The importance-weighted bound

/// The importance-weighted bound of a model on a set of images (Burda, Grosse & Salakhutdinov,
/// *Importance Weighted Autoencoders*, 2016), reported like the −ELBO: as its negative.
public struct ImportanceWeightedResult: Equatable, Sendable {
    /// Images evaluated.
    public var images: Int
    /// K, the samples z_k ~ q(z|x) per image.
    public var samples: Int
    /// −L_K in nats per image (averaged over the images): in expectation at most the −ELBO
    /// (L_1 is a one-sample ELBO), falling towards −log p(x) as K grows.
    public var negativeBound: Double
    /// −L_K in bits per dimension.
    public var bitsPerDimension: Double
    /// The seed of the noise ε.
    public var noiseSeed: UInt64
}

extension Evaluation {
    /// The importance-weighted bound L_K of `model` over `split` of `cache` (the first `limit`
    /// images when given), averaged over the images; see `importanceWeightedBounds`.
    public static func importanceWeighted(_ model: VAE, cache: PreparedCache, split: Split, samples: Int,
                                          batchSize: Int = 64, noiseSeed: UInt64 = 0,
                                          limit: Int? = nil) throws -> ImportanceWeightedResult {
        let indices = try indices(of: cache, split: split, limit: limit)
        let bounds = importanceWeightedBounds(model, cache: cache, indices: indices, samples: samples,
                                              batchSize: batchSize, noiseSeed: noiseSeed)
        let negative = -bounds.reduce(0, +) / Double(bounds.count)
        return ImportanceWeightedResult(images: bounds.count, samples: samples, negativeBound: negative,
                                        bitsPerDimension: EvaluationResult.bitsPerDimension(nats: negative),
                                        noiseSeed: noiseSeed)
    }

    /// L_K(x) = log (1/K) Σ_k p(x|z_k) p(z_k) / q(z_k|x), z_k = μ + σ·ε_k, for each image of
    /// `indices` (nats), with the ELBO's likelihood (Bernoulli logits on the continuous pixels),
    /// p(z) = N(0, I) and q(z|x) = N(μ, σ²). The log weight of a sample is
    ///
    ///   log w = −Σ_pixels BCE(σ(logits), x) + ½ Σ_j (ε_j² − z_j² + log σ²_j)
    ///
    /// (the (2π)^(−D/2) of p and q cancel), summed in Double and combined by a streaming
    /// log-sum-exp, so no weight is ever exponentiated outside [0, 1].
    ///
    /// - ε_k of the image at cache index i: normals D·k ..< D·(k+1) of
    ///   `noiseGenerator(forImage: i, seed:)`. So the bound is deterministic by seed, ε_1 is the
    ///   ELBO's ε (L_1 is the single-sample estimate −(reconstruction + KL) of `run` with the KL
    ///   estimated by log q − log p instead of exactly), and L_K uses the first K samples of L_K′.
    /// - Memory stays bounded for any K: `batchSize` images are encoded at a time and their
    ///   (image, sample) pairs decoded `batchSize` rows at a time; BatchNorm in inference mode,
    ///   so no value depends on the batch size.
    public static func importanceWeightedBounds(_ model: VAE, cache: PreparedCache, indices: [Int], samples: Int,
                                                batchSize: Int = 64, noiseSeed: UInt64 = 0) -> [Double] {
        precondition(!indices.isEmpty && samples > 0 && batchSize > 0,
                     "Evaluation.importanceWeightedBounds: \(indices.count) images, \(samples) samples, batch \(batchSize)")
        let d = model.configuration.latentDimension
        let image = BatchLoader.shape(images: 1), pixels = image.reduce(1, *)
        let loader = BatchLoader(cache: cache, indices: indices, batchSize: batchSize, mode: .evaluation)
        let z = Tensor(shape: [batchSize, d])
        // One row's logits and its image, for the per-image BCE.
        let rowLogits = Tensor(shape: image), target = Tensor(shape: image)
        var bounds = [Double]()
        bounds.reserveCapacity(indices.count)
        while let batch = loader.next() {
            // μ and log σ² stay valid while the decoder runs (they belong to the encoder's heads).
            let (mu, logVariance) = model.encoder.forward(batch.tensor, mode: .inference)
            var generators = batch.indices.map { noiseGenerator(forImage: $0, seed: noiseSeed) }
            var weights = Array(repeating: LogMeanExp(), count: batch.count)
            var latentTerms = [Double](repeating: 0, count: batchSize)
            let rows = batch.count * samples                     // row r: image r / K, sample r % K
            for start in stride(from: 0, to: rows, by: batchSize) {
                let count = min(batchSize, rows - start)
                z.reshape([count, d])
                for r in 0..<count {
                    let i = (start + r) / samples
                    var term = 0.0
                    for j in 0..<d {
                        let m = mu[i * d + j], lv = logVariance[i * d + j]
                        let epsilon = generators[i].nextNormal()
                        let zj = m + expf(0.5 * lv) * epsilon       // as `Reparameterization.forward`
                        z[r * d + j] = zj
                        term += Double(epsilon) * Double(epsilon) - Double(zj) * Double(zj) + Double(lv)
                    }
                    latentTerms[r] = 0.5 * term
                }
                let logits = model.decoder.forward(z, mode: .inference)
                var targetImage = -1
                for r in 0..<count {
                    let i = (start + r) / samples
                    if i != targetImage {
                        target.pointer.update(from: batch.tensor.pointer + i * pixels, count: pixels)
                        targetImage = i
                    }
                    rowLogits.pointer.update(from: logits.pointer + r * pixels, count: pixels)
                    let logLikelihood = -VAELoss.binaryCrossEntropyWithLogits(logits: rowLogits, targets: target)
                    weights[i].add(logLikelihood + latentTerms[r])
                }
            }
            bounds += weights.map(\.value)
        }
        return bounds
    }
}

/// log((1/n) Σ exp(vᵢ)) of a stream of values v₁ … vₙ, without overflow or underflow: it keeps
/// the largest value m seen and Σ exp(vᵢ − m), rescaling the sum when a larger value arrives.
struct LogMeanExp {
    private(set) var maximum = -Double.infinity
    private var sum = 0.0
    private(set) var count = 0

    mutating func add(_ v: Double) {
        if v > maximum {
            sum = sum * exp(maximum - v) + 1
            maximum = v
        } else {
            sum += exp(v - maximum)
        }
        count += 1
    }

    /// The log-mean-exp of the values added (at least one).
    var value: Double {
        precondition(count > 0, "LogMeanExp: no values")
        return maximum + log(sum) - log(Double(count))
    }
}
