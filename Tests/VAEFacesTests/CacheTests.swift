import Foundation
import TensorIO
import Testing
@testable import VAEFaces

@Suite struct CacheTests {
    @Test func xxh64MatchesTheReferenceImplementation() {
        // Values from the reference xxHash (Python `xxhash.xxh64(...).intdigest()`).
        let cases: [([UInt8], UInt64)] = [
            ([], 0xEF46_DB37_51D8_E999),
            (Array("a".utf8), 0xD24E_C4F1_A98C_6E5B),
            (Array("abc".utf8), 0x44BC_2CF5_AD77_0999),
            (Array((0..<768).map { UInt8($0 % 256) }), 0x8E03_C838_C596_036F),
            (Array((0..<1000).map { UInt8(($0 * 7) % 251) }), 0x023F_D2ED_1FF9_57D5),
        ]
        for (bytes, expected) in cases {
            #expect(bytes.withUnsafeBytes { XXH64.hash($0) } == expected, "\(bytes.count) bytes")
            // Streaming in uneven pieces gives the same hash.
            for piece in [1, 5, 31, 32, 33, 100] {
                var h = XXH64()
                var i = 0
                while i < bytes.count {
                    let j = min(bytes.count, i + piece)
                    bytes[i..<j].withUnsafeBytes { h.update($0) }
                    i = j
                }
                #expect(h.finalize() == expected, "\(bytes.count) bytes in pieces of \(piece)")
            }
        }
    }

    @Test func roundTripGivesBackEveryImageAndIsDeterministic() throws {
        let (root, faces) = try makeFaceFolder(count: 23)
        defer { try? FileManager.default.removeItem(atPath: (root as NSString).deletingLastPathComponent) }
        let one = try DataPreparation.prepare(dataFolder: root, cachePath: root + "/../one.vfcache", threads: 1)
        let two = try DataPreparation.prepare(dataFolder: root, cachePath: root + "/../two.vfcache", threads: 2)
        #expect(one.images == 23 && one.skipped.isEmpty)
        #expect(one.splits.train + one.splits.val + one.splits.test == 23)
        // Same bytes whatever the thread count (no timestamps, file-name order).
        #expect(try Data(contentsOf: URL(fileURLWithPath: one.cache)) == (try Data(contentsOf: URL(fileURLWithPath: two.cache))))
        let cache = try PreparedCache.open(path: one.cache)
        #expect(cache.count == 23 && cache.path == one.cache && cache.dataFolder == root)
        for i in 0..<23 {
            #expect(cache.fileName(i) == String(format: "face_%03d.png", i))
            #expect(Array(cache.image(i)) == faces[i].pixels)
            #expect(cache.image8(i) == faces[i])
            #expect(cache.split(i) == Split.byHash(of: cache.fileName(i)))
        }
        #expect(Split.allCases.flatMap { cache.indices(in: $0) }.sorted() == Array(0..<23))
        let size = try FileManager.default.attributesOfItem(atPath: one.cache)[.size] as! Int
        #expect(size > 64 + 23 * 12_288)
        // The preview grid: tiles in file-name order, row by row.
        let grid = DataPreparation.previewGrid(cache)
        #expect(grid.width == 8 * 66 + 2 && grid.height == 3 * 66 + 2)
        for i in 0..<23 { #expect(Grid.tile(i, of: grid, columns: 8, tileSize: 64) == faces[i]) }
    }

    @Test func damagedAndForeignFilesAreRefused() throws {
        let (root, _) = try makeFaceFolder(count: 5)
        let folder = (root as NSString).deletingLastPathComponent
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let good = try DataPreparation.prepare(dataFolder: root, cachePath: folder + "/good.vfcache")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: good.cache))
        func openMessage(_ data: Data, _ name: String) throws -> String {
            let path = folder + "/" + name
            try data.write(to: URL(fileURLWithPath: path))
            do { _ = try PreparedCache.open(path: path); return "opened" } catch let error as FileError {
                #expect(error.description.hasPrefix(path + ": "))
                return String(error.description.dropFirst(path.count + 2))
            }
        }
        #expect(try openMessage(bytes.prefix(bytes.count - 1), "short1") .contains("checksum mismatch"))
        #expect(try openMessage(bytes.prefix(64 + 3 * 12_288), "short2").hasPrefix("truncated or corrupt vae-faces cache"))
        #expect(try openMessage(bytes.prefix(40), "short3") == "truncated vae-faces cache (40 bytes)")
        var flipped = bytes
        flipped[64 + 2 * 12_288 + 100] ^= 1
        #expect(try openMessage(flipped, "flipped").contains("checksum mismatch"))
        var version = bytes
        version[8] = 9
        #expect(try openMessage(version, "version") == "cache format version 9, this build reads version 1")
        #expect(try openMessage(Data("name,split\nfoo.jpg,0\n".utf8) + Data(count: 100), "foreign") == "not a vae-faces prepared cache (unknown file header)")
        #expect(try openMessage(Data(), "empty") == "not a vae-faces prepared cache (0 bytes)")
        #expect(try openMessage(bytes, "copy") == "opened")
        #expect(throws: FileError.self) { _ = try PreparedCache.open(path: folder + "/missing.vfcache") }

