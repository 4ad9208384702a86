/// iPixelDCL, the input pixel deconvolutional layer of Gao et al. (2017), the authors'
/// `ipixel_dcl` (linear, no bias). All convolutions 3×3, pad 1; [·,·] is channel concatenation:
///   c1 = conv(x; W1)                   Cin → Cout
///   c2 = conv([x, c1]; W2)             Cin+Cout → Cout
///   [c4, c5] = conv([x, c1, c2]; W3)   Cin+2·Cout → 2·Cout
///   out(0,0) = c1, out(1,1) = c2, out(1,0) = c4, out(0,1) = c5.
/// x [N, Cin, H, W] → out [N, Cout, 2H, 2W].
///
/// A convolution of a concatenation is the sum of the convolutions of its parts, so the layer
/// runs as three convolutions, each input read once (the PyTorch peer's "split" form):
///   P = conv(x; [W1; W2ₓ; W3ₓ])            → [c1; partial c2; partial c3]   (4·Cout rows)
///   P[Cout..<4·Cout] += conv(c1; [W2_c1; W3_c1])                          (completes c2)
///   P[2·Cout..<4·Cout] += conv(c2; W3_c2)                                  (completes c3)
/// where W2ₓ = W2[:, :Cin], W2_c1 = W2[:, Cin:], W3ₓ = W3[:, :Cin], W3_c1, W3_c2 likewise.
/// The stacked kernels are rebuilt each forward; their gradients are split back afterwards.
/// Stacking makes the convolutions wider (M = 4·Cout, 3·Cout), which suits both kernels.
///
/// Parameters (PyTorch peer names): "w1" [Cout, Cin, 3, 3], "w2" [Cout, Cin+Cout, 3, 3],
/// "w3" [2·Cout, Cin+2·Cout, 3, 3], initialised U(±1/√(9·input channels)).
public final class IPixelDCL: Layer, FLOPCounting, ConvolutionLayer {
    public let inputChannels: Int
    public let outputChannels: Int
    public let w1: Parameter
    public let w2: Parameter
    public let w3: Parameter
    public var computesInputGradient = true

    private var input: Tensor?
    /// The last forward's output; backward reads c1 and c2 back from its phases (0,0) and (1,1),
    /// which hold them exactly (the following BatchNorm only reads it), instead of storing them.
    private var output: Tensor?
    private var inputGradient: Tensor?
    /// The stacked kernels [W1; W2ₓ; W3ₓ] [4·Cout, Cin, 3, 3] and [W2_c1; W3_c1] [3·Cout, Cout, 3, 3].
    private let stackX: Parameter
    private let stackC1: Parameter
    /// Whether the stacks must be rebuilt from w1, w2, w3.
    private var stacks = DerivedWeights()
    /// Runs the convolutions of x (0), c1 (1) and c2 (2).
    private let runner = ConvolutionRunner(names: ["x", "c1", "c2"])

    public var convolutionOptions: ConvolutionOptions {
        get { runner.options }
        set { runner.options = newValue }
    }

    public var convolutionDispatch: [(name: String, dispatch: Convolution.Dispatch)] { runner.dispatch }
    public var forwardWeightPacks: Int { runner.forwardPacks }
    public var workspace: Workspace {
        get { runner.workspace }
        set { runner.workspace = newValue }
    }

    public init(inputChannels: Int, outputChannels: Int, generator: inout SeededGenerator) {
        precondition(inputChannels > 0 && outputChannels > 0, "IPixelDCL: bad configuration")
        self.inputChannels = inputChannels
        self.outputChannels = outputChannels
        let ci = inputChannels, c = outputChannels
        w1 = Parameter(shape: [c, ci, 3, 3])
        w2 = Parameter(shape: [c, ci + c, 3, 3])
        w3 = Parameter(shape: [2 * c, ci + 2 * c, 3, 3])
        stackX = Parameter(shape: [4 * c, ci, 3, 3])
        stackC1 = Parameter(shape: [3 * c, c, 3, 3])
        generator.fillKaimingUniform(w1.value, fanIn: ci * 9)
        generator.fillKaimingUniform(w2.value, fanIn: (ci + c) * 9)
        generator.fillKaimingUniform(w3.value, fanIn: (ci + 2 * c) * 9)
    }

    public var parameters: [(name: String, parameter: Parameter)] { [("w1", w1), ("w2", w2), ("w3", w3)] }

