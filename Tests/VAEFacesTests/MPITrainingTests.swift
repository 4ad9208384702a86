#if MPI
import Foundation
import NeuralCore
import Testing
import VAEFaces

/// `mpirun` with the flags a test needs (as root, more ranks than cores), or nil without one.
private let mpirun: [String]? = {
    let path = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":")
        .map { $0 + "/mpirun" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    return path.map { [$0, "--allow-run-as-root", "--oversubscribe", "-np", "2"] }
}()

/// `vae-faces train` under `mpirun -np 2` (the build with `--traits MPI`): the MPI glue of data
/// parallelism. The trainer's own logic is tested with threads as ranks in
/// `DataParallelTrainingTests`; these tests only run in a build with the trait.
@Suite(.serialized, .enabled(if: TrainingTestData.available && executable != nil && mpirun != nil,
                             "needs ../shared/data/celeba, the built vae-faces and mpirun"))
struct MPITrainingTests {
    /// A small model at a small learning rate (see `DataParallelTrainingTests.configuration`).
    static func trainArguments(_ folder: String, steps: Int, checkpointEvery: Int) throws -> [String] {
        ["train", "--cache", try TrainingTestData.cache.get().path, "--decoder", "pixeldcl", "--out", folder,
         "--steps", String(steps), "--batch", "16", "--latent", "16", "--lr", "1e-5", "--seed", "5", "--threads", "1",
         "--checkpoint-every", String(checkpointEvery)]
    }

    static func losses(_ folder: String) throws -> [Double] { try CSVLog.read(path: RunFolder(folder).log)["loss"] ?? [] }

    /// The parameters of a checkpoint by name.
    static func weights(_ folder: String) throws -> [String: [Float]] {
        let file = try Checkpoint.read(path: RunFolder(folder).latestCheckpoint)
        let model = VAE(configuration: file.configuration.model, seed: 0)
        try Checkpoint.restore(file, model: model, optimizer: Adam(parameters: model.parameters))
        return Dictionary(uniqueKeysWithValues: model.parameters.map { ($0.name, $0.parameter.value.array) })
    }

