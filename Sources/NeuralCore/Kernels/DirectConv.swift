/// Direct convolution kernels, register-blocked with SIMD16 FMAs: 3×3 stride-1 pad-1
/// convolutions (forward, input gradient, weight gradient), and the 2×2 convolution that a
/// 4×4 stride-2 convolution becomes after space-to-depth. No im2col and no GEMM packing:
/// SGEMM spends much of its time packing the tall, thin column matrices of the decoder's
/// convolutions, and im2col costs a pass of its own.
///
/// The kernels work on 16-float vectors in one of two layouts (`DirectLayout`):
/// - pixels: a vector is 16 neighbouring pixels of one row of one image (maps whose width is a
///   multiple of 16: 16×16 … 64×64); input planes zero-padded to (H+2)×(W+2);
/// - lanes: a vector is one pixel of 16 images ([C][H+2][W+2][16] padded input), for small or
///   odd-sized maps (4×4, 8×8): every load is aligned and no vector straddles rows.
/// A window's taps sit `rowStride` apart vertically and `tapStride` apart horizontally.
///
/// Packed weights [⌈M/8⌉][C][9][8] (3×3; [·][·][4][8] for 2×2): for output block b, input
/// channel c, tap t = 3ky + kx, the
/// 8 weights W[8b + j, c, ky, kx] side by side (zero for j ≥ M − 8b): one broadcast per (tap, j)
/// feeds a whole vector. The input gradient of a 3×3 same convolution is the same convolution
/// of the padded output gradient with the kernel flipped and transposed (`packFlipped`).
public enum DirectConv {
    /// Whether the pixel layout handles an H×W map: 16-pixel vectors pair up within rows.
    public static func supportsPixelLayout(height: Int, width: Int) -> Bool {
        width % 16 == 0 && (height * width / 16) % 2 == 0 && height > 0
    }

    @inline(__always) static func paddedPlane(height: Int, width: Int) -> Int { (height + 2) * (width + 2) }

    /// Copies `channels` planes (H×W, `channelStride` apart) into the zero-bordered pixel layout.
    public static func pad(_ source: UnsafePointer<Float>, channelStride: Int, channels: Int, height h: Int, width w: Int,
                           into padded: UnsafeMutablePointer<Float>) {
        let wp = w + 2, plane = paddedPlane(height: h, width: w)
        for c in 0..<channels {
            let dst = padded + c * plane, src = source + c * channelStride
            fillZero(dst, wp)
            for y in 0..<h {
                let row = dst + (y + 1) * wp
                row[0] = 0
                copyFloats(row + 1, src + y * w, w)
                row[w + 1] = 0
            }
            fillZero(dst + (h + 1) * wp, wp)
        }
    }

    /// Gathers up to 16 images (`count`; missing lanes are zero) into the padded lanes layout
    /// [C][H+2][W+2][16].
    public static func padLanes(_ source: Planes, count: Int, channels: Int, height h: Int, width w: Int,
                                into lanes: UnsafeMutablePointer<Float>) {
        let wp = w + 2, plane = paddedPlane(height: h, width: w), px = h * w
        // The border (and the lanes of missing images) must be zero; the interior is overwritten.
        fillZero(lanes, channels * plane * 16)
        for c in 0..<channels {
            let dst = lanes + (c * plane + wp + 1) * 16
            gatherLanes(source, count: count, channel: c, pixels: px) { p in dst + ((p / w) * wp + p % w) * 16 }
        }
    }

    /// Gathers channel `c` (`pixels` pixels) of up to 16 images (`count`) into 16-image vectors,
    /// pixel p's at `target(p)`: 16 pixels at a time by one 16×16 transpose and whole-vector
    /// stores, the rest one float at a time. Lanes of missing images get zeros from the
    /// transposes and are left alone by the tail (the caller zeroes the buffer first).
    @inline(__always)
    static func gatherLanes(_ source: Planes, count: Int, channel c: Int, pixels px: Int,
                            target: (Int) -> UnsafeMutablePointer<Float>) {
        var p = 0
        while p + 16 <= px {
            transpose16(load: { b in
                b < count ? UnsafeRawPointer(source.image(b) + c * source.channelStride + p)
                    .loadUnaligned(as: SIMD16<Float>.self) : SIMD16<Float>()
            }, store: { q, v in
                UnsafeMutableRawPointer(target(p + q)).storeBytes(of: v, as: SIMD16<Float>.self)
            })
            p += 16
        }
        for b in 0..<count {
            let src = source.image(b) + c * source.channelStride
            for q in p..<px { target(q)[b] = src[q] }
        }
    }

