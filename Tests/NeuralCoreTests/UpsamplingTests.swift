import Testing
import NeuralCore
import TestSupport

/// Shapes for the ×2 up-sampling layers: odd sizes, batch > 1, and group sizes that put one
/// image per GEMM or several.
struct UpCase: CustomTestStringConvertible, Sendable {
    var n, cin, cout, h, w: Int
    var groupColumns = 256
    var direct = true
    var testDescription: String { "N\(n) \(cin)→\(cout) \(h)×\(w) group \(groupColumns)\(direct ? "" : " GEMM only")" }
}

let upCases = [
    UpCase(n: 2, cin: 5, cout: 4, h: 6, w: 6),
    UpCase(n: 3, cin: 3, cout: 2, h: 5, w: 7),
    UpCase(n: 5, cin: 4, cout: 3, h: 3, w: 3, groupColumns: 1),
    UpCase(n: 4, cin: 2, cout: 5, h: 4, w: 1),
    UpCase(n: 1, cin: 3, cout: 3, h: 1, w: 1),
    UpCase(n: 7, cin: 6, cout: 4, h: 4, w: 5, groupColumns: 40),
    UpCase(n: 3, cin: 3, cout: 2, h: 4, w: 16),                 // direct 3×3 kernels (width 16)
    UpCase(n: 2, cin: 2, cout: 3, h: 3, w: 32),
    UpCase(n: 2, cin: 3, cout: 2, h: 4, w: 16, direct: false),  // the same through im2col + SGEMM
    UpCase(n: 17, cin: 32, cout: 32, h: 8, w: 8),               // Winograd (≥ 32 channels), 16 images a group
]

/// Shapes where PixelDCL runs its masked convolution on the edge-tap kernel (`EdgeTaps.pays`:
/// width ≥ 32): a partial block of outputs, several images a group at an odd width, Winograd.
let edgeTapCases = [
    UpCase(n: 3, cin: 4, cout: 7, h: 5, w: 32),
    UpCase(n: 5, cin: 3, cout: 5, h: 2, w: 33, groupColumns: 4096, direct: false),
    UpCase(n: 2, cin: 32, cout: 32, h: 4, w: 32),
]

// MARK: DCL structure

/// DCL = four independent 3×3 convolutions of the input (weights taken from the 6×6 kernel),
/// one per output phase, shuffled: W_pq[o, c, dy, dx] = W[c, o, 4 − 2dy + p, 4 − 2dx + q].
@Test func dclEqualsFourPhaseConvolutionsShuffled() {
    var rng = SeededGenerator(seed: 31)
    let (n, cin, cout, h, w) = (2, 3, 4, 5, 6)
    let dcl = ConvTranspose2d.dcl(inputChannels: cin, outputChannels: cout, generator: &rng)
    let x = Reference.randomTensor([n, cin, h, w], seed: 32)
    let out = RefTensor(dcl.forward(x, mode: .training))
    let W = dcl.weight.value
    for p in 0..<2 { for q in 0..<2 {
        let conv = Conv2d(inputChannels: cin, outputChannels: cout, kernelSize: 3, padding: 1, bias: false,
                          generator: &rng)
        for o in 0..<cout { for c in 0..<cin { for dy in 0..<3 { for dx in 0..<3 {
            conv.weight.value[((o * cin + c) * 3 + dy) * 3 + dx] = W[((c * cout + o) * 6 + 4 - 2 * dy + p) * 6 + 4 - 2 * dx + q]
        } } } }
        let phase = conv.forward(x, mode: .training)
        #expect(relativeMaxError(Reference.phase(out, p, q).floats, phase.array) < 1e-6, "phase (\(p), \(q))")
    } }
}

@Test(arguments: upCases)
func dclMatchesTransposedConvolution(_ t: UpCase) {
    var rng = SeededGenerator(seed: 33)
    let layer = ConvTranspose2d.dcl(inputChannels: t.cin, outputChannels: t.cout, generator: &rng)
    layer.convolutionOptions = ConvolutionOptions(groupColumns: t.groupColumns, allowsDirectKernel: t.direct)
    let x = Reference.randomTensor([t.n, t.cin, t.h, t.w], seed: 34)
    let (y, dx, dy) = forwardBackward(layer, x)
    let (rx, rw) = (RefTensor(x), RefTensor(layer.weight.value))
    #expect(error(y, Reference.convTranspose(rx, rw, stride: 2, padding: 2)) < tolerance)
    let g = Reference.convTransposeBackward(rx, rw, RefTensor(dy), stride: 2, padding: 2)
    #expect(error(dx, g.dx) < tolerance)
    #expect(error(layer.weight.gradient, g.dw) < tolerance)
}

// MARK: PixelDCL

