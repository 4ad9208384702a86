// Runs the Winograd F(2×2, 3×3) transforms and products.

/// Winograd F(2×2, 3×3) (Lavin & Gray 2015) for 3×3 stride-1 pad-1 convolutions of maps with
/// even height and width: each 2×2 block of outputs (a tile) comes from the 4×4 input window
/// around it with 16 multiplies per input channel instead of 36.
///
///   V = Bᵀ d B   per input tile d (4×4, stride 2, zero padding)      V [16][C][tiles]
///   U = G g Gᵀ   per 3×3 kernel g = W[o, c]                         U [16][M][C]
///   Mξ = Uξ · Vξ  16 SGEMMs [M, C] · [C, tiles]                      M [16][M][tiles]
///   Y = Aᵀ m A   per tile and output channel: the 2×2 outputs
///
/// with the standard matrices
///   Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1],  G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1],
///   Aᵀ = [1 1 1 0; 0 1 −1 −1].
/// Images are processed in chunks of about `chunkTiles` tiles (the SGEMM width). Two layouts of
/// the tile columns, so that the transforms always run on whole vectors:
/// - rows (maps with a multiple of 16 tiles per row, W = 32, 64, …): tiles numbered image by
///   image, row by row; a vector holds 16 tiles of a row;
/// - lanes (smaller maps): 16 images at a time in the lanes (`DirectConv.padLanes` /
///   `unpackLanes`), tile column g·16T + 16q + lane for image 16g + lane's tile q (T tiles per
///   image); a vector holds one tile of 16 images (missing images of a last partial group are
///   zeros, computed and dropped).
/// The input gradient of the convolution is the same operation with the flipped and transposed
/// kernel (`transformWeights(flipped: true)`).
public enum Winograd {
    /// Tiles per chunk (SGEMM columns): measured best around 256–512.
    static let chunkTiles = 256

    @inline(__always) static func tiles(height: Int, width: Int) -> Int { (height / 2) * (width / 2) }

    /// Whether H×W maps use the lanes layout (fewer than 16 tiles per row, or not a multiple).
    @inline(__always) static func usesLanes(width: Int) -> Bool { (width / 2) % 16 != 0 }

    /// Images per chunk for maps of `tiles` tiles (a multiple of 16 on the lanes layout).
    @inline(__always) static func chunkImages(tiles: Int, lanes: Bool) -> Int {
        lanes ? 16 * max(1, chunkTiles / (16 * max(1, tiles))) : max(1, chunkTiles / max(1, tiles))
    }

    /// Images per chunk on H×W maps (a multiple of 16 on the lanes layout): a group size that
    /// wastes no lanes.
    public static func chunkImages(height: Int, width: Int) -> Int {
        chunkImages(tiles: tiles(height: height, width: width), lanes: usesLanes(width: width))
    }

    /// Tile columns of a chunk of `images` images.
    @inline(__always) static func columns(images: Int, tiles: Int, lanes: Bool) -> Int {
        lanes ? (images + 15) / 16 * 16 * tiles : images * tiles
    }

    /// Whether an H×W map can be tiled (both even, non-empty).
    public static func supports(height: Int, width: Int) -> Bool {
        height > 0 && width > 0 && height % 2 == 0 && width % 2 == 0
    }

    /// Scratch floats `convolve` needs for `count` images of C → M or M → C channels on H×W maps.
    public static func scratchCount(inputs c: Int, outputs m: Int, height h: Int, width w: Int, images count: Int) -> Int {
        let t = tiles(height: h, width: w), lanes = usesLanes(width: w)
        let n = columns(images: min(count, chunkImages(tiles: t, lanes: lanes)), tiles: t, lanes: lanes)
        // (Symmetric in C and M: the input gradient runs the same operation M → C.)
        let staging = lanes ? 16 * max(c, m) * (h + 2) * (w + 2) : (h + 2) * (w + 2)
        return 16 * ((c + m) * roundUp16(n) + 32) + staging
    }

    @inline(__always) static func roundUp16(_ n: Int) -> Int { (n + 15) & ~15 }

    // MARK: weights  U = G g Gᵀ

