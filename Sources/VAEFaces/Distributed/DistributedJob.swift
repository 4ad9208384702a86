import Foundation
import NeuralCore

/// The processes of one `vae-faces` invocation: MPI's world when `mpirun` started this process
/// (and the build has the `MPI` trait: `swift build -c release --traits MPI`), else this process
/// alone (`SingleProcess`, with no MPI call at all).
///
/// Errors: a collective that fails prints a message and calls `MPI_Abort`, which ends every rank;
/// so does `abort` after an error on one rank (the others would otherwise wait forever in their
/// next collective). A rank that dies (kill -9, a crash) is noticed by `mpirun` itself, which
/// then ends the others and reports which rank died.
public final class DistributedJob {
    public let communicator: any Communicator
    /// Processes of the job on this node (1 when alone).
    public let ranksOnNode: Int
    private let end: (_ abortCode: Int32?) -> Void

    /// Environment variables that MPI launchers set in the processes they start: Open MPI's
    /// `mpirun`, MPICH's Hydra (`mpiexec`), and PMI/PMIx-based launchers such as Slurm's `srun`.
    static let launcherSizeVariables = ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"]

    /// The number of processes a launcher started, from its environment; nil when none did.
    static func launchedSize(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> Int? {
        launcherSizeVariables.lazy.compactMap { environment[$0].flatMap(Int.init) }.first
    }

    /// Whether this build can train over MPI (the `MPI` package trait).
    public static var supportsMPI: Bool {
        #if MPI
        true
        #else
        false
        #endif
    }

    /// Joins the job: initialises MPI when an MPI launcher started this process, else returns a
    /// job of one. Throws when `mpirun` started several processes but the build has no MPI
    /// (each would train a model of its own), or when MPI cannot start.
    public static func start() throws -> DistributedJob {
        let launched = launchedSize()
        #if MPI
        if launched != nil {
            let mpi = try MPICommunicator()
            return DistributedJob(communicator: mpi, ranksOnNode: mpi.localSize) { code in
                if let code { mpi.abort(code: code) } else { mpi.finalize() }
            }
        }
        #else
        if let launched, launched > 1 {
            throw VAEFacesError("started by an MPI launcher as one of \(launched) processes, but this vae-faces was built without MPI; rebuild it with: swift build -c release --traits MPI")
        }
        #endif
        return DistributedJob(communicator: SingleProcess(), ranksOnNode: 1) { code in
            if let code { exit(code) }
        }
    }

    private init(communicator: any Communicator, ranksOnNode: Int, end: @escaping (Int32?) -> Void) {
        self.communicator = communicator
        self.ranksOnNode = ranksOnNode
        self.end = end
    }

    /// Worker threads per process when `--threads` is not given: the node's cores shared by the
    /// processes on it (nil when alone: `Threading`'s default, all cores).
    public var defaultThreads: Int? {
        ranksOnNode > 1 ? max(1, ProcessInfo.processInfo.activeProcessorCount / ranksOnNode) : nil
    }

    /// Seconds this process has spent in MPI_Allreduce (gradients, BatchNorm statistics, losses,
    /// validation), waiting for slower ranks included; 0 alone.
    public var reductionSeconds: Double {
        #if MPI
        (communicator as? MPICommunicator)?.reductionSeconds ?? 0
        #else
        0
        #endif
    }

    /// "rank 1 of 4: " in a job of several processes, "" alone: the prefix of a message that
    /// only this rank prints.
    public var messagePrefix: String {
        communicator.isDistributed ? "rank \(communicator.rank) of \(communicator.size): " : ""
    }

    /// Leaves the job normally (MPI_Finalize; a barrier of every rank).
    public func finish() { end(nil) }

    /// Ends every process of the job with `code` (MPI_Abort), after an error on this one.
    public func abort(code: Int32) -> Never {
        end(code)
        exit(code)
    }
}
