import Foundation
import NeuralCore
import TensorIO
import Testing
@testable import VAEFaces
@testable import vae_faces

/// `vae-faces fid` end to end on a random-weight Inception (the golden's formula weights, written
/// to a temporary file: 95 MB, never committed), a few model samples and the first faces of the
/// real test split. Serialized: the reference features file beside the shared test cache is one
/// file per split.
@Suite(.serialized, .enabled(if: TrainingTestData.available, "needs ../shared/data/celeba next to the repository"))
struct FIDTests {
    /// The formula weights of `InceptionTests` as a file in `folder`; `shifted` adds 0.5 to that
    /// tensor (other weights, hence other features).
    static func weightsFile(in folder: String, name: String = "inception.safetensors", shifted: String? = nil) throws -> String {
        let archive = try InceptionTests.formulaWeights()
        var writer = SafeTensorsWriter()
        for tensor in archive.names {
            var values = try archive.floats(tensor)
            if tensor == shifted { values = values.map { $0 + 0.5 } }
            writer.add(tensor, shape: try #require(archive.shape(tensor)), values: values)
        }
        let path = folder + "/" + name
        try writer.write(to: path)
        return path
    }

    @Test func referenceFeaturesAreCachedAndRecomputedForOtherWeights() throws {
        let cache = try TrainingTestData.cache.get()
        let folder = try makeTemporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let weights = try Self.weightsFile(in: folder)
        let extractor = try FIDFeatureExtractor(weightsFile: weights, batch: 2)
        let path = ReferenceFeatures.path(forCache: cache.path, split: .test)
        try? FileManager.default.removeItem(atPath: path)
        defer { try? FileManager.default.removeItem(atPath: path) }

        var notes: [String] = []
        let first = try ReferenceFeatures.load(cache: cache, split: .test, limit: 3, extractor: extractor) { notes.append($0) }
        #expect(first.computed && first.path == path && first.features.count == 3 && notes.isEmpty)
        #expect(FileManager.default.fileExists(atPath: path))
        // The features are those of the split's first faces.
        let direct = extractor.features(of: cache.indices(in: .test).prefix(3).map { cache.image8($0) })
        #expect(first.features == direct)

        let second = try ReferenceFeatures.load(cache: cache, split: .test, limit: 3, extractor: extractor) { notes.append($0) }
        #expect(!second.computed && second.features == first.features && notes.isEmpty)

        // Another count, other weights, a damaged file: each recomputed with one line.
        let fewer = try ReferenceFeatures.load(cache: cache, split: .test, limit: 2, extractor: extractor) { notes.append($0) }
        #expect(fewer.computed && fewer.features.count == 2 && notes.count == 1)
        let other = try FIDFeatureExtractor(weightsFile: try Self.weightsFile(in: folder, name: "other.safetensors",
                                                                               shifted: "blocks.3.2.branch_pool.bn.bias"), batch: 2)
        let recomputed = try ReferenceFeatures.load(cache: cache, split: .test, limit: 2, extractor: other) { notes.append($0) }
        #expect(recomputed.computed && recomputed.features != fewer.features && notes.count == 2)
        #expect(notes.allSatisfy { $0.hasPrefix("note: recomputing the reference features: ") && !$0.contains("\n") })
        try Data("not a safetensors file".utf8).write(to: URL(fileURLWithPath: path))
        let repaired = try ReferenceFeatures.load(cache: cache, split: .test, limit: 2, extractor: other) { notes.append($0) }
        #expect(repaired.computed && repaired.features == recomputed.features && notes.count == 3)
        #expect(!(try ReferenceFeatures.load(cache: cache, split: .test, limit: 2, extractor: other).computed))
    }

    @Test func fidRunsEndToEnd() throws {
        let cache = try TrainingTestData.cache.get()
        let folder = try makeTemporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let weights = try Self.weightsFile(in: folder)
        let features = ReferenceFeatures.path(forCache: cache.path, split: .test)
        try? FileManager.default.removeItem(atPath: features)
        defer { try? FileManager.default.removeItem(atPath: features) }

        // The reference's own faces as PNG files (plus one that is not a face), and a model.
        let faces = folder + "/faces"
        for (k, i) in cache.indices(in: .test).prefix(3).enumerated() {
            try write(try PNG.encode(cache.image8(i)), to: faces + "/\(k).png")
        }
        try write(Data("broken".utf8), to: faces + "/broken.png")
        let model = try ArtifactModelTests.exportedModel(.dcl, seed: 4, in: folder)

        var run = FIDRun(models: [model], paths: [faces], reference: cache.path, referenceLimit: 3, samples: 3,
                         inception: weights, batch: 2)
        var notes: [String] = [], started: [String] = []
        let result = try run.run { event in
            switch event {
            case .note(let text): notes.append(text)
            case let .started(_, _, label, _): started.append(label)
            case .progress: break
            }
        }
        #expect(started == ["reference (test split)", "files", "dcl (dcl.safetensors)"])
        #expect(notes.count == 1 && notes[0].hasPrefix("skipped \(faces)/broken.png: "))
        #expect(result.reference.images == 3 && !result.reference.featuresReused && result.skipped.count == 1)
        let own = result.sets[0].score, sampled = result.sets[1].score
        // The set against itself: FID 0 to rounding (the traces of Σ are the scale); KID finite.
        let reference = try ReferenceFeatures.load(cache: cache, split: .test, limit: 3,
                                                   extractor: try FIDFeatureExtractor(weightsFile: weights))
        let statistics = FeatureStatistics(reference.features)
        let trace = (0..<statistics.dimension).reduce(0.0) { $0 + statistics.covariance[$1 * statistics.dimension + $1] }
        #expect(abs(own.fid) < 1e-4 * trace, "FID of the reference against itself \(own.fid), tr Σ \(trace)")
        #expect(own.kid.isFinite && own.kidStd.isFinite && sampled.kid.isFinite)
        #expect(sampled.fid > 1e-2 * trace && sampled.images == 3 && sampled.referenceImages == 3)
        #expect(result.sets[1].model?.n == 3 && result.sets[1].model?.decoder == "dcl")

        // JSON: the fields a script reads; the warning, as each side has < 2048 images.
        let encoder = JSONEncoder()
        let json = try #require(try JSONSerialization.jsonObject(with: encoder.encode(result)) as? [String: Any])
        let sets = try #require(json["sets"] as? [[String: Any]])
        for key in ["fid", "kid", "kid_std", "images", "reference_images", "kid_subsets", "kid_subset_size", "label", "warning"] {
            #expect(sets[1][key] != nil, "no \(key)")
        }
        #expect((json["reference"] as? [String: Any])?["images"] as? Int == 3)
        #expect(json["protocol"] as? String == FIDResult.protocolSummary)
        #expect(result.text().contains("warning: 3 images on a side"))

        // Again: the reference features are read, and the numbers are the same.
        run.paths = []
        let again = try run.run()
        #expect(again.reference.featuresReused && again.sets.map(\.score) == [sampled])
    }

    @Test func missingWeightsAreOneLine() throws {
        let missing = NSTemporaryDirectory() + "no-inception-\(UUID()).safetensors"
        let command = try FIDCommand.parse(["--model", "m.safetensors", "--reference", "/nowhere", "--inception", missing])
        #expect(throws: FileError(file: missing, "no such file: the FID Inception weights are made with: \(InceptionV3.conversion)")) {
            try command.run()
        }
        #expect(throws: (any Error).self) { try FIDCommand.parse(["--reference", "/nowhere"]) }
    }
}

