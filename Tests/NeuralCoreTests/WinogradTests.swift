import Testing
import NeuralCore
import TestSupport

// MARK: Winograd F(2×2, 3×3)

struct WinogradCase: CustomTestStringConvertible, Sendable {
    var c, m, h, w, count: Int
    var testDescription: String { "C\(c) → M\(m) on \(h)×\(w), \(count) images" }
}

/// Forward (with and without accumulation), input gradient and weight gradient (accumulated) of
/// the Winograd kernel against the naive reference convolution and its backward, for a weight
/// slice (ldw > 9C); and against im2col + SGEMM on the same data.
@Test(arguments: [WinogradCase(c: 3, m: 5, h: 4, w: 4, count: 1),      // odd channels, one image
                  WinogradCase(c: 7, m: 9, h: 8, w: 6, count: 3),      // scalar tiles, non-square
                  WinogradCase(c: 5, m: 11, h: 32, w: 32, count: 2),   // 16 tiles per vector
                  WinogradCase(c: 2, m: 3, h: 2, w: 64, count: 1),     // two vectors per tile row
                  WinogradCase(c: 32, m: 40, h: 32, w: 32, count: 3),  // rows layout as chosen, one-image chunks
                  WinogradCase(c: 6, m: 4, h: 4, w: 4, count: 70),     // several chunks, the last partial
                  WinogradCase(c: 9, m: 6, h: 16, w: 16, count: 5),    // pixel-layout weight gradient
                  WinogradCase(c: 64, m: 32, h: 16, w: 16, count: 17)]) // lanes as chosen at 16×16, a partial chunk
func winogradMatchesReferenceAndGEMM(_ t: WinogradCase) throws {
    let g = ConvGeometry(channels: t.c, height: t.h, width: t.w, kernelHeight: 3, kernelWidth: 3, padding: 1)
    let wino = Convolution(geometry: g, outputChannels: t.m, kernel: .winograd)
    let gemm = Convolution(geometry: g, outputChannels: t.m, allowDirect: false)
    let px = g.outputPixels, cols = t.count * px, ldw = 9 * t.c + 3
    let weight = Reference.randomTensor([t.m, ldw], seed: 71)
    let x = Reference.randomTensor([t.count, t.c, t.h, t.w], seed: 72)
    let dy = Reference.randomTensor([t.m, cols], seed: 73)
    let start = Reference.randomTensor([t.m, cols], seed: 74)
    let xs = Planes.nchw(x.pointer, channels: t.c, pixels: px)

    // The reference: W as [M, C, 3, 3], Y and dY as NCHW.
    var w4 = [Double](), dyNCHW = [Double](repeating: 0, count: cols * t.m)
    for o in 0..<t.m { for i in 0..<(9 * t.c) { w4.append(Double(weight[o * ldw + i])) } }
    for o in 0..<t.m { for b in 0..<t.count { for q in 0..<px {
        dyNCHW[(b * t.m + o) * px + q] = Double(dy[o * cols + b * px + q])
    } } }
    let refX = RefTensor(shape: [t.count, t.c, t.h, t.w], data: x.array.map(Double.init))
    let refW = RefTensor(shape: [t.m, t.c, 3, 3], data: w4)
    let refY = Reference.conv(refX, refW, padding: 1)
    let refBackward = Reference.convBackward(refX, refW, RefTensor(shape: [t.count, t.m, t.h, t.w], data: dyNCHW),
                                             padding: 1)
    let refDx = refBackward.dx
    /// [M, n] (image b at column b·P) → NCHW
    func nchw(_ y: Tensor) -> [Float] {
        var out = [Float](repeating: 0, count: cols * t.m)
        for o in 0..<t.m { for b in 0..<t.count { for q in 0..<px { out[(b * t.m + o) * px + q] = y[o * cols + b * px + q] } } }
        return out
    }

    var results: [[Float]] = []
    for conv in [wino, gemm] {
        conv.setWeights(weight.pointer, ldw: ldw)
        // Scratch with a guard band after it that must stay untouched.
        let size = conv.scratchCount(images: t.count), guardBand = 4096
        let scratch = Tensor(shape: [size + guardBand])
        scratch.fill(-7)
        defer { #expect((size..<size + guardBand).allSatisfy { scratch[$0] == -7 }, "scratch overrun") }
        let y = Tensor(shape: start.shape)
        y.fill(.nan)  // every output must be written
        conv.forward(source: xs, count: t.count, output: y.pointer, ldo: cols, scratch: scratch.pointer)
        #expect(relativeMaxError(nchw(y), refY.floats) < 1e-5, "forward")
        let acc = Tensor(shape: start.shape, values: start.array)
        conv.forward(source: xs, count: t.count, output: acc.pointer, ldo: cols, accumulate: true, scratch: scratch.pointer)
        let want = zip(nchw(y), nchw(start)).map { $0 + $1 }
        #expect(relativeMaxError(nchw(acc), want) < 1e-6, "accumulate")

        conv.setWeights(weight.pointer, ldw: ldw, backward: true)
        let dw = Tensor(shape: [t.m, ldw]), dx = Tensor(shape: x.shape)
        dw.fill(1)
        dx.fill(2)
        conv.backward(source: xs, count: t.count, outputGradient: dy.pointer, lddy: cols, weightGradient: dw.pointer,
                      inputGradient: .nchw(dx.pointer, channels: t.c, pixels: px), scratch: scratch.pointer)
        #expect(relativeMaxError(dx.array.map { $0 - 2 }, refDx.floats) < 1e-5, "input gradient")
        #expect((0..<t.m).allSatisfy { r in (9 * t.c..<ldw).allSatisfy { dw[r * ldw + $0] == 1 } })
        let dwSlice = (0..<t.m).flatMap { r in (0..<9 * t.c).map { dw[r * ldw + $0] - 1 } }
        #expect(relativeMaxError(dwSlice, refBackward.dw.floats) < 1e-5, "weight gradient")
        results.append(y.array + acc.array + dw.array + dx.array)
    }
    #expect(relativeMaxError(results[0], results[1]) < 1e-5)
}
