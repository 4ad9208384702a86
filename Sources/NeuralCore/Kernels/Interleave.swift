// Runs the 2×2 phase interleave of a ×2 up-sampling and its adjoint.

/// One of the four phase maps of a ×2 up-sampling: channel c's H×W plane starts at
/// `base + c · channelStride`, its rows are `rowStride` apart (≥ W: a phase may be a window of
/// a larger grid, as in resize-conv).
public struct PhaseMap: @unchecked Sendable {
    public var base: UnsafeMutablePointer<Float>
    public var channelStride: Int
    public var rowStride: Int

    public init(base: UnsafeMutablePointer<Float>, channelStride: Int, rowStride: Int) {
        self.base = base
        self.channelStride = channelStride
        self.rowStride = rowStride
    }
}

/// The 2×2 phase interleave of one image: out[c, 2i+p, 2j+q] = phase_pq[c, i, j] for an
/// output of `channels` planes of 2H×2W, contiguous at `output`. Every output element is
/// written (no accumulation).
public func interleave(channels: Int, height: Int, width: Int,
                       p00: PhaseMap, p01: PhaseMap, p10: PhaseMap, p11: PhaseMap,
                       into output: UnsafeMutablePointer<Float>) {
    let w2 = 2 * width
    for c in 0..<channels {
        let plane = output + c * 4 * height * width
        var s00 = p00.base + c * p00.channelStride, s01 = p01.base + c * p01.channelStride
        var s10 = p10.base + c * p10.channelStride, s11 = p11.base + c * p11.channelStride
        for i in 0..<height {
            let even = plane + 2 * i * w2, odd = even + w2
            for j in 0..<width {
                even[2 * j] = s00[j]
                even[2 * j + 1] = s01[j]
                odd[2 * j] = s10[j]
                odd[2 * j + 1] = s11[j]
            }
            s00 += p00.rowStride; s01 += p01.rowStride; s10 += p10.rowStride; s11 += p11.rowStride
        }
    }
}

/// The adjoint of `interleave` (its backward pass): the strided gather
/// phase_pq[c, i, j] = grad[c, 2i+p, 2j+q]. Writes (does not add to) the phase maps given; a
/// nil p01 or p10 skips that phase (layers that read back their own diagonal phases).
public func deinterleave(channels: Int, height: Int, width: Int, from gradient: UnsafePointer<Float>,
                         p00: PhaseMap, p01: PhaseMap?, p10: PhaseMap?, p11: PhaseMap) {
    let w2 = 2 * width
    for c in 0..<channels {
        let plane = gradient + c * 4 * height * width
        var d00 = p00.base + c * p00.channelStride, d11 = p11.base + c * p11.channelStride
        var d01 = p01.map { $0.base + c * $0.channelStride }, d10 = p10.map { $0.base + c * $0.channelStride }
        for i in 0..<height {
            let even = plane + 2 * i * w2, odd = even + w2
            for j in 0..<width {
                d00[j] = even[2 * j]
                d11[j] = odd[2 * j + 1]
            }
            if let d01 { for j in 0..<width { d01[j] = even[2 * j + 1] } }
            if let d10 { for j in 0..<width { d10[j] = odd[2 * j] } }
            d00 += p00.rowStride; d11 += p11.rowStride
            if let p01 { d01? += p01.rowStride }
            if let p10 { d10? += p10.rowStride }
        }
    }
}
