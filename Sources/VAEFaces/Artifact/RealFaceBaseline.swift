import Foundation
import TensorIO

/// The real-face baseline that ships with the tool: the artifact statistics of the real CelebA
/// test and val faces, exactly what `artifact-score --reference DIR --split test|val` computes
/// (every field's mean, median, p95, std, min, max; n), plus each image's `cb` and `cb_local` for
/// bootstrap intervals. `artifact-score --model …` reads models against it when no `--reference`
/// is given, so the ratios against real faces come out on a machine without the data.
///
/// Where it lives: `RealFaceBaselineData.swift`, a generated Swift source that holds the JSON in
/// one raw string literal, decoded at first use. Embedded in the binary, it works from a copy of
/// the tool anywhere (a SwiftPM resource would be a bundle beside the executable, lost when the
/// binary alone is copied), and a string literal type-checks instantly where an array literal of
/// thousands of numbers would not. Regenerate it with
/// `vae-faces artifact-score --reference <CelebA folder> --write-baseline Sources/VAEFaces/Artifact/RealFaceBaselineData.swift`.
public struct RealFaceBaseline: Codable, Sendable, Equatable {
    /// Which real images a split's statistics come from, independently of where the data lies:
    /// the file names and the prepared 64×64 pixels, hashed.
    public struct Identity: Codable, Sendable, Equatable {
        /// "CelebA" or "image folder".
        public var dataSet: String
        public var split: String
        public var n: Int
        public var firstFile: String
        public var lastFile: String
        /// XXH64 (hex) of the split's file names, each followed by a line feed, in cache order.
        public var filesXXH64: String
        /// XXH64 (hex) of the split's prepared pixels (64·64·3 bytes per face, HWC), in cache order.
        public var pixelsXXH64: String

        enum CodingKeys: String, CodingKey {
            case dataSet = "data_set", split, n, firstFile = "first_file", lastFile = "last_file"
            case filesXXH64 = "files_xxh64", pixelsXXH64 = "pixels_xxh64"
        }

        /// "CelebA 000001.jpg … 202599.jpg, pixels XXH64 …": for the report's reference line.
        public var summary: String { "\(dataSet) \(firstFile) … \(lastFile), pixels XXH64 \(pixelsXXH64)" }
    }

    /// One split: its identity, the aggregate `--reference` reports, and the per-image primary scores.
    public struct SplitBaseline: Codable, Sendable, Equatable {
        public var identity: Identity
        public var aggregate: ArtifactAggregate
        /// `cb` and `cb_local` of every image, in cache order (the bootstrap resamples these).
        public var cb: [Double]
        public var cbLocal: [Double]

        enum CodingKeys: String, CodingKey { case identity, aggregate, cb, cbLocal = "cb_local" }
    }

    /// The splits it holds: test, then val.
    public var splits: [SplitBaseline]

    /// The splits a shipped baseline holds.
    public static let splitsShipped: [Split] = [.test, .val]
    /// Where the generated source lives in the repository.
    public static let sourcePath = "Sources/VAEFaces/Artifact/RealFaceBaselineData.swift"

    public subscript(split: Split) -> SplitBaseline? { splits.first { $0.identity.split == split.rawValue } }

    /// The baseline compiled into the tool, decoded once on first use.
    public static let shipped: RealFaceBaseline = {
        do {
            return try JSONDecoder().decode(RealFaceBaseline.self, from: Data(shippedJSON.utf8))
        } catch {
            fatalError("the shipped real-face baseline (\(sourcePath)) does not decode: \(error)")
        }
    }()

    /// Scores the real faces of each split of `cache` (`ArtifactScoring.scoreCache`, the very
    /// computation of `--reference`).
    public init(cache: PreparedCache, splits: [Split] = RealFaceBaseline.splitsShipped) throws {
        self.splits = try splits.map { split in
            let indices = cache.indices(in: split)
            let scores = try ArtifactScoring.scoreCache(cache, split: split).scores
            var files = XXH64(), pixels = XXH64()
            for i in indices {
                files.update(Array((cache.fileName(i) + "\n").utf8))
                pixels.update(UnsafeRawBufferPointer(cache.image(i)))
            }
            let identity = Identity(dataSet: cache.kind.name, split: split.rawValue, n: indices.count,
                                    firstFile: cache.fileName(indices[0]), lastFile: cache.fileName(indices[indices.count - 1]),
                                    filesXXH64: Self.hex(files.finalize()), pixelsXXH64: Self.hex(pixels.finalize()))
            return SplitBaseline(identity: identity, aggregate: ArtifactAggregate(scores),
                                 cb: scores.map(\.cb), cbLocal: scores.map(\.cbLocal))
        }
    }

    private static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    /// The JSON of the baseline: keys sorted, pretty-printed, so one data set always gives the
    /// same bytes and a change shows as a readable diff.
    public func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    /// The generated Swift source that embeds the baseline (`RealFaceBaselineData.swift`).
    public func swiftSource() throws -> String {
        """
        // Generated by `vae-faces artifact-score --reference <CelebA folder> --write-baseline \(Self.sourcePath)`.
        // Do not edit: the artifact statistics of the real \(splits.map(\.identity.split).joined(separator: " and ")) faces,
        // read by `RealFaceBaseline.shipped` (RealFaceBaseline.swift says why a Swift source).

        extension RealFaceBaseline {
            static let shippedJSON = #\"\"\"
        \(try json())
        \"\"\"#
        }

        """
    }

    /// Scores the test and val faces of the data folder or cache `reference` and writes the
    /// generated source to `path` atomically. `note` receives the preparation notes.
    public static func generate(reference: String, to path: String, note: (String) -> Void = { _ in }) throws -> RealFaceBaseline {
        let cache = try ArtifactScoring.openReference(reference) { event in
            if case .note(let text) = event { note(text) }
        }
        let baseline = try RealFaceBaseline(cache: cache)
        try AtomicWrite.write(Data(try baseline.swiftSource().utf8), to: path)
        return baseline
    }
}
