/// Group-level helpers of the im2col + SGEMM convolution (see `Convolution`) and layout copies.
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
