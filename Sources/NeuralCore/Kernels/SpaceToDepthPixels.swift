// Runs the space-to-depth loops of 4×4 stride-2 convolutions in the pixel layout.

/// 4×4 stride-2 pad-1 convolutions with few input channels (the encoder's RGB layer) as direct
/// 2×2 convolutions of the input's space-to-depth, in the pixel layout (16 output pixels of a
/// row per vector, one image at a time). With 3 input channels im2col + SGEMM spends most of
/// its time packing a 48-deep matrix; here the forward pass is `DirectConv.forward` on S and
/// the weight gradient a direct kernel, with no column matrix at all.
///
/// S, for one C×H×W image padded by 1 (H, W even, W/2 a multiple of 16): channel (c, py, px) of
/// S holds padded[c][2i + py][2j + px] on an (H/2 + 1) × (W/2 + 1) grid, and the convolution is
/// out[o][y][x] = Σ_{s, a, b} W2[o][s][a][b] · S[s][y + a][x + b] with
/// W2[o][(c, py, px)][a][b] = W[o][c][2a + py][2b + px] (as `SpaceToDepthPixelsKernel` packs it, `DirectConv.packSpaceToDepth`).
extension DirectConv {
    /// Whether a 4×4 stride-2 pad-1 convolution of an H×W map can run in the pixel layout.
    static func supportsSpaceToDepthPixels(height h: Int, width w: Int) -> Bool {
        h % 2 == 0 && w % 32 == 0 && h >= 2
    }

    /// Floats of one image's S: 4C planes of (H/2 + 1) × (W/2 + 1).
    static func spaceToDepthPixelsCount(channels c: Int, height h: Int, width w: Int) -> Int {
        4 * c * (h / 2 + 1) * (w / 2 + 1)
    }

    /// Writes S for one image (channel c's plane at image + c · channelStride, rows W apart):
    /// each input row is split into its even and odd columns, which land in the (py, 1) and
    /// (py, 0) planes of its row parity py; the padding border stays zero.
    static func spaceToDepthPixels(_ image: UnsafePointer<Float>, channelStride: Int, channels: Int,
                                   height h: Int, width w: Int, into s: UnsafeMutablePointer<Float>) {
        let hs = h / 2 + 1, ws = w / 2 + 1
        fillZero(s, spaceToDepthPixelsCount(channels: channels, height: h, width: w))
        for c in 0..<channels {
            for r in 0..<h {
                // Padded row r + 1: parity py, S row i. Column k + 1: even k → (px 1, j k/2),
                // odd k → (px 0, j (k + 1)/2).
                let py = (r + 1) & 1, i = (r + 1) >> 1
                let row = UnsafeRawPointer(image + c * channelStride + r * w)
                let evens = UnsafeMutableRawPointer(s + ((4 * c + 2 * py + 1) * hs + i) * ws)
                let odds = UnsafeMutableRawPointer(s + ((4 * c + 2 * py) * hs + i) * ws + 1)
                for v in stride(from: 0, to: w / 2, by: 16) {
                    let pair = row.loadUnaligned(fromByteOffset: 8 * v, as: SIMD32<Float>.self)
                    evens.storeBytes(of: Winograd.even(pair), toByteOffset: 4 * v, as: SIMD16<Float>.self)
                    odds.storeBytes(of: Winograd.odd(pair), toByteOffset: 4 * v, as: SIMD16<Float>.self)
                }
            }
        }
    }

