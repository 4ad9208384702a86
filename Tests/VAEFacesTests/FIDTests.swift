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
        #expect(sampled.fid > 1e-3 * trace && sampled.images == 3 && sampled.referenceImages == 3)
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

    /// A study with the weights: its run gains the FID/KID of its samples, study.md the columns.
    @Test func theStudyTableGainsFIDWithTheWeights() throws {
        let cache = try TrainingTestData.cache.get()
        let out = TrainingTestData.temporaryFolder()
        defer { TrainingTestData.remove(out) }
        try? FileManager.default.removeItem(atPath: ReferenceFeatures.path(forCache: cache.path, split: .test))
        defer { try? FileManager.default.removeItem(atPath: ReferenceFeatures.path(forCache: cache.path, split: .test)) }
        var study = Study(out: out, cache: cache.path)
        // One tiny run (2 steps at batch 8, latent 16), 3 samples against the first 3 test faces.
        (study.decoders, study.seeds, study.steps, study.batchSize, study.latentDimension) = ([.dcl], [0], 2, 8, 16)
        (study.samples, study.resamples, study.validationLimit, study.testLimit) = (3, 20, 8, 3)
        study.showTrainingProgress = false
        study.inception = try Self.weightsFile(in: out)
        let report = try study.run()
        let score = try #require(report.runs.first?.fid)
        #expect(score.images == 3 && score.referenceImages == 3 && score.fid > 0 && score.kid.isFinite && score.kidStd.isFinite)
        #expect(try StudyRunResult.read(path: study.folder.result("dcl-seed0")).fid == score)
        let markdown = report.markdown()
        #expect(markdown.contains("| samples FID | samples KID |") && markdown.contains(String(format: "| %.2f |", score.fid)))
        #expect(markdown.contains("FID/KID: 3 prior samples (seed 0) against 3 real test faces"))
        #expect(!markdown.contains("not computed"))
        #expect(report.runs[0].commands.last?.hasPrefix("vae-faces fid --model ") == true)
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

/// Study results written before the FID existed still read, re-encode to their very bytes, and
/// collect into a study.md that says the FID was not computed.
@Suite struct StudyWithoutFIDTests {
    @Test func oldResultsStillCollect() throws {
        let samples = TrainingTestData.packageRoot.appendingPathComponent("Samples/study").path
        let file = samples + "/dcl-seed0.json"
        let result = try StudyRunResult.read(path: file)
        #expect(result.fid == nil)
        #expect(try result.encoded() == Data(contentsOf: URL(fileURLWithPath: file)))
        let out = TrainingTestData.temporaryFolder()
        defer { TrainingTestData.remove(out) }
        let report = try Study.collect(from: samples, to: out)
        let markdown = try String(contentsOfFile: out + "/study.md", encoding: .utf8)
        #expect(markdown == report.markdown() && markdown.contains("FID/KID: not computed: no Inception weights."))
        #expect(!markdown.contains("samples FID"))
    }
}

/// `vae-faces bench --inception`.
@Suite struct InceptionBenchTests {
    /// `bench --inception`: the images timed and rates that agree with the clocks.
    @Test func theBenchTimesTheBatches() throws {
        let folder = try makeTemporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var options = InceptionBench.Options(weights: try FIDTests.weightsFile(in: folder))
        (options.batch, options.repeats, options.warmup) = (2, 1, 0)
        let report = try InceptionBench.run(options)
        #expect(report.images == 2 && report.batch == 2 && report.wall_s > 0 && report.cpu_s > 0)
        #expect(abs(report.images_per_s * report.wall_s - 2) < 1e-9 && abs(report.images_per_cpu_s * report.cpu_s - 2) < 1e-9)
        #expect(report.text.hasPrefix("FID Inception, batch 2"))
    }
}
