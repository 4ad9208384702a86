// The protocol every convolution kernel implements: pack, scratch size, forward, backward.

/// One way of running a convolution (`Convolution`) on a group of images: im2col + SGEMM
/// (`GEMMKernel`), the direct 3×3 kernels (`DirectPixelsKernel`, `DirectLanesKernel`), the
/// space-to-depth kernels of 4×4 stride-2 convolutions (`SpaceToDepthKernel`,
/// `SpaceToDepthPixelsKernel`) and Winograd F(2×2, 3×3) (`WinogradKernel`).
///
/// A kernel owns its packed weights; `Convolution` owns the choice of kernel and the weights'
/// address, and calls the kernel once per group of images (so one dynamic dispatch per group,
/// none inside the loops).
///
/// Shapes for a group of `count` images of P output pixels, n = count·P:
///   input   images through `Planes` (NCHW or grouped), C channels
///   W       [M, C, kh, kw], rows `ldw` floats apart (ldw > C·kh·kw: a slice of a wider kernel)
///   Y, dY   [M, n] with row stride `channelStride`, image b's pixels at column b·P (grouped),
///           or any `Planes` where `writesAnyPlanes` / `readsAnyGradientPlanes`
protocol ConvolutionKernel: AnyObject {
    /// Whether the kernel runs convolutions of this geometry.
    static func supports(_ g: ConvGeometry) -> Bool

    /// A kernel for C → `outputChannels` convolutions of `geometry`, with room for its packed
    /// weights.
    init(geometry: ConvGeometry, outputChannels: Int)

    /// Packs W for the forward pass or, with `backward`, for the input gradient (kernels that
    /// read W itself pack nothing).
    func pack(_ weight: UnsafePointer<Float>, ldw: Int, backward: Bool)

    /// How many output pixels (images × pixels) a group of images should hold, given the
    /// width im2col + SGEMM aims for.
    func groupPixels(gemmColumns: Int) -> Int

    /// Scratch floats `forward` and `backward` need for a group of `count` images.
    func scratchCount(images count: Int) -> Int

    /// Whether the weight gradient runs as im2col + SGEMM (`GEMMKernel.weightGradient`) instead
    /// of the kernel's own loops.
    var weightGradientByGEMM: Bool { get }

    /// Whether the input gradient runs as im2col + SGEMM (`GEMMKernel.inputGradient`).
    var inputGradientByGEMM: Bool { get }

    /// Whether `forward` writes any output `Planes`; else the grouped [M, n] matrix (or one image).
    var writesAnyPlanes: Bool { get }

    /// Whether `backward` reads dY as any `Planes`; else the grouped [M, n] matrix (or one image).
    var readsAnyGradientPlanes: Bool { get }

    /// Y (+)= W ⋆ x for the group.
    func forward(source: Planes, count: Int, weight: UnsafePointer<Float>, ldw: Int, into output: Planes,
                 accumulate: Bool, scratch: UnsafeMutablePointer<Float>)

    /// The weight gradient dW (rows `ldw` apart, like W) += dY ⋆ x and, when `inputGradient` is
    /// given, the input gradient dx += Wᵀ ⋆ dY (accumulated), for the group. One call for both:
    /// several kernels share the staged dY (padded, in lanes) between them.
    func backward(source: Planes, count: Int, weight: UnsafePointer<Float>, ldw: Int, outputGradient dy: Planes,
                  weightGradient dw: UnsafeMutablePointer<Float>, inputGradient: Planes?,
                  scratch: UnsafeMutablePointer<Float>)
}

extension ConvolutionKernel {
    var weightGradientByGEMM: Bool { false }
    var inputGradientByGEMM: Bool { false }
}

extension ConvGeometry {
    /// A 3×3 stride-1 pad-1 convolution (the direct and Winograd kernels' geometry).
    var isSameThreeByThree: Bool { kernelHeight == 3 && kernelWidth == 3 && stride == 1 && padding == 1 }
}