    /// Scatters lanes [M][H·W][16] to `count` images (+= when `accumulate`).
    public static func unpackLanes(_ lanes: UnsafePointer<Float>, count: Int, channels: Int, pixels: Int,
                                   into target: Planes, accumulate: Bool) {
        for c in 0..<channels {
            let src = lanes + c * pixels * 16
            var p = 0
            while p + 16 <= pixels {
                transpose16(load: { q in UnsafeRawPointer(src + (p + q) * 16).loadUnaligned(as: SIMD16<Float>.self) },
                            store: { b, v in
                    guard b < count else { return }
                    let d = UnsafeMutableRawPointer(target.image(b) + c * target.channelStride + p)
                    d.storeBytes(of: accumulate ? d.loadUnaligned(as: SIMD16<Float>.self) + v : v, as: SIMD16<Float>.self)
                })
                p += 16
            }
            for b in 0..<count {
                let dst = target.image(b) + c * target.channelStride
                if accumulate {
                    for q in p..<pixels { dst[q] += src[q * 16 + b] }
                } else {
                    for q in p..<pixels { dst[q] = src[q * 16 + b] }
                }
            }
        }
    }

    // MARK: space-to-depth, for 4×4 stride-2 pad-1 convolutions

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

    /// Packs any kernel with `taps` taps per (output, input) pair, given element by element,
    /// into [⌈M/8⌉][C][taps][8] (zeros past M).
    public static func pack(outputs m: Int, inputs c: Int, taps: Int, into packed: UnsafeMutablePointer<Float>,
                            _ weight: (_ output: Int, _ input: Int, _ tap: Int) -> Float) {
        // Output blocks in parallel: packing runs every step, outside the parallel layer code.
        let out = UnsafeSendable(packed)
        parallelFor((m + 7) / 8) { b in
            for ch in 0..<c { for t in 0..<taps { for j in 0..<8 {
                let o = 8 * b + j
                out.value[((b * c + ch) * taps + t) * 8 + j] = o < m ? weight(o, ch, t) : 0
            } } }
        }
    }

    /// Packs W [M, C, 3, 3] (rows `ldw` floats apart) into [⌈M/8⌉][C][9][8].
    public static func pack(_ weight: UnsafePointer<Float>, ldw: Int, outputs m: Int, inputs c: Int,
                            into packed: UnsafeMutablePointer<Float>) {
        pack(outputs: m, inputs: c, taps: 9, into: packed) { o, ch, t in weight[o * ldw + ch * 9 + t] }
    }

    /// Packs the kernel of the input-gradient convolution: W'[c, o, t] = W[o, c, 8 − t]
    /// (transposed and flipped), as [⌈C/8⌉][M][9][8].
    public static func packFlipped(_ weight: UnsafePointer<Float>, ldw: Int, outputs m: Int, inputs c: Int,
                                   into packed: UnsafeMutablePointer<Float>) {
        pack(outputs: c, inputs: m, taps: 9, into: packed) { ch, o, t in weight[o * ldw + ch * 9 + 8 - t] }
    }

