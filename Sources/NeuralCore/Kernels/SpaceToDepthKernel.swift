/// Runs 4×4 stride-2 pad-1 convolutions as 2×2 convolutions of space-to-depth, 16 images a vector.
///
/// For ≥ 8 input channels (the encoder's layers after the first), on the loops of
/// `SpaceToDepth.swift`; S is the input's space-to-depth.
/// Forward: S gathered in lanes, `DirectConv.convolve2x2` with W2[o][(c, py, px)][a, b] =
/// W[o][c][2a + py][2b + px]. Input gradient: 2×2 convolutions of dY padded by 1, one per phase
/// of S, giving dS's real pixels (dX). Weight gradient: a direct kernel on S and dY with the
/// output channels in the lanes.
final class SpaceToDepthKernel: ConvolutionKernel {
    let geometry: ConvGeometry
    let outputChannels: Int
    private let packed: Tensor    // forward weights W2, `DirectConv.packSpaceToDepth` layout
    /// The input gradient's 2×2 kernels, one per phase of S (`packSpaceToDepthInputGradient`).
    private let phases: Tensor

    /// With fewer input channels S is thin and 16 images a vector would waste the lanes on a
    /// tall padded map (`SpaceToDepthPixelsKernel` does better there).
    static func supports(_ g: ConvGeometry) -> Bool { g.isHalvingFourByFour && g.channels >= 8 }

    init(geometry: ConvGeometry, outputChannels: Int) {
        self.geometry = geometry
        self.outputChannels = outputChannels
        let c = geometry.channels, m8 = (outputChannels + 7) / 8 * 8
        packed = Tensor(shape: [m8 * 4 * c * 4])
        phases = Tensor(shape: [4 * DirectConv.spaceToDepthInputGradientPhaseCount(outputs: outputChannels, inputs: c)])
    }

    func pack(_ weight: UnsafePointer<Float>, ldw: Int, backward: Bool) {
        let m = outputChannels, c = geometry.channels
        if backward {
            DirectConv.packSpaceToDepthInputGradient(weight, ldw: ldw, outputs: m, inputs: c, into: phases.pointer)
        } else {
            DirectConv.packSpaceToDepth(weight, ldw: ldw, outputs: m, inputs: c, into: packed.pointer)
        }
    }

    /// A worker's whole share: the weight gradient's sums are spread over dW once per group.
    func groupPixels(gemmColumns: Int) -> Int { 1024 * geometry.outputPixels }

    func scratchCount(images count: Int) -> Int {
        let g = geometry, m = outputChannels
        // Forward: S and the output in lanes; backward: the weight gradient's sums, dY's rows
        // of outputs, S then dX (smaller), and padded dY.
        let s2d = 4 * g.channels * (g.height / 2 + 1) * (g.width / 2 + 1)
        let paddedDy = (m + 3) / 4 * 4 * (g.outputHeight + 2) * (g.outputWidth + 2)
        return DirectConv.spaceToDepthWeightGradientCount(outputs: m, inputs: g.channels)
            + DirectConv.outputsInLanesCount(outputs: m, pixels: g.outputPixels)
            + 16 * (s2d + max(m * g.outputPixels, paddedDy))
    }

    var writesAnyPlanes: Bool { true }
    var readsAnyGradientPlanes: Bool { true }

    func forward(source: Planes, count: Int, weight: UnsafePointer<Float>, ldw: Int, into output: Planes,
                 accumulate: Bool, scratch: UnsafeMutablePointer<Float>) {
        let g = geometry, p = g.outputPixels, m = outputChannels, c = g.channels
        let (hs, ws) = (g.height / 2 + 1, g.width / 2 + 1)
        let lanesOut = scratch + 4 * c * hs * ws * 16
        for first in stride(from: 0, to: count, by: 16) {
            let n = min(16, count - first)
            DirectConv.spaceToDepthLanes(source.starting(at: first), count: n, channels: c, height: g.height,
                                        width: g.width, into: scratch)
            DirectConv.convolve2x2(scratch, channels: 4 * c, plane: hs * ws * 16, rowStride: ws * 16,
                                   height: g.outputHeight, width: g.outputWidth, padding: .spaceToDepth,
                                   packed: packed.pointer, outputs: m, output: lanesOut, outputStride: 16 * p,
                                   outputRowStride: 16 * g.outputWidth, outputPixelStride: 16)
            DirectConv.unpackLanes(lanesOut, count: n, channels: m, pixels: p,
                                  into: output.starting(at: first), accumulate: accumulate)
        }
    }

    func backward(source: Planes, count: Int, weight: UnsafePointer<Float>, ldw: Int, outputGradient dys: Planes,
                  weightGradient dw: UnsafeMutablePointer<Float>, inputGradient: Planes?,
                  scratch: UnsafeMutablePointer<Float>) {
        let g = geometry, p = g.outputPixels, m = outputChannels, c = g.channels
        // 16 images at a time: dY padded by 1 in lanes (M rounded up to 4 channels, the extra
        // ones zero), and S.
        // dW: the direct kernel with the output channels in the lanes, on S and dY's rows of
        // outputs (`outputsInLanes`), its sums spread over dW once per group.
        // dX: gathered in lanes [C][H][W][16], in the space S took
        // (`spaceToDepthInputGradient`).
        let (ho, wo) = (g.outputHeight, g.outputWidth), m4 = (m + 3) / 4 * 4
        let (hp, wp) = (ho + 2, wo + 2), ipx = g.height * g.width
        let sumsCount = DirectConv.spaceToDepthWeightGradientCount(outputs: m, inputs: c)
        let sums = scratch, rows = sums + sumsCount
        let lanesS = rows + DirectConv.outputsInLanesCount(outputs: m, pixels: p)
        let lanesDx = lanesS, lanesDy = lanesS + 4 * c * (ho + 1) * (wo + 1) * 16
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
            DirectConv.spaceToDepthInputGradient(paddedDy: lanesDy, outputs: m, inputs: c, height: g.height,
                                                 width: g.width, packed: phases.pointer, into: lanesDx)
            DirectConv.unpackLanes(lanesDx, count: n, channels: c, pixels: ipx,
                                  into: inputGradient.starting(at: first), accumulate: true)
        }
        DirectConv.addSpaceToDepthWeightGradient(sums, outputs: m, inputs: c, into: dw, ldw: ldw)
    }
}