        // `prepare` will not overwrite a foreign file, but replaces a damaged cache.
        let foreign = folder + "/foreign"
        #expect {
            _ = try DataPreparation.prepare(dataFolder: root, cachePath: foreign)
        } throws: { error in
            "\(error)".contains("is not a vae-faces cache; refusing to overwrite it")
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: foreign)).prefix(4) == Data("name".utf8))
        #expect(try DataPreparation.prepare(dataFolder: root, cachePath: folder + "/flipped").images == 5)
        #expect(try PreparedCache.open(path: folder + "/flipped").count == 5)
    }

    @Test func staleCachesAreRebuiltByDefaultAndRefusedWhenExplicit() throws {
        let (root, _) = try makeFaceFolder(count: 6)
        let folder = (root as NSString).deletingLastPathComponent
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let explicit = folder + "/explicit.vfcache"
        // Missing explicit cache: prepared there.
        var notes = [String]()
        let first = try DataPreparation.openOrPrepare(dataFolder: root, cachePath: explicit) { if case .note(let n) = $0 { notes.append(n) } }
        #expect(first.count == 6 && notes.count == 1)
        // Unchanged folder: opened as is (no note, same signature).
        notes = []
        let again = try DataPreparation.openOrPrepare(dataFolder: root, cachePath: explicit) { if case .note(let n) = $0 { notes.append(n) } }
        #expect(again.count == 6 && notes.isEmpty && again.signature == first.signature)

        // Add an image: stale. Explicit: refused with the reason and the fix.
        try write(try PNG.encode(randomImage(width: 64, height: 64, seed: 99)), to: root + "/face_100.png")
        #expect {
            _ = try DataPreparation.openOrPrepare(dataFolder: root, cachePath: explicit)
        } throws: { error in
            let text = "\(error)"
            return text.hasPrefix(explicit + ": is stale") && text.contains("now 7 image files") && text.contains("vae-faces prepare --data")
        }
        // As the default cache (rebuilt when invalid): rebuilt with a note.
        notes = []
        let rebuilt = try DataPreparation.openOrPrepare(try DataFolder.scan(root), path: explicit, rebuildWhenInvalid: true, threads: nil) {
            if case .note(let n) = $0 { notes.append(n) }
        }
        #expect(rebuilt.count == 7 && notes.count == 1 && notes[0].contains("is stale"))
        // Touching a file (new mtime) also makes it stale.
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSince1970: 1_000_000)], ofItemAtPath: root + "/face_000.png")
        #expect(throws: FileError.self) { _ = try DataPreparation.openOrPrepare(dataFolder: root, cachePath: explicit) }
        // A cache of another folder is stale for this one.
        let (other, _) = try makeFaceFolder(count: 2, seed: 5, "otherfolder")
        defer { try? FileManager.default.removeItem(atPath: (other as NSString).deletingLastPathComponent) }
        #expect {
            _ = try DataPreparation.openOrPrepare(dataFolder: other, cachePath: explicit)
        } throws: { error in
            "\(error)".contains("not from \(other)")
        }
        // A damaged default cache is rebuilt; a damaged explicit one refused.
        var bytes = try Data(contentsOf: URL(fileURLWithPath: explicit))
        bytes[100] ^= 0xFF
        try bytes.write(to: URL(fileURLWithPath: explicit))
        #expect(throws: FileError.self) { _ = try DataPreparation.openOrPrepare(dataFolder: root, cachePath: explicit) }
        let repaired = try DataPreparation.openOrPrepare(try DataFolder.scan(root), path: explicit, rebuildWhenInvalid: true, threads: nil) { _ in }
        #expect(repaired.count == 7)
        // No data folder: the explicit cache is opened as it is.
        #expect(try DataPreparation.openOrPrepare(dataFolder: nil, cachePath: explicit).count == 7)
        #expect(throws: VAEFacesError.self) { _ = try DataPreparation.openOrPrepare(dataFolder: nil, cachePath: nil) }
    }

    @Test func defaultCacheLivesUnderTheUserCacheKeyedByFolder() {
        #expect(DataPreparation.defaultCacheFolder(environment: ["HOME": "/home/u"]) == "/home/u/.cache/vae-faces")
        #expect(DataPreparation.defaultCacheFolder(environment: ["HOME": "/home/u", "XDG_CACHE_HOME": "/var/c"]) == "/var/c/vae-faces")
        let a = DataPreparation.defaultCachePath(dataFolder: "/data/celeba")
        let b = DataPreparation.defaultCachePath(dataFolder: "/other/celeba")
        #expect(a != b && a.hasSuffix(".vfcache") && (a as NSString).lastPathComponent.hasPrefix("celeba-"))
        #expect(a == DataPreparation.defaultCachePath(dataFolder: "/data/./celeba/"))
        #expect((a as NSString).deletingLastPathComponent == DataPreparation.defaultCacheFolder())
    }
}
