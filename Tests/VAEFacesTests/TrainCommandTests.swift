import Foundation
import NeuralCore
import Testing
import VAEFaces

/// The `vae-faces` executable built next to this test bundle (SwiftPM builds it for this test
/// target, which depends on it), or nil.
let executable: String? = {
    var folders = ProcessInfo.processInfo.arguments.filter { $0.contains(".xctest") }
        .map { URL(fileURLWithPath: $0).deletingLastPathComponent().path }
    folders.append(URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path)
    folders.append(Bundle.main.bundleURL.path)
    folders.append(Bundle.main.bundleURL.deletingLastPathComponent().path)
    return folders.map { $0 + "/vae-faces" }.first { FileManager.default.isExecutableFile(atPath: $0) }
}()

/// Runs the executable (under `launcher`, e.g. mpirun and its flags, when given); returns
/// (status, standard error, standard output) after it ends (the status is the signal number when
/// a signal ended it).
@discardableResult
func runTool(_ arguments: [String], launcher: [String] = [], whileRunning: ((Process) -> Void)? = nil) throws
    -> (status: Int32, stderr: String, stdout: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: launcher.first ?? executable!)
    process.arguments = launcher.dropFirst() + (launcher.isEmpty ? [] : [executable!]) + arguments
    let folder = TrainingTestData.temporaryFolder("tool-output")
    defer { TrainingTestData.remove(folder) }
    FileManager.default.createFile(atPath: folder + "/out", contents: nil)
    FileManager.default.createFile(atPath: folder + "/err", contents: nil)
    process.standardOutput = FileHandle(forWritingAtPath: folder + "/out")
    process.standardError = FileHandle(forWritingAtPath: folder + "/err")
    // A child inherits the signal mask of the thread that starts it, and a test's thread may block
    // SIGINT and SIGTERM: start it with them open, as a shell would (mpirun must receive them).
    try StopSignal.withUnblocked { try process.run() }
    whileRunning?(process)
    process.waitUntilExit()
    let read = { (name: String) in String(decoding: FileManager.default.contents(atPath: folder + "/" + name) ?? Data(), as: UTF8.self) }
    return (process.terminationStatus, read("err"), read("out"))
}

