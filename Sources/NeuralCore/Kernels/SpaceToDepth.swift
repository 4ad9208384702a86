// Runs the space-to-depth loops of 4×4 stride-2 convolutions with 16 images per vector.

/// The space-to-depth kernels of 4×4 stride-2 pad-1 convolutions (the encoder's after the first)
/// in the lanes layout, 16 images per vector: S gathered from the input, the forward and input
/// gradient as direct 2×2 convolutions (`convolve2x2`), the weight gradient with the output
/// channels in the lanes.
extension DirectConv {
    /// A 4×4 stride-2 pad-1 convolution of a C×H×W map (H, W even) is a valid 2×2 stride-1
    /// convolution of its space-to-depth: with the input padded by 1, channel (c, py, px) of
    /// S holds padded[c][2i + py][2j + px] on an (H/2 + 1) × (W/2 + 1) grid, and
    /// W2[o][(c, py, px)][a][b] = W[o][c][2a + py][2b + px]. This gathers up to 16 images into
    /// S in the lanes layout [4C][H/2+1][W/2+1][16] (zero where padded or missing).
    public static func spaceToDepthLanes(_ source: Planes, count: Int, channels: Int, height h: Int, width w: Int,
                                         into lanes: UnsafeMutablePointer<Float>) {
        let hs = h / 2 + 1, ws = w / 2 + 1
        fillZero(lanes, 4 * channels * hs * ws * 16)
        /// Where pixel p of channel c lands (its 16-image vector).
        @inline(__always) func target(_ c: Int, _ p: Int) -> UnsafeMutablePointer<Float> {
            let y = p / w + 1, x = p % w + 1
            return lanes + (((4 * c + 2 * (y & 1) + (x & 1)) * hs + (y >> 1)) * ws + (x >> 1)) * 16
        }
        for c in 0..<channels {
            gatherLanes(source, count: count, channel: c, pixels: h * w) { p in target(c, p) }
        }
    }

    /// Packs W [M, C, 4, 4] (rows `ldw` floats apart) for `convolve2x2` of S: as the 2×2
    /// kernel W2 of S's 4C channels, [⌈M/8⌉][4C][4][8] with W2[o][(c, py, px)][(a, b)] =
    /// W[o][c][2a + py][2b + px] (zeros past M).
    public static func packSpaceToDepth(_ weight: UnsafePointer<Float>, ldw: Int, outputs m: Int, inputs c: Int,
                                        into packed: UnsafeMutablePointer<Float>) {
        // Tap ky·4 + kx of W lands in slot (2py + px)·4 + 2a + b of a channel's 16.
        let slot: SIMD16<Int32> = [0, 4, 1, 5, 8, 12, 9, 13, 2, 6, 3, 7, 10, 14, 11, 15]
        let out = UnsafeSendable(packed)
        parallelFor((m + 7) / 8) { b in
            let block = out.value + b * c * 16 * 8
            // Per channel, one transpose: the 8 outputs' rows of 16 taps become 16 taps' vectors
            // of 8 outputs (rows past M zero).
            for ch in 0..<c {
                transpose16(load: { j in
                    j < 8 && 8 * b + j < m
                        ? UnsafeRawPointer(weight + (8 * b + j) * ldw + ch * 16).loadUnaligned(as: SIMD16<Float>.self)
                        : SIMD16<Float>()
                }, store: { t, v in
                    UnsafeMutableRawPointer(block + ch * 128 + Int(slot[t]) * 8).storeBytes(of: v.lowHalf,
                                                                                           as: SIMD8<Float>.self)
                })
            }
        }
    }

    /// Which taps of a valid 2×2 convolution read only zero padding on each border of the output,
    /// as masks over a group of four input channels (bit 4·i + 2a + b: channel i of the four,
    /// tap (a, b)). Used to skip them (`convolve2x2`).
    public struct PaddingTaps: Sendable {
        public var top: Int, bottom: Int, left: Int, right: Int

