import Foundation
import NeuralCore
import Testing
import VAEFaces

/// The `vae-faces` executable built next to this test bundle (SwiftPM builds it for this test
/// target, which depends on it), or nil.
private let executable: String? = {
    var folders = ProcessInfo.processInfo.arguments.filter { $0.contains(".xctest") }
        .map { URL(fileURLWithPath: $0).deletingLastPathComponent().path }
    folders.append(URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path)
    folders.append(Bundle.main.bundleURL.path)
    folders.append(Bundle.main.bundleURL.deletingLastPathComponent().path)
    return folders.map { $0 + "/vae-faces" }.first { FileManager.default.isExecutableFile(atPath: $0) }
}()

/// Runs the executable; returns (status, standard error) after it ends.
@discardableResult
private func runTool(_ arguments: [String], whileRunning: ((Process) -> Void)? = nil) throws -> (status: Int32, stderr: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable!)
    process.arguments = arguments
    let errors = Pipe()
    process.standardError = errors
    process.standardOutput = FileHandle.nullDevice
    try process.run()
    whileRunning?(process)
    let data = errors.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

@Suite(.enabled(if: TrainingTestData.available && executable != nil, "needs ../shared/data/celeba and the built vae-faces executable"))
struct TrainCommandTests {
    /// A real SIGINT to `vae-faces train`: the current step finishes, latest.safetensors is saved
    /// at that step, the exit status is 130; `--resume` then continues to the asked step.
    @Test func sigintSavesACheckpointAndResumeContinues() throws {
        let cache = try TrainingTestData.cache.get()
        let folder = TrainingTestData.temporaryFolder()
        let run = RunFolder(folder)
        let (status, stderr) = try runTool(["train", "--cache", cache.path, "--decoder", "pixeldcl", "--out", folder,
                                            "--steps", "5000", "--batch", "8", "--latent", "16", "--checkpoint-every", "5000"]) { process in
            // Wait until two steps are logged, then interrupt.
            let deadline = Date().addingTimeInterval(120)
            while Date() < deadline && process.isRunning {
                let rows = (try? CSVLog.read(path: run.log))?["step"]?.count ?? 0
                if rows >= 2 { break }
                usleep(50_000)
            }
            kill(process.processIdentifier, SIGINT)
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

    @Test func sampleExportAndEvalCommandsWork() throws {
        let cache = try TrainingTestData.cache.get()
        let folder = TrainingTestData.temporaryFolder()
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

        let bad = try runTool(["sample", "--model", folder + "/grid.png", "--out", folder + "/x.png"])
        #expect(bad.status != 0 && bad.stderr.contains(folder + "/grid.png: not a safetensors file"), "\(bad.stderr)")
    }
}