@Suite(.enabled(if: TrainingTestData.available && executable != nil, "needs ../shared/data/celeba and the built vae-faces executable"))
struct TrainCommandTests {
    /// A real SIGINT to `vae-faces train`: the current step finishes, latest.safetensors is saved
    /// at that step, the exit status is 130; `--resume` then continues to the asked step.
    @Test func sigintSavesACheckpointAndResumeContinues() throws {
        let cache = try TrainingTestData.cache.get()
        let folder = TrainingTestData.temporaryFolder()
        defer { TrainingTestData.remove(folder) }
        let run = RunFolder(folder)
        let (status, stderr, _) = try runTool(["train", "--cache", cache.path, "--decoder", "pixeldcl", "--out", folder,
                                            "--steps", "5000", "--batch", "8", "--latent", "16", "--checkpoint-every", "5000"]) { process in
            // Wait until two steps are logged, then interrupt.
            let deadline = Date().addingTimeInterval(120)
            while Date() < deadline && process.isRunning {
                let rows = (try? CSVLog.read(path: run.log))?["step"]?.count ?? 0
                if rows >= 2 { break }
                usleep(50_000)
            }
            kill(process.processIdentifier, SIGINT)
            // A run that ignores the signal must not go on for 5000 steps.
            let limit = Date().addingTimeInterval(120)
            while process.isRunning && Date() < limit { usleep(50_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
        #expect(status == 130, "exit status \(status); stderr: \(stderr)")
        #expect(stderr.contains("--resume \(folder) --steps 5000"), "\(stderr)")
        let checkpoint = try Checkpoint.read(path: run.latestCheckpoint)
        let logged = try CSVLog.read(path: run.log)["step"] ?? []
        #expect(checkpoint.state.step >= 2 && Double(checkpoint.state.step) == logged.last)

        let target = checkpoint.state.step + 2
        let resumed = try runTool(["train", "--resume", folder, "--steps", String(target)])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(try Checkpoint.read(path: run.latestCheckpoint).state.step == target)
        #expect(try CSVLog.read(path: run.log)["step"] == (1...target).map(Double.init))
    }

    /// kill -9 while checkpoints are written after every step: the checkpoint on disk is always
    /// complete (temporary file + rename), and the run resumes from it.
    @Test func killNineLeavesALoadableCheckpoint() throws {
        let cache = try TrainingTestData.cache.get()
        let folder = TrainingTestData.temporaryFolder()
        defer { TrainingTestData.remove(folder) }
        let run = RunFolder(folder)
        var killedAt = 0
        let (status, _, _) = try runTool(["train", "--cache", cache.path, "--decoder", "dcl", "--out", folder,
                                       "--steps", "5000", "--batch", "4", "--latent", "8", "--checkpoint-every", "1"]) { process in
            let deadline = Date().addingTimeInterval(120)
            while Date() < deadline && process.isRunning {
                if let rows = (try? CSVLog.read(path: run.log))?["step"]?.count, rows >= 4 {
                    killedAt = rows
                    break
                }
                usleep(20_000)
            }
            kill(process.processIdentifier, SIGKILL)
        }
        #expect(status == SIGKILL)
        let checkpoint = try Checkpoint.read(path: run.latestCheckpoint)
        #expect(checkpoint.state.step >= killedAt - 1 && checkpoint.state.step >= 3, "checkpoint at \(checkpoint.state.step), log had \(killedAt) rows")
        let target = checkpoint.state.step + 1
        let resumed = try runTool(["train", "--resume", folder, "--steps", String(target), "--checkpoint-every", "1"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(try CSVLog.read(path: run.log)["step"] == (1...target).map(Double.init))
    }

    /// SIGTERM and, 0.6 s later, SIGKILL — what `mpirun` does to its ranks on Ctrl-C, one second
    /// apart — during a step longer than that: the last completed step was saved at once, and it is
    /// exactly the checkpoint an uninterrupted run writes at that step (weights, BatchNorm
    /// statistics and batch counts, Adam's moments, data position, noise generator).
    @Test func sigtermThenSigkillKeepsTheLastCompletedStep() throws {
        let cache = try TrainingTestData.cache.get()
        let killed = TrainingTestData.temporaryFolder("killed"), straight = TrainingTestData.temporaryFolder("straight")
        defer { TrainingTestData.remove(killed); TrainingTestData.remove(straight) }
        // Batch 128 on one thread: a step takes over a second.
        let arguments = { (folder: String, steps: Int) in
            ["train", "--cache", cache.path, "--decoder", "pixeldcl", "--out", folder, "--steps", String(steps), "--batch", "128",
             "--latent", "16", "--threads", "1", "--checkpoint-every", "5000", "--eval-every", "5000", "--sample-every", "5000"]
        }
        var logged = 0
        let (status, stderr, _) = try runTool(arguments(killed, 5000)) { process in
            let deadline = Date().addingTimeInterval(120)
            while Date() < deadline && process.isRunning {
                logged = (try? CSVLog.read(path: RunFolder(killed).log))?["step"]?.count ?? 0
                if logged >= 2 { break }
                usleep(20_000)
            }
            kill(process.processIdentifier, SIGTERM)
            usleep(600_000)
            kill(process.processIdentifier, SIGKILL)
        }
        #expect(status == SIGKILL, "the step ended within 0.6 s, so this test shows nothing: \(stderr)")
        #expect(stderr.contains("saved at once"), "\(stderr)")
        let saved = try Checkpoint.read(path: RunFolder(killed).latestCheckpoint)
        #expect(saved.state.step == logged, "saved step \(saved.state.step), \(logged) steps logged before the signal")

        try #require(try runTool(arguments(straight, saved.state.step)).status == 0)
        let reference = try Checkpoint.read(path: RunFolder(straight).latestCheckpoint)
        #expect(saved.state.step == reference.state.step && saved.state.position == reference.state.position
                && saved.state.noiseGenerator == reference.state.noiseGenerator && saved.adamStep == reference.adamStep)
        #expect(saved.archive.names.sorted() == reference.archive.names.sorted())
        for name in reference.archive.names {
            #expect(try saved.archive.floats(name) == reference.archive.floats(name), "\(name)")
        }
    }

    @Test func sampleExportAndEvalCommandsWork() throws {
        let cache = try TrainingTestData.cache.get()
        let folder = TrainingTestData.temporaryFolder()
        defer { TrainingTestData.remove(folder) }
        let model = VAE(configuration: VAEConfiguration(latentDimension: 16, decoder: .dcl), seed: 4)
        let optimizer = Adam(parameters: model.parameters)
        let configuration = TrainingConfiguration(model: model.configuration, batchSize: 8, seed: 4)
        try Checkpoint.write(to: folder + "/latest.safetensors", model: model, optimizer: optimizer, configuration: configuration,
                             state: TrainingState(step: 0, noiseGenerator: SeededGenerator(seed: 4)))
        let sample = try runTool(["sample", "--model", folder + "/latest.safetensors", "--out", folder + "/grid.png",
                                  "--n", "6", "--columns", "3", "--each", folder + "/each"])
        #expect(sample.status == 0, "\(sample.stderr)")
        let grid = Image8(try PNG.readRGB(folder + "/grid.png"))
        #expect(grid.width == 3 * 66 + 2 && grid.height == 2 * 66 + 2)
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder + "/each").count == 6)

        let interpolation = try runTool(["sample", "--model", folder + "/latest.safetensors", "--out", folder + "/slerp.png",
                                         "--interpolate", "--slerp", "--n", "10", "--columns", "5"])
        #expect(interpolation.status == 0, "\(interpolation.stderr)")
        #expect(Image8(try PNG.readRGB(folder + "/slerp.png")).height == 2 * 66 + 2)

        let reconstruction = try runTool(["sample", "--model", folder + "/latest.safetensors", "--out", folder + "/rec.png",
                                          "--reconstruct", "--cache", cache.path, "--n", "8", "--columns", "4"])
        #expect(reconstruction.status == 0, "\(reconstruction.stderr)")
        #expect(Image8(try PNG.readRGB(folder + "/rec.png")).height == 2 * 66 + 2)

        let export = try runTool(["export", "--model", folder + "/latest.safetensors", "--out", folder + "/model.safetensors", "--half"])
        #expect(export.status == 0, "\(export.stderr)")
        #expect(try ModelFile.load(path: folder + "/model.safetensors").decoder == .dcl)

        let eval = try runTool(["eval", "--model", folder + "/model.safetensors", "--cache", cache.path, "--split", "test", "--json"])
        #expect(eval.status == 0, "\(eval.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(eval.stdout.utf8)) as? [String: Any])
        let nats = try #require(json["negative_elbo_nats"] as? Double)
        let rec = try #require(json["reconstruction"] as? Double), kl = try #require(json["kl"] as? Double)
        #expect(json["images"] as? Int == cache.indices(in: .test).count && json["split"] as? String == "test")
        #expect(nats.isFinite && abs(nats - (rec + kl)) <= 1e-9 * nats)
        #expect(abs((json["bits_per_dim"] as? Double ?? 0) - nats / (12288 * log(2.0))) <= 1e-9 * nats)

        let bad = try runTool(["sample", "--model", folder + "/grid.png", "--out", folder + "/x.png"])
        #expect(bad.status != 0 && bad.stderr.contains(folder + "/grid.png: not a safetensors file"), "\(bad.stderr)")
    }
}