    /// Floats between U's ξ-planes: one cache line more than M·C (a power of two in every
    /// layer of the model, which would map the transform's 16 store streams onto the same cache
    /// sets).
    public static func weightPlane(outputs m: Int, inputs c: Int) -> Int { m * c + 16 }

    /// Floats of U for M outputs and C inputs (16 ξ-planes).
    public static func weightCount(outputs m: Int, inputs c: Int) -> Int { 16 * weightPlane(outputs: m, inputs: c) }

    /// U[ξ][r][s] = (G g Gᵀ)[ξ] for every kernel W[o, c] (rows `ldw` floats apart, taps 3ky + kx):
    /// r = o, s = c (an [M, C] matrix per ξ), or with `flipped`, the kernel rotated by 180° and
    /// r = c, s = o ([C, M] per ξ: the input-gradient convolution); ξ-planes `weightPlane` apart.
    public static func transformWeights(_ w: UnsafePointer<Float>, ldw: Int, outputs m: Int, inputs c: Int,
                                        flipped: Bool, into u: UnsafeMutablePointer<Float>) {
        let rows = flipped ? c : m, cols = flipped ? m : c, plane = weightPlane(outputs: m, inputs: c)
        /// G applied to one column (a, b, c) of the kernel.
        @inline(__always) func g3(_ a: Float, _ b: Float, _ c: Float) -> (Float, Float, Float, Float) {
            (a, 0.5 * (a + b + c), 0.5 * (a - b + c), c)
        }
        // Rows of U are independent: split them over the workers (large layers hold ~10⁵ kernels).
        parallelChunks(rows) { range in
            for r in range {
                let dst = u + r * cols
                for s in 0..<cols {
                    let src = flipped ? w + s * ldw + r * 9 : w + r * ldw + s * 9
                    @inline(__always) func k(_ t: Int) -> Float { flipped ? src[8 - t] : src[t] }
                    // Columns of G g (4×3), then each row times Gᵀ.
                    let c0 = g3(k(0), k(3), k(6)), c1 = g3(k(1), k(4), k(7)), c2 = g3(k(2), k(5), k(8))
                    @inline(__always) func row(_ i: Int, _ a: Float, _ b: Float, _ cc: Float) {
                        let v = g3(a, b, cc)
                        dst[(4 * i) * plane + s] = v.0
                        dst[(4 * i + 1) * plane + s] = v.1
                        dst[(4 * i + 2) * plane + s] = v.2
                        dst[(4 * i + 3) * plane + s] = v.3
                    }
                    row(0, c0.0, c1.0, c2.0)
                    row(1, c0.1, c1.1, c2.1)
                    row(2, c0.2, c1.2, c2.2)
                    row(3, c0.3, c1.3, c2.3)
                }
            }
        }
    }

    // MARK: convolution  out (+)= W ⋆ source

    /// out[o] (+)= Σ_c W[o, c] ⋆ source[c] (3×3, pad 1) for `count` images of C channels, given
    /// the transformed weights U [16][M][C] (`transformWeights`, ξ-planes `weightPlane` apart). Image b's channel o goes to
    /// output.image(b) + o·output.channelStride (H×W, rows W apart).
    public static func convolve(source: Planes, count: Int, channels c: Int, height h: Int, width w: Int,
                                transformed u: UnsafePointer<Float>, outputs m: Int, output: Planes,
                                accumulate: Bool, scratch: UnsafeMutablePointer<Float>) {
        let t = tiles(height: h, width: w), lanes = usesLanes(width: w), step = chunkImages(tiles: t, lanes: lanes)
        for first in stride(from: 0, to: count, by: step) {
            let images = min(step, count - first), n = columns(images: images, tiles: t, lanes: lanes)
            let ld = roundUp16(n)
            // ξ-planes one cache line more than their C or M rows apart (power-of-two strides
            // would map the 16 streams of a transform onto the same cache sets).
            let vPlane = c * ld + 16, mPlane = m * ld + 16
            let v = scratch, product = v + 16 * vPlane, staging = product + 16 * mPlane
            transformInputs(source.starting(at: first), images: images, channels: c, height: h, width: w, into: v,
                            ld: ld, plane: vPlane, staging: staging)
            let uPlane = weightPlane(outputs: m, inputs: c)
            for xi in 0..<16 {
                sgemm(m: m, n: n, k: c, a: u + xi * uPlane, lda: c, b: v + xi * vPlane, ldb: ld, beta: 0,
                      c: product + xi * mPlane, ldc: ld)
            }
            if lanes {
                for g in stride(from: 0, to: images, by: 16) {
                    transformOutputLanes(product + g * t, ld: ld, plane: mPlane, outputs: m, height: h, width: w, into: staging)
                    DirectConv.unpackLanes(staging, count: min(16, images - g), channels: m, pixels: h * w,
                                           into: output.starting(at: first + g), accumulate: accumulate)
                }
            } else {
                for b in 0..<images {
                    transformOutput(product + b * t, ld: ld, plane: mPlane, outputs: m, height: h, width: w,
                                    into: output.image(first + b), channelStride: output.channelStride,
                                    accumulate: accumulate)
                }
            }
        }
    }

