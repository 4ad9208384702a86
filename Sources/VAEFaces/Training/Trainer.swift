import Foundation
import NeuralCore
import TensorIO

/// One training step as it happened.
public struct StepRecord: Sendable {
    /// The step number (1-based).
    public var step: Int
    /// The epoch the batch belongs to (1-based: 1 is the first pass over the train split).
    public var epoch: Int
    public var loss: VAELossValue
    /// Wall-clock seconds of the step (forward, backward, Adam), without validation or saving.
    public var seconds: Double
    /// Validation done after this step, if any.
    public var validation: EvaluationResult?
    /// The artifact ratios measured with the validation (`ArtifactCurves`).
    public var artifacts: ArtifactCurvePoint?
}

/// How a call to `Trainer.run` ended (a non-finite loss throws `NonFiniteLossError` instead).
public struct TrainingSummary: Sendable {
    public enum Outcome: Sendable, Equatable {
        /// The schedule's last step was reached.
        case completed
        /// `shouldStop` (SIGINT/SIGTERM) asked to stop; a checkpoint of the last step was saved.
        case stopped
    }
    public var outcome: Outcome
    /// The last completed step (the checkpoint's step).
    public var step: Int
    public var lastLoss: VAELossValue?
    public var lastValidation: EvaluationResult?
    public var bestValidationLoss: Double?
    public var bestValidationStep: Int?

    /// Takes in a step done and the state after it.
    mutating func add(_ record: StepRecord, state: TrainingState) {
        step = record.step
        lastLoss = record.loss
        if let validation = record.validation { lastValidation = validation }
        bestValidationLoss = state.bestValidationLoss
        bestValidationStep = state.bestValidationStep
    }
}

/// Training stopped because the loss or a gradient was NaN or infinite. The bad step was not
/// saved: `checkpoint`, if any, is the last good state (from `checkpointStep`).
public struct NonFiniteLossError: Error, CustomStringConvertible, Sendable {
    public var step: Int
    /// What was not finite, in words.
    public var what: String
    public var checkpoint: String?
    public var checkpointStep: Int?

    public var description: String {
        var text = "step \(step): \(what); training stopped"
        if let checkpoint, let checkpointStep {
            text += ". The last good checkpoint, \(checkpoint) (step \(checkpointStep)), was kept: resume from it with a lower learning rate (--resume RUN --lr …)"
        } else {
            text += " before any checkpoint was written"
        }
        return text
    }
}

/// The training loop of the reference VAE: Adam on the negative ELBO (rec + β·KL) over
/// shuffled batches of the train split, with validation, grids, a CSV log, checkpoints and a
/// loss plot in a run folder (`RunFolder`).
///
/// Exact resumption: the state that evolves during training — weights, BatchNorm running
/// statistics and batch counts, Adam's moments and step count, the ε noise generator, the data
/// loader's position (the order is a pure function of seed and epoch) — is all in the
/// checkpoint, and nothing else influences a step (validation and grids use their own fixed
/// noise and inference-mode BatchNorm). So `k` steps, a checkpoint, and a resumed run to step
/// `n` produce the same losses, bit for bit, as `n` steps in one go (with the same number of
/// worker threads, which fixes the order of parallel sums).
///
/// Per step nothing is allocated: the model's layers, the loader's two batch buffers and the
/// noise tensor are reused; the next batch is converted on a background thread meanwhile.
///
/// Data parallelism (`communicator` with several ranks, e.g. under `mpirun`): every rank holds
/// the same model and draws the same global batch and the same ε for it (so neither depends on
/// the number of ranks); rank r trains on the r-th contiguous share of both, BatchNorm uses the
/// statistics of the whole global batch, the losses and the parameter gradients are summed over
/// the ranks (one flat buffer, one call) and averaged, and every rank applies the same Adam step.
/// So N ranks compute the step of one process, up to rounding. Every `checkpointEvery` steps a
/// checksum of the weights is compared across the ranks. Rank 0 alone writes files (checkpoints,
/// the log, grids, the plot) and talks to a person; validation is shared out and summed.
public final class Trainer {
    public let configuration: TrainingConfiguration
    public var schedule: TrainingSchedule
    public let folder: RunFolder
    public let cache: PreparedCache
    public let model: VAE
    public let optimizer: Adam
    public private(set) var state: TrainingState
    /// Whether this trainer continues a checkpoint (the log is then appended to).
    public let isResumed: Bool
    /// Step of the last checkpoint written to `latest.safetensors` (by any session).
    public private(set) var lastCheckpointStep: Int?
    /// The processes training this model together (`SingleProcess` alone).
    public let communicator: any Communicator

