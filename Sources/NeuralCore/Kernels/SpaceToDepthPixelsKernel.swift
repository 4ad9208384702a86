/// Runs 4×4 stride-2 pad-1 convolutions as 2×2 convolutions of space-to-depth, pixels in a vector.
///
/// For few input channels (the RGB layer) and W a multiple of 32, one image at a time, on the
/// loops of `SpaceToDepthPixels.swift`; S is the input's space-to-depth.
/// Forward: `DirectConv.forward` on S with W2[o][(c, py, px)][a, b] = W[o][c][2a + py][2b + px].
/// Weight gradient: a direct kernel on S and dY. Input gradient: im2col + SGEMM (`GEMMKernel`).
final class SpaceToDepthPixelsKernel: ConvolutionKernel {
    let geometry: ConvGeometry
    let outputChannels: Int
    private let packed: Tensor    // forward weights W2, `DirectConv.packSpaceToDepth` layout

    static func supports(_ g: ConvGeometry) -> Bool {
        g.isHalvingFourByFour && DirectConv.supportsSpaceToDepthPixels(height: g.height, width: g.width)
    }

    var inputGradientByGEMM: Bool { true }

    init(geometry: ConvGeometry, outputChannels: Int) {
        self.geometry = geometry
        self.outputChannels = outputChannels
        packed = Tensor(shape: [(outputChannels + 7) / 8 * 8 * 4 * geometry.channels * 4])
    }

    /// The input gradient reads W itself: nothing to pack for backward.
    func pack(_ weight: UnsafePointer<Float>, ldw: Int, backward: Bool) {
        guard !backward else { return }
        DirectConv.packSpaceToDepth(weight, ldw: ldw, outputs: outputChannels, inputs: geometry.channels,
                                    into: packed.pointer)
    }

    /// One image: the kernel runs image by image.
    func groupPixels(gemmColumns: Int) -> Int { geometry.outputPixels }

    func scratchCount(images count: Int) -> Int {
        let g = geometry
        return max(DirectConv.spaceToDepthPixelsCount(channels: g.channels, height: g.height, width: g.width),
                   g.patchSize * count * g.outputPixels)
    }

    var writesAnyPlanes: Bool { true }
    var readsAnyGradientPlanes: Bool { false }

    func forward(source: Planes, count: Int, weight: UnsafePointer<Float>, ldw: Int, into output: Planes,
                 accumulate: Bool, scratch: UnsafeMutablePointer<Float>) {
        let g = geometry, m = outputChannels, c = g.channels
        let layout = DirectLayout.spaceToDepthPixels(height: g.height, width: g.width)
        for b in 0..<count {
            DirectConv.spaceToDepthPixels(source.image(b), channelStride: source.channelStride, channels: c,
                                          height: g.height, width: g.width, into: scratch)
            DirectConv.forward(padded: scratch, channels: 4 * c, layout: layout, packed: packed.pointer, outputs: m,
                              output: output.image(b), outputStride: output.channelStride, accumulate: accumulate)
        }
    }

    func backward(source: Planes, count: Int, weight: UnsafePointer<Float>, ldw: Int, outputGradient dy: Planes,
                  weightGradient dw: UnsafeMutablePointer<Float>, inputGradient: Planes?,
                  scratch: UnsafeMutablePointer<Float>) {
        let g = geometry, p = g.outputPixels, m = outputChannels, c = g.channels
        let layout = DirectLayout.spaceToDepthPixels(height: g.height, width: g.width)
        for b in 0..<count {
            DirectConv.spaceToDepthPixels(source.image(b), channelStride: source.channelStride, channels: c,
                                          height: g.height, width: g.width, into: scratch)
            DirectConv.spaceToDepthWeightGradient(outputGradient: dy.base + b * p, gradientStride: dy.channelStride,
                                                  outputs: m, s: scratch, channels: c, layout: layout,
                                                  into: dw, ldw: ldw)
        }
        guard let inputGradient else { return }
        GEMMKernel.inputGradient(g, count: count, outputs: m, weight: weight, ldw: ldw, outputGradient: dy,
                                 into: inputGradient, scratch: scratch)
    }
}
