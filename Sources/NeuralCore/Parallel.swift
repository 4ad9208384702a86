import Foundation
import CBLAS

/// Wraps a value (typically a raw pointer or a closure over raw pointers) so that it can cross
/// into a `@Sendable` closure. The caller promises that concurrent uses touch disjoint memory.
public struct UnsafeSendable<T>: @unchecked Sendable {
    public let value: T
    public init(_ value: T) { self.value = value }
}

/// How the library uses the machine's cores.
///
/// One policy for the whole process: OpenBLAS runs single-threaded, and parallelism comes from
/// our own loops over independent work (images of a batch, rows of a map). Two thread pools
/// competing for two cores would oversubscribe them.
public enum Threading {
    nonisolated(unsafe) private static var _workers = 0

    /// Number of worker threads `parallelFor` spreads work over (≥ 1).
    public static var workers: Int {
        if _workers == 0 { configure(workers: nil) }
        return _workers
    }

    /// Sets the worker count (nil: all online cores) and pins OpenBLAS to one thread.
    /// Call once at start-up, before any parallel work.
    public static func configure(workers: Int?) {
        let cores = max(1, ProcessInfo.processInfo.activeProcessorCount)
        _workers = max(1, workers ?? cores)
        openblas_set_num_threads(1)
    }
}

/// Runs `body(i)` for i in 0..<count, spread over `Threading.workers` threads.
/// Iterations must write to disjoint memory. Runs inline when there is one worker or one item.
public func parallelFor(_ count: Int, _ body: (Int) -> Void) {
    let workers = min(Threading.workers, count)
    if workers <= 1 {
        for i in 0..<count { body(i) }
        return
    }
    withoutActuallyEscaping(body) { body in
        let box = UnsafeSendable(body)
        DispatchQueue.concurrentPerform(iterations: count) { box.value($0) }
    }
}

/// Runs `body(range)` over `count` items split into at most `Threading.workers` contiguous
/// chunks: for loops whose iterations are too small to dispatch one by one.
public func parallelChunks(_ count: Int, _ body: (Range<Int>) -> Void) {
    let chunks = max(1, min(Threading.workers, count))
    if chunks == 1 {
        body(0..<count)
        return
    }
    parallelFor(chunks) { c in
        let lo = count * c / chunks, hi = count * (c + 1) / chunks
        if lo < hi { body(lo..<hi) }
    }
}
