import Testing
import NeuralCore
import TestSupport

/// Relative error of a Float tensor against a Double reference (scale: the reference's max).
func error(_ got: Tensor, _ want: RefTensor) -> Double {
    #expect(got.shape == want.shape, "shape \(got.shape) vs \(want.shape)")
    return relativeMaxError(got.array, want.floats)
}

/// Runs forward and backward once with a random upstream gradient, zeroing parameter gradients
/// first. Returns (output, input gradient, upstream gradient) as copies.
func forwardBackward(_ layer: Layer, _ x: Tensor, seed: UInt64 = 5) -> (y: Tensor, dx: Tensor, dy: Tensor) {
    for (_, p) in layer.parameters { p.gradient.zero() }
    let y = layer.forward(x, mode: .training)
    let dy = Reference.randomTensor(y.shape, seed: seed)
    let yCopy = Tensor(shape: y.shape, values: y.array)
    let dx = layer.backward(dy)
    return (yCopy, Tensor(shape: dx.shape, values: dx.array), dy)
}

let tolerance = 2e-5

// MARK: im2col / col2im

struct Im2ColCase: CustomTestStringConvertible, Sendable {
    var c, h, w, k, s, p: Int
    var testDescription: String { "C\(c) \(h)×\(w) k\(k) s\(s) p\(p)" }
}

@Test(arguments: [Im2ColCase(c: 2, h: 5, w: 7, k: 3, s: 1, p: 1), Im2ColCase(c: 3, h: 8, w: 6, k: 4, s: 2, p: 1),
                  Im2ColCase(c: 1, h: 7, w: 7, k: 6, s: 2, p: 2), Im2ColCase(c: 2, h: 3, w: 4, k: 2, s: 1, p: 1),
                  Im2ColCase(c: 2, h: 5, w: 5, k: 3, s: 3, p: 0),
                  Im2ColCase(c: 2, h: 6, w: 40, k: 4, s: 2, p: 1), Im2ColCase(c: 1, h: 5, w: 35, k: 3, s: 2, p: 0),
                  Im2ColCase(c: 3, h: 2, w: 2, k: 4, s: 2, p: 1), Im2ColCase(c: 2, h: 4, w: 34, k: 4, s: 2, p: 1),
                  Im2ColCase(c: 2, h: 7, w: 6, k: 4, s: 2, p: 1)])   // phase planes (odd height: not)
func im2colMatchesDefinitionAndCol2imIsItsAdjoint(_ t: Im2ColCase) {
    let g = ConvGeometry(channels: t.c, height: t.h, width: t.w, kernelHeight: t.k, kernelWidth: t.k,
                         stride: t.s, padding: t.p)
    let x = Reference.randomTensor([t.c, t.h, t.w], seed: 1)
    let col = Tensor(shape: [g.patchSize, g.outputPixels])
    col.fill(.nan)  // every entry must be written
    im2col(g, source: x.pointer, channelStride: t.h * t.w, column: col.pointer, ldc: g.outputPixels)
    var worst: Float = 0
    for c in 0..<t.c { for ky in 0..<t.k { for kx in 0..<t.k {
        for oy in 0..<g.outputHeight { for ox in 0..<g.outputWidth {
            let iy = oy * t.s - t.p + ky, ix = ox * t.s - t.p + kx
            let want: Float = (iy >= 0 && iy < t.h && ix >= 0 && ix < t.w) ? x[(c * t.h + iy) * t.w + ix] : 0
            let got = col[((c * t.k + ky) * t.k + kx) * g.outputPixels + oy * g.outputWidth + ox]
            worst = max(worst, abs(got - want))
        } }
    } } }
    #expect(worst == 0)
    // ⟨im2col(x), v⟩ = ⟨x, col2im(v)⟩
    let v = Reference.randomTensor(col.shape, seed: 2)
    let back = Tensor(shape: x.shape)
    col2im(g, column: v.pointer, ldc: g.outputPixels, destination: back.pointer, channelStride: t.h * t.w)
    let lhs = Reference.dot(col, v), rhs = Reference.dot(x, back)
    #expect(abs(lhs - rhs) <= 1e-5 * max(1, abs(lhs)))
}

