/// One convolution inside a layer — geometry, output channels, weights — and the kernel that
/// runs it on a group of images. Every conv-type layer runs its convolutions through this type:
/// - Winograd F(2×2, 3×3) (`Winograd`: 16 multiplies per 2×2 output tile instead of 36) for the
///   3×3 stride-1 pad-1 convolutions where it measured faster (`prefersWinograd`: the Up layers'
///   convolutions with enough channels), forward, input gradient and weight gradient;
/// - the direct 3×3 kernels (`DirectConv`) for the other 3×3 stride-1 pad-1 convolutions: pixels
///   in the vector lanes for maps whose width is a multiple of 16, images in the lanes otherwise;
/// - for 4×4 stride-2 pad-1 convolutions with ≥ 8 input channels (the encoder), direct 2×2
///   convolutions of the space-to-depth input S forward and of dY for the input gradient, and
///   a direct weight-gradient kernel on S and dY; with fewer input channels
///   (the RGB encoder layer) the same in the pixel layout, forward and weight gradient
///   (`SpaceToDepthPixels.swift`);
/// - im2col + SGEMM on the whole group (`ConvKernel`) for the other geometries and passes
///   (resize-conv's 2×2 phase convolution, the RGB layer's input gradient, and the weight
///   gradients where measured faster: lanes layout, pixels with M ≥ 128 and C ≥ 64).
/// The choice is made per geometry (`kernel(for:)`); tests run every kernel against SGEMM and
/// against the naive references.
///
/// Shapes for a group of `count` images of P output pixels, n = count·P:
///   input   images through `Planes` (NCHW or grouped), C channels
///   W       [M, C, kh, kw], rows `ldw` floats apart (ldw > C·kh·kw: a slice of a wider kernel)
///   Y, dY   [M, n] with row stride `ldo`/`lddy`, image b's pixels at column b·P
///           (forward: or any output `Planes`, such as the layer's NCHW output, where
///           `writesAnyPlanes`)
public final class Convolution {
    /// The kernels a convolution can run on.
    public enum Kernel: Sendable {
        /// im2col + SGEMM on the whole group (any geometry).
        case gemm
        /// Direct 3×3, 16 pixels of a row per vector (width a multiple of 16), one image at a time.
        case directPixels
        /// Direct 3×3, one pixel of 16 images per vector (small or odd-sized maps).
        case directLanes
        /// 4×4 stride 2 pad 1 (the encoder's convolutions after the first) forward as a direct
        /// 2×2 convolution of the input's space-to-depth, images in the lanes; the input gradient
        /// likewise (2×2 convolutions of dY giving dS's real pixels, one per phase of S); the
        /// weight gradient by a direct kernel on S and dY with the output channels in the lanes.
        case spaceToDepth
        /// 4×4 stride 2 pad 1 with few input channels (the RGB layer): forward and weight
        /// gradient as direct 2×2 kernels on the space-to-depth input in the pixel layout, one
        /// image at a time (W a multiple of 32); input gradient by im2col + SGEMM.
        case spaceToDepthPixels
        /// Winograd F(2×2, 3×3) (`Winograd`): forward, input gradient (the flipped kernel) and
        /// weight gradient (`Winograd.weightGradient`).
        case winograd
    }

    public let geometry: ConvGeometry
    public let outputChannels: Int
    public let kernel: Kernel
    /// Images per weight-gradient SGEMM on the lanes path (about 512 columns: measured best
    /// between 256 and 2048; the column matrix then stays near L2).
    private var lanesDwImages: Int { max(1, 512 / max(1, geometry.outputPixels)) }
    /// Whether the pixel-layout path computes the weight gradient by im2col + SGEMM.
    private var dwByGEMM: Bool { outputChannels >= 128 && geometry.channels >= 64 }
    public var usesDirectKernel: Bool { kernel != .gemm }
    private var weight: UnsafePointer<Float>?
    private var ldw = 0
    private let packed: Tensor?        // forward weights, DirectConv.pack layout
    private let flipped: Tensor?       // input-gradient weights, DirectConv.packFlipped layout
    private let transformed: Tensor?   // Winograd: forward U [16][M][C], input-gradient U' [16][C][M]
    private let transformedFlipped: Tensor?

