/// iPixelDCL, the input pixel deconvolutional layer of Gao et al. (2017), the authors'
/// `ipixel_dcl` (linear, no bias). All convolutions 3×3, pad 1; [·,·] is channel concatenation:
///   c1 = conv(x; W1)              Cin → Cout
///   c2 = conv([x, c1]; W2)        Cin+Cout → Cout
///   [c4, c5] = conv([x, c1, c2]; W3)   Cin+2·Cout → 2·Cout
///   out(0,0) = c1, out(1,1) = c2, out(1,0) = c4, out(0,1) = c5.
/// x [N, Cin, H, W] → out [N, Cout, 2H, 2W].
///
/// Because im2col of a concatenation is the concatenation of the im2cols, one column matrix
/// [9·(Cin+2·Cout), n] is built incrementally: rows of x, then of c1 once it is computed, then of
/// c2; each convolution is one SGEMM over a prefix of its rows. Backward walks the same prefixes
/// in reverse, accumulating the column gradient, and folds each channel block back once.
///
/// Parameters (PyTorch peer names): "w1" [Cout, Cin, 3, 3], "w2" [Cout, Cin+Cout, 3, 3],
/// "w3" [2·Cout, Cin+2·Cout, 3, 3], initialised U(±1/√(9·input channels)).
public final class IPixelDCL: Layer, FLOPCounting {
    public let inputChannels: Int
    public let outputChannels: Int
    public let w1: Parameter
    public let w2: Parameter
    public let w3: Parameter
    public var computesInputGradient = true

    private var input: Tensor?
    private var output: Tensor?
    private var inputGradient: Tensor?
    /// c1 and c2 of the last forward, grouped as `plan` cut the batch: [C, cols] blocks.
    private var c1Store: Tensor?
    private var c2Store: Tensor?
    private var plan: BatchPlan?
    private let workspace = Workspace()
    /// GEMM width a group of images aims for (images × pixels).
    public var groupColumns = 256

    public init(inputChannels: Int, outputChannels: Int, generator: inout SeededGenerator) {
        precondition(inputChannels > 0 && outputChannels > 0, "IPixelDCL: bad configuration")
        self.inputChannels = inputChannels
        self.outputChannels = outputChannels
        let ci = inputChannels, c = outputChannels
        w1 = Parameter(shape: [c, ci, 3, 3])
        w2 = Parameter(shape: [c, ci + c, 3, 3])
        w3 = Parameter(shape: [2 * c, ci + 2 * c, 3, 3])
        generator.fillKaimingUniform(w1.value, fanIn: ci * 9)
        generator.fillKaimingUniform(w2.value, fanIn: (ci + c) * 9)
        generator.fillKaimingUniform(w3.value, fanIn: (ci + 2 * c) * 9)
    }

    public var parameters: [(name: String, parameter: Parameter)] { [("w1", w1), ("w2", w2), ("w3", w3)] }

    public func flops(inputShape: [Int]) -> LayerFLOPs {
        let px = Double(inputShape[0] * inputShape[2] * inputShape[3])
        let ci = Double(inputChannels), c = Double(outputChannels)
        let f = 2 * px * 9 * (ci * c + (ci + c) * c + (ci + 2 * c) * 2 * c)
        // Backward: dW for every conv, dX for every conv but the x rows when no input gradient.
        let xRows = 2 * px * 9 * ci * (c + c + 2 * c)
        return LayerFLOPs(forward: f, backward: 2 * f - (computesInputGradient ? 0 : xRows))
    }

    /// Geometry of a 3×3 pad-1 convolution over `channels` channels of H×W.
    private func geometry(_ channels: Int, _ h: Int, _ w: Int) -> ConvGeometry {
        ConvGeometry(channels: channels, height: h, width: w, kernelHeight: 3, kernelWidth: 3, padding: 1)
    }

    // MARK: forward  x [N, Cin, H, W] → out [N, Cout, 2H, 2W]

