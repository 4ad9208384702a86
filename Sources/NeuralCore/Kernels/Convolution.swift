// The choice table: which kernel runs a convolution of a given geometry, and the call into it.

/// One convolution inside a layer — geometry, output channels, weights — and the kernel that
/// runs it on a group of images (`ConvolutionKernel`). Every conv-type layer runs its
/// convolutions through this type, which keeps the choice of kernel (`kernel(for:)`):
///
/// | geometry                                 | kernel                                          |
/// |------------------------------------------|-------------------------------------------------|
/// | 3×3 s1 p1, even map, ≥ 32 in and out     | `.winograd` (`prefersWinograd`)                 |
/// | 3×3 s1 p1, width a multiple of 16        | `.directPixels` (16 pixels of a row per vector) |
/// | 3×3 s1 p1, other maps                    | `.directLanes` (16 images per vector)           |
/// | 4×4 s2 p1, ≥ 8 input channels            | `.spaceToDepth` (16 images per vector)          |
/// | 4×4 s2 p1, fewer, width a multiple of 32 | `.spaceToDepthPixels` (the RGB layer)           |
/// | anything else, or `allowDirect: false`   | `.gemm` (im2col + SGEMM)                        |
///
/// Each kernel may still borrow im2col + SGEMM for a pass where that measured faster (see the
/// kernels). Tests run every kernel against SGEMM and against the naive references.
///
/// Shapes for a group of `count` images of P output pixels, n = count·P:
///   input   images through `Planes` (NCHW or grouped), C channels
///   W       [M, C, kh, kw], rows `ldw` floats apart (ldw > C·kh·kw: a slice of a wider kernel)
///   Y, dY   [M, n] with row stride `ldo`/`lddy`, image b's pixels at column b·P
///           (or any `Planes`, such as the layer's NCHW output, where `writesAnyPlanes` /
///           `readsAnyGradientPlanes`)
public final class Convolution {
    /// The kernels a convolution can run on.
    public enum Kernel: String, Sendable, Codable {
        /// im2col + SGEMM on the whole group (any geometry): `GEMMKernel`.
        case gemm
        /// Direct 3×3, 16 pixels of a row per vector (width a multiple of 16), one image at a
        /// time: `DirectPixelsKernel`.
        case directPixels
        /// Direct 3×3, one pixel of 16 images per vector (small or odd-sized maps): `DirectLanesKernel`.
        case directLanes
        /// 4×4 stride 2 pad 1 (the encoder's convolutions after the first) as direct 2×2
        /// convolutions of the input's space-to-depth, images in the lanes: `SpaceToDepthKernel`.
        case spaceToDepth
        /// 4×4 stride 2 pad 1 with few input channels (the RGB layer), the same in the pixel
        /// layout: `SpaceToDepthPixelsKernel`.
        case spaceToDepthPixels
        /// Winograd F(2×2, 3×3): `WinogradKernel`.
        case winograd

        /// The type that implements the kernel.
        var implementation: any ConvolutionKernel.Type {
            switch self {
            case .gemm: GEMMKernel.self
            case .directPixels: DirectPixelsKernel.self
            case .directLanes: DirectLanesKernel.self
            case .spaceToDepth: SpaceToDepthKernel.self
            case .spaceToDepthPixels: SpaceToDepthPixelsKernel.self
            case .winograd: WinogradKernel.self
            }
        }
    }

    public let geometry: ConvGeometry
    public let outputChannels: Int
    public let kernel: Kernel
    private let implementation: any ConvolutionKernel
    private var weight: UnsafePointer<Float>?
    private var ldw = 0
    /// Whether the forward weights packed last are still those of the weights in use
    /// (`DerivedWeights`: only across inference passes).
    private var packed = DerivedWeights()
    /// How many times the weights were packed for the forward pass (tests check the cache).
    public private(set) var forwardPacks = 0

    /// - Parameter allowDirect: false forces im2col + SGEMM (tests compare the kernels).
    public convenience init(geometry: ConvGeometry, outputChannels: Int, allowDirect: Bool = true) {
        self.init(geometry: geometry, outputChannels: outputChannels,
                  kernel: Self.kernel(for: geometry, outputChannels: outputChannels, allowDirect: allowDirect))
    }

