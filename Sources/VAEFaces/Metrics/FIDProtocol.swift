import Foundation
import NeuralCore
import TensorIO

/// The FID Inception of one weights file, with the file's identity (for the reference features'
/// cache key), run over a stream of 64×64 faces `batch` images at a time.
public struct FIDFeatureExtractor: Sendable {
    public let network: InceptionV3
    /// The weights file and the XXH64 + size of its bytes.
    public let weightsFile: String
    public let weightsKey: ModelFileKey
    /// Images per call of the network (the progress advances once per batch).
    public let batch: Int

    /// Reads the weights of `weightsFile` (see `InceptionV3.init(archive:)`).
    public init(weightsFile: String, batch: Int = 32) throws {
        precondition(batch > 0, "FIDFeatureExtractor: the batch must be positive")
        network = try InceptionV3(contentsOf: weightsFile)
        self.weightsFile = weightsFile
        weightsKey = try ModelFileKey(file: weightsFile)
        self.batch = batch
    }

    /// The features of `count` faces: `fill(i, destination)` writes face i (64·64·3 HWC bytes).
    /// `progress(done)` is told the images finished after each batch.
    public func features(count: Int, fill: (Int, UnsafeMutablePointer<UInt8>) -> Void,
                         progress: (Int) -> Void = { _ in }) -> FeatureMatrix {
        let side = VAEConfiguration.imageSize, bytes = PreparedCache.imageBytes
        var values: [Float] = []
        values.reserveCapacity(count * InceptionV3.featureDimension)
        var buffer = [UInt8](repeating: 0, count: min(batch, max(count, 1)) * bytes)
        for start in stride(from: 0, to: count, by: batch) {
            let n = min(batch, count - start)
            buffer.withUnsafeMutableBufferPointer { b in
                for k in 0..<n { fill(start + k, b.baseAddress! + k * bytes) }
            }
            let rows = buffer.withUnsafeBufferPointer {
                network.features(images: UnsafeBufferPointer(rebasing: $0[0..<(n * bytes)]), count: n, side: side)
            }
            values += rows.values
            progress(start + n)
        }
        return FeatureMatrix(values: values, count: count, dimension: InceptionV3.featureDimension)
    }

    /// The features of 64×64 RGB images.
    public func features(of images: [Image8], progress: (Int) -> Void = { _ in }) -> FeatureMatrix {
        features(count: images.count, fill: { i, out in
            precondition(images[i].width == VAEConfiguration.imageSize && images[i].height == VAEConfiguration.imageSize,
                         "FIDFeatureExtractor: a \(images[i].width)×\(images[i].height) image, 64×64 expected")
            images[i].pixels.withUnsafeBufferPointer { out.update(from: $0.baseAddress!, count: $0.count) }
        }, progress: progress)
    }
}

/// The FID and the KID of one set of images against the reference set, with both sizes.
public struct FIDScore: Codable, Sendable, Equatable {
    /// The Fréchet distance of the two feature Gaussians (`FrechetDistance`).
    public var fid: Double
    /// The KID (`KernelInceptionDistance`): the mean of the subset estimates, and their std.
    public var kid: Double
    public var kidStd: Double
    public var kidSubsets: Int
    public var kidSubsetSize: Int
    /// Images on each side.
    public var images: Int
    public var referenceImages: Int

    /// Below this many images on a side the FID is strongly biased (more features than images:
    /// the covariance is singular), so the KID is the number to read.
    public static let unbiasedMinimum = InceptionV3.featureDimension

    enum CodingKeys: String, CodingKey {
        case fid, kid, kidStd = "kid_std", kidSubsets = "kid_subsets", kidSubsetSize = "kid_subset_size"
        case images, referenceImages = "reference_images"
    }

    /// The distances of `generated` to `reference` (each at least 2 images). `referenceStatistics`:
    /// the reference's Gaussian when already computed (it is the same for every compared set).
    public init(generated: FeatureMatrix, reference: FeatureMatrix, referenceStatistics: FeatureStatistics? = nil,
                kidSubsets: Int = KernelInceptionDistance.defaultSubsets,
                kidSubsetSize: Int = KernelInceptionDistance.defaultSubsetSize, seed: UInt64 = 0) throws {
        guard generated.count >= 2, reference.count >= 2 else {
            throw VAEFacesError("FID/KID need at least 2 images on each side, got \(generated.count) and \(reference.count)")
        }
        let distance = try FrechetDistance(FeatureStatistics(generated), referenceStatistics ?? FeatureStatistics(reference))
        let kernel = KernelInceptionDistance(generated, reference, subsets: kidSubsets, subsetSize: kidSubsetSize, seed: seed)
        fid = distance.value
        kid = kernel.mean
        kidStd = kernel.std
        self.kidSubsets = kidSubsets
        self.kidSubsetSize = kernel.subsetSize
        images = generated.count
        referenceImages = reference.count
    }

