// Runs PixelDCL's masked convolution (its four edge taps) forward, directly on zero-bordered planes,
// 3 outputs × 16 pixels a register block; measured 11 % faster than the tap GEMMs + shifted adds on
// pixeldcl.3 forward (Zen 2, one thread: 55 against 62 ms).

/// PixelDCL's masked 3×3 convolution computed only at the two phases it fills, from a and b
/// (each C planes in the bordered `Layout`), as PixelDCL.swift writes it:
///   u = out(0,1) = Wleft·a + Wright·a[j+1] + Wup·b[i−1] + Wdown·b
///   v = out(1,0) = Wup·a + Wdown·a[i+1] + Wleft·b[j−1] + Wright·b
/// A neighbour is an offset in the bordered plane (±1 a column, ±rowStride a row), so one
/// outside the map reads a border zero and no pixel needs a branch.
enum EdgeTaps {
    /// Whether the kernel beats PixelDCL's tap GEMMs on W-wide maps: its rows run over the two
    /// border columns too, (W+2)/W of the work. Measured on Zen 2, one thread, batch 64: ahead at
    /// W = 32 (pixeldcl.3 forward 55 against 62 ms), even at 16, behind at 8 and 4 (~1.2× and
    /// ~1.35× the time).
    static func pays(width: Int) -> Bool { width >= 32 }

    /// C planes of a group of H×W maps with a zero border of one pixel: channel c of image n
    /// at c·channelStride + n·plane, its pixel (i, j) (i+1)·rowStride + j+1 further. `plane`
    /// leaves 16 floats of slack after the border, so the last vector of an interior span (which
    /// runs over the border columns) stays in its plane.
    struct Layout {
        let height: Int
        let width: Int
        let images: Int
        var rowStride: Int { width + 2 }
        var plane: Int { (height + 2) * (width + 2) + 16 }
        var channelStride: Int { images * plane }
        /// One image's interior rows, border columns included: the span the kernel runs over.
        var span: Range<Int> { rowStride..<(height + 1) * rowStride }

        /// The interior of one image's planes at `base`, as a phase map (for `interleave`/`deinterleave`).
        func map(_ base: UnsafeMutablePointer<Float>) -> PhaseMap {
            PhaseMap(base: base + rowStride + 1, channelStride: channelStride, rowStride: rowStride)
        }

        /// Copies `channels` grouped planes (`source`: channel c's images at c·sourceStride, H·W
        /// apart) into the bordered layout at `padded`, everything else zeroed. Each float is
        /// written once: the interior copied, only the border and slack zeroed.
        func pad(_ source: UnsafePointer<Float>, sourceStride: Int, channels: Int, into padded: UnsafeMutablePointer<Float>) {
            let (h, w, wp) = (height, width, rowStride)
            for c in 0..<channels {
                for n in 0..<images {
                    let dst = padded + c * channelStride + n * plane, src = source + c * sourceStride + n * h * w
                    fillZero(dst, wp + 1)                                  // the top row, row 1's left border
                    for i in 0..<h {
                        let row = dst + (i + 1) * wp
                        copyFloats(row + 1, src + i * w, w)
                        fillZero(row + w + 1, 2)                           // its right border, the next row's left
                    }
                    fillZero(dst + (h + 1) * wp + 1, plane - (h + 1) * wp - 1)  // the bottom row and the slack
                }
            }
        }
    }

    /// W2's tap (up 0, down 1, left 2, right 3 of W2 [4, C, C]) behind each of the kernel's eight
    /// terms: u's left, right·a[j+1], up·b[i−1], down; v's up, down·a[i+1], left·b[j−1], right.
    static let taps = [2, 3, 0, 1, 0, 1, 2, 3]

    /// The offsets of u's a[j+1] and b[i−1], v's a[i+1] and b[j−1].
    static func shifts(_ layout: Layout) -> (Int, Int, Int, Int) {
        (1, -layout.rowStride, layout.rowStride, -1)
    }

    /// Outputs per register block: 3 × (u, v) × 16 pixels (two 256-bit halves) is 12 accumulators,
    /// which with one loaded source and one broadcast weight fits AVX2's 16 vector registers, and
    /// keeps 12 independent FMA chains in flight with each broadcast used twice. (Measured on Zen 2:
    /// 8 outputs × 16 pixels spilled; 4 × 8 pixels ran latency- and load-bound at ~50 GFLOP/s.)
    static let blockOutputs = 3

    /// Packed tap weights for `outputs` channels from `inputs`: for each block of 3 outputs and
    /// each input k, the 8 terms T0…T7 × 3 outputs (0 past the last output).
    static func packedCount(inputs: Int, outputs: Int) -> Int { blocks(outputs) * inputs * 8 * blockOutputs }

    @inline(__always) static func blocks(_ outputs: Int) -> Int { (outputs + blockOutputs - 1) / blockOutputs }