@Test(arguments: upCases + edgeTapCases)
func pixelDCLMatchesLiteralForm(_ t: UpCase) {
    var rng = SeededGenerator(seed: 41)
    let layer = PixelDCL(inputChannels: t.cin, outputChannels: t.cout, generator: &rng)
    layer.convolutionOptions = ConvolutionOptions(groupColumns: t.groupColumns, allowsDirectKernel: t.direct)
    let x = Reference.randomTensor([t.n, t.cin, t.h, t.w], seed: 42)
    let (y, dx, dy) = forwardBackward(layer, x)
    let (rx, w0, w1, w2) = (RefTensor(x), RefTensor(layer.w0.value), RefTensor(layer.w1.value), RefTensor(layer.w2.value))
    #expect(error(y, Reference.pixelDCL(rx, w0: w0, w1: w1, w2: w2)) < tolerance)
    let g = Reference.pixelDCLBackward(rx, w0: w0, w1: w1, w2: w2, RefTensor(dy))
    #expect(error(dx, g.dx) < tolerance)
    #expect(error(layer.w0.gradient, g.dw0) < tolerance)
    #expect(error(layer.w1.gradient, g.dw1) < tolerance)
    #expect(error(layer.w2.gradient, g.dw2) < tolerance)
}

@Test func pixelDCLGradientCheck() {
    var rng = SeededGenerator(seed: 43)
    for (cin, cout, h, w) in [(3, 2, 4, 5), (2, 3, 3, 3)] {
        let layer = PixelDCL(inputChannels: cin, outputChannels: cout, generator: &rng)
        let r = gradientCheck(layer, input: Reference.randomTensor([2, cin, h, w], seed: 44))
        #expect(r.maxError < 1e-2, "\(r)")
    }
}

/// out(0,0) = conv(x; W0) exactly, out(1,1) = conv(conv(x; W0); W1).
@Test func pixelDCLPhasesAreTheTwoConvolutions() {
    var rng = SeededGenerator(seed: 45)
    let (n, cin, cout, h, w) = (3, 4, 3, 5, 6)
    let layer = PixelDCL(inputChannels: cin, outputChannels: cout, generator: &rng)
    let conv0 = Conv2d(inputChannels: cin, outputChannels: cout, kernelSize: 3, padding: 1, bias: false, generator: &rng)
    let conv1 = Conv2d(inputChannels: cout, outputChannels: cout, kernelSize: 3, padding: 1, bias: false, generator: &rng)
    conv0.weight.value.copy(from: layer.w0.value)
    conv1.weight.value.copy(from: layer.w1.value)
    let x = Reference.randomTensor([n, cin, h, w], seed: 46)
    let out = RefTensor(layer.forward(x, mode: .training))
    let a = conv0.forward(x, mode: .training)
    #expect(Reference.phase(out, 0, 0).floats == a.array)
    let b = conv1.forward(a, mode: .training)
    #expect(relativeMaxError(Reference.phase(out, 1, 1).floats, b.array) < 1e-6)
}

@Test func pixelDCLParametersAndCost() {
    var rng = SeededGenerator(seed: 47)
    let layer = PixelDCL(inputChannels: 256, outputChannels: 128, generator: &rng)
    #expect(layer.parameters.map(\.name) == ["w0", "w1", "w2"])
    #expect(layer.parameters.map(\.parameter.value.shape) == [[128, 256, 3, 3], [128, 128, 3, 3], [4, 128, 128]])
    #expect(layer.w2.value.array.allSatisfy { abs($0) <= 1 / Float(512).squareRoot() })
    // docs/model.md: the four Up layers of the PixelDCL decoder cost ≈ 109 MFLOP per image forward.
    let shapes = [(256, 128, 4), (128, 64, 8), (64, 32, 16), (32, 32, 32)]
    let total = shapes.map { cin, cout, h in
        PixelDCL(inputChannels: cin, outputChannels: cout, generator: &rng).flops(inputShape: [1, cin, h, h]).forward
    }.reduce(0, +)
    #expect(abs(total / 1e6 - 109.6) < 0.1)
}

// MARK: iPixelDCL

