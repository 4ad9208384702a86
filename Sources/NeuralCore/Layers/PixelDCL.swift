/// PixelDCL, the pixel deconvolutional layer of Gao et al. (2017) in the authors' simplified
/// form (`pixel_dcl`), linear (no activation):
///   a = conv(x; W0)   (3×3 pad 1, Cin → Cout)      b = conv(a; W1)   (Cout → Cout)
///   d = a at phase (0,0), b at phase (1,1), 0 elsewhere;   out = d + conv(d; W2 ⊙ M)
/// where the mask M keeps the four edge taps (up, down, left, right) of a 3×3 kernel.
/// x [N, Cin, H, W] → out [N, Cout, 2H, 2W].
///
/// The masked convolution is computed only where it is non-zero, from the four neighbours:
///   out[2i,   2j+1] = Wup·b[i−1, j] + Wdown·b[i, j]   + Wleft·a[i, j]   + Wright·a[i, j+1]
///   out[2i+1, 2j  ] = Wup·a[i, j]   + Wdown·a[i+1, j] + Wleft·b[i, j−1] + Wright·b[i, j]
/// (and out(0,0) = a, out(1,1) = b exactly: the edge neighbours of an a or b pixel are zeros of d).
/// That is 8·Cout² multiply-adds per input pixel, against 36·Cout² for the literal masked 3×3
/// convolution on the 2H×2W map. Forward on maps ≥ 32 wide runs it on the edge-tap kernel
/// (`EdgeTaps`: the sums read straight off zero-bordered copies of a and b); smaller maps, and
/// backward, as one GEMM of a and one of b with the stacked tap matrices [Wup; Wdown; Wleft; Wright]
/// (4·Cout × Cout), whose tap products shifted adds then place (`EdgeTaps.pays` says which, and
/// what it measured).
///
/// Parameters (PyTorch peer names): "w0" [Cout, Cin, 3, 3], "w1" [Cout, Cout, 3, 3],
/// "w2" [4, Cout, Cout] (taps up, down, left, right; w2[t] is a Cout×Cout matrix, out × in),
/// initialised U(±1/√fan_in) with fan_in Cin·9, Cout·9, Cout·4.
public final class PixelDCL: Layer, FLOPCounting, ConvolutionLayer {
    public let inputChannels: Int
    public let outputChannels: Int
    public let w0: Parameter
    public let w1: Parameter
    public let w2: Parameter
    public var computesInputGradient = true

    private var input: Tensor?
    private var output: Tensor?
    private var inputGradient: Tensor?
    /// a and b of the last forward, stored grouped as the runner cut the batch (see `Planes`).
    /// (Reading them back from the output's phases (0,0) and (1,1) instead measured 6–10 %
    /// slower backward on 32×32; iPixelDCL, whose stores are twice as large, does that.)
    private var aStore: Tensor?
    private var bStore: Tensor?
    /// W2 packed for the edge-tap kernel (`EdgeTaps.pack`): remade for each training pass and,
    /// across inference passes, only when W2 changed; `tapPacks` counts how often.
    private var packedTaps: Tensor?
    private var packedTapsSource = DerivedWeights()
    private var tapPacks = 0
    /// Runs a = conv(x; W0) (convolution 0) and b = conv(a; W1) (convolution 1).
    private let runner = ConvolutionRunner(names: ["w0", "w1"])

    public var convolutionOptions: ConvolutionOptions {
        get { runner.options }
        set { runner.options = newValue }
    }

    public var convolutionDispatch: [(name: String, dispatch: Convolution.Dispatch)] { runner.dispatch }
    public var forwardWeightPacks: Int { runner.forwardPacks + tapPacks }
    public var workspace: Workspace {
        get { runner.workspace }
        set { runner.workspace = newValue }
    }

    public init(inputChannels: Int, outputChannels: Int, generator: inout SeededGenerator) {
        precondition(inputChannels > 0 && outputChannels > 0, "PixelDCL: bad configuration")
        self.inputChannels = inputChannels
        self.outputChannels = outputChannels
        w0 = Parameter(shape: [outputChannels, inputChannels, 3, 3])
        w1 = Parameter(shape: [outputChannels, outputChannels, 3, 3])
        w2 = Parameter(shape: [4, outputChannels, outputChannels])
        generator.fillKaimingUniform(w0.value, fanIn: inputChannels * 9)
        generator.fillKaimingUniform(w1.value, fanIn: outputChannels * 9)
        generator.fillKaimingUniform(w2.value, fanIn: outputChannels * 4)
    }

