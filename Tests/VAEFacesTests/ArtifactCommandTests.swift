import Foundation
import Testing
@testable import VAEFaces
@testable import vae_faces

/// The file handling, report and pictures of `vae-faces artifact-score`.
@Suite struct ArtifactCommandTests {
    /// A 64×64 8-bit image: a smooth gradient plus a ±`amplitude` checkerboard (in 8-bit levels).
    static func face(_ seed: Int, checkerboard amplitude: Int = 0) -> Image8 {
        var pixels = [UInt8](repeating: 0, count: 64 * 64 * 3)
        for y in 0..<64 {
            for x in 0..<64 {
                for c in 0..<3 {
                    let smooth = 60 + 2 * x + y + 20 * c + seed
                    let board = (x + y) % 2 == 0 ? amplitude : -amplitude
                    pixels[(y * 64 + x) * 3 + c] = UInt8(max(0, min(255, smooth + board)))
                }
            }
        }
        return Image8(width: 64, height: 64, pixels: pixels)
    }

    /// A folder: a.png, sub/b.png, sub/deeper/c.PNG, .hidden.png, notes.txt, broken.png (not a PNG).
    static func makeFolder() throws -> String {
        let root = try makeTemporaryFolder()
        try PNG.write(face(0), to: root + "/a.png")
        try PNG.write(face(1, checkerboard: 3), to: root + "/sub/b.png")
        try PNG.write(face(2), to: root + "/sub/deeper/c.PNG")
        try PNG.write(face(3), to: root + "/.hidden.png")
        try write(Data("notes".utf8), to: root + "/notes.txt")
        try write(Data("this is not a PNG".utf8), to: root + "/broken.png")
        return root
    }