    /// "FID 12.34  KID 0.0123 ± 0.0004": the two numbers as the tables show them.
    public var summary: String {
        String(format: "FID %.2f  KID %.4f ± %.4f", fid, kid, kidStd)
    }

    /// The warning line when a side is too small for an unbiased FID, else nil.
    public var biasWarning: String? {
        let small = min(images, referenceImages)
        guard small < Self.unbiasedMinimum else { return nil }
        return "warning: \(small) images on a side (fewer than \(Self.unbiasedMinimum)): the FID is strongly biased, read the KID beside it"
    }
}

/// One `vae-faces fid` run: which images are compared (each model's prior samples, or PNG files)
/// against which real faces, with which Inception weights. `run` does all of it; the command only
/// turns its flags into this value.
public struct FIDRun: Sendable {
    /// Trained models; each contributes `samples` faces from the prior (seed `seed`).
    public var models: [String]
    /// PNG files and folders of 64×64 PNGs (one compared set).
    public var paths: [String]
    /// The real faces: a data folder or a prepared cache (`ArtifactScoring.openReference`).
    public var reference: String
    public var split: Split
    /// Only the first this many faces of the split (nil: all of them).
    public var referenceLimit: Int?
    public var samples: Int
    public var seed: UInt64
    /// The Inception weights file (`InceptionV3.resolveWeightsFile`).
    public var inception: String
    /// Images per call of the network.
    public var batch: Int

    public init(models: [String] = [], paths: [String] = [], reference: String, split: Split = .test,
                referenceLimit: Int? = nil, samples: Int = 10_000, seed: UInt64 = 0, inception: String, batch: Int = 32) {
        self.models = models
        self.paths = paths
        self.reference = reference
        self.split = split
        self.referenceLimit = referenceLimit
        self.samples = samples
        self.seed = seed
        self.inception = inception
        self.batch = batch
    }

    /// What the run reports as it goes.
    public enum Event: Sendable {
        /// A line for standard error (preparation notes, skipped files, the cache notice).
        case note(String)
        /// Feature extraction starts on a set (`set`, 1-based, of `sets`) of `images` images.
        case started(set: Int, sets: Int, label: String, images: Int)
        /// `done` images of the current set have their features.
        case progress(done: Int)
    }

    /// Opens the reference, loads or computes its features, then makes and compares each set.
    public func run(_ report: (Event) -> Void = { _ in }) throws -> FIDResult {
        func note(_ text: String) { report(.note(text)) }
        let extractor = try FIDFeatureExtractor(weightsFile: inception, batch: batch)
        let cache = try ArtifactScoring.openReference(reference) { event in
            if case .note(let text) = event { note(text) }
        }

        // The generated sets first read into memory (a bad file is a note here, not mid-way).
        var sets: [(label: String, model: ModelScoringInfo?, images: [Image8])] = []
        var skipped: [SkippedFile] = []
        if !paths.isEmpty {
            let read = Self.readFaces(paths)
            skipped = read.skipped
            for skip in skipped { note("skipped \(skip.file): \(skip.problem)") }
            sets.append(("files", nil, read.images))
        }
        for path in models {
            let loaded = try ModelFile.load(path: path)
            let source = ModelImageSource.prior(count: samples, seed: seed, temperature: 1)
            let images = try ArtifactScoring.modelImages(loaded, source: source, cache: nil)
            let info = ModelScoringInfo(model: path, decoder: loaded.decoder.rawValue, images: source.name,
                                        n: images.count, seed: seed, temperature: 1)
            sets.append(("\(loaded.decoder.rawValue) (\(URL(fileURLWithPath: path).lastPathComponent))", info, images))
        }

        let total = sets.count + 1
        let referenceFeatures = try ReferenceFeatures.load(
            cache: cache, split: split, limit: referenceLimit, extractor: extractor, note: note,
            computing: { report(.started(set: 1, sets: total, label: "reference (\(split.rawValue) split)", images: $0)) },
            progress: { report(.progress(done: $0)) })
        let referenceStatistics = try Self.statistics(referenceFeatures.features, side: "reference")
        var results: [FIDResult.ComparedSet] = []
        for (k, set) in sets.enumerated() {
            guard set.images.count >= 2 else {
                throw VAEFacesError("\(set.label): FID/KID need at least 2 images, got \(set.images.count)")
            }
            report(.started(set: k + 2, sets: total, label: set.label, images: set.images.count))
            let features = extractor.features(of: set.images) { report(.progress(done: $0)) }
            let score = try FIDScore(generated: features, reference: referenceFeatures.features,
                                     referenceStatistics: referenceStatistics, seed: seed)
            results.append(.init(label: set.label, model: set.model, score: score))
        }
        return FIDResult(reference: .init(cache: cache.path, split: split.rawValue, images: referenceFeatures.features.count,
                                          featuresFile: referenceFeatures.path, featuresReused: !referenceFeatures.computed),
                         inception: .init(file: inception, xxh64: hex(extractor.weightsKey.xxh64)),
                         sets: results, skipped: skipped)
    }

