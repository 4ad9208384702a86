/// Resize-convolution (Odena et al., 2016): nearest-neighbour ×2 up-sampling, then a 3×3
/// convolution, pad 1, Cin → Cout, no bias.  x [N, Cin, H, W] → y [N, Cout, 2H, 2W].
///
/// Parameter: "weight" [Cout, Cin, 3, 3], initialised U(±1/√(Cin·9)).
///
/// Fast path, exact: the up-sampled map repeats each pixel 2×2, so each output phase (p, q)
/// reads only a 2×2 window of the *original* input, with taps that sum rows/columns of the
/// 3×3 kernel. Along one axis (R(p, e) = kernel rows that land on window row e):
///   phase 0: window rows (i−1, i)   ← kernel rows {0}, {1, 2}
///   phase 1: window rows (i, i+1)   ← kernel rows {0, 1}, {2}
/// All four phases run as one 2×2 convolution (pad 1) Cin → 4·Cout on the (H+1)×(W+1) grid of
/// window positions (`PhaseConvolution`, shift 1): 16·Cin·Cout multiply-adds per input pixel
/// instead of 36 (plus the grid's extra row and column).
///
/// On small maps (at most `definitionPixels` pixels: the decoder's 4×4 input) that extra row
/// and column cost more than half the work (5×5 grid positions for 4×4 pixels), so the layer
/// runs its definition instead: the up-sampled map through a 3×3 `Conv2d` sharing the weight,
/// which there runs Winograd F(2×2, 3×3) (16 multiplies per 2×2 output tile, the same 16 per
/// input pixel, with no grid overhead).
public final class ResizeConv: Layer, FLOPCounting, ConvolutionLayer {
    public let inputChannels: Int
    public let outputChannels: Int
    public let weight: Parameter
    public var computesInputGradient = true
    /// The options of both paths' convolutions.
    public var convolutionOptions: ConvolutionOptions {
        get { phase.convolutionOptions }
        set {
            phase.convolutionOptions = newValue
            definition.convolutionOptions = newValue
        }
    }
    /// The convolution of the path the last forward took (the definition's or the phases').
    public var convolutionDispatch: [(name: String, dispatch: Convolution.Dispatch)] {
        ranDefinition ? definition.convolutionDispatch : phase.convolutionDispatch
    }
    public var forwardWeightPacks: Int { definition.forwardWeightPacks + phase.forwardWeightPacks }
    public var workspace: Workspace {
        get { phase.workspace }
        set {
            phase.workspace = newValue
            definition.workspace = newValue
        }
    }
    /// Whether `phase.phaseWeight` must be rebuilt from `weight`.
    private var phaseWeights = DerivedWeights()
    /// Input maps of at most this many pixels run the definition (measured faster on 4×4,
    /// slower on 8×8).
    public static let definitionPixels = 16
    private let phase: PhaseConvolution
    /// The definition's convolution (its weight is `weight`) and up-sampled input.
    private let definition: Conv2d
    private var upsampled: Tensor?
    private var inputGradient: Tensor?
    private var ranDefinition = false

    public init(inputChannels: Int, outputChannels: Int, generator: inout SeededGenerator) {
        precondition(inputChannels > 0 && outputChannels > 0, "ResizeConv: bad configuration")
        self.inputChannels = inputChannels
        self.outputChannels = outputChannels
        phase = PhaseConvolution(inputChannels: inputChannels, outputChannels: outputChannels, kernel: 2, shift: 1)
        // Initialised as PyTorch's resize-conv weight: U(±1/√(Cin·9)).
        definition = Conv2d(inputChannels: inputChannels, outputChannels: outputChannels, kernelSize: 3, padding: 1,
                            bias: false, generator: &generator)
        weight = definition.weight
    }

    public var parameters: [(name: String, parameter: Parameter)] { [("weight", weight)] }

    /// Counted as the definition (a 3×3 conv at every pixel of the 2H×2W map), as the PyTorch
    /// peer counts it; the fast path executes about 16/36 of these.
    public func flops(inputShape: [Int]) -> LayerFLOPs {
        let f = 2 * Double(inputShape[0] * 4 * inputShape[2] * inputShape[3] * inputChannels * outputChannels * 9)
        return LayerFLOPs(forward: f, backward: computesInputGradient ? 2 * f : f)
    }

