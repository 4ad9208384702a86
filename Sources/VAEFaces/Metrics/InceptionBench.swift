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

    /// Times `repeats` batches of random 64×64 faces through the network.
    public static func run(_ options: Options) throws -> Report {
        let network = try InceptionV3(contentsOf: options.weights)
        let side = VAEConfiguration.imageSize, n = options.batch
        var generator = SeededGenerator(seed: 0)
        let images = (0..<(n * PreparedCache.imageBytes)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
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