    /// Packs W2 [4, C, C] (w2[t][o][k], out × in) for the kernel.
    static func pack(_ w2: UnsafePointer<Float>, channels c: Int, into packed: UnsafeMutablePointer<Float>) {
        let n = blockOutputs
        for blk in 0..<blocks(c) {
            for k in 0..<c {
                let dst = packed + (blk * c + k) * 8 * n
                for term in 0..<8 {
                    let t = w2 + taps[term] * c * c
                    for lane in 0..<n {
                        let o = blk * n + lane
                        dst[term * n + lane] = o >= c ? 0 : t[o * c + k]
                    }
                }
            }
        }
    }

    /// One image's u and v (bordered layout, garbage on the border) from its x = a and y = b
    /// (bordered, zero border) of `channels` planes each, with W2 packed by `pack`.
    static func run(x: UnsafePointer<Float>, y: UnsafePointer<Float>, channels c: Int, layout: Layout,
                    packed: UnsafePointer<Float>, u: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>) {
        let (s1, s2, s3, s4) = shifts(layout)
        let stride = layout.channelStride, span = layout.span
        let n = blockOutputs
        // Pixels outermost: the 16 pixels' reads of every input plane (~16 KB for 32 channels)
        // stay in L1 across the output blocks. (Blocks outermost streamed 6 reads × C planes
        // from L2 per block, too many streams to prefetch: ~50 GFLOP/s on Zen 2.)
        var q = span.lowerBound
        while q < span.upperBound {
            for blk in 0..<blocks(c) {
                block(x: x + q, y: y + q, channels: c, stride: stride, shifts: (s1, s2, s3, s4),
                      weights: packed + blk * c * 8 * n, u: u + blk * n * stride + q, v: v + blk * n * stride + q,
                      valid: min(n, c - blk * n))
            }
            q += 16
        }
    }

    /// 3 outputs × 16 pixels of u and of v: 12 accumulators (8-float halves); per input channel
    /// 12 loads, 24 broadcasts and 48 FMAs, each loaded source used up before the next.
    @inline(__always)
    static func block(x: UnsafePointer<Float>, y: UnsafePointer<Float>, channels: Int, stride: Int,
                      shifts: (Int, Int, Int, Int), weights: UnsafePointer<Float>,
                      u: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>, valid: Int) {
        typealias V = SIMD8<Float>
        /// One output's 16 pixels as two halves.
        struct Pair { var lo = V(), hi = V() }
        var u0 = Pair(), u1 = Pair(), u2 = Pair(), v0 = Pair(), v1 = Pair(), v2 = Pair()
        var px = UnsafeRawPointer(x), py = UnsafeRawPointer(y), wt = weights
        let (b1, b2, b3, b4) = (4 * shifts.0, 4 * shifts.1, 4 * shifts.2, 4 * shifts.3), step = 4 * stride
        for _ in 0..<channels {
            @inline(__always) func load(_ p: UnsafeRawPointer, _ offset: Int) -> (V, V) {
                (p.loadUnaligned(fromByteOffset: offset, as: V.self), p.loadUnaligned(fromByteOffset: offset + 32, as: V.self))
            }
            /// a{0,1,2} += term's weight for outputs 0…2 (at wt[3·term]) × s.
            @inline(__always) func fma3(_ s: (V, V), _ term: Int, _ a0: inout Pair, _ a1: inout Pair, _ a2: inout Pair) {
                let w = wt + 3 * term
                var c = w[0]; a0.lo.addProduct(s.0, c); a0.hi.addProduct(s.1, c)
                c = w[1]; a1.lo.addProduct(s.0, c); a1.hi.addProduct(s.1, c)
                c = w[2]; a2.lo.addProduct(s.0, c); a2.hi.addProduct(s.1, c)
            }
            let x0 = load(px, 0)
            fma3(x0, 0, &u0, &u1, &u2); fma3(x0, 4, &v0, &v1, &v2)
            fma3(load(px, b1), 1, &u0, &u1, &u2)
            fma3(load(py, b2), 2, &u0, &u1, &u2)
            let y0 = load(py, 0)
            fma3(y0, 3, &u0, &u1, &u2); fma3(y0, 7, &v0, &v1, &v2)
            fma3(load(px, b3), 5, &v0, &v1, &v2)
            fma3(load(py, b4), 6, &v0, &v1, &v2)
            px += step
            py += step
            wt += 24
        }
        @inline(__always) func put(_ lane: Int, _ ul: Pair, _ vl: Pair) {
            guard lane < valid else { return }
            let pu = UnsafeMutableRawPointer(u + lane * stride), pv = UnsafeMutableRawPointer(v + lane * stride)
            pu.storeBytes(of: ul.lo, as: V.self); pu.storeBytes(of: ul.hi, toByteOffset: 32, as: V.self)
            pv.storeBytes(of: vl.lo, as: V.self); pv.storeBytes(of: vl.hi, toByteOffset: 32, as: V.self)
        }
        put(0, u0, v0); put(1, u1, v1); put(2, u2, v2)
    }
}
