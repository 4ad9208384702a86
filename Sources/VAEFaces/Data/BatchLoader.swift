import Foundation
import NeuralCore
import TensorIO

/// Batches of prepared faces as floats, NCHW [B, 3, 64, 64], value x/255 for byte x: the one way
/// training, evaluation and sampling read images. A loader goes over a list of cache indices:
///
/// - Training (`.training(seed:start:)`): full batches only, forever. Epoch e visits the list
///   in the order `BatchLoader.order(…, seed:, epoch: e)`, a pure function of (seed, epoch), and
///   drops the last n mod B images of that order; so a loader created at any (epoch, batch)
///   position continues exactly where a run left off (checkpoints store `position`).
/// - Evaluation (`.evaluation`): the list once, in its order, ⌈n/B⌉ batches with a final partial
///   one, then nil.
///
/// While the caller works on one batch, the next is read and converted on a background thread
/// into the second of two buffers (double buffering), so the caller does not wait for data. The
/// batch `next()` returns stays valid until the following call. `next()` may be called from any
/// thread (calls are serialised).
///
/// Images the cache holds in memory cannot fail to read: `next()` is for those. Images it reads
/// from the file (training's train split, `PreparedCache.open(inMemory:)`) take `nextBatch()`,
/// which throws when the file was cut or rewritten since it was opened. Either way the batches
/// are the same bytes, so a run's batches do not depend on where its images are.
public final class BatchLoader: @unchecked Sendable {
    // Thread safety: `lock` guards all mutable state; the background thread touches only the
    // buffer of the batch in flight, which the consumer does not read until `ready` signals.

    public enum Mode: Sendable {
        case training(seed: UInt64, start: Position = Position())
        case evaluation
    }

    /// A batch's place in the stream: epoch and batch number within it.
    public struct Position: Equatable, Hashable, Codable, Sendable, CustomStringConvertible {
        public var epoch: Int
        public var batch: Int
        public init(epoch: Int = 0, batch: Int = 0) { self.epoch = epoch; self.batch = batch }
        public var description: String { "epoch \(epoch) batch \(batch)" }
    }

    public struct Batch {
        /// Images in this batch (B, or fewer for the last evaluation batch).
        public let count: Int
        /// The batch as a tensor of shape [count, 3, 64, 64] (owned by the loader, overwritten
        /// after the next `next()` call).
        public let tensor: Tensor
        /// Cache indices of the images, in batch order.
        public let indices: [Int]
        public let position: Position
        /// The batch's floats, count·3·64·64 of them.
        public var data: UnsafeBufferPointer<Float> { UnsafeBufferPointer(tensor.buffer) }
    }

    public let cache: PreparedCache
    public let batchSize: Int
    public let mode: Mode
    /// Batches in one pass: ⌊n/B⌋ in training, ⌈n/B⌉ in evaluation.
    public let batchesPerEpoch: Int
    /// Floats per image: 3·64·64.
    public static let imageFloats = VAEConfiguration.imageChannels * VAEConfiguration.imageSize * VAEConfiguration.imageSize

    private let lock = NSLock()
    private let queue = DispatchQueue(label: "vae-faces.batch-loader", qos: .userInitiated)
    private let ready = DispatchSemaphore(value: 0)
    private let buffers: [Tensor]
    /// Where the background thread reads an image that is not in memory (one image's bytes), and
    /// the error that ended its last fill, if any.
    private let staging: FillScratch
    /// Whether every image of the list is held in memory (so `next()` may be used).
    private let readsFromMemory: Bool
    /// The error of a failed fill: every later call throws it again.
    private var failure: (any Error)?
    private let listed: [Int]
    private var orderEpoch = -1
    private var order: [Int] = []
    /// The batch being prepared in the background (its buffer slot and plan), if any.
    private var inFlight: (slot: Int, plan: Plan)?
    /// Position of the batch the next `next()` returns.
    private var upcoming: Position

    private struct Plan {
        let indices: [Int]
        let position: Position
    }

