import Foundation
import NeuralCore
import TensorIO

/// Which images of a trained model `artifact-score --model` scores.
public enum ModelImageSource: Sendable, Equatable {
    /// `count` faces decoded from the prior, z = temperature · ε with ε from `seed`: exactly the
    /// faces `vae-faces sample --n count --seed seed --temperature t --each DIR` writes.
    case prior(count: Int, seed: UInt64, temperature: Float)
    /// The reconstructions σ(decoder(μ(x))) of the real images of one split of a prepared cache:
    /// the decoder judged on codes of real faces, independently of the prior.
    case reconstructions(split: Split?)

    public var name: String {
        switch self {
        case .prior: return "samples"
        case .reconstructions: return "reconstructions"
        }
    }
}

/// What was scored for one model, for the JSON report.
public struct ModelScoringInfo: Encodable, Sendable, Equatable {
    public var model: String
    public var decoder: String
    public var images: String
    public var n: Int
    public var seed: UInt64?
    public var temperature: Float?
    public var split: String?
}

extension ArtifactScoring {
    /// Scores 8-bit images (already in memory) in parallel; image i is reported under `names(i)`.
    public static func scoreImages(_ images: [Image8], names: (Int) -> String, maps: ArtifactMapOptions = .none)
        -> (images: [ScoredImage], maps: ArtifactMeanMaps?) {
        let scored = scores(of: images, maps: maps)
        return (zip(images.indices, scored.scores).map { ScoredImage(file: names($0), scores: $1) }, scored.maps)
    }

    /// Scores 8-bit images (already in memory) in parallel; the scores in image order.
    public static func scores(of images: [Image8], maps: ArtifactMapOptions = .none) -> (scores: [ArtifactScores], maps: ArtifactMeanMaps?) {
        let result = ArtifactBatch.run(count: images.count, maps: maps) { i, worker in
            images[i].pixels.withUnsafeBufferPointer {
                worker.score(interleaved: $0, channels: 3, height: images[i].height, width: images[i].width)
            }
        }
        // Images in memory cannot fail to read: every outcome is a success.
        return (result.outcomes.compactMap { try? $0.get() }, result.maps)
    }

    /// The images of a trained model that `source` names, quantised to 8 bits exactly as the PNG
    /// files `vae-faces sample` writes (so scoring them in memory equals scoring those files).
    /// Reconstructions need the prepared cache (`cache`) and a model file with its encoder.
    public static func modelImages(_ loaded: LoadedModel, source: ModelImageSource, cache: PreparedCache?) throws -> [Image8] {
        switch source {
        case let .prior(count, seed, temperature):
            precondition(count > 0, "modelImages: count must be positive")
            let z = LatentCodes.prior(count: count, dimension: loaded.model.configuration.latentDimension,
                                      seed: seed, temperature: temperature)
            return Sampler.decode(loaded.model, latents: z)
        case let .reconstructions(split):
            guard loaded.hasEncoder else {
                throw FileError(file: loaded.path, "has no encoder weights, so it cannot reconstruct images (use a checkpoint or a full export)")
            }
            guard let cache else { throw VAEFacesError("reconstructions need real images: give --reference") }
            let indices = split.map(cache.indices(in:)) ?? Array(0..<cache.count)
            guard !indices.isEmpty else {
                throw FileError(file: cache.path, "the \(split?.rawValue ?? "") split of this cache has no images")
            }
            return Sampler.reconstruct(loaded.model, cache: cache, indices: indices).reconstructions
        }
    }

    /// Loads `path`, makes its images and scores them.
    public static func scoreModel(path: String, source: ModelImageSource, cache: PreparedCache?,
                                  maps: ArtifactMapOptions = .none)
        throws -> (info: ModelScoringInfo, images: [ScoredImage], maps: ArtifactMeanMaps?) {
        var needsEncoder = false
        if case .reconstructions = source { needsEncoder = true }
        let loaded = try ModelFile.load(path: path, requireEncoder: needsEncoder)
        let images = try modelImages(loaded, source: source, cache: cache)
        let prefix = source.name
        let digits = max(6, String(images.count - 1).count)
        let scored = scoreImages(images, names: { i in
            let s = String(i)
            return "\(prefix)/" + String(repeating: "0", count: digits - s.count) + s
        }, maps: maps)
        var info = ModelScoringInfo(model: path, decoder: loaded.decoder.rawValue, images: source.name, n: images.count)
        switch source {
        case let .prior(_, seed, temperature):
            info.seed = seed
            info.temperature = temperature
        case let .reconstructions(split):
            info.split = split?.rawValue ?? "all"
        }
        return (info, scored.images, scored.maps)
    }
}