    // MARK: weight gradient  dW += Gᵀ dU G,  dUξ = Σ_tiles dMξ · Vξᵀ,  dM = A dY Aᵀ

    /// Scratch floats `weightGradient` needs (`scratchCount` plus the 16 planes of dU).
    public static func weightGradientScratchCount(inputs c: Int, outputs m: Int, height h: Int, width w: Int,
                                                  images count: Int) -> Int {
        weightCount(outputs: m, inputs: c) + scratchCount(inputs: c, outputs: m, height: h, width: w, images: count)
    }

    /// dW[o, c] += the gradient of Σ ⟨out[o], dY[o]⟩ with out = `convolve`, as the adjoint of its
    /// steps: per tile dM = A dY Aᵀ (4×4 from the 2×2 outputs), then 16 SGEMMs accumulate
    /// dUξ [M, C] = Σ_tiles dMξ · Vξᵀ over all `count` images, and finally each kernel's gradient
    /// is Gᵀ dU G (3×3 from 4×4). 16 multiply-adds per tile and (o, c) instead of 36.
    /// dY: image b's channel o at outputGradient.image(b) + o·channelStride (H×W); dW rows `ldw`
    /// floats apart, taps 3ky + kx, as W.
    public static func weightGradient(source: Planes, outputGradient dy: Planes, count: Int, channels c: Int,
                                      height h: Int, width w: Int, outputs m: Int,
                                      into dw: UnsafeMutablePointer<Float>, ldw: Int,
                                      scratch: UnsafeMutablePointer<Float>) {
        let t = tiles(height: h, width: w), lanes = usesLanes(width: w), step = chunkImages(tiles: t, lanes: lanes)
        let uPlane = weightPlane(outputs: m, inputs: c), du = scratch
        for first in stride(from: 0, to: count, by: step) {
            let images = min(step, count - first), n = columns(images: images, tiles: t, lanes: lanes)
            let ld = roundUp16(n)
            let vPlane = c * ld + 16, mPlane = m * ld + 16
            let v = du + 16 * uPlane, dm = v + 16 * vPlane, staging = dm + 16 * mPlane
            transformInputs(source.starting(at: first), images: images, channels: c, height: h, width: w, into: v,
                            ld: ld, plane: vPlane, staging: staging)
            if lanes {
                for g in stride(from: 0, to: images, by: 16) {
                    DirectConv.padLanes(dy.starting(at: first + g), count: min(16, images - g), channels: m,
                                        height: h, width: w, into: staging)
                    transformGradientLanes(staging, outputs: m, height: h, width: w, into: dm + g * t, ld: ld,
                                           plane: mPlane)
                }
            } else {
                for b in 0..<images {
                    transformGradient(dy.image(first + b), channelStride: dy.channelStride, outputs: m, height: h,
                                      width: w, into: dm + b * t, ld: ld, plane: mPlane)
                }
            }
            for xi in 0..<16 {
                sgemm(transposeB: true, m: m, n: c, k: n, a: dm + xi * mPlane, lda: ld, b: v + xi * vPlane, ldb: ld,
                      beta: first == 0 ? 0 : 1, c: du + xi * uPlane, ldc: c)
            }
        }
        guard count > 0 else { return }
        accumulateKernelGradients(du, plane: uPlane, outputs: m, inputs: c, into: dw, ldw: ldw)
    }

