import Foundation
import NeuralCore

/// R(cb) and R(cb_local) of a set of images: the ratio of means, mean score of the set / mean
/// score of real faces (../shared/docs/artifact-metric.md §4), exactly the `ratio_mean` that
/// `artifact-score` prints. 1 ≈ as much stride-2 energy as real photos, > 1 excess (checkerboard),
/// < 1 less (blur). Nil when undefined (real faces whose mean score is 0).
public struct ArtifactRatios: Sendable, Equatable {
    public var cb: Double?
    public var cbLocal: Double?

    public init(cb: Double?, cbLocal: Double?) {
        self.cb = cb
        self.cbLocal = cbLocal
    }

    /// The ratios of the scored set `scores` (at least one image) against the real set `real`.
    public init(scores: [ArtifactScores], real: ArtifactAggregate) {
        cb = ArtifactReading(values: scores.map(\.cb), real: real[.cb]).ratioMean
        cbLocal = ArtifactReading(values: scores.map(\.cbLocal), real: real[.cbLocal]).ratioMean
    }
}

/// The artifact ratios of one validation: prior samples and val reconstructions.
public struct ArtifactCurvePoint: Sendable, Equatable {
    public var samples: ArtifactRatios
    public var reconstructions: ArtifactRatios
}

/// The checkerboard-artifact metric followed over a training run, so that checkerboards can be
/// seen appearing or fading as training goes on. At each validation, two sets of the model's
/// faces are scored against the real faces of the val images the run validates on:
///
/// - samples: the faces decoded from `sampleCount` fixed latents, `LatentCodes.prior` of the run's
///   seed (whose first rows are the sample grid's, so the grid's faces are among them);
/// - reconstructions: σ(decoder(μ(x))) of the first `reconstructionCount` val images.
///
/// Faces are made as `artifact-score --model` makes them (inference-mode BatchNorm, quantised to
/// 8 bits like the PNG files `sample` writes) and scored in parallel (`ArtifactBatch`). Nothing
/// here draws from the training noise or changes the model, so training is not disturbed. The
/// real faces (all the val images) are scored once, at the first measurement.
///
/// The cost is the decoding, not the scoring. Measured on CelebA at batch 64 with 2 threads: a
/// training step ≈ 1.1–1.5 s, 256 samples ≈ 1.3 s, all 780 val reconstructions ≈ 7 s, scoring
/// all of them ≈ 0.1 s. Reconstructing every val image would cost 2.3 % of an epoch's training
/// time (249 steps); the first 256 cost about 1 %.
final class ArtifactCurves {
    /// Prior samples scored at each validation (more when the sample grid is larger).
    static let sampleCount = 256
    /// Val images reconstructed and scored at each validation (all of them when fewer).
    static let reconstructionCount = 256

    let latents: Tensor
    let cache: PreparedCache
    let indices: [Int]
    let batchSize: Int
    private var real: ArtifactAggregate?

    /// - Parameters:
    ///   - latents: the fixed codes of the samples [N, latent];
    ///   - indices: the val images (cache indices): the real reference; the first are reconstructed;
    ///   - batchSize: images decoded at a time.
    init(latents: Tensor, cache: PreparedCache, indices: [Int], batchSize: Int) {
        precondition(!indices.isEmpty, "ArtifactCurves: no val images")
        self.latents = latents
        self.cache = cache
        self.indices = indices
        self.batchSize = batchSize
    }

    /// The ratios of `model`'s samples and reconstructions against the real val faces.
    func measure(_ model: VAE) -> ArtifactCurvePoint {
        let real = self.real ?? ArtifactAggregate(ArtifactScoring.scoreCache(cache, indices: indices).scores)
        self.real = real
        let samples = Sampler.decode(model, latents: latents, batchSize: batchSize)
        let reconstructions = Sampler.reconstruct(model, cache: cache, indices: Array(indices.prefix(Self.reconstructionCount)),
                                                  batchSize: batchSize).reconstructions
        return ArtifactCurvePoint(samples: ArtifactRatios(scores: ArtifactScoring.scores(of: samples).scores, real: real),
                                  reconstructions: ArtifactRatios(scores: ArtifactScoring.scores(of: reconstructions).scores, real: real))
    }
}