        /// The space-to-depth S of a map padded by 1, channels (c, py, px) in groups of four:
        /// S row 0 of the py = 0 channels is padding (tap row a = 0 of output row 0), its last
        /// row of the py = 1 channels (a = 1 of the last output row); columns likewise.
        public static let spaceToDepth = PaddingTaps(top: 0x0033, bottom: 0xCC00, left: 0x0505, right: 0xA0A0)

        /// A window of a map padded by 1 (`padLanes`) whose given borders are the map's padding
        /// rows and columns, all channels.
        public static func padded(top: Bool, bottom: Bool, left: Bool, right: Bool) -> PaddingTaps {
            PaddingTaps(top: top ? 0x3333 : 0, bottom: bottom ? 0xCCCC : 0, left: left ? 0x5555 : 0,
                        right: right ? 0xAAAA : 0)
        }
    }

    /// Y = the valid 2×2 convolution of a (ho + 1) × (wo + 1) window of X (lanes: input channels
    /// `plane` floats apart, C a multiple of 4; rows `rowStride` floats apart, pixels 16) with
    /// weights packed as [⌈M/8⌉][C][4][8] (`packSpaceToDepth`, `packSpaceToDepthInputGradient`):
    /// output pixel (y, x) of channel o, a 16-image vector, at
    /// output + o·outputStride + y·outputRowStride + x·outputPixelStride.
    ///
    /// The taps that read only padding (`padding`) are skipped: for the forward space-to-depth
    /// convolution 23 % of the work on a 4×4 output, 12 % on 8×8. Pixels are therefore grouped
    /// by border (`spaceToDepthBlocks`) into register blocks of 8 outputs × 3 or 2 pixels that
    /// share their skipped taps.
    public static func convolve2x2(_ x: UnsafePointer<Float>, channels c4: Int, plane: Int, rowStride: Int,
                                   height ho: Int, width wo: Int, padding: PaddingTaps,
                                   packed: UnsafePointer<Float>, outputs m: Int,
                                   output: UnsafeMutablePointer<Float>, outputStride: Int, outputRowStride: Int,
                                   outputPixelStride: Int) {
        precondition(c4 % 4 == 0, "convolve2x2: \(c4) channels")
        /// Byte offsets of pixel p's input window and float offset of its output.
        @inline(__always) func input(_ p: Int) -> Int { ((p / wo) &* rowStride &+ (p % wo) &* 16) &* 4 }
        @inline(__always) func out(_ p: Int) -> Int { (p / wo) &* outputRowStride &+ (p % wo) &* outputPixelStride }
        let planeBytes = 4 * plane, rowBytes = 4 * rowStride
        for b in 0..<((m + 7) / 8) {
            let weights = packed + b * c4 * 32, valid = min(8, m - 8 * b), o = output + 8 * b * outputStride
            spaceToDepthBlocks(height: ho, width: wo, padding: padding) { p0, p1, p2, taps in
                if let p2 {
                    s2dBlock8x3(x, input(p0), input(p1), input(p2), channels: c4, plane: planeBytes, row: rowBytes,
                                taps: taps, weights: weights, output: o, outputs: (out(p0), out(p1), out(p2)),
                                outputStride: outputStride, valid: valid)
                } else {
                    s2dBlock8x2(x, input(p0), input(p1), channels: c4, plane: planeBytes, row: rowBytes, taps: taps,
                                weights: weights, output: o, outputs: (out(p0), out(p1)), storeB: p1 != p0,
                                outputStride: outputStride, valid: valid)
                }
            }
        }
    }

