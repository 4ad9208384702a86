/// 2-D convolution (cross-correlation), as PyTorch's `nn.Conv2d` with square kernel, stride and
/// zero padding: out[n, o, y, x] = b[o] + Σ_{c,ky,kx} W[o, c, ky, kx] · in[n, c, y·s−p+ky, x·s−p+kx].
///
/// Parameters: "weight" [Cout, Cin, k, k], "bias" [Cout] (optional).
/// Runs through `Convolution` (its kernel chosen by geometry) on groups of images, images spread
/// over the workers (`ConvolutionRunner`).
public final class Conv2d: Layer, FLOPCounting, ConvolutionLayer {
    public let inputChannels: Int
    public let outputChannels: Int
    public let kernelSize: Int
    public let stride: Int
    public let padding: Int
    public let weight: Parameter
    public let bias: Parameter?
    public var computesInputGradient = true

    private var input: Tensor?                // [N, Cin, H, W], kept for backward
    private var output: Tensor?               // [N, Cout, Hout, Wout]
    private var inputGradient: Tensor?        // [N, Cin, H, W]
    private let runner = ConvolutionRunner(names: ["weight"])

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

    /// Weights (and bias) initialised as PyTorch does: U(±1/√(Cin·k·k)).
    public init(inputChannels: Int, outputChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
                bias: Bool, generator: inout SeededGenerator) {
        precondition(inputChannels > 0 && outputChannels > 0 && kernelSize > 0 && stride > 0 && padding >= 0,
                     "Conv2d: bad configuration")
        self.inputChannels = inputChannels
        self.outputChannels = outputChannels
        self.kernelSize = kernelSize
        self.stride = stride
        self.padding = padding
        weight = Parameter(shape: [outputChannels, inputChannels, kernelSize, kernelSize])
        self.bias = bias ? Parameter(shape: [outputChannels]) : nil
        let fanIn = inputChannels * kernelSize * kernelSize
        generator.fillKaimingUniform(weight.value, fanIn: fanIn)
        if let b = self.bias { generator.fillKaimingUniform(b.value, fanIn: fanIn) }
    }

    public var parameters: [(name: String, parameter: Parameter)] {
        [("weight", weight)] + (bias.map { [("bias", $0)] } ?? [])
    }

    public func geometry(height: Int, width: Int) -> ConvGeometry {
        ConvGeometry(channels: inputChannels, height: height, width: width, kernelHeight: kernelSize,
                     kernelWidth: kernelSize, stride: stride, padding: padding)
    }

    public func flops(inputShape: [Int]) -> LayerFLOPs {
        let g = geometry(height: inputShape[2], width: inputShape[3])
        let f = 2 * Double(inputShape[0] * outputChannels * g.patchSize * g.outputPixels)
        return LayerFLOPs(forward: f, backward: computesInputGradient ? 2 * f : f)
    }

    // MARK: forward  x [N, Cin, H, W] → y [N, Cout, Hout, Wout]

    public func forward(_ x: Tensor, mode: Mode) -> Tensor {
        let (n, h, w) = expectImages(x, channels: inputChannels, "Conv2d")
        let g = geometry(height: h, width: w)
        let m = outputChannels, p = g.outputPixels
        let y = reuse(output, shape: [n, m, g.outputHeight, g.outputWidth])
        output = y
        input = x
        let conv = runner.convolution(0, geometry: g, outputChannels: m, weight: weight.value.pointer,
                                     of: weight, mode: mode)
        let bias = bias?.value.pointer
        let xs = Planes.nchw(x.pointer, channels: inputChannels, pixels: h * w)
        let ys = Planes.nchw(y.pointer, channels: m, pixels: p)
        runner.forward(batch: n, pixelsPerImage: p) { group in
            let count = group.count, cols = count * p
            let target = ys.starting(at: group.first)
            if count == 1 || conv.writesAnyPlanes {
                conv.forward(source: xs.starting(at: group.first), count: count, into: target, scratch: group.work)
            } else {
                let grouped = group.scratch.buffer(1, count: m * cols)
                conv.forward(source: xs.starting(at: group.first), count: count, output: grouped, ldo: cols,
                             scratch: group.work)
                Self.copy(channels: m, pixels: p, count: count, from: .grouped(grouped, count: count, pixels: p),
                          to: target)
            }
            if let bias {
                for b in 0..<count {
                    let img = target.image(b)
                    for o in 0..<m {
                        let v = bias[o], row = img + o * p
                        for i in 0..<p { row[i] += v }
                    }
                }
            }
        }
        return y
    }

    // MARK: backward  dy [N, Cout, Hout, Wout] → dx [N, Cin, H, W]; dW += dy ⋆ x, db += Σ dy

    public func backward(_ dy: Tensor) -> Tensor {
        guard let x = input, let y = output else { preconditionFailure("Conv2d.backward before forward") }
        precondition(dy.shape == y.shape, "Conv2d.backward: gradient \(dy.shape) for output \(y.shape)")
        let conv = runner.convolutions[0]
        let (h, w) = (x.shape[2], x.shape[3])
        let m = outputChannels, p = conv.geometry.outputPixels
        let dx = reuse(inputGradient, shape: x.shape)
        inputGradient = dx
        let wantsInput = computesInputGradient, imageFloats = inputChannels * h * w
        let hasBias = bias != nil
        let xs = Planes.nchw(x.pointer, channels: inputChannels, pixels: h * w)
        let dxs = Planes.nchw(dx.pointer, channels: inputChannels, pixels: h * w)
        let dys = Planes.nchw(dy.pointer, channels: m, pixels: p)
        runner.backward(accumulating: parameters.map(\.parameter)) { group in
            let count = group.count, cols = count * p
            // dY: the NCHW planes themselves for one image or a kernel that reads any planes,
            // else a copy as one [M, count·P] matrix.
            let grad: Planes
            if count == 1 || conv.readsAnyGradientPlanes {
                grad = dys.starting(at: group.first)
            } else {
                let grouped = group.scratch.buffer(1, count: m * cols)
                grad = .grouped(grouped, count: count, pixels: p)
                Self.copy(channels: m, pixels: p, count: count, from: dys.starting(at: group.first), to: grad)
            }
            // dx is accumulated into: each worker clears its own images first.
            if wantsInput { fillZero(dxs.image(group.first), count * imageFloats) }
            if hasBias {
                let db = group.gradient(1)
                for b in 0..<count {
                    for o in 0..<m {
                        let row = grad.image(b) + o * grad.channelStride
                        var s: Float = 0
                        for i in 0..<p { s += row[i] }
                        db[o] += s
                    }
                }
            }
            conv.backward(source: xs.starting(at: group.first), count: count, outputGradient: grad,
                          weightGradient: group.gradient(0),
                          inputGradient: wantsInput ? dxs.starting(at: group.first) : nil, scratch: group.work)
        }
        return dx
    }

    /// Copies `channels` planes of `pixels` floats for each of `count` images between layouts
    /// (the grouped [M, n] matrix of SGEMM and the NCHW tensor).
    private static func copy(channels: Int, pixels: Int, count: Int, from src: Planes, to dst: Planes) {
        for b in 0..<count {
            let s = src.image(b), d = dst.image(b)
            for c in 0..<channels {
                (d + c * dst.channelStride).update(from: s + c * src.channelStride, count: pixels)
            }
        }
    }
}
