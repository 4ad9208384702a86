import Foundation
import NeuralCore
import Testing
import TensorIO
import VAEFaces

/// Runs a program to its end; returns its exit status and its standard output and error, together.
private func runProgram(_ path: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let output = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: output, as: UTF8.self))
}

/// A tmpfs of a few MB mounted on a fresh folder, for a full disk and a read-only folder that even
/// root cannot write to. Mounting needs root (CAP_SYS_ADMIN); elsewhere the tests that need one
/// are skipped (`smallFileSystemsWork`).
private struct SmallFileSystem {
    let path: String

    init(size: String, _ name: String = #function) throws {
        path = try makeTemporaryFolder(name)
        let mount = try runProgram("/usr/bin/env", ["mount", "-t", "tmpfs", "-o", "size=\(size)", "tmpfs", path])
        guard mount.status == 0 else { throw VAEFacesError("cannot mount a tmpfs on \(path): \(mount.output)") }
    }

    func remountReadOnly() throws {
        let remount = try runProgram("/usr/bin/env", ["mount", "-o", "remount,ro", path])
        guard remount.status == 0 else { throw VAEFacesError("cannot remount \(path) read-only: \(remount.output)") }
    }

    func unmount() {
        _ = try? runProgram("/usr/bin/env", ["umount", path])
        try? FileManager.default.removeItem(atPath: path)
    }

    /// The names in a folder of the file system.
    func contents(_ folder: String = "") throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: path + folder).sorted()
    }
}

private let smallFileSystemsWork: Bool = {
    guard let probe = try? SmallFileSystem(size: "64k") else { return false }
    probe.unmount()
    return true
}()

/// The lines of the tool's standard error that report the error that ended it.
private func errorLines(_ stderr: String) -> [String] {
    stderr.split(separator: "\n").map(String.init).filter { $0.hasPrefix("Error: ") }
}

/// The tool's options for a small, fast run (the campaign's model).
private let smallRun = ["--decoder", "resizeconv", "--latent", "8", "--batch", "4", "--threads", "1"]
private let smallConfiguration = TrainingConfiguration(model: VAEConfiguration(latentDimension: 8, decoder: .resizeconv), batchSize: 4)

/// A prepared cache of `count` random faces, and the folder they are in.
private func smallCache(count: Int, seed: UInt64 = 1, _ name: String = #function) throws -> (cache: String, data: String, faces: [Image8]) {
    let (data, faces) = try makeFaceFolder(count: count, seed: seed, name)
    let cache = (data as NSString).deletingLastPathComponent + "/faces.vfcache"
    _ = try DataPreparation.prepare(dataFolder: data, cachePath: cache)
    return (cache, data, faces)
}

/// Writes a checkpoint of `model` under `configuration`'s metadata (which may describe another model).
private func writeCheckpoint(_ path: String, model: VAE, configuration: TrainingConfiguration = smallConfiguration) throws {
    try Checkpoint.write(to: path, model: model, optimizer: Adam(parameters: model.parameters), configuration: configuration,
                         state: TrainingState(step: 1, noiseGenerator: SeededGenerator(seed: 1)))
}

