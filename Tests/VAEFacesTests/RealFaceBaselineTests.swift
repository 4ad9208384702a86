import Foundation
import Testing
@testable import VAEFaces
@testable import vae_faces

/// The real-face baseline shipped with the tool (`RealFaceBaseline`) and its use by
/// `artifact-score --model` without `--reference`.
@Suite struct RealFaceBaselineTests {
    static let shippedFile = TrainingTestData.packageRoot.appendingPathComponent(RealFaceBaseline.sourcePath).path

    /// The shipped file is what the encoder writes for the baseline it decodes to (so no digit of
    /// it was lost or edited), and each split's statistics are those of its per-image arrays.
    @Test func theShippedBaselineDecodesAndAgreesWithItself() throws {
        let shipped = RealFaceBaseline.shipped
        #expect(try shipped.swiftSource() == String(contentsOfFile: Self.shippedFile, encoding: .utf8))
        #expect(shipped.splits.map(\.identity.split) == ["test", "val"])
        for entry in shipped.splits {
            let n = entry.identity.n
            #expect(n > 100 && entry.aggregate.n == n && entry.cb.count == n && entry.cbLocal.count == n)
            #expect(FieldStatistics(entry.cb) == entry.aggregate[.cb])
            #expect(FieldStatistics(entry.cbLocal) == entry.aggregate[.cbLocal])
            #expect(entry.identity.dataSet == "CelebA" && entry.identity.pixelsXXH64.count == 16)
        }
        #expect(shipped[.test]?.identity.n == 659 && shipped[.train] == nil)
    }

    @Test(.enabled(if: TrainingTestData.available, "needs ../shared/data/celeba"))
    func regeneratingFromTheDataGivesTheShippedFile() throws {
        let cache = try TrainingTestData.cache.get()
        #expect(try RealFaceBaseline(cache: cache) == RealFaceBaseline.shipped)
        let folder = try makeTemporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let written = folder + "/sub/RealFaceBaselineData.swift"
        try ArtifactScoreCommand.parse(["--reference", cache.path, "--write-baseline", written]).run()
        #expect(try Data(contentsOf: URL(fileURLWithPath: written)) == Data(contentsOf: URL(fileURLWithPath: Self.shippedFile)))
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder + "/sub") == ["RealFaceBaselineData.swift"])
    }

    /// Without --reference a model is read against the shipped split, and the report says so.
    @Test func modelsWithoutAReferenceAreReadAgainstTheShippedBaseline() throws {
        let folder = try makeTemporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let model = try ArtifactModelTests.exportedModel(.dcl, seed: 3, in: folder)
        let source = ModelImageSource.prior(count: 12, seed: 1, temperature: 1)
        for split in [Split.test, .val] {
            let result = try ArtifactScoreRun(split: split, models: [model], modelImages: source).run()
            let report = result.sets[0].report
            let shipped = try #require(RealFaceBaseline.shipped[split])
            #expect(report.referenceSource == .init(shipped: shipped.identity) && report.referenceSource?.cache == nil)
            #expect(report.reference == shipped.aggregate)
            let scores = try #require(report.images).map(\.scores)
            let realPrimary = RealPrimaryScores(cb: shipped.cb, cbLocal: shipped.cbLocal)
            #expect(report.vsReference == ArtifactComparison(scores: scores, reference: shipped.aggregate, realPrimary: realPrimary))
            // R(cb) and R(cb_local) carry the bootstrap interval over the generated and the shipped per-image scores.
            let vs = try #require(report.vsReference)
            let cbInterval = try #require(vs[.cb].interval), cbLocalInterval = try #require(vs[.cbLocal].interval)
            #expect(cbInterval == Bootstrap.ratioOfMeans(scores.map(\.cb), shipped.cb))
            #expect(cbLocalInterval == Bootstrap.ratioOfMeans(scores.map(\.cbLocal), shipped.cbLocal))
            let ratio = try #require(vs[.cb].ratioMean)
            #expect(cbInterval.low <= cbInterval.high && cbInterval.contains(ratio))
            #expect(vs[.cbCol].interval == nil && vs[.amp].interval == nil)
            #expect(result.text().contains("95 % interval") && result.text().contains(String(format: "[%.3f, %.3f]", cbInterval.low, cbInterval.high)))
            #expect(result.text().contains("reference: \(shipped.identity.n) images (0 flat), the \(split.rawValue) split "
                                           + "of the real-face baseline shipped with the tool (no --reference given): CelebA "))
            let json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(result)) as! [String: Any]
            let reference = try #require(json["reference_source"] as? [String: Any])
            let identity = try #require(reference["shipped_baseline"] as? [String: Any])
            #expect(reference["cache"] == nil && reference["split"] as? String == split.rawValue)
            #expect(identity["n"] as? Int == shipped.identity.n && identity["pixels_xxh64"] as? String == shipped.identity.pixelsXXH64)
            let readings = try #require(json["vs_reference"] as? [String: Any])
            let cbJSON = try #require((readings["cb"] as? [String: Any])?["ratio_mean_interval95"] as? [String: Double])
            #expect(cbJSON == ["low": cbInterval.low, "high": cbInterval.high])
            #expect((readings["cb_col"] as? [String: Any])?["ratio_mean_interval95"] == nil)
        }
        #expect(throws: VAEFacesError("the shipped real-face baseline holds the test and val splits, not train: give --reference DIR")) {
            try ArtifactScoreRun(split: .train, models: [model], modelImages: source).run()
        }
        // The command takes the same path.
        try ArtifactScoreCommand.parse(["--model", model, "--n", "4", "--split", "val", "--json"]).run()
    }

    @Test(.enabled(if: TrainingTestData.available, "needs ../shared/data/celeba"))
    func theShippedBaselineGivesTheRatiosOfTheDataTestSplit() throws {
        let cache = try TrainingTestData.cache.get()
        let folder = try makeTemporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let model = try ArtifactModelTests.exportedModel(.pixeldcl, seed: 8, in: folder)
        let source = ModelImageSource.prior(count: 16, seed: 2, temperature: 1)
        let shipped = try ArtifactScoreRun(models: [model], modelImages: source).run().sets[0].report
        let data = try ArtifactScoreRun(reference: cache.path, split: .test, models: [model], modelImages: source).run().sets[0].report
        #expect(data.referenceSource?.cache == cache.path && shipped.referenceSource?.shippedBaseline != nil)
        #expect(try #require(shipped.vsReference) == #require(data.vsReference))
        #expect(shipped.reference == data.reference)
    }

    @Test func reconstructionsStillNeedTheRealImages() throws {
        let folder = try makeTemporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let model = try ArtifactModelTests.exportedModel(.resizeconv, seed: 1, in: folder)
        #expect(throws: VAEFacesError("reconstructions need real images: give --reference")) {
            try ArtifactScoreRun(models: [model], modelImages: .reconstructions(split: .test)).run()
        }
        #expect(throws: (any Error).self) { try ArtifactScoreCommand.parse(["--model", model, "--reconstructions"]) }
    }

    @Test func writingTheBaselineNeedsAReferenceAndNothingToScore() throws {
        #expect(throws: (any Error).self) { try ArtifactScoreCommand.parse(["--write-baseline", "x.swift"]) }
        #expect(throws: (any Error).self) { try ArtifactScoreCommand.parse(["--reference", "d", "--model", "m", "--write-baseline", "x.swift"]) }
        #expect(try ArtifactScoreCommand.parse(["--reference", "d", "--write-baseline", "x.swift"]).writeBaseline == "x.swift")
    }
}
