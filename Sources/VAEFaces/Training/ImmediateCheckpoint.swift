import Foundation
import NeuralCore
import TensorIO

/// Saves the last completed step at once when SIGINT/SIGTERM arrives, from a thread of its own,
/// while the step in progress goes on.
///
/// Why: the trainer's normal answer to a stop signal — finish the step, save, exit — needs the
/// rest of a step. `mpirun` gives its ranks one second after forwarding Ctrl-C or SIGTERM before
/// it sends SIGKILL (Open MPI's `odls_base_sigkill_timeout`), and a batch scheduler's grace time
/// may be short too; a step can be longer. So rank 0 writes the last completed step within a few
/// tens of milliseconds, and the normal path then saves the newer step if it gets the time.
///
/// What makes the checkpoint consistent although the training thread keeps computing: the
/// weights and Adam's moments change only in Adam's step, which the trainer runs inside
/// `completeStep` under this object's lock together with the state's advance; the BatchNorm
/// running statistics change during every forward pass, so `completeStep` keeps a copy of them
/// (a few thousand numbers) as they were at the end of the step. The checkpoint is the live
/// weights and moments, the copied statistics and the copied state. The trainer's own writes of
/// `latest.safetensors` go through `write` (the same lock), so an older step never replaces a
/// newer one.
final class ImmediateCheckpoint: @unchecked Sendable {
    private let lock = NSLock()
    private let model: VAE
    private let optimizer: Adam
    private let configuration: TrainingConfiguration
    private let path: String
    private let signalled: @Sendable () -> Bool
    private let say: @Sendable (String) -> Void
    /// The last completed step: its state and a copy of the model's buffers (BatchNorm running
    /// statistics and batch counts) as they were then.
    private var state: TrainingState
    private let buffers: [(name: String, tensor: Tensor)]
    /// The model's own buffers, in the order of `buffers` (listed once: `model.buffers` builds
    /// its names anew at every call).
    private let liveBuffers: [Tensor]
    /// The step `latest.safetensors` holds, as far as this session knows.
    private var savedStep: Int?
    private var finished = false

    /// Watches `signalled` (polled every 10 ms) once `start` is called; `say` tells a person what
    /// was saved. `state` is the run's state now (a completed step); `savedStep` the step of the
    /// checkpoint on disk, if any.
    init(model: VAE, optimizer: Adam, configuration: TrainingConfiguration, path: String, state: TrainingState,
         savedStep: Int?, signalled: @escaping @Sendable () -> Bool = { StopSignal.requested },
         say: @escaping @Sendable (String) -> Void) {
        self.model = model
        self.optimizer = optimizer
        self.configuration = configuration
        self.path = path
        self.state = state
        self.savedStep = savedStep
        self.signalled = signalled
        self.say = say
        let live = model.buffers
        liveBuffers = live.map(\.tensor)
        buffers = live.map { ($0.name, Tensor(shape: $0.tensor.shape)) }
        copyBuffers()
    }

    /// Starts the watching thread.
    func start() {
        let thread = Thread { [self] in watch() }
        thread.name = "vae-faces immediate checkpoint"
        thread.start()
    }

    /// Ends the watching thread (at the end of a training session; a save under way finishes first).
    func stop() {
        lock.withLock { finished = true }
    }

    /// Runs `update` — Adam's step and the state's advance — so that no checkpoint sees one
    /// without the other. `update` returns the new state when the step was completed (the
    /// buffers are then copied as they are now), or nil when it was not (a non-finite loss or
    /// gradient: nothing changed but the running statistics of the failed forward pass, which
    /// are not taken).
    func completeStep<T>(_ update: () throws -> (T, TrainingState?)) rethrows -> T {
        try lock.withLock {
            let (result, completed) = try update()
            if let completed {
                state = completed
                copyBuffers()
            }
            return result
        }
    }

    /// Takes a change of the state between steps (a validation's best loss).
    func record(_ newState: TrainingState) {
        lock.withLock { state = newState }
    }

    /// Runs the trainer's own write of `latest.safetensors` at `step`, never at the same time
    /// as this object's.
    func write(step: Int, _ save: () throws -> Void) rethrows {
        try lock.withLock {
            try save()
            savedStep = step
        }
    }

    private func copyBuffers() {
        for ((_, copy), live) in zip(buffers, liveBuffers) {
            copy.pointer.update(from: live.pointer, count: live.count)
        }
    }

    private func watch() {
        while !lock.withLock({ finished }) {
            if signalled() {
                saveLastCompletedStep()
                return
            }
            usleep(10_000)
        }
    }

    /// Writes the last completed step unless it is on disk already (or is step 0: nothing trained).
    private func saveLastCompletedStep() {
        let start = Trainer.now()
        let outcome: String? = lock.withLock {
            guard !finished, state.step > 0, savedStep != state.step else { return nil }
            do {
                try Checkpoint.write(to: path, model: model, optimizer: optimizer, configuration: configuration,
                                     state: state, buffers: buffers)
                savedStep = state.step
                let seconds = String(format: "%.2f", Trainer.now() - start)
                return "stop requested: step \(state.step), the last completed one, saved at once to \(path) (\(seconds) s); the step in progress finishes next if there is time"
            } catch {
                return "stop requested: could not save step \(state.step) at once (\(error)); \(path) keeps step \(savedStep.map(String.init) ?? "none")"
            }
        }
        if let outcome { say(outcome) }
    }
}
