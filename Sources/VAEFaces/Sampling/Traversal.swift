import Foundation
import NeuralCore
import TensorIO

/// Latent traversals: one row per chosen latent dimension, that dimension swept over a range
/// while the others stay at a base code (a prior sample, or the posterior mean μ of a face).
/// Most dimensions of a VAE are inactive (q(z_j|x) ≈ N(0, 1) for every x, so the decoder ignores
/// them); the informative ones are those with a large average KL(q(z_j|x) ‖ N(0, 1)).
public enum Traversal {
    /// Which dimensions to sweep: the `count` with the largest average KL on the val split, or
    /// these (0-based).
    public enum Dimensions: Equatable, Sendable {
        case mostActive(count: Int)
        case chosen([Int])

        /// Whether the dimensions come from the KL ranking (which needs the val split).
        public var isRanked: Bool { if case .mostActive = self { true } else { false } }
    }

    /// The code the other dimensions keep.
    public enum Base: Equatable, Sendable {
        /// The prior sample `LatentCodes.prior(count: 1, …, seed:)` (the first face of
        /// `vae-faces sample --seed`).
        case prior(seed: UInt64)
        /// The posterior mean μ of test face K (0-based, file-name order).
        case testFace(Int)
    }

    /// A traversal grid and what it was made of.
    public struct Result {
        /// The swept dimensions, one per row.
        public let dimensions: [Int]
        /// The average KL of every dimension on the val split (nats), when it was computed.
        public let averageKL: [Double]?
        /// The base code.
        public let base: [Float]
        /// The values each row sweeps through, one per column.
        public let values: [Float]
        /// The decoded codes, [dimensions · steps, latent]: row r·steps + s is `base` with
        /// dimension `dimensions[r]` set to `values[s]`.
        public let latents: Tensor
        /// The faces in the same order.
        public let faces: [Image8]
    }

    /// The traversal of `model`: checks the dimensions against its latent size, ranks them by
    /// average KL on the val split of `cache` when asked to, and decodes the grid's codes.
    /// `cache` is needed for `.mostActive` and `.testFace`; errors are one line.
    public static func run(_ model: VAE, dimensions: Dimensions, base: Base, range: ClosedRange<Float>, steps: Int,
                           cache: PreparedCache?) throws -> Result {
        let d = model.configuration.latentDimension
        precondition(steps >= 2, "Traversal.run: \(steps) steps")
        var averageKL: [Double]?
        let chosen: [Int]
        switch dimensions {
        case .chosen(let list):
            try check(list, latentDimension: d)
            chosen = list
        case .mostActive(let count):
            guard (1...d).contains(count) else {
                throw VAEFacesError("--dims \(count): the model has \(d) latent dimensions; ask for 1 to \(d)")
            }
            guard let cache else {
                throw VAEFacesError("choosing the dimensions by their KL needs the val split: give --data (or --cache), or choose them with --dims 3,17,40")
            }
            let kl = try averageKLPerDimension(model, cache: cache, indices: nonEmpty(cache, .val))
            averageKL = kl
            chosen = mostActive(kl, count: count)
        }
        let code: [Float]
        switch base {
        case .prior(let seed):
            code = LatentCodes.row(LatentCodes.prior(count: 1, dimension: d, seed: seed), 0)
        case .testFace(let k):
            guard let cache else { throw VAEFacesError("--from-test needs the test split: give --data (or --cache)") }
            let test = try nonEmpty(cache, .test)
            guard test.indices.contains(k) else {
                throw VAEFacesError("--from-test \(k): the test split has \(test.count) faces (0 to \(test.count - 1))")
            }
            code = posteriorMean(model, cache: cache, index: test[k])
        }
        let values = sweep(range, steps: steps)
        let z = latents(base: code, dimensions: chosen, values: values)
        return Result(dimensions: chosen, averageKL: averageKL, base: code, values: values, latents: z,
                      faces: Sampler.decode(model, latents: z))
    }

    /// Throws a one-line error unless every dimension lies in 0..<latentDimension.
    public static func check(_ dimensions: [Int], latentDimension d: Int) throws {
        guard !dimensions.isEmpty else { throw VAEFacesError("--dims names no dimension") }
        if let bad = dimensions.first(where: { !(0..<d).contains($0) }) {
            throw VAEFacesError("--dims \(bad) is out of range: the model has \(d) latent dimensions (0 to \(d - 1))")
        }
    }

    /// KL(q(z_j|x) ‖ N(0, 1)) = −½(1 + log σ²_j − μ_j² − σ²_j) of each dimension j, averaged over
    /// the cache images `indices` (encoder in inference mode).
    public static func averageKLPerDimension(_ model: VAE, cache: PreparedCache, indices: [Int],
                                             batchSize: Int = 64) -> [Double] {
        let d = model.configuration.latentDimension
        var sums = [Double](repeating: 0, count: d)
        let loader = BatchLoader(cache: cache, indices: indices, batchSize: batchSize, mode: .evaluation)
        while let batch = loader.next() {
            let (mu, logVariance) = model.encoder.forward(batch.tensor, mode: .inference)
            for i in 0..<batch.count {
                for j in 0..<d {
                    let m = Double(mu[i * d + j]), lv = Double(logVariance[i * d + j])
                    sums[j] += -0.5 * (1 + lv - m * m - exp(lv))
                }
            }
        }
        return sums.map { $0 / Double(indices.count) }
    }

    /// The `count` dimensions of largest KL, largest first (the lower index first on a tie).
    public static func mostActive(_ kl: [Double], count: Int) -> [Int] {
        Array(kl.indices.sorted { kl[$0] != kl[$1] ? kl[$0] > kl[$1] : $0 < $1 }.prefix(count))
    }

    /// `steps` evenly spaced values from the range's lower to its upper bound, both included.
    public static func sweep(_ range: ClosedRange<Float>, steps: Int) -> [Float] {
        (0..<steps).map { range.lowerBound + (range.upperBound - range.lowerBound) * Float($0) / Float(steps - 1) }
    }

    /// The codes of the grid, [dimensions · values, latent]: row r·values.count + s is `base`
    /// with dimension `dimensions[r]` set to `values[s]`.
    public static func latents(base: [Float], dimensions: [Int], values: [Float]) -> Tensor {
        let d = base.count
        let z = Tensor(shape: [dimensions.count * values.count, d])
        for (r, j) in dimensions.enumerated() {
            for (s, value) in values.enumerated() {
                let row = z.pointer + (r * values.count + s) * d
                base.withUnsafeBufferPointer { row.update(from: $0.baseAddress!, count: d) }
                row[j] = value
            }
        }
        return z
    }

    /// The posterior mean μ(x) of the cache image `index`.
    public static func posteriorMean(_ model: VAE, cache: PreparedCache, index: Int) -> [Float] {
        let loader = BatchLoader(cache: cache, indices: [index], batchSize: 1, mode: .evaluation)
        guard let batch = loader.next() else { preconditionFailure("Traversal.posteriorMean: no batch") }
        return model.encoder.forward(batch.tensor, mode: .inference).mu.array
    }

    /// The indices of `split`, or a one-line error when it is empty.
    private static func nonEmpty(_ cache: PreparedCache, _ split: Split) throws -> [Int] {
        let indices = cache.indices(in: split)
        guard !indices.isEmpty else { throw FileError(file: cache.path, "the \(split.rawValue) split is empty") }
        return indices
    }
}