    /// A loader over `split` of `cache`. Throws when the split is empty, when training is asked
    /// of a split smaller than one batch, or when `start` lies past the end of an epoch.
    public convenience init(cache: PreparedCache, split: Split, batchSize: Int, mode: Mode) throws {
        guard batchSize > 0 else { throw VAEFacesError("batch size must be positive, got \(batchSize)") }
        let indices = cache.indices(in: split)
        let n = indices.count
        switch mode {
        case .training(_, let start):
            let batches = n / batchSize
            guard batches > 0 else {
                throw FileError(file: cache.path, "the \(split.rawValue) split has \(n) images, fewer than one batch of \(batchSize)")
            }
            guard start.epoch >= 0, start.batch >= 0, start.batch < batches else {
                throw VAEFacesError("cannot start at \(start): an epoch has \(batches) batches")
            }
        case .evaluation:
            guard n > 0 else { throw FileError(file: cache.path, "the \(split.rawValue) split is empty") }
        }
        self.init(cache: cache, indices: indices, batchSize: batchSize, mode: mode)
    }

    /// A loader over the cache images `indices` (non-empty; at least one batch of them in
    /// training, where `start` must lie within an epoch).
    public init(cache: PreparedCache, indices: [Int], batchSize: Int, mode: Mode) {
        precondition(!indices.isEmpty && batchSize > 0, "BatchLoader: \(indices.count) images, batch \(batchSize)")
        self.cache = cache
        self.batchSize = batchSize
        self.mode = mode
        listed = indices
        switch mode {
        case .training(_, let start):
            batchesPerEpoch = indices.count / batchSize
            precondition(batchesPerEpoch > 0 && start.epoch >= 0 && (0..<batchesPerEpoch).contains(start.batch),
                         "BatchLoader: cannot start at \(start) with \(indices.count) images in batches of \(batchSize)")
            upcoming = start
        case .evaluation:
            batchesPerEpoch = (indices.count + batchSize - 1) / batchSize
            upcoming = Position()
        }
        let capacity = min(batchSize, indices.count)
        buffers = (0..<2).map { _ in Tensor(shape: BatchLoader.shape(images: capacity)) }
        staging = FillScratch()
        readsFromMemory = indices.allSatisfy(cache.isInMemory)
        lock.lock()
        if let plan = plan(at: upcoming) { startFill(plan, slot: 0) }
        lock.unlock()
    }

    /// The shape of a batch of `images` faces: [images, 3, 64, 64].
    public static func shape(images: Int) -> [Int] {
        [images, VAEConfiguration.imageChannels, VAEConfiguration.imageSize, VAEConfiguration.imageSize]
    }

    deinit {
        // The background fill writes into `buffers`; let it finish before they go.
        if inFlight != nil { ready.wait() }
    }

    /// The training order of epoch `epoch`: `indices` shuffled by NeuralCore's Fisher–Yates with
    /// `SeededGenerator(seed: s, stream: 1)` (stream 1: data order), where
    /// s = fmix64(seed ^ fmix64(epoch + 0x6461_7461_6f72_6465)) gives every epoch its own sequence.
    public static func order(of indices: [Int], seed: UInt64, epoch: Int) -> [Int] {
        let epochSeed = StableHash.fmix64(seed ^ StableHash.fmix64(UInt64(epoch) &+ 0x6461_7461_6F72_6465))
        var generator = SeededGenerator(seed: epochSeed, stream: 1)
        var order = indices
        generator.shuffle(&order)
        return order
    }

    /// Position of the batch the next call to `next()` returns: save it with a checkpoint and
    /// pass it as `start` to resume.
    public var position: Position {
        lock.lock()
        defer { lock.unlock() }
        return upcoming
    }

    /// The next batch, or nil after the last evaluation batch, for a loader whose images are all
    /// held in memory (they cannot fail to read). Invalidates the previous batch.
    public func next() -> Batch? {
        precondition(readsFromMemory, "BatchLoader.next: some images are read from the file; use nextBatch(), which reports a damaged file")
        do { return try nextBatch() } catch { preconditionFailure("BatchLoader.next: an image in memory failed to read: \(error)") }
    }