    /// The Gaussian of one side, or a one-line error when it has fewer than 2 images.
    private static func statistics(_ features: FeatureMatrix, side: String) throws -> FeatureStatistics {
        guard features.count >= 2 else {
            throw VAEFacesError("the \(side) has \(features.count) image(s): FID/KID need at least 2")
        }
        return FeatureStatistics(features)
    }

    /// The 64×64 PNG faces of `paths` (files and folders, `ArtifactScoring.collectFiles`); a file
    /// that cannot be read or has another size is skipped with its reason.
    static func readFaces(_ paths: [String]) -> (images: [Image8], skipped: [SkippedFile]) {
        let found = ArtifactScoring.collectFiles(paths)
        var images: [Image8] = [], skipped = found.missing
        let side = VAEConfiguration.imageSize
        for file in found.files {
            do {
                let image = try PNG.readRGB(file)
                guard image.width == side, image.height == side else {
                    skipped.append(SkippedFile(file: file, problem: "\(image.width)×\(image.height) pixels, not \(side)×\(side)"))
                    continue
                }
                images.append(Image8(image))
            } catch {
                skipped.append(SkippedFile(file: file, problem: ArtifactScoring.problem(of: error, file: file)))
            }
        }
        return (images, skipped)
    }
}

/// What a `FIDRun` found. As JSON: the protocol, the reference and the weights, and one entry
/// per compared set with its FID, KID and sizes.
public struct FIDResult: Encodable, Sendable {
    public struct Reference: Encodable, Sendable {
        /// The prepared cache and split the real faces come from.
        public var cache: String
        public var split: String
        public var images: Int
        /// Where the reference features are cached, and whether they were read from there.
        public var featuresFile: String
        public var featuresReused: Bool

        enum CodingKeys: String, CodingKey {
            case cache, split, images, featuresFile = "features_file", featuresReused = "features_reused"
        }
    }

    public struct Weights: Encodable, Sendable {
        public var file: String
        public var xxh64: String
    }

    public struct ComparedSet: Encodable, Sendable {
        public var label: String
        /// The model and how its faces were drawn (nil for PNG files).
        public var model: ModelScoringInfo?
        public var score: FIDScore

        public func encode(to encoder: any Swift.Encoder) throws {
            try score.encode(to: encoder)
            var container = encoder.container(keyedBy: JSONFieldKey.self)
            try container.encode(label, forKey: JSONFieldKey("label"))
            try container.encodeIfPresent(model, forKey: JSONFieldKey("model"))
            try container.encodeIfPresent(score.biasWarning, forKey: JSONFieldKey("warning"))
        }
    }

    public var reference: Reference
    public var inception: Weights
    public var sets: [ComparedSet]
    /// PNG files left out (unreadable, missing, or not 64×64).
    public var skipped: [SkippedFile]

    /// The protocol every number follows (the README's "FID and KID protocol").
    public static let protocolSummary = "pool3 features (2048) of the FID Inception (pytorch-fid), "
        + "input resized bilinearly to 299×299 and scaled to [-1, 1]"

    enum CodingKeys: String, CodingKey { case reference, inception, sets, skipped, protocolSummary = "protocol" }

    public func encode(to encoder: any Swift.Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(Self.protocolSummary, forKey: .protocolSummary)
        try container.encode(reference, forKey: .reference)
        try container.encode(inception, forKey: .inception)
        try container.encode(sets, forKey: .sets)
        try container.encode(skipped, forKey: .skipped)
    }

    /// The report for people: the reference, one line per set, the warnings.
    public func text() -> String {
        var text = "FID/KID: \(Self.protocolSummary)\n"
        text += "reference: \(reference.images) real faces, \(reference.split) split of \(reference.cache)"
            + (reference.featuresReused ? " (features cached)\n" : "\n")
        text += "inception: \(inception.file) (XXH64 \(inception.xxh64))\n"
        let width = max(5, sets.map(\.label.count).max() ?? 0)
        for set in sets {
            text += set.label.padding(toLength: width, withPad: " ", startingAt: 0)
                + "  \(set.score.summary)  (\(set.score.images) images vs \(set.score.referenceImages))\n"
        }
        for warning in Set(sets.compactMap(\.score.biasWarning)).sorted() { text += warning + "\n" }
        if !skipped.isEmpty { text += "\(skipped.count) file(s) skipped\n" }
        return text
    }
}
