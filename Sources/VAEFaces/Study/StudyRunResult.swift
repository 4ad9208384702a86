import Foundation
import TensorIO

/// Everything the study keeps of one run (one decoder, one seed), written to
/// `OUT/results/<decoder>-seed<S>.json` when the run is finished: enough to rebuild the study's
/// tables and plot without the run folder (`Study.collect`), and the commands that reproduce it.
public struct StudyRunResult: Codable, Equatable, Sendable {
    public var decoder: DecoderKind
    public var seed: UInt64
    /// Parameters of the whole VAE and of its decoder alone.
    public var parameters: Int
    public var decoderParameters: Int
    public var batchSize: Int
    public var latentDimension: Int
    /// The step the model was trained to, and how it got there.
    public var steps: Int
    public var training: StudyTraining
    /// What a person types to redo the run: train (and its extensions), export, eval, artifact-score.
    public var commands: [String]
    /// The −ELBO of the test split (Bernoulli likelihood on continuous pixels: see `Study.bitsPerDimensionCaveat`).
    public var test: EvaluationResult
    /// Prior samples (seed 0) and test reconstructions, read against the real test faces.
    public var samples: StudyArtifactReading
    public var reconstructions: StudyArtifactReading
    /// Real test faces scored (the reference of `samples` and `reconstructions`).
    public var realTestImages: Int
    /// Real val faces against real test faces: how far from 1 the ratio lands by chance alone.
    public var noiseBand: StudyArtifactReading
    public var bootstrap: StudyBootstrap
    /// The validation rows of the run's training.csv.
    public var curves: [StudyCurvePoint]
    /// FID and KID of the prior samples against the real test faces, when the study had the
    /// Inception weights (absent from the JSON otherwise, and in results written before).
    public var fid: FIDScore? = nil

    /// "pixeldcl-seed1": the name of the run's folder, model and result files.
    public var name: String { Study.runName(decoder, seed) }

    enum CodingKeys: String, CodingKey {
        case decoder, seed, parameters, decoderParameters = "decoder_parameters", batchSize = "batch_size"
        case latentDimension = "latent_dimension", steps, training, commands, test, samples, reconstructions
        case realTestImages = "real_test_images", noiseBand = "noise_band", bootstrap, curves, fid
    }
}

/// How long a run trained and whether the extension rule (`StudyExtension`) lengthened it.
public struct StudyTraining: Codable, Equatable, Sendable {
    /// The asked length (`--steps`).
    public var targetSteps: Int
    /// The extension rule's limit on the length.
    public var capSteps: Int
    /// 1,000-step chunks added because the val −ELBO was still falling.
    public var extensionChunks: Int
    /// True when the run stopped at the cap while the val −ELBO still fell by more than 1 %.
    public var capped: Bool
    /// The relative fall of the val −ELBO over the last 1,000 steps at the end (nil when the log
    /// has no validation that far back).
    public var lastFall: Double?
    /// Seconds spent in training steps (forward, backward, Adam; without validation), summed
    /// over every session of the run (from the checkpoint).
    public var seconds: Double

    enum CodingKeys: String, CodingKey {
        case targetSteps = "target_steps", capSteps = "cap_steps", extensionChunks = "extension_chunks", capped
        case lastFall = "last_fall", seconds
    }
}

/// One set of images read against real faces for the two primary scores.
public struct StudyArtifactReading: Codable, Equatable, Sendable {
    /// Images in the set.
    public var n: Int
    public var cb: StudyRatio
    public var cbLocal: StudyRatio

    enum CodingKeys: String, CodingKey { case n, cb, cbLocal = "cb_local" }

    /// Reads one score field of `scores` against the same field of `real`, with the bootstrap
    /// interval of the ratio of means.
    init(scores: [ArtifactScores], real: [ArtifactScores], bootstrap: StudyBootstrap) {
        n = scores.count
        cb = StudyRatio(scores.map(\.cb), real.map(\.cb), bootstrap)
        cbLocal = StudyRatio(scores.map(\.cbLocal), real.map(\.cbLocal), bootstrap)
    }
}