@Test(arguments: upCases)
func iPixelDCLMatchesLiteralForm(_ t: UpCase) {
    var rng = SeededGenerator(seed: 51)
    let layer = IPixelDCL(inputChannels: t.cin, outputChannels: t.cout, generator: &rng)
    layer.convolutionOptions = ConvolutionOptions(groupColumns: t.groupColumns, allowsDirectKernel: t.direct)
    let x = Reference.randomTensor([t.n, t.cin, t.h, t.w], seed: 52)
    for wantsInput in [true, false] {
        layer.computesInputGradient = wantsInput
        let (y, dx, dy) = forwardBackward(layer, x)
        let (rx, w1, w2, w3) = (RefTensor(x), RefTensor(layer.w1.value), RefTensor(layer.w2.value), RefTensor(layer.w3.value))
        #expect(error(y, Reference.iPixelDCL(rx, w1: w1, w2: w2, w3: w3)) < tolerance)
        let g = Reference.iPixelDCLBackward(rx, w1: w1, w2: w2, w3: w3, RefTensor(dy))
        if wantsInput { #expect(error(dx, g.dx) < tolerance) }
        #expect(error(layer.w1.gradient, g.dw1) < tolerance)
        #expect(error(layer.w2.gradient, g.dw2) < tolerance)
        #expect(error(layer.w3.gradient, g.dw3) < tolerance)
    }
}

@Test func iPixelDCLGradientCheck() {
    var rng = SeededGenerator(seed: 53)
    let layer = IPixelDCL(inputChannels: 3, outputChannels: 2, generator: &rng)
    #expect(layer.parameters.map(\.parameter.value.shape) == [[2, 3, 3, 3], [2, 5, 3, 3], [4, 7, 3, 3]])
    let r = gradientCheck(layer, input: Reference.randomTensor([2, 3, 4, 3], seed: 54))
    #expect(r.maxError < 1e-2, "\(r)")
}

// MARK: resize-conv

@Test(arguments: upCases)
func resizeConvMatchesReference(_ t: UpCase) {
    var rng = SeededGenerator(seed: 61)
    let layer = ResizeConv(inputChannels: t.cin, outputChannels: t.cout, generator: &rng)
    layer.convolutionOptions = ConvolutionOptions(groupColumns: t.groupColumns, allowsDirectKernel: t.direct)
    let x = Reference.randomTensor([t.n, t.cin, t.h, t.w], seed: 62)
    let (y, dx, dy) = forwardBackward(layer, x)
    let (rx, rw) = (RefTensor(x), RefTensor(layer.weight.value))
    #expect(error(y, Reference.resizeConv(rx, rw)) < tolerance)
    let g = Reference.resizeConvBackward(rx, rw, RefTensor(dy))
    #expect(error(dx, g.dx) < tolerance)
    #expect(error(layer.weight.gradient, g.dw) < tolerance)
}

/// ResizeConv(x) = Conv2d(nearest-upsample(x)) with the same weight, and likewise its gradients.
@Test func resizeConvEqualsConvOfUpsampledInput() {
    var rng = SeededGenerator(seed: 63)
    let (n, cin, cout, h, w) = (3, 4, 5, 4, 7)
    let layer = ResizeConv(inputChannels: cin, outputChannels: cout, generator: &rng)
    let conv = Conv2d(inputChannels: cin, outputChannels: cout, kernelSize: 3, padding: 1, bias: false, generator: &rng)
    conv.weight.value.copy(from: layer.weight.value)
    let x = Reference.randomTensor([n, cin, h, w], seed: 64)
    let up = Reference.upsample(RefTensor(x))
    let (y, dx, dy) = forwardBackward(layer, x)
    conv.weight.gradient.zero()
    let yc = conv.forward(Tensor(shape: up.shape, values: up.floats), mode: .training)
    #expect(relativeMaxError(y.array, yc.array) < 1e-6)
    let dup = conv.backward(dy)
    #expect(relativeMaxError(dx.array, Reference.sumPool(RefTensor(dup)).floats) < 1e-6)
    #expect(relativeMaxError(layer.weight.gradient.array, conv.weight.gradient.array) < 1e-5)
}

@Test func resizeConvGradientCheck() {
    var rng = SeededGenerator(seed: 65)
    let layer = ResizeConv(inputChannels: 3, outputChannels: 2, generator: &rng)
    let r = gradientCheck(layer, input: Reference.randomTensor([2, 3, 3, 4], seed: 66))
    #expect(r.maxError < 1e-2, "\(r)")
}

// MARK: all up-sampling layers

@Test func upsamplersAccumulateParameterGradients() {
    var rng = SeededGenerator(seed: 71)
    let layers: [Layer] = [ConvTranspose2d.dcl(inputChannels: 3, outputChannels: 2, generator: &rng),
                           PixelDCL(inputChannels: 3, outputChannels: 2, generator: &rng),
                           IPixelDCL(inputChannels: 3, outputChannels: 2, generator: &rng),
                           ResizeConv(inputChannels: 3, outputChannels: 2, generator: &rng)]
    let x = Reference.randomTensor([3, 3, 4, 4], seed: 72)
    for layer in layers {
        let (y, _, dy) = forwardBackward(layer, x)
        #expect(y.shape == [3, 2, 8, 8])
        let once = layer.parameters.map(\.parameter.gradient.array)
        _ = layer.forward(x, mode: .training)
        _ = layer.backward(dy)
        for (i, (name, p)) in layer.parameters.enumerated() {
            #expect(relativeMaxError(p.gradient.array, once[i].map { 2 * $0 }) < 1e-6, "\(type(of: layer)).\(name)")
        }
    }
}