    @Test func foldersAreSearchedRecursivelyForPNGFiles() throws {
        let root = try Self.makeFolder()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let found = ArtifactScoring.collectFiles([root, root + "/notes.txt", root + "/a.png", root + "/missing.png"])
        #expect(found.files == [root + "/a.png", root + "/broken.png", root + "/sub/b.png", root + "/sub/deeper/c.PNG",
                                root + "/notes.txt"])
        #expect(found.missing == [SkippedFile(file: root + "/missing.png", problem: "no such file or folder")])

        let scored = ArtifactScoring.scoreFiles(found.files)
        #expect(scored.images.map(\.file) == [root + "/a.png", root + "/sub/b.png", root + "/sub/deeper/c.PNG"])
        #expect(scored.skipped == [SkippedFile(file: root + "/broken.png", problem: "not a PNG file (no PNG signature)"),
                                   SkippedFile(file: root + "/notes.txt", problem: "not a PNG file (no PNG signature)")])
        // The scores are those of the same pixels scored in memory.
        let direct = FloatImage(Self.face(1, checkerboard: 3)).data.withUnsafeBufferPointer {
            ArtifactScorer().score(planar: $0, channels: 3, height: 64, width: 64)
        }
        #expect(scored.images[1].scores == direct)
        #expect(direct.cb > 100 * scored.images[0].scores.cb, "the checkerboard image stands out")
    }

    @Test func reportJSONHasTheSpecShape() throws {
        let images = [ScoredImage(file: "x.png", scores: FloatImage(Self.face(0, checkerboard: 2)).score()),
                      ScoredImage(file: "y.png", scores: FloatImage(Self.face(5, checkerboard: 1)).score())]
        let reference = [Self.face(0), Self.face(9, checkerboard: 1), Self.face(20)].map { FloatImage($0).score() }
        let report = ArtifactReport(images: images, skipped: [SkippedFile(file: "z.png", problem: "corrupt")],
                                    reference: (reference, .init(cache: "/c.vfcache", split: "test")))
        let encoder = JSONEncoder()
        let object = try JSONSerialization.jsonObject(with: encoder.encode(report)) as! [String: Any]
        #expect(Set(object.keys) == ["images", "aggregate", "reference", "reference_source", "vs_reference", "skipped"])
        let first = (object["images"] as! [[String: Any]])[0]
        #expect(first["file"] as? String == "x.png")
        #expect(Set(first.keys) == Set(["file", "flat", "cb_channel"] + ArtifactField.allCases.map(\.rawValue)))
        #expect((object["aggregate"] as! [String: Any])["n"] as? Int == 2)
        #expect((object["reference"] as! [String: Any])["n"] as? Int == 3)
        // The primary fields carry their bootstrap interval (the reference's own scores are known), the others not.
        let readings = object["vs_reference"] as! [String: Any]
        let vs = readings["cb_local"] as! [String: Any]
        #expect(Set(vs.keys) == ["ratio_mean", "db", "ratio_median", "above_real_p95", "ratio_mean_interval95"])
        #expect(Set((readings["cb_row"] as! [String: Any]).keys) == ["ratio_mean", "db", "ratio_median", "above_real_p95"])

        // Reference alone: only the reference.
        let alone = ArtifactReport(images: [], skipped: [], reference: (reference, .init(cache: "/c.vfcache", split: "all")))
        let aloneObject = try JSONSerialization.jsonObject(with: encoder.encode(alone)) as! [String: Any]
        #expect(Set(aloneObject.keys) == ["reference", "reference_source", "skipped"])

        let table = report.table(perImage: true)
        #expect(table.contains("x.png") && table.contains("scored: 2 images (0 flat); 1 file skipped"))
        #expect(table.contains("reference: 3 images (0 flat), the test split of /c.vfcache"))
        #expect(table.contains(">real p95") && table.contains("cb_channel[2]"))
    }

    @Test func commandRejectsAnEmptySetWithAClearError() throws {
        let root = try makeTemporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try write(Data("x".utf8), to: root + "/readme.txt")
        #expect(throws: VAEFacesError("no PNG images found in \(root)")) {
            try ArtifactScoreCommand.parse([root]).run()
        }
        try write(Data("x".utf8), to: root + "/bad.png")
        #expect(throws: VAEFacesError("none of the 1 files could be read as PNG images")) {
            try ArtifactScoreCommand.parse([root]).run()
        }
        #expect(throws: (any Error).self) { try ArtifactScoreCommand.parse([]) }
        #expect(throws: (any Error).self) { try ArtifactScoreCommand.parse([root, "--split", "holdout"]) }
    }

    @Test func commandWritesTheMapAndTheHeatmap() throws {
        let root = try Self.makeFolder()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try ArtifactScoreCommand.parse([root + "/sub", "--map", root + "/out/map.png", "--heatmap", root + "/out/heat.png"]).run()
        let map = try PNG.readRGB(root + "/out/map.png"), heat = try PNG.readRGB(root + "/out/heat.png")
        #expect(map.width >= 256 && map.height >= 256 && heat.width >= 384 && heat.height >= 384)
    }

    @Test func aRunScoresTheFilesNotesWhatItSkipsAndReportsEachSet() throws {
        let root = try Self.makeFolder()
        defer { try? FileManager.default.removeItem(atPath: root) }
        var notes: [String] = []
        let result = try ArtifactScoreRun(paths: [root], heatmap: root + "/out/heat.png").run { notes.append($0) }
        #expect(result.sets.map(\.label) == ["files"] && result.sets[0].report.images?.count == 3)
        #expect(notes == ["skipped \(root)/broken.png: not a PNG file (no PNG signature)"])
        let text = result.text()
        #expect(text.contains("scored: 3 images") && text.hasSuffix("tile heatmap: \(root)/out/heat.png\n"))
        #expect(try PNG.readRGB(root + "/out/heat.png").width >= 384)
        // One set: its report is the JSON; several: {"sets": [{"label", "report"}]}.
        let one = try JSONSerialization.jsonObject(with: JSONEncoder().encode(result)) as! [String: Any]
        #expect(Set(one.keys) == ["images", "aggregate", "skipped"])
        let two = ArtifactScoreResult(sets: result.sets + [.init(label: "again", report: result.sets[0].report)])
        let both = try JSONSerialization.jsonObject(with: JSONEncoder().encode(two)) as! [String: Any]
        let entries = try #require(both["sets"] as? [[String: Any]])
        #expect(Set(both.keys) == ["sets"] && entries.map { Set($0.keys) } == [["label", "report"], ["label", "report"]])
        #expect(two.text().contains("== files\n") && two.text().contains("== again\n"))

        try write(Data("x".utf8), to: root + "/empty/readme.txt")
        #expect(throws: VAEFacesError("no PNG images found in \(root)/empty")) {
            try ArtifactScoreRun(paths: [root + "/empty"]).run()
        }
    }

    @Test func picturesShowTheMapsOnOneScale() throws {
        var maps = ArtifactMeanMaps(height: 8, width: 8, count: 2, spectrumCount: 2,
                                    logPower: (0..<64).map { Double($0 % 7) }, tileCbLocal: [1e-4])
        let single = try ArtifactPictures.spectrum([.init(title: "A", maps: maps)])
        let double = try ArtifactPictures.spectrum([.init(title: "A", maps: maps), .init(title: "B", maps: maps)])
        #expect(double.width > single.width + 200 && double.height == single.height)
        maps.logPower = nil
        #expect(throws: VAEFacesError.self) { try ArtifactPictures.spectrum([.init(title: "A", maps: maps)]) }
        let heat = try ArtifactPictures.heatmap([.init(title: "A", maps: maps)])
        #expect(heat.width > 48 && heat.height > 48)
        #expect(ArtifactPictures.compact(2.14e-5) == "2.1E-5" && ArtifactPictures.compact(9.96e-4) == "1.0E-3"
                && ArtifactPictures.compact(0) == "0")
    }
}

extension FloatImage {
    func score() -> ArtifactScores {
        data.withUnsafeBufferPointer { ArtifactScorer().score(planar: $0, channels: channels, height: height, width: width) }
    }
}