    /// Polled after every step; true saves a checkpoint and ends `run` with `.stopped`.
    public var shouldStop: () -> Bool = { StopSignal.requested }
    /// On SIGINT/SIGTERM (`StopSignal`), rank 0 also saves the last completed step at once, from
    /// a thread of its own, in case the process is killed before the step in progress ends
    /// (`ImmediateCheckpoint`: `mpirun` sends SIGKILL a second after SIGTERM). `vae-faces train`
    /// turns it on.
    public var savesAtOnceOnStopSignal = false
    private var immediateCheckpoint: ImmediateCheckpoint?
    /// Called after every step (after validation and saving).
    public var onStep: ((StepRecord) -> Void)?
    /// Notes for a person (validation results, saved files); default: standard error, through
    /// the progress bar when there is one.
    public var onMessage: ((String) -> Void)?
    /// Show a progress bar (`TrainingProgress`) on standard error, or on `progressSink`.
    public var showProgress = true
    public var progressStyle: TrainingProgress.Style?
    public var progressSink: ((String) -> Void)?

    private var noiseGenerator: SeededGenerator
    private let validationIndices: [Int]
    private var progress: TrainingProgress?
    /// The artifact metric at each validation (nil without val images).
    private let artifactCurves: ArtifactCurves?

    /// The CSV log's columns; the val columns and the artifact ratios (samples: `val_cb_…`,
    /// reconstructions: `rec_cb_…`) are NaN on steps without a validation.
    public static let logColumns = ["step", "epoch", "loss", "rec", "kl", "images_per_s",
                                    "val_loss", "val_rec", "val_kl", "val_bits_per_dim",
                                    "val_cb_ratio", "val_cb_local_ratio", "rec_cb_ratio", "rec_cb_local_ratio"]

    /// A new run in `folder` (which must not hold a run already), initialised from the seed.
    public init(configuration: TrainingConfiguration, schedule: TrainingSchedule, folder: RunFolder,
                cache: PreparedCache, communicator: any Communicator = SingleProcess()) throws {
        try configuration.validate()
        try Trainer.checkShares(batchSize: configuration.batchSize, communicator)
        if FileManager.default.fileExists(atPath: folder.latestCheckpoint) {
            throw FileError(file: folder.path, "already holds a training run (latest.safetensors); continue it with --resume \(folder.path), or choose another --out folder")
        }
        self.configuration = configuration
        self.schedule = schedule
        self.folder = folder
        self.cache = cache
        self.communicator = communicator
        model = VAE(configuration: configuration.model, seed: configuration.seed)
        Trainer.share(model, communicator)
        optimizer = Adam(parameters: model.parameters, learningRate: configuration.learningRate)
        noiseGenerator = SeededGenerator(seed: configuration.seed, stream: 2)
        state = TrainingState(noiseGenerator: noiseGenerator)
        isResumed = false
        validationIndices = Trainer.validationIndices(cache, limit: schedule.validationLimit)
        artifactCurves = Trainer.artifactCurves(configuration, schedule, cache, validationIndices)
    }

    /// Continues the run of checkpoint `file` (normally `folder/latest.safetensors`).
    /// `learningRate` replaces the run's from here on (e.g. after a NaN); the run is then no
    /// longer the continuation of the uninterrupted one.
    public init(resuming file: Checkpoint.File, schedule: TrainingSchedule, folder: RunFolder, cache: PreparedCache,
                learningRate: Double? = nil, communicator: any Communicator = SingleProcess()) throws {
        var configuration = file.configuration
        if let learningRate { configuration.learningRate = learningRate }
        self.configuration = configuration
        try configuration.validate()
        try Trainer.checkShares(batchSize: configuration.batchSize, communicator)
        self.communicator = communicator
        self.schedule = schedule
        self.folder = folder
        self.cache = cache
        model = VAE(configuration: configuration.model, seed: configuration.seed)
        Trainer.share(model, communicator)
        optimizer = Adam(parameters: model.parameters, learningRate: configuration.learningRate)
        try Checkpoint.restore(file, model: model, optimizer: optimizer)
        state = file.state
        noiseGenerator = file.state.restoredNoiseGenerator!   // validated by Checkpoint.read
        isResumed = true
        lastCheckpointStep = file.state.step
        validationIndices = Trainer.validationIndices(cache, limit: schedule.validationLimit)
        artifactCurves = Trainer.artifactCurves(configuration, schedule, cache, validationIndices)
    }