    public func flops(inputShape: [Int]) -> LayerFLOPs {
        let px = Double(inputShape[0] * inputShape[2] * inputShape[3])
        let ci = Double(inputChannels), c = Double(outputChannels)
        let f = 2 * px * 9 * (ci * c + (ci + c) * c + (ci + 2 * c) * 2 * c)
        // Backward: dW for every product, dX for all but the products with x when no input gradient.
        let xPart = 2 * px * 9 * ci * (c + c + 2 * c)
        return LayerFLOPs(forward: f, backward: 2 * f - (computesInputGradient ? 0 : xPart))
    }

    /// Calls body(stacked, weight, ldw, rows, columns) for each block of the stacked kernels:
    /// rows of `stacked` (row length `columns`) ↔ rows of a parameter slice (row stride ldw).
    private func forEachStackBlock(_ tensor: KeyPath<Parameter, Tensor>,
                                   _ body: (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>, Int, Int, Int) -> Void) {
        let ci = inputChannels, c = outputChannels
        let kx = ci * 9, kc = c * 9, k2 = (ci + c) * 9, k3 = (ci + 2 * c) * 9
        let sx = stackX[keyPath: tensor].pointer, sc = stackC1[keyPath: tensor].pointer
        let p1 = w1[keyPath: tensor].pointer, p2 = w2[keyPath: tensor].pointer, p3 = w3[keyPath: tensor].pointer
        body(sx, p1, kx, c, kx)                       // W1
        body(sx + c * kx, p2, k2, c, kx)              // W2[:, :Cin]
        body(sx + 2 * c * kx, p3, k3, 2 * c, kx)      // W3[:, :Cin]
        body(sc, p2 + kx, k2, c, kc)                  // W2[:, Cin:]
        body(sc + c * kc, p3 + kx, k3, 2 * c, kc)     // W3[:, Cin:Cin+C]
    }

    private func geometry(_ channels: Int, _ h: Int, _ w: Int) -> ConvGeometry {
        ConvGeometry(channels: channels, height: h, width: w, kernelHeight: 3, kernelWidth: 3, padding: 1)
    }

    // MARK: forward  x [N, Cin, H, W] → out [N, Cout, 2H, 2W]

    public func forward(_ x: Tensor, mode: Mode) -> Tensor {
        let (n, h, w) = expectImages(x, channels: inputChannels, "IPixelDCL")
        let ci = inputChannels, c = outputChannels, px = h * w
        let out = reuse(output, shape: [n, c, 2 * h, 2 * w])
        output = out
        input = x
        // Stack the kernels that read x and c1.
        if stacks.needsUpdate(from: [w1, w2, w3], mode: mode) {
            forEachStackBlock(\.value) { stacked, weight, ldw, rows, cols in
                let (dst, src) = (UnsafeSendable(stacked), UnsafeSendable(weight))
                parallelChunks(rows) { r in for i in r { copyFloats(dst.value + i * cols, src.value + i * ldw, cols) } }
            }
            stackX.valueDidChange()
            stackC1.valueDidChange()
        }
        let convX = runner.convolution(0, geometry: geometry(ci, h, w), outputChannels: 4 * c,
                                       weight: stackX.value.pointer, of: stackX, mode: mode)
        let convC1 = runner.convolution(1, geometry: geometry(c, h, w), outputChannels: 3 * c,
                                        weight: stackC1.value.pointer, of: stackC1, mode: mode)
        let convC2 = runner.convolution(2, geometry: geometry(c, h, w), outputChannels: 2 * c,
                                        weight: w3.value.pointer + (ci + c) * 9, ldw: (ci + 2 * c) * 9,
                                        of: w3, mode: mode)
        let xs = Planes.nchw(x.pointer, channels: ci, pixels: px)
        let outs = Planes.nchw(out.pointer, channels: c, pixels: 4 * px)
        runner.forward(batch: n, pixelsPerImage: px) { group in
            let count = group.count, cols = count * px, first = group.first, work = group.work
            let p = group.scratch.buffer(2, count: 4 * c * cols)   // [c1; c2; c4; c5], each [C, cols]
            let c1 = p, c2 = p + c * cols
            convX.forward(source: xs.starting(at: first), count: count, output: p, ldo: cols, scratch: work)
            convC1.forward(source: .grouped(c1, count: count, pixels: px), count: count, output: c2, ldo: cols,
                           accumulate: true, scratch: work)
            convC2.forward(source: .grouped(c2, count: count, pixels: px), count: count, output: p + 2 * c * cols,
                           ldo: cols, accumulate: true, scratch: work)
            for img in 0..<count {
                func map(_ rows: Int) -> PhaseMap {
                    PhaseMap(base: p + rows * c * cols + img * px, channelStride: cols, rowStride: w)
                }
                interleave(channels: c, height: h, width: w, p00: map(0), p01: map(3), p10: map(2), p11: map(1),
                           into: outs.image(first + img))
            }
        }
        return out
    }