    /// dW[o, c] += Gᵀ dU[o, c] G for every kernel (dU [16][M][C], ξ-planes `plane` apart):
    /// along each axis (u₀, u₁, u₂, u₃) → (u₀ + ½(u₁ + u₂), ½(u₁ − u₂), ½(u₁ + u₂) + u₃).
    /// Serial: it runs inside a worker of the layer's parallel region, on that worker's dW.
    static func accumulateKernelGradients(_ du: UnsafePointer<Float>, plane: Int, outputs m: Int, inputs c: Int,
                                          into dw: UnsafeMutablePointer<Float>, ldw: Int) {
        for o in 0..<m {
            for ch in 0..<c {
                @inline(__always) func u(_ i: Int, _ j: Int) -> Float { du[(4 * i + j) * plane + o * c + ch] }
                @inline(__always) func gt(_ a: Float, _ b: Float, _ cc: Float, _ d: Float) -> (Float, Float, Float) {
                    let p = 0.5 * (b + cc)
                    return (a + p, 0.5 * (b - cc), p + d)
                }
                // Columns: Gᵀ on each of the four rows, then Gᵀ down the three columns.
                let r0 = gt(u(0, 0), u(0, 1), u(0, 2), u(0, 3)), r1 = gt(u(1, 0), u(1, 1), u(1, 2), u(1, 3))
                let r2 = gt(u(2, 0), u(2, 1), u(2, 2), u(2, 3)), r3 = gt(u(3, 0), u(3, 1), u(3, 2), u(3, 3))
                let k0 = gt(r0.0, r1.0, r2.0, r3.0), k1 = gt(r0.1, r1.1, r2.1, r3.1), k2 = gt(r0.2, r1.2, r2.2, r3.2)
                let g = dw + o * ldw + ch * 9
                g[0] += k0.0; g[1] += k1.0; g[2] += k2.0
                g[3] += k0.1; g[4] += k1.1; g[5] += k2.1
                g[6] += k0.2; g[7] += k1.2; g[8] += k2.2
            }
        }
    }

    /// dM = A dY Aᵀ for one image's tiles (M planes `channelStride` apart, H×W): tile q of channel
    /// o at dm + ξ·plane + o·ld + q, 16 tiles of a row per vector. Along each axis the 2 outputs
    /// (y₀, y₁) of a tile give (y₀, y₀ + y₁, y₀ − y₁, −y₁), the adjoint of Aᵀ.
    static func transformGradient(_ dy: UnsafePointer<Float>, channelStride: Int, outputs m: Int, height h: Int,
                                  width w: Int, into dm: UnsafeMutablePointer<Float>, ld: Int, plane: Int) {
        let tw = w / 2, th = h / 2
        for o in 0..<m {
            let src = dy + o * channelStride, dst = dm + o * ld
            for ty in 0..<th {
                let row0 = UnsafeRawPointer(src + 2 * ty * w), row1 = row0 + 4 * w
                for tx in stride(from: 0, to: tw, by: 16) {
                    let a = row0.loadUnaligned(fromByteOffset: 8 * tx, as: SIMD32<Float>.self)
                    let b = row1.loadUnaligned(fromByteOffset: 8 * tx, as: SIMD32<Float>.self)
                    gradientBlock(even(a), odd(a), even(b), odd(b), into: dst + ty * tw + tx, plane: plane)
                }
            }
        }
    }

