import Foundation
import TensorIO

/// The FID Inception features of the real faces of one split of a prepared cache, kept in a file
/// beside the cache (`CACHE.fid-SPLIT.safetensors`) so that the reference side, the same for
/// every model compared, is computed once.
///
/// The file stores the features ('features' [n, 2048]) and, in its metadata, what they were
/// computed from (`Key`): the cache file's contents, the split, the weights file's contents
/// (both as `ModelFileKey`, XXH64 and size) and the image count. A file whose key differs (other
/// data, other weights, another count), that is damaged, or that is not a features file is
/// recomputed with a one-line notice and replaced (atomically).
public struct ReferenceFeatures: Sendable {
    public var features: FeatureMatrix
    /// The features file.
    public var path: String
    /// True when the features were computed now, false when read from `path`.
    public var computed: Bool

    /// The identity of stored reference features.
    public struct Key: Equatable, Sendable {
        public var cache: ModelFileKey
        public var split: Split
        public var weights: ModelFileKey
        public var count: Int

        var metadata: [String: String] {
            ["format": ReferenceFeatures.format, "split": split.rawValue, "images": String(count),
             "cache_xxh64": hex(cache.xxh64), "cache_bytes": String(cache.bytes),
             "weights_xxh64": hex(weights.xxh64), "weights_bytes": String(weights.bytes)]
        }
    }

    static let format = "vae-faces fid reference features 1"

    /// The features file of `split` beside the prepared cache at `cachePath`.
    public static func path(forCache cachePath: String, split: Split) -> String {
        "\(cachePath).fid-\(split.rawValue).safetensors"
    }

    /// The reference features of the first `limit` (nil: all) faces of `split`: read from the
    /// file beside the cache when its key matches, else computed with `extractor` (`computing`
    /// is told the image count first, `progress` the images done) and written there. `note`
    /// receives the one line saying why a file present was not used.
    public static func load(cache: PreparedCache, split: Split, limit: Int? = nil, extractor: FIDFeatureExtractor,
                            note: (String) -> Void = { _ in }, computing: (Int) -> Void = { _ in },
                            progress: (Int) -> Void = { _ in }) throws -> ReferenceFeatures {
        let all = cache.indices(in: split)
        let indices = Array(all.prefix(limit ?? all.count))
        guard !indices.isEmpty else {
            throw FileError(file: cache.path, "the \(split.rawValue) split of this cache has no images")
        }
        let key = Key(cache: try ModelFileKey(file: cache.path), split: split, weights: extractor.weightsKey, count: indices.count)
        let path = path(forCache: cache.path, split: split)
        if FileManager.default.fileExists(atPath: path) {
            switch Result(catching: { try read(path: path, key: key) }) {
            case .success(let features?): return ReferenceFeatures(features: features, path: path, computed: false)
            case .success(nil): note("note: recomputing the reference features: \(path) is for other data, weights or image count")
            case .failure(let error): note("note: recomputing the reference features: \(error)")
            }
        }
        computing(indices.count)
        let features = extractor.features(count: indices.count, fill: { i, out in
            let image = cache.image(indices[i])
            out.update(from: image.baseAddress!, count: image.count)
        }, progress: progress)
        try write(features, key: key, to: path)
        return ReferenceFeatures(features: features, path: path, computed: true)
    }

    /// The features stored at `path` if its key is `key`, nil if it is another's; throws when
    /// the file is not a features file or is damaged.
    static func read(path: String, key: Key) throws -> FeatureMatrix? {
        let archive = try SafeTensorsArchive.read(path: path)
        guard archive.metadata["format"] == format else {
            throw FileError(file: path, "not a reference features file (no \"format\": \"\(format)\" metadata)")
        }
        guard key.metadata.allSatisfy({ archive.metadata[$0.key] == $0.value }) else { return nil }
        let d = InceptionV3.featureDimension
        guard archive.shape("features") == [key.count, d] else {
            throw FileError(file: path, "damaged reference features file: 'features' is not [\(key.count), \(d)]")
        }
        let values = try archive.floats("features")
        guard values.allSatisfy(\.isFinite) else { throw FileError(file: path, "damaged reference features file: a non-finite feature") }
        return FeatureMatrix(values: values, count: key.count, dimension: d)
    }

    /// Writes `features` with `key` to `path`, atomically.
    static func write(_ features: FeatureMatrix, key: Key, to path: String) throws {
        var writer = SafeTensorsWriter(metadata: key.metadata)
        writer.add("features", shape: [features.count, features.dimension], values: features.values)
        try writer.write(to: path)
    }
}