    // MARK: backward  dout → dx; dW1, dW2, dW3 accumulated

    public func backward(_ dout: Tensor) -> Tensor {
        guard let x = input, let out = output else { preconditionFailure("IPixelDCL.backward before forward") }
        precondition(dout.shape == out.shape, "IPixelDCL.backward: gradient \(dout.shape) for output \(out.shape)")
        let (convX, convC1, convC2) = (runner.convolutions[0], runner.convolutions[1], runner.convolutions[2])
        let (h, w) = (x.shape[2], x.shape[3])
        let ci = inputChannels, c = outputChannels, px = h * w
        let dx = reuse(inputGradient, shape: x.shape)
        inputGradient = dx
        let wantsInput = computesInputGradient
        if wantsInput { dx.zero() }
        stackX.gradient.zero()
        stackC1.gradient.zero()
        let xs = Planes.nchw(x.pointer, channels: ci, pixels: px)
        let dxs = Planes.nchw(dx.pointer, channels: ci, pixels: px)
        let douts = Planes.nchw(dout.pointer, channels: c, pixels: 4 * px)
        let outs = Planes.nchw(out.pointer, channels: c, pixels: 4 * px)
        runner.backward(accumulating: [stackX, stackC1, w3]) { group in
            let dStackX = group.gradient(0), dStackC1 = group.gradient(1), dW3c2 = group.gradient(2) + (ci + c) * 9
            let count = group.count, cols = count * px, first = group.first, work = group.work
            let dp = group.scratch.buffer(1, count: 4 * c * cols)   // d[c1; c2; c4; c5]
            let p = group.scratch.buffer(2, count: 2 * c * cols)   // [c1; c2], each [C, cols]
            for img in 0..<count {
                func map(_ buffer: UnsafeMutablePointer<Float>, _ rows: Int) -> PhaseMap {
                    PhaseMap(base: buffer + rows * c * cols + img * px, channelStride: cols, rowStride: w)
                }
                deinterleave(channels: c, height: h, width: w, from: douts.image(first + img),
                             p00: map(dp, 0), p01: map(dp, 3), p10: map(dp, 2), p11: map(dp, 1))
                // c1 and c2 back from the output.
                deinterleave(channels: c, height: h, width: w, from: outs.image(first + img),
                             p00: map(p, 0), p01: nil, p10: nil, p11: map(p, 1))
            }
            // c3 += conv(c2; W3_c2):  dW3_c2 += dc3 ⋆ c2,  dc2 += W3_c2ᵀ ⋆ dc3
            convC2.backward(source: .grouped(p + c * cols, count: count, pixels: px), count: count,
                            outputGradient: dp + 2 * c * cols, lddy: cols, weightGradient: dW3c2,
                            inputGradient: .grouped(dp + c * cols, count: count, pixels: px), scratch: work)
            // [c2; c3] += conv(c1; [W2_c1; W3_c1]):  dc1 += ᵀ ⋆ [dc2; dc3]
            convC1.backward(source: .grouped(p, count: count, pixels: px), count: count,
                            outputGradient: dp + c * cols, lddy: cols, weightGradient: dStackC1,
                            inputGradient: .grouped(dp, count: count, pixels: px), scratch: work)
            // [c1; c2; c3] = conv(x; [W1; W2ₓ; W3ₓ]) + …
            convX.backward(source: xs.starting(at: first), count: count, outputGradient: dp, lddy: cols,
                           weightGradient: dStackX, inputGradient: wantsInput ? dxs.starting(at: first) : nil,
                           scratch: work)
        }
        // Split the stacked kernels' gradients back onto W1, W2, W3.
        forEachStackBlock(\.gradient) { stacked, weight, ldw, rows, cols in
            let (src, dst) = (UnsafeSendable(stacked), UnsafeSendable(weight))
            parallelChunks(rows) { r in for i in r { addFloats(dst.value + i * ldw, src.value + i * cols, cols) } }
        }
        return dx
    }
}