    /// out[o] (+)= Σ_c Σ_t W[o, c, t] · window of padded channel c, over one map (pixel layout:
    /// one image; lanes layout: 16 images). Output vector (y, v) of channel o is at
    /// output + o · outputStride + y · layout.outputRowStride + 16v.
    public static func forward(padded: UnsafePointer<Float>, channels c: Int, layout: DirectLayout,
                               packed: UnsafePointer<Float>, outputs m: Int,
                               output: UnsafeMutablePointer<Float>, outputStride: Int, accumulate: Bool) {
        let h = layout.height, vpr = layout.vectorsPerRow, slots = h * vpr
        for b in 0..<((m + 7) / 8) {
            let k = layout.kernel, weights = packed + b * c * k * k * 8, valid = min(8, m - 8 * b)
            let out = output + 8 * b * outputStride
            /// Runs the block for vectors (ya, va) and (yb, vb) over the taps rows × cols.
            @inline(__always) func pair(_ ya: Int, _ va: Int, _ yb: Int, _ vb: Int, _ rows: Range<Int>, _ cols: Range<Int>) {
                block8x2(padded + ya * layout.rowStride + 16 * va, padded + yb * layout.rowStride + 16 * vb,
                         channels: c, layout: layout, weights: weights, rows: rows, cols: cols,
                         outA: out + ya * layout.outputRowStride + 16 * va,
                         outB: out + yb * layout.outputRowStride + 16 * vb, storeB: ya != yb || va != vb,
                         outputStride: outputStride, valid: valid, accumulate: accumulate)
            }
            if !layout.skipsPadding {
                // Consecutive vectors in raster order, every tap (pixels: the padding a 16-pixel
                // vector straddles is a small share of a wide map).
                var s = 0
                if m <= 3 {
                    // Few outputs (the RGB layer): 3 channels × 4 vectors, so that no FMA
                    // works on the zero weights of an 8-channel block.
                    while s + 4 <= slots {
                        block3x4(padded, slots: (s, s + 1, s + 2, s + 3), channels: c, layout: layout, weights: weights,
                                 output: out, outputStride: outputStride, valid: valid, accumulate: accumulate)
                        s += 4
                    }
                }
                while s < slots {
                    let t = min(s + 1, slots - 1)   // an odd last slot pairs with itself, stored once
                    pair(s / vpr, s % vpr, t / vpr, t % vpr, 0..<k, 0..<k)
                    s += 2
                }
                continue
            }
            // Lanes: a vector is one pixel, so the taps that fall on padding can be skipped, as
            // long as both pixels of a pair share them: interior rows pair vertically (same
            // columns, all three tap rows), border rows horizontally (same tap rows).
            @inline(__always) func taps(_ i: Int, _ n: Int) -> Range<Int> { (i == 0 ? 1 : 0)..<(i == n - 1 ? 2 : 3) }
            var y = 0
            while y < h {
                if y > 0 && y + 1 < h - 1 {
                    for x in 0..<vpr { pair(y, x, y + 1, x, 0..<3, taps(x, vpr)) }
                    y += 2
                } else {
                    var x = 0
                    while x < vpr {
                        let x2 = min(x + 1, vpr - 1), ca = taps(x, vpr), cb = taps(x2, vpr)
                        pair(y, x, y, x2, taps(y, h), min(ca.lowerBound, cb.lowerBound)..<max(ca.upperBound, cb.upperBound))
                        x += 2
                    }
                    y += 1
                }
            }
        }
    }

    /// 8 output channels × 2 vectors: 16 accumulators; per (channel, tap) 2 loads, 8 broadcasts
    /// and 16 FMAs, over the taps rows × cols (taps outside read only padding zeros).
    @inline(__always)
    static func block8x2(_ inA: UnsafePointer<Float>, _ inB: UnsafePointer<Float>, channels: Int, layout: DirectLayout,
                         weights: UnsafePointer<Float>, rows: Range<Int>, cols: Range<Int>,
                         outA: UnsafeMutablePointer<Float>, outB: UnsafeMutablePointer<Float>, storeB: Bool,
                         outputStride: Int, valid: Int, accumulate: Bool) {
        var a0 = SIMD16<Float>(), a1 = SIMD16<Float>(), a2 = SIMD16<Float>(), a3 = SIMD16<Float>()
        var a4 = SIMD16<Float>(), a5 = SIMD16<Float>(), a6 = SIMD16<Float>(), a7 = SIMD16<Float>()
        var b0 = SIMD16<Float>(), b1 = SIMD16<Float>(), b2 = SIMD16<Float>(), b3 = SIMD16<Float>()
        var b4 = SIMD16<Float>(), b5 = SIMD16<Float>(), b6 = SIMD16<Float>(), b7 = SIMD16<Float>()
        var pa = UnsafeRawPointer(inA), pb = UnsafeRawPointer(inB), wc = weights
        let row = 4 * layout.rowStride, tap = 4 * layout.tapStride, plane = 4 * layout.plane
        let k = layout.kernel, perChannel = k * k * 8
        for _ in 0..<channels {
            for ky in rows {
                let ra = pa + ky * row, rb = pb + ky * row
                var wt = wc + (k * ky + cols.lowerBound) * 8
                for kx in cols {
                    let va = ra.loadUnaligned(fromByteOffset: kx * tap, as: SIMD16<Float>.self)
                    let vb = rb.loadUnaligned(fromByteOffset: kx * tap, as: SIMD16<Float>.self)
                    var s = wt[0]; a0.addProduct(va, s); b0.addProduct(vb, s)
                    s = wt[1]; a1.addProduct(va, s); b1.addProduct(vb, s)
                    s = wt[2]; a2.addProduct(va, s); b2.addProduct(vb, s)
                    s = wt[3]; a3.addProduct(va, s); b3.addProduct(vb, s)
                    s = wt[4]; a4.addProduct(va, s); b4.addProduct(vb, s)
                    s = wt[5]; a5.addProduct(va, s); b5.addProduct(vb, s)
                    s = wt[6]; a6.addProduct(va, s); b6.addProduct(vb, s)
                    s = wt[7]; a7.addProduct(va, s); b7.addProduct(vb, s)
                    wt += 8
                }
            }
            pa += plane
            pb += plane
            wc += perChannel
        }
        @inline(__always) func put(_ j: Int, _ va: SIMD16<Float>, _ vb: SIMD16<Float>) {
            guard j < valid else { return }
            let da = UnsafeMutableRawPointer(outA + j * outputStride), db = UnsafeMutableRawPointer(outB + j * outputStride)
            if accumulate {
                da.storeBytes(of: da.loadUnaligned(as: SIMD16<Float>.self) + va, as: SIMD16<Float>.self)
                if storeB { db.storeBytes(of: db.loadUnaligned(as: SIMD16<Float>.self) + vb, as: SIMD16<Float>.self) }
            } else {
                da.storeBytes(of: va, as: SIMD16<Float>.self)
                if storeB { db.storeBytes(of: vb, as: SIMD16<Float>.self) }
            }
        }
        put(0, a0, b0); put(1, a1, b1); put(2, a2, b2); put(3, a3, b3)
        put(4, a4, b4); put(5, a5, b5); put(6, a6, b6); put(7, a7, b7)
    }

