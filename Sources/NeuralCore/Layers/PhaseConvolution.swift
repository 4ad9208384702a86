/// A ×2 up-sampling computed as ONE ordinary convolution Cin → 4·Cout of the un-upsampled
/// input, followed by the 2×2 phase interleave. The engine behind the fast paths of DCL
/// (`ConvTranspose2d` 6×6 stride 2 pad 2) and of `ResizeConv`, which differ only in how their
/// own weight maps to the phase kernels.
///
///   x [N, Cin, H, W] --conv k×k, pad 1, weights [4·Cout, Cin, k, k]--> Y [N, 4·Cout, Hg, Wg]
///   out[n, o, 2i+p, 2j+q] = Y[n, (2p+q)·Cout + o, i + p·shift, j + q·shift]
///
/// DCL: k = 3, shift 0 (grid Hg×Wg = H×W). Resize-conv: k = 2, shift 1 (grid (H+1)×(W+1):
/// each phase reads a 2×2 window, the (0,0) phase the window up-left of the pixel, the (1,1)
/// phase the one down-right; one grid row/column of each phase is never read).
final class PhaseConvolution: ConvolutionLayer {
    let inputChannels: Int
    let outputChannels: Int
    let kernel: Int
    let shift: Int
    /// The phase kernels [4·Cout, Cin, k, k] (rebuilt by the owner before each forward) and
    /// their gradient (accumulated by `backward`, mapped back by the owner).
    let phaseWeight: Parameter

    private var input: Tensor?
    private var output: Tensor?
    private var inputGradient: Tensor?
    private let runner = ConvolutionRunner(names: ["phase"])

    var convolutionOptions: ConvolutionOptions {
        get { runner.options }
        set { runner.options = newValue }
    }

    public var convolutionDispatch: [(name: String, dispatch: Convolution.Dispatch)] { runner.dispatch }
    public var forwardWeightPacks: Int { runner.forwardPacks }
    public var workspace: Workspace {
        get { runner.workspace }
        set { runner.workspace = newValue }
    }

    init(inputChannels: Int, outputChannels: Int, kernel: Int, shift: Int) {
        self.inputChannels = inputChannels
        self.outputChannels = outputChannels
        self.kernel = kernel
        self.shift = shift
        phaseWeight = Parameter(shape: [4 * outputChannels, inputChannels, kernel, kernel])
    }

    func geometry(height: Int, width: Int) -> ConvGeometry {
        ConvGeometry(channels: inputChannels, height: height, width: width,
                     kernelHeight: kernel, kernelWidth: kernel, stride: 1, padding: 1)
    }

    /// The four phase maps of image `b` of a grouped Y [4·Cout, n] with grid width `wg`.
    @inline(__always)
    private func phases(_ y: UnsafeMutablePointer<Float>, n: Int, image b: Int, gridPixels: Int, gridWidth wg: Int)
        -> (PhaseMap, PhaseMap, PhaseMap, PhaseMap) {
        let c = outputChannels, base = y + b * gridPixels
        func map(_ p: Int, _ q: Int) -> PhaseMap {
            PhaseMap(base: base + (2 * p + q) * c * n + (p * wg + q) * shift, channelStride: n, rowStride: wg)
        }
        return (map(0, 0), map(0, 1), map(1, 0), map(1, 1))
    }

    // MARK: forward  x [N, Cin, H, W] → out [N, Cout, 2H, 2W]

    func forward(_ x: Tensor, mode: Mode) -> Tensor {
        let (n, h, w) = expectImages(x, channels: inputChannels, "up-sampling layer")
        let g = geometry(height: h, width: w)
        let c = outputChannels, m = 4 * c, pg = g.outputPixels, wg = g.outputWidth
        let out = reuse(output, shape: [n, c, 2 * h, 2 * w])
        output = out
        input = x
        let conv = runner.convolution(0, geometry: g, outputChannels: m, weight: phaseWeight.value.pointer,
                                     of: phaseWeight, mode: mode)
        let xs = Planes.nchw(x.pointer, channels: inputChannels, pixels: h * w)
        let outs = Planes.nchw(out.pointer, channels: c, pixels: 4 * h * w)
        runner.forward(batch: n, pixelsPerImage: pg) { group in
            let count = group.count, cols = count * pg
            let y = group.scratch.buffer(1, count: m * cols)
            conv.forward(source: xs.starting(at: group.first), count: count, output: y, ldo: cols, scratch: group.work)
            for b in 0..<count {
                let (p00, p01, p10, p11) = phases(y, n: cols, image: b, gridPixels: pg, gridWidth: wg)
                interleave(channels: c, height: h, width: w, p00: p00, p01: p01, p10: p10, p11: p11,
                           into: outs.image(group.first + b))
            }
        }
        return out
    }

    // MARK: backward  dout [N, Cout, 2H, 2W] → dx; phaseWeight.gradient += dY · colᵀ

    func backward(_ dout: Tensor, computesInputGradient: Bool) -> Tensor {
        guard let x = input, let out = output else { preconditionFailure("backward before forward") }
        precondition(dout.shape == out.shape, "up-sampling backward: gradient \(dout.shape) for output \(out.shape)")
        let conv = runner.convolutions[0]
        let (h, w) = (x.shape[2], x.shape[3])
        let c = outputChannels, m = 4 * c, pg = conv.geometry.outputPixels, wg = conv.geometry.outputWidth
        let dx = reuse(inputGradient, shape: x.shape)
        inputGradient = dx
        if computesInputGradient { dx.zero() }
        let xs = Planes.nchw(x.pointer, channels: inputChannels, pixels: h * w)
        let dxs = Planes.nchw(dx.pointer, channels: inputChannels, pixels: h * w)
        let douts = Planes.nchw(dout.pointer, channels: c, pixels: 4 * h * w)
        runner.backward(accumulating: [phaseWeight]) { group in
            let count = group.count, cols = count * pg
            let dy = group.scratch.buffer(1, count: m * cols)
            // Grid positions no phase reads get no gradient.
            if shift != 0 { dy.update(repeating: 0, count: m * cols) }
            for b in 0..<count {
                let (p00, p01, p10, p11) = phases(dy, n: cols, image: b, gridPixels: pg, gridWidth: wg)
                deinterleave(channels: c, height: h, width: w, from: douts.image(group.first + b),
                             p00: p00, p01: p01, p10: p10, p11: p11)
            }
            conv.backward(source: xs.starting(at: group.first), count: count, outputGradient: dy, lddy: cols,
                          weightGradient: group.gradient(0),
                          inputGradient: computesInputGradient ? dxs.starting(at: group.first) : nil,
                          scratch: group.work)
        }
        return dx
    }
}