    /// Throws unless the global batch splits into equal shares, one per rank.
    private static func checkShares(batchSize: Int, _ communicator: any Communicator) throws {
        guard batchSize % communicator.size == 0 else {
            throw VAEFacesError("the batch of \(batchSize) images does not split evenly over \(communicator.size) processes: choose a --batch that is a multiple of \(communicator.size)")
        }
    }

    /// Lets every BatchNorm of `model` compute its statistics over all the ranks' shares.
    private static func share(_ model: VAE, _ communicator: any Communicator) {
        func visit(_ module: any Module) {
            if let batchNorm = module as? BatchNorm { batchNorm.communicator = communicator }
            for child in module.children { visit(child.module) }
        }
        visit(model)
    }

    /// Whether this process writes the run's files and talks to a person (rank 0).
    private var isWriter: Bool { communicator.rank == 0 }

    private static func validationIndices(_ cache: PreparedCache, limit: Int?) -> [Int] {
        let all = cache.indices(in: .val)
        return limit.map { Array(all.prefix($0)) } ?? all
    }

    /// The artifact metric of the run: its samples are the first `max(ArtifactCurves.sampleCount,
    /// gridCount)` fixed latents (so the grid's faces are among them).
    private static func artifactCurves(_ configuration: TrainingConfiguration, _ schedule: TrainingSchedule,
                                       _ cache: PreparedCache, _ validationIndices: [Int]) -> ArtifactCurves? {
        guard !validationIndices.isEmpty else { return nil }
        let latents = sampleLatents(configuration, count: max(ArtifactCurves.sampleCount, schedule.gridCount))
        return ArtifactCurves(latents: latents, cache: cache, indices: validationIndices, batchSize: configuration.batchSize)
    }

    /// The fixed latent vectors of the run's sample grids: `LatentCodes.prior` of the seed.
    public var sampleLatents: Tensor { Trainer.sampleLatents(configuration, count: schedule.gridCount) }

    /// The first `count` fixed latent vectors of the run (row n is the same for any count > n).
    private static func sampleLatents(_ configuration: TrainingConfiguration, count: Int) -> Tensor {
        LatentCodes.prior(count: count, dimension: configuration.model.latentDimension, seed: configuration.seed)
    }

    private func note(_ text: String) {
        guard isWriter else { return }
        if let onMessage { onMessage(text) } else if let progress { progress.message(text) } else {
            FileHandle.standardError.write(Data((text + "\n").utf8))
        }
    }

    /// What one call of `run` works with: the train batches, the CSV log (rank 0's), the ε buffer
    /// of the global batch and the fixed latents of the sample grids; with several ranks, this
    /// rank's share of the images and of ε, and the flat buffer of all parameter gradients.
    private struct Session {
        let loader: BatchLoader
        let log: CSVLog?
        let noise: Tensor
        let latents: Tensor
        let share: Share?
    }

    private struct Share {
        let images: Tensor
        let noise: Tensor
        let gradients: Tensor
    }

