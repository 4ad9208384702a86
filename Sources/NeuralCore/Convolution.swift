/// One convolution inside a layer — geometry, output channels, weights — and the kernel that
/// runs it on a group of images. Every conv-type layer runs its convolutions through this type:
/// - the direct 3×3 kernels (`Direct3x3`) for 3×3 stride-1 pad-1 convolutions of maps whose
///   width is a multiple of 16 (the decoder's 16×16 … 64×64 maps, where channels are few);
/// - otherwise im2col + SGEMM on the whole group (`ConvKernel`): small maps batch several
///   images into one GEMM, whose K = C·kh·kw is then large.
///
/// Shapes for a group of `count` images of P output pixels, n = count·P:
///   input   images through `Planes` (NCHW or grouped), C channels
///   W       [M, C, kh, kw], rows `ldw` floats apart (ldw > C·kh·kw: a slice of a wider kernel)
///   Y, dY   [M, n] with row stride `ldo`/`lddy`, image b's pixels at column b·P
public final class Convolution {
    public let geometry: ConvGeometry
    public let outputChannels: Int
    public let usesDirectKernel: Bool
    private var weight: UnsafePointer<Float>?
    private var ldw = 0
    private let packed: Tensor?        // forward weights, Direct3x3.pack layout
    private let flipped: Tensor?       // input-gradient weights, Direct3x3.packFlipped layout

    /// - Parameter allowDirect: false forces im2col + SGEMM (tests compare the two paths).
    public init(geometry: ConvGeometry, outputChannels: Int, allowDirect: Bool = true) {
        self.geometry = geometry
        self.outputChannels = outputChannels
        let g = geometry
        usesDirectKernel = allowDirect && Self.directApplies(g)
        if usesDirectKernel {
            let m8 = (outputChannels + 7) / 8 * 8, c8 = (g.channels + 7) / 8 * 8
            packed = Tensor(shape: [m8 * g.channels * 9])
            flipped = Tensor(shape: [c8 * outputChannels * 9])
        } else {
            packed = nil
            flipped = nil
        }
    }

    /// Output pixels a group of images aims for on the direct path (its weight-gradient kernel
    /// sums a whole group before reducing).
    public static let directGroupPixels = 1024

    /// Whether the direct 3×3 kernels can run this geometry.
    public static func directApplies(_ g: ConvGeometry) -> Bool {
        g.kernelHeight == 3 && g.kernelWidth == 3 && g.stride == 1 && g.padding == 1
            && Direct3x3.supports(height: g.height, width: g.width)
    }

    /// Returns `existing` if it is this convolution (geometry, outputs, kernel choice), else a
    /// new one: how layers keep their convolutions across steps.
    public static func reuse(_ existing: Convolution?, geometry: ConvGeometry, outputChannels: Int,
                             allowDirect: Bool = true) -> Convolution {
        if let existing, existing.geometry == geometry, existing.outputChannels == outputChannels,
           existing.usesDirectKernel == (allowDirect && directApplies(geometry)) {
            return existing
        }
        return Convolution(geometry: geometry, outputChannels: outputChannels, allowDirect: allowDirect)
    }

    /// Points the convolution at its weights W [M, C, kh, kw] (rows `ldw` floats apart, default
    /// C·kh·kw) and packs them for the direct kernels: call before each forward pass, and with
    /// `backward: true` before each backward pass, outside the parallel region.
    public func setWeights(_ w: UnsafePointer<Float>, ldw: Int? = nil, backward: Bool = false) {
        weight = w
        self.ldw = ldw ?? geometry.patchSize
        guard usesDirectKernel, let packed, let flipped else { return }
        if backward {
            Direct3x3.packFlipped(w, ldw: self.ldw, outputs: outputChannels, inputs: geometry.channels, into: flipped.pointer)
        } else {
            Direct3x3.pack(w, ldw: self.ldw, outputs: outputChannels, inputs: geometry.channels, into: packed.pointer)
        }
    }

