import ArgumentParser
import Foundation
import VAEFaces

/// `vae-faces bench`: speed measurements. `--layers` times every convolution-type layer at the
/// reference model's shapes; whole-model benchmarks are further modes of this command.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Time layers (--layers) at the reference model's shapes.",
        discussion: """
            --layers: forward and backward of each convolution-type layer (the four up-sampler \
            kinds at the decoder's four Up layers, the encoder convolutions, the final \
            convolution), median of --repeats after warm-up, with GFLOP/s and the machine's SGEMM \
            throughput for scale. Run on a quiet machine.
            """)

    @Flag(help: "Time each convolution-type layer of the model.")
    var layers = false

    @Option(help: "Images per batch.")
    var batch = 64

    @Option(help: "Timed repetitions (the median is reported).")
    var repeats = 10

    @Option(help: "Untimed warm-up repetitions.")
    var warmup = 2

    @Option(help: "Only layers whose name contains this text (e.g. pixeldcl, encoder, dcl.3).")
    var filter: String?

    @Option(help: ArgumentHelp("Images × pixels per SGEMM for the layers that batch images (tuning).", visibility: .hidden))
    var groupColumns: Int?

    @Flag(help: ArgumentHelp("Time with the thread CPU clock (use with --threads 1 on a busy machine).", visibility: .hidden))
    var cpuTime = false

    @Flag(help: "Print the report as JSON.")
    var json = false

    @OptionGroup var threads: ThreadOptions

    func validate() throws {
        guard layers else { throw ValidationError("choose what to benchmark: --layers") }
        guard batch > 0 else { throw ValidationError("--batch must be positive, got \(batch)") }
        guard repeats > 0 else { throw ValidationError("--repeats must be positive, got \(repeats)") }
        guard warmup >= 0 else { throw ValidationError("--warmup must be 0 or more, got \(warmup)") }
    }

    func run() throws {
        threads.apply()
        var options = LayerBench.Options()
        options.batch = batch
        options.repeats = repeats
        options.warmup = warmup
        options.filter = filter
        options.groupColumns = groupColumns
        options.threadCPUTime = cpuTime
        let report = LayerBench.run(options, log: json ? { printError($0) } : { print($0) })
        if json {
            try printJSON(report)
            return
        }
        print("Up-sampler totals over the decoder's four Up layers (batch \(batch), \(report.threads) threads):")
        for kind in UpsamplerKind.allCases {
            guard let t = report.upsamplers[kind.rawValue] else { continue }
            print("  " + LayerBench.padded(kind.rawValue, 11)
                  + String(format: "forward %8.2f ms   backward %8.2f ms   total %8.2f ms",
                           t.forward_ms, t.backward_ms, t.forward_ms + t.backward_ms))
        }
        if let load = report.other_load {
            print(String(format: "other processes kept %.2f CPUs busy", load) + (load > 0.2 ? " (numbers disturbed)" : ""))
        }
    }
}