    /// Visits the pixels of an ho × wo output in register blocks (p0, p1, p2 or nil; a lone pixel
    /// as (p, p, nil)) with the taps they all need: bit 4·phase + 2a + b of `taps` (phase
    /// 2py + px of the S channel, tap (a, b)). The pixels fall into up to 3 × 3 classes that
    /// share their skipped taps: the first row if its top taps are skipped, the last row if its
    /// bottom ones are, the rows between (likewise columns). Each class goes by threes in
    /// raster order (a last four as two pairs), a last two as a pair; lone pixels pair up across
    /// classes (corners first).
    static func spaceToDepthBlocks(height ho: Int, width wo: Int, padding: PaddingTaps,
                                   _ visit: (Int, Int, Int?, Int) -> Void) {
        /// The bands of n rows (or columns): first, between, last, with the taps dead on each.
        func bands(_ n: Int, _ first: Int, _ last: Int) -> [(Range<Int>, Int)] {
            let low = first != 0 || (n == 1 && last != 0) ? 1 : 0, high = last != 0 && n > 1 ? 1 : 0
            return [(0..<low, n == 1 ? first | last : first), (low..<(n - high), 0), ((n - high)..<n, last)]
        }
        var lone: (Int, Int)?    // a pixel waiting for a partner, with its taps
        /// The pixels rows × cols, all needing `live`.
        func run(_ rows: Range<Int>, _ cols: Range<Int>, _ live: Int) {
            let nc = cols.count, n = rows.count * nc
            @inline(__always) func pixel(_ k: Int) -> Int { (rows.lowerBound + k / nc) * wo + cols.lowerBound + k % nc }
            var i = 0
            // Four left go as two pairs, unless a lone pixel waits for the fourth.
            while n - i >= 3 && (n - i != 4 || lone != nil) {
                visit(pixel(i), pixel(i + 1), pixel(i + 2), live)
                i += 3
            }
            while n - i >= 2 {
                visit(pixel(i), pixel(i + 1), nil, live)
                i += 2
            }
            guard n - i == 1 else { return }
            if let (q, liveQ) = lone {
                visit(q, pixel(i), nil, liveQ | live)
                lone = nil
            } else {
                lone = (pixel(i), live)
            }
        }
        let rows = bands(ho, padding.top, padding.bottom), cols = bands(wo, padding.left, padding.right)
        // Corners, edges, interior.
        for (r, c) in [(0, 0), (0, 2), (2, 0), (2, 2), (0, 1), (2, 1), (1, 0), (1, 2), (1, 1)] {
            guard !rows[r].0.isEmpty && !cols[c].0.isEmpty else { continue }
            run(rows[r].0, cols[c].0, 0xFFFF & ~(rows[r].1 | cols[c].1))
        }
        if let (p, live) = lone { visit(p, p, nil, live) }
    }