/// R, the ratio of mean scores (set / real), its bootstrap interval, and the share of the set
/// above the real faces' 95th percentile.
public struct StudyRatio: Codable, Equatable, Sendable {
    public var ratio: Double?
    public var interval: Bootstrap.Interval?
    public var aboveRealP95: Double

    enum CodingKeys: String, CodingKey { case ratio, interval, aboveRealP95 = "above_real_p95" }

    init(_ values: [Double], _ real: [Double], _ bootstrap: StudyBootstrap) {
        let reading = ArtifactReading(values: values, real: FieldStatistics(real))
        ratio = reading.ratioMean
        aboveRealP95 = reading.aboveRealP95
        interval = Bootstrap.ratioOfMeans(values, real, resamples: bootstrap.resamples, level: bootstrap.level,
                                          seed: bootstrap.seed)
    }
}

/// The settings of the per-run bootstrap intervals.
public struct StudyBootstrap: Codable, Equatable, Sendable {
    public var resamples: Int
    public var level: Double
    public var seed: UInt64
}

/// One validation of a run: the val −ELBO and the artifact ratios against the real val faces
/// (`val_cb_…`: prior samples, `rec_cb_…`: reconstructions), as in training.csv.
public struct StudyCurvePoint: Codable, Equatable, Sendable {
    public var step: Int
    public var valLoss: Double
    public var samplesCB: Double?
    public var samplesCBLocal: Double?
    public var reconstructionsCB: Double?
    public var reconstructionsCBLocal: Double?

    enum CodingKeys: String, CodingKey {
        case step, valLoss = "val_loss", samplesCB = "val_cb_ratio", samplesCBLocal = "val_cb_local_ratio"
        case reconstructionsCB = "rec_cb_ratio", reconstructionsCBLocal = "rec_cb_local_ratio"
    }

    /// The validation rows (finite `val_loss`) of a training log read by `CSVLog.read`.
    static func rows(of log: [String: [Double]]) -> [StudyCurvePoint] {
        let steps = log["step"] ?? [], losses = log["val_loss"] ?? []
        let column = { (name: String, row: Int) -> Double? in
            guard let values = log[name], row < values.count, values[row].isFinite else { return nil }
            return values[row]
        }
        return zip(steps.indices, zip(steps, losses)).compactMap { row, pair in
            guard pair.1.isFinite else { return nil }
            return StudyCurvePoint(step: Int(pair.0), valLoss: pair.1,
                                   samplesCB: column("val_cb_ratio", row), samplesCBLocal: column("val_cb_local_ratio", row),
                                   reconstructionsCB: column("rec_cb_ratio", row),
                                   reconstructionsCBLocal: column("rec_cb_local_ratio", row))
        }
    }
}

extension StudyRunResult {
    /// The JSON text of a result (sorted keys, so equal results give equal bytes).
    func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }

    /// Reads a result file.
    static func read(path: String) throws -> StudyRunResult {
        guard let data = FileManager.default.contents(atPath: path) else { throw FileError(file: path, "cannot read the study result") }
        do {
            return try JSONDecoder().decode(StudyRunResult.self, from: data)
        } catch {
            throw FileError(file: path, "not a study result: \(error)")
        }
    }
}

/// A run's samples R(cb) at its validations of the last `window` steps (the fixed-latent grid
/// against the real val faces, training.csv's `val_cb_ratio`): how far one run's checkerboard
/// energy moves from one checkpoint to the next, which its single end-of-run score cannot show.
public struct StudyLateSwing: Equatable, Sendable {
    /// Validations in the window, and their R(cb): median, lowest, highest.
    public var validations: Int
    public var median: Double
    public var min: Double
    public var max: Double
    /// Highest over lowest.
    public var swing: Double { max / min }

    /// The validations after step (last − `window`); nil with fewer than two positive ratios there.
    public init?(_ curves: [StudyCurvePoint], window: Int = 1000) {
        guard let last = curves.last?.step else { return nil }
        let values = curves.filter { $0.step > last - window }.compactMap(\.samplesCB).filter { $0.isFinite }.sorted()
        guard values.count >= 2, values[0] > 0 else { return nil }
        validations = values.count
        median = LayerBench.median(values)
        min = values[0]
        max = values[values.count - 1]
    }
}