    /// - Parameter allowDirect: false forces im2col + SGEMM (tests compare the kernels).
    public convenience init(geometry: ConvGeometry, outputChannels: Int, allowDirect: Bool = true) {
        self.init(geometry: geometry, outputChannels: outputChannels,
                  kernel: Self.kernel(for: geometry, outputChannels: outputChannels, allowDirect: allowDirect))
    }

    /// A convolution on a given kernel (tests compare the kernels); the kernel must support the
    /// geometry: `.gemm` any, `.directPixels`/`.directLanes`/`.winograd` 3×3 stride-1 pad-1 (pixels:
    /// `DirectConv.supportsPixelLayout`; Winograd: even H and W), `.spaceToDepth` 4×4 stride 2 pad 1.
    public init(geometry: ConvGeometry, outputChannels: Int, kernel: Kernel) {
        let g = geometry, same3 = g.kernelHeight == 3 && g.kernelWidth == 3 && g.stride == 1 && g.padding == 1
        switch kernel {
        case .gemm: break
        case .directLanes: precondition(same3, "direct kernel for \(g)")
        case .directPixels:
            precondition(same3 && DirectConv.supportsPixelLayout(height: g.height, width: g.width), "pixels for \(g)")
        case .winograd: precondition(same3 && Winograd.supports(height: g.height, width: g.width), "Winograd for \(g)")
        case .spaceToDepth: precondition(Self.directKernel(for: g) == .spaceToDepth, "space-to-depth for \(g)")
        case .spaceToDepthPixels:
            precondition(g.isHalvingFourByFour && DirectConv.supportsSpaceToDepthPixels(height: g.height, width: g.width),
                         "space-to-depth pixels for \(g)")
        }
        self.geometry = geometry
        self.outputChannels = outputChannels
        self.kernel = kernel
        if kernel == .winograd {
            packed = nil
            flipped = nil
            let count = Winograd.weightCount(outputs: outputChannels, inputs: geometry.channels)
            transformed = Tensor(shape: [count])
            transformedFlipped = Tensor(shape: [count])
        } else if kernel != .gemm {
            // Packed kernels: 9 taps per pair (3×3), or 4 per pair of 4·C S channels (2×2).
            let s2d = kernel == .spaceToDepth || kernel == .spaceToDepthPixels
            let inputs = s2d ? 4 * geometry.channels : geometry.channels, taps = s2d ? 4 : 9
            let m8 = (outputChannels + 7) / 8 * 8, c8 = (inputs + 7) / 8 * 8
            packed = Tensor(shape: [m8 * inputs * taps])
            // Space-to-depth: the input gradient's 2×2 kernels, one per phase of S
            // (`packSpaceToDepthInputGradient`; none for the pixels kernel: SGEMM + col2im).
            switch kernel {
            case .spaceToDepth:
                flipped = Tensor(shape: [4 * DirectConv.spaceToDepthInputGradientPhaseCount(
                    outputs: outputChannels, inputs: geometry.channels)])
            case .spaceToDepthPixels: flipped = nil
            default: flipped = Tensor(shape: [c8 * outputChannels * taps])
            }
            transformed = nil
            transformedFlipped = nil
        } else {
            packed = nil
            flipped = nil
            transformed = nil
            transformedFlipped = nil
        }
    }

    /// The kernel for a geometry: for 3×3 stride-1 pad-1 convolutions Winograd where measured
    /// faster (`prefersWinograd`), else direct; im2col + SGEMM for the rest.
    public static func kernel(for g: ConvGeometry, outputChannels m: Int, allowDirect: Bool = true) -> Kernel {
        guard allowDirect else { return .gemm }
        if prefersWinograd(g, outputChannels: m) { return .winograd }
        return directKernel(for: g)
    }