    /// 8 outputs × 3 pixels (24 accumulators) over the input channels, 4 at a time (16 taps,
    /// those not in `taps` skipped); pixel k's window at byte offset i_k, channels `plane` and
    /// rows `row` bytes apart. Output pixel k at output + outputs.k.
    @inline(__always)
    static func s2dBlock8x3(_ s: UnsafePointer<Float>, _ i0: Int, _ i1: Int, _ i2: Int, channels: Int, plane: Int,
                            row: Int, taps: Int, weights: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
                            outputs: (Int, Int, Int), outputStride: Int, valid: Int) {
        var a0 = SIMD16<Float>(), a1 = SIMD16<Float>(), a2 = SIMD16<Float>(), a3 = SIMD16<Float>()
        var a4 = SIMD16<Float>(), a5 = SIMD16<Float>(), a6 = SIMD16<Float>(), a7 = SIMD16<Float>()
        var b0 = SIMD16<Float>(), b1 = SIMD16<Float>(), b2 = SIMD16<Float>(), b3 = SIMD16<Float>()
        var b4 = SIMD16<Float>(), b5 = SIMD16<Float>(), b6 = SIMD16<Float>(), b7 = SIMD16<Float>()
        var c0 = SIMD16<Float>(), c1 = SIMD16<Float>(), c2 = SIMD16<Float>(), c3 = SIMD16<Float>()
        var c4 = SIMD16<Float>(), c5 = SIMD16<Float>(), c6 = SIMD16<Float>(), c7 = SIMD16<Float>()
        var pa = UnsafeRawPointer(s) + i0, pb = UnsafeRawPointer(s) + i1, pc = UnsafeRawPointer(s) + i2
        var wc = weights
        /// Tap k = 4·phase + 2a + b: S channel `phase` of the four, offset (a, b).
        @inline(__always) func tap(_ k: Int) {
            guard taps & (1 << k) != 0 else { return }
            let offset = (k >> 2) &* plane &+ ((k >> 1) & 1) &* row &+ (k & 1) &* 64, wt = wc + 8 &* k
            let va = pa.loadUnaligned(fromByteOffset: offset, as: SIMD16<Float>.self)
            let vb = pb.loadUnaligned(fromByteOffset: offset, as: SIMD16<Float>.self)
            let vc = pc.loadUnaligned(fromByteOffset: offset, as: SIMD16<Float>.self)
            var w = wt[0]; a0.addProduct(va, w); b0.addProduct(vb, w); c0.addProduct(vc, w)
            w = wt[1]; a1.addProduct(va, w); b1.addProduct(vb, w); c1.addProduct(vc, w)
            w = wt[2]; a2.addProduct(va, w); b2.addProduct(vb, w); c2.addProduct(vc, w)
            w = wt[3]; a3.addProduct(va, w); b3.addProduct(vb, w); c3.addProduct(vc, w)
            w = wt[4]; a4.addProduct(va, w); b4.addProduct(vb, w); c4.addProduct(vc, w)
            w = wt[5]; a5.addProduct(va, w); b5.addProduct(vb, w); c5.addProduct(vc, w)
            w = wt[6]; a6.addProduct(va, w); b6.addProduct(vb, w); c6.addProduct(vc, w)
            w = wt[7]; a7.addProduct(va, w); b7.addProduct(vb, w); c7.addProduct(vc, w)
        }
        for _ in 0..<(channels / 4) {
            tap(0); tap(1); tap(2); tap(3); tap(4); tap(5); tap(6); tap(7)
            tap(8); tap(9); tap(10); tap(11); tap(12); tap(13); tap(14); tap(15)
            pa += 4 &* plane; pb += 4 &* plane; pc += 4 &* plane
            wc += 128
        }
        @inline(__always) func put(_ j: Int, _ va: SIMD16<Float>, _ vb: SIMD16<Float>, _ vc: SIMD16<Float>) {
            guard j < valid else { return }
            let d = UnsafeMutableRawPointer(output + j &* outputStride)
            d.storeBytes(of: va, toByteOffset: 4 &* outputs.0, as: SIMD16<Float>.self)
            d.storeBytes(of: vb, toByteOffset: 4 &* outputs.1, as: SIMD16<Float>.self)
            d.storeBytes(of: vc, toByteOffset: 4 &* outputs.2, as: SIMD16<Float>.self)
        }
        put(0, a0, b0, c0); put(1, a1, b1, c1); put(2, a2, b2, c2); put(3, a3, b3, c3)
        put(4, a4, b4, c4); put(5, a5, b5, c5); put(6, a6, b6, c6); put(7, a7, b7, c7)
    }