@Test func interleaveAndDeinterleaveAreInverseAndAdjoint() {
    let (c, h, w) = (3, 4, 5)
    let phases = (0..<4).map { Reference.randomTensor([c, h, w], seed: UInt64(10 + $0)) }
    func map(_ t: Tensor) -> PhaseMap { PhaseMap(base: t.pointer, channelStride: h * w, rowStride: w) }
    let out = Tensor(shape: [c, 2 * h, 2 * w])
    interleave(channels: c, height: h, width: w, p00: map(phases[0]), p01: map(phases[1]), p10: map(phases[2]),
               p11: map(phases[3]), into: out.pointer)
    let ref = RefTensor(shape: [1, c, 2 * h, 2 * w], data: out.array.map(Double.init))
    for (i, (p, q)) in [(0, 0), (0, 1), (1, 0), (1, 1)].enumerated() {
        #expect(Reference.phase(ref, p, q).floats == phases[i].array)
    }
    let back = (0..<4).map { _ in Tensor(shape: [c, h, w]) }
    deinterleave(channels: c, height: h, width: w, from: out.pointer, p00: map(back[0]), p01: map(back[1]),
                 p10: map(back[2]), p11: map(back[3]))
    for i in 0..<4 { #expect(back[i].array == phases[i].array) }
}

// MARK: Conv2d

struct ConvCase: CustomTestStringConvertible, Sendable {
    var n, cin, cout, h, w, k, s, p: Int
    var bias: Bool
    var groupColumns = 256
    var direct = true
    var testDescription: String {
        "N\(n) \(cin)→\(cout) \(h)×\(w) k\(k) s\(s) p\(p)\(bias ? " bias" : "") group \(groupColumns)"
            + (direct ? "" : " GEMM only")
    }
}

let convCases = [
    ConvCase(n: 3, cin: 5, cout: 4, h: 6, w: 6, k: 4, s: 2, p: 1, bias: false),       // encoder-like
    ConvCase(n: 2, cin: 3, cout: 7, h: 7, w: 5, k: 3, s: 1, p: 1, bias: true),        // odd sizes, bias
    ConvCase(n: 5, cin: 4, cout: 3, h: 9, w: 9, k: 3, s: 1, p: 1, bias: true, groupColumns: 1),  // one image a GEMM
    ConvCase(n: 4, cin: 2, cout: 3, h: 5, w: 8, k: 2, s: 1, p: 0, bias: false),
    ConvCase(n: 3, cin: 3, cout: 2, h: 7, w: 7, k: 3, s: 2, p: 0, bias: true),
    ConvCase(n: 1, cin: 3, cout: 4, h: 17, w: 16, k: 3, s: 1, p: 1, bias: false),     // > 256 pixels
    ConvCase(n: 3, cin: 4, cout: 3, h: 4, w: 32, k: 3, s: 1, p: 1, bias: true),       // direct kernel, M < 8
    ConvCase(n: 2, cin: 9, cout: 10, h: 2, w: 16, k: 3, s: 1, p: 1, bias: false),     // direct, M = 8 + 2
    ConvCase(n: 2, cin: 9, cout: 10, h: 2, w: 16, k: 3, s: 1, p: 1, bias: false, direct: false),
    ConvCase(n: 3, cin: 5, cout: 4, h: 6, w: 6, k: 4, s: 2, p: 1, bias: false, direct: false),      // GEMM encoder
    ConvCase(n: 18, cin: 8, cout: 9, h: 8, w: 10, k: 4, s: 2, p: 1, bias: true),  // space-to-depth, > 16 images
    ConvCase(n: 17, cin: 8, cout: 6, h: 16, w: 18, k: 4, s: 2, p: 1, bias: true), // … 8×9 outputs, one group
]

@Test(arguments: convCases)
func conv2dMatchesReference(_ t: ConvCase) throws {
    var rng = SeededGenerator(seed: 11)
    let layer = Conv2d(inputChannels: t.cin, outputChannels: t.cout, kernelSize: t.k, stride: t.s, padding: t.p,
                       bias: t.bias, generator: &rng)
    layer.convolutionOptions = ConvolutionOptions(groupColumns: t.groupColumns, allowsDirectKernel: t.direct)
    let x = Reference.randomTensor([t.n, t.cin, t.h, t.w], seed: 12)
    let (y, dx, dy) = forwardBackward(layer, x)
    let rx = RefTensor(x), rw = RefTensor(layer.weight.value)
    let want = Reference.conv(rx, rw, bias: layer.bias.map { RefTensor($0.value) }, stride: t.s, padding: t.p)
    let grads = Reference.convBackward(rx, rw, RefTensor(dy), stride: t.s, padding: t.p)
    #expect(error(y, want) < tolerance)
    #expect(error(dx, grads.dx) < tolerance)
    #expect(error(layer.weight.gradient, grads.dw) < tolerance)
    if let b = layer.bias { #expect(error(b.gradient, grads.db) < tolerance) }
}

@Test func conv2dGradientCheck() {
    for t in [convCases[0], convCases[1], convCases[4]] {
        var rng = SeededGenerator(seed: 13)
        let layer = Conv2d(inputChannels: t.cin, outputChannels: t.cout, kernelSize: t.k, stride: t.s, padding: t.p,
                           bias: t.bias, generator: &rng)
        let x = Reference.randomTensor([2, t.cin, t.h, t.w], seed: 14)
        let r = gradientCheck(layer, input: x)
        #expect(r.maxError < 1e-2, "\(t): \(r)")
    }
}

@Test func conv2dBackwardAccumulatesAndSkipsInputGradient() {
    var rng = SeededGenerator(seed: 15)
    let layer = Conv2d(inputChannels: 3, outputChannels: 4, kernelSize: 3, padding: 1, bias: true, generator: &rng)
    let x = Reference.randomTensor([3, 3, 6, 6], seed: 16)
    let (_, dx, dy) = forwardBackward(layer, x)
    let once = layer.weight.gradient.array, onceB = layer.bias!.gradient.array
    layer.computesInputGradient = false
    _ = layer.forward(x, mode: .training)
    _ = layer.backward(dy)
    #expect(relativeMaxError(layer.weight.gradient.array, once.map { 2 * $0 }) < 1e-6)
    #expect(relativeMaxError(layer.bias!.gradient.array, onceB.map { 2 * $0 }) < 1e-6)
    #expect(dx.count == x.count)
}

@Test func conv2dNamesShapesAndInitialisation() {
    var rng = SeededGenerator(seed: 17)
    let layer = Conv2d(inputChannels: 32, outputChannels: 3, kernelSize: 3, padding: 1, bias: true, generator: &rng)
    #expect(layer.parameters.map(\.name) == ["weight", "bias"])
    #expect(layer.weight.value.shape == [3, 32, 3, 3])
    #expect(layer.bias!.value.shape == [3])
    let bound = 1 / Float(32 * 9).squareRoot()
    let all = layer.weight.value.array + layer.bias!.value.array
    #expect(all.allSatisfy { abs($0) <= bound })
    #expect(all.map { abs($0) }.max()! > 0.9 * bound)
    let enc = Conv2d(inputChannels: 3, outputChannels: 32, kernelSize: 4, stride: 2, padding: 1, bias: false,
                     generator: &rng)
    #expect(enc.parameters.map(\.name) == ["weight"])
    #expect(enc.flops(inputShape: [64, 3, 64, 64]).forward == 2 * 64 * 32 * 48 * 1024)
}

// MARK: ConvTranspose2d

struct TransposeCase: CustomTestStringConvertible, Sendable {
    var n, cin, cout, h, w, k, s, p: Int
    var testDescription: String { "N\(n) \(cin)→\(cout) \(h)×\(w) k\(k) s\(s) p\(p)" }
}

@Test(arguments: [TransposeCase(n: 2, cin: 5, cout: 4, h: 6, w: 6, k: 6, s: 2, p: 2),
                  TransposeCase(n: 3, cin: 3, cout: 2, h: 5, w: 7, k: 6, s: 2, p: 2),
                  TransposeCase(n: 2, cin: 3, cout: 4, h: 4, w: 5, k: 4, s: 2, p: 1),
                  TransposeCase(n: 3, cin: 2, cout: 3, h: 5, w: 3, k: 3, s: 1, p: 1),
                  TransposeCase(n: 1, cin: 2, cout: 2, h: 3, w: 4, k: 5, s: 3, p: 0)])
func convTransposeMatchesReference(_ t: TransposeCase) {
    var rng = SeededGenerator(seed: 21)
    let layer = ConvTranspose2d(inputChannels: t.cin, outputChannels: t.cout, kernelSize: t.k, stride: t.s,
                                padding: t.p, generator: &rng)
    let x = Reference.randomTensor([t.n, t.cin, t.h, t.w], seed: 22)
    for phase in layer.isDCL ? [true, false] : [false] {
        layer.usesPhaseDecomposition = phase
        let (y, dx, dy) = forwardBackward(layer, x)
        let rx = RefTensor(x), rw = RefTensor(layer.weight.value)
        let want = Reference.convTranspose(rx, rw, stride: t.s, padding: t.p)
        let grads = Reference.convTransposeBackward(rx, rw, RefTensor(dy), stride: t.s, padding: t.p)
        #expect(error(y, want) < tolerance, "phase \(phase)")
        #expect(error(dx, grads.dx) < tolerance, "phase \(phase)")
        #expect(error(layer.weight.gradient, grads.dw) < tolerance, "phase \(phase)")
    }
}

@Test func convTransposeGradientCheck() {
    var rng = SeededGenerator(seed: 23)
    for (k, s, p, phase) in [(6, 2, 2, true), (6, 2, 2, false), (4, 2, 1, false)] {
        let layer = ConvTranspose2d(inputChannels: 3, outputChannels: 2, kernelSize: k, stride: s, padding: p,
                                    generator: &rng)
        layer.usesPhaseDecomposition = phase
        let r = gradientCheck(layer, input: Reference.randomTensor([2, 3, 3, 5], seed: 24))
        #expect(r.maxError < 1e-2, "k\(k) phase \(phase): \(r)")
    }
}

/// ⟨conv(x), y⟩ = ⟨x, convᵀ(y)⟩ with one weight array shared by Conv2d [O, C, k, k] and
/// ConvTranspose2d(O → C) [O, C, k, k], and ⟨convᵀ(y), x⟩'s weight gradients agree too.
@Test(arguments: [(4, 2, 1), (6, 2, 2), (3, 1, 1)])
func convAndTransposedConvAreAdjoint(_ kernel: (Int, Int, Int)) {
    let (k, s, p) = kernel
    var rng = SeededGenerator(seed: 25)
    let (c, o, h) = (3, 5, 8)
    let conv = Conv2d(inputChannels: c, outputChannels: o, kernelSize: k, stride: s, padding: p, bias: false,
                      generator: &rng)
    let tconv = ConvTranspose2d(inputChannels: o, outputChannels: c, kernelSize: k, stride: s, padding: p,
                                generator: &rng)
    tconv.weight.value.copy(from: conv.weight.value)
    let x = Reference.randomTensor([2, c, h, h], seed: 26)
    let cx = conv.forward(x, mode: .training)
    let y = Reference.randomTensor(cx.shape, seed: 27)
    let ty = tconv.forward(y, mode: .training)
    #expect(ty.shape == x.shape)
    let lhs = Reference.dot(cx, y), rhs = Reference.dot(x, ty)
    #expect(abs(lhs - rhs) <= 1e-5 * abs(lhs))
    // d⟨conv(x), y⟩/dW = d⟨x, convᵀ(y)⟩/dW
    conv.weight.gradient.zero()
    tconv.weight.gradient.zero()
    _ = conv.backward(y)
    _ = tconv.backward(x)
    #expect(relativeMaxError(tconv.weight.gradient.array, conv.weight.gradient.array) < 1e-5)
}

// MARK: the two kernels of `Convolution`

/// The direct kernels and im2col + SGEMM agree, for a weight slice (ldw > C·k²), with
/// accumulation into the output and into the input gradient, and an output-channel count that
/// leaves a partial block of 8; the weight gradient is the same without the input gradient.
@Test(arguments: [(5, 11, 4, 16, 2, 3), (3, 8, 2, 32, 2, 3), (16, 3, 2, 64, 2, 3),   // pixels in the lanes
                  (64, 130, 2, 16, 2, 3),                                          // … dW by SGEMM
                  (5, 3, 6, 48, 2, 3), (4, 2, 2, 32, 3, 3), (7, 1, 4, 16, 1, 3),    // … M ≤ 3: 3×4 blocks
                  (5, 11, 3, 5, 18, 3), (4, 9, 4, 4, 3, 3), (2, 3, 1, 1, 17, 3),      // images in the lanes
                  (3, 5, 8, 9, 10, 3),                                                // … 2 dW SGEMMs
                  (9, 10, 6, 8, 17, 4), (8, 8, 4, 4, 2, 4), (8, 5, 6, 6, 3, 4),       // 4×4 s2: space-to-depth
                  (3, 32, 4, 64, 2, 4), (3, 6, 6, 32, 1, 4), (5, 9, 2, 96, 3, 4),     // … few channels: pixels
                  (8, 3, 2, 2, 5, 4), (11, 9, 2, 6, 1, 4), (8, 17, 8, 2, 16, 4),     // … 1×1, 1×3, 4×1 outputs
                  (10, 8, 10, 10, 2, 4), (8, 4, 12, 14, 33, 4),                       // … 5×5, 6×7
                  (8, 5, 16, 18, 17, 4), (12, 16, 16, 16, 3, 4), (9, 7, 20, 16, 1, 4),   // … 8×9, 8×8, 10×8
                  (9, 11, 8, 8, 19, 4)])                                                  // … 4×4, 19 images
func directKernelsMatchIm2colGEMM(_ shape: (Int, Int, Int, Int, Int, Int)) {
    let (c, m, h, w, count, k) = shape
    let g = k == 3 ? ConvGeometry(channels: c, height: h, width: w, kernelHeight: 3, kernelWidth: 3, padding: 1)
                   : ConvGeometry(channels: c, height: h, width: w, kernelHeight: 4, kernelWidth: 4, stride: 2, padding: 1)
    let direct = Convolution(geometry: g, outputChannels: m,
                             kernel: k == 4 ? (c < 8 ? .spaceToDepthPixels : .spaceToDepth)
                                            : w % 16 == 0 ? .directPixels : .directLanes)
    #expect(direct.kernel == Convolution.kernel(for: g, outputChannels: m) || k == 3)
    let gemm = Convolution(geometry: g, outputChannels: m, allowDirect: false)
    #expect(gemm.kernel == .gemm)
    let px = g.outputPixels, taps = k * k, ldw = c * taps + 5
    let weight = Reference.randomTensor([m, ldw], seed: 91)
    let x = Reference.randomTensor([count, c, h, w], seed: 92)
    let ipx = h * w
    let dy = Reference.randomTensor([m, count * px], seed: 93)
    let start = Reference.randomTensor([m, count * px], seed: 94)
    var results: [[Float]] = []
    for conv in [direct, gemm] {
        conv.setWeights(weight.pointer, ldw: ldw)
        let scratch = Tensor(shape: [conv.scratchCount(images: count)])
        let y = Tensor(shape: start.shape, values: start.array)
        conv.forward(source: .nchw(x.pointer, channels: c, pixels: ipx), count: count, output: y.pointer,
                     ldo: count * px, accumulate: true, scratch: scratch.pointer)
        conv.setWeights(weight.pointer, ldw: ldw, backward: true)
        let dw = Tensor(shape: [m, ldw]), dx = Tensor(shape: x.shape)
        dw.fill(1)
        dx.fill(2)
        conv.backward(source: .nchw(x.pointer, channels: c, pixels: ipx), count: count, outputGradient: dy.pointer,
                      lddy: count * px, weightGradient: dw.pointer,
                      inputGradient: .nchw(dx.pointer, channels: c, pixels: ipx), scratch: scratch.pointer)
        results.append(y.array + dw.array + dx.array)
        // Without the input gradient, the same weight gradient.
        let dwOnly = Tensor(shape: [m, ldw])
        dwOnly.fill(1)
        conv.backward(source: .nchw(x.pointer, channels: c, pixels: ipx), count: count, outputGradient: dy.pointer,
                      lddy: count * px, weightGradient: dwOnly.pointer, inputGradient: nil, scratch: scratch.pointer)
        #expect(dwOnly.array == dw.array)
        // Columns of the weight rows beyond the slice are never touched.
        #expect((0..<m).allSatisfy { r in (c * taps..<ldw).allSatisfy { dw[r * ldw + $0] == 1 } })
    }
    #expect(relativeMaxError(results[0], results[1]) < 1e-5)
}