    /// dM for 16 images in the lanes (dY padded [M][H+2][W+2][16], `DirectConv.padLanes`): tile q
    /// of channel o at dm + ξ·plane + o·ld + 16q.
    static func transformGradientLanes(_ padded: UnsafePointer<Float>, outputs m: Int, height h: Int, width w: Int,
                                       into dm: UnsafeMutablePointer<Float>, ld: Int, plane: Int) {
        let tw = w / 2, th = h / 2, wp = w + 2, row = 64 * wp
        for o in 0..<m {
            // Pixel (y, x) at padded (y + 1, x + 1).
            let src = UnsafeRawPointer(padded + o * (h + 2) * wp * 16) + row + 64
            for ty in 0..<th {
                for tx in 0..<tw {
                    let base = 2 * ty * row + 128 * tx
                    @inline(__always) func y(_ i: Int, _ j: Int) -> SIMD16<Float> {
                        src.loadUnaligned(fromByteOffset: base + i * row + 64 * j, as: SIMD16<Float>.self)
                    }
                    gradientBlock(y(0, 0), y(0, 1), y(1, 0), y(1, 1), into: dm + o * ld + 16 * (ty * tw + tx),
                                  plane: plane)
                }
            }
        }
    }

    /// One vector of tiles' 2×2 output gradients → their 16 dM vectors (ξ-planes `plane` apart).
    @inline(__always)
    static func gradientBlock(_ y00: SIMD16<Float>, _ y01: SIMD16<Float>, _ y10: SIMD16<Float>, _ y11: SIMD16<Float>,
                              into dm: UnsafeMutablePointer<Float>, plane: Int) {
        let dst = UnsafeMutableRawPointer(dm)
        // Rows: r_i = A applied down the two output rows; then A along each row.
        let r0 = (y00, y01), r1 = (y00 + y10, y01 + y11), r2 = (y00 - y10, y01 - y11), r3 = (-y10, -y11)
        @inline(__always) func put(_ i: Int, _ r: (SIMD16<Float>, SIMD16<Float>)) {
            dst.storeBytes(of: r.0, toByteOffset: 4 * (4 * i) * plane, as: SIMD16<Float>.self)
            dst.storeBytes(of: r.0 + r.1, toByteOffset: 4 * (4 * i + 1) * plane, as: SIMD16<Float>.self)
            dst.storeBytes(of: r.0 - r.1, toByteOffset: 4 * (4 * i + 2) * plane, as: SIMD16<Float>.self)
            dst.storeBytes(of: -r.1, toByteOffset: 4 * (4 * i + 3) * plane, as: SIMD16<Float>.self)
        }
        put(0, r0); put(1, r1); put(2, r2); put(3, r3)
    }

    // MARK: input transform  V = Bᵀ d B

    /// V for a chunk of `images` images (`source` from its first image) in the chunk's column
    /// layout (`Winograd`'s header): 16 images at a time through the lanes (`staging` holds
    /// their padded maps), else image by image (`staging` holds one padded plane).
    static func transformInputs(_ source: Planes, images: Int, channels c: Int, height h: Int, width w: Int,
                                into v: UnsafeMutablePointer<Float>, ld: Int, plane: Int,
                                staging: UnsafeMutablePointer<Float>) {
        let t = tiles(height: h, width: w)
        if usesLanes(width: w) {
            for g in stride(from: 0, to: images, by: 16) {
                DirectConv.padLanes(source.starting(at: g), count: min(16, images - g), channels: c, height: h,
                                    width: w, into: staging)
                transformInputLanes(staging, channels: c, height: h, width: w, into: v + g * t, ld: ld, plane: plane)
            }
        } else {
            for b in 0..<images {
                transformInput(source.image(b), channelStride: source.channelStride, channels: c, height: h,
                               width: w, padded: staging, into: v + b * t, ld: ld, plane: plane)
            }
        }
    }


    /// V[ξ][c][tile] for the tiles of one image (C planes `channelStride` apart), ξ-planes
    /// `plane` floats apart, channel rows `ld` apart; `padded` holds one (H+2)×(W+2) plane.
    static func transformInput(_ source: UnsafePointer<Float>, channelStride: Int, channels c: Int, height h: Int,
                               width w: Int, padded: UnsafeMutablePointer<Float>, into v: UnsafeMutablePointer<Float>,
                               ld: Int, plane: Int) {
        let tw = w / 2, th = h / 2, wp = w + 2
        for ch in 0..<c {
            DirectConv.pad(source + ch * channelStride, channelStride: 0, channels: 1, height: h, width: w,
                           into: padded)
            let out = v + ch * ld
            for ty in 0..<th {
                let p0 = padded + 2 * ty * wp, row = out + ty * tw
                for tx in stride(from: 0, to: tw, by: 16) {
                    inputBlock(p0 + 2 * tx, rowStride: wp, into: row + tx, plane: plane)
                }
            }
        }
    }

