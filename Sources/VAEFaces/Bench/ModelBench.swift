import Foundation
import NeuralCore

/// Whole-model throughput (`vae-faces bench --decoder X`), measured as the PyTorch peer's
/// `torch_vae.py bench` measures it, so `../shared/bench/compare.sh` can set the two side by side:
///
/// - training step: forward (training-mode BatchNorm), loss, backward, Adam step on one fixed
///   synthetic batch (uniform images, normal ε), the same work as a step of `Trainer`;
/// - sampling: decoder forward of `batch` latent vectors + sigmoid, inference-mode BatchNorm;
/// - `warmup` untimed repetitions of each, then the median of `steps` training steps and of
///   `sampleSteps` (default 3 × steps) sampling calls, as images per second.
public enum ModelBench {
    public struct Options: Sendable {
        public var decoder: DecoderKind = .dcl
        public var batch = 64
        public var steps = 20
        public var sampleSteps: Int?
        public var warmup = 3
        public var seed: UInt64 = 0
        public init() {}
    }

    /// The JSON report; key names follow the peer's (`train_images_per_s`, `sample_images_per_s`).
    public struct Report: Codable, Sendable {
        public var framework = "vae-faces"
        public var decoder: String
        public var batch: Int
        public var threads: Int
        public var steps: Int
        public var sample_steps: Int
        /// Median seconds per training step / per sampling call.
        public var train_step_s: Double
        public var train_step_s_min: Double
        public var sample_s: Double
        public var sample_s_min: Double
        public var train_images_per_s: Double
        public var sample_images_per_s: Double
        /// Median milliseconds of the parts of a training step: forward (encoder, reparameterisation,
        /// decoder), backward (the loss, BCE + KL, and its gradients through the model), Adam.
        public var train_phases_ms: [String: Double]
        /// Peak resident memory of the process so far (VmHWM), MiB.
        public var peak_memory_mib: Double?
        /// Average number of CPUs other processes kept busy during the timing (nil off Linux).
        public var other_load_train: Double?
        public var other_load_sample: Double?
        public var final_loss: Double
    }

    public static func run(_ options: Options) -> Report {
        let b = options.batch
        let model = VAE(configuration: VAEConfiguration(decoder: options.decoder), seed: options.seed)
        let optimizer = Adam(parameters: model.parameters)
        var rng = SeededGenerator(seed: options.seed, stream: 7)
        let size = VAEConfiguration.imageSize
        let x = Tensor(shape: [b, VAEConfiguration.imageChannels, size, size])
        for i in 0..<x.count { x[i] = rng.nextUniform() }
        let noise = Tensor(shape: [b, model.configuration.latentDimension])
        rng.fillNormal(noise)
        var lastLoss = 0.0
        var phases: [String: [Double]] = ["forward": [], "backward": [], "adam": []]
        func trainStep() {
            let t0 = Trainer.now()
            let output = model.forward(x, noise: noise, mode: .training)
            let t1 = Trainer.now()
            lastLoss = model.backward(output, target: x).total
            let t2 = Trainer.now()
            optimizer.step()
            let t3 = Trainer.now()
            for (name, seconds) in [("forward", t1 - t0), ("backward", t2 - t1), ("adam", t3 - t2)] {
                phases[name]!.append(seconds * 1e3)
            }
        }
        let trainTimes = timed(warmup: options.warmup, repeats: options.steps, trainStep)
        let trainLoad = trainTimes.otherLoad

        let z = Tensor(shape: [b, model.configuration.latentDimension])
        rng.fillNormal(z)
        let sampleSteps = options.sampleSteps ?? 3 * options.steps
        let sampleTimes = timed(warmup: options.warmup, repeats: sampleSteps) { _ = model.decode(z) }

        let train = LayerBench.median(trainTimes.seconds), sample = LayerBench.median(sampleTimes.seconds)
        return Report(decoder: options.decoder.rawValue, batch: b, threads: Threading.workers, steps: options.steps,
                      sample_steps: sampleSteps, train_step_s: train, train_step_s_min: trainTimes.seconds.min() ?? .nan,
                      sample_s: sample, sample_s_min: sampleTimes.seconds.min() ?? .nan,
                      train_images_per_s: Double(b) / train, sample_images_per_s: Double(b) / sample,
                      train_phases_ms: phases.mapValues { LayerBench.median(Array($0.suffix(options.steps))) },
                      peak_memory_mib: peakResidentMemoryMiB(), other_load_train: trainLoad,
                      other_load_sample: sampleTimes.otherLoad, final_loss: lastLoss)
    }

    /// Seconds of each timed repetition after `warmup` untimed ones, and the other processes' load.
    static func timed(warmup: Int, repeats: Int, _ body: () -> Void) -> (seconds: [Double], otherLoad: Double?) {
        for _ in 0..<warmup { body() }
        let load = CPULoad.sample()
        let start = Trainer.now()
        var seconds = [Double]()
        seconds.reserveCapacity(repeats)
        for _ in 0..<repeats {
            let t = Trainer.now()
            body()
            seconds.append(Trainer.now() - t)
        }
        return (seconds, CPULoad.others(since: load, seconds: Trainer.now() - start))
    }

    /// VmHWM of /proc/self/status in MiB (nil where /proc is missing).
    public static func peakResidentMemoryMiB() -> Double? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if fields.count >= 2, let kib = Double(fields[1]) { return kib / 1024 }
        }
        return nil
    }
}
