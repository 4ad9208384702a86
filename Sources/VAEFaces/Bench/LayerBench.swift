import Foundation
import NeuralCore

/// Times the forward and backward pass of every convolution-type layer of the reference model
/// at its real shapes (`vae-faces bench --layers`): the decoder's 4 Up layers for each
/// `DecoderKind`, the encoder's four 4×4 stride-2 convolutions and the final 3×3 convolution,
/// all taken from the model (`VAE`) itself. Also measures this machine's SGEMM throughput
/// (1024³ per worker, all workers at once), the ceiling the layers are judged against.
public enum LayerBench {
    public struct Options: Sendable {
        public var batch = 64
        public var repeats = 10
        public var warmup = 2
        public var seed: UInt64 = 0
        /// Only layers whose name contains this text (nil: all).
        public var filter: String?
        /// Overrides the layers' GEMM group width (images × pixels per SGEMM), for tuning.
        public var groupColumns: Int?
        /// Time with the calling thread's CPU clock instead of the wall clock: robust to other
        /// processes on a shared machine, meaningful only with one worker (which runs inline).
        public var threadCPUTime = false
        public init() {}
    }

    public struct LayerResult: Codable, Sendable {
        public var name: String
        public var shape: String
        public var forward_ms: Double
        public var backward_ms: Double
        public var gflops_forward: Double
        public var gflops_backward: Double
        /// What runs each of the layer's convolutions (`Convolution.kernel(for:)`).
        public var kernels: [KernelChoice]
    }

    /// One convolution of a layer and the kernel of each of its passes.
    public struct KernelChoice: Codable, Sendable, Equatable {
        public var convolution: String
        public var forward: Convolution.Kernel
        public var weight_gradient: Convolution.Kernel
        public var input_gradient: Convolution.Kernel

        init(_ name: String, _ dispatch: Convolution.Dispatch) {
            convolution = name
            forward = dispatch.forward
            weight_gradient = dispatch.weightGradient
            input_gradient = dispatch.inputGradient
        }

        /// "w0 winograd", "weight directLanes (dW gemm)".
        public var summary: String {
            convolution + " " + Convolution.Dispatch(forward: forward, weightGradient: weight_gradient,
                                                     inputGradient: input_gradient).description
        }
    }

    public struct Totals: Codable, Sendable {
        public var forward_ms: Double
        public var backward_ms: Double
    }

    public struct Report: Codable, Sendable {
        public var batch: Int
        public var threads: Int
        public var repeats: Int
        /// Aggregate GFLOP/s of one 1024³ SGEMM per worker, run concurrently (median).
        public var sgemm_gflops: Double
        /// Per up-sampler kind, the sums over the decoder's four Up layers.
        public var upsamplers: [String: Totals]
        public var layers: [LayerResult]
        /// Average number of CPUs other processes kept busy while timing (nil off Linux).
        public var other_load: Double?
    }