    public func forward(_ x: Tensor, mode: Mode) -> Tensor {
        let (n, h, w) = expectImages(x, channels: inputChannels, "IPixelDCL")
        let ci = inputChannels, c = outputChannels, px = h * w
        let gx = geometry(ci, h, w), gc = geometry(c, h, w)
        let k1 = gx.patchSize, k2 = k1 + gc.patchSize, k3 = k2 + gc.patchSize
        let out = reuse(output, shape: [n, c, 2 * h, 2 * w])
        let c1Store = reuse(self.c1Store, shape: [n, c, h, w]), c2Store = reuse(self.c2Store, shape: [n, c, h, w])
        output = out
        self.c1Store = c1Store
        self.c2Store = c2Store
        input = x
        let plan = BatchPlan(batch: n, pixelsPerImage: px, columns: groupColumns)
        self.plan = plan
        workspace.prepare(workers: plan.workerRanges.count)
        let w1 = w1.value.pointer, w2 = w2.value.pointer, w3 = w3.value.pointer
        let xs = Planes.nchw(x.pointer, channels: ci, pixels: px)
        let outs = Planes.nchw(out.pointer, channels: c, pixels: 4 * px)
        plan.run { worker in
            let scratch = workspace.scratch(worker)
            plan.forEachGroup(ofWorker: worker) { group in
                let count = group.count, cols = count * px, first = group.lowerBound
                let column = scratch.buffer(0, count: k3 * cols)     // rows: x | c1 | c2
                let c3 = scratch.buffer(1, count: 2 * c * cols)      // [c4; c5]
                let c1 = c1Store.pointer + first * c * px, c2 = c2Store.pointer + first * c * px
                ConvKernel.unfold(gx, source: xs.starting(at: first), count: count, column: column)
                sgemm(m: c, n: cols, k: k1, a: w1, lda: k1, b: column, ldb: cols, c: c1, ldc: cols)
                ConvKernel.unfold(gc, source: .grouped(c1, count: count, pixels: px), count: count,
                                  column: column + k1 * cols)
                sgemm(m: c, n: cols, k: k2, a: w2, lda: k2, b: column, ldb: cols, c: c2, ldc: cols)
                ConvKernel.unfold(gc, source: .grouped(c2, count: count, pixels: px), count: count,
                                  column: column + k2 * cols)
                sgemm(m: 2 * c, n: cols, k: k3, a: w3, lda: k3, b: column, ldb: cols, c: c3, ldc: cols)
                for img in 0..<count {
                    func map(_ p: UnsafeMutablePointer<Float>) -> PhaseMap {
                        PhaseMap(base: p + img * px, channelStride: cols, rowStride: w)
                    }
                    interleave(channels: c, height: h, width: w, p00: map(c1), p01: map(c3 + c * cols),
                               p10: map(c3), p11: map(c2), into: outs.image(first + img))
                }
            }
        }
        return out
    }

    // MARK: backward  dout → dx; dW1, dW2, dW3 accumulated