    /// Up to 3 output channels × 4 vectors (the slots in raster order of a pixel-layout map): 12
    /// accumulators; per (channel, tap) 4 loads, 3 broadcasts and 12 FMAs. Reads the first 3
    /// weights of each packed 8-wide group.
    @inline(__always)
    static func block3x4(_ padded: UnsafePointer<Float>, slots: (Int, Int, Int, Int), channels: Int,
                         layout: DirectLayout, weights: UnsafePointer<Float>,
                         output: UnsafeMutablePointer<Float>, outputStride: Int, valid: Int, accumulate: Bool) {
        let vpr = layout.vectorsPerRow
        @inline(__always) func inputOffset(_ s: Int) -> Int { 4 * ((s / vpr) * layout.rowStride + 16 * (s % vpr)) }
        @inline(__always) func outputOffset(_ s: Int) -> Int { (s / vpr) * layout.outputRowStride + 16 * (s % vpr) }
        var a0 = SIMD16<Float>(), a1 = SIMD16<Float>(), a2 = SIMD16<Float>(), a3 = SIMD16<Float>()
        var b0 = SIMD16<Float>(), b1 = SIMD16<Float>(), b2 = SIMD16<Float>(), b3 = SIMD16<Float>()
        var c0 = SIMD16<Float>(), c1 = SIMD16<Float>(), c2 = SIMD16<Float>(), c3 = SIMD16<Float>()
        let o0 = inputOffset(slots.0), o1 = inputOffset(slots.1), o2 = inputOffset(slots.2), o3 = inputOffset(slots.3)
        var p = UnsafeRawPointer(padded), wt = weights
        let row = 4 * layout.rowStride, tap = 4 * layout.tapStride, plane = 4 * layout.plane, k = layout.kernel
        for _ in 0..<channels {
            for ky in 0..<k {
                let r = p + ky * row
                for kx in 0..<k {
                    let t = r + kx * tap
                    let v0 = t.loadUnaligned(fromByteOffset: o0, as: SIMD16<Float>.self)
                    let v1 = t.loadUnaligned(fromByteOffset: o1, as: SIMD16<Float>.self)
                    let v2 = t.loadUnaligned(fromByteOffset: o2, as: SIMD16<Float>.self)
                    let v3 = t.loadUnaligned(fromByteOffset: o3, as: SIMD16<Float>.self)
                    var w = wt[0]; a0.addProduct(v0, w); a1.addProduct(v1, w); a2.addProduct(v2, w); a3.addProduct(v3, w)
                    w = wt[1]; b0.addProduct(v0, w); b1.addProduct(v1, w); b2.addProduct(v2, w); b3.addProduct(v3, w)
                    w = wt[2]; c0.addProduct(v0, w); c1.addProduct(v1, w); c2.addProduct(v2, w); c3.addProduct(v3, w)
                    wt += 8
                }
            }
            p += plane
        }
        @inline(__always) func put(_ j: Int, _ s: Int, _ v: SIMD16<Float>) {
            guard j < valid else { return }
            let d = UnsafeMutableRawPointer(output + j * outputStride + outputOffset(s))
            d.storeBytes(of: accumulate ? d.loadUnaligned(as: SIMD16<Float>.self) + v : v, as: SIMD16<Float>.self)
        }
        put(0, slots.0, a0); put(0, slots.1, a1); put(0, slots.2, a2); put(0, slots.3, a3)
        put(1, slots.0, b0); put(1, slots.1, b1); put(1, slots.2, b2); put(1, slots.3, b3)
        put(2, slots.0, c0); put(2, slots.1, c1); put(2, slots.2, c2); put(2, slots.3, c3)
    }

