import ArgumentParser
import Foundation
import NeuralCore
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
            --sample-every steps, and loss.svg. Ctrl-C or SIGTERM saves the last completed \
            step at once (in case the process is killed: mpirun does so after 1 s), then \
            finishes the current step, saves latest.safetensors and exits with status 130 \
            (SIGINT) or 143 (SIGTERM); a second Ctrl-C quits at once. A NaN or infinite loss stops with status 1 without \
            overwriting the last checkpoint.

            On several machines (a build with --traits MPI): mpirun -np N vae-faces train … \
            trains one model data-parallel, each process on --batch / N images of every batch; \
            --threads defaults to the node's cores divided by the processes on it. See the \
            README's "Training on several machines".
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
        let job = try DistributedJob.start()
        Threading.configure(workers: threads.threads ?? job.defaultThreads)
        do {
            try train(job)
            job.finish()
        } catch let exit as ExitCode {
            job.finish()
            throw exit
        } catch where job.communicator.isDistributed {
            // The other processes wait in their next collective: end them all.
            printError("vae-faces: \(job.messagePrefix)\(error)")
            job.abort(code: 1)
        }
    }

    /// The training session of this process (rank 0 alone prints).
    private func train(_ job: DistributedJob) throws {
        let communicator = job.communicator
        let speaks = communicator.rank == 0
        let note: (String) -> Void = { if speaks { printError($0) } }
        var request = TrainingRequest(run: resume.map { .resume(folder: $0) } ?? .new(folder: out!),
                                      length: steps.map { .steps($0) } ?? .epochs(epochs!), decoder: decoder)
        request.data = data
        request.cache = cache
        request.batchSize = batch
        request.learningRate = lr
        request.latentDimension = latent
        request.klWeight = beta
        request.seed = seed
        request.sampleEvery = sampleEvery
        request.checkpointEvery = checkpointEvery
        request.evalEvery = evalEvery
        let setup: TrainingRequest.Setup
        do {
            setup = try request.makeTrainer(note: note, communicator: communicator)
        } catch let conflict as TrainingRequest.ResumeConflict {
            throw ValidationError(conflict.description)
        }
        note(setup.description)
        StopSignal.install()
        defer { StopSignal.restoreDefaults() }
        setup.trainer.savesAtOnceOnStopSignal = true
        let summary: TrainingSummary
        let firstStep = setup.trainer.state.step
        do {
            summary = try setup.trainer.run()
        } catch let error as NonFiniteLossError {
            throw VAEFacesError(error.description)
        }
        if communicator.isDistributed && summary.step > firstStep {
            let perStep = job.reductionSeconds / Double(summary.step - firstStep)
            note("rank 0 spent \(String(format: "%.1f", perStep * 1000)) ms per step in MPI_Allreduce (gradients, BatchNorm statistics, losses, validation; waiting for slower ranks included)")
        }
        let folder = setup.trainer.folder
        switch summary.outcome {
        case .completed where !speaks:
            break
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
            note("stopped at step \(summary.step) (\(signal == SIGTERM ? "SIGTERM" : "SIGINT")); continue with: "
                       + "vae-faces train --resume \(folder.path) --steps \(setup.trainer.schedule.steps)")
            throw ExitCode(128 + signal)
        }
    }

    private func format(_ value: Double) -> String { TrainingProgress.formatValue(value) }
}