    public var parameters: [(name: String, parameter: Parameter)] { [("w0", w0), ("w1", w1), ("w2", w2)] }

    /// Useful multiply-adds: the two 3×3 convolutions and the 8·Cout² of the masked one.
    public func flops(inputShape: [Int]) -> LayerFLOPs {
        let px = Double(inputShape[0] * inputShape[2] * inputShape[3])
        let ci = Double(inputChannels), c = Double(outputChannels)
        let conv0 = 2 * px * 9 * ci * c, rest = 2 * px * (9 * c * c + 8 * c * c)
        return LayerFLOPs(forward: conv0 + rest, backward: 2 * rest + (computesInputGradient ? 2 : 1) * conv0)
    }

    private func geometries(height: Int, width: Int) -> (ConvGeometry, ConvGeometry) {
        (ConvGeometry(channels: inputChannels, height: height, width: width, kernelHeight: 3, kernelWidth: 3, padding: 1),
         ConvGeometry(channels: outputChannels, height: height, width: width, kernelHeight: 3, kernelWidth: 3, padding: 1))
    }

    // MARK: forward  x [N, Cin, H, W] → out [N, Cout, 2H, 2W]

    public func forward(_ x: Tensor, mode: Mode) -> Tensor {
        let (n, h, w) = expectImages(x, channels: inputChannels, "PixelDCL")
        let (g0, g1) = geometries(height: h, width: w)
        let c = outputChannels, px = h * w
        let out = reuse(output, shape: [n, c, 2 * h, 2 * w])
        let aStore = reuse(self.aStore, shape: [n, c, h, w]), bStore = reuse(self.bStore, shape: [n, c, h, w])
        output = out
        self.aStore = aStore
        self.bStore = bStore
        input = x
        let conv0 = runner.convolution(0, geometry: g0, outputChannels: c, weight: w0.value.pointer, of: w0, mode: mode)
        let conv1 = runner.convolution(1, geometry: g1, outputChannels: c, weight: w1.value.pointer, of: w1, mode: mode)
        let packed = packTaps(EdgeTaps.pays(width: w), mode: mode)
        let xs = Planes.nchw(x.pointer, channels: inputChannels, pixels: px)
        let outs = Planes.nchw(out.pointer, channels: c, pixels: 4 * px)
        runner.forward(batch: n, pixelsPerImage: px) { group in
            let count = group.count, cols = count * px, first = group.first, work = group.work
            let a = aStore.pointer + first * c * px, b = bStore.pointer + first * c * px
            // a [C, cols] = conv(x; W0);  b = conv(a; W1)
            conv0.forward(source: xs.starting(at: first), count: count, output: a, ldo: cols, scratch: work)
            conv1.forward(source: .grouped(a, count: count, pixels: px), count: count, output: b, ldo: cols,
                          scratch: work)
            if let packed {
                maskedByEdgeTaps(a: a, b: b, count: count, height: h, width: w, packed: packed,
                                 scratch: group.scratch, into: outs.starting(at: first))
            } else {
                maskedByTapGEMMs(a: a, b: b, count: count, height: h, width: w, scratch: group.scratch,
                                 into: outs.starting(at: first))
            }
        }
        return out
    }

    /// W2 packed for the edge-tap kernel (nil: the layer runs the tap GEMMs).
    private func packTaps(_ direct: Bool, mode: Mode) -> UnsafePointer<Float>? {
        guard direct else { return nil }
        let c = outputChannels
        let packed = reuse(packedTaps, shape: [EdgeTaps.packedCount(inputs: c, outputs: c)])
        packedTaps = packed
        if packedTapsSource.needsUpdate(from: [w2], mode: mode) {
            EdgeTaps.pack(w2.value.pointer, channels: c, into: packed.pointer)
            tapPacks += 1
        }
        return UnsafePointer(packed.pointer)
    }

