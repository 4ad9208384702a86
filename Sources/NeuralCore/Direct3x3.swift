/// Direct 3×3 convolution kernels (stride 1, zero padding 1), register-blocked with SIMD16 FMAs,
/// for maps whose width is a multiple of 16. No im2col and no GEMM packing: for the decoder's
/// large maps (16×16 … 64×64) with few channels, SGEMM spends much of its time packing a tall,
/// thin column matrix that each output channel then uses only a few dozen times.
///
/// Layouts:
///   padded input  [C][H+2][W+2] per image (`pad`), zero border; the 3×3 window of output (y, x)
///                 starts at padded (y, x).
///   packed weights [⌈M/8⌉][C][9][8]: for output block b, input channel c, tap t = 3ky + kx, the
///                 8 weights W[8b + j, c, ky, kx] side by side (zero for j ≥ M − 8b), so one
///                 broadcast per (tap, j) feeds 16 pixels.
/// The input gradient of a 3×3 same convolution is the same convolution of the (padded) output
/// gradient with the kernel flipped and transposed (`packFlipped`), so `forward` serves both.
public enum Direct3x3 {
    /// Whether the kernels handle an H×W map: 16-pixel vectors pair up within rows.
    public static func supports(height: Int, width: Int) -> Bool {
        width % 16 == 0 && (height * width / 16) % 2 == 0 && height > 0
    }

    @inline(__always) static func paddedPlane(height: Int, width: Int) -> Int { (height + 2) * (width + 2) }

    /// Copies `channels` planes (H×W, `channelStride` apart) into the zero-bordered layout.
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

    /// Packs W [M, C, 3, 3] (rows `ldw` floats apart) into [⌈M/8⌉][C][9][8].
    public static func pack(_ weight: UnsafePointer<Float>, ldw: Int, outputs m: Int, inputs c: Int,
                            into packed: UnsafeMutablePointer<Float>) {
        for b in 0..<((m + 7) / 8) {
            for ch in 0..<c { for t in 0..<9 { for j in 0..<8 {
                let o = 8 * b + j
                packed[((b * c + ch) * 9 + t) * 8 + j] = o < m ? weight[o * ldw + ch * 9 + t] : 0
            } } }
        }
    }

    /// Packs the kernel of the input-gradient convolution: W'[c, o, t] = W[o, c, 8 − t]
    /// (transposed and flipped), as [⌈C/8⌉][M][9][8].
    public static func packFlipped(_ weight: UnsafePointer<Float>, ldw: Int, outputs m: Int, inputs c: Int,
                                   into packed: UnsafeMutablePointer<Float>) {
        for b in 0..<((c + 7) / 8) {
            for o in 0..<m { for t in 0..<9 { for j in 0..<8 {
                let ch = 8 * b + j
                packed[((b * m + o) * 9 + t) * 8 + j] = ch < c ? weight[o * ldw + ch * 9 + 8 - t] : 0
            } } }
        }
    }

    /// out[o] (+)= Σ_c Σ_t W[o, c, t] · window of padded channel c, for one image.
    /// `output` holds channel o at output + o · outputStride (H×W, rows contiguous).
    public static func forward(padded: UnsafePointer<Float>, channels c: Int, height h: Int, width w: Int,
                               packed: UnsafePointer<Float>, outputs m: Int,
                               output: UnsafeMutablePointer<Float>, outputStride: Int, accumulate: Bool) {
        let wp = w + 2, plane = paddedPlane(height: h, width: w), vectorsPerRow = w / 16
        let slots = h * vectorsPerRow
        for b in 0..<((m + 7) / 8) {
            let weights = packed + b * c * 72, valid = min(8, m - 8 * b)
            let out = output + 8 * b * outputStride
            var s = 0
            while s < slots {
                let ya = s / vectorsPerRow, xa = (s % vectorsPerRow) * 16
                let yb = (s + 1) / vectorsPerRow, xb = ((s + 1) % vectorsPerRow) * 16
                block8x2(padded + ya * wp + xa, padded + yb * wp + xb, channels: c, plane: plane, rowStride: wp,
                         weights: weights, outA: out + ya * w + xa, outB: out + yb * w + xb,
                         outputStride: outputStride, valid: valid, accumulate: accumulate)
                s += 2
            }
        }
    }

