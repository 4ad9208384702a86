/// Transposed 2-D convolution, as PyTorch's `nn.ConvTranspose2d` (square kernel, stride,
/// padding; no output padding, no bias): every input pixel (i, j) adds x[c, i, j] · W[c, o, :, :]
/// to the output window whose top-left corner is (i·s − p, j·s − p); output (H−1)·s − 2p + k.
/// It is the adjoint of `Conv2d` with the same kernel, stride and padding.
///
/// Parameter: "weight" [Cin, Cout, k, k], initialised U(±1/√(Cout·k·k)) (PyTorch's fan_in for
/// a transposed convolution).
///
/// Two implementations:
/// - general: per image, col = Wᵀ · x (one SGEMM), then col2im onto the output; backward is
///   im2col of the output gradient and two SGEMMs (darknet's deconvolution);
/// - DCL (k 6, stride 2, pad 2, the paper's layer): four 3×3 convolutions of the input, one per
///   output phase, run as one 3×3 convolution Cin → 4·Cout and an interleave
///   (`PhaseConvolution`): W_phase[(2p+q)·Cout + o, c, dy, dx] = W[c, o, 4−2dy+p, 4−2dx+q].
///   Exact, and it skips the structural zeros the general form scatters.
public final class ConvTranspose2d: Layer, FLOPCounting, ConvolutionLayer {
    public let inputChannels: Int
    public let outputChannels: Int
    public let kernelSize: Int
    public let stride: Int
    public let padding: Int
    public let weight: Parameter
    public var computesInputGradient = true
    /// The options of the phase convolution (the general path runs one SGEMM per image).
    public var convolutionOptions: ConvolutionOptions {
        get { phase.convolutionOptions }
        set { phase.convolutionOptions = newValue }
    }
    /// The phase convolution's (the general path runs SGEMM and no `Convolution`).
    public var convolutionDispatch: [(name: String, dispatch: Convolution.Dispatch)] {
        usesPhaseDecomposition ? phase.convolutionDispatch : []
    }
    public var forwardWeightPacks: Int { phase.forwardWeightPacks }
    public var workspace: Workspace {
        get { runner.workspace }
        set {
            runner.workspace = newValue
            phase.workspace = newValue
        }
    }
    /// Whether `phase.phaseWeight` must be rebuilt from `weight`.
    private var phaseWeights = DerivedWeights()
    /// Whether the phase decomposition runs (only possible for k 6, stride 2, pad 2).
    public var usesPhaseDecomposition: Bool {
        didSet { precondition(!usesPhaseDecomposition || isDCL, "ConvTranspose2d: phase path needs k 6, s 2, p 2") }
    }
    public var isDCL: Bool { kernelSize == 6 && stride == 2 && padding == 2 }

    private var input: Tensor?
    private var output: Tensor?
    private var inputGradient: Tensor?
    /// Runs the general path: one image a group, no `Convolution`.
    private let runner = ConvolutionRunner(names: [])
    private lazy var phase = PhaseConvolution(inputChannels: inputChannels, outputChannels: outputChannels,
                                              kernel: 3, shift: 0)

    public init(inputChannels: Int, outputChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
                generator: inout SeededGenerator) {
        precondition(inputChannels > 0 && outputChannels > 0 && kernelSize > 0 && stride > 0 && padding >= 0,
                     "ConvTranspose2d: bad configuration")
        self.inputChannels = inputChannels
        self.outputChannels = outputChannels
        self.kernelSize = kernelSize
        self.stride = stride
        self.padding = padding
        weight = Parameter(shape: [inputChannels, outputChannels, kernelSize, kernelSize])
        usesPhaseDecomposition = kernelSize == 6 && stride == 2 && padding == 2
        generator.fillKaimingUniform(weight.value, fanIn: outputChannels * kernelSize * kernelSize)
    }

    /// The DCL of docs/model.md: kernel 6, stride 2, padding 2 (H×W → 2H×2W).
    public static func dcl(inputChannels: Int, outputChannels: Int, generator: inout SeededGenerator) -> ConvTranspose2d {
        ConvTranspose2d(inputChannels: inputChannels, outputChannels: outputChannels, kernelSize: 6, stride: 2,
                        padding: 2, generator: &generator)
    }

    public var parameters: [(name: String, parameter: Parameter)] { [("weight", weight)] }

    public func outputSize(_ inputSize: Int) -> Int { (inputSize - 1) * stride - 2 * padding + kernelSize }

    /// The convolution this layer is the adjoint of, seen from the output: Cout channels of
    /// Hout×Wout, whose conv output is the H×W input grid.
    private func adjointGeometry(height: Int, width: Int) -> ConvGeometry {
        ConvGeometry(channels: outputChannels, height: outputSize(height), width: outputSize(width),
                     kernelHeight: kernelSize, kernelWidth: kernelSize, stride: stride, padding: padding)
    }

    /// Multiply-adds of the definition: every input pixel times the whole Cout·k·k kernel.
    public func flops(inputShape: [Int]) -> LayerFLOPs {
        let f = 2 * Double(inputShape[0] * inputShape[2] * inputShape[3] * inputChannels * outputChannels
                           * kernelSize * kernelSize)
        return LayerFLOPs(forward: f, backward: computesInputGradient ? 2 * f : f)
    }

    // MARK: phase kernels of the DCL  W [Cin, Cout, 6, 6] ↔ W_phase [4·Cout, Cin, 3, 3]

    /// Offsets into one W[c, o] 6×6 kernel of the 36 phase taps, in phase order: entry
    /// (2p+q)·9 + 3dy + dx is (4−2dy+p)·6 + 4−2dx+q. Each tap belongs to exactly one phase and
    /// one 3×3 position (a bijection).
    private static let phaseTapSources: [Int] = (0..<36).map { j in
        let phase = j / 9, dy = (j % 9) / 3, dx = j % 3, p = phase / 2, q = phase % 2
        return (4 - 2 * dy + p) * 6 + 4 - 2 * dx + q
    }

