/// The one convolution kernel every conv-type layer runs on: im2col of a group of images into
/// one column matrix, then one SGEMM (and, backward, the two SGEMMs and col2im).
///
/// Shapes, for a group of `count` images, P = Hout·Wout pixels each, n = count·P:
///   col [K = C·kh·kw, n]  (image b's columns at b·P)
///   W   [M, K]            (PyTorch's [Cout, Cin, kh, kw], row-major, is exactly this matrix)
///   Y   [M, n]            (grouped layout; with count = 1 it is the image's NCHW block)
public enum ConvKernel {
    /// Unfolds `count` images of `source` side by side into `column` [K, count·P].
    @inline(__always)
    public static func unfold(_ g: ConvGeometry, source: Planes, count: Int, column: UnsafeMutablePointer<Float>) {
        let p = g.outputPixels, n = count * p
        for b in 0..<count {
            im2col(g, source: source.image(b), channelStride: source.channelStride, column: column + b * p, ldc: n)
        }
    }

    /// Adds the column-matrix gradient `column` [K, count·P] back onto `count` images.
    @inline(__always)
    public static func fold(_ g: ConvGeometry, column: UnsafePointer<Float>, count: Int, destination: Planes) {
        let p = g.outputPixels, n = count * p
        for b in 0..<count {
            col2im(g, column: column + b * p, ldc: n, destination: destination.image(b),
                   channelStride: destination.channelStride)
        }
    }

    /// Forward: Y[M, n] = W[M, K] · im2col(images) (+ beta · Y). `column` is scratch of K·n floats.
    public static func forward(_ g: ConvGeometry, weight: UnsafePointer<Float>, outputChannels m: Int,
                               source: Planes, count: Int, column: UnsafeMutablePointer<Float>,
                               output: UnsafeMutablePointer<Float>, ldo: Int, beta: Float = 0) {
        let n = count * g.outputPixels, k = g.patchSize
        unfold(g, source: source, count: count, column: column)
        sgemm(m: m, n: n, k: k, a: weight, lda: k, b: column, ldb: n, beta: beta, c: output, ldc: ldo)
    }

    /// Backward of `forward` for the same group, given dY [M, n] (row stride `lddy`):
    ///   dW[M, K] += dY · colᵀ            (col recomputed from the images: cheaper than storing it)
    ///   dX       += col2im(Wᵀ · dY)      (only when `inputGradient` is given)
    /// `column` is scratch of K·n floats; it holds col, then the column gradient.
    public static func backward(_ g: ConvGeometry, weight: UnsafePointer<Float>, outputChannels m: Int,
                                source: Planes, count: Int, outputGradient dy: UnsafePointer<Float>, lddy: Int,
                                weightGradient dw: UnsafeMutablePointer<Float>, inputGradient: Planes?,
                                column: UnsafeMutablePointer<Float>) {
        let n = count * g.outputPixels, k = g.patchSize
        unfold(g, source: source, count: count, column: column)
        sgemm(transposeB: true, m: m, n: k, k: n, a: dy, lda: lddy, b: column, ldb: n, beta: 1, c: dw, ldc: k)
        guard let inputGradient else { return }
        sgemm(transposeA: true, m: k, n: n, k: m, a: weight, lda: k, b: dy, ldb: lddy, beta: 0, c: column, ldc: n)
        fold(g, column: column, count: count, destination: inputGradient)
    }

    /// Copies `channels` planes of `pixels` floats for each of `count` images between layouts
    /// (e.g. grouped GEMM output → NCHW tensor, and back for the gradient).
    public static func copy(channels: Int, pixels: Int, count: Int, from src: Planes, to dst: Planes) {
        for b in 0..<count {
            let s = src.image(b), d = dst.image(b)
            for c in 0..<channels {
                (d + c * dst.channelStride).update(from: s + c * src.channelStride, count: pixels)
            }
        }
    }

    /// Zeroes `channels` planes of `pixels` floats for each of `count` images.
    public static func zero(channels: Int, pixels: Int, count: Int, _ planes: Planes) {
        for b in 0..<count {
            let d = planes.image(b)
            if planes.channelStride == pixels {
                d.update(repeating: 0, count: channels * pixels)
            } else {
                for c in 0..<channels { (d + c * planes.channelStride).update(repeating: 0, count: pixels) }
            }
        }
    }
}
