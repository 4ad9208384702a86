import Foundation
import Testing
@testable import VAEFaces

/// The whole shared CelebA subset, prepared once per test run with all cores, into a folder
/// of its own that is removed when the test process exits (the cache stays on disk meanwhile:
/// the command-line tests pass its path to `vae-faces train --cache`). Every test that needs
/// the prepared CelebA uses this one cache; none writes to the user's default cache.
let preparedCelebA: Result<(cache: PreparedCache, summary: PrepareSummary), any Error>? = {
    guard let folder = sharedCelebA else { return nil }
    do {
        let temp = try makeTemporaryFolder("celebafull")
        celebACacheFolder = temp
        atexit { if let folder = celebACacheFolder { try? FileManager.default.removeItem(atPath: folder) } }
        let summary = try DataPreparation.prepare(dataFolder: folder, cachePath: temp + "/celeba.vfcache")
        let cache = try PreparedCache.open(path: summary.cache)
        let rate = Double(summary.images) / summary.seconds
        print("prepared the shared CelebA subset: \(summary.images) images in \(String(format: "%.2f", summary.seconds)) s (\(Int(rate)) images/s)")
        return .success((cache, summary))
    } catch {
        return .failure(error)
    }
}()

/// The folder `preparedCelebA` lives in, for its removal at exit (set once, before the cache
/// is written).
nonisolated(unsafe) private var celebACacheFolder: String?

/// The rows of a CelebA annotation file for `names`, read straight from the text (fields
/// after the file name, split on spaces; CRLF line ends).
func annotationRows(_ path: String, names: Set<String>) throws -> [String: [Substring]] {
    let text = String(decoding: try Data(contentsOf: URL(fileURLWithPath: path)), as: UTF8.self)
    var rows = [String: [Substring]]()
    for line in text.split(whereSeparator: \.isNewline) {          // "\r\n" is one Character
        let fields = line.split(separator: " ")
        if let name = fields.first, names.contains(String(name)) { rows[String(name)] = Array(fields.dropFirst()) }
    }
    return rows
}

/// The prepared 64×64 image of a CelebA file computed independently of the library: TurboJPEG
/// decode, crop rows 39..178 × columns 19..158, area resize from its definition, round.
func independentCelebAFace(_ path: String) throws -> [UInt8] {
    let decoded = try decodeJPEGDirectly(try Data(contentsOf: URL(fileURLWithPath: path)))
    #expect(decoded.width == 178 && decoded.height == 218)
    return naiveAreaResize(decoded, x0: 19, y0: 39, width: 140, height: 140, outputWidth: 64, outputHeight: 64)
        .map { UInt8(($0 + 0.5).rounded(.down)) }
}

@Suite struct CelebATests {
    @Test(.enabled(if: sharedCelebA != nil, "needs ../shared/data/celeba next to the package"))
    func sharedSubsetPreparesWithTheOfficialSplits() throws {
        let (cache, summary) = try #require(preparedCelebA).get()
        #expect(summary.images == 17_373 && cache.count == 17_373)
        #expect(summary.skipped.isEmpty)
        #expect(summary.splits == PrepareSummary.SplitCounts(train: 15_934, val: 780, test: 659))
        #expect(cache.indices(in: .train).count == 15_934)
        #expect(cache.indices(in: .val).count == 780)
        #expect(cache.indices(in: .test).count == 659)
        #expect(cache.kind == .celebA)
        #expect(cache.attributeNames.count == 40 && cache.attributeNames.first == "5_o_Clock_Shadow" && cache.attributeNames.last == "Young")
        #expect(cache.fileName(0) == "000001.jpg" && cache.fileName(11_699) == "011700.jpg")
        #expect((1..<cache.count).allSatisfy { cache.fileName($0 - 1) < cache.fileName($0) })
    }