    /// Trains until `schedule.steps` or a stop request. Throws `NonFiniteLossError` for a
    /// NaN/Inf loss or gradient (nothing of that step is saved), and file errors.
    ///
    /// The loop: `step` (one update), then the hooks in this order — `validate` and `writeGrids`
    /// when due, `appendLog`, the progress bar, `saveCheckpoints` (which polls `shouldStop`), the
    /// loss plot after a validation — and `onStep`.
    public func run() throws -> TrainingSummary {
        let lock = isWriter ? try RunLock(folder) : nil
        defer { lock?.release() }
        let session = try startSession()
        var summary = TrainingSummary(outcome: .completed, step: state.step,
                                      bestValidationLoss: state.bestValidationLoss, bestValidationStep: state.bestValidationStep)
        if schedule.steps == state.step {
            note("the run is already at step \(state.step): nothing to do")
            return summary
        }
        if showProgress && isWriter {
            progress = TrainingProgress(totalSteps: schedule.steps, imagesPerStep: configuration.batchSize, style: progressStyle,
                                        sink: progressSink)
        }
        defer {
            progress?.finish()
            progress = nil
        }
        if savesAtOnceOnStopSignal && isWriter {
            let immediate = ImmediateCheckpoint(model: model, optimizer: optimizer, configuration: configuration,
                                                path: folder.latestCheckpoint, state: state, savedStep: lastCheckpointStep,
                                                say: { FileHandle.standardError.write(Data(("\n" + $0 + "\n").utf8)) })
            immediateCheckpoint = immediate
            immediate.start()
        }
        defer {
            immediateCheckpoint?.stop()
            immediateCheckpoint = nil
        }
        while state.step < schedule.steps {
            var record = try step(session)
            let isLast = record.step == schedule.steps
            let epochEnded = state.position.batch == 0
            if !validationIndices.isEmpty && (epochEnded || isLast || Trainer.every(schedule.evalEvery, record.step)) {
                try validate(&record)
            }
            if isWriter && (record.validation != nil || Trainer.every(schedule.sampleEvery, record.step)) {
                try writeGrids(step: record.step, latents: session.latents)
            }
            if communicator.isDistributed && Trainer.every(schedule.checkpointEvery, record.step) {
                try checkReplicasAgree(step: record.step)
            }
            try appendLog(record, to: session.log)
            progress?.update(step: record.step, epoch: record.epoch,
                             values: [("rec", record.loss.reconstruction), ("kl", record.loss.kl)])
            let stopRequested = try saveCheckpoints(isLast: isLast, epochEnded: epochEnded)
            if record.validation != nil && !isLast { try writeLossPlot() }
            summary.add(record, state: state)
            onStep?(record)
            if stopRequested && !isLast {
                summary.outcome = .stopped
                note("stopped after step \(record.step); checkpoint saved to \(folder.latestCheckpoint)")
                break
            }
        }
        try writeLossPlot()
        return summary
    }

    /// Throws when a rank's weights (or BatchNorm statistics) differ from rank 0's by a bit: the
    /// ranks would no longer train one model. Compares a 64-bit FNV-1a hash of every value.
    private func checkReplicasAgree(step: Int) throws {
        let own = Trainer.checksum(model.stateDict)
        var root = own
        withUnsafeMutableBytes(of: &root) { communicator.broadcast($0, from: 0) }
        let differing = Int(communicator.allReduceSum([root == own ? 0 : 1])[0])
        guard differing == 0 else {
            throw VAEFacesError("step \(step): the weights of \(differing) of \(communicator.size) processes differ from rank 0's (weight checksums disagree), so they no longer train one model; the run stops. Resume from the last checkpoint, \(folder.latestCheckpoint)")
        }
    }

