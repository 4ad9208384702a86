import Foundation
import TensorIO

/// One scored image file.
public struct ScoredImage: Encodable, Sendable, Equatable {
    public var file: String
    public var scores: ArtifactScores

    public init(file: String, scores: ArtifactScores) { self.file = file; self.scores = scores }

    /// `{"file": …, "cb": …, …}`: the file name beside the score fields.
    public func encode(to encoder: any Swift.Encoder) throws {
        var container = encoder.container(keyedBy: JSONFieldKey.self)
        try container.encode(file, forKey: JSONFieldKey("file"))
        try scores.encode(to: encoder)
    }
}

/// A file that was not scored, and why.
public struct SkippedFile: Codable, Sendable, Equatable {
    public var file: String
    public var problem: String
    public init(file: String, problem: String) { self.file = file; self.problem = problem }
}

/// Scoring the images of files, folders and prepared caches.
public enum ArtifactScoring {
    /// The image files named by `paths`, in order, and the paths that name nothing.
    ///
    /// - A file is taken as it is, whatever its name (a file that is not a PNG is reported when read).
    /// - A folder contributes every `.png` file (any case) in it and in its subfolders, recursively,
    ///   sorted by path; hidden files and folders (names starting with ".") and files with other
    ///   extensions are ignored.
    /// - A path that does not exist is reported.
    /// A file named twice is scored once.
    public static func collectFiles(_ paths: [String]) -> (files: [String], missing: [SkippedFile]) {
        var files: [String] = [], missing: [SkippedFile] = [], seen = Set<String>()
        func add(_ file: String) {
            let key = URL(fileURLWithPath: file).standardizedFileURL.path
            if seen.insert(key).inserted { files.append(file) }
        }
        for path in paths {
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
                missing.append(SkippedFile(file: path, problem: "no such file or folder"))
                continue
            }
            guard isFolder.boolValue else { add(path); continue }
            var found: [String] = []
            listPNGs(in: path, into: &found)
            found.sort { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            found.forEach(add)
        }
        return (files, missing)
    }

    private static func listPNGs(in folder: String, into found: inout [String]) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return }
        let base = folder.hasSuffix("/") ? folder : folder + "/"
        for name in names where !name.hasPrefix(".") {
            let path = base + name
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else { continue }
            if isFolder.boolValue {
                listPNGs(in: path, into: &found)
            } else if name.lowercased().hasSuffix(".png") {
                found.append(path)
            }
        }
    }

    /// Reads (`PNG.readRGB`) and scores `files` in parallel. Files that cannot be read are
    /// returned in `skipped` with the reader's message, in file order.
    public static func scoreFiles(_ files: [String], maps: ArtifactMapOptions = .none)
        -> (images: [ScoredImage], skipped: [SkippedFile], maps: ArtifactMeanMaps?, leftOutOfMaps: Int) {
        let result = ArtifactBatch.run(count: files.count, maps: maps) { i, worker in
            let image = try PNG.readRGB(files[i])
            return image.data.withUnsafeBufferPointer {
                worker.score(planar: $0, channels: image.channels, height: image.height, width: image.width)
            }
        }
        var images: [ScoredImage] = [], skipped: [SkippedFile] = []
        for (file, outcome) in zip(files, result.outcomes) {
            switch outcome {
            case .success(let scores): images.append(ScoredImage(file: file, scores: scores))
            case .failure(let error): skipped.append(SkippedFile(file: file, problem: problem(of: error, file: file)))
            }
        }
        return (images, skipped, result.maps, result.leftOutOfMaps)
    }

    /// An error's message without a leading "FILE: ".
    static func problem(of error: any Error, file: String) -> String {
        let text = "\(error)"
        return text.hasPrefix(file + ": ") ? String(text.dropFirst(file.count + 2)) : text
    }

    /// The real-image reference: the prepared cache behind `path`.
    ///
    /// - A folder is a data folder: its default prepared cache is opened, prepared first when it is
    ///   missing or stale (`DataPreparation.openOrPrepare`), so the reference is always the very
    ///   images training reads.
    /// - A file is opened as a prepared cache (`vae-faces prepare --cache FILE`).
    public static func openReference(_ path: String, progress: (PrepareEvent) -> Void = { _ in }) throws -> PreparedCache {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
            throw FileError(file: path, "no such data folder or prepared cache")
        }
        if isFolder.boolValue {
            return try DataPreparation.openOrPrepare(dataFolder: path, progress: progress)
        }
        return try DataPreparation.openOrPrepare(dataFolder: nil, cachePath: path, progress: progress)
    }

    /// Scores the images of one split of a prepared cache (64×64×3 bytes each; `split` nil: every
    /// image) in parallel.
    public static func scoreCache(_ cache: PreparedCache, split: Split?, maps: ArtifactMapOptions = .none) throws
        -> (scores: [ArtifactScores], maps: ArtifactMeanMaps?) {
        let indices = split.map(cache.indices(in:)) ?? Array(0..<cache.count)
        guard !indices.isEmpty else {
            throw FileError(file: cache.path, "the \(split?.rawValue ?? "") split of this cache has no images")
        }
        return scoreCache(cache, indices: indices, maps: maps)
    }

    /// Scores the cache images `indices` (64×64×3 bytes each) in parallel, in that order.
    public static func scoreCache(_ cache: PreparedCache, indices: [Int], maps: ArtifactMapOptions = .none)
        -> (scores: [ArtifactScores], maps: ArtifactMeanMaps?) {
        let side = VAEConfiguration.imageSize
        let result = ArtifactBatch.run(count: indices.count, maps: maps) { i, worker in
            worker.score(interleaved: cache.image(indices[i]), channels: 3, height: side, width: side)
        }
        // Cache images in memory cannot fail to read: every outcome is a success.
        return (result.outcomes.compactMap { try? $0.get() }, result.maps)
    }
}