    @Test(.enabled(if: sharedCelebA != nil, "needs ../shared/data/celeba next to the package"))
    func knownImagesMatchAnIndependentComputation() throws {
        let folder = try #require(sharedCelebA)
        let (cache, _) = try #require(preparedCelebA).get()
        // 000001.jpg, and the first and last image of each split.
        var picks = [0]
        for split in Split.allCases { picks += [cache.indices(in: split).first!, cache.indices(in: split).last!] }
        let names = Set(picks.map(cache.fileName))
        let partition = try annotationRows(folder + "/list_eval_partition.txt", names: names)
        let attributes = try annotationRows(folder + "/list_attr_celeba.txt", names: names)
        for i in picks {
            let name = cache.fileName(i)
            let expected = try independentCelebAFace(folder + "/img_align_celeba/" + name)
            #expect(Array(cache.image(i)) == expected, "\(name)")
            #expect(cache.split(i).code == UInt8(try #require(partition[name]?.first)), "\(name)")
            #expect(Array(cache.attributes(i)) == (try #require(attributes[name])).map { Int8($0)! }, "\(name)")
        }
        // 000001.jpg as OpenCV prepares it (cv2.imread, the same crop, cv2.resize INTER_AREA),
        // checked once when this was written: XXH64 of its 12,288 bytes and three pixels.
        let first = cache.image(0)
        #expect(XXH64.hash(UnsafeRawBufferPointer(first)) == 0x0CB3_B936_EF84_7DBD)
        #expect(Array(first[0..<3]) == [251, 238, 206])
        #expect(Array(first[(32 * 64 + 32) * 3..<(32 * 64 + 33) * 3]) == [234, 173, 140])
        #expect(Array(first[(63 * 64 + 63) * 3..<(63 * 64 + 64) * 3]) == [58, 22, 17])
    }

