import ArgumentParser
import Foundation
import NeuralCore
import TensorIO
import VAEFaces

extension DecoderKind: ExpressibleByArgument {}

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train the VAE on CelebA (or any face folder) with the chosen up-sampling decoder.",
        discussion: """
            A new run: vae-faces train --data DIR --decoder pixeldcl --out RUN --steps 5000
            Continue one: vae-faces train --resume RUN --steps 10000  (to step 10000, exactly as \
            if it had never stopped; same --threads for bit-identical losses)

            The run folder gets latest.safetensors and best.safetensors (checkpoints), \
            training.csv (one row per step), samples/ and reconstructions/ grids at every \
            validation (each epoch's end, every --eval-every steps, the last step) and every \
            --sample-every steps, and loss.svg. Ctrl-C or SIGTERM finishes the current step, \
            saves latest.safetensors and exits with status 130 (SIGINT) or 143 (SIGTERM); a \
            second Ctrl-C quits at once. A NaN or infinite loss stops with status 1 without \
            overwriting the last checkpoint.
            """)

    @Option(help: "The data folder (default: $VAE_FACES_DATA; on --resume: the run's).")
    var data: String?

    @Option(help: "The prepared cache (default: keyed by the data folder under ~/.cache/vae-faces; prepared when missing).")
    var cache: String?

    @Option(help: "Up-sampling layer of the decoder: dcl, pixeldcl, ipixeldcl or resizeconv.")
    var decoder: DecoderKind?

    @Option(help: "The run folder to create.")
    var out: String?

    @Option(help: "Continue the run in this folder from its latest.safetensors.")
    var resume: String?

    @Option(help: "Train until this step (the total, also when resuming).")
    var steps: Int?

    @Option(help: "Train until the end of this epoch (the total).")
    var epochs: Int?

    @Option(help: "Images per batch (default 64).")
    var batch: Int?

    @Option(help: "Adam learning rate (default 5e-4; may be changed on --resume).")
    var lr: Double?

    @Option(help: "Latent size (default 128).")
    var latent: Int?

    @Option(help: "β, the weight of the KL term (default 1).")
    var beta: Float?

    @Option(help: "Seed of the initial weights, the data order and the noise (default 0).")
    var seed: UInt64?

    @Option(help: "Also write sample and reconstruction grids every N steps.")
    var sampleEvery: Int?

    @Option(help: "Write latest.safetensors every N steps (and at every epoch end and at the end).")
    var checkpointEvery = 200

    @Option(help: "Also validate (with grids) every N steps; validation always runs at each epoch end and at the end.")
    var evalEvery: Int?

    @OptionGroup var threads: ThreadOptions

    func validate() throws {
        if resume == nil {
            guard decoder != nil else { throw ValidationError("choose the decoder: --decoder dcl|pixeldcl|ipixeldcl|resizeconv") }
            guard out != nil else { throw ValidationError("choose the run folder: --out RUN_DIR") }
        } else if let out, let resume, DataFolder.absolutePath(out) != DataFolder.absolutePath(resume) {
            throw ValidationError("--resume continues the run in its own folder; leave out --out or give the same folder")
        }
        guard (steps == nil) != (epochs == nil) else { throw ValidationError("give exactly one of --steps N and --epochs N") }
        if let steps, steps <= 0 { throw ValidationError("--steps must be positive, got \(steps)") }
        if let epochs, epochs <= 0 { throw ValidationError("--epochs must be positive, got \(epochs)") }
    }

    func run() throws {
        threads.apply()
        let folder = RunFolder(resume ?? out!)
        if resume != nil && !FileManager.default.fileExists(atPath: folder.latestCheckpoint) {
            throw FileError(file: folder.path, "no latest.safetensors here: not a training run folder (start one with --out)")
        }
        let checkpoint = try resume.map { _ in try Checkpoint.read(path: folder.latestCheckpoint) }
        if let checkpoint {
            try checkResumeOptions(checkpoint.configuration)
        }
        var configuration = checkpoint?.configuration ?? TrainingConfiguration(
            model: VAEConfiguration(latentDimension: latent ?? 128, decoder: decoder!, klWeight: beta ?? 1),
            batchSize: batch ?? 64, learningRate: lr ?? 5e-4, seed: seed ?? 0)
        try configuration.validate()

        // The data: options first, else the run's own, else $VAE_FACES_DATA.
        let dataFolder = data.map(DataFolder.absolutePath) ?? (cache == nil ? configuration.dataFolder : nil)
        let cachePath = cache.map(DataFolder.absolutePath) ?? (data == nil ? configuration.cachePath : nil)
        let resolvedFolder = cachePath != nil && dataFolder == nil ? nil : try DataPreparation.resolveDataFolder(dataFolder)
        let prepared = try DataPreparation.openOrPrepare(dataFolder: resolvedFolder, cachePath: cachePath) { event in
            switch event {
            case .note(let text): printError(text)
            case .skipped(let file, let reason): printError("skipped \(file): \(reason)")
            case .progress(let done, let total, _, _) where done == total: printError("prepared \(total) files")
            case .progress: break
            }
        }
        configuration.dataFolder = resolvedFolder ?? configuration.dataFolder
        configuration.cachePath = cachePath

        let batchesPerEpoch = prepared.indices(in: .train).count / configuration.batchSize
        guard batchesPerEpoch > 0 else {
            throw FileError(file: prepared.path, "the train split has \(prepared.indices(in: .train).count) images, fewer than one batch of \(configuration.batchSize)")
        }
        let schedule = TrainingSchedule(steps: steps ?? epochs! * batchesPerEpoch, sampleEvery: sampleEvery,
                                        checkpointEvery: checkpointEvery, evalEvery: evalEvery)
        try schedule.validate()

        if let checkpoint, let lr, lr != checkpoint.configuration.learningRate {
            printError("note: the learning rate changes from \(checkpoint.configuration.learningRate) to \(lr) from step \(checkpoint.state.step + 1) on")
        }
        let trainer = try checkpoint.map { try Trainer(resuming: $0, schedule: schedule, folder: folder, cache: prepared, learningRate: lr) }
            ?? Trainer(configuration: configuration, schedule: schedule, folder: folder, cache: prepared)
        let c = trainer.configuration
        printError("\(trainer.isResumed ? "resuming" : "training") \(c.model.decoder.rawValue) VAE (latent \(c.model.latentDimension), β \(c.model.klWeight)), "
                   + "batch \(c.batchSize), lr \(c.learningRate), seed \(c.seed), \(Threading.workers) threads: "
                   + "step \(trainer.state.step) → \(schedule.steps) (\(batchesPerEpoch) steps per epoch) in \(folder.path)")
        StopSignal.install()
        defer { StopSignal.restoreDefaults() }
        let summary: TrainingSummary
        do {
            summary = try trainer.run()
        } catch let error as NonFiniteLossError {
            throw VAEFacesError(error.description)
        }
        switch summary.outcome {
        case .completed:
            var text = "done: step \(summary.step)"
            if let loss = summary.lastLoss { text += ", last loss \(format(loss.total)) (rec \(format(loss.reconstruction)), KL \(format(loss.kl)))" }
            if let best = summary.bestValidationLoss, let step = summary.bestValidationStep {
                text += ", best val −ELBO \(format(best)) nats/image at step \(step)"
            }
            print(text)
            print("checkpoint: \(folder.latestCheckpoint)")
        case .stopped:
            let signal = StopSignal.signalNumber ?? SIGINT
            printError("stopped at step \(summary.step) (\(signal == SIGTERM ? "SIGTERM" : "SIGINT")); continue with: "
                       + "vae-faces train --resume \(folder.path) --steps \(schedule.steps)")
            throw ExitCode(128 + signal)
        }
    }

    /// On --resume, options that define the run must agree with the checkpoint.
    private func checkResumeOptions(_ c: TrainingConfiguration) throws {
        var conflicts = [String]()
        if let decoder, decoder != c.model.decoder { conflicts.append("--decoder \(decoder.rawValue) (the run's: \(c.model.decoder.rawValue))") }
        if let latent, latent != c.model.latentDimension { conflicts.append("--latent \(latent) (the run's: \(c.model.latentDimension))") }
        if let batch, batch != c.batchSize { conflicts.append("--batch \(batch) (the run's: \(c.batchSize))") }
        if let beta, beta != c.model.klWeight { conflicts.append("--beta \(beta) (the run's: \(c.model.klWeight))") }
        if let seed, seed != c.seed { conflicts.append("--seed \(seed) (the run's: \(c.seed))") }
        if !conflicts.isEmpty {
            throw ValidationError("a resumed run keeps its settings; drop " + conflicts.joined(separator: ", "))
        }
    }

    private func format(_ value: Double) -> String { TrainingProgress.formatValue(value) }
}
