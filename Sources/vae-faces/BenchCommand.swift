import ArgumentParser
import Foundation
import VAEFaces

/// `vae-faces bench`: speed measurements. `--layers` times every convolution-type layer at the
/// reference model's shapes; whole-model benchmarks are further modes of this command.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Time the whole model (--decoder X), its layers (--layers) or the FID Inception (--inception FILE).",
        discussion: """
            --decoder X: training steps (forward, loss, backward, Adam; training-mode BatchNorm) \
            and sampling calls (decoder + sigmoid of --batch latent vectors, inference mode) of \
            the whole VAE on synthetic data, as the PyTorch peer's `torch_vae.py bench` times \
            them: --warmup untimed, then the median of --steps training steps and of 3 × --steps \
            sampling calls, in images/s (JSON keys train_images_per_s, sample_images_per_s), and \
            the peak memory.

            --layers: forward and backward of each convolution-type layer (the four up-sampler \
            kinds at the decoder's four Up layers, the encoder convolutions, the final \
            convolution), median of --repeats after warm-up, with GFLOP/s and the machine's SGEMM \
            throughput for scale, and the kernel each of the layer's convolutions runs on (JSON \
            key "kernels": forward, weight_gradient, input_gradient). Run on a quiet machine.

            --inception FILE: the FID feature extractor with these weights (`vae-faces fid`) on \
            --batch random faces, one untimed batch then --steps batches, in images/s of wall time \
            and per CPU-second of the process (images_per_s_from_cpu: × threads, the rate with the \
            cores to itself), as `Scripts/inception_golden.py --bench FILE` times PyTorch. With \
            --layers: the thread CPU time of each step (input transform, convolutions, pools) \
            over the --steps batches, per image, with GFLOP/s per core.
            """)

    @Flag(help: "Time each convolution-type layer of the model.")
    var layers = false

    @Option(help: ArgumentHelp("Time the FID Inception with these weights.", valueName: "file"))
    var inception: String?

    @Option(help: "Time the whole model with this decoder: dcl, pixeldcl, ipixeldcl or resizeconv.")
    var decoder: DecoderKind?

    @Option(help: "Whole model: timed training steps (sampling: 3 × this many calls).")
    var steps = 20

    @Option(help: "Images per batch.")
    var batch = 64

    @Option(help: "Timed repetitions (the median is reported).")
    var repeats = 10

    @Option(help: "Untimed warm-up repetitions (default: 2 per layer, 3 for the whole model).")
    var warmup: Int?

    @Option(help: "Only layers whose name contains this text (e.g. pixeldcl, encoder, dcl.3).")
    var filter: String?

    @Option(help: ArgumentHelp("Images × pixels per SGEMM for the layers that batch images (tuning).", visibility: .hidden))
    var groupColumns: Int?

    @Flag(help: "Time with the thread CPU clock (use with --threads 1 on a busy machine).")
    var cpuTime = false

    @Flag(help: "Print the report as JSON.")
    var json = false

    @OptionGroup var threads: ThreadOptions

    func validate() throws {
        guard [layers && inception == nil, decoder != nil, inception != nil].filter({ $0 }).count == 1 else {
            throw ValidationError("choose what to benchmark: --decoder X (the whole model), --layers or --inception FILE")
        }
        guard steps > 0 else { throw ValidationError("--steps must be positive, got \(steps)") }
        guard batch > 0 else { throw ValidationError("--batch must be positive, got \(batch)") }
        guard repeats > 0 else { throw ValidationError("--repeats must be positive, got \(repeats)") }
        if let warmup, warmup < 0 { throw ValidationError("--warmup must be 0 or more, got \(warmup)") }
    }

    func run() throws {
        threads.apply()
        if let inception {
            var options = InceptionBench.Options(weights: inception)
            options.batch = batch
            options.repeats = steps
            options.warmup = warmup ?? 1
            if layers {
                let steps = try InceptionBench.profile(options)
                if json { try printJSON(steps) } else { print(InceptionBench.profileText(steps)) }
                return
            }
            let report = try InceptionBench.run(options)
            if json { try printJSON(report) } else { print(report.text) }
            return
        }
        if let decoder {
            try benchModel(decoder)
            return
        }
        var options = LayerBench.Options()
        options.batch = batch
        options.repeats = repeats
        options.warmup = warmup ?? 2
        options.filter = filter
        options.groupColumns = groupColumns
        options.threadCPUTime = cpuTime
        let report = LayerBench.run(options, log: json ? { printError($0) } : { print($0) })
        if json {
            try printJSON(report)
            return
        }
        print("Up-sampler totals over the decoder's four Up layers (batch \(batch), \(report.threads) threads):")
        for kind in DecoderKind.allCases {
            guard let t = report.upsamplers[kind.rawValue] else { continue }
            print("  " + LayerBench.padded(kind.rawValue, 11)
                  + String(format: "forward %8.2f ms   backward %8.2f ms   total %8.2f ms",
                           t.forward_ms, t.backward_ms, t.forward_ms + t.backward_ms))
        }
        if let load = report.other_load {
            print(String(format: "other processes kept %.2f CPUs busy", load) + (load > 0.2 ? " (numbers disturbed)" : ""))
        }
    }

    /// The whole-model benchmark (`--decoder X`).
    private func benchModel(_ decoder: DecoderKind) throws {
        var options = ModelBench.Options()
        options.decoder = decoder
        options.batch = batch
        options.steps = steps
        options.warmup = warmup ?? 3
        let report = ModelBench.run(options)
        if json {
            try printJSON(report)
            return
        }
        print("vae-faces \(decoder.rawValue), batch \(batch), \(report.threads) threads")
        print(String(format: "  train : median %8.1f ms/step  -> %8.1f img/s (min %.1f ms)",
                     report.train_step_s * 1e3, report.train_images_per_s, report.train_step_s_min * 1e3))
        let parts = ["forward", "loss", "backward", "adam"].compactMap { name in
            report.train_phases_ms[name].map { String(format: "%@ %.1f", name, $0) }
        }
        print("          (ms: " + parts.joined(separator: ", ") + ")")
        print(String(format: "  sample: median %8.1f ms/batch -> %8.1f img/s (min %.1f ms)",
                     report.sample_s * 1e3, report.sample_images_per_s, report.sample_s_min * 1e3))
        if let peak = report.peak_memory_mib { print(String(format: "  peak memory %.0f MiB", peak)) }
        if let a = report.other_load_train, let b = report.other_load_sample {
            print(String(format: "  other processes kept %.2f / %.2f CPUs busy (train / sample)%@", a, b,
                         max(a, b) > 0.2 ? " (numbers disturbed)" : ""))
        }
    }
}
