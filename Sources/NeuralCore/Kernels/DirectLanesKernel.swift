/// Runs 3×3 stride-1 pad-1 convolutions directly, one pixel of 16 images per vector.
///
/// For small or odd-sized maps, on the loops of `DirectConv`. Forward and input gradient: 16 images at a time padded into lanes, `DirectConv.forward` (W
/// packed, or flipped and transposed for the input gradient), unpacked. Weight gradient: im2col
/// + SGEMM over about 512 columns at a time (the direct weight-gradient kernel would sum its
/// lanes every 16 pixels).
final class DirectLanesKernel: ConvolutionKernel {
    let geometry: ConvGeometry
    let outputChannels: Int
    private let weights: DirectWeights
    /// Images per weight-gradient SGEMM (about 512 columns: measured best between 256 and 2048;
    /// the column matrix then stays near L2).
    private var dwImages: Int { max(1, 512 / max(1, geometry.outputPixels)) }

    static func supports(_ g: ConvGeometry) -> Bool { g.isSameThreeByThree }

    var weightGradientByGEMM: Bool { true }

    init(geometry: ConvGeometry, outputChannels: Int) {
        self.geometry = geometry
        self.outputChannels = outputChannels
        weights = DirectWeights(outputs: outputChannels, inputs: geometry.channels)
    }

    func pack(_ weight: UnsafePointer<Float>, ldw: Int, backward: Bool) {
        weights.pack(weight, ldw: ldw, backward: backward)
    }

    /// 32 images: two vectors' worth of lanes.
    func groupPixels(gemmColumns: Int) -> Int { 32 * geometry.outputPixels }

    func scratchCount(images count: Int) -> Int {
        let g = geometry, m = outputChannels, plane = DirectConv.paddedPlane(height: g.height, width: g.width)
        return max(16 * ((g.channels + m) * plane + max(g.channels, m) * g.outputPixels),
                   g.patchSize * min(count, dwImages) * g.outputPixels)
    }

    var writesAnyPlanes: Bool { true }
    var readsAnyGradientPlanes: Bool { false }

    func forward(source: Planes, count: Int, weight: UnsafePointer<Float>, ldw: Int, into output: Planes,
                 accumulate: Bool, scratch: UnsafeMutablePointer<Float>) {
        let g = geometry, p = g.outputPixels, m = outputChannels, c = g.channels
        let layout = DirectLayout.lanes(height: g.height, width: g.width)
        let lanesOut = scratch + c * layout.plane
        for first in stride(from: 0, to: count, by: 16) {
            let n = min(16, count - first)
            DirectConv.padLanes(source.starting(at: first), count: n, channels: c, height: g.height, width: g.width,
                               into: scratch)
            DirectConv.forward(padded: scratch, channels: c, layout: layout, packed: weights.packed.pointer, outputs: m,
                              output: lanesOut, outputStride: 16 * p, accumulate: false)
            DirectConv.unpackLanes(lanesOut, count: n, channels: m, pixels: p,
                                  into: output.starting(at: first), accumulate: accumulate)
        }
    }

    func backward(source: Planes, count: Int, weight: UnsafePointer<Float>, ldw: Int, outputGradient dys: Planes,
                  weightGradient dw: UnsafeMutablePointer<Float>, inputGradient: Planes?,
                  scratch: UnsafeMutablePointer<Float>) {
        let g = geometry, p = g.outputPixels, m = outputChannels, c = g.channels
        GEMMKernel.weightGradient(g, source: source, count: count, imagesPerProduct: dwImages, outputs: m,
                                  outputGradient: dys, into: dw, ldw: ldw, scratch: scratch)
        guard let inputGradient else { return }
        let dy = dys.base, lddy = dys.channelStride
        let layout = DirectLayout.lanes(height: g.height, width: g.width)
        let lanesDy = scratch, lanesDx = lanesDy + m * layout.plane
        for first in stride(from: 0, to: count, by: 16) {
            let n = min(16, count - first)
            DirectConv.padLanes(Planes(base: dy + first * p, imageStride: p, channelStride: lddy), count: n,
                               channels: m, height: g.height, width: g.width, into: lanesDy)
            DirectConv.forward(padded: lanesDy, channels: m, layout: layout, packed: weights.flipped.pointer, outputs: c,
                              output: lanesDx, outputStride: 16 * p, accumulate: false)
            DirectConv.unpackLanes(lanesDx, count: n, channels: c, pixels: p,
                                  into: inputGradient.starting(at: first), accumulate: true)
        }
    }
}