    @Test(.enabled(if: sharedCelebA != nil, "needs ../shared/data/celeba next to the package"))
    func subsetCacheRoundTripsEveryImage() throws {
        let folder = try #require(sharedCelebA)
        let (full, _) = try #require(preparedCelebA).get()
        let temp = try makeTemporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: temp) }
        let summary = try DataPreparation.prepare(dataFolder: folder, cachePath: temp + "/subset.vfcache", limit: 150)
        #expect(summary.images == 150)
        let cache = try PreparedCache.open(path: summary.cache)
        for i in 0..<cache.count {
            #expect(cache.fileName(i) == full.fileName(i))
            #expect(Array(cache.image(i)) == Array(full.image(i)))
            #expect(Array(cache.image(i)) == (try independentCelebAFace(folder + "/img_align_celeba/" + cache.fileName(i))), "\(cache.fileName(i))")
        }
    }

    /// A CelebA-shaped folder with every kind of bad file, made here.
    @Test func badFilesAreSkippedWithTheirReasons() throws {
        let root = try makeTemporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let images = root + "/img_align_celeba/"
        let good1 = try encodeJPEG(smoothImage(width: 178, height: 218, seed: 1))
        try write(good1, to: images + "000001.jpg")
        try write(try encodeJPEG(smoothImage(width: 178, height: 218, seed: 2)), to: images + "000002.jpg")
        try write(good1.prefix(good1.count / 2), to: images + "000003.jpg")                  // truncated
        try write(Data("This is a text file, not a photograph.\n".utf8), to: images + "000004.jpg")
        try write(Data(), to: images + "000005.jpg")                                           // 0 bytes
        try write(try encodeJPEG(smoothImage(width: 100, height: 120, seed: 6)), to: images + "000006.jpg")
        try write(try PNG.encode(smoothImage(width: 178, height: 218, seed: 7)), to: images + "000007.png")
        try write(try PNG.encode(smoothImage(width: 178, height: 218, seed: 8)), to: images + "000008.jpg") // a PNG named .jpg
        try write(Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 1, 2, 3, 4, 5]), to: images + "000009.jpg")
        try write(Data("notes".utf8), to: images + "notes.txt")                                // not a candidate
        // Annotation files as CelebA ships them: CRLF, rows for images that are not here.
        var partition = ""
        for (name, code) in [("000001.jpg", 0), ("000002.jpg", 1), ("000003.jpg", 0), ("000004.jpg", 0), ("000005.jpg", 2),
                             ("000006.jpg", 0), ("000007.png", 2), ("000010.jpg", 1), ("202599.jpg", 2)] {
            partition += "\(name) \(code)\r\n"
        }
        try write(Data(partition.utf8), to: root + "/list_eval_partition.txt")
        let attributeNames = (0..<40).map { "Attribute_\($0)" }
        var attributes = "202599\r\n" + attributeNames.joined(separator: " ") + " \r\n"
        func row(_ seed: Int) -> [Int8] { (0..<40).map { ($0 * 7 + seed) % 3 == 0 ? 1 : -1 } }
        for (name, seed) in [("000001.jpg", 1), ("000002.jpg", 2), ("000007.png", 7), ("000011.jpg", 11)] {
            attributes += name + row(seed).map { $0 == 1 ? "  1" : " -1" }.joined() + "\r\n"
        }
        try write(Data(attributes.utf8), to: root + "/list_attr_celeba.txt")

        var events = [String]()
        let summary = try DataPreparation.prepare(dataFolder: root, cachePath: root + "/cache/c.vfcache", threads: 2) { event in
            if case .skipped(let file, _) = event { events.append(file) }
        }
        let reasons = Dictionary(uniqueKeysWithValues: summary.skipped.map { ($0.file, $0.reason) })
        #expect(summary.images == 4)
        #expect(summary.skipped.map(\.file) == ["000003.jpg", "000004.jpg", "000005.jpg", "000006.jpg", "000009.jpg"])
        #expect(events == summary.skipped.map(\.file))
        #expect(reasons["000003.jpg"]?.hasPrefix("truncated JPEG") == true, "\(reasons["000003.jpg"] ?? "")")
        #expect(reasons["000004.jpg"] == "not a JPEG or PNG image (the file starts with neither signature)")
        #expect(reasons["000005.jpg"] == "empty file (0 bytes)")
        #expect(reasons["000006.jpg"] == "100×120, but CelebA's aligned images are 178×218")
        #expect(reasons["000009.jpg"]?.hasPrefix("corrupt PNG") == true, "\(reasons["000009.jpg"] ?? "")")

        let cache = try PreparedCache.open(path: summary.cache)
        #expect((0..<4).map(cache.fileName) == ["000001.jpg", "000002.jpg", "000007.png", "000008.jpg"])
        #expect((0..<4).map(cache.split) == [.train, .val, .test, Split.byHash(of: "000008.jpg")])
        #expect(cache.attributeNames == attributeNames)
        #expect(Array(cache.attributes(0)) == row(1) && Array(cache.attributes(1)) == row(2) && Array(cache.attributes(2)) == row(7))
        #expect(Array(cache.attributes(3)) == [Int8](repeating: 0, count: 40))       // no row for it
        // The PNG went through the same crop and resize as the JPEGs.
        let png = smoothImage(width: 178, height: 218, seed: 7)
        let expected = naiveAreaResize(png, x0: 19, y0: 39, width: 140, height: 140, outputWidth: 64, outputHeight: 64).map { UInt8(($0 + 0.5).rounded(.down)) }
        #expect(Array(cache.image(2)) == expected)
    }

    @Test func genericFoldersCropTheCentreSquareAndSplitByHash() throws {
        let root = try makeTemporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let wide = smoothImage(width: 300, height: 200, seed: 3)
        let wideJPEG = try encodeJPEG(wide)
        try write(wideJPEG, to: root + "/a/face1.jpg")
        let exact = randomImage(width: 64, height: 64, seed: 4)
        try write(try PNG.encode(exact), to: root + "/b/c/face2.png")
        let celebASized = try encodeJPEG(smoothImage(width: 178, height: 218, seed: 5))
        try write(celebASized, to: root + "/face3.JPG")
        try write(try encodeJPEG(smoothImage(width: 50, height: 50, seed: 6)), to: root + "/small.jpg")
        try write(celebASized, to: root + "/.hidden.jpg")
        try write(Data("# faces".utf8), to: root + "/readme.md")

        let summary = try DataPreparation.prepare(dataFolder: root, cachePath: root + "/faces.vfcache")
        #expect(summary.images == 3)
        #expect(summary.skipped == [.init(file: "small.jpg", reason: "50×50 is smaller than 64×64")])
        let cache = try PreparedCache.open(path: summary.cache)
        #expect(cache.kind == .generic && cache.attributeNames.isEmpty && cache.attributes(0).isEmpty)
        #expect((0..<3).map(cache.fileName) == ["a/face1.jpg", "b/c/face2.png", "face3.JPG"])
        #expect((0..<3).map(cache.split) == ["a/face1.jpg", "b/c/face2.png", "face3.JPG"].map(Split.byHash))
        // 300×200: the centred 200×200 square at x = 50, resized.
        let decoded = try decodeJPEGDirectly(wideJPEG)
        let expected = naiveAreaResize(decoded, x0: 50, y0: 0, width: 200, height: 200, outputWidth: 64, outputHeight: 64)
        expectMatchesDefinition(Array(cache.image(0)), expected, "300×200")
        // 64×64 PNG: taken as it is.
        #expect(Array(cache.image(1)) == exact.pixels)
        // 178×218 in a generic folder: CelebA's crop.
        #expect(Array(cache.image(2)) == (try independentCelebAFace(root + "/face3.JPG")))
    }

    @Test func missingEmptyAndHopelessFoldersGiveOneLineErrors() throws {
        let root = try makeTemporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: root) }
        func message(_ body: () throws -> Void) -> String? {
            do { try body(); return nil } catch let error as VAEFacesError { return error.message } catch { return "\(error)" }
        }
        let cachePath = root + "/caches/x.vfcache"
        let missing = message { _ = try DataPreparation.prepare(dataFolder: root + "/nope", cachePath: cachePath) }
        #expect(missing == root + "/nope: no such folder")
        try write(Data("x".utf8), to: root + "/file.jpg")
        #expect(message { _ = try DataPreparation.prepare(dataFolder: root + "/file.jpg", cachePath: cachePath) }
                == root + "/file.jpg: is a file, not a data folder")
        try FileManager.default.createDirectory(atPath: root + "/empty", withIntermediateDirectories: true)
        #expect(message { _ = try DataPreparation.prepare(dataFolder: root + "/empty", cachePath: cachePath) }
                == root + "/empty: no images (.jpg, .jpeg or .png files) in this folder or below it")
        try FileManager.default.createDirectory(atPath: root + "/celeba/img_align_celeba", withIntermediateDirectories: true)
        #expect(message { _ = try DataPreparation.prepare(dataFolder: root + "/celeba", cachePath: cachePath) }
                == root + "/celeba/img_align_celeba: no .jpg images in CelebA's image folder")
        // Only bad files: an error, and no cache (not even a temporary file) left behind.
        try write(Data(), to: root + "/bad/a.jpg")
        try write(Data("text".utf8), to: root + "/bad/b.png")
        let hopeless = message { _ = try DataPreparation.prepare(dataFolder: root + "/bad", cachePath: cachePath) }
        #expect(hopeless == root + "/bad: none of the 2 image files could be used (a.jpg: empty file (0 bytes))")
        #expect((try? FileManager.default.contentsOfDirectory(atPath: root + "/caches")) ?? [] == [])
        for text in [missing, hopeless] { #expect(text?.contains("\n") == false) }
    }

    @Test func dataFolderComesFromTheOptionThenTheEnvironment() throws {
        #expect(try DataPreparation.resolveDataFolder("/data/celeba", environment: ["VAE_FACES_DATA": "/other"]) == "/data/celeba")
        #expect(try DataPreparation.resolveDataFolder(nil, environment: ["VAE_FACES_DATA": "/other/"]) == "/other")
        #expect(try DataPreparation.resolveDataFolder("rel", environment: [:]) == FileManager.default.currentDirectoryPath + "/rel")
        #expect {
            _ = try DataPreparation.resolveDataFolder(nil, environment: [:])
        } throws: { error in
            let text = "\(error)"
            return text.contains("--data") && text.contains("VAE_FACES_DATA") && text.contains("Getting CelebA") && !text.contains("\n")
        }
    }

    @Test func hashSplitIsStableAndNinetyFiveFive() {
        // FNV-1a-64 reference values.
        #expect(StableHash.fnv1a64("".utf8) == 0xCBF2_9CE4_8422_2325)
        #expect(StableHash.fnv1a64("a".utf8) == 0xAF63_DC4C_8601_EC8C)
        #expect(StableHash.fnv1a64("foobar".utf8) == 0x8594_4171_F739_67E8)
        var counts = [Split: Int]()
        let n = 20_000
        for i in 1...n { counts[Split.byHash(of: String(format: "%06d.jpg", i)), default: 0] += 1 }
        #expect(abs(Double(counts[.train]!) / Double(n) - 0.90) < 0.01)
        #expect(abs(Double(counts[.val]!) / Double(n) - 0.05) < 0.006)
        #expect(abs(Double(counts[.test]!) / Double(n) - 0.05) < 0.006)
    }
}