    /// dW[o, c, t] += Σ over maps and pixels of dY[o, y, x] · padded[c, y + ky, x + kx], for
    /// `count` maps (map b's gradient at dy + b·gradientMapStride, rows `gradientRowStride`
    /// apart; its padded input at padded + b·paddedMapStride); dW rows `ldw` floats apart, as W.
    /// All maps are summed before the horizontal reductions.
    public static func weightGradient(outputGradient dy: UnsafePointer<Float>, gradientStride: Int,
                                      gradientRowStride: Int, gradientMapStride: Int, outputs m: Int,
                                      padded: UnsafePointer<Float>, paddedMapStride: Int, channels c: Int,
                                      layout: DirectLayout, count: Int,
                                      into dw: UnsafeMutablePointer<Float>, ldw: Int) {
        var o = 0
        while o < m {
            let pair = o + 1 < m
            let g0 = dy + o * gradientStride, g1 = pair ? g0 + gradientStride : g0
            for ch in 0..<c {
                let sums = tapSums(g0, g1, gradientRowStride: gradientRowStride, gradientMapStride: gradientMapStride,
                                   padded + ch * layout.plane, paddedMapStride: paddedMapStride, count: count,
                                   layout: layout)
                // sums.0: taps 0…7 of channel o in lanes 0…7, of channel o + 1 in lanes 8…15.
                let d0 = UnsafeMutableRawPointer(dw + o * ldw + ch * 9)
                d0.storeBytes(of: d0.loadUnaligned(as: SIMD8<Float>.self) + sums.0.lowHalf, as: SIMD8<Float>.self)
                dw[o * ldw + ch * 9 + 8] += sums.1
                if pair {
                    let d1 = d0 + 4 * ldw
                    d1.storeBytes(of: d1.loadUnaligned(as: SIMD8<Float>.self) + sums.0.highHalf, as: SIMD8<Float>.self)
                    dw[(o + 1) * ldw + ch * 9 + 8] += sums.2
                }
            }
            o += 2
        }
    }