    /// 8 outputs × 2 pixels (16 accumulators), as `s2dBlock8x3`; pixel B stored only if `storeB`.
    @inline(__always)
    static func s2dBlock8x2(_ s: UnsafePointer<Float>, _ i0: Int, _ i1: Int, channels: Int, plane: Int,
                            row: Int, taps: Int, weights: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
                            outputs: (Int, Int), storeB: Bool, outputStride: Int, valid: Int) {
        var a0 = SIMD16<Float>(), a1 = SIMD16<Float>(), a2 = SIMD16<Float>(), a3 = SIMD16<Float>()
        var a4 = SIMD16<Float>(), a5 = SIMD16<Float>(), a6 = SIMD16<Float>(), a7 = SIMD16<Float>()
        var b0 = SIMD16<Float>(), b1 = SIMD16<Float>(), b2 = SIMD16<Float>(), b3 = SIMD16<Float>()
        var b4 = SIMD16<Float>(), b5 = SIMD16<Float>(), b6 = SIMD16<Float>(), b7 = SIMD16<Float>()
        var pa = UnsafeRawPointer(s) + i0, pb = UnsafeRawPointer(s) + i1
        var wc = weights
        @inline(__always) func tap(_ k: Int) {
            guard taps & (1 << k) != 0 else { return }
            let offset = (k >> 2) &* plane &+ ((k >> 1) & 1) &* row &+ (k & 1) &* 64, wt = wc + 8 &* k
            let va = pa.loadUnaligned(fromByteOffset: offset, as: SIMD16<Float>.self)
            let vb = pb.loadUnaligned(fromByteOffset: offset, as: SIMD16<Float>.self)
            var w = wt[0]; a0.addProduct(va, w); b0.addProduct(vb, w)
            w = wt[1]; a1.addProduct(va, w); b1.addProduct(vb, w)
            w = wt[2]; a2.addProduct(va, w); b2.addProduct(vb, w)
            w = wt[3]; a3.addProduct(va, w); b3.addProduct(vb, w)
            w = wt[4]; a4.addProduct(va, w); b4.addProduct(vb, w)
            w = wt[5]; a5.addProduct(va, w); b5.addProduct(vb, w)
            w = wt[6]; a6.addProduct(va, w); b6.addProduct(vb, w)
            w = wt[7]; a7.addProduct(va, w); b7.addProduct(vb, w)
        }
        for _ in 0..<(channels / 4) {
            tap(0); tap(1); tap(2); tap(3); tap(4); tap(5); tap(6); tap(7)
            tap(8); tap(9); tap(10); tap(11); tap(12); tap(13); tap(14); tap(15)
            pa += 4 &* plane; pb += 4 &* plane
            wc += 128
        }
        @inline(__always) func put(_ j: Int, _ va: SIMD16<Float>, _ vb: SIMD16<Float>) {
            guard j < valid else { return }
            let d = UnsafeMutableRawPointer(output + j &* outputStride)
            d.storeBytes(of: va, toByteOffset: 4 &* outputs.0, as: SIMD16<Float>.self)
            if storeB { d.storeBytes(of: vb, toByteOffset: 4 &* outputs.1, as: SIMD16<Float>.self) }
        }
        put(0, a0, b0); put(1, a1, b1); put(2, a2, b2); put(3, a3, b3)
        put(4, a4, b4); put(5, a5, b5); put(6, a6, b6); put(7, a7, b7)
    }

    /// Floats `packSpaceToDepthInputGradient` packs per phase: [⌈C/8⌉][M4][4][8].
    public static func spaceToDepthInputGradientPhaseCount(outputs m: Int, inputs c: Int) -> Int {
        (c + 7) / 8 * 8 * ((m + 3) / 4 * 4) * 4
    }