    /// FNV-1a over the bit patterns of every value of `tensors`, in order.
    static func checksum(_ tensors: [(name: String, tensor: Tensor)]) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for (_, tensor) in tensors {
            for value in UnsafeBufferPointer(tensor.buffer) {
                hash = (hash ^ UInt64(value.bitPattern)) &* 0x0000_0100_0000_01b3
            }
        }
        return hash
    }

    /// Checks the schedule against the state, says what a person should know before a session,
    /// and opens the loader (at the state's data position) and the log (cut back to the state's
    /// step when resuming).
    private func startSession() throws -> Session {
        try schedule.validate()
        guard schedule.steps >= state.step else {
            throw FileError(file: folder.latestCheckpoint, "the run is already at step \(state.step); ask for more steps than that (--steps)")
        }
        if isResumed && state.threads != Threading.workers {
            note("note: the checkpoint was written with \(state.threads) worker threads and this session uses \(Threading.workers): losses will agree with an uninterrupted run to rounding, not bit for bit")
        }
        let ranks = communicator.isDistributed ? communicator.size : nil
        if isResumed && state.ranks != ranks {
            note("note: the checkpoint was written by \(state.ranks ?? 1) processes and this session has \(communicator.size): losses will agree with an uninterrupted run to rounding, not bit for bit")
        }
        state.ranks = ranks
        if validationIndices.isEmpty {
            note("note: \(cache.path) has no val images: no validation, reconstruction grids or best.safetensors")
        }
        let loader = try BatchLoader(cache: cache, split: .train, batchSize: configuration.batchSize,
                                     mode: .training(seed: configuration.seed, start: state.position))
        let log = isWriter ? try CSVLog(path: folder.log, columns: Trainer.logColumns, resumingAfter: isResumed ? state.step : nil) : nil
        let d = configuration.model.latentDimension, shareSize = configuration.batchSize / communicator.size
        let share = communicator.isDistributed
            ? Share(images: Tensor(shape: BatchLoader.shape(images: shareSize)), noise: Tensor(shape: [shareSize, d]),
                    gradients: Tensor(shape: [model.parameters.reduce(0) { $0 + $1.parameter.gradient.count }]))
            : nil
        return Session(loader: loader, log: log, noise: Tensor(shape: [configuration.batchSize, d]), latents: sampleLatents,
                       share: share)
    }

    /// One update on the loader's next batch: fresh ε from the run's noise generator, the
    /// model's gradients, Adam's step; then the state advances (step, data position, noise
    /// generator, training time).
    ///
    /// The NaN policy: a non-finite loss skips Adam, and Adam refuses non-finite gradients;
    /// either way the step's row is logged, the state stays at the last good step and
    /// `NonFiniteLossError` names the checkpoint to resume from.
    private func step(_ session: Session) throws -> StepRecord {
        guard let batch = try session.loader.nextBatch() else { preconditionFailure("a training loader never ends") }
        let noise = session.noise
        for i in 0..<noise.count { noise[i] = noiseGenerator.nextNormal() }

        let start = Trainer.now()
        let loss: VAELossValue
        if let share = session.share {
            loss = trainShare(share, of: batch.tensor, noise: noise)
        } else {
            loss = model.trainingStep(batch.tensor, noise: noise)
        }
        // Adam's step and the state's advance as one (a checkpoint written from another thread
        // sees both or neither: `ImmediateCheckpoint`).
        var record = StepRecord(step: state.step + 1, epoch: batch.position.epoch + 1, loss: loss, seconds: 0)
        let completeStep = { [self] () -> (Adam.Update?, TrainingState?) in
            let update = loss.total.isFinite ? optimizer.step() : nil
            record.seconds = Trainer.now() - start
            guard let update, update.applied else { return (update, nil) }
            state.step = record.step
            state.position = session.loader.position
            state.setNoiseGenerator(noiseGenerator)
            state.trainingSeconds += record.seconds
            return (update, state)
        }
        let update = immediateCheckpoint.map { $0.completeStep(completeStep) } ?? completeStep().0

        guard let update, update.applied else {
            try? appendLog(record, to: session.log)
            let what = update == nil
                ? "the loss is not finite (total \(loss.total), reconstruction \(loss.reconstruction), KL \(loss.kl))"
                : "the gradients are not finite (norm \(update!.gradientNorm)) although the loss is \(loss.total)"
            throw NonFiniteLossError(step: record.step, what: what, checkpoint: lastCheckpointStep.map { _ in folder.latestCheckpoint },
                                     checkpointStep: lastCheckpointStep)
        }
        return record
    }

    /// This rank's step of the global batch `images` with its ε `noise`: forward and backward on
    /// this rank's share, then the loss and the gradients summed over the ranks and divided by
    /// their number, so they are the whole batch's means (every rank's loss is a mean over an
    /// equal share).
    private func trainShare(_ share: Share, of images: Tensor, noise: Tensor) -> VAELossValue {
        let rank = communicator.rank, ranks = Double(communicator.size)
        share.images.pointer.update(from: images.pointer + rank * share.images.count, count: share.images.count)
        share.noise.pointer.update(from: noise.pointer + rank * share.noise.count, count: share.noise.count)
        let local = model.trainingStep(share.images, noise: share.noise)
        let sums = communicator.allReduceSum([local.reconstruction, local.kl])

        var offset = 0
        for (_, parameter) in model.parameters {
            (share.gradients.pointer + offset).update(from: parameter.gradient.pointer, count: parameter.gradient.count)
            offset += parameter.gradient.count
        }
        communicator.allReduceSum(share.gradients.buffer)
        let scale = Float(1 / ranks)
        offset = 0
        for (_, parameter) in model.parameters {
            let g = parameter.gradient.pointer, sum = share.gradients.pointer + offset
            for i in 0..<parameter.gradient.count { g[i] = sum[i] * scale }
            offset += parameter.gradient.count
        }
        return VAELossValue(reconstruction: sums[0] / ranks, kl: sums[1] / ranks, klWeight: configuration.model.klWeight)
    }

    // MARK: Hooks

    /// The −ELBO on the val images and the artifact ratios of the samples and reconstructions
    /// (fixed noise and latents, inference-mode BatchNorm: training is not disturbed), recorded in
    /// `record` and noted for a person; a new lowest −ELBO is saved as best.safetensors.
    private func validate(_ record: inout StepRecord) throws {
        let step = record.step
        let result = Evaluation.run(model, cache: cache, indices: validationIndices, batchSize: configuration.batchSize,
                                    noiseSeed: configuration.seed, communicator: communicator)
        let artifacts = isWriter ? artifactCurves?.measure(model) : nil
        record.validation = result
        record.artifacts = artifacts
        state.lastValidation = result
        state.lastValidationStep = step
        var text = "step \(step) (epoch \(record.epoch)): val −ELBO \(Trainer.format(result.negativeELBO)) nats/image, "
            + "\(String(format: "%.4f", result.bitsPerDimension)) bits/dim (rec \(Trainer.format(result.reconstruction)), KL \(Trainer.format(result.kl)))"
        if let artifacts {
            let ratios = { (r: ArtifactRatios) in "R(cb) \(Trainer.format(r.cb ?? .nan)), R(cb_local) \(Trainer.format(r.cbLocal ?? .nan))" }
            text += "; artifacts against real val faces: samples \(ratios(artifacts.samples)), reconstructions \(ratios(artifacts.reconstructions))"
        }
        if state.bestValidationLoss.map({ result.negativeELBO < $0 }) ?? true {
            state.bestValidationLoss = result.negativeELBO
            state.bestValidationStep = step
            if isWriter {
                try Checkpoint.write(to: folder.bestCheckpoint, model: model, optimizer: optimizer,
                                     configuration: configuration, state: state)
            }
            text += ", best so far"
        }
        immediateCheckpoint?.record(state)
        note(text)
    }

    /// The step's row of the CSV log (`logColumns`); the val columns and the artifact ratios are
    /// NaN without a validation.
    private func appendLog(_ record: StepRecord, to log: CSVLog?) throws {
        guard let log else { return }
        let loss = record.loss, validation = record.validation, artifacts = record.artifacts
        try log.append([Double(record.step), Double(record.epoch), loss.total, loss.reconstruction, loss.kl,
                        Double(configuration.batchSize) / record.seconds,
                        validation?.negativeELBO ?? .nan, validation?.reconstruction ?? .nan,
                        validation?.kl ?? .nan, validation?.bitsPerDimension ?? .nan,
                        artifacts?.samples.cb ?? .nan, artifacts?.samples.cbLocal ?? .nan,
                        artifacts?.reconstructions.cb ?? .nan, artifacts?.reconstructions.cbLocal ?? .nan])
    }

    /// Polls `shouldStop` and writes latest.safetensors on a stop request, at the last step, at an
    /// epoch's end and every `checkpointEvery` steps. Returns whether a stop was requested (on
    /// any rank: all of them stop after the same step).
    private func saveCheckpoints(isLast: Bool, epochEnded: Bool) throws -> Bool {
        let stopRequested = communicator.any(shouldStop())
        if stopRequested || isLast || epochEnded || Trainer.every(schedule.checkpointEvery, state.step) {
            try saveLatest()
        }
        return stopRequested
    }

    /// Writes `latest.safetensors` for the current state (rank 0; the others only note the step).
    public func saveLatest() throws {
        if isWriter {
            let write = { [self] in
                try Checkpoint.write(to: folder.latestCheckpoint, model: model, optimizer: optimizer,
                                     configuration: configuration, state: state)
            }
            if let immediateCheckpoint { try immediateCheckpoint.write(step: state.step, write) } else { try write() }
        }
        lastCheckpointStep = state.step
    }

    /// The sample grid of the fixed latents and the reconstruction grid of the first val images.
    private func writeGrids(step: Int, latents: Tensor) throws {
        let columns = schedule.gridColumns
        let samples = Sampler.decode(model, latents: latents, batchSize: configuration.batchSize)
        try PNG.write(Grid.make(tiles: samples, columns: columns), to: folder.sampleGrid(step: step))
        if !validationIndices.isEmpty {
            let grid = Sampler.reconstructionGrid(model, cache: cache, indices: validationIndices,
                                                  count: schedule.gridCount, columns: columns)
            try PNG.write(grid, to: folder.reconstructionGrid(step: step))
        }
    }

    /// `loss.svg`: the training loss (averaged over buckets of steps when there are many) and
    /// the validation loss, and below them the artifact ratios, from the CSV log (so a resumed run
    /// plots its whole history).
    public func writeLossPlot() throws {
        guard isWriter else { return }
        try Trainer.writeLossPlot(log: folder.log, to: folder.lossPlot)
    }

    /// Plots a training log as an SVG: the train `loss` and `val_loss` columns against the step;
    /// under them, when the log has them, the four artifact ratios (log scale, with real faces'
    /// level R = 1).
    public static func writeLossPlot(log: String, to path: String, maxPoints: Int = 500) throws {
        let columns = try CSVLog.read(path: log)
        guard let steps = columns["step"], let loss = columns["loss"], !steps.isEmpty else { return }
        var plot = LinePlot(title: "Training", xLabel: "step", yLabel: "negative ELBO (nats / image)")
        let train = zip(steps, loss).filter { $0.1.isFinite }
        let bucket = max(1, (train.count + maxPoints - 1) / maxPoints)
        var xs = [Double](), ys = [Double]()
        for start in stride(from: 0, to: train.count, by: bucket) {
            let slice = train[start..<min(train.count, start + bucket)]
            xs.append(slice.last!.0)
            ys.append(slice.map(\.1).reduce(0, +) / Double(slice.count))
        }
        if !xs.isEmpty { plot.add(bucket > 1 ? "train loss (mean of \(bucket) steps)" : "train loss", x: xs, y: ys, markers: false) }
        if let val = columns["val_loss"] {
            let points = zip(steps, val).filter { $0.1.isFinite }
            if !points.isEmpty { plot.add("val −ELBO", x: points.map(\.0), y: points.map(\.1), markers: true) }
        }
        guard !plot.series.isEmpty else { return }
        try LinePlot.write([plot] + artifactPlot(columns, steps: steps), to: path)
    }

    /// The log's artifact ratios against the step (log scale) with the real faces' level R = 1
    /// over all the log's steps (so its step axis is the loss plot's), or nothing when the log has
    /// no finite ratio (no validation yet, or a log from before these columns).
    private static func artifactPlot(_ columns: [String: [Double]], steps: [Double]) -> [LinePlot] {
        var plot = LinePlot(title: "Checkerboard artifacts", xLabel: "step",
                            yLabel: "ratio of mean score to real val faces", logY: true)
        for (column, name) in [("val_cb_ratio", "samples R(cb)"), ("val_cb_local_ratio", "samples R(cb_local)"),
                               ("rec_cb_ratio", "reconstructions R(cb)"), ("rec_cb_local_ratio", "reconstructions R(cb_local)")] {
            let points = zip(steps, columns[column] ?? []).filter { $0.1.isFinite }
            plot.add(name, x: points.map(\.0), y: points.map(\.1), markers: true)
        }
        guard plot.series.contains(where: { !$0.points.isEmpty }), let first = steps.min(), let last = steps.max() else { return [] }
        plot.add("real faces (R = 1)", x: [first, last], y: [1, 1], markers: false)
        return [plot]
    }

    private static func every(_ interval: Int?, _ step: Int) -> Bool {
        guard let interval, interval > 0 else { return false }
        return step % interval == 0
    }

    static func format(_ value: Double) -> String { TrainingProgress.formatValue(value) }

    static func now() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
    }
}