    /// One vector of 16 tiles of a row: columns 2tx + j of the four padded rows from `p0` (rows
    /// `rowStride` apart) → V at `v` (ξ-planes `plane` apart). Out of line (one call per 16 tiles), like `outputBlock`.
    @inline(never)
    static func inputBlock(_ p0: UnsafePointer<Float>, rowStride: Int, into v: UnsafeMutablePointer<Float>,
                           plane: Int) {
        /// Columns 2tx + j, j = 0…3, of row i.
        @inline(__always) func columns(_ i: Int) -> (SIMD16<Float>, SIMD16<Float>, SIMD16<Float>, SIMD16<Float>) {
            let p = UnsafeRawPointer(p0 + i * rowStride)
            let a = p.loadUnaligned(as: SIMD32<Float>.self), b = p.loadUnaligned(fromByteOffset: 8, as: SIMD32<Float>.self)
            return (even(a), odd(a), even(b), odd(b))
        }
        let d0 = columns(0), d1 = columns(1), d2 = columns(2), d3 = columns(3)
        let dst = UnsafeMutableRawPointer(v)
        @inline(__always) func put(_ i: Int, _ a: SIMD16<Float>, _ b: SIMD16<Float>, _ c: SIMD16<Float>,
                                   _ d: SIMD16<Float>) {
            dst.storeBytes(of: a - c, toByteOffset: 4 * (4 * i) * plane, as: SIMD16<Float>.self)
            dst.storeBytes(of: b + c, toByteOffset: 4 * (4 * i + 1) * plane, as: SIMD16<Float>.self)
            dst.storeBytes(of: c - b, toByteOffset: 4 * (4 * i + 2) * plane, as: SIMD16<Float>.self)
            dst.storeBytes(of: b - d, toByteOffset: 4 * (4 * i + 3) * plane, as: SIMD16<Float>.self)
        }
        put(0, d0.0 - d2.0, d0.1 - d2.1, d0.2 - d2.2, d0.3 - d2.3)
        put(1, d1.0 + d2.0, d1.1 + d2.1, d1.2 + d2.2, d1.3 + d2.3)
        put(2, d2.0 - d1.0, d2.1 - d1.1, d2.2 - d1.2, d2.3 - d1.3)
        put(3, d1.0 - d3.0, d1.1 - d3.1, d1.2 - d3.2, d1.3 - d3.3)
    }

    /// V for 16 images in the lanes (padded [C][H+2][W+2][16], `DirectConv.padLanes`): tile q
    /// of channel c at v + ξ·plane + c·ld + 16q.
    static func transformInputLanes(_ padded: UnsafePointer<Float>, channels c: Int, height h: Int, width w: Int,
                                    into v: UnsafeMutablePointer<Float>, ld: Int, plane floats: Int) {
        let tw = w / 2, th = h / 2, wp = w + 2, plane = 4 * floats, row = 64 * wp
        for ch in 0..<c {
            let src = UnsafeRawPointer(padded + ch * (h + 2) * wp * 16)
            let dst = UnsafeMutableRawPointer(v + ch * ld)
            for ty in 0..<th {
                for tx in 0..<tw {
                    let base = 2 * ty * row + 128 * tx
                    @inline(__always) func d(_ i: Int, _ j: Int) -> SIMD16<Float> {
                        src.loadUnaligned(fromByteOffset: base + i * row + 64 * j, as: SIMD16<Float>.self)
                    }
                    let out = 64 * (ty * tw + tx)
                    @inline(__always) func put(_ i: Int, _ a: SIMD16<Float>, _ b: SIMD16<Float>, _ cc: SIMD16<Float>,
                                               _ e: SIMD16<Float>) {
                        dst.storeBytes(of: a - cc, toByteOffset: out + (4 * i) * plane, as: SIMD16<Float>.self)
                        dst.storeBytes(of: b + cc, toByteOffset: out + (4 * i + 1) * plane, as: SIMD16<Float>.self)
                        dst.storeBytes(of: cc - b, toByteOffset: out + (4 * i + 2) * plane, as: SIMD16<Float>.self)
                        dst.storeBytes(of: b - e, toByteOffset: out + (4 * i + 3) * plane, as: SIMD16<Float>.self)
                    }
                    let d00 = d(0, 0), d01 = d(0, 1), d02 = d(0, 2), d03 = d(0, 3)
                    let d10 = d(1, 0), d11 = d(1, 1), d12 = d(1, 2), d13 = d(1, 3)
                    let d20 = d(2, 0), d21 = d(2, 1), d22 = d(2, 2), d23 = d(2, 3)
                    let d30 = d(3, 0), d31 = d(3, 1), d32 = d(3, 2), d33 = d(3, 3)
                    put(0, d00 - d20, d01 - d21, d02 - d22, d03 - d23)
                    put(1, d10 + d20, d11 + d21, d12 + d22, d13 + d23)
                    put(2, d20 - d10, d21 - d11, d22 - d12, d23 - d13)
                    put(3, d10 - d30, d11 - d31, d12 - d32, d13 - d33)
                }
            }
        }
    }