    /// Scratch floats `forward` and `backward` need for a group of `count` images.
    public func scratchCount(images count: Int) -> Int {
        let g = geometry
        if usesDirectKernel {
            return count * max(g.channels, outputChannels) * Direct3x3.paddedPlane(height: g.height, width: g.width)
        }
        return g.patchSize * count * g.outputPixels
    }

    // MARK: forward  Y[M, n] (+)= W · x

    public func forward(source: Planes, count: Int, output: UnsafeMutablePointer<Float>, ldo: Int,
                        accumulate: Bool = false, scratch: UnsafeMutablePointer<Float>) {
        guard let weight else { preconditionFailure("Convolution.forward before setWeights") }
        let g = geometry, p = g.outputPixels, m = outputChannels
        if usesDirectKernel, let packed {
            for b in 0..<count {
                Direct3x3.pad(source.image(b), channelStride: source.channelStride, channels: g.channels,
                              height: g.height, width: g.width, into: scratch)
                Direct3x3.forward(padded: scratch, channels: g.channels, height: g.height, width: g.width,
                                  packed: packed.pointer, outputs: m, output: output + b * p, outputStride: ldo,
                                  accumulate: accumulate)
            }
            return
        }
        let n = count * p, k = g.patchSize
        ConvKernel.unfold(g, source: source, count: count, column: scratch)
        sgemm(m: m, n: n, k: k, a: weight, lda: ldw, b: scratch, ldb: n, beta: accumulate ? 1 : 0, c: output, ldc: ldo)
    }

    // MARK: backward  dW += dY ⋆ x,  dx += Wᵀ ⋆ dY

    /// Given dY [M, n] (row stride `lddy`) for the same group: dW (rows `ldw` apart, like W)
    /// += dY · im2col(x)ᵀ, and, when `inputGradient` is given, dx += the input gradient
    /// (accumulated, so convolutions reading one input can share its gradient).
    public func backward(source: Planes, count: Int, outputGradient dy: UnsafePointer<Float>, lddy: Int,
                         weightGradient dw: UnsafeMutablePointer<Float>, inputGradient: Planes?,
                         scratch: UnsafeMutablePointer<Float>) {
        guard let weight else { preconditionFailure("Convolution.backward before setWeights") }
        let g = geometry, p = g.outputPixels, m = outputChannels
        if usesDirectKernel, let flipped {
            let plane = Direct3x3.paddedPlane(height: g.height, width: g.width), stride = g.channels * plane
            for b in 0..<count {
                Direct3x3.pad(source.image(b), channelStride: source.channelStride, channels: g.channels,
                              height: g.height, width: g.width, into: scratch + b * stride)
            }
            Direct3x3.weightGradient(outputGradient: dy, gradientStride: lddy, gradientImageStride: p, outputs: m,
                                     padded: scratch, paddedImageStride: stride, channels: g.channels, count: count,
                                     height: g.height, width: g.width, into: dw, ldw: ldw)
            guard let inputGradient else { return }
            for b in 0..<count {
                Direct3x3.pad(dy + b * p, channelStride: lddy, channels: m, height: g.height, width: g.width, into: scratch)
                Direct3x3.forward(padded: scratch, channels: m, height: g.height, width: g.width, packed: flipped.pointer,
                                  outputs: g.channels, output: inputGradient.image(b),
                                  outputStride: inputGradient.channelStride, accumulate: true)
            }
            return
        }
        let n = count * p, k = g.patchSize
        ConvKernel.unfold(g, source: source, count: count, column: scratch)
        sgemm(transposeB: true, m: m, n: k, k: n, a: dy, lda: lddy, b: scratch, ldb: n, beta: 1, c: dw, ldc: ldw)
        guard let inputGradient else { return }
        sgemm(transposeA: true, m: k, n: n, k: m, a: weight, lda: ldw, b: dy, ldb: lddy, beta: 0, c: scratch, ldc: n)
        ConvKernel.fold(g, column: scratch, count: count, destination: inputGradient)
    }
}
