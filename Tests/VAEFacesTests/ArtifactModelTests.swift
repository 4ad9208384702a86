import Foundation
import NeuralCore
import Testing
@testable import VAEFaces
@testable import vae_faces

/// `artifact-score --model`: a model's faces scored in memory.
@Suite struct ArtifactModelTests {
    static func exportedModel(_ decoder: DecoderKind, seed: UInt64, in folder: String) throws -> String {
        let path = folder + "/\(decoder.rawValue).safetensors"
        try ModelExport.write(VAE(configuration: VAEConfiguration(decoder: decoder), seed: seed), to: path)
        return path
    }

    /// Scoring samples in memory gives the scores of the PNG files `sample --each` writes.
    @Test func samplesScoredInMemoryEqualTheWrittenFiles() throws {
        let folder = try makeTemporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = try Self.exportedModel(.dcl, seed: 11, in: folder)
        let scored = try ArtifactScoring.scoreModel(path: path, source: .prior(count: 5, seed: 3, temperature: 0.8), cache: nil)
        #expect(scored.info == ModelScoringInfo(model: path, decoder: "dcl", images: "samples", n: 5, seed: 3, temperature: 0.8))
        #expect(scored.images.map(\.file) == (0..<5).map { "samples/00000\($0)" })

        let loaded = try ModelFile.load(path: path)
        let z = LatentCodes.prior(count: 5, dimension: 128, seed: 3, temperature: 0.8)
        try Sampler.writeEach(Sampler.decode(loaded.model, latents: z), to: folder + "/each")
        let files = ArtifactScoring.scoreFiles(ArtifactScoring.collectFiles([folder + "/each"]).files)
        #expect(files.skipped.isEmpty)
        // Equal up to how 8-bit values become floats (Float x/255 from the PNG reader, Double in memory).
        #expect(files.images.count == 5)
        for (a, b) in zip(files.images.map(\.scores), scored.images.map(\.scores)) {
            #expect(a.flat == b.flat)
            for field in ArtifactField.allCases {
                #expect(abs(a[field] - b[field]) <= 1e-6 * max(1e-12, abs(b[field])), "\(field)")
            }
        }
        // A different seed gives different faces, hence different scores.
        let other = try ArtifactScoring.scoreModel(path: path, source: .prior(count: 5, seed: 4, temperature: 0.8), cache: nil)
        #expect(other.images.map(\.scores) != scored.images.map(\.scores))
    }

    @Test func reconstructionsNeedTheRealImages() throws {
        let folder = try makeTemporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = try Self.exportedModel(.pixeldcl, seed: 2, in: folder)
        #expect(throws: VAEFacesError("reconstructions need real images: give --reference")) {
            try ArtifactScoring.scoreModel(path: path, source: .reconstructions(split: .test), cache: nil)
        }
        #expect(throws: (any Error).self) { try ArtifactScoreCommand.parse(["--model", path, "--reconstructions"]) }
    }

    @Test(.enabled(if: TrainingTestData.available, "needs ../shared/data/celeba"))
    func reconstructionsOfTheTestSplitAreScored() throws {
        let cache = try TrainingTestData.cache.get()
        let folder = try makeTemporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = try Self.exportedModel(.resizeconv, seed: 5, in: folder)
        let scored = try ArtifactScoring.scoreModel(path: path, source: .reconstructions(split: .test), cache: cache)
        #expect(scored.images.count == cache.indices(in: .test).count)
        #expect(scored.info.split == "test" && scored.info.images == "reconstructions")
        // The same reconstructions scored directly.
        let indices = Array(cache.indices(in: .test).prefix(3))
        let direct = Sampler.reconstruct(try ModelFile.load(path: path).model, cache: cache, indices: indices).reconstructions
        let expected = ArtifactScoring.scoreImages(direct, names: { "\($0)" }).images.map(\.scores)
        #expect(Array(scored.images.prefix(3)).map(\.scores) == expected)
    }

    @Test func severalModelsRunSideBySide() throws {
        let folder = try makeTemporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let a = try Self.exportedModel(.dcl, seed: 1, in: folder)
        let b = try Self.exportedModel(.pixeldcl, seed: 1, in: folder)
        let sets = try [a, b].map { path -> (String, ArtifactReport) in
            let s = try ArtifactScoring.scoreModel(path: path, source: .prior(count: 4, seed: 0, temperature: 1), cache: nil)
            var report = ArtifactReport(images: s.images, skipped: [])
            report.model = s.info
            return (s.info.decoder, report)
        }
        let table = ArtifactReport.sideBySide(sets)
        #expect(table.contains("dcl") && table.contains("pixeldcl") && table.contains("mean cb_local"))
        try ArtifactScoreCommand.parse(["--model", a, "--model", b, "--n", "4", "--json"]).run()
    }

    /// `sample --model A --model B`: one row per model, the same latent vectors in each column.
    @Test func sampleComparesModelsRowByRow() throws {
        let folder = try makeTemporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let a = try Self.exportedModel(.dcl, seed: 1, in: folder)
        let b = try Self.exportedModel(.resizeconv, seed: 1, in: folder)
        try SampleCommand.parse(["--model", a, "--model", b, "--n", "3", "--seed", "9", "--out", folder + "/cmp.png"]).run()
        let grid = Image8(try PNG.readRGB(folder + "/cmp.png"))
        #expect(grid.width == 3 * 66 + 2 && grid.height == 2 * 66 + 2)
        let z = LatentCodes.prior(count: 3, dimension: 128, seed: 9)
        for (row, path) in [a, b].enumerated() {
            let faces = Sampler.decode(try ModelFile.load(path: path).model, latents: z)
            for column in 0..<3 {
                #expect(Grid.tile(row * 3 + column, of: grid, columns: 3, tileSize: 64).pixels == faces[column].pixels)
            }
        }
        #expect(throws: (any Error).self) {
            try SampleCommand.parse(["--model", a, "--model", b, "--reconstruct", "--out", folder + "/x.png"])
        }
    }
}