    /// Packs the input-gradient kernel of a space-to-depth convolution for `convolve2x2` of dY
    /// padded by 1 (`padLanes`), one phase (py, px) of S at a time: dS = dY ⋆ W2 flipped and
    /// transposed, W2'[(c, py, px)][o][(a, b)] = W2[o][(c, py, px)][(1 − a, 1 − b)] =
    /// W[o][c][2 − 2a + py][2 − 2b + px], as [4 phases 2py + px][⌈C/8⌉][M4][4][8] (M4 = M
    /// rounded up to 4; zeros for o ≥ M).
    public static func packSpaceToDepthInputGradient(_ weight: UnsafePointer<Float>, ldw: Int, outputs m: Int,
                                                     inputs c: Int, into packed: UnsafeMutablePointer<Float>) {
        let m4 = (m + 3) / 4 * 4, phaseCount = spaceToDepthInputGradientPhaseCount(outputs: m, inputs: c)
        let out = UnsafeSendable(packed)
        parallelFor((c + 7) / 8) { blk in
            let block = out.value + blk * m4 * 32, channels = min(8, c - 8 * blk)
            // Rows past M are zero (channels past C get zeros from the transposes).
            if m < m4 { for ph in 0..<4 { fillZero(block + ph * phaseCount + m * 32, (m4 - m) * 32) } }
            for o in 0..<m {
                // One transpose: the 8 channels' rows of 16 taps become 16 taps' vectors of 8
                // channels (rows past C zero); tap (ky, kx) is phase (ky & 1, kx & 1)'s tap
                // (1 − ky/2, 1 − kx/2).
                let src = weight + o * ldw + 8 * blk * 16
                transpose16(load: { j in
                    j < channels ? UnsafeRawPointer(src + j * 16).loadUnaligned(as: SIMD16<Float>.self) : SIMD16<Float>()
                }, store: { q, v in
                    let ky = q >> 2, kx = q & 3
                    let phase = 2 * (ky & 1) + (kx & 1), t = 2 * (1 - (ky >> 1)) + 1 - (kx >> 1)
                    UnsafeMutableRawPointer(block + phase * phaseCount + o * 32 + t * 8).storeBytes(of: v.lowHalf,
                                                                                                   as: SIMD8<Float>.self)
                })
            }
        }
    }

    /// dX of up to 16 images in lanes [C][H][W][16] from dY padded by 1 in lanes
    /// ([M4][Ho+2][Wo+2][16], `padLanes`, channels past M zero), with the phase kernels of
    /// `packSpaceToDepthInputGradient`: dS = the valid 2×2 convolution of padded dY with W2
    /// flipped and transposed, only at S's real pixels. Phase (py, px) of S, its C channels
    /// (c, py, px), is real on an Ho × Wo window of the grid at (1 − py, 1 − px), whose pixel
    /// (i, j) is dX's (2i + 1 − py, 2j + 1 − px); it reads dY's padding only on its top row when
    /// py = 1, its bottom row when py = 0, and likewise columns.
    static func spaceToDepthInputGradient(paddedDy: UnsafePointer<Float>, outputs m: Int, inputs c: Int,
                                          height h: Int, width w: Int, packed: UnsafePointer<Float>,
                                          into dx: UnsafeMutablePointer<Float>) {
        let (ho, wo) = (h / 2, w / 2), m4 = (m + 3) / 4 * 4, (hp, wp) = (ho + 2, wo + 2)
        let phaseWeights = spaceToDepthInputGradientPhaseCount(outputs: m, inputs: c)
        for py in 0..<2 {
            for px in 0..<2 {
                convolve2x2(paddedDy + ((1 - py) * wp + 1 - px) * 16, channels: m4,
                            plane: hp * wp * 16, rowStride: wp * 16, height: ho, width: wo,
                            padding: .padded(top: py == 1, bottom: py == 0, left: px == 1, right: px == 0),
                            packed: packed + (2 * py + px) * phaseWeights, outputs: c,
                            output: dx + ((1 - py) * w + 1 - px) * 16,
                            outputStride: h * w * 16, outputRowStride: 2 * w * 16, outputPixelStride: 32)
            }
        }
    }

    // The weight gradient of a space-to-depth convolution. With images in the lanes each weight
    // would end a block as 16 partial sums to add up (measured: 18 % of such a kernel's time on
    // an 8×8 output; on 4×4 it lost to im2col + SGEMM); with the output channels in the lanes
    // there are none: dY's vectors are 16 outputs of one pixel of one image, S's taps are
    // broadcast.

    /// Output channels rounded up to whole pairs of vectors (`spaceToDepthLanesWeightGradient`).
    static func outputs32(_ m: Int) -> Int { (m + 31) / 32 * 32 }

    /// Floats of the weight gradient's sums: [4C][4 taps][M32].
    static func spaceToDepthWeightGradientCount(outputs m: Int, inputs c: Int) -> Int { 16 * c * outputs32(m) }