    /// 8 output channels × 2 vectors of 16 pixels: 16 accumulators, per (channel, tap) 2 loads,
    /// 8 broadcasts and 16 FMAs.
    @inline(__always)
    static func block8x2(_ inA: UnsafePointer<Float>, _ inB: UnsafePointer<Float>, channels: Int, plane: Int,
                         rowStride wp: Int, weights: UnsafePointer<Float>,
                         outA: UnsafeMutablePointer<Float>, outB: UnsafeMutablePointer<Float>,
                         outputStride: Int, valid: Int, accumulate: Bool) {
        var a0 = SIMD16<Float>(), a1 = SIMD16<Float>(), a2 = SIMD16<Float>(), a3 = SIMD16<Float>()
        var a4 = SIMD16<Float>(), a5 = SIMD16<Float>(), a6 = SIMD16<Float>(), a7 = SIMD16<Float>()
        var b0 = SIMD16<Float>(), b1 = SIMD16<Float>(), b2 = SIMD16<Float>(), b3 = SIMD16<Float>()
        var b4 = SIMD16<Float>(), b5 = SIMD16<Float>(), b6 = SIMD16<Float>(), b7 = SIMD16<Float>()
        var pa = UnsafeRawPointer(inA), pb = UnsafeRawPointer(inB), wt = weights
        for _ in 0..<channels {
            for ky in 0..<3 {
                let ra = pa + 4 * ky * wp, rb = pb + 4 * ky * wp
                for kx in 0..<3 {
                    let va = ra.loadUnaligned(fromByteOffset: 4 * kx, as: SIMD16<Float>.self)
                    let vb = rb.loadUnaligned(fromByteOffset: 4 * kx, as: SIMD16<Float>.self)
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
            pa += 4 * plane
            pb += 4 * plane
        }
        @inline(__always) func put(_ j: Int, _ va: SIMD16<Float>, _ vb: SIMD16<Float>) {
            guard j < valid else { return }
            let da = UnsafeMutableRawPointer(outA + j * outputStride), db = UnsafeMutableRawPointer(outB + j * outputStride)
            if accumulate {
                da.storeBytes(of: da.loadUnaligned(as: SIMD16<Float>.self) + va, as: SIMD16<Float>.self)
                db.storeBytes(of: db.loadUnaligned(as: SIMD16<Float>.self) + vb, as: SIMD16<Float>.self)
            } else {
                da.storeBytes(of: va, as: SIMD16<Float>.self)
                db.storeBytes(of: vb, as: SIMD16<Float>.self)
            }
        }
        put(0, a0, b0); put(1, a1, b1); put(2, a2, b2); put(3, a3, b3)
        put(4, a4, b4); put(5, a5, b5); put(6, a6, b6); put(7, a7, b7)
    }

    /// dW[o, c, t] += Σ_b Σ_{y,x} dY_b[o, y, x] · padded_b[c, y + ky, x + kx] over `count` images
    /// (image b's gradient at dy + b·gradientImageStride, its padded input at
    /// padded + b·paddedImageStride); dW rows (output channels) `ldw` floats apart, as W.
    /// Summing all images before the horizontal reductions keeps those off the critical path.
    public static func weightGradient(outputGradient dy: UnsafePointer<Float>, gradientStride: Int,
                                      gradientImageStride: Int, outputs m: Int,
                                      padded: UnsafePointer<Float>, paddedImageStride: Int, channels c: Int,
                                      count: Int, height h: Int, width w: Int,
                                      into dw: UnsafeMutablePointer<Float>, ldw: Int) {
        let plane = paddedPlane(height: h, width: w)
        var o = 0
        while o < m {
            let pair = o + 1 < m
            let g0 = dy + o * gradientStride, g1 = pair ? g0 + gradientStride : g0
            for ch in 0..<c {
                let sums = tapSums(g0, g1, gradientImageStride: gradientImageStride, padded + ch * plane,
                                   paddedImageStride: paddedImageStride, count: count, height: h, width: w)
                let d0 = dw + o * ldw + ch * 9
                for t in 0..<9 { d0[t] += sums.0[t] }
                if pair {
                    let d1 = d0 + ldw
                    for t in 0..<9 { d1[t] += sums.1[t] }
                }
            }
            o += 2
        }
    }

    /// The nine tap sums of two output-gradient planes against one padded input plane, over
    /// `count` images: 18 vector accumulators.
    @inline(__always)
    static func tapSums(_ g0: UnsafePointer<Float>, _ g1: UnsafePointer<Float>, gradientImageStride: Int,
                        _ input: UnsafePointer<Float>, paddedImageStride: Int, count: Int,
                        height h: Int, width w: Int) -> (SIMD16<Float>, SIMD16<Float>) {
        var p0 = SIMD16<Float>(), p1 = SIMD16<Float>(), p2 = SIMD16<Float>(), p3 = SIMD16<Float>()
        var p4 = SIMD16<Float>(), p5 = SIMD16<Float>(), p6 = SIMD16<Float>(), p7 = SIMD16<Float>()
        var p8 = SIMD16<Float>()
        var q0 = SIMD16<Float>(), q1 = SIMD16<Float>(), q2 = SIMD16<Float>(), q3 = SIMD16<Float>()
        var q4 = SIMD16<Float>(), q5 = SIMD16<Float>(), q6 = SIMD16<Float>(), q7 = SIMD16<Float>()
        var q8 = SIMD16<Float>()
        let wp = w + 2
        for b in 0..<count {
        let r0 = UnsafeRawPointer(g0 + b * gradientImageStride), r1 = UnsafeRawPointer(g1 + b * gradientImageStride)
        let xin = UnsafeRawPointer(input + b * paddedImageStride)
        // Two output rows at a time: padded rows y..y+3 each feed both (as tap row j for
        // output row y and j − 1 for row y + 1): 12 + 4 loads for 36 FMAs.
        var y = 0
        while y + 1 < h {
            var x = 0
            while x < w {
                let d0 = r0.loadUnaligned(fromByteOffset: 4 * (y * w + x), as: SIMD16<Float>.self)
                let d1 = r1.loadUnaligned(fromByteOffset: 4 * (y * w + x), as: SIMD16<Float>.self)
                let e0 = r0.loadUnaligned(fromByteOffset: 4 * (y * w + w + x), as: SIMD16<Float>.self)
                let e1 = r1.loadUnaligned(fromByteOffset: 4 * (y * w + w + x), as: SIMD16<Float>.self)
                let base = 4 * (y * wp + x)
                var v: SIMD16<Float>
                v = xin.loadUnaligned(fromByteOffset: base + 0, as: SIMD16<Float>.self)
                p0.addProduct(d0, v); q0.addProduct(d1, v)
                v = xin.loadUnaligned(fromByteOffset: base + 4, as: SIMD16<Float>.self)
                p1.addProduct(d0, v); q1.addProduct(d1, v)
                v = xin.loadUnaligned(fromByteOffset: base + 8, as: SIMD16<Float>.self)
                p2.addProduct(d0, v); q2.addProduct(d1, v)
                v = xin.loadUnaligned(fromByteOffset: base + 4 * wp + 0, as: SIMD16<Float>.self)
                p3.addProduct(d0, v); q3.addProduct(d1, v); p0.addProduct(e0, v); q0.addProduct(e1, v)
                v = xin.loadUnaligned(fromByteOffset: base + 4 * wp + 4, as: SIMD16<Float>.self)
                p4.addProduct(d0, v); q4.addProduct(d1, v); p1.addProduct(e0, v); q1.addProduct(e1, v)
                v = xin.loadUnaligned(fromByteOffset: base + 4 * wp + 8, as: SIMD16<Float>.self)
                p5.addProduct(d0, v); q5.addProduct(d1, v); p2.addProduct(e0, v); q2.addProduct(e1, v)
                v = xin.loadUnaligned(fromByteOffset: base + 8 * wp + 0, as: SIMD16<Float>.self)
                p6.addProduct(d0, v); q6.addProduct(d1, v); p3.addProduct(e0, v); q3.addProduct(e1, v)
                v = xin.loadUnaligned(fromByteOffset: base + 8 * wp + 4, as: SIMD16<Float>.self)
                p7.addProduct(d0, v); q7.addProduct(d1, v); p4.addProduct(e0, v); q4.addProduct(e1, v)
                v = xin.loadUnaligned(fromByteOffset: base + 8 * wp + 8, as: SIMD16<Float>.self)
                p8.addProduct(d0, v); q8.addProduct(d1, v); p5.addProduct(e0, v); q5.addProduct(e1, v)
                v = xin.loadUnaligned(fromByteOffset: base + 12 * wp + 0, as: SIMD16<Float>.self)
                p6.addProduct(e0, v); q6.addProduct(e1, v)
                v = xin.loadUnaligned(fromByteOffset: base + 12 * wp + 4, as: SIMD16<Float>.self)
                p7.addProduct(e0, v); q7.addProduct(e1, v)
                v = xin.loadUnaligned(fromByteOffset: base + 12 * wp + 8, as: SIMD16<Float>.self)
                p8.addProduct(e0, v); q8.addProduct(e1, v)
                x += 16
            }
            y += 2
        }
        // An odd last row: one output row, nine taps.
        if y < h {
            var x = 0
            while x < w {
                let d0 = r0.loadUnaligned(fromByteOffset: 4 * (y * w + x), as: SIMD16<Float>.self)
                let d1 = r1.loadUnaligned(fromByteOffset: 4 * (y * w + x), as: SIMD16<Float>.self)
                let base = 4 * (y * wp + x)
                var v: SIMD16<Float>
                v = xin.loadUnaligned(fromByteOffset: base + 0, as: SIMD16<Float>.self)
                p0.addProduct(d0, v); q0.addProduct(d1, v)
                v = xin.loadUnaligned(fromByteOffset: base + 4, as: SIMD16<Float>.self)
                p1.addProduct(d0, v); q1.addProduct(d1, v)
                v = xin.loadUnaligned(fromByteOffset: base + 8, as: SIMD16<Float>.self)
                p2.addProduct(d0, v); q2.addProduct(d1, v)
                v = xin.loadUnaligned(fromByteOffset: base + 4 * wp + 0, as: SIMD16<Float>.self)
                p3.addProduct(d0, v); q3.addProduct(d1, v)
                v = xin.loadUnaligned(fromByteOffset: base + 4 * wp + 4, as: SIMD16<Float>.self)
                p4.addProduct(d0, v); q4.addProduct(d1, v)
                v = xin.loadUnaligned(fromByteOffset: base + 4 * wp + 8, as: SIMD16<Float>.self)
                p5.addProduct(d0, v); q5.addProduct(d1, v)
                v = xin.loadUnaligned(fromByteOffset: base + 8 * wp + 0, as: SIMD16<Float>.self)
                p6.addProduct(d0, v); q6.addProduct(d1, v)
                v = xin.loadUnaligned(fromByteOffset: base + 8 * wp + 4, as: SIMD16<Float>.self)
                p7.addProduct(d0, v); q7.addProduct(d1, v)
                v = xin.loadUnaligned(fromByteOffset: base + 8 * wp + 8, as: SIMD16<Float>.self)
                p8.addProduct(d0, v); q8.addProduct(d1, v)
                x += 16
            }
        }
        }
        var a = SIMD16<Float>(), b = SIMD16<Float>()
        a[0] = p0.sum(); a[1] = p1.sum(); a[2] = p2.sum(); a[3] = p3.sum(); a[4] = p4.sum()
        a[5] = p5.sum(); a[6] = p6.sum(); a[7] = p7.sum(); a[8] = p8.sum()
        b[0] = q0.sum(); b[1] = q1.sum(); b[2] = q2.sum(); b[3] = q3.sum(); b[4] = q4.sum()
        b[5] = q5.sum(); b[6] = q6.sum(); b[7] = q7.sum(); b[8] = q8.sum()
        return (a, b)
    }
}