    /// W [Cin, Cout, 6, 6] → phase.phaseWeight [4·Cout, Cin, 3, 3].
    private func buildPhaseWeights() {
        remapPhases(weight.value.pointer, phase.phaseWeight.value.pointer, toPhases: true)
    }

    /// weight.gradient [Cin, Cout, 6, 6] += phase.phaseWeight.gradient mapped back.
    private func accumulatePhaseGradient() {
        remapPhases(weight.gradient.pointer, phase.phaseWeight.gradient.pointer, toPhases: false)
    }

    /// The one walk both directions share: (o, c) pairs with output channels in parallel, the
    /// 36 contiguous taps of full[c, o] against four runs of 9 in the phase blocks
    /// phases[(2p+q)·Cout + o, c], whose rows fill sequentially as c advances (no strided
    /// one-float gathers). `toPhases`: phases = full's taps, else full += phases' taps.
    private func remapPhases(_ full: UnsafeMutablePointer<Float>, _ phases: UnsafeMutablePointer<Float>,
                             toPhases: Bool) {
        let cin = inputChannels, cout = outputChannels
        let w = UnsafeSendable(full), pw = UnsafeSendable(phases)
        let phaseStride = cout * cin * 9
        ConvTranspose2d.phaseTapSources.withUnsafeBufferPointer { table in
            let taps = UnsafeSendable(table.baseAddress!)
            parallelChunks(cout) { outputs in
                for o in outputs {
                    for c in 0..<cin {
                        let taps36 = w.value + (c * cout + o) * 36, taps9 = pw.value + (o * cin + c) * 9
                        for phase in 0..<4 {
                            let d = taps9 + phase * phaseStride, t = taps.value + phase * 9
                            if toPhases {
                                for k in 0..<9 { d[k] = taps36[t[k]] }
                            } else {
                                for k in 0..<9 { taps36[t[k]] += d[k] }
                            }
                        }
                    }
                }
            }
        }
    }

    // MARK: forward  x [N, Cin, H, W] → y [N, Cout, Hout, Wout]

    public func forward(_ x: Tensor, mode: Mode) -> Tensor {
        if usesPhaseDecomposition {
            if phaseWeights.needsUpdate(from: [weight], mode: mode) {
                buildPhaseWeights()
                phase.phaseWeight.valueDidChange()
            }
            return phase.forward(x, mode: mode)
        }
        let (n, h, w) = expectImages(x, channels: inputChannels, "ConvTranspose2d")
        let g = adjointGeometry(height: h, width: w)
        let k = g.patchSize, pin = h * w
        let y = reuse(output, shape: [n, outputChannels, g.height, g.width])
        output = y
        input = x
        y.zero()
        let weight = weight.value.pointer, cin = inputChannels
        let xs = Planes.nchw(x.pointer, channels: cin, pixels: pin)
        let ys = Planes.nchw(y.pointer, channels: outputChannels, pixels: g.inputPixels)
        runner.forward(batch: n, pixelsPerImage: pin, columns: 1) { group in
            let column = group.scratch.buffer(1, count: k * pin)
            for i in group.images {
                // col [Cout·k·k, H·W] = Wᵀ · x_i, then scatter-add onto the output.
                sgemm(transposeA: true, m: k, n: pin, k: cin, a: weight, lda: k, b: xs.image(i), ldb: pin,
                      c: column, ldc: pin)
                col2im(g, column: column, ldc: pin, destination: ys.image(i), channelStride: ys.channelStride)
            }
        }
        return y
    }

    // MARK: backward  dy → dx = W · im2col(dy) (a convolution of dy), dW += x · im2col(dy)ᵀ

    public func backward(_ dy: Tensor) -> Tensor {
        if usesPhaseDecomposition {
            let pg = phase.phaseWeight.gradient
            pg.zero()
            let dx = phase.backward(dy, computesInputGradient: computesInputGradient)
            accumulatePhaseGradient()
            return dx
        }
        guard let x = input, let y = output else { preconditionFailure("ConvTranspose2d.backward before forward") }
        precondition(dy.shape == y.shape, "ConvTranspose2d.backward: gradient \(dy.shape) for output \(y.shape)")
        let (h, w) = (x.shape[2], x.shape[3])
        let g = adjointGeometry(height: h, width: w)
        let k = g.patchSize, pin = h * w, cin = inputChannels
        let dx = reuse(inputGradient, shape: x.shape)
        inputGradient = dx
        let wantsInput = computesInputGradient
        let weight = weight.value.pointer
        let xs = Planes.nchw(x.pointer, channels: cin, pixels: pin)
        let dxs = Planes.nchw(dx.pointer, channels: cin, pixels: pin)
        let dys = Planes.nchw(dy.pointer, channels: outputChannels, pixels: g.inputPixels)
        runner.backward(accumulating: [self.weight]) { group in
            let column = group.scratch.buffer(1, count: k * pin)
            let dw = group.gradient(0)
            for i in group.images {
                im2col(g, source: dys.image(i), channelStride: dys.channelStride, column: column, ldc: pin)
                sgemm(transposeB: true, m: cin, n: k, k: pin, a: xs.image(i), lda: pin, b: column, ldb: pin,
                      beta: 1, c: dw, ldc: k)
                if wantsInput {
                    sgemm(m: cin, n: pin, k: k, a: weight, lda: k, b: column, ldb: pin, c: dxs.image(i), ldc: pin)
                }
            }
        }
        return dx
    }
}