    /// The nine tap sums of two output-gradient planes against one padded input plane, over
    /// `count` maps, from 18 vector accumulators: (taps 0…7 of plane 0 | of plane 1, tap 8 of
    /// plane 0, tap 8 of plane 1).
    @inline(__always)
    static func tapSums(_ g0: UnsafePointer<Float>, _ g1: UnsafePointer<Float>, gradientRowStride: Int,
                        gradientMapStride: Int, _ input: UnsafePointer<Float>, paddedMapStride: Int, count: Int,
                        layout: DirectLayout) -> (SIMD16<Float>, Float, Float) {
        var p0 = SIMD16<Float>(), p1 = SIMD16<Float>(), p2 = SIMD16<Float>(), p3 = SIMD16<Float>()
        var p4 = SIMD16<Float>(), p5 = SIMD16<Float>(), p6 = SIMD16<Float>(), p7 = SIMD16<Float>()
        var p8 = SIMD16<Float>()
        var q0 = SIMD16<Float>(), q1 = SIMD16<Float>(), q2 = SIMD16<Float>(), q3 = SIMD16<Float>()
        var q4 = SIMD16<Float>(), q5 = SIMD16<Float>(), q6 = SIMD16<Float>(), q7 = SIMD16<Float>()
        var q8 = SIMD16<Float>()
        let h = layout.height, vectors = layout.vectorsPerRow
        let row = 4 * layout.rowStride, tap = 4 * layout.tapStride, grow = 4 * gradientRowStride
        for b in 0..<count {
            let r0 = UnsafeRawPointer(g0 + b * gradientMapStride), r1 = UnsafeRawPointer(g1 + b * gradientMapStride)
            let xin = UnsafeRawPointer(input + b * paddedMapStride)
            // Two output rows at a time: padded rows y..y+3 each feed both (as tap row j for
            // output row y and j − 1 for row y + 1): 12 + 4 loads for 36 FMAs.
            var y = 0
            while y + 1 < h {
                for v in 0..<vectors {
                    let g = y * grow + 64 * v
                    let d0 = r0.loadUnaligned(fromByteOffset: g, as: SIMD16<Float>.self)
                    let d1 = r1.loadUnaligned(fromByteOffset: g, as: SIMD16<Float>.self)
                    let e0 = r0.loadUnaligned(fromByteOffset: g + grow, as: SIMD16<Float>.self)
                    let e1 = r1.loadUnaligned(fromByteOffset: g + grow, as: SIMD16<Float>.self)
                    let base = y * row + 64 * v
                    var x: SIMD16<Float>
                    x = xin.loadUnaligned(fromByteOffset: base, as: SIMD16<Float>.self)
                    p0.addProduct(d0, x); q0.addProduct(d1, x)
                    x = xin.loadUnaligned(fromByteOffset: base + tap, as: SIMD16<Float>.self)
                    p1.addProduct(d0, x); q1.addProduct(d1, x)
                    x = xin.loadUnaligned(fromByteOffset: base + 2 * tap, as: SIMD16<Float>.self)
                    p2.addProduct(d0, x); q2.addProduct(d1, x)
                    x = xin.loadUnaligned(fromByteOffset: base + 1 * row, as: SIMD16<Float>.self)
                    p3.addProduct(d0, x); q3.addProduct(d1, x); p0.addProduct(e0, x); q0.addProduct(e1, x)
                    x = xin.loadUnaligned(fromByteOffset: base + 1 * row + tap, as: SIMD16<Float>.self)
                    p4.addProduct(d0, x); q4.addProduct(d1, x); p1.addProduct(e0, x); q1.addProduct(e1, x)
                    x = xin.loadUnaligned(fromByteOffset: base + 1 * row + 2 * tap, as: SIMD16<Float>.self)
                    p5.addProduct(d0, x); q5.addProduct(d1, x); p2.addProduct(e0, x); q2.addProduct(e1, x)
                    x = xin.loadUnaligned(fromByteOffset: base + 2 * row, as: SIMD16<Float>.self)
                    p6.addProduct(d0, x); q6.addProduct(d1, x); p3.addProduct(e0, x); q3.addProduct(e1, x)
                    x = xin.loadUnaligned(fromByteOffset: base + 2 * row + tap, as: SIMD16<Float>.self)
                    p7.addProduct(d0, x); q7.addProduct(d1, x); p4.addProduct(e0, x); q4.addProduct(e1, x)
                    x = xin.loadUnaligned(fromByteOffset: base + 2 * row + 2 * tap, as: SIMD16<Float>.self)
                    p8.addProduct(d0, x); q8.addProduct(d1, x); p5.addProduct(e0, x); q5.addProduct(e1, x)
                    x = xin.loadUnaligned(fromByteOffset: base + 3 * row, as: SIMD16<Float>.self)
                    p6.addProduct(e0, x); q6.addProduct(e1, x)
                    x = xin.loadUnaligned(fromByteOffset: base + 3 * row + tap, as: SIMD16<Float>.self)
                    p7.addProduct(e0, x); q7.addProduct(e1, x)
                    x = xin.loadUnaligned(fromByteOffset: base + 3 * row + 2 * tap, as: SIMD16<Float>.self)
                    p8.addProduct(e0, x); q8.addProduct(e1, x)
                }
                y += 2
            }
            // An odd last row: one output row, nine taps.
            if y < h {
                for v in 0..<vectors {
                    let g = y * grow + 64 * v
                    let d0 = r0.loadUnaligned(fromByteOffset: g, as: SIMD16<Float>.self)
                    let d1 = r1.loadUnaligned(fromByteOffset: g, as: SIMD16<Float>.self)
                    let base = y * row + 64 * v
                    var x: SIMD16<Float>
                    x = xin.loadUnaligned(fromByteOffset: base, as: SIMD16<Float>.self)
                    p0.addProduct(d0, x); q0.addProduct(d1, x)
                    x = xin.loadUnaligned(fromByteOffset: base + tap, as: SIMD16<Float>.self)
                    p1.addProduct(d0, x); q1.addProduct(d1, x)
                    x = xin.loadUnaligned(fromByteOffset: base + 2 * tap, as: SIMD16<Float>.self)
                    p2.addProduct(d0, x); q2.addProduct(d1, x)
                    x = xin.loadUnaligned(fromByteOffset: base + 1 * row, as: SIMD16<Float>.self)
                    p3.addProduct(d0, x); q3.addProduct(d1, x)
                    x = xin.loadUnaligned(fromByteOffset: base + 1 * row + tap, as: SIMD16<Float>.self)
                    p4.addProduct(d0, x); q4.addProduct(d1, x)
                    x = xin.loadUnaligned(fromByteOffset: base + 1 * row + 2 * tap, as: SIMD16<Float>.self)
                    p5.addProduct(d0, x); q5.addProduct(d1, x)
                    x = xin.loadUnaligned(fromByteOffset: base + 2 * row, as: SIMD16<Float>.self)
                    p6.addProduct(d0, x); q6.addProduct(d1, x)
                    x = xin.loadUnaligned(fromByteOffset: base + 2 * row + tap, as: SIMD16<Float>.self)
                    p7.addProduct(d0, x); q7.addProduct(d1, x)
                    x = xin.loadUnaligned(fromByteOffset: base + 2 * row + 2 * tap, as: SIMD16<Float>.self)
                    p8.addProduct(d0, x); q8.addProduct(d1, x)
                }
            }
        }
        // Lane sums by a halving tree: taps 0…7 of both channels in one vector, tap 8 apart.
        return (sums16(p0, p1, p2, p3, p4, p5, p6, p7, q0, q1, q2, q3, q4, q5, q6, q7), p8.sum(), q8.sum())
    }