    public static func run(_ options: Options, log: (String) -> Void = { _ in }) -> Report {
        var rng = SeededGenerator(seed: options.seed)
        let load0 = CPULoad.sample()
        let start = DispatchTime.now().uptimeNanoseconds
        let sgemm = sgemmThroughput(size: 1024, repeats: 5, threadCPUTime: options.threadCPUTime)
        log(String(format: "SGEMM 1024³ × %d workers: %.1f GFLOP/s", Threading.workers, sgemm))
        var layers: [LayerResult] = []
        var totals: [String: Totals] = [:]
        func wanted(_ name: String) -> Bool { options.filter.map { name.contains($0) } ?? true }
        func record(_ result: LayerResult) {
            layers.append(result)
            log(padded(result.name, 14) + padded(result.shape, 38)
                + String(format: "fwd %8.2f ms %6.1f GFLOP/s   bwd %8.2f ms %6.1f GFLOP/s   ",
                         result.forward_ms, result.gflops_forward, result.backward_ms, result.gflops_backward)
                + result.kernels.map(\.summary).joined(separator: ", "))
        }
        for entry in Self.layers(batch: options.batch, seed: options.seed) where wanted(entry.name) {
            let r = time(entry.layer, name: entry.name, input: entry.input, options, &rng)
            if let kind = entry.decoder {
                var total = totals[kind.rawValue] ?? Totals(forward_ms: 0, backward_ms: 0)
                total.forward_ms += r.forward_ms
                total.backward_ms += r.backward_ms
                totals[kind.rawValue] = total
            }
            record(r)
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return Report(batch: options.batch, threads: Threading.workers, repeats: options.repeats, sgemm_gflops: sgemm,
                      upsamplers: totals, layers: layers, other_load: CPULoad.others(since: load0, seconds: seconds))
    }

    /// Every layer the bench times, in order, with its input shape: each decoder kind's Up layers
    /// ("dcl.0" … "resizeconv.3", `decoder` set), the encoder's convolutions ("encoder.0" …) and
    /// the final convolution ("final"), the last two from the first model.
    static func layers(batch: Int, seed: UInt64) -> [(name: String, decoder: DecoderKind?, layer: any Layer, input: [Int])] {
        let models = DecoderKind.allCases.map { VAE(configuration: VAEConfiguration(decoder: $0), seed: seed) }
        var entries: [(name: String, decoder: DecoderKind?, layer: any Layer, input: [Int])] = []
        for model in models {
            let kind = model.configuration.decoder
            for (i, up) in upLayers(of: model, batch: batch).enumerated() {
                entries.append(("\(kind.rawValue).\(i)", kind, up.layer, up.input))
            }
        }
        for (i, conv) in encoderLayers(of: models[0], batch: batch).enumerated() {
            entries.append(("encoder.\(i)", nil, conv.layer, conv.input))
        }
        let out = models[0].decoder.out, size = VAEConfiguration.imageSize
        entries.append(("final", nil, out, [batch, out.inputChannels, size, size]))
        return entries
    }

    /// The kernels each layer's convolutions run on, after one forward pass of `batch` images at
    /// the layer's real shape (the choice depends on the map and channels, not on the batch).
    public static func kernelChoices(batch: Int = 1, seed: UInt64 = 0) -> [(name: String, kernels: [KernelChoice])] {
        layers(batch: batch, seed: seed).map { entry in
            let x = Tensor(shape: entry.input)
            _ = entry.layer.forward(x, mode: .inference)
            return (entry.name, kernels(of: entry.layer))
        }
    }

    /// The kernels of the last forward pass of `layer` (none for a layer without convolutions).
    static func kernels(of layer: any Layer) -> [KernelChoice] {
        (layer as? ConvolutionLayer)?.convolutionDispatch.map { KernelChoice($0.name, $0.dispatch) } ?? []
    }

    /// The decoder's Up layers with their input shapes: each doubles the map, the last one
    /// reaching the image size.
    static func upLayers(of model: VAE, batch: Int) -> [(layer: any Layer, input: [Int])] {
        let ups = model.decoder.ups
        return ups.indices.map { k in
            let size = VAEConfiguration.imageSize >> (ups.count - k)
            return (ups[k], [batch, Decoder.upChannels[k].0, size, size])
        }
    }

    /// The encoder's convolutions with their input shapes, from the image size through each
    /// convolution's geometry.
    static func encoderLayers(of model: VAE, batch: Int) -> [(layer: any Layer, input: [Int])] {
        var size = VAEConfiguration.imageSize
        return model.encoder.convolutions.map { conv in
            defer { size = conv.geometry(height: size, width: size).outputHeight }
            return (conv, [batch, conv.inputChannels, size, size])
        }
    }

    /// Median forward and backward times of `layer` on a random input of shape `input`.
    static func time(_ layer: any Layer, name: String, input: [Int], _ options: Options,
                     _ rng: inout SeededGenerator) -> LayerResult {
        if let columns = options.groupColumns, let layer = layer as? ConvolutionLayer {
            layer.convolutionOptions.groupColumns = columns
        }
        let x = Tensor(shape: input)
        rng.fillNormal(x)
        let y = layer.forward(x, mode: .training)
        let dy = Tensor(shape: y.shape)
        rng.fillNormal(dy)
        let outShape = y.shape
        var fwd: [Double] = [], bwd: [Double] = []
        let now = { nanoseconds(threadCPUTime: options.threadCPUTime) }
        for rep in 0..<(options.warmup + options.repeats) {
            let t0 = now()
            _ = layer.forward(x, mode: .training)
            let t1 = now()
            _ = layer.backward(dy)
            let t2 = now()
            if rep >= options.warmup {
                fwd.append(Double(t1 - t0) / 1e6)
                bwd.append(Double(t2 - t1) / 1e6)
            }
        }
        for (_, p) in layer.parameters { p.gradient.zero() }
        let flops = (layer as? FLOPCounting)?.flops(inputShape: input) ?? LayerFLOPs(forward: .nan, backward: .nan)
        let f = median(fwd), b = median(bwd)
        return LayerResult(name: name, shape: "\(input) -> \(outShape)", forward_ms: f, backward_ms: b,
                           gflops_forward: flops.forward / f / 1e6, gflops_backward: flops.backward / b / 1e6,
                           kernels: kernels(of: layer))
    }

    /// GFLOP/s of `Threading.workers` concurrent n³ SGEMMs (one per worker, own buffers), median.
    public static func sgemmThroughput(size n: Int, repeats: Int, threadCPUTime: Bool = false) -> Double {
        let workers = Threading.workers
        let buffers = (0..<workers).map { _ in (Tensor(shape: [n, n]), Tensor(shape: [n, n]), Tensor(shape: [n, n])) }
        for (a, b, _) in buffers {
            for i in 0..<(n * n) {
                a[i] = Float(i % 7) - 3
                b[i] = Float(i % 5) - 2
            }
        }
        var times: [Double] = []
        for rep in 0...repeats {
            let t0 = nanoseconds(threadCPUTime: threadCPUTime)
            parallelFor(workers) { w in
                let (a, b, c) = buffers[w]
                sgemm(m: n, n: n, k: n, a: a.pointer, lda: n, b: b.pointer, ldb: n, c: c.pointer, ldc: n)
            }
            if rep > 0 { times.append(Double(nanoseconds(threadCPUTime: threadCPUTime) - t0) / 1e9) }
        }
        return Double(workers) * 2 * Double(n * n * n) / median(times) / 1e9
    }

    /// Monotonic wall-clock time, or the calling thread's CPU time, in nanoseconds.
    static func nanoseconds(threadCPUTime: Bool) -> UInt64 {
        var ts = timespec()
        clock_gettime(threadCPUTime ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    /// `text` padded with spaces to at least `width` characters.
    public static func padded(_ text: String, _ width: Int) -> String {
        text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
    }

    static func median(_ values: [Double]) -> Double {
        let s = values.sorted()
        guard !s.isEmpty else { return .nan }
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }
}

/// How busy the rest of the machine is, from /proc (Linux): benchmarks on a shared 2-core
/// machine mean little when another process was running.
enum CPULoad {
    struct Sample { var machineBusy: Int; var ownBusy: Int }

    static func sample() -> Sample? {
        guard let stat = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
              let line = stat.split(separator: "\n").first,
              let own = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
              let close = own.lastIndex(of: ")") else { return nil }
        let v = line.split(separator: " ").dropFirst().compactMap { Int($0) }
        let fields = own[own.index(after: close)...].split(separator: " ")
        guard v.count >= 5, fields.count > 12, let ut = Int(fields[11]), let st = Int(fields[12]) else { return nil }
        return Sample(machineBusy: v.reduce(0, +) - v[3] - v[4], ownBusy: ut + st)
    }

    /// Average CPUs kept busy by other processes since `start` over `seconds` of wall time.
    static func others(since start: Sample?, seconds: Double) -> Double? {
        guard let start, let end = sample(), seconds > 0 else { return nil }
        let hz = Double(sysconf(Int32(_SC_CLK_TCK)))
        let other = Double((end.machineBusy - start.machineBusy) - (end.ownBusy - start.ownBusy))
        return max(0, other / hz / seconds)
    }
}
