/// Runs 3×3 stride-1 pad-1 convolutions directly, 16 pixels of a row per vector.
///
/// For maps whose width is a multiple of 16, one image at a time, on the loops of `DirectConv`.
/// Forward: each image padded, then `DirectConv.forward` with the packed W. Input gradient: the
/// same convolution of dY padded, with W flipped and transposed. Weight gradient: the direct
/// weight-gradient kernel on the whole group, or im2col + SGEMM where M and C are large (measured:
/// M ≥ 128 and C ≥ 64, e.g. DCL at 16×16), where SGEMM's packing pays.
final class DirectPixelsKernel: ConvolutionKernel {
    let geometry: ConvGeometry
    let outputChannels: Int
    private let weights: DirectWeights
    var weightGradientByGEMM: Bool { outputChannels >= 128 && geometry.channels >= 64 }

    static func supports(_ g: ConvGeometry) -> Bool {
        g.isSameThreeByThree && DirectConv.supportsPixelLayout(height: g.height, width: g.width)
    }

    init(geometry: ConvGeometry, outputChannels: Int) {
        self.geometry = geometry
        self.outputChannels = outputChannels
        weights = DirectWeights(outputs: outputChannels, inputs: geometry.channels)
    }

    func pack(_ weight: UnsafePointer<Float>, ldw: Int, backward: Bool) {
        weights.pack(weight, ldw: ldw, backward: backward)
    }

    /// About 1024 pixels: the weight gradient sums a whole group before reducing.
    func groupPixels(gemmColumns: Int) -> Int { 1024 }

    func scratchCount(images count: Int) -> Int {
        let g = geometry, plane = DirectConv.paddedPlane(height: g.height, width: g.width)
        return max(count * max(g.channels, outputChannels) * plane,
                   weightGradientByGEMM ? g.patchSize * count * g.outputPixels : 0)
    }

    var writesAnyPlanes: Bool { true }
    var readsAnyGradientPlanes: Bool { false }

    func forward(source: Planes, count: Int, weight: UnsafePointer<Float>, ldw: Int, into output: Planes,
                 accumulate: Bool, scratch: UnsafeMutablePointer<Float>) {
        let g = geometry, m = outputChannels, c = g.channels
        let layout = DirectLayout.pixels(height: g.height, width: g.width)
        for b in 0..<count {
            DirectConv.pad(source.image(b), channelStride: source.channelStride, channels: c,
                          height: g.height, width: g.width, into: scratch)
            DirectConv.forward(padded: scratch, channels: c, layout: layout, packed: weights.packed.pointer, outputs: m,
                              output: output.image(b), outputStride: output.channelStride, accumulate: accumulate)
        }
    }

    func backward(source: Planes, count: Int, weight: UnsafePointer<Float>, ldw: Int, outputGradient dys: Planes,
                  weightGradient dw: UnsafeMutablePointer<Float>, inputGradient: Planes?,
                  scratch: UnsafeMutablePointer<Float>) {
        let g = geometry, p = g.outputPixels, m = outputChannels, c = g.channels
        let dy = dys.base, lddy = dys.channelStride
        let layout = DirectLayout.pixels(height: g.height, width: g.width)
        if weightGradientByGEMM {
            GEMMKernel.weightGradient(g, source: source, count: count, imagesPerProduct: count, outputs: m,
                                      outputGradient: dys, into: dw, ldw: ldw, scratch: scratch)
        } else {
            // The direct kernel (few channels, where SGEMM packs a lot).
            let stride = c * layout.plane
            for b in 0..<count {
                DirectConv.pad(source.image(b), channelStride: source.channelStride, channels: c,
                              height: g.height, width: g.width, into: scratch + b * stride)
            }
            DirectConv.weightGradient(outputGradient: dy, gradientStride: lddy, gradientRowStride: g.width,
                                     gradientMapStride: p, outputs: m, padded: scratch, paddedMapStride: stride,
                                     channels: c, layout: layout, count: count, into: dw, ldw: ldw)
        }
        guard let inputGradient else { return }
        for b in 0..<count {
            DirectConv.pad(dy + b * p, channelStride: lddy, channels: m, height: g.height, width: g.width, into: scratch)
            DirectConv.forward(padded: scratch, channels: m, layout: layout, packed: weights.flipped.pointer,
                              outputs: c, output: inputGradient.image(b),
                              outputStride: inputGradient.channelStride, accumulate: true)
        }
    }
}
