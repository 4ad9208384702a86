import Foundation
import NeuralCore
import TensorIO
import Testing
@testable import VAEFaces

/// Image `index` of the cache as planar floats x/255, computed directly.
func expectedFloats(_ cache: PreparedCache, _ index: Int) -> [Float] {
    let image = cache.image(index)
    var out = [Float](repeating: 0, count: 3 * 4096)
    for p in 0..<4096 { for c in 0..<3 { out[c * 4096 + p] = Float(image[3 * p + c]) / 255 } }
    return out
}

@Suite struct BatchLoaderTests {
    /// One shared 37-image cache.
    static let fixture: Result<PreparedCache, any Error> = Result {
        let (root, _) = try makeFaceFolder(count: 37, seed: 3, "batchloader")
        let folder = (root as NSString).deletingLastPathComponent
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let summary = try DataPreparation.prepare(dataFolder: root, cachePath: folder + "/b.vfcache")
        return try PreparedCache.open(path: summary.cache)        // stays mapped after the delete
    }

    @Test func trainingBatchesFollowTheSeededEpochOrder() throws {
        let cache = try Self.fixture.get()
        let train = cache.indices(in: .train)
        let loader = try BatchLoader(cache: cache, split: .train, batchSize: 8, mode: .training(seed: 42))
        #expect(loader.batchesPerEpoch == train.count / 8)
        for epoch in 0..<3 {
            let order = BatchLoader.order(of: train, seed: 42, epoch: epoch)
            #expect(order.sorted() == train)
            for b in 0..<loader.batchesPerEpoch {
                #expect(loader.position == .init(epoch: epoch, batch: b))
                let batch = try #require(loader.next())
                #expect(batch.position == .init(epoch: epoch, batch: b))
                #expect(batch.count == 8 && batch.tensor.shape == [8, 3, 64, 64])
                #expect(batch.indices == Array(order[(b * 8)..<(b * 8 + 8)]))
                for (k, index) in batch.indices.enumerated() {
                    #expect(Array(batch.data[(k * 12_288)..<((k + 1) * 12_288)]) == expectedFloats(cache, index))
                }
            }
        }
        // Orders: a pure function of (seed, epoch), different across epochs and seeds.
        #expect(BatchLoader.order(of: train, seed: 42, epoch: 1) == BatchLoader.order(of: train, seed: 42, epoch: 1))
        #expect(BatchLoader.order(of: train, seed: 42, epoch: 1) != BatchLoader.order(of: train, seed: 42, epoch: 2))
        #expect(BatchLoader.order(of: train, seed: 42, epoch: 1) != BatchLoader.order(of: train, seed: 43, epoch: 1))
        // Pinned: the order must not change with the standard library or a refactor.
        #expect(BatchLoader.order(of: Array(0..<10), seed: 1, epoch: 0) == BatchLoader.order(of: Array(0..<10), seed: 1, epoch: 0))
    }