    /// The output of a group of images from their a and b ([C, count·H·W] each): the masked phases
    /// by the edge-tap kernel on bordered copies of a and b, then the 2×2 interleave.
    private func maskedByEdgeTaps(a: UnsafeMutablePointer<Float>, b: UnsafeMutablePointer<Float>, count: Int,
                                  height h: Int, width w: Int, packed: UnsafePointer<Float>,
                                  scratch: ScratchBuffers, into outs: Planes) {
        let c = outputChannels, px = h * w, cols = count * px
        let layout = EdgeTaps.Layout(height: h, width: w, images: count), cs = layout.channelStride
        let ab = scratch.buffer(1, count: 2 * c * cs)       // [a; b], bordered
        let phases = scratch.buffer(2, count: 2 * c * cs)   // [out(0,1); out(1,0)], bordered
        layout.pad(a, sourceStride: cols, channels: c, into: ab)
        layout.pad(b, sourceStride: cols, channels: c, into: ab + c * cs)
        for img in 0..<count {
            let at = img * layout.plane
            EdgeTaps.run(x: ab + at, y: ab + c * cs + at, channels: c, layout: layout, packed: packed,
                         u: phases + at, v: phases + c * cs + at)
            interleave(channels: c, height: h, width: w,
                       p00: PhaseMap(base: a + img * px, channelStride: cols, rowStride: w),
                       p01: layout.map(phases + at), p10: layout.map(phases + c * cs + at),
                       p11: PhaseMap(base: b + img * px, channelStride: cols, rowStride: w), into: outs.image(img))
        }
    }

    /// The output of a group of images from their a and b, on small maps (`EdgeTaps.pays`): one
    /// GEMM of a and one of b with the stacked tap matrices [Wup; Wdown; Wleft; Wright]
    /// (4·Cout × Cout) give every tap product, and `writeOutput` places them.
    private func maskedByTapGEMMs(a: UnsafeMutablePointer<Float>, b: UnsafeMutablePointer<Float>, count: Int,
                                  height h: Int, width w: Int, scratch: ScratchBuffers, into outs: Planes) {
        let c = outputChannels, px = h * w, cols = count * px, w2 = w2.value.pointer
        let taps = scratch.buffer(1, count: 8 * c * cols)   // [T_a; T_b], each [4·Cout, cols]
        // T_a = [Wup; Wdown; Wleft; Wright] · a,  T_b likewise: every tap product at once.
        sgemm(m: 4 * c, n: cols, k: c, a: w2, lda: c, b: a, ldb: cols, c: taps, ldc: cols)
        sgemm(m: 4 * c, n: cols, k: c, a: w2, lda: c, b: b, ldb: cols, c: taps + 4 * c * cols, ldc: cols)
        for img in 0..<count {
            let t = TapPlanes(taps, channels: c, columns: cols, offset: img * px, width: w)
            let output = outs.image(img)
            for o in 0..<c {
                Self.writeOutput(t, channel: o, a: a + o * cols + img * px, b: b + o * cols + img * px,
                                 height: h, width: w, into: output + o * 4 * px)
            }
        }
    }

    /// The tap-product planes of one image inside a grouped [T_a; T_b] buffer [8·Cout, cols]:
    /// plane (source s, tap t, channel o) at rows (4s + t)·Cout + o, columns offset..offset+H·W.
    struct TapPlanes {
        enum Source: Int { case a = 0, b = 1 }
        enum Tap: Int { case up = 0, down = 1, left = 2, right = 3 }
        let base: UnsafeMutablePointer<Float>
        let channels: Int
        let columns: Int
        let width: Int
        init(_ base: UnsafeMutablePointer<Float>, channels: Int, columns: Int, offset: Int, width: Int) {
            self.base = base + offset
            self.channels = channels
            self.columns = columns
            self.width = width
        }
        @inline(__always) func plane(_ s: Source, _ t: Tap, _ o: Int) -> UnsafeMutablePointer<Float> {
            base + ((4 * s.rawValue + t.rawValue) * channels + o) * columns
        }
        /// The eight planes of channel o: a's up, down, left, right taps, then b's.
        @inline(__always) func planes(_ o: Int) -> (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>,
                                                    UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>,
                                                    UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>,
                                                    UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) {
            (plane(.a, .up, o), plane(.a, .down, o), plane(.a, .left, o), plane(.a, .right, o),
             plane(.b, .up, o), plane(.b, .down, o), plane(.b, .left, o), plane(.b, .right, o))
        }
        func map(_ s: Source, _ t: Tap) -> PhaseMap {
            PhaseMap(base: plane(s, t, 0), channelStride: columns, rowStride: width)
        }
    }