    /// A convolution on a given kernel (tests compare the kernels); the kernel must support the
    /// geometry: `.gemm` any, `.directPixels`/`.directLanes`/`.winograd` 3×3 stride-1 pad-1 (pixels:
    /// `DirectConv.supportsPixelLayout`; Winograd: even H and W), `.spaceToDepth` 4×4 stride 2 pad 1
    /// with ≥ 8 input channels, `.spaceToDepthPixels` 4×4 stride 2 pad 1 with W a multiple of 32.
    public init(geometry: ConvGeometry, outputChannels: Int, kernel: Kernel) {
        precondition(kernel.implementation.supports(geometry), "\(kernel) kernel for \(geometry)")
        self.geometry = geometry
        self.outputChannels = outputChannels
        self.kernel = kernel
        implementation = kernel.implementation.init(geometry: geometry, outputChannels: outputChannels)
    }

    /// The kernel for a geometry (the table above).
    public static func kernel(for g: ConvGeometry, outputChannels m: Int, allowDirect: Bool = true) -> Kernel {
        guard allowDirect else { return .gemm }
        if WinogradKernel.supports(g) && prefersWinograd(g, outputChannels: m) { return .winograd }
        if DirectPixelsKernel.supports(g) { return .directPixels }
        if DirectLanesKernel.supports(g) { return .directLanes }
        if SpaceToDepthKernel.supports(g) { return .spaceToDepth }
        if SpaceToDepthPixelsKernel.supports(g) { return .spaceToDepthPixels }
        return .gemm
    }

    /// Whether Winograd F(2×2, 3×3) measured faster than the direct kernel for this convolution.
    static func prefersWinograd(_ g: ConvGeometry, outputChannels m: Int) -> Bool {
        // Measured (bench --layers --cpu-time, batch 64, 1 and 2 threads) against the direct
        // kernels: faster on both layouts once both channel counts are ≥ 32. Lanes (4×4, 8×8,
        // 16×16 maps): DCL, PixelDCL, iPixelDCL; at 16×16 PixelDCL's 64 → 32 and 32 → 32 and
        // iPixelDCL's 32 → 96 and 32 → 64 take 0.63–0.72× the CPU time of `.directPixels`
        // forward + backward. Rows (32×32 and up): DCL 32 → 128, PixelDCL and iPixelDCL 32 → 32;
        // slower for the final 32 → 3 on 64×64.
        min(g.channels, m) >= 32
    }

    /// The kernel of each pass: the chosen kernel's own, or im2col + SGEMM where it borrows that.
    public struct Dispatch: Equatable, Sendable, Codable, CustomStringConvertible {
        public var forward: Kernel
        public var weightGradient: Kernel
        public var inputGradient: Kernel

        public init(forward: Kernel, weightGradient: Kernel, inputGradient: Kernel) {
            self.forward = forward
            self.weightGradient = weightGradient
            self.inputGradient = inputGradient
        }

        /// The forward kernel, then each backward pass that runs on another: "directLanes (dW gemm)".
        public var description: String {
            let borrowed = [("dW", weightGradient), ("dX", inputGradient)].filter { $0.1 != forward }
            return borrowed.isEmpty ? forward.rawValue
                : forward.rawValue + " (" + borrowed.map { "\($0.0) \($0.1.rawValue)" }.joined(separator: ", ") + ")"
        }
    }

    /// What runs each pass of this convolution.
    public var dispatch: Dispatch {
        Dispatch(forward: kernel, weightGradient: implementation.weightGradientByGEMM ? .gemm : kernel,
                 inputGradient: implementation.inputGradientByGEMM ? .gemm : kernel)
    }

    /// Returns `existing` if it is this convolution (geometry, outputs, kernel), else a new one:
    /// how layers keep their convolutions across steps.
    public static func reuse(_ existing: Convolution?, geometry: ConvGeometry, outputChannels: Int,
                             allowDirect: Bool = true) -> Convolution {
        if let existing, existing.geometry == geometry, existing.outputChannels == outputChannels,
           existing.kernel == kernel(for: geometry, outputChannels: outputChannels, allowDirect: allowDirect) {
            return existing
        }
        return Convolution(geometry: geometry, outputChannels: outputChannels, allowDirect: allowDirect)
    }

    /// How many output pixels (images × pixels) a group of images should hold for this kernel,
    /// given the width `gemmColumns` im2col + SGEMM aims for.
    public func groupPixels(gemmColumns: Int) -> Int { implementation.groupPixels(gemmColumns: gemmColumns) }