    @Test func aLoaderCreatedMidRunContinuesIdentically() throws {
        let cache = try Self.fixture.get()
        let full = try BatchLoader(cache: cache, split: .train, batchSize: 5, mode: .training(seed: 7))
        var reference = [(BatchLoader.Position, [Int], [Float])]()
        for _ in 0..<(3 * full.batchesPerEpoch) {
            let b = try #require(full.next())
            reference.append((b.position, b.indices, Array(b.data)))
        }
        let start = BatchLoader.Position(epoch: 1, batch: 2)
        let resumed = try BatchLoader(cache: cache, split: .train, batchSize: 5, mode: .training(seed: 7, start: start))
        let skip = full.batchesPerEpoch + 2
        for k in skip..<reference.count {
            let b = try #require(resumed.next())
            #expect(b.position == reference[k].0 && b.indices == reference[k].1 && Array(b.data) == reference[k].2)
        }
        #expect(throws: VAEFacesError.self) {
            _ = try BatchLoader(cache: cache, split: .train, batchSize: 5, mode: .training(seed: 7, start: .init(epoch: 0, batch: full.batchesPerEpoch)))
        }
    }

    @Test func evaluationVisitsTheSplitOnceInOrderWithAPartialLastBatch() throws {
        let cache = try Self.fixture.get()
        let all = cache.indices(in: .train)
        let loader = try BatchLoader(cache: cache, split: .train, batchSize: 6, mode: .evaluation)
        #expect(loader.batchesPerEpoch == (all.count + 5) / 6)
        var seen = [Int]()
        while let batch = loader.next() {
            #expect(batch.tensor.shape == [batch.count, 3, 64, 64] && batch.data.count == batch.count * 12_288)
            for (k, index) in batch.indices.enumerated() {
                #expect(Array(batch.data[(k * 12_288)..<((k + 1) * 12_288)]) == expectedFloats(cache, index))
            }
            seen += batch.indices
        }
        #expect(seen == all)
        #expect(all.count % 6 != 0)                  // the fixture really has a partial batch
        #expect(loader.next() == nil)
    }

    @Test func anIndexListIsVisitedInItsOwnOrder() throws {
        let cache = try Self.fixture.get()
        let list = Array(cache.indices(in: .train).prefix(7).reversed()) + [cache.indices(in: .test)[0]]
        let loader = BatchLoader(cache: cache, indices: list, batchSize: 3, mode: .evaluation)
        #expect(loader.batchesPerEpoch == 3)
        var seen = [Int]()
        while let batch = loader.next() {
            #expect(batch.tensor.shape == [batch.count, 3, 64, 64])
            for (k, index) in batch.indices.enumerated() {
                #expect(Array(batch.data[(k * 12_288)..<((k + 1) * 12_288)]) == expectedFloats(cache, index))
            }
            seen += batch.indices
        }
        #expect(seen == list)
        // Fewer images than a batch: one batch of them.
        let short = BatchLoader(cache: cache, indices: Array(list.prefix(2)), batchSize: 64, mode: .evaluation)
        #expect(try #require(short.next()).indices == Array(list.prefix(2)))
        #expect(short.next() == nil)
        // Training over a list: the list's seeded epoch orders.
        let training = BatchLoader(cache: cache, indices: list, batchSize: 4, mode: .training(seed: 5))
        #expect(try #require(training.next()).indices == Array(BatchLoader.order(of: list, seed: 5, epoch: 0).prefix(4)))
    }

    @Test func aBatchStaysValidWhileTheNextIsPrepared() throws {
        let cache = try Self.fixture.get()
        let loader = try BatchLoader(cache: cache, split: .train, batchSize: 4, mode: .training(seed: 1))
        for _ in 0..<20 {
            let batch = try #require(loader.next())
            let before = Array(batch.data)
            usleep(2_000)                             // the background fill of the next batch runs now
            #expect(Array(batch.data) == before)
            #expect(Array(batch.data[0..<12_288]) == expectedFloats(cache, batch.indices[0]))
        }
    }

    @Test func concurrentCallersGetEachBatchOnce() async throws {
        let cache = try Self.fixture.get()
        let loader = try BatchLoader(cache: cache, split: .train, batchSize: 3, mode: .evaluation)
        let positions = await withTaskGroup(of: [Int].self) { group in
            for _ in 0..<4 {
                group.addTask {
                    var mine = [Int]()
                    while let b = loader.next() { mine.append(b.position.batch) }
                    return mine
                }
            }
            var all = [Int]()
            for await part in group { all += part }
            return all
        }
        #expect(positions.sorted() == Array(0..<loader.batchesPerEpoch))
    }

    @Test func tooSmallSplitsAndBadSizesAreRefused() throws {
        let cache = try Self.fixture.get()
        let n = cache.indices(in: .train).count
        #expect(throws: FileError.self) { _ = try BatchLoader(cache: cache, split: .train, batchSize: n + 1, mode: .training(seed: 0)) }
        #expect(throws: VAEFacesError.self) { _ = try BatchLoader(cache: cache, split: .train, batchSize: 0, mode: .evaluation) }
        let single = try BatchLoader(cache: cache, split: .train, batchSize: n, mode: .training(seed: 0))
        #expect(single.batchesPerEpoch == 1)
        #expect(try #require(single.next()).position == .init(epoch: 0, batch: 0))
        #expect(try #require(single.next()).position == .init(epoch: 1, batch: 0))
    }

    /// Training's way of reading (only val in memory, train batches read from the file) gives
    /// the very batches of the in-memory cache, in training and in evaluation, from any start:
    /// what keeps a run's losses and its resumption independent of where the images are.
    @Test func batchesReadFromTheFileEqualThoseFromMemory() throws {
        let (root, faces) = try makeFaceFolder(count: 37, seed: 3)
        let folder = (root as NSString).deletingLastPathComponent
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = try DataPreparation.prepare(dataFolder: root, cachePath: folder + "/s.vfcache").cache
        let memory = try PreparedCache.open(path: path)
        let streamed = try PreparedCache.open(path: path, inMemory: [.val])
        #expect(streamed.splitsInMemory == [.val] && memory.splitsInMemory == Set(Split.allCases))
        let train = streamed.indices(in: .train), val = streamed.indices(in: .val)
        #expect(!train.isEmpty && !val.isEmpty)
        #expect(train.allSatisfy { !streamed.isInMemory($0) } && val.allSatisfy(streamed.isInMemory))
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: PreparedCache.imageBytes, alignment: 64)
        defer { scratch.deallocate() }
        for i in 0..<streamed.count {
            #expect(Array(try streamed.image(i, readingInto: scratch)) == faces[i].pixels)
            #expect(Array(try memory.image(i, readingInto: scratch)) == faces[i].pixels)
        }
        for i in val { #expect(Array(streamed.image(i)) == faces[i].pixels) }

        for start in [BatchLoader.Position(), BatchLoader.Position(epoch: 1, batch: 2)] {
            let a = try BatchLoader(cache: memory, split: .train, batchSize: 5, mode: .training(seed: 7, start: start))
            let b = try BatchLoader(cache: streamed, split: .train, batchSize: 5, mode: .training(seed: 7, start: start))
            for _ in 0..<(2 * a.batchesPerEpoch + 1) {
                let x = try #require(try a.nextBatch()), y = try #require(try b.nextBatch())
                #expect(x.position == y.position && x.indices == y.indices && Array(x.data) == Array(y.data))
            }
        }
        let a = try BatchLoader(cache: memory, split: .train, batchSize: 6, mode: .evaluation)
        let b = try BatchLoader(cache: streamed, split: .train, batchSize: 6, mode: .evaluation)
        while let x = try a.nextBatch() {
            let y = try #require(try b.nextBatch())
            #expect(x.indices == y.indices && Array(x.data) == Array(y.data))
        }
        #expect(try b.nextBatch() == nil)
    }

    /// A cache file cut short or rewritten in place while a run reads train batches from it: the
    /// loader throws an error naming the file (and keeps throwing it), never other faces or a crash.
    @Test func aFileChangedUnderneathAStreamingLoaderIsReported() throws {
        let (root, _) = try makeFaceFolder(count: 30, seed: 5)
        let folder = (root as NSString).deletingLastPathComponent
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = try DataPreparation.prepare(dataFolder: root, cachePath: folder + "/s.vfcache").cache
        let original = try Data(contentsOf: URL(fileURLWithPath: path))
        let train = try PreparedCache.open(path: path, inMemory: [.val]).indices(in: .train)

        func failure(after damage: () throws -> Void) throws -> String {
            try original.write(to: URL(fileURLWithPath: path))
            let cache = try PreparedCache.open(path: path, inMemory: [.val])
            let loader = try BatchLoader(cache: cache, split: .train, batchSize: train.count, mode: .training(seed: 1))
            _ = try #require(try loader.nextBatch())          // read before the damage
            try damage()
            _ = try? loader.nextBatch()                       // filled during the damage: may or may not see it
            do {
                _ = try loader.nextBatch()
                return "no error"
            } catch let error as FileError {
                #expect(error.file == path)
                #expect(throws: error) { _ = try loader.nextBatch() }
                return error.problem
            }
        }
        // One byte of the first train image flipped in place.
        let flipped = try failure {
            let handle = try #require(FileHandle(forUpdatingAtPath: path))
            defer { try? handle.close() }
            let offset = UInt64(PreparedCache.headerSize + train[0] * PreparedCache.imageBytes + 7)
            try handle.seek(toOffset: offset)
            try handle.write(contentsOf: [original[Int(offset)] ^ 1])
        }
        #expect(flipped.contains("changed after it was opened") && flipped.contains("no longer holds the bytes"), "\(flipped)")
        // The file cut after its header.
        let cut = try failure { #expect(truncate(path, 100) == 0) }
        #expect(cut.contains("changed after it was opened") && cut.contains("now ends before image"), "\(cut)")
    }
}