    /// Floats of `outputsInLanes`' rows: [P·16][M32].
    static func outputsInLanesCount(outputs m: Int, pixels p: Int) -> Int { 16 * p * outputs32(m) }

    /// dY of up to 16 images with the output channels in the vector lanes, for
    /// `spaceToDepthLanesWeightGradient`: row p·16 + n (output pixel p, image n) of
    /// [P·16][M32] holds dY[n][0..<M32][p] (zero past M), from dY padded in lanes
    /// ([M4][ho+2][wo+2][16], `padLanes`) by 16×16 transposes.
    static func outputsInLanes(_ paddedDy: UnsafePointer<Float>, outputs m: Int, height ho: Int, width wo: Int,
                               into rows: UnsafeMutablePointer<Float>) {
        let m32 = outputs32(m), wp = wo + 2, plane = (ho + 2) * wp * 16
        for o in stride(from: 0, to: m32, by: 16) {
            for y in 0..<ho {
                for x in 0..<wo {
                    let p = y * wo + x, pixel = ((y + 1) * wp + x + 1) * 16
                    transpose16(load: { j in
                        o + j < m ? UnsafeRawPointer(paddedDy + (o + j) * plane + pixel).load(as: SIMD16<Float>.self)
                                  : SIMD16<Float>()
                    }, store: { n, v in
                        UnsafeMutableRawPointer(rows + (p * 16 + n) * m32 + o).storeBytes(of: v, as: SIMD16<Float>.self)
                    })
                }
            }
        }
    }