    /// dW[o][c][2a + py][2b + px] += Σ_{y, x} dY[o][y][x] · S[(c, py, px)][y + a][x + b] for one
    /// image (dY's channel planes `gradientStride` floats apart, rows `layout.outputRowStride`;
    /// dW rows `ldw` floats apart, as W). Blocks of 4 outputs × the 4 taps of one S channel:
    /// 16 accumulators, 4 + 4 loads per 16 FMAs, one 16-lane reduction per block.
    static func spaceToDepthWeightGradient(outputGradient dy: UnsafePointer<Float>, gradientStride: Int,
                                           outputs m: Int, s: UnsafePointer<Float>, channels c: Int,
                                           layout: DirectLayout, into dw: UnsafeMutablePointer<Float>, ldw: Int) {
        let h = layout.height, vectors = layout.vectorsPerRow
        let grow = 4 * layout.outputRowStride, row = 4 * layout.rowStride, plane = layout.plane
        for o in stride(from: 0, to: m, by: 4) {
            // A partial last block repeats its last output (its sums are not stored).
            @inline(__always) func outputPlane(_ j: Int) -> UnsafeRawPointer {
                UnsafeRawPointer(dy + min(o + j, m - 1) * gradientStride)
            }
            let g0 = outputPlane(0), g1 = outputPlane(1), g2 = outputPlane(2), g3 = outputPlane(3)
            for ch in 0..<(4 * c) {
                var a0 = SIMD16<Float>(), a1 = SIMD16<Float>(), a2 = SIMD16<Float>(), a3 = SIMD16<Float>()
                var b0 = SIMD16<Float>(), b1 = SIMD16<Float>(), b2 = SIMD16<Float>(), b3 = SIMD16<Float>()
                var c0 = SIMD16<Float>(), c1 = SIMD16<Float>(), c2 = SIMD16<Float>(), c3 = SIMD16<Float>()
                var d0 = SIMD16<Float>(), d1 = SIMD16<Float>(), d2 = SIMD16<Float>(), d3 = SIMD16<Float>()
                let input = UnsafeRawPointer(s + ch * plane)
                for y in 0..<h {
                    for v in 0..<vectors {
                        let go = y * grow + 64 * v, xo = y * row + 64 * v
                        let e0 = g0.loadUnaligned(fromByteOffset: go, as: SIMD16<Float>.self)
                        let e1 = g1.loadUnaligned(fromByteOffset: go, as: SIMD16<Float>.self)
                        let e2 = g2.loadUnaligned(fromByteOffset: go, as: SIMD16<Float>.self)
                        let e3 = g3.loadUnaligned(fromByteOffset: go, as: SIMD16<Float>.self)
                        var x = input.loadUnaligned(fromByteOffset: xo, as: SIMD16<Float>.self)
                        a0.addProduct(e0, x); b0.addProduct(e1, x); c0.addProduct(e2, x); d0.addProduct(e3, x)
                        x = input.loadUnaligned(fromByteOffset: xo + 4, as: SIMD16<Float>.self)
                        a1.addProduct(e0, x); b1.addProduct(e1, x); c1.addProduct(e2, x); d1.addProduct(e3, x)
                        x = input.loadUnaligned(fromByteOffset: xo + row, as: SIMD16<Float>.self)
                        a2.addProduct(e0, x); b2.addProduct(e1, x); c2.addProduct(e2, x); d2.addProduct(e3, x)
                        x = input.loadUnaligned(fromByteOffset: xo + row + 4, as: SIMD16<Float>.self)
                        a3.addProduct(e0, x); b3.addProduct(e1, x); c3.addProduct(e2, x); d3.addProduct(e3, x)
                    }
                }
                // Lane 4j + t: output o + j, tap t = 2a + b.
                let sums = sums16(a0, a1, a2, a3, b0, b1, b2, b3, c0, c1, c2, c3, d0, d1, d2, d3)
                let ci = ch >> 2, py = (ch >> 1) & 1, px = ch & 1
                for j in 0..<min(4, m - o) {
                    let target = dw + (o + j) * ldw + ci * 16 + py * 4 + px
                    target[0] += sums[4 * j]          // a 0, b 0
                    target[2] += sums[4 * j + 1]      // a 0, b 1
                    target[8] += sums[4 * j + 2]      // a 1, b 0
                    target[10] += sums[4 * j + 3]     // a 1, b 1
                }
            }
        }
    }
}

extension DirectLayout {
    /// 16 output pixels of a row per vector, one image: the valid 2×2 convolution of an
    /// (H/2 + 1) × (W/2 + 1) space-to-depth map to H/2 × W/2 (`DirectConv.spaceToDepthPixels`).
    static func spaceToDepthPixels(height h: Int, width w: Int) -> DirectLayout {
        let hs = h / 2 + 1, ws = w / 2 + 1
        return DirectLayout(plane: hs * ws, rowStride: ws, tapStride: 1, vectorsPerRow: w / 32,
                            outputRowStride: w / 2, height: h / 2, kernel: 2)
    }
}
