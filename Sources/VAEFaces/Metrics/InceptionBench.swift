import Foundation
import NeuralCore

/// `vae-faces bench --inception FILE`: images per second of the FID feature extractor at one batch
/// size, as `Scripts/inception_golden.py --bench` times pytorch-fid's network on the same weights.
///
/// Both clocks are kept: wall time, and the process's CPU time (every thread), which a shared
/// machine disturbs much less: `images_per_cpu_s` × threads is the rate the threads would reach
/// with the cores to themselves.
public enum InceptionBench {
    public struct Options: Sendable {
        public var weights: String
        public var batch = 32
        /// Timed batches (after `warmup` untimed ones).
        public var repeats = 3
        public var warmup = 1

        public init(weights: String) { self.weights = weights }
    }

    public struct Report: Encodable, Sendable {
        public var threads: Int
        public var batch: Int
        public var images: Int
        public var wall_s: Double
        public var cpu_s: Double
        public var images_per_s: Double
        public var images_per_cpu_s: Double
        /// images_per_cpu_s × threads.
        public var images_per_s_from_cpu: Double
        public var other_load: Double?

        /// The report for people, one line (and a note when other processes were busy).
        public var text: String {
            var line = String(format: "FID Inception, batch %d, %d threads, %d images: %.2f images/s wall, %.2f per CPU-second, "
                              + "%.2f images/s from CPU time", batch, threads, images, images_per_s, images_per_cpu_s, images_per_s_from_cpu)
            if let other_load { line += String(format: "\nother processes kept %.2f CPUs busy", other_load) }
            return line
        }
    }

    /// `count` random 64×64 RGB faces (HWC bytes), the same every run.
    static func randomFaces(_ count: Int) -> [UInt8] {
        var generator = SeededGenerator(seed: 0)
        return (0..<(count * PreparedCache.imageBytes)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
    }

    /// The CPU time of each step of the network (`InceptionV3.profile`) over `repeats` batches
    /// of random faces, after `warmup` untimed ones.
    public static func profile(_ options: Options) throws -> [StepTime] {
        let network = try InceptionV3(contentsOf: options.weights)
        let side = VAEConfiguration.imageSize, n = options.batch, images = randomFaces(n)
        return images.withUnsafeBufferPointer { images in
            for _ in 0..<options.warmup { _ = network.features(images: images, count: n, side: side) }
            return network.profile(images: UnsafeBufferPointer(rebasing: images[...]), count: n, side: side,
                                   repeats: options.repeats)
        }
    }

    /// The profile as a table: step, shape, ms per image (CPU), share of the total, GFLOP/s per core.
    public static func profileText(_ steps: [StepTime]) -> String {
        let total = steps.reduce(0) { $0 + $1.cpu_s / Double($1.images) }
        var lines = steps.map { step in
            let ms = step.cpu_s / Double(step.images) * 1e3
            return LayerBench.padded(step.name, 28) + LayerBench.padded(step.shape, 40)
                + String(format: "%7.2f ms %5.1f %%", ms, ms / total / 10)
                + (step.flops > 0 ? String(format: " %6.1f GFLOP/s", step.gflops_per_core) : "")
        }
        let flops = steps.reduce(0) { $0 + $1.flops }
        lines.append(String(format: "total %.1f ms CPU per image, %.2f GFLOP, %.1f GFLOP/s per core",
                            total * 1e3, flops / 1e9, flops / total / 1e9))
        return lines.joined(separator: "\n")
    }

    /// Times `repeats` batches of random 64×64 faces through the network.
    public static func run(_ options: Options) throws -> Report {
        let network = try InceptionV3(contentsOf: options.weights)
        let side = VAEConfiguration.imageSize, n = options.batch, images = randomFaces(n)
        let pass = {
            _ = images.withUnsafeBufferPointer { network.features(images: $0, count: n, side: side) }
        }
        for _ in 0..<options.warmup { pass() }
        let load = CPULoad.sample()
        let wall0 = Trainer.now(), cpu0 = processCPUSeconds()
        for _ in 0..<options.repeats { pass() }
        let wall = Trainer.now() - wall0, cpu = processCPUSeconds() - cpu0
        let count = n * options.repeats, threads = Threading.workers
        return Report(threads: threads, batch: n, images: count, wall_s: wall, cpu_s: cpu,
                      images_per_s: Double(count) / wall, images_per_cpu_s: Double(count) / cpu,
                      images_per_s_from_cpu: Double(count) / cpu * Double(threads),
                      other_load: CPULoad.others(since: load, seconds: wall))
    }

    /// CPU seconds of the whole process (all threads).
    static func processCPUSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }
}

/// The CPU time of one step of the FID Inception's forward pass (`InceptionV3.profile`).
public struct StepTime: Encodable, Sendable {
    /// The state_dict prefix of the convolution (`blocks.2.4.branch7x7_2`), the block and kind
    /// of a pool (`blocks.2.0.avgpool`), or "input" / "pool3".
    public var name: String
    /// Input → output shape and kernel: "768×17² → 192×17², 1×7".
    public var shape: String
    /// Multiply-adds × 2 per image (0 for the steps that are not convolutions).
    public var flops: Double
    /// Thread CPU seconds, summed over the images and workers.
    public var cpu_s: Double
    public var images: Int

    /// GFLOP/s of one core while it ran this step.
    public var gflops_per_core: Double { flops * Double(images) / cpu_s / 1e9 }
}

/// Thread CPU time and FLOPs per named step, in the order the steps first ran: one clock per
/// worker, merged when the workers are done.
final class StepClock {
    private(set) var steps: [StepTime] = []
    private var index: [String: Int] = [:]

    /// Runs `body`, step `name` on `images` images, and charges its thread CPU time to the step.
    func time(_ name: String, shape: String, flops: Double, images: Int, _ body: () -> Void) {
        let t0 = Self.threadCPUSeconds()
        body()
        add(StepTime(name: name, shape: shape, flops: flops, cpu_s: Self.threadCPUSeconds() - t0, images: images))
    }

    /// Adds another worker's (or run's) steps.
    func merge(_ other: [StepTime]) { other.forEach(add) }

    private func add(_ step: StepTime) {
        guard let i = index[step.name] else {
            index[step.name] = steps.count
            steps.append(step)
            return
        }
        steps[i].cpu_s += step.cpu_s
        steps[i].images += step.images
    }

    static func threadCPUSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }
}
