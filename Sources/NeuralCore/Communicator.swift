/// The processes that train one model together (data parallelism): each holds the same weights,
/// works on its own share of a batch, and sums what must be global with the others.
///
/// `SingleProcess` — one process, every operation a no-op — is what everything uses unless a
/// trainer is given another (MPI, in VAEFaces under the `MPI` trait). Collectives must be called
/// by every process in the same order, from one thread of each.
public protocol Communicator: AnyObject {
    /// This process's number, 0 ..< size; process 0 is the one that writes files.
    var rank: Int { get }
    /// The number of processes.
    var size: Int { get }
    /// Replaces every element by its sum over all processes (the same result on every process).
    func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>)
    func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Double>)
    /// Copies `buffer` of process `root` into `buffer` of every process.
    func broadcast(_ buffer: UnsafeMutableRawBufferPointer, from root: Int)
    /// Returns when every process has called it.
    func barrier()
}

extension Communicator {
    /// Whether more than one process takes part (collectives do something).
    public var isDistributed: Bool { size > 1 }

    /// Sums `values` over all processes.
    public func allReduceSum(_ values: [Double]) -> [Double] {
        var values = values
        values.withUnsafeMutableBufferPointer { allReduceSum($0) }
        return values
    }

    /// Whether `flag` is true on any process.
    public func any(_ flag: Bool) -> Bool {
        allReduceSum([flag ? 1 : 0])[0] > 0
    }
}

/// One process alone: rank 0 of 1; sums, broadcasts and barriers leave everything as it is.
public final class SingleProcess: Communicator {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) {}
    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) {}
    public func broadcast(_ buffer: UnsafeMutableRawBufferPointer, from root: Int) {}
    public func barrier() {}
}