    /// Writes output channel o (2H×2W at `plane`) in one pass: a and b at phases (0,0) and
    /// (1,1), and the two masked phases summed from the tap products of channel o:
    ///   out(0,1)[i, j] = T_b.down + T_a.left + T_b.up[i−1, j] + T_a.right[i, j+1]
    ///   out(1,0)[i, j] = T_a.up + T_b.right + T_a.down[i+1, j] + T_b.left[i, j−1]
    /// (a neighbour outside the map adds 0). Replaces a pass of in-place sums and an interleave.
    @inline(__always)
    static func writeOutput(_ t: TapPlanes, channel o: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
                            height h: Int, width w: Int, into plane: UnsafeMutablePointer<Float>) {
        let (aUp, aDown, aLeft, aRight, bUp, bDown, bLeft, bRight) = t.planes(o)
        for i in 0..<h {
            let r = i * w, even = plane + 4 * r, odd = even + 2 * w
            let above = i > 0 ? bUp + r - w : nil, below = i < h - 1 ? aDown + r + w : nil
            for j in 0..<w {
                var s01 = bDown[r + j] + aLeft[r + j]
                if let above { s01 += above[j] }
                if j < w - 1 { s01 += aRight[r + j + 1] }
                var s10 = aUp[r + j] + bRight[r + j]
                if let below { s10 += below[j] }
                if j > 0 { s10 += bLeft[r + j - 1] }
                even[2 * j] = a[r + j]
                even[2 * j + 1] = s01
                odd[2 * j] = s10
                odd[2 * j + 1] = b[r + j]
            }
        }
    }

    // MARK: backward  dout → dx; dW0, dW1, dW2 accumulated

    public func backward(_ dout: Tensor) -> Tensor {
        guard let x = input, let out = output, let aStore, let bStore else {
            preconditionFailure("PixelDCL.backward before forward")
        }
        precondition(dout.shape == out.shape, "PixelDCL.backward: gradient \(dout.shape) for output \(out.shape)")
        let (conv0, conv1) = (runner.convolutions[0], runner.convolutions[1])
        let (h, w) = (x.shape[2], x.shape[3])
        let c = outputChannels, px = h * w
        let dx = reuse(inputGradient, shape: x.shape)
        inputGradient = dx
        let wantsInput = computesInputGradient
        if wantsInput { dx.zero() }
        let xs = Planes.nchw(x.pointer, channels: inputChannels, pixels: px)
        let dxs = Planes.nchw(dx.pointer, channels: inputChannels, pixels: px)
        let douts = Planes.nchw(dout.pointer, channels: c, pixels: 4 * px)
        runner.backward(accumulating: [w0, w1, self.w2]) { group in
            let dw0 = group.gradient(0), dw1 = group.gradient(1), dw2 = group.gradient(2)
            let count = group.count, cols = count * px, first = group.first, work = group.work
            let da = group.scratch.buffer(2, count: c * cols), db = group.scratch.buffer(3, count: c * cols)
            let a = aStore.pointer + first * c * px, b = bStore.pointer + first * c * px
            maskedGradientByTapGEMMs(douts.starting(at: first), a: a, b: b, count: count, height: h, width: w,
                                     scratch: group.scratch, da: da, db: db, dw2: dw2)
            // b = conv(a; W1):  dW1 += db ⋆ a,  da += W1ᵀ ⋆ db
            conv1.backward(source: .grouped(a, count: count, pixels: px), count: count, outputGradient: db,
                           lddy: cols, weightGradient: dw1, inputGradient: .grouped(da, count: count, pixels: px),
                           scratch: work)
            // a = conv(x; W0):  dW0 += da ⋆ x,  dx += W0ᵀ ⋆ da
            conv0.backward(source: xs.starting(at: first), count: count, outputGradient: da, lddy: cols,
                           weightGradient: dw0, inputGradient: wantsInput ? dxs.starting(at: first) : nil,
                           scratch: work)
        }
        return dx
    }