    /// Points the convolution at its weights W [M, C, kh, kw] (rows `ldw` floats apart, default
    /// C·kh·kw) and packs them for the kernel: call before each forward pass, and with
    /// `backward: true` before each backward pass, outside the parallel region.
    public func setWeights(_ w: UnsafePointer<Float>, ldw: Int? = nil, backward: Bool = false) {
        weight = w
        self.ldw = ldw ?? geometry.patchSize
        implementation.pack(w, ldw: self.ldw, backward: backward)
        if !backward {
            packed = DerivedWeights()
            forwardPacks += 1
        }
    }

    /// `setWeights` for a forward pass in `mode` with weights that are (a part of) `parameter`:
    /// in inference, packs only if they changed (`Parameter.version`) or moved since the last pack.
    func setWeights(_ w: UnsafePointer<Float>, ldw: Int?, of parameter: Parameter, mode: Mode) {
        let ldw = ldw ?? geometry.patchSize
        var cache = weight == w && self.ldw == ldw ? packed : DerivedWeights()
        if cache.needsUpdate(from: [parameter], mode: mode) { setWeights(w, ldw: ldw) }
        packed = cache
    }

    /// Packs the weights of the last `setWeights` for the backward pass.
    func setWeightsForBackward() {
        guard let weight else { preconditionFailure("Convolution.backward before setWeights") }
        setWeights(weight, ldw: ldw, backward: true)
    }

    /// Scratch floats `forward` and `backward` need for a group of `count` images.
    public func scratchCount(images count: Int) -> Int { implementation.scratchCount(images: count) }

    // MARK: forward  Y[M, n] (+)= W ⋆ x

    public func forward(source: Planes, count: Int, output: UnsafeMutablePointer<Float>, ldo: Int,
                        accumulate: Bool = false, scratch: UnsafeMutablePointer<Float>) {
        forward(source: source, count: count, into: Planes(base: output, imageStride: geometry.outputPixels, channelStride: ldo),
                accumulate: accumulate, scratch: scratch)
    }

    /// Whether `forward(into:)` writes any `Planes` (e.g. the NCHW output itself); SGEMM writes
    /// only the grouped [M, n] matrix (or one image).
    public var writesAnyPlanes: Bool { implementation.writesAnyPlanes }

    /// The forward pass into output `Planes` (grouped unless `writesAnyPlanes`).
    public func forward(source: Planes, count: Int, into output: Planes, accumulate: Bool = false,
                        scratch: UnsafeMutablePointer<Float>) {
        guard let weight else { preconditionFailure("Convolution.forward before setWeights") }
        precondition(writesAnyPlanes || count == 1 || output.imageStride == geometry.outputPixels,
                     "\(kernel) writes a grouped output")
        implementation.forward(source: source, count: count, weight: weight, ldw: ldw, into: output,
                               accumulate: accumulate, scratch: scratch)
    }

    // MARK: backward  dW += dY ⋆ x,  dx += Wᵀ ⋆ dY

    /// Given dY [M, n] (row stride `lddy`) for the same group: dW (rows `ldw` apart, like W)
    /// += dY · im2col(x)ᵀ, and, when `inputGradient` is given, dx += the input gradient
    /// (accumulated, so convolutions reading one input can share its gradient).
    public func backward(source: Planes, count: Int, outputGradient dy: UnsafeMutablePointer<Float>, lddy: Int,
                         weightGradient dw: UnsafeMutablePointer<Float>, inputGradient: Planes?,
                         scratch: UnsafeMutablePointer<Float>) {
        backward(source: source, count: count,
                 outputGradient: Planes(base: dy, imageStride: geometry.outputPixels, channelStride: lddy),
                 weightGradient: dw, inputGradient: inputGradient, scratch: scratch)
    }

    /// Whether `backward` reads dY as any `Planes` (such as the layer's NCHW gradient); the
    /// other kernels read the grouped [M, n] matrix (or one image).
    public var readsAnyGradientPlanes: Bool { implementation.readsAnyGradientPlanes }

    /// The backward pass with dY given as `Planes` (grouped unless `readsAnyGradientPlanes`).
    public func backward(source: Planes, count: Int, outputGradient dys: Planes,
                         weightGradient dw: UnsafeMutablePointer<Float>, inputGradient: Planes?,
                         scratch: UnsafeMutablePointer<Float>) {
        guard let weight else { preconditionFailure("Convolution.backward before setWeights") }
        precondition(readsAnyGradientPlanes || count == 1 || dys.imageStride == geometry.outputPixels,
                     "dY must be grouped for \(kernel)")
        implementation.backward(source: source, count: count, weight: weight, ldw: ldw, outputGradient: dys,
                                weightGradient: dw, inputGradient: inputGradient, scratch: scratch)
    }
}