    /// Whether Winograd F(2×2, 3×3) measured faster than the direct kernel for this convolution.
    static func prefersWinograd(_ g: ConvGeometry, outputChannels m: Int) -> Bool {
        guard g.kernelHeight == 3, g.kernelWidth == 3, g.stride == 1, g.padding == 1,
              Winograd.supports(height: g.height, width: g.width) else { return false }
        // Measured (bench --layers, batch 64, 1 and 2 threads): faster on the lanes layout (4×4,
        // 8×8, 16×16 maps) when both channel counts are ≥ 64 (DCL, PixelDCL at 4×4 and 8×8,
        // iPixelDCL's input convolution), slower with fewer (PixelDCL at 16×16: 32 outputs); on
        // the rows layout (32×32 and up) faster forward and backward from 32 channels (DCL 32 → 128,
        // PixelDCL and iPixelDCL 32 → 32 on 32×32), slower for the final 32 → 3 on 64×64.
        let least = min(g.channels, m)
        return Winograd.usesLanes(width: g.width) ? least >= 64 : least >= 32
    }

    /// The kernel for a geometry without Winograd: direct for 3×3 stride-1 pad-1 convolutions,
    /// space-to-depth for the encoder's 4×4 stride 2, else im2col + SGEMM.
    static func directKernel(for g: ConvGeometry) -> Kernel {
        if g.isHalvingFourByFour {
            // Few input channels (the RGB layer): S is thin, 16 images a vector would waste the
            // lanes on a tall padded map; one image a vector row does better where it fits.
            if g.channels >= 8 { return .spaceToDepth }
            if DirectConv.supportsSpaceToDepthPixels(height: g.height, width: g.width) { return .spaceToDepthPixels }
            return .gemm
        }
        guard g.kernelHeight == 3, g.kernelWidth == 3, g.stride == 1, g.padding == 1 else { return .gemm }
        return DirectConv.supportsPixelLayout(height: g.height, width: g.width) ? .directPixels : .directLanes
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

    /// How many output pixels (images × pixels) a group of images should hold for this kernel:
    /// `gemmColumns` for SGEMM, 16 images for the lanes kernel, about 1024 pixels for the pixel
    /// kernel (its weight gradient sums a whole group before reducing).
    public func groupPixels(gemmColumns: Int) -> Int {
        switch kernel {
        case .gemm: gemmColumns
        case .directPixels: 1024
        case .directLanes: 32 * geometry.outputPixels
        // A worker's whole share: the weight gradient's sums are spread over dW once per group.
        case .spaceToDepth: 1024 * geometry.outputPixels
        case .spaceToDepthPixels: geometry.outputPixels
        case .winograd: Winograd.chunkImages(height: geometry.height, width: geometry.width) * geometry.outputPixels
        }
    }

    /// Points the convolution at its weights W [M, C, kh, kw] (rows `ldw` floats apart, default
    /// C·kh·kw) and packs them for the direct kernels: call before each forward pass, and with
    /// `backward: true` before each backward pass, outside the parallel region.
    public func setWeights(_ w: UnsafePointer<Float>, ldw: Int? = nil, backward: Bool = false) {
        weight = w
        self.ldw = ldw ?? geometry.patchSize
        if kernel == .winograd {
            Winograd.transformWeights(w, ldw: self.ldw, outputs: outputChannels, inputs: geometry.channels,
                                      flipped: backward, into: (backward ? transformedFlipped : transformed)!.pointer)
            return
        }
        guard let packed else { return }
        if kernel == .spaceToDepth || kernel == .spaceToDepthPixels {
            // W2[o][(c, py, px)][a, b] = W[o][c][2a + py][2b + px].
            if backward {
                guard kernel == .spaceToDepth else { return }
                DirectConv.packSpaceToDepthInputGradient(w, ldw: self.ldw, outputs: outputChannels,
                                                         inputs: geometry.channels, into: flipped!.pointer)
            } else {
                DirectConv.packSpaceToDepth(w, ldw: self.ldw, outputs: outputChannels, inputs: geometry.channels,
                                            into: packed.pointer)
            }
            return
        }
        if backward, let flipped {
            DirectConv.packFlipped(w, ldw: self.ldw, outputs: outputChannels, inputs: geometry.channels, into: flipped.pointer)
        } else if !backward {
            DirectConv.pack(w, ldw: self.ldw, outputs: outputChannels, inputs: geometry.channels, into: packed.pointer)
        }
    }

    /// Scratch floats `forward` and `backward` need for a group of `count` images.
    public func scratchCount(images count: Int) -> Int {
        scratchCount(kernel, images: count)
    }

    private func scratchCount(_ kernel: Kernel, images count: Int) -> Int {
        let g = geometry, m = outputChannels, plane = DirectConv.paddedPlane(height: g.height, width: g.width)
        switch kernel {
        case .winograd:
            return Winograd.weightGradientScratchCount(inputs: g.channels, outputs: m, height: g.height, width: g.width,
                                                       images: count)
        case .gemm: return g.patchSize * count * g.outputPixels
        case .spaceToDepthPixels:
            return max(DirectConv.spaceToDepthPixelsCount(channels: g.channels, height: g.height, width: g.width),
                       g.patchSize * count * g.outputPixels)
        case .directPixels:
            return max(count * max(g.channels, m) * plane, dwByGEMM ? g.patchSize * count * g.outputPixels : 0)
        case .directLanes:
            return max(16 * ((g.channels + m) * plane + max(g.channels, m) * g.outputPixels),
                       g.patchSize * min(count, lanesDwImages) * g.outputPixels)
        case .spaceToDepth:
            // Forward: S and the output in lanes; backward: the weight gradient's sums, dY's rows
            // of outputs, S then dX (smaller), and padded dY.
            let s2d = 4 * g.channels * (g.height / 2 + 1) * (g.width / 2 + 1)
            let paddedDy = (m + 3) / 4 * 4 * (g.outputHeight + 2) * (g.outputWidth + 2)
            return DirectConv.spaceToDepthWeightGradientCount(outputs: m, inputs: g.channels)
                + DirectConv.outputsInLanesCount(outputs: m, pixels: g.outputPixels)
                + 16 * (s2d + max(m * g.outputPixels, paddedDy))
        }
    }

    // MARK: forward  Y[M, n] (+)= W ⋆ x

    public func forward(source: Planes, count: Int, output: UnsafeMutablePointer<Float>, ldo: Int,
                        accumulate: Bool = false, scratch: UnsafeMutablePointer<Float>) {
        forward(source: source, count: count, into: Planes(base: output, imageStride: geometry.outputPixels, channelStride: ldo),
                accumulate: accumulate, scratch: scratch)
    }

    /// Whether `forward(into:)` writes any `Planes` (e.g. the NCHW output itself); SGEMM writes
    /// only the grouped [M, n] matrix (or one image).
    public var writesAnyPlanes: Bool { kernel != .gemm }

    /// The forward pass into output `Planes` (grouped unless `writesAnyPlanes`).
    public func forward(source: Planes, count: Int, into output: Planes, accumulate: Bool = false,
                        scratch: UnsafeMutablePointer<Float>) {
        guard let weight else { preconditionFailure("Convolution.forward before setWeights") }
        let g = geometry, p = g.outputPixels, m = outputChannels, c = g.channels
        switch kernel {
        case .directPixels:
            let layout = DirectLayout.pixels(height: g.height, width: g.width)
            for b in 0..<count {
                DirectConv.pad(source.image(b), channelStride: source.channelStride, channels: c,
                              height: g.height, width: g.width, into: scratch)
                DirectConv.forward(padded: scratch, channels: c, layout: layout, packed: packed!.pointer, outputs: m,
                                  output: output.image(b), outputStride: output.channelStride, accumulate: accumulate)
            }
        case .directLanes:
            let layout = DirectLayout.lanes(height: g.height, width: g.width)
            let lanesOut = scratch + c * layout.plane
            for first in stride(from: 0, to: count, by: 16) {
                let n = min(16, count - first)
                DirectConv.padLanes(source.starting(at: first), count: n, channels: c, height: g.height, width: g.width,
                                   into: scratch)
                DirectConv.forward(padded: scratch, channels: c, layout: layout, packed: packed!.pointer, outputs: m,
                                  output: lanesOut, outputStride: 16 * p, accumulate: false)
                DirectConv.unpackLanes(lanesOut, count: n, channels: m, pixels: p,
                                      into: output.starting(at: first), accumulate: accumulate)
            }
        case .spaceToDepth:
            let (hs, ws) = (g.height / 2 + 1, g.width / 2 + 1)
            let lanesOut = scratch + 4 * c * hs * ws * 16
            for first in stride(from: 0, to: count, by: 16) {
                let n = min(16, count - first)
                DirectConv.spaceToDepthLanes(source.starting(at: first), count: n, channels: c, height: g.height,
                                            width: g.width, into: scratch)
                DirectConv.convolve2x2(scratch, channels: 4 * c, plane: hs * ws * 16, rowStride: ws * 16,
                                       height: g.outputHeight, width: g.outputWidth, padding: .spaceToDepth,
                                       packed: packed!.pointer, outputs: m, output: lanesOut, outputStride: 16 * p,
                                       outputRowStride: 16 * g.outputWidth, outputPixelStride: 16)
                DirectConv.unpackLanes(lanesOut, count: n, channels: m, pixels: p,
                                      into: output.starting(at: first), accumulate: accumulate)
            }
        case .spaceToDepthPixels:
            let layout = DirectLayout.spaceToDepthPixels(height: g.height, width: g.width)
            for b in 0..<count {
                DirectConv.spaceToDepthPixels(source.image(b), channelStride: source.channelStride, channels: c,
                                              height: g.height, width: g.width, into: scratch)
                DirectConv.forward(padded: scratch, channels: 4 * c, layout: layout, packed: packed!.pointer, outputs: m,
                                  output: output.image(b), outputStride: output.channelStride, accumulate: accumulate)
            }
        case .winograd:
            Winograd.convolve(source: source, count: count, channels: c, height: g.height, width: g.width,
                              transformed: transformed!.pointer, outputs: m,
                              output: output, accumulate: accumulate, scratch: scratch)
        case .gemm:
            precondition(count == 1 || output.imageStride == p, "SGEMM writes a grouped output")
            let n = count * p, k = g.patchSize
            ConvKernel.unfold(g, source: source, count: count, column: scratch)
            sgemm(m: m, n: n, k: k, a: weight, lda: ldw, b: scratch, ldb: n, beta: accumulate ? 1 : 0,
                  c: output.base, ldc: output.channelStride)
        }
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
    public var readsAnyGradientPlanes: Bool { kernel == .spaceToDepth || kernel == .winograd }

    /// The backward pass with dY given as `Planes` (grouped unless `readsAnyGradientPlanes`).
    public func backward(source: Planes, count: Int, outputGradient dys: Planes,
                         weightGradient dw: UnsafeMutablePointer<Float>, inputGradient: Planes?,
                         scratch: UnsafeMutablePointer<Float>) {
        guard let weight else { preconditionFailure("Convolution.backward before setWeights") }
        let g = geometry, p = g.outputPixels, m = outputChannels, c = g.channels
        precondition(readsAnyGradientPlanes || count == 1 || dys.imageStride == p, "dY must be grouped for \(kernel)")
        // The grouped matrix [M, n], for the kernels that read it so.
        let dy = dys.base, lddy = dys.channelStride
        switch kernel {
        case .winograd:
            Winograd.weightGradient(source: source, outputGradient: dys,
                                    count: count, channels: c, height: g.height, width: g.width, outputs: m,
                                    into: dw, ldw: ldw, scratch: scratch)
            guard let inputGradient else { return }
            Winograd.convolve(source: dys, count: count, channels: m,
                              height: g.height, width: g.width, transformed: transformedFlipped!.pointer, outputs: c,
                              output: inputGradient, accumulate: true, scratch: scratch)
        case .directPixels:
            let layout = DirectLayout.pixels(height: g.height, width: g.width)
            directWeightGradient(source: source, count: count, outputGradient: dy, lddy: lddy,
                                 weightGradient: dw, scratch: scratch)
            guard let inputGradient else { return }
            for b in 0..<count {
                DirectConv.pad(dy + b * p, channelStride: lddy, channels: m, height: g.height, width: g.width, into: scratch)
                DirectConv.forward(padded: scratch, channels: m, layout: layout, packed: flipped!.pointer,
                                  outputs: c, output: inputGradient.image(b),
                                  outputStride: inputGradient.channelStride, accumulate: true)
            }
        case .directLanes:
            directWeightGradient(source: source, count: count, outputGradient: dy, lddy: lddy,
                                 weightGradient: dw, scratch: scratch)
            guard let inputGradient else { return }
            let layout = DirectLayout.lanes(height: g.height, width: g.width)
            let lanesDy = scratch, lanesDx = lanesDy + m * layout.plane
            for first in stride(from: 0, to: count, by: 16) {
                let n = min(16, count - first)
                DirectConv.padLanes(Planes(base: dy + first * p, imageStride: p, channelStride: lddy), count: n,
                                   channels: m, height: g.height, width: g.width, into: lanesDy)
                DirectConv.forward(padded: lanesDy, channels: m, layout: layout, packed: flipped!.pointer, outputs: c,
                                  output: lanesDx, outputStride: 16 * p, accumulate: false)
                DirectConv.unpackLanes(lanesDx, count: n, channels: c, pixels: p,
                                      into: inputGradient.starting(at: first), accumulate: true)
            }
        case .spaceToDepth:
            // 16 images at a time: dY padded by 1 in lanes, and S.
            // dW: the direct kernel with the output channels in the lanes, on S and dY's rows of
            // outputs (`outputsInLanes`), its sums spread over dW once per group.
            // dS = the valid 2×2 convolution of dY padded by 1 with W2 flipped and transposed
            // (M rounded up to 4 channels, the extra ones zero), only at S's real pixels: phase
            // (py, px) of S, its C channels (c, py, px), is real on an Ho × Wo window of the grid
            // at (1 − py, 1 − px), whose pixel (i, j) is dX's (2i + 1 − py, 2j + 1 − px); it reads
            // dY's padding only on its top row when py = 1, its bottom row when py = 0, and
            // likewise columns. dX gathered in lanes [C][H][W][16], in the space S took.
            let (ho, wo) = (g.outputHeight, g.outputWidth), m4 = (m + 3) / 4 * 4
            let (hp, wp) = (ho + 2, wo + 2), ipx = g.height * g.width
            let sumsCount = DirectConv.spaceToDepthWeightGradientCount(outputs: m, inputs: c)
            let sums = scratch, rows = sums + sumsCount
            let lanesS = rows + DirectConv.outputsInLanesCount(outputs: m, pixels: p)
            let lanesDx = lanesS, lanesDy = lanesS + 4 * c * (ho + 1) * (wo + 1) * 16
            let phaseWeights = DirectConv.spaceToDepthInputGradientPhaseCount(outputs: m, inputs: c)
            fillZero(sums, sumsCount)
            fillZero(lanesDy + m * hp * wp * 16, (m4 - m) * hp * wp * 16)
            for first in stride(from: 0, to: count, by: 16) {
                let n = min(16, count - first)
                DirectConv.padLanes(dys.starting(at: first), count: n, channels: m, height: ho, width: wo,
                                   into: lanesDy)
                DirectConv.spaceToDepthLanes(source.starting(at: first), count: n, channels: c, height: g.height,
                                            width: g.width, into: lanesS)
                DirectConv.outputsInLanes(lanesDy, outputs: m, height: ho, width: wo, into: rows)
                DirectConv.spaceToDepthLanesWeightGradient(rows, outputs: m, s: lanesS, channels: c, height: ho,
                                                           width: wo, into: sums)
                guard let inputGradient else { continue }
                for py in 0..<2 {
                    for px in 0..<2 {
                        DirectConv.convolve2x2(lanesDy + ((1 - py) * wp + 1 - px) * 16, channels: m4,
                                               plane: hp * wp * 16, rowStride: wp * 16, height: ho, width: wo,
                                               padding: .padded(top: py == 1, bottom: py == 0, left: px == 1,
                                                                right: px == 0),
                                               packed: flipped!.pointer + (2 * py + px) * phaseWeights, outputs: c,
                                               output: lanesDx + ((1 - py) * g.width + 1 - px) * 16,
                                               outputStride: ipx * 16, outputRowStride: 2 * g.width * 16,
                                               outputPixelStride: 32)
                    }
                }
                DirectConv.unpackLanes(lanesDx, count: n, channels: c, pixels: ipx,
                                      into: inputGradient.starting(at: first), accumulate: true)
            }
            DirectConv.addSpaceToDepthWeightGradient(sums, outputs: m, inputs: c, into: dw, ldw: ldw)
        case .spaceToDepthPixels:
            let layout = DirectLayout.spaceToDepthPixels(height: g.height, width: g.width)
            for b in 0..<count {
                DirectConv.spaceToDepthPixels(source.image(b), channelStride: source.channelStride, channels: c,
                                              height: g.height, width: g.width, into: scratch)
                DirectConv.spaceToDepthWeightGradient(outputGradient: dy + b * p, gradientStride: lddy, outputs: m,
                                                      s: scratch, channels: c, layout: layout, into: dw, ldw: ldw)
            }
            guard let inputGradient else { return }
            let n = count * p
            sgemm(transposeA: true, m: g.patchSize, n: n, k: m, a: weight, lda: ldw, b: dy, ldb: lddy, beta: 0,
                  c: scratch, ldc: n)
            ConvKernel.fold(g, column: scratch, count: count, destination: inputGradient)
        case .gemm:
            let n = count * p, k = g.patchSize
            ConvKernel.unfold(g, source: source, count: count, column: scratch)
            sgemm(transposeB: true, m: m, n: k, k: n, a: dy, lda: lddy, b: scratch, ldb: n, beta: 1, c: dw, ldc: ldw)
            guard let inputGradient else { return }
            sgemm(transposeA: true, m: k, n: n, k: m, a: weight, lda: ldw, b: dy, ldb: lddy, beta: 0, c: scratch, ldc: n)
            ConvKernel.fold(g, column: scratch, count: count, destination: inputGradient)
        }
    }

    /// dW += dY ⋆ x for the direct 3×3 kernels (pixels: SGEMM when M and C are large,
    /// else the direct weight-gradient kernel; lanes: im2col + SGEMM over ~512 columns at a time).
    private func directWeightGradient(source: Planes, count: Int,
                                      outputGradient dy: UnsafeMutablePointer<Float>, lddy: Int,
                                      weightGradient dw: UnsafeMutablePointer<Float>,
                                      scratch: UnsafeMutablePointer<Float>) {
        let g = geometry, p = g.outputPixels, m = outputChannels, c = g.channels
        if kernel == .directPixels && !dwByGEMM {
            // The direct kernel (few channels, where SGEMM packs a lot).
            let layout = DirectLayout.pixels(height: g.height, width: g.width), stride = c * layout.plane
            for b in 0..<count {
                DirectConv.pad(source.image(b), channelStride: source.channelStride, channels: c,
                              height: g.height, width: g.width, into: scratch + b * stride)
            }
            DirectConv.weightGradient(outputGradient: dy, gradientStride: lddy, gradientRowStride: g.width,
                                     gradientMapStride: p, outputs: m, padded: scratch, paddedMapStride: stride,
                                     channels: c, layout: layout, count: count, into: dw, ldw: ldw)
            return
        }
        // SGEMM when both M and K = 9C are large (measured: M ≥ 128 and C ≥ 64, e.g. DCL at
        // 16×16) on the whole group; on the lanes layout ~512 columns at a time (the direct
        // weight-gradient kernel would sum its lanes every 16 pixels).
        let patch = g.patchSize, step = kernel == .directLanes ? lanesDwImages : count
        for first in stride(from: 0, to: count, by: step) {
            let n = min(step, count - first), cols = n * p
            ConvKernel.unfold(g, source: source.starting(at: first), count: n, column: scratch)
            sgemm(transposeB: true, m: m, n: patch, k: cols, a: dy + first * p, lda: lddy, b: scratch, ldb: cols,
                  beta: 1, c: dw, ldc: ldw)
        }
    }
}