    /// 2 ranks × 1 thread with global batch 16 against 1 process with batch 16, 20 steps from the
    /// same seed: the losses within 1e-4 relative at every step, the final weights within 1e-4.
    @Test func twoRanksTrainLikeOneProcess() throws {
        let one = TrainingTestData.temporaryFolder("mpi-one"), two = TrainingTestData.temporaryFolder("mpi-two")
        defer { TrainingTestData.remove(one); TrainingTestData.remove(two) }
        let alone = try runTool(try Self.trainArguments(one, steps: 20, checkpointEvery: 20))
        try #require(alone.status == 0, "\(alone.stderr)")
        let pair = try runTool(try Self.trainArguments(two, steps: 20, checkpointEvery: 20), launcher: mpirun!)
        try #require(pair.status == 0, "\(pair.stderr)")
        #expect(pair.stderr.contains("in each of 2 processes (8 images each)"), "\(pair.stderr)")
        let a = try Self.losses(one), b = try Self.losses(two)
        try #require(a.count == 20 && b.count == 20)
        for step in 0..<20 { #expect(abs(a[step] - b[step]) <= 1e-4 * abs(a[step]), "step \(step + 1): \(a[step]) vs \(b[step])") }
        let wa = try Self.weights(one), wb = try Self.weights(two)
        for (name, values) in wa {
            let worst = zip(values, wb[name]!).map { abs($0 - $1) }.max()!
            #expect(worst <= 1e-4, "\(name): \(worst)")
        }
    }

    /// Resumed under mpirun with 2 ranks, a run equals the uninterrupted one bit for bit; one
    /// process continues a 2-rank checkpoint and says the losses then agree only to rounding.
    @Test func resumeWithTwoRanksIsBitForBitAndOneProcessContinues() throws {
        let straight = TrainingTestData.temporaryFolder("mpi-straight"), split = TrainingTestData.temporaryFolder("mpi-split")
        defer { TrainingTestData.remove(straight); TrainingTestData.remove(split) }
        try #require(try runTool(try Self.trainArguments(straight, steps: 6, checkpointEvery: 3), launcher: mpirun!).status == 0)
        try #require(try runTool(try Self.trainArguments(split, steps: 3, checkpointEvery: 3), launcher: mpirun!).status == 0)
        let resumed = try runTool(["train", "--resume", split, "--steps", "6", "--threads", "1"], launcher: mpirun!)
        try #require(resumed.status == 0, "\(resumed.stderr)")
        #expect(try Self.losses(split) == Self.losses(straight))
        #expect(try Self.weights(split) == Self.weights(straight))

        let alone = try runTool(["train", "--resume", split, "--steps", "8", "--threads", "1"])
        #expect(alone.status == 0, "\(alone.stderr)")
        #expect(alone.stderr.contains("written by 2 processes"), "\(alone.stderr)")
        #expect(try Self.losses(split).count == 8)
    }

    /// SIGTERM to one rank: every rank stops after the same step, rank 0 saves that step.
    @Test func sigtermToOneRankStopsAllWithACheckpoint() throws {
        let folder = TrainingTestData.temporaryFolder("mpi-stop")
        defer { TrainingTestData.remove(folder) }
        let run = RunFolder(folder)
        let result = try runTool(try Self.trainArguments(folder, steps: 5000, checkpointEvery: 5000), launcher: mpirun!) { process in
            Self.waitForRows(3, in: run, while: process)
            if let rank = Self.ranks(of: process).last { kill(rank, SIGTERM) }
            Self.waitForExit(process, seconds: 120)
        }
        #expect(result.status != 0)
        let checkpoint = try Checkpoint.read(path: run.latestCheckpoint)
        let logged = try CSVLog.read(path: run.log)["step"] ?? []
        #expect(checkpoint.state.step >= 3 && Double(checkpoint.state.step) == logged.last, "\(result.stderr)")
        #expect(result.stderr.contains("--resume \(folder) --steps 5000"), "\(result.stderr)")
    }

    /// SIGTERM to `mpirun` itself (what Ctrl-C does): it forwards SIGTERM to the ranks and sends
    /// SIGKILL a second later, during a step longer than that (128 images per rank on one thread):
    /// rank 0 has saved the last completed step at once, and it resumes.
    @Test func sigtermToMpirunKeepsTheLastCompletedStep() throws {
        let folder = TrainingTestData.temporaryFolder("mpi-mpirun-stop")
        defer { TrainingTestData.remove(folder) }
        let run = RunFolder(folder)
        var arguments = try Self.trainArguments(folder, steps: 5000, checkpointEvery: 5000)
        arguments[arguments.firstIndex(of: "--batch")! + 1] = "256"
        var logged = 0
        // Open MPI's default grace is 1 s; the test machine may be busy with other tests, so it gets
        // 3 s (the message says how long the save took; the single-process test in
        // TrainCommandTests pins the save within 0.6 s).
        let launcher = mpirun! + ["--mca", "odls_base_sigkill_timeout", "3"]
        let result = try runTool(arguments, launcher: launcher) { process in
            Self.waitForRows(2, in: run, while: process)
            logged = (try? CSVLog.read(path: run.log))?["step"]?.count ?? 0
            kill(process.processIdentifier, SIGTERM)
            Self.waitForExit(process, seconds: 60)
        }
        #expect(result.status != 0)
        #expect(result.stderr.contains("saved at once"), "\(result.stderr)")
        let checkpoint = try Checkpoint.read(path: run.latestCheckpoint)
        #expect(checkpoint.state.step >= logged && logged >= 2, "saved step \(checkpoint.state.step), \(logged) steps logged before the signal")
        let resumed = try runTool(["train", "--resume", folder, "--steps", String(checkpoint.state.step + 1), "--threads", "1"],
                                  launcher: mpirun!)
        #expect(resumed.status == 0, "\(resumed.stderr)")
    }

    /// A rank killed with SIGKILL: mpirun ends the job within a bounded time with a message, and
    /// the checkpoint on disk (written every step) is complete.
    @Test func aKilledRankEndsTheJob() throws {
        let folder = TrainingTestData.temporaryFolder("mpi-kill")
        defer { TrainingTestData.remove(folder) }
        let run = RunFolder(folder)
        var seconds = 0.0
        let result = try runTool(try Self.trainArguments(folder, steps: 5000, checkpointEvery: 1), launcher: mpirun!) { process in
            Self.waitForRows(3, in: run, while: process)
            if let rank = Self.ranks(of: process).last { kill(rank, SIGKILL) }
            let start = Date()
            Self.waitForExit(process, seconds: 120)
            seconds = Date().timeIntervalSince(start)
        }
        #expect(seconds < 60, "mpirun took \(seconds) s to end the job")
        #expect(result.status != 0)
        #expect(result.stderr.contains("signal 9") || result.stderr.contains("Killed"), "\(result.stderr)")
        #expect(try Checkpoint.read(path: run.latestCheckpoint).state.step >= 2)
    }

    static func waitForRows(_ rows: Int, in run: RunFolder, while process: Process) {
        let deadline = Date().addingTimeInterval(180)
        while Date() < deadline && process.isRunning {
            if ((try? CSVLog.read(path: run.log))?["step"]?.count ?? 0) >= rows { return }
            usleep(50_000)
        }
    }

    /// Ends `process` (and its ranks) with SIGKILL if it still runs after `seconds`.
    static func waitForExit(_ process: Process, seconds: Double) {
        let limit = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < limit { usleep(50_000) }
        guard process.isRunning else { return }
        for rank in ranks(of: process) { kill(rank, SIGKILL) }
        kill(process.processIdentifier, SIGKILL)
    }

    /// The ranks mpirun started on this machine: its child processes (of any of its threads)
    /// running vae-faces.
    static func ranks(of process: Process) -> [pid_t] {
        let tasks = "/proc/\(process.processIdentifier)/task"
        let children = ((try? FileManager.default.contentsOfDirectory(atPath: tasks)) ?? []).map {
            (try? String(contentsOfFile: "\(tasks)/\($0)/children", encoding: .utf8)) ?? ""
        }.joined(separator: " ")
        return children.split(separator: " ").compactMap { pid_t($0) }.sorted().filter {
            ((try? String(contentsOfFile: "/proc/\($0)/comm", encoding: .utf8)) ?? "").hasPrefix("vae-faces")
        }
    }
}
#endif