    /// The weight gradient of a space-to-depth convolution with the output channels in the
    /// vector lanes: sums[(s·4 + 2a + b)·M32 + o] += Σ_{y, x, n} dY[n][o][y][x] · S[s][y + a][x + b][n]
    /// for S in lanes ([4C][ho+1][wo+1][16], `spaceToDepthLanes`) and dY's rows from
    /// `outputsInLanes` (`addSpaceToDepthWeightGradient` spreads the sums over dW). Blocks of
    /// 2 S channels × 4 taps × 32 outputs: 16 accumulators, 2 vector loads and 8 broadcasts per
    /// 16 FMAs, over a band of output rows.
    static func spaceToDepthLanesWeightGradient(_ rows: UnsafePointer<Float>, outputs m: Int,
                                                s: UnsafePointer<Float>, channels c: Int, height ho: Int,
                                                width wo: Int, into sums: UnsafeMutablePointer<Float>) {
        let m32 = outputs32(m), ws = wo + 1, plane = (ho + 1) * ws * 16, down = ws * 16
        func block(_ o: Int, _ s0: Int, _ outputRows: Range<Int>) {
            var a0 = SIMD16<Float>(), a1 = SIMD16<Float>(), a2 = SIMD16<Float>(), a3 = SIMD16<Float>()
            var b0 = SIMD16<Float>(), b1 = SIMD16<Float>(), b2 = SIMD16<Float>(), b3 = SIMD16<Float>()
            var c0 = SIMD16<Float>(), c1 = SIMD16<Float>(), c2 = SIMD16<Float>(), c3 = SIMD16<Float>()
            var d0 = SIMD16<Float>(), d1 = SIMD16<Float>(), d2 = SIMD16<Float>(), d3 = SIMD16<Float>()
            let first = s + s0 * plane, second = first + plane
            for y in outputRows {
                for x in 0..<wo {
                    let pixel = (y * ws + x) * 16, row = rows + (y * wo + x) * 16 * m32 + o
                    for n in 0..<16 {
                        let r = UnsafeRawPointer(row + n * m32)
                        let e0 = r.load(as: SIMD16<Float>.self), e1 = r.load(fromByteOffset: 64, as: SIMD16<Float>.self)
                        let i = pixel + n
                        var v = SIMD16<Float>(repeating: first[i])
                        a0.addProduct(e0, v); b0.addProduct(e1, v)
                        v = SIMD16<Float>(repeating: first[i + 16])
                        a1.addProduct(e0, v); b1.addProduct(e1, v)
                        v = SIMD16<Float>(repeating: first[i + down])
                        a2.addProduct(e0, v); b2.addProduct(e1, v)
                        v = SIMD16<Float>(repeating: first[i + down + 16])
                        a3.addProduct(e0, v); b3.addProduct(e1, v)
                        v = SIMD16<Float>(repeating: second[i])
                        c0.addProduct(e0, v); d0.addProduct(e1, v)
                        v = SIMD16<Float>(repeating: second[i + 16])
                        c1.addProduct(e0, v); d1.addProduct(e1, v)
                        v = SIMD16<Float>(repeating: second[i + down])
                        c2.addProduct(e0, v); d2.addProduct(e1, v)
                        v = SIMD16<Float>(repeating: second[i + down + 16])
                        c3.addProduct(e0, v); d3.addProduct(e1, v)
                    }
                }
            }
            @inline(__always) func add(_ v: SIMD16<Float>, _ channel: Int, _ tap: Int, _ half: Int) {
                let r = UnsafeMutableRawPointer(sums + (channel * 4 + tap) * m32 + o + 16 * half)
                r.storeBytes(of: r.load(as: SIMD16<Float>.self) + v, as: SIMD16<Float>.self)
            }
            add(a0, s0, 0, 0); add(a1, s0, 1, 0); add(a2, s0, 2, 0); add(a3, s0, 3, 0)
            add(b0, s0, 0, 1); add(b1, s0, 1, 1); add(b2, s0, 2, 1); add(b3, s0, 3, 1)
            add(c0, s0 + 1, 0, 0); add(c1, s0 + 1, 1, 0); add(c2, s0 + 1, 2, 0); add(c3, s0 + 1, 3, 0)
            add(d0, s0 + 1, 0, 1); add(d1, s0 + 1, 1, 1); add(d2, s0 + 1, 2, 1); add(d3, s0 + 1, 3, 1)
        }
        // Bands of output rows whose dY rows (for all outputs) take about 256 KB, to stay in L2
        // while every S channel passes over them.
        let band = max(1, 65536 / (wo * 16 * m32))
        for y in stride(from: 0, to: ho, by: band) {
            for s0 in stride(from: 0, to: 4 * c, by: 2) {
                for o in stride(from: 0, to: m32, by: 32) { block(o, s0, y..<min(ho, y + band)) }
            }
        }
    }

    /// dW[o][c][2a + py][2b + px] += the sums `spaceToDepthLanesWeightGradient` left: for
    /// each input channel c and 16 outputs, one 16×16 transpose turns the 16 taps' vectors of
    /// outputs into the outputs' rows of 16 taps (W's [4][4] of channel c, one vector each).
    static func addSpaceToDepthWeightGradient(_ sums: UnsafePointer<Float>, outputs m: Int, inputs c: Int,
                                              into dw: UnsafeMutablePointer<Float>, ldw: Int) {
        let m32 = outputs32(m)
        for ci in 0..<c {
            for o in stride(from: 0, to: m, by: 16) {
                transpose16(load: { q in
                    // W's tap q = 4ky + kx: S channel (ci, ky & 1, kx & 1), tap (ky >> 1, kx >> 1).
                    let ky = q >> 2, kx = q & 3
                    let ch = 4 * ci + 2 * (ky & 1) + (kx & 1), t = 2 * (ky >> 1) + (kx >> 1)
                    return UnsafeRawPointer(sums + (ch * 4 + t) * m32 + o).load(as: SIMD16<Float>.self)
                }, store: { j, v in
                    guard o + j < m else { return }
                    let row = UnsafeMutableRawPointer(dw + (o + j) * ldw + ci * 16)
                    row.storeBytes(of: row.loadUnaligned(as: SIMD16<Float>.self) + v, as: SIMD16<Float>.self)
                })
            }
        }
    }
}