    // MARK: output transform  Y = Aᵀ m A

    /// The outputs of 16 images in the lanes, [M][H·W][16] (for `DirectConv.unpackLanes`), from
    /// their tiles' products (tile q of channel o at product + ξ·plane + o·ld + 16q).
    static func transformOutputLanes(_ product: UnsafePointer<Float>, ld: Int, plane floats: Int, outputs m: Int,
                                     height h: Int,
                                     width w: Int, into out: UnsafeMutablePointer<Float>) {
        let tw = w / 2, th = h / 2, plane = 4 * floats, row = 64 * w
        for o in 0..<m {
            let src = UnsafeRawPointer(product + o * ld), dst = UnsafeMutableRawPointer(out + o * h * w * 16)
            for ty in 0..<th {
                for tx in 0..<tw {
                    let base = 64 * (ty * tw + tx)
                    @inline(__always) func rowSums(_ i: Int) -> (SIMD16<Float>, SIMD16<Float>) {
                        let a = src.loadUnaligned(fromByteOffset: base + (4 * i) * plane, as: SIMD16<Float>.self)
                        let b = src.loadUnaligned(fromByteOffset: base + (4 * i + 1) * plane, as: SIMD16<Float>.self)
                        let c = src.loadUnaligned(fromByteOffset: base + (4 * i + 2) * plane, as: SIMD16<Float>.self)
                        let d = src.loadUnaligned(fromByteOffset: base + (4 * i + 3) * plane, as: SIMD16<Float>.self)
                        return (a + b + c, b - c - d)
                    }
                    let s0 = rowSums(0), s1 = rowSums(1), s2 = rowSums(2), s3 = rowSums(3)
                    let at = 2 * ty * row + 128 * tx
                    dst.storeBytes(of: s0.0 + s1.0 + s2.0, toByteOffset: at, as: SIMD16<Float>.self)
                    dst.storeBytes(of: s0.1 + s1.1 + s2.1, toByteOffset: at + 64, as: SIMD16<Float>.self)
                    dst.storeBytes(of: s1.0 - s2.0 - s3.0, toByteOffset: at + row, as: SIMD16<Float>.self)
                    dst.storeBytes(of: s1.1 - s2.1 - s3.1, toByteOffset: at + row + 64, as: SIMD16<Float>.self)
                }
            }
        }
    }

    /// The H×W outputs of one image from its tiles' products (ξ-planes `plane` floats apart,
    /// channel rows `ld` apart): out[o] (+)= Aᵀ m A, channel o at out + o·channelStride.
    static func transformOutput(_ product: UnsafePointer<Float>, ld: Int, plane: Int, outputs m: Int, height h: Int,
                                width w: Int,
                                into out: UnsafeMutablePointer<Float>, channelStride: Int, accumulate: Bool) {
        let tw = w / 2, th = h / 2
        for o in 0..<m {
            let src = product + o * ld, dst = out + o * channelStride
            for ty in 0..<th {
                let tiles = src + ty * tw, row0 = dst + 2 * ty * w, row1 = row0 + w
                for tx in stride(from: 0, to: tw, by: 16) {
                    outputBlock(tiles + tx, plane: plane, row0 + 2 * tx, row1 + 2 * tx, accumulate: accumulate)
                }
            }
        }
    }

