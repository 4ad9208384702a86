import Foundation
import Testing
import TensorIO
import VAEFaces

/// One training process per run folder (`RunLock`).
@Suite struct RunLockTests {
    private func problem(_ body: () throws -> Void) -> String? {
        do { try body() } catch let error as FileError { return error.description } catch { return "\(error)" }
        return nil
    }

    @Test func secondLockOnTheSameFolderIsRefusedUntilTheFirstIsReleased() throws {
        let folder = RunFolder(try makeTemporaryFolder() + "/run")
        let first = try RunLock(folder)   // creates the folder
        let refusal = problem { _ = try RunLock(folder) }
        #expect(refusal == "\(folder.path): another training process (pid \(getpid())) is using this run folder; wait for it to finish or stop it first")
        first.release()
        let second = try RunLock(folder)
        #expect(try String(contentsOfFile: second.path, encoding: .utf8) == "\(getpid())\n")
        // Another folder is independent.
        _ = try RunLock(RunFolder(folder.path + "-other"))
    }

    /// A process holding the lock (flock(1) takes the same `flock` lock; --no-fork keeps it in
    /// that one process) and then killed with SIGKILL leaves the folder unlocked.
    @Test func aKilledHolderLeavesTheFolderUnlocked() throws {
        let folder = RunFolder(try makeTemporaryFolder() + "/run")
        try RunLock(folder).release()   // creates the folder and the lock file
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/flock")
        holder.arguments = ["--exclusive", "--no-fork", folder.path + "/" + RunLock.fileName, "sleep", "60"]
        try holder.run()
        defer { if holder.isRunning { kill(holder.processIdentifier, SIGKILL) } }
        let deadline = Date().addingTimeInterval(10)
        while problem({ _ = try RunLock(folder) }) == nil && Date() < deadline { usleep(20_000) }
        #expect(problem { _ = try RunLock(folder) }?.contains("another training process") == true)
        kill(holder.processIdentifier, SIGKILL)
        holder.waitUntilExit()
        #expect(problem { _ = try RunLock(folder) } == nil)
    }

    /// `Trainer.run` holds the lock: a run whose folder is locked is refused before it writes.
    @Test(.enabled(if: TrainingTestData.available)) func trainingRefusesALockedFolder() throws {
        let folder = RunFolder(try makeTemporaryFolder() + "/run")
        let lock = try RunLock(folder)
        defer { lock.release() }
        let configuration = TrainingConfiguration(model: VAEConfiguration(latentDimension: 8, decoder: .resizeconv), batchSize: 4)
        let trainer = try Trainer(configuration: configuration, schedule: TrainingSchedule(steps: 1), folder: folder,
                                  cache: TrainingTestData.cache.get())
        trainer.showProgress = false
        trainer.onMessage = { _ in }
        #expect(problem { _ = try trainer.run() }?.contains("another training process") == true)
        #expect(!FileManager.default.fileExists(atPath: folder.log))
    }
}
