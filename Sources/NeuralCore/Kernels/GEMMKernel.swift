/// Runs any convolution as im2col + SGEMM on the whole group of images.
///
/// Shapes, for a group of `count` images, P = Hout·Wout pixels each, n = count·P:
///   col [K = C·kh·kw, n]  (image b's columns at b·P)
///   W   [M, K]            (PyTorch's [Cout, Cin, kh, kw], row-major, is exactly this matrix)
///   Y   [M, n]            (grouped layout; with count = 1 it is the image's NCHW block)
/// The other kernels borrow its weight gradient (`weightGradient`) and input gradient
/// (`inputGradient`) where those measured faster than their own.
final class GEMMKernel: ConvolutionKernel {
    let geometry: ConvGeometry
    let outputChannels: Int

    static func supports(_ g: ConvGeometry) -> Bool { true }

    init(geometry: ConvGeometry, outputChannels: Int) {
        self.geometry = geometry
        self.outputChannels = outputChannels
    }

    func pack(_ weight: UnsafePointer<Float>, ldw: Int, backward: Bool) {}

    func groupPixels(gemmColumns: Int) -> Int { gemmColumns }

    func scratchCount(images count: Int) -> Int { geometry.patchSize * count * geometry.outputPixels }

    var writesAnyPlanes: Bool { false }
    var readsAnyGradientPlanes: Bool { false }

    func forward(source: Planes, count: Int, weight: UnsafePointer<Float>, ldw: Int, into output: Planes,
                 accumulate: Bool, scratch: UnsafeMutablePointer<Float>) {
        let g = geometry, n = count * g.outputPixels, k = g.patchSize
        Self.unfold(g, source: source, count: count, column: scratch)
        sgemm(m: outputChannels, n: n, k: k, a: weight, lda: ldw, b: scratch, ldb: n, beta: accumulate ? 1 : 0,
              c: output.base, ldc: output.channelStride)
    }

    func backward(source: Planes, count: Int, weight: UnsafePointer<Float>, ldw: Int, outputGradient dy: Planes,
                  weightGradient dw: UnsafeMutablePointer<Float>, inputGradient: Planes?,
                  scratch: UnsafeMutablePointer<Float>) {
        Self.weightGradient(geometry, source: source, count: count, imagesPerProduct: count, outputs: outputChannels,
                            outputGradient: dy, into: dw, ldw: ldw, scratch: scratch)
        guard let inputGradient else { return }
        Self.inputGradient(geometry, count: count, outputs: outputChannels, weight: weight, ldw: ldw,
                           outputGradient: dy, into: inputGradient, scratch: scratch)
    }

    /// dW += dY · im2col(x)ᵀ, one SGEMM per `imagesPerProduct` images (scratch: their columns).
    /// dY grouped [M, n].
    static func weightGradient(_ g: ConvGeometry, source: Planes, count: Int, imagesPerProduct step: Int,
                               outputs m: Int, outputGradient dy: Planes, into dw: UnsafeMutablePointer<Float>,
                               ldw: Int, scratch: UnsafeMutablePointer<Float>) {
        let p = g.outputPixels, patch = g.patchSize
        for first in stride(from: 0, to: count, by: step) {
            let n = min(step, count - first), cols = n * p
            unfold(g, source: source.starting(at: first), count: n, column: scratch)
            sgemm(transposeB: true, m: m, n: patch, k: cols, a: dy.base + first * p, lda: dy.channelStride,
                  b: scratch, ldb: cols, beta: 1, c: dw, ldc: ldw)
        }
    }

    /// dx += col2im(Wᵀ · dY) (scratch: the column matrix). dY grouped [M, n].
    static func inputGradient(_ g: ConvGeometry, count: Int, outputs m: Int, weight: UnsafePointer<Float>, ldw: Int,
                              outputGradient dy: Planes, into inputGradient: Planes,
                              scratch: UnsafeMutablePointer<Float>) {
        let n = count * g.outputPixels
        sgemm(transposeA: true, m: g.patchSize, n: n, k: m, a: weight, lda: ldw, b: dy.base, ldb: dy.channelStride,
              beta: 0, c: scratch, ldc: n)
        fold(g, column: scratch, count: count, destination: inputGradient)
    }

    /// Unfolds `count` images of `source` side by side into `column` [K, count·P].
    @inline(__always)
    static func unfold(_ g: ConvGeometry, source: Planes, count: Int, column: UnsafeMutablePointer<Float>) {
        let p = g.outputPixels, n = count * p
        for b in 0..<count {
            im2col(g, source: source.image(b), channelStride: source.channelStride, column: column + b * p, ldc: n)
        }
    }

    /// Adds the column-matrix gradient `column` [K, count·P] back onto `count` images.
    @inline(__always)
    static func fold(_ g: ConvGeometry, column: UnsafePointer<Float>, count: Int, destination: Planes) {
        let p = g.outputPixels, n = count * p
        for b in 0..<count {
            col2im(g, column: column + b * p, ldc: n, destination: destination.image(b),
                   channelStride: destination.channelStride)
        }
    }
}