    /// One vector of 16 tiles of a row: their 2×2 outputs into two output rows (32 floats each).
    @inline(never)
    static func outputBlock(_ tiles: UnsafePointer<Float>, plane: Int, _ row0: UnsafeMutablePointer<Float>,
                            _ row1: UnsafeMutablePointer<Float>, accumulate: Bool) {
        let s = UnsafeRawPointer(tiles)
        @inline(__always) func ld16(_ xi: Int) -> SIMD16<Float> {
            s.loadUnaligned(fromByteOffset: 4 * xi * plane, as: SIMD16<Float>.self)
        }
        // Aᵀ on each row i of m: (m0 + m1 + m2, m1 − m2 − m3).
        @inline(__always) func rowSums(_ i: Int) -> (SIMD16<Float>, SIMD16<Float>) {
            let a = ld16(4 * i), b = ld16(4 * i + 1), c = ld16(4 * i + 2), d = ld16(4 * i + 3)
            return (a + b + c, b - c - d)
        }
        let s0 = rowSums(0), s1 = rowSums(1), s2 = rowSums(2), s3 = rowSums(3)
        let top = interleave(s0.0 + s1.0 + s2.0, s0.1 + s1.1 + s2.1)
        let bottom = interleave(s1.0 - s2.0 - s3.0, s1.1 - s2.1 - s3.1)
        // Stored as SIMD16 halves: arithmetic on SIMD32 compiles to a scalar loop through the stack.
        @inline(__always) func store(_ v: SIMD32<Float>, _ row: UnsafeMutablePointer<Float>) {
            let r = UnsafeMutableRawPointer(row)
            var low = v.lowHalf, high = v.highHalf
            if accumulate {
                low += r.loadUnaligned(as: SIMD16<Float>.self)
                high += r.loadUnaligned(fromByteOffset: 64, as: SIMD16<Float>.self)
            }
            r.storeBytes(of: low, as: SIMD16<Float>.self)
            r.storeBytes(of: high, toByteOffset: 64, as: SIMD16<Float>.self)
        }
        store(top, row0)
        store(bottom, row1)
    }

    // The standard library's `evenHalf`/`oddHalf` getters stay out-of-line calls in this package's
    // build, and arithmetic on SIMD32 runs element by element through the stack; these helpers
    // are written so that LLVM turns them into `vpermt2ps` permutes (check with objdump that the
    // transforms contain no calls).

    /// (a₀, b₀, a₁, b₁, …, a₁₅, b₁₅): splitting a 32-vector into its even and odd halves moves
    /// element i to 16·i mod 31; four splits move it to 2·i mod 31 (2⁵ ≡ 1), which interleaves,
    /// and LLVM folds the four into two permutes (a direct element-wise loop does not fold).
    @inline(__always)
    static func interleave(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD32<Float> {
        var v = SIMD32(lowHalf: a, highHalf: b)
        v = SIMD32(lowHalf: even(v), highHalf: odd(v))
        v = SIMD32(lowHalf: even(v), highHalf: odd(v))
        v = SIMD32(lowHalf: even(v), highHalf: odd(v))
        return SIMD32(lowHalf: even(v), highHalf: odd(v))
    }

    /// Elements 0, 2, …, 30 of v.
    @inline(__always)
    static func even(_ v: SIMD32<Float>) -> SIMD16<Float> {
        var r = SIMD16<Float>()
        for i in 0..<16 { r[i] = v[2 * i] }
        return r
    }

    /// Elements 1, 3, …, 31 of v.
    @inline(__always)
    static func odd(_ v: SIMD32<Float>) -> SIMD16<Float> {
        var r = SIMD16<Float>()
        for i in 0..<16 { r[i] = v[2 * i + 1] }
        return r
    }
}
