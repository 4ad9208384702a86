#if MPI
import CMPIShim
import Foundation
import NeuralCore

/// `Communicator` over MPI_COMM_WORLD, through the C shim `CMPIShim` (plain C types, so this file
/// builds against Open MPI's and MPICH's mpi.h alike).
///
/// MPI is initialised with MPI_THREAD_FUNNELED: collectives come from the thread that trains, and
/// the worker threads of `parallelFor` never call MPI. A failed collective cannot be recovered
/// from (the other ranks are inside it too): it prints MPI's message and aborts the job.
final class MPICommunicator: Communicator {
    let rank: Int
    let size: Int
    /// Processes on this node (MPI_COMM_TYPE_SHARED).
    let localSize: Int
    /// Seconds spent in sums over the ranks (`allReduceSum`), for measuring communication.
    private(set) var reductionSeconds = 0.0

    init() throws {
        var funneled: Int32 = 0
        let rc = mpishim_init(&funneled)
        guard rc == 0 else { throw VAEFacesError("MPI could not start: \(MPICommunicator.text(of: rc))") }
        if funneled != 1 { MPICommunicator.fail("the MPI library does not offer MPI_THREAD_FUNNELED") }
        var rank: Int32 = 0, size: Int32 = 0, local: Int32 = 0
        MPICommunicator.check(mpishim_rank(&rank), "MPI_Comm_rank")
        MPICommunicator.check(mpishim_size(&size), "MPI_Comm_size")
        MPICommunicator.check(mpishim_local_size(&local), "MPI_Comm_split_type")
        self.rank = Int(rank)
        self.size = Int(size)
        localSize = Int(local)
    }

    func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) {
        let start = Trainer.now()
        MPICommunicator.check(mpishim_allreduce_sum_float(buffer.baseAddress, buffer.count), "MPI_Allreduce")
        reductionSeconds += Trainer.now() - start
    }

    func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) {
        let start = Trainer.now()
        MPICommunicator.check(mpishim_allreduce_sum_double(buffer.baseAddress, buffer.count), "MPI_Allreduce")
        reductionSeconds += Trainer.now() - start
    }

    func broadcast(_ buffer: UnsafeMutableRawBufferPointer, from root: Int) {
        MPICommunicator.check(mpishim_broadcast(buffer.baseAddress, buffer.count, Int32(root)), "MPI_Bcast")
    }

    func barrier() { MPICommunicator.check(mpishim_barrier(), "MPI_Barrier") }

    func finalize() {
        if mpishim_is_active() == 1 { _ = mpishim_finalize() }
    }

    func abort(code: Int32) -> Never { mpishim_abort(code) }

    /// Aborts the job with MPI's message when `rc` is an error.
    private static func check(_ rc: Int32, _ call: String) {
        if rc != 0 { fail("\(call) failed: \(text(of: rc))") }
    }

    private static func fail(_ text: String) -> Never {
        FileHandle.standardError.write(Data("vae-faces: \(text); ending the job\n".utf8))
        mpishim_abort(1)
    }

    private static func text(of rc: Int32) -> String {
        var buffer = [CChar](repeating: 0, count: 512)
        mpishim_error_string(rc, &buffer, Int32(buffer.count))
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
#endif