    /// Calls body(phaseIndex, weightIndex) for each (phase tap, 3×3 tap) pair that it sums.
    @inline(__always)
    private func forEachPhaseTap(_ body: (Int, Int) -> Void) {
        // Kernel rows (or columns) on window position e in phase p: 0..<1+p for e = 0, 1+p..<3 for e = 1.
        @inline(__always) func taps(_ p: Int, _ e: Int) -> Range<Int> { e == 0 ? 0..<(1 + p) : (1 + p)..<3 }
        let cin = inputChannels, cout = outputChannels
        // Output channels in parallel: channel o's phase taps and weights are its own.
        parallelFor(cout) { o in
            for p in 0..<2 { for q in 0..<2 { for c in 0..<cin {
                for ey in 0..<2 { for ex in 0..<2 {
                    let phaseIndex = ((((2 * p + q) * cout + o) * cin + c) * 2 + ey) * 2 + ex
                    for ky in taps(p, ey) { for kx in taps(q, ex) {
                        body(phaseIndex, ((o * cin + c) * 3 + ky) * 3 + kx)
                    } }
                } }
            } } }
        }
    }

    // MARK: forward  x [N, Cin, H, W] → y [N, Cout, 2H, 2W]

    public func forward(_ x: Tensor, mode: Mode) -> Tensor {
        let (n, h, w) = expectImages(x, channels: inputChannels, "ResizeConv")
        ranDefinition = h * w <= Self.definitionPixels
        if ranDefinition {
            // up[c, 2i + p, 2j + q] = x[c, i, j]: the interleave of four copies of x.
            let up = reuse(upsampled, shape: [n, inputChannels, 2 * h, 2 * w])
            upsampled = up
            let src = UnsafeSendable(x.pointer), dst = UnsafeSendable(up.pointer), c = inputChannels
            parallelFor(n) { b in
                let map = PhaseMap(base: src.value + b * c * h * w, channelStride: h * w, rowStride: w)
                interleave(channels: c, height: h, width: w, p00: map, p01: map, p10: map, p11: map,
                           into: dst.value + b * c * 4 * h * w)
            }
            return definition.forward(up, mode: mode)
        }
        if phaseWeights.needsUpdate(from: [weight], mode: mode) {
            let pw = phase.phaseWeight.value
            pw.zero()
            let p = UnsafeSendable(pw.pointer), weights = weight.value.pointer
            forEachPhaseTap { p.value[$0] += weights[$1] }
            phase.phaseWeight.valueDidChange()
        }
        return phase.forward(x, mode: mode)
    }

    // MARK: backward  dy → dx; dW[o,c,ky,kx] += Σ of the phase-tap gradients that used it

    public func backward(_ dy: Tensor) -> Tensor {
        if ranDefinition {
            definition.computesInputGradient = computesInputGradient
            let dup = definition.backward(dy)
            guard computesInputGradient, let up = upsampled else { return dup }
            // The adjoint of the up-sampling: each pixel collects its 2×2 block.
            let (n, h, w) = (up.shape[0], up.shape[2] / 2, up.shape[3] / 2), planes = n * inputChannels
            let dx = reuse(inputGradient, shape: [n, inputChannels, h, w])
            inputGradient = dx
            let src = UnsafeSendable(dup.pointer), dst = UnsafeSendable(dx.pointer)
            parallelChunks(planes) { range in
                for plane in range {
                    let block = src.value + plane * 4 * h * w, out = dst.value + plane * h * w
                    for i in 0..<h {
                        let even = block + 2 * i * 2 * w, odd = even + 2 * w
                        for j in 0..<w {
                            out[i * w + j] = (even[2 * j] + even[2 * j + 1]) + (odd[2 * j] + odd[2 * j + 1])
                        }
                    }
                }
            }
            return dx
        }
        let pg = phase.phaseWeight.gradient
        pg.zero()
        let dx = phase.backward(dy, computesInputGradient: computesInputGradient)
        let gw = UnsafeSendable(weight.gradient.pointer), gp = pg.pointer
        forEachPhaseTap { gw.value[$1] += gp[$0] }
        return dx
    }
}