/// What goes wrong around a run — kill -9, a full disk, a read-only folder, a checkpoint of
/// another model, a cache cut short underneath, NaN latents, absurd tensor sizes — ends in one
/// line naming the file and a non-zero exit, and loses or half-writes nothing.
@Suite(.serialized, .enabled(if: executable != nil, "needs the built vae-faces executable"))
struct FaultTests {
    /// The short kill campaign: five SIGKILLs at random moments of a real run, each recovered,
    /// and the resumed losses equal to an uninterrupted run's (the script checks it all).
    @Test(.enabled(if: TrainingTestData.available, "needs ../shared/data/celeba"))
    func fiveKillsLoseNothing() throws {
        let work = TrainingTestData.temporaryFolder()
        defer { TrainingTestData.remove(work) }
        let script = TrainingTestData.packageRoot.path + "/Scripts/kill-campaign.sh"
        let result = try runProgram("/usr/bin/env", ["bash", script, "--kills", "5", "--seed", "7", "--max-delay", "1",
                                                     "--tool", executable!, "--celeba", sharedCelebA!, "--work", work + "/campaign"])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("5/5 kills recovered"), "\(result.output)")
        #expect(result.output.contains("losses and final tensors identical to an uninterrupted run's"), "\(result.output)")
    }

    /// The disk fills up while the second checkpoint is written: one line naming it, and the
    /// first checkpoint intact, with no temporary file left.
    @Test(.enabled(if: smallFileSystemsWork, "mounting a tmpfs needs root"))
    func fullDiskDuringTrainingKeepsThePreviousCheckpoint() throws {
        let (cache, _, _) = try smallCache(count: 24)
        let disk = try SmallFileSystem(size: "24m")   // one checkpoint of 14.3 MB fits, not two
        defer { disk.unmount() }
        let run = RunFolder(disk.path + "/run")
        let result = try runTool(["train", "--cache", cache, "--out", run.path, "--steps", "50", "--checkpoint-every", "1"] + smallRun)
        #expect(result.status == 1)
        #expect(errorLines(result.stderr) == ["Error: \(run.latestCheckpoint): cannot write: No space left on device"], "\(result.stderr)")
        #expect(try Checkpoint.read(path: run.latestCheckpoint).state.step == 1)
        #expect(try disk.contents("/run") == ["latest.safetensors", "train.lock", "training.csv"])
    }

    /// `prepare` runs out of space: one line naming the cache, and the previous cache intact.
    @Test(.enabled(if: smallFileSystemsWork, "mounting a tmpfs needs root"))
    func fullDiskDuringPrepareKeepsThePreviousCache() throws {
        let small = try makeFaceFolder(count: 8, seed: 1)
        let large = try makeFaceFolder(count: 24, seed: 2)
        let disk = try SmallFileSystem(size: "256k")   // 8 faces fit (98 kB), 24 do not (295 kB)
        defer { disk.unmount() }
        let cache = disk.path + "/faces.vfcache"
        #expect(try runTool(["prepare", "--data", small.root, "--cache", cache]).status == 0)
        let result = try runTool(["prepare", "--data", large.root, "--cache", cache])
        #expect(result.status == 1)
        #expect(errorLines(result.stderr) == ["Error: \(cache): cannot write: No space left on device"], "\(result.stderr)")
        #expect(try PreparedCache.open(path: cache).count == 8)
        #expect(try disk.contents() == ["faces.vfcache"])
    }

    /// A read-only folder (a read-only mount: root ignores permission bits) for a new run, a
    /// resumed run and a cache: one line naming the file, and nothing written.
    @Test(.enabled(if: smallFileSystemsWork, "mounting a tmpfs needs root"))
    func readOnlyOutputFolderIsRefused() throws {
        let (cache, data, _) = try smallCache(count: 8)
        let disk = try SmallFileSystem(size: "32m")
        defer { disk.unmount() }
        let run = RunFolder(disk.path + "/run")
        try writeCheckpoint(run.latestCheckpoint, model: VAE(configuration: smallConfiguration.model, seed: 1))
        try disk.remountReadOnly()
        let readOnly = String(cString: strerror(EROFS))

        let resumed = try runTool(["train", "--resume", run.path, "--cache", cache, "--steps", "2", "--threads", "1"])
        #expect(resumed.status == 1)
        #expect(errorLines(resumed.stderr) == ["Error: \(run.path)/train.lock: cannot open the run's lock file: \(readOnly)"], "\(resumed.stderr)")
        let new = try runTool(["train", "--cache", cache, "--out", disk.path + "/new", "--steps", "2"] + smallRun)
        #expect(new.status == 1)
        // Foundation's words for the read-only volume (no errno): one line all the same.
        #expect(errorLines(new.stderr).count == 1, "\(new.stderr)")
        #expect(errorLines(new.stderr).first?.hasPrefix("Error: \(disk.path)/new: cannot create the run folder: ") == true, "\(new.stderr)")
        let prepared = try runTool(["prepare", "--data", data, "--cache", disk.path + "/faces.vfcache"])
        #expect(prepared.status == 1)
        #expect(errorLines(prepared.stderr) == ["Error: \(disk.path)/faces.vfcache: cannot create a file in \(disk.path): \(readOnly)"],
                "\(prepared.stderr)")
        #expect(try disk.contents() == ["run"])
        #expect(try disk.contents("/run") == ["latest.safetensors"])
    }

    /// `--resume` on a folder whose checkpoint holds another model's tensors than its metadata
    /// says (another decoder and latent size; an absurd latent size), or with options of another
    /// model: refused before anything is built or written.
    @Test func checkpointOfAnotherModelIsRefused() throws {
        let (cache, _, _) = try smallCache(count: 8)
        let run = RunFolder(try makeTemporaryFolder() + "/run")
        defer { TrainingTestData.remove(run.path) }   // checkpoints of 14 MB
        var huge = smallConfiguration
        huge.model.latentDimension = 1 << 40
        let cases: [(VAE, TrainingConfiguration, String)] = [
            (VAE(configuration: VAEConfiguration(latentDimension: 16, decoder: .dcl), seed: 1), smallConfiguration,
             "its metadata describes a resizeconv VAE with latent size 8, but its tensors are another's (dcl decoder, decoder.fc.weight [4096, 16])"),
            (VAE(configuration: smallConfiguration.model, seed: 1), huge,
             "its metadata describes a resizeconv VAE with latent size 1099511627776, but its tensors are another's (resizeconv decoder, decoder.fc.weight [4096, 8])"),
        ]
        for (model, configuration, problem) in cases {
            try writeCheckpoint(run.latestCheckpoint, model: model, configuration: configuration)
            let before = try Data(contentsOf: URL(fileURLWithPath: run.latestCheckpoint))
            let result = try runTool(["train", "--resume", run.path, "--cache", cache, "--steps", "2", "--threads", "1"])
            #expect(result.status == 1)
            #expect(errorLines(result.stderr) == ["Error: \(run.latestCheckpoint): belongs to another model: \(problem)"], "\(result.stderr)")
            #expect(try Data(contentsOf: URL(fileURLWithPath: run.latestCheckpoint)) == before)
            #expect(try FileManager.default.contentsOfDirectory(atPath: run.path) == ["latest.safetensors"])
        }
        try writeCheckpoint(run.latestCheckpoint, model: VAE(configuration: smallConfiguration.model, seed: 1))
        let options = try runTool(["train", "--resume", run.path, "--cache", cache, "--steps", "2", "--decoder", "dcl", "--latent", "16"])
        #expect(options.status == 64)
        #expect(errorLines(options.stderr) == ["Error: a resumed run keeps its settings; drop --decoder dcl (the run's: resizeconv), --latent 16 (the run's: 8)"],
                "\(options.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: run.path) == ["latest.safetensors"])
    }

    /// The cache file cut short while a run holds it open (with a mapped file, reading past the
    /// new end killed the process with SIGBUS): training and evaluation go on with the data
    /// validated at open, and opening it again names the damage.
    @Test func cacheTruncatedUnderneathDoesNotCrash() throws {
        let (path, _, faces) = try smallCache(count: 24)
        let cache = try PreparedCache.open(path: path)
        let model = VAE(configuration: smallConfiguration.model, seed: 1)
        let all = Array(0..<cache.count)
        let before = Evaluation.run(model, cache: cache, indices: all, batchSize: 4, noiseSeed: 0)
        #expect(truncate(path, 100) == 0)

        #expect(all.allSatisfy { Array(cache.image($0)) == faces[$0].pixels })
        let after = Evaluation.run(model, cache: cache, indices: all, batchSize: 4, noiseSeed: 0)
        #expect(after.negativeELBO == before.negativeELBO)
        let run = RunFolder(try makeTemporaryFolder() + "/run")
        defer { TrainingTestData.remove(run.path) }   // checkpoints of 14 MB
        let trainer = try Trainer(configuration: smallConfiguration, schedule: TrainingSchedule(steps: 2, validationLimit: 2),
                                  folder: run, cache: cache)
        trainer.showProgress = false
        trainer.onMessage = { _ in }
        #expect(try trainer.run().step == 2)
        #expect(throws: FileError(file: path, "truncated or corrupt vae-faces cache: 100 bytes, but its header lists 24 images")) {
            try PreparedCache.open(path: path)
        }
    }

    /// A `--latents` file holding a NaN: one line naming it, and no picture written.
    @Test func latentsWithNaNAreRefused() throws {
        let folder = try makeTemporaryFolder()
        defer { TrainingTestData.remove(folder) }
        try writeCheckpoint(folder + "/latest.safetensors", model: VAE(configuration: smallConfiguration.model, seed: 1))
        var values = [Float](repeating: 0.5, count: 16)
        values[10] = .nan
        try NPY.write(shape: [2, 8], values: values, to: folder + "/z.npy")
        let result = try runTool(["sample", "--model", folder + "/latest.safetensors", "--latents", folder + "/z.npy",
                                  "--out", folder + "/grid.png"])
        #expect(result.status == 1)
        #expect(errorLines(result.stderr) == ["Error: \(folder)/z.npy: latent vector 1 has a non-finite value (nan)"], "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: folder + "/grid.png"))
    }

    /// A model file and a latents file declaring tensors of 2⁴² floats (16 TB) in a few bytes:
    /// one line each, nothing allocated for them, nothing written.
    @Test func hugeDeclaredTensorSizesAreRefused() throws {
        let folder = try makeTemporaryFolder()
        defer { TrainingTestData.remove(folder) }
        let json = Array(#"{"decoder.fc.weight":{"dtype":"F32","shape":[4096,1073741824],"data_offsets":[0,17592186044416]}}"#.utf8)
        var model = [UInt8](repeating: 0, count: 8) + json + [UInt8](repeating: 0, count: 64)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { model.replaceSubrange(0..<8, with: $0) }
        try Data(model).write(to: URL(fileURLWithPath: folder + "/huge.safetensors"))
        let sampled = try runTool(["sample", "--model", folder + "/huge.safetensors", "--out", folder + "/grid.png"])
        #expect(sampled.status == 1)
        #expect(errorLines(sampled.stderr) == ["Error: \(folder)/huge.safetensors: truncated: expected 17592186044416 bytes of tensor data, found 64"],
                "\(sampled.stderr)")

        try writeCheckpoint(folder + "/latest.safetensors", model: VAE(configuration: smallConfiguration.model, seed: 1))
        let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (549755813888, 8), }"
        let npy = [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.utf8.count), 0] + Array(header.utf8) + [UInt8](repeating: 0, count: 32)
        try Data(npy).write(to: URL(fileURLWithPath: folder + "/z.npy"))
        let latents = try runTool(["sample", "--model", folder + "/latest.safetensors", "--latents", folder + "/z.npy",
                                   "--out", folder + "/grid.png"])
        #expect(latents.status == 1)
        #expect(errorLines(latents.stderr) == ["Error: \(folder)/z.npy: truncated: shape [549755813888, 8] of '<f4' needs 17592186044416 bytes of data, found 32"],
                "\(latents.stderr)")
        #expect(!FileManager.default.fileExists(atPath: folder + "/grid.png"))
    }
}