    public func backward(_ dout: Tensor) -> Tensor {
        guard let x = input, let plan, let out = output, let c1Store, let c2Store else {
            preconditionFailure("IPixelDCL.backward before forward")
        }
        precondition(dout.shape == out.shape, "IPixelDCL.backward: gradient \(dout.shape) for output \(out.shape)")
        let (h, w) = (x.shape[2], x.shape[3])
        let ci = inputChannels, c = outputChannels, px = h * w
        let gx = geometry(ci, h, w), gc = geometry(c, h, w)
        let k1 = gx.patchSize, k2 = k1 + gc.patchSize, k3 = k2 + gc.patchSize
        let dx = reuse(inputGradient, shape: x.shape)
        inputGradient = dx
        let wantsInput = computesInputGradient
        if wantsInput { dx.zero() }
        let params = [w1, w2, w3], workers = plan.workerRanges.count
        workspace.beginAccumulation(params, workers: workers)
        let w1 = w1.value.pointer, w2 = w2.value.pointer, w3 = w3.value.pointer
        let xs = Planes.nchw(x.pointer, channels: ci, pixels: px)
        let dxs = Planes.nchw(dx.pointer, channels: ci, pixels: px)
        let douts = Planes.nchw(dout.pointer, channels: c, pixels: 4 * px)
        plan.run { worker in
            let scratch = workspace.scratch(worker)
            let dw1 = workspace.accumulator(params, 0, worker: worker)
            let dw2 = workspace.accumulator(params, 1, worker: worker)
            let dw3 = workspace.accumulator(params, 2, worker: worker)
            plan.forEachGroup(ofWorker: worker) { group in
                let count = group.count, cols = count * px, first = group.lowerBound
                let column = scratch.buffer(0, count: k3 * cols)
                let dcolumn = scratch.buffer(1, count: k3 * cols)
                let dc3 = scratch.buffer(2, count: 2 * c * cols)
                let dc1 = scratch.buffer(3, count: c * cols), dc2 = scratch.buffer(4, count: c * cols)
                let c1 = c1Store.pointer + first * c * px, c2 = c2Store.pointer + first * c * px
                for img in 0..<count {
                    func map(_ p: UnsafeMutablePointer<Float>) -> PhaseMap {
                        PhaseMap(base: p + img * px, channelStride: cols, rowStride: w)
                    }
                    deinterleave(channels: c, height: h, width: w, from: douts.image(first + img),
                                 p00: map(dc1), p01: map(dc3 + c * cols), p10: map(dc3), p11: map(dc2))
                }
                // The column matrix of [x, c1, c2], as in forward.
                ConvKernel.unfold(gx, source: xs.starting(at: first), count: count, column: column)
                ConvKernel.unfold(gc, source: .grouped(c1, count: count, pixels: px), count: count,
                                  column: column + k1 * cols)
                ConvKernel.unfold(gc, source: .grouped(c2, count: count, pixels: px), count: count,
                                  column: column + k2 * cols)
                // c3 = W3 · col[0..<k3]
                sgemm(transposeB: true, m: 2 * c, n: k3, k: cols, a: dc3, lda: cols, b: column, ldb: cols,
                      beta: 1, c: dw3, ldc: k3)
                // Column-gradient rows of x (0..<k1) are needed only for dx.
                let lo = wantsInput ? 0 : k1
                sgemm(transposeA: true, m: k3 - lo, n: cols, k: 2 * c, a: w3 + lo, lda: k3, b: dc3, ldb: cols,
                      c: dcolumn + lo * cols, ldc: cols)
                ConvKernel.fold(gc, column: dcolumn + k2 * cols, count: count,
                                destination: .grouped(dc2, count: count, pixels: px))
                // c2 = W2 · col[0..<k2]
                sgemm(transposeB: true, m: c, n: k2, k: cols, a: dc2, lda: cols, b: column, ldb: cols,
                      beta: 1, c: dw2, ldc: k2)
                sgemm(transposeA: true, m: k2 - lo, n: cols, k: c, a: w2 + lo, lda: k2, b: dc2, ldb: cols,
                      beta: 1, c: dcolumn + lo * cols, ldc: cols)
                ConvKernel.fold(gc, column: dcolumn + k1 * cols, count: count,
                                destination: .grouped(dc1, count: count, pixels: px))
                // c1 = W1 · col[0..<k1]
                sgemm(transposeB: true, m: c, n: k1, k: cols, a: dc1, lda: cols, b: column, ldb: cols,
                      beta: 1, c: dw1, ldc: k1)
                if wantsInput {
                    sgemm(transposeA: true, m: k1, n: cols, k: c, a: w1, lda: k1, b: dc1, ldb: cols,
                          beta: 1, c: dcolumn, ldc: cols)
                    ConvKernel.fold(gx, column: dcolumn, count: count, destination: dxs.starting(at: first))
                }
            }
        }
        workspace.reduce(params, workers: workers)
        return dx
    }
}
