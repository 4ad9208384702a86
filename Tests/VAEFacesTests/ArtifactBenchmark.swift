import Foundation
import Testing
import NeuralCore
@testable import VAEFaces

/// Scoring speed, a figure for people, not a timed test: run with
/// `VAE_FACES_BENCH=1 swift test -c release --filter ArtifactBenchmark`.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["VAE_FACES_BENCH"] != nil, "set VAE_FACES_BENCH=1 to run"))
struct ArtifactBenchmark {
    @Test func scoringSpeedOn64x64RGB() {
        // 64 distinct face-like 8-bit images (smooth + noise), cycled.
        let pool: [[UInt8]] = (0..<64).map { k in
            let image = TestImage.textured(channels: 3, height: 64, width: 64, seed: UInt64(k))
            var bytes = [UInt8](repeating: 0, count: 64 * 64 * 3)
            for y in 0..<64 { for x in 0..<64 { for c in 0..<3 {
                bytes[(y * 64 + x) * 3 + c] = UInt8(max(0, min(255, (image[c, y, x] * 255).rounded())))
            } } }
            return bytes
        }
        let count = 20_000
        for workers in [1, ProcessInfo.processInfo.activeProcessorCount] {
            Threading.configure(workers: workers)
            for maps in [ArtifactMapOptions.none, ArtifactMapOptions(spectrum: true, heatmap: true)] {
                var best = Double.infinity, bestCPU = Double.infinity
                for _ in 0..<3 {
                    let cpuStart = Self.processCPUSeconds()
                    let start = DispatchTime.now().uptimeNanoseconds
                    let result = ArtifactBatch.run(count: count, maps: maps) { i, worker in
                        pool[i % pool.count].withUnsafeBufferPointer { worker.score(interleaved: $0, channels: 3, height: 64, width: 64) }
                    }
                    let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                    #expect(result.outcomes.count == count)
                    best = min(best, seconds)
                    bestCPU = min(bestCPU, Self.processCPUSeconds() - cpuStart)
                }
                print("artifact-score benchmark: \(workers) thread(s), maps \(maps.spectrum ? "spectrum+heatmap" : "none"): " +
                      "\(Int(Double(count) / best)) images/s wall, \(Int(Double(count) / bestCPU)) images per CPU-second " +
                      "(best of 3 × \(count) 64×64 RGB images)")
            }
        }
        Threading.configure(workers: nil)
    }

    /// CPU time of the whole process (all threads), in seconds.
    static func processCPUSeconds() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }
}