    /// r[i] = Σ lanes of v_i for 16 vectors, by folding halves: each step adds the two halves
    /// of two vectors into one vector (4 levels, 15 fold steps instead of 16 full reductions).
    @inline(__always)
    static func sums16(_ v0: SIMD16<Float>, _ v1: SIMD16<Float>, _ v2: SIMD16<Float>, _ v3: SIMD16<Float>,
                       _ v4: SIMD16<Float>, _ v5: SIMD16<Float>, _ v6: SIMD16<Float>, _ v7: SIMD16<Float>,
                       _ v8: SIMD16<Float>, _ v9: SIMD16<Float>, _ v10: SIMD16<Float>, _ v11: SIMD16<Float>,
                       _ v12: SIMD16<Float>, _ v13: SIMD16<Float>, _ v14: SIMD16<Float>, _ v15: SIMD16<Float>)
        -> SIMD16<Float> {
        @inline(__always) func fold16(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float> {
            SIMD16(lowHalf: a.lowHalf + a.highHalf, highHalf: b.lowHalf + b.highHalf)
        }
        // Level 1: lanes 0..7 of w_k hold partial sums of v_{2k}, lanes 8..15 of v_{2k+1}.
        let w0 = fold16(v0, v1), w1 = fold16(v2, v3), w2 = fold16(v4, v5), w3 = fold16(v6, v7)
        let w4 = fold16(v8, v9), w5 = fold16(v10, v11), w6 = fold16(v12, v13), w7 = fold16(v14, v15)
        // Level 2 folds each 8-lane half into 4 lanes: x_k = [w_{2k} low4 | w_{2k} hi-half low4 | ...].
        @inline(__always) func fold8(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float> {
            let al = a.lowHalf, ah = a.highHalf, bl = b.lowHalf, bh = b.highHalf
            return SIMD16(lowHalf: SIMD8(lowHalf: al.lowHalf + al.highHalf, highHalf: ah.lowHalf + ah.highHalf),
                          highHalf: SIMD8(lowHalf: bl.lowHalf + bl.highHalf, highHalf: bh.lowHalf + bh.highHalf))
        }
        let x0 = fold8(w0, w1), x1 = fold8(w2, w3), x2 = fold8(w4, w5), x3 = fold8(w6, w7)
        // Level 3: 4-lane groups → 2 lanes.
        @inline(__always) func fold4(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float> {
            func f(_ v: SIMD4<Float>) -> SIMD2<Float> { v.lowHalf + v.highHalf }
            let a0 = a.lowHalf.lowHalf, a1 = a.lowHalf.highHalf, a2 = a.highHalf.lowHalf, a3 = a.highHalf.highHalf
            let b0 = b.lowHalf.lowHalf, b1 = b.lowHalf.highHalf, b2 = b.highHalf.lowHalf, b3 = b.highHalf.highHalf
            return SIMD16(lowHalf: SIMD8(lowHalf: SIMD4(lowHalf: f(a0), highHalf: f(a1)),
                                         highHalf: SIMD4(lowHalf: f(a2), highHalf: f(a3))),
                          highHalf: SIMD8(lowHalf: SIMD4(lowHalf: f(b0), highHalf: f(b1)),
                                          highHalf: SIMD4(lowHalf: f(b2), highHalf: f(b3))))
        }
        let y0 = fold4(x0, x1), y1 = fold4(x2, x3)
        // Level 4: adjacent lane pairs → one lane each: y0 holds v0…v7, y1 v8…v15.
        let lo = y0.evenHalf + y0.oddHalf, hi = y1.evenHalf + y1.oddHalf
        return SIMD16(lowHalf: lo, highHalf: hi)
    }
}

/// Transposes a 16×16 block: loads row i with `load(i)`, stores column j with `store(j, ·)`.
/// Four rounds of perfect shuffles: each round replaces (r_i, r_{i+8}) by the even and odd
/// lanes of r_{2i} ++ r_{2i+1}; after log2(16) rounds row j holds the old column j.
@inline(__always)
func transpose16(load: (Int) -> SIMD16<Float>, store: (Int, SIMD16<Float>) -> Void) {
    var r0 = load(0); var r1 = load(1); var r2 = load(2); var r3 = load(3); var r4 = load(4); var r5 = load(5); var r6 = load(6); var r7 = load(7); var r8 = load(8); var r9 = load(9); var r10 = load(10); var r11 = load(11); var r12 = load(12); var r13 = load(13); var r14 = load(14); var r15 = load(15)
    for _ in 0..<4 {
        let j0 = SIMD32(lowHalf: r0, highHalf: r1)
        let j1 = SIMD32(lowHalf: r2, highHalf: r3)
        let j2 = SIMD32(lowHalf: r4, highHalf: r5)
        let j3 = SIMD32(lowHalf: r6, highHalf: r7)
        let j4 = SIMD32(lowHalf: r8, highHalf: r9)
        let j5 = SIMD32(lowHalf: r10, highHalf: r11)
        let j6 = SIMD32(lowHalf: r12, highHalf: r13)
        let j7 = SIMD32(lowHalf: r14, highHalf: r15)
        r0 = j0.evenHalf; r1 = j1.evenHalf; r2 = j2.evenHalf; r3 = j3.evenHalf; r4 = j4.evenHalf; r5 = j5.evenHalf; r6 = j6.evenHalf; r7 = j7.evenHalf
        r8 = j0.oddHalf; r9 = j1.oddHalf; r10 = j2.oddHalf; r11 = j3.oddHalf; r12 = j4.oddHalf; r13 = j5.oddHalf; r14 = j6.oddHalf; r15 = j7.oddHalf
    }
    store(0, r0); store(1, r1); store(2, r2); store(3, r3); store(4, r4); store(5, r5); store(6, r6); store(7, r7); store(8, r8); store(9, r9); store(10, r10); store(11, r11); store(12, r12); store(13, r13); store(14, r14); store(15, r15)
}

/// Where a direct kernel finds its vectors (see `DirectConv`): maps of `height` output rows,
/// a square kernel of `kernel` taps a side.
public struct DirectLayout: Sendable {
    /// Floats between input channels (padded planes).
    public var plane: Int
    /// Floats between padded input rows, i.e. between vertically adjacent taps.
    public var rowStride: Int
    /// Floats between horizontally adjacent taps.
    public var tapStride: Int
    /// Output vectors per output row; vector v of a row starts 16v floats in (input and output).
    public var vectorsPerRow: Int
    /// Floats between output rows.
    public var outputRowStride: Int
    public var height: Int
    /// Kernel side (3, or 2 for the RGB layer's space-to-depth in the pixel layout).
    public var kernel: Int = 3
    /// Whether the input is a 3×3 "same" map padded by 1 whose border taps may be skipped
    /// (lanes layout only: there a vector is a single pixel).
    public var skipsPadding = false

    /// 16 pixels of a row per vector, one image (W a multiple of 16), 3×3 same convolution.
    public static func pixels(height h: Int, width w: Int) -> DirectLayout {
        DirectLayout(plane: (h + 2) * (w + 2), rowStride: w + 2, tapStride: 1, vectorsPerRow: w / 16,
                     outputRowStride: w, height: h)
    }

    /// One pixel of 16 images per vector, 3×3 same convolution of an H×W map padded by 1.
    public static func lanes(height h: Int, width w: Int) -> DirectLayout {
        DirectLayout(plane: (h + 2) * (w + 2) * 16, rowStride: (w + 2) * 16, tapStride: 16, vectorsPerRow: w,
                     outputRowStride: w * 16, height: h, skipsPadding: true)
    }
}
