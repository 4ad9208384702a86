import Foundation

/// How a layer cuts a batch for its passes: one contiguous range of images per worker thread,
/// each range cut into groups of consecutive images that share one GEMM.
///
/// Small maps (4×4, 8×8) give per-image GEMMs with a handful of columns, far from SGEMM's
/// speed; a group of g images makes the GEMM's N = g · pixels. The plan is computed in forward
/// and kept for backward, which must see the same groups (intermediates are stored grouped).
public struct BatchPlan: Equatable, Sendable {
    public let batch: Int
    public let groupSize: Int
    public let workerRanges: [Range<Int>]

    /// - Parameter columns: the GEMM width (images × pixels) a group aims for.
    public init(batch: Int, pixelsPerImage: Int, columns: Int = 256, workers: Int = Threading.workers) {
        self.batch = batch
        let chunks = max(1, min(workers, batch))
        workerRanges = (0..<chunks).map { c in (batch * c / chunks)..<(batch * (c + 1) / chunks) }
        let perWorker = workerRanges.map(\.count).max() ?? 1
        groupSize = max(1, min(perWorker, (columns + pixelsPerImage - 1) / max(1, pixelsPerImage)))
    }

    /// Calls `body(group)` for each group of worker `w`'s range, in order.
    @inline(__always)
    public func forEachGroup(ofWorker w: Int, _ body: (Range<Int>) -> Void) {
        let r = workerRanges[w]
        var start = r.lowerBound
        while start < r.upperBound {
            let end = min(start + groupSize, r.upperBound)
            body(start..<end)
            start = end
        }
    }

    /// Runs `body(worker)` on every worker of the plan in parallel.
    public func run(_ body: (Int) -> Void) {
        parallelFor(workerRanges.count, body)
    }
}

/// Aligned Float buffers that grow on demand and are kept for reuse: one worker's scratch
/// memory. A slot's contents are not preserved when it grows. Only its worker touches it.
public final class ScratchBuffers: @unchecked Sendable {
    private var pointers: [UnsafeMutablePointer<Float>?] = []
    private var capacities: [Int] = []

    public init() {}

    /// Buffer `slot` with room for at least `count` floats.
    public func buffer(_ slot: Int, count: Int) -> UnsafeMutablePointer<Float> {
        while pointers.count <= slot {
            pointers.append(nil)
            capacities.append(0)
        }
        if let p = pointers[slot], capacities[slot] >= count { return p }
        if let p = pointers[slot] { free(p) }
        let n = max(16, count)
        var raw: UnsafeMutableRawPointer? = nil
        let status = posix_memalign(&raw, 64, n * MemoryLayout<Float>.stride)
        guard status == 0, let raw else { fatalError("ScratchBuffers: cannot allocate \(n) floats") }
        let p = raw.bindMemory(to: Float.self, capacity: n)
        pointers[slot] = p
        capacities[slot] = n
        return p
    }

    deinit { for p in pointers { if let p { free(p) } } }
}

/// A layer's per-worker scratch memory and per-worker weight-gradient accumulators.
///
/// Backward passes run workers over disjoint images but every worker contributes to the same
/// weight gradients: worker 0 adds straight into `Parameter.gradient`, the others into private
/// zeroed buffers that `reduce` adds in afterwards (deterministic order).
public final class Workspace: @unchecked Sendable {
    private var scratch: [ScratchBuffers] = []
    private var partials: [ScratchBuffers] = []

    public init() {}

    /// Makes room for `workers` workers; call before a parallel region.
    public func prepare(workers: Int) {
        while scratch.count < workers {
            scratch.append(ScratchBuffers())
            partials.append(ScratchBuffers())
        }
    }

    public func scratch(_ worker: Int) -> ScratchBuffers { scratch[worker] }

    /// Zeroes the private accumulators of workers 1..<workers for `parameters`
    /// (call before the parallel region of a backward pass).
    public func beginAccumulation(_ parameters: [Parameter], workers: Int) {
        prepare(workers: workers)
        for w in 1..<max(1, workers) {
            for (i, p) in parameters.enumerated() {
                let buffer = UnsafeSendable(partials[w].buffer(i, count: p.gradient.count))
                parallelChunks(p.gradient.count) { r in (buffer.value + r.lowerBound).update(repeating: 0, count: r.count) }
            }
        }
    }

    /// Where worker `worker` accumulates the gradient of `parameters[index]`.
    public func accumulator(_ parameters: [Parameter], _ index: Int, worker: Int) -> UnsafeMutablePointer<Float> {
        worker == 0 ? parameters[index].gradient.pointer
                    : partials[worker].buffer(index, count: parameters[index].gradient.count)
    }

    /// Adds the private accumulators of workers 1..<workers into the parameter gradients.
    public func reduce(_ parameters: [Parameter], workers: Int) {
        for w in 1..<max(1, workers) {
            for (i, p) in parameters.enumerated() {
                let src = UnsafeSendable(partials[w].buffer(i, count: p.gradient.count))
                let dst = UnsafeSendable(p.gradient.pointer)
                parallelChunks(p.gradient.count) { r in
                    addFloats(dst.value + r.lowerBound, src.value + r.lowerBound, r.count)
                }
            }
        }
    }
}
