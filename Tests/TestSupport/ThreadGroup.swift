import Foundation
import NeuralCore

/// Ranks of a data-parallel group inside one process, for tests of code that calls a
/// `Communicator`: start one thread per rank, each with `communicator(rank:)`. Sums add the
/// ranks' buffers in rank order, so every rank gets the same bits, as from MPI.
public final class ThreadGroup: @unchecked Sendable {
    public let size: Int
    private let condition = NSCondition()
    private var arrived = 0
    private var generation = 0
    /// Each rank's buffer during a collective.
    /// One slot per rank, written by that rank alone: plain memory, not a Swift array, whose
    /// copy-on-write check races when several threads change elements at once.
    private let buffers: UnsafeMutablePointer<UnsafeMutableRawPointer?>

    public init(size: Int) {
        precondition(size > 0)
        self.size = size
        buffers = .allocate(capacity: size)
        buffers.initialize(repeating: nil, count: size)
    }

    deinit { buffers.deallocate() }

    public func communicator(rank: Int) -> any Communicator { Member(group: self, rank: rank) }

    /// Runs `body(rank)` on `size` threads at once and returns when all have finished.
    public func run(_ body: @escaping @Sendable (Int) -> Void) {
        let done = DispatchGroup()
        for rank in 0..<size {
            done.enter()
            Thread {
                body(rank)
                done.leave()
            }.start()
        }
        done.wait()
    }

    fileprivate func barrier() {
        condition.lock()
        let current = generation
        arrived += 1
        if arrived == size {
            arrived = 0
            generation += 1
            condition.broadcast()
        } else {
            while generation == current { condition.wait() }
        }
        condition.unlock()
    }

    fileprivate func allReduceSum<T: FloatingPoint>(_ buffer: UnsafeMutableBufferPointer<T>, rank: Int) {
        buffers[rank] = UnsafeMutableRawPointer(buffer.baseAddress)
        barrier()
        var sums = [T](repeating: 0, count: buffer.count)
        for other in 0..<size {
            let values = buffers[other]!.assumingMemoryBound(to: T.self)
            for i in sums.indices { sums[i] += values[i] }
        }
        barrier()                      // everyone has read every buffer
        for i in sums.indices { buffer[i] = sums[i] }
    }

    fileprivate func broadcast(_ buffer: UnsafeMutableRawBufferPointer, from root: Int, rank: Int) {
        buffers[rank] = buffer.baseAddress
        barrier()
        if rank != root { buffer.baseAddress!.copyMemory(from: buffers[root]!, byteCount: buffer.count) }
        barrier()
    }

    private final class Member: Communicator {
        let group: ThreadGroup
        let rank: Int
        init(group: ThreadGroup, rank: Int) {
            self.group = group
            self.rank = rank
        }
        var size: Int { group.size }
        func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) { group.allReduceSum(buffer, rank: rank) }
        func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) { group.allReduceSum(buffer, rank: rank) }
        func broadcast(_ buffer: UnsafeMutableRawBufferPointer, from root: Int) { group.broadcast(buffer, from: root, rank: rank) }
        func barrier() { group.barrier() }
    }
}
