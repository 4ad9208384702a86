/// 2-D convolution (cross-correlation), as PyTorch's `nn.Conv2d` with square kernel, stride and
/// zero padding: out[n, o, y, x] = b[o] + Σ_{c,ky,kx} W[o, c, ky, kx] · in[n, c, y·s−p+ky, x·s−p+kx].
///
/// Parameters: "weight" [Cout, Cin, k, k], "bias" [Cout] (optional).
/// Runs through `Convolution` (direct 3×3 kernels or im2col + SGEMM on groups of images),
/// images spread over the workers.
public final class Conv2d: Layer, FLOPCounting {
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
    private var plan: BatchPlan?
    private var convolution: Convolution?
    private let workspace = Workspace()
    /// GEMM width a group of images aims for (images × output pixels); small maps batch images.
    public var groupColumns = 256
    /// Whether the direct 3×3 kernels may run (false: always im2col + SGEMM).
    public var allowsDirectKernel = true

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
        let conv = Convolution.reuse(convolution, geometry: g, outputChannels: m, allowDirect: allowsDirectKernel)
        convolution = conv
        conv.setWeights(weight.value.pointer)
        let columns = conv.groupPixels(gemmColumns: groupColumns)
        let plan = BatchPlan(batch: n, pixelsPerImage: p, columns: columns)
        self.plan = plan
        workspace.prepare(workers: plan.workerRanges.count)
        let bias = bias?.value.pointer
        let xs = Planes.nchw(x.pointer, channels: inputChannels, pixels: h * w)
        let ys = Planes.nchw(y.pointer, channels: m, pixels: p)
        plan.run { worker in
            let scratch = workspace.scratch(worker)
            plan.forEachGroup(ofWorker: worker) { group in
                let count = group.count, cols = count * p
                let work = scratch.buffer(0, count: conv.scratchCount(images: count))
                let target = ys.starting(at: group.lowerBound)
                if count == 1 || conv.writesAnyPlanes {
                    conv.forward(source: xs.starting(at: group.lowerBound), count: count, into: target, scratch: work)
                } else {
                    let grouped = scratch.buffer(1, count: m * cols)
                    conv.forward(source: xs.starting(at: group.lowerBound), count: count, output: grouped, ldo: cols,
                                 scratch: work)
                    ConvKernel.copy(channels: m, pixels: p, count: count,
                                    from: .grouped(grouped, count: count, pixels: p), to: target)
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
        }
        return y
    }

    // MARK: backward  dy [N, Cout, Hout, Wout] → dx [N, Cin, H, W]; dW += dy ⋆ x, db += Σ dy

    public func backward(_ dy: Tensor) -> Tensor {
        guard let x = input, let plan, let y = output, let conv = convolution else {
            preconditionFailure("Conv2d.backward before forward")
        }
        precondition(dy.shape == y.shape, "Conv2d.backward: gradient \(dy.shape) for output \(y.shape)")
        let (h, w) = (x.shape[2], x.shape[3])
        let m = outputChannels, p = conv.geometry.outputPixels
        let dx = reuse(inputGradient, shape: x.shape)
        inputGradient = dx
        let wantsInput = computesInputGradient, imageFloats = inputChannels * h * w
        conv.setWeights(weight.value.pointer, backward: true)
        let params = parameters.map(\.parameter)
        let workers = plan.workerRanges.count
        workspace.beginAccumulation(params, workers: workers)
        let hasBias = bias != nil
        let xs = Planes.nchw(x.pointer, channels: inputChannels, pixels: h * w)
        let dxs = Planes.nchw(dx.pointer, channels: inputChannels, pixels: h * w)
        let dys = Planes.nchw(dy.pointer, channels: m, pixels: p)
        plan.run { worker in
            let scratch = workspace.scratch(worker)
            let dw = workspace.accumulator(params, 0, worker: worker)
            let db = hasBias ? workspace.accumulator(params, 1, worker: worker) : nil
            plan.forEachGroup(ofWorker: worker) { group in
                let count = group.count, cols = count * p
                let work = scratch.buffer(0, count: conv.scratchCount(images: count))
                // dY: the NCHW planes themselves for one image or a kernel that reads any planes,
                // else a copy as one [M, count·P] matrix.
                let grad: Planes
                if count == 1 || conv.readsAnyGradientPlanes {
                    grad = dys.starting(at: group.lowerBound)
                } else {
                    let grouped = scratch.buffer(1, count: m * cols)
                    grad = .grouped(grouped, count: count, pixels: p)
                    ConvKernel.copy(channels: m, pixels: p, count: count, from: dys.starting(at: group.lowerBound),
                                    to: grad)
                }
                // dx is accumulated into: each worker clears its own images first.
                if wantsInput { fillZero(dxs.image(group.lowerBound), count * imageFloats) }
                if let db {
                    for b in 0..<count {
                        for o in 0..<m {
                            let row = grad.image(b) + o * grad.channelStride
                            var s: Float = 0
                            for i in 0..<p { s += row[i] }
                            db[o] += s
                        }
                    }
                }
                conv.backward(source: xs.starting(at: group.lowerBound), count: count, outputGradient: grad,
                              weightGradient: dw, inputGradient: wantsInput ? dxs.starting(at: group.lowerBound) : nil,
                              scratch: work)
            }
        }
        workspace.reduce(params, workers: workers)
        return dx
    }
}
