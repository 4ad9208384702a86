// Runs the direct 3×3 convolution loops (SIMD16 register blocks) of the direct kernels.

/// Direct convolution kernels, register-blocked with SIMD16 FMAs: 3×3 stride-1 pad-1
/// convolutions (forward, input gradient, weight gradient), and, in `SpaceToDepth.swift` and
/// `SpaceToDepthPixels.swift`, the 2×2 convolution that a 4×4 stride-2 convolution becomes
/// after space-to-depth. No im2col and no GEMM packing:
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

/// The packed weights of the direct 3×3 kernels (`DirectPixelsKernel`, `DirectLanesKernel`):
/// W for the forward pass and W flipped and transposed for the input gradient.
struct DirectWeights {
    let outputs: Int
    let inputs: Int
    /// [⌈M/8⌉][C][9][8] (`DirectConv.pack`).
    let packed: Tensor
    /// [⌈C/8⌉][M][9][8] (`DirectConv.packFlipped`).
    let flipped: Tensor

    init(outputs m: Int, inputs c: Int) {
        outputs = m
        inputs = c
        packed = Tensor(shape: [(m + 7) / 8 * 8 * c * 9])
        flipped = Tensor(shape: [(c + 7) / 8 * 8 * m * 9])
    }

    /// Packs W [M, C, 3, 3] (rows `ldw` apart) for the forward pass, or with `backward` for the
    /// input gradient.
    func pack(_ weight: UnsafePointer<Float>, ldw: Int, backward: Bool) {
        if backward {
            DirectConv.packFlipped(weight, ldw: ldw, outputs: outputs, inputs: inputs, into: flipped.pointer)
        } else {
            DirectConv.pack(weight, ldw: ldw, outputs: outputs, inputs: inputs, into: packed.pointer)
        }
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