    /// The next batch, or nil after the last evaluation batch; invalidates the previous batch.
    /// Throws the cache's `FileError` when an image read from the file could not be read or no
    /// longer holds the bytes validated at open (and again on every later call).
    public func nextBatch() throws -> Batch? {
        lock.lock()
        defer { lock.unlock() }
        if let failure { throw failure }
        guard let (slot, plan) = inFlight else { return nil }
        ready.wait()                                    // its conversion has finished
        inFlight = nil
        if let error = staging.error {
            failure = error
            throw error
        }
        upcoming = advance(plan.position)
        // The caller has let go of the other buffer by calling next(): fill it ahead.
        if let following = self.plan(at: upcoming) { startFill(following, slot: 1 - slot) }
        let tensor = buffers[slot]
        tensor.reshape(BatchLoader.shape(images: plan.indices.count))
        return Batch(count: plan.indices.count, tensor: tensor, indices: plan.indices, position: plan.position)
    }

    private func advance(_ p: Position) -> Position {
        p.batch + 1 < batchesPerEpoch ? Position(epoch: p.epoch, batch: p.batch + 1) : Position(epoch: p.epoch + 1, batch: 0)
    }

    /// Which images make the batch at `position` (nil past the end of an evaluation pass).
    private func plan(at position: Position) -> Plan? {
        switch mode {
        case .training(let seed, _):
            if orderEpoch != position.epoch {
                order = BatchLoader.order(of: listed, seed: seed, epoch: position.epoch)
                orderEpoch = position.epoch
            }
            let lo = position.batch * batchSize
            return Plan(indices: Array(order[lo..<(lo + batchSize)]), position: position)
        case .evaluation:
            guard position.epoch == 0 else { return nil }
            let lo = position.batch * batchSize
            return Plan(indices: Array(listed[lo..<min(listed.count, lo + batchSize)]), position: position)
        }
    }

    /// Reads and converts the plan's images into buffer `slot` on the background queue; a read
    /// error stops the fill and is left in `staging.error`.
    private func startFill(_ plan: Plan, slot: Int) {
        inFlight = (slot, plan)
        let cache = self.cache
        let output = UnsafeSendable(buffers[slot].pointer)
        let ready = self.ready
        let staging = self.staging
        let indices = plan.indices
        queue.async {
            do {
                for (k, index) in indices.enumerated() {
                    BatchLoader.convert(try cache.image(index, readingInto: staging.bytes), into: output.value + k * BatchLoader.imageFloats)
                }
            } catch {
                staging.error = error
            }
            ready.signal()
        }
    }

    /// The background thread's scratch: one image's bytes read from the file, and the error of a
    /// failed fill. Only the background thread writes it; the consumer reads `error` after
    /// `ready` signals the end of the fill.
    private final class FillScratch: @unchecked Sendable {
        let bytes = UnsafeMutableRawPointer.allocate(byteCount: PreparedCache.imageBytes, alignment: 64)
        var error: (any Error)?
        deinit { bytes.deallocate() }
    }

    /// Float(x)/255 for every byte x.
    private static let levels: [Float] = (0...255).map { Float($0) / 255 }

    /// One prepared image, HWC bytes, to planar CHW floats x/255.
    static func convert(_ image: UnsafeBufferPointer<UInt8>, into out: UnsafeMutablePointer<Float>) {
        let plane = VAEConfiguration.imageSize * VAEConfiguration.imageSize
        levels.withUnsafeBufferPointer { lut in
            let src = image.baseAddress!
            for p in 0..<plane {
                out[p] = lut[Int(src[3 * p])]
                out[plane + p] = lut[Int(src[3 * p + 1])]
                out[2 * plane + p] = lut[Int(src[3 * p + 2])]
            }
        }
    }
}