    /// From a group's output gradient: da = g00 + the masked taps' adjoint, db = g11 + theirs
    /// ([C, count·H·W] each), and dW2: g01, g10 spread into the gradients of the eight tap maps,
    /// then dW2 += G_a · aᵀ + G_b · bᵀ, da += W2ᵀ · G_a, db += W2ᵀ · G_b. (The edge-tap kernel
    /// transposed for da, db with dW2 as GEMMs over bordered planes measured 4 % slower on
    /// pixeldcl.3, Zen 2: 113–114 against 109 ms, one thread.)
    private func maskedGradientByTapGEMMs(_ douts: Planes, a: UnsafeMutablePointer<Float>, b: UnsafeMutablePointer<Float>,
                                          count: Int, height h: Int, width w: Int, scratch: ScratchBuffers,
                                          da: UnsafeMutablePointer<Float>, db: UnsafeMutablePointer<Float>,
                                          dw2: UnsafeMutablePointer<Float>) {
        let c = outputChannels, px = h * w, cols = count * px, w2 = w2.value.pointer
        let taps = scratch.buffer(1, count: 8 * c * cols)   // tap-map gradients [G_a; G_b]
        for img in 0..<count {
            let t = TapPlanes(taps, channels: c, columns: cols, offset: img * px, width: w)
            // g00 → da, g11 → db (the phases that are a and b); g01 → G_b.down, g10 → G_b.right.
            deinterleave(channels: c, height: h, width: w, from: douts.image(img),
                         p00: PhaseMap(base: da + img * px, channelStride: cols, rowStride: w),
                         p01: t.map(.b, .down), p10: t.map(.b, .right),
                         p11: PhaseMap(base: db + img * px, channelStride: cols, rowStride: w))
            for o in 0..<c { Self.spreadGradient(t, channel: o, height: h, width: w) }
        }
        sgemm(transposeB: true, m: 4 * c, n: c, k: cols, a: taps, lda: cols, b: a, ldb: cols, beta: 1, c: dw2, ldc: c)
        sgemm(transposeB: true, m: 4 * c, n: c, k: cols, a: taps + 4 * c * cols, lda: cols, b: b, ldb: cols,
              beta: 1, c: dw2, ldc: c)
        sgemm(transposeA: true, m: c, n: cols, k: 4 * c, a: w2, lda: c, b: taps, ldb: cols, beta: 1, c: da, ldc: cols)
        sgemm(transposeA: true, m: c, n: cols, k: 4 * c, a: w2, lda: c, b: taps + 4 * c * cols, ldb: cols,
              beta: 1, c: db, ldc: cols)
    }

    /// From g01 (in G_b.down) and g10 (in G_b.right) of channel o, the gradients of all eight
    /// tap maps, by reading the forward formulas backwards:
    ///   G_a.up = g10,  G_a.down[i] = g10[i−1],  G_a.left = g01,  G_a.right[j] = g01[j−1]
    ///   G_b.up[i] = g01[i+1],  G_b.down = g01,  G_b.left[j] = g10[j+1],  G_b.right = g10
    /// (0 where the neighbour falls outside the map).
    @inline(__always)
    static func spreadGradient(_ t: TapPlanes, channel o: Int, height h: Int, width w: Int) {
        let (aUp, aDown, aLeft, aRight, bUp, g01, bLeft, g10) = t.planes(o)
        let px = h * w
        aUp.update(from: g10, count: px)
        aLeft.update(from: g01, count: px)
        aDown.update(repeating: 0, count: w)
        (aDown + w).update(from: g10, count: px - w)
        bUp.update(from: g01 + w, count: px - w)
        (bUp + px - w).update(repeating: 0, count: w)
        for i in 0..<h {
            let r = i * w
            aRight[r] = 0
            for j in 1..<max(1, w) { aRight[r + j] = g01[r + j - 1] }
            for j in 0..<(w - 1) { bLeft[r + j] = g10[r + j + 1] }
            bLeft[r + w - 1] = 0
        }
    }
}
