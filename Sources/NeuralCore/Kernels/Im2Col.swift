// Runs im2col and col2im (a convolution's column matrix); image layouts and convolution shapes.

/// Where a run of images lies in memory: image `n`'s channel `c` is an H×W plane (rows
/// contiguous, row stride W) starting at `base + n * imageStride + c * channelStride`.
///
/// Two layouts occur:
/// - NCHW (a `Tensor`): imageStride = C·H·W, channelStride = H·W.
/// - grouped, the layout of a GEMM over `g` images at once: a [C, g·H·W] matrix whose row c
///   holds channel c of every image side by side, so imageStride = H·W, channelStride = g·H·W.
/// The convolution kernels read and write both through this one description.
public struct Planes: @unchecked Sendable {
    public var base: UnsafeMutablePointer<Float>
    public var imageStride: Int
    public var channelStride: Int

    public init(base: UnsafeMutablePointer<Float>, imageStride: Int, channelStride: Int) {
        self.base = base
        self.imageStride = imageStride
        self.channelStride = channelStride
    }

    /// The images of an NCHW buffer with `channels` planes of `pixels` each.
    public static func nchw(_ base: UnsafeMutablePointer<Float>, channels: Int, pixels: Int) -> Planes {
        Planes(base: base, imageStride: channels * pixels, channelStride: pixels)
    }

    /// A grouped [channels, count·pixels] matrix at `base` (see the type's comment).
    public static func grouped(_ base: UnsafeMutablePointer<Float>, count: Int, pixels: Int) -> Planes {
        Planes(base: base, imageStride: pixels, channelStride: count * pixels)
    }

    @inline(__always) public func image(_ n: Int) -> UnsafeMutablePointer<Float> { base + n * imageStride }

    /// The same layout starting at image `first` (so that image 0 of the result is image `first`).
    @inline(__always) public func starting(at first: Int) -> Planes {
        Planes(base: base + first * imageStride, imageStride: imageStride, channelStride: channelStride)
    }
}

/// The shape arithmetic of one 2-D convolution (cross-correlation) of a C×H×W image:
/// out[o, y, x] = Σ_{c,ky,kx} W[o, c, ky, kx] · in[c, y·s − p + ky, x·s − p + kx], zero outside.
public struct ConvGeometry: Equatable, Sendable {
    public var channels: Int
    public var height: Int
    public var width: Int
    public var kernelHeight: Int
    public var kernelWidth: Int
    public var stride: Int
    public var padding: Int

    public init(channels: Int, height: Int, width: Int, kernelHeight: Int, kernelWidth: Int,
                stride: Int = 1, padding: Int = 0) {
        precondition(channels > 0 && height > 0 && width > 0 && kernelHeight > 0 && kernelWidth > 0
                     && stride > 0 && padding >= 0, "ConvGeometry: bad sizes")
        self.channels = channels
        self.height = height
        self.width = width
        self.kernelHeight = kernelHeight
        self.kernelWidth = kernelWidth
        self.stride = stride
        self.padding = padding
        precondition(height + 2 * padding >= kernelHeight && width + 2 * padding >= kernelWidth,
                     "ConvGeometry: kernel \(kernelHeight)×\(kernelWidth) larger than padded input \(height)×\(width)")
    }

    public var outputHeight: Int { (height + 2 * padding - kernelHeight) / stride + 1 }
    public var outputWidth: Int { (width + 2 * padding - kernelWidth) / stride + 1 }
    public var outputPixels: Int { outputHeight * outputWidth }
    public var inputPixels: Int { height * width }
    /// Rows of the column matrix: one per (channel, ky, kx).
    public var patchSize: Int { channels * kernelHeight * kernelWidth }

    /// A stride-1 convolution whose output has the input's size (2p = k − 1, e.g. 3×3 pad 1):
    /// each column-matrix row is then the input plane shifted by (ky − p, kx − p) in the flat
    /// index, which `im2col`/`col2im` copy as one contiguous run per row instead of per pixel row.
    public var isSame: Bool { stride == 1 && outputHeight == height && outputWidth == width }

    /// A 4×4 stride-2 pad-1 convolution of an even-sized map (the encoder's): `im2col` and
    /// `col2im` then go through the map's four phase planes (`im2colPhases`).
    public var isHalvingFourByFour: Bool {
        stride == 2 && kernelHeight == 4 && kernelWidth == 4 && padding == 1 && height % 2 == 0 && width % 2 == 0
    }

    /// Output positions x (along one axis of length `outputLength`) whose input index
    /// x·s − p + k falls inside [0, inputLength).
    @inline(__always)
    func validRange(tap k: Int, inputLength: Int, outputLength: Int) -> Range<Int> {
        let first = padding - k
        let lo = first <= 0 ? 0 : (first + stride - 1) / stride
        let last = inputLength - 1 + padding - k
        let hi = last < 0 ? 0 : min(outputLength, last / stride + 1)
        return lo..<max(lo, hi)
    }
}

/// im2col: unfolds image `source` (channel planes `channelStride` apart) into the column matrix
/// col[K = C·kh·kw, P = Hout·Wout], row (c·kh + ky)·kw + kx, column y·Wout + x, holding
/// in[c, y·s − p + ky, x·s − p + kx] (0 in the padding). Row r starts at `column + r·ldc`, so
/// several images can sit side by side in one matrix (ldc = g·P, image b at column + b·P).
public func im2col(_ g: ConvGeometry, source: UnsafePointer<Float>, channelStride: Int,
                   column: UnsafeMutablePointer<Float>, ldc: Int) {
    if g.isSame {
        im2colSame(g, source: source, channelStride: channelStride, column: column, ldc: ldc)
        return
    }
    if g.isHalvingFourByFour {
        im2colPhases(g, source: source, channelStride: channelStride, column: column, ldc: ldc)
        return
    }
    let oh = g.outputHeight, ow = g.outputWidth, s = g.stride, p = g.padding
    for c in 0..<g.channels {
        let plane = source + c * channelStride
        for ky in 0..<g.kernelHeight {
            let rows = g.validRange(tap: ky, inputLength: g.height, outputLength: oh)
            for kx in 0..<g.kernelWidth {
                let cols = g.validRange(tap: kx, inputLength: g.width, outputLength: ow)
                let dst = column + ((c * g.kernelHeight + ky) * g.kernelWidth + kx) * ldc
                // Rows of the output whose input row is padding are zero.
                if rows.lowerBound > 0 { dst.update(repeating: 0, count: rows.lowerBound * ow) }
                if rows.upperBound < oh {
                    (dst + rows.upperBound * ow).update(repeating: 0, count: (oh - rows.upperBound) * ow)
                }
                for y in rows {
                    let out = dst + y * ow
                    let src = plane + (y * s - p + ky) * g.width + (kx - p)
                    if cols.lowerBound > 0 { out.update(repeating: 0, count: cols.lowerBound) }
                    if s == 1 {
                        (out + cols.lowerBound).update(from: src + cols.lowerBound, count: cols.count)
                    } else {
                        gatherStrided(out, src, cols, stride: s)
                    }
                    if cols.upperBound < ow { (out + cols.upperBound).update(repeating: 0, count: ow - cols.upperBound) }
                }
            }
        }
    }
}

/// col2im, the adjoint of `im2col`: **adds** every entry of the column matrix back onto the
/// input position it was read from (padding entries are dropped). With `destination` zeroed
/// first, ⟨im2col(x), col⟩ = ⟨x, col2im(col)⟩.
public func col2im(_ g: ConvGeometry, column: UnsafePointer<Float>, ldc: Int,
                   destination: UnsafeMutablePointer<Float>, channelStride: Int) {
    if g.isSame {
        col2imSame(g, column: column, ldc: ldc, destination: destination, channelStride: channelStride)
        return
    }
    if g.isHalvingFourByFour {
        col2imPhases(g, column: column, ldc: ldc, destination: destination, channelStride: channelStride)
        return
    }
    let oh = g.outputHeight, ow = g.outputWidth, s = g.stride, p = g.padding
    for c in 0..<g.channels {
        let plane = destination + c * channelStride
        for ky in 0..<g.kernelHeight {
            let rows = g.validRange(tap: ky, inputLength: g.height, outputLength: oh)
            for kx in 0..<g.kernelWidth {
                let cols = g.validRange(tap: kx, inputLength: g.width, outputLength: ow)
                let src = column + ((c * g.kernelHeight + ky) * g.kernelWidth + kx) * ldc
                for y in rows {
                    let from = src + y * ow
                    let to = plane + (y * s - p + ky) * g.width + (kx - p)
                    if s == 1 {
                        for x in cols { to[x] += from[x] }
                    } else {
                        scatterAddStrided(to, from, cols, stride: s)
                    }
                }
            }
        }
    }
}

// MARK: "same" convolutions: flat shifted vector copies

/// im2col for `isSame` geometries. Row (c, ky, kx) is plane c read at flat offset
/// (ky − p)·W + (kx − p). The plane is first copied into a buffer with W·p + p zeros on both
/// sides, so a shift by whole rows reads zeros past the top and bottom; the lanes whose column
/// x + kx − p falls outside [0, W) (read from the neighbouring row) are then blended to zero.
/// Everything moves in 16-float vectors: small maps (4×4, 8×8) cost a few instructions a row.
func im2colSame(_ g: ConvGeometry, source: UnsafePointer<Float>, channelStride: Int,
                column: UnsafeMutablePointer<Float>, ldc: Int) {
    let w = g.width, px = g.height * g.width, p = g.padding
    let margin = p * w + p, padded = px + 2 * margin + 16
    withUnsafeTemporaryAllocation(of: Float.self, capacity: padded + g.kernelWidth * px) { scratch in
        let tmp = scratch.baseAddress!, keep = tmp + padded   // keep[kx · px + i]: 1 where column valid
        fillZero(tmp, padded)
        fillColumnMasks(keep, g)
        for c in 0..<g.channels {
            copyFloats(tmp + margin, source + c * channelStride, px)
            for ky in 0..<g.kernelHeight {
                for kx in 0..<g.kernelWidth {
                    let dst = column + ((c * g.kernelHeight + ky) * g.kernelWidth + kx) * ldc
                    let src = tmp + margin + (ky - p) * w + (kx - p)
                    if kx == p {
                        copyFloats(dst, src, px)
                    } else {
                        maskedCopy(dst, src, keep + kx * px, px)
                    }
                }
            }
        }
    }
}

/// col2im for `isSame` geometries, the adjoint of `im2colSame`: for each channel the nine
/// masked rows are added, shifted, into a zero-margined buffer (masked lanes add 0 to a
/// neighbour or a margin), whose middle is then added onto the destination plane.
func col2imSame(_ g: ConvGeometry, column: UnsafePointer<Float>, ldc: Int,
                destination: UnsafeMutablePointer<Float>, channelStride: Int) {
    let w = g.width, px = g.height * g.width, p = g.padding
    let margin = p * w + p, padded = px + 2 * margin + 16
    withUnsafeTemporaryAllocation(of: Float.self, capacity: padded + g.kernelWidth * px) { scratch in
        let tmp = scratch.baseAddress!, keep = tmp + padded
        fillColumnMasks(keep, g)
        for c in 0..<g.channels {
            fillZero(tmp, padded)
            for ky in 0..<g.kernelHeight {
                for kx in 0..<g.kernelWidth {
                    let src = column + ((c * g.kernelHeight + ky) * g.kernelWidth + kx) * ldc
                    let dst = tmp + margin + (ky - p) * w + (kx - p)
                    if kx == p {
                        addFloats(dst, src, px)
                    } else {
                        maskedAdd(dst, src, keep + kx * px, px)
                    }
                }
            }
            addFloats(destination + c * channelStride, tmp + margin, px)
        }
    }
}

// MARK: 4×4 stride-2 pad-1 convolutions: phase planes

/// The phase planes of one channel, Q[py][px][u][v] = in[2u + py][2v + px] (u < H/2, v < W/2),
/// each with a zero margin of W/2 + 1 floats on both sides, and the masks of the two column
/// shifts: tap k of an axis reads phase (k + 1) & 1 at output offset (k − 1 − phase) / 2,
/// i.e. k = 0, 1, 2, 3 → (phase 1, −1), (0, 0), (1, 0), (0, +1).
private struct PhasePlanes {
    let oh: Int, ow: Int, px: Int, margin: Int, slot: Int
    let base: UnsafeMutablePointer<Float>
    /// keep[0 ..< px]: column v − 1 inside the plane; keep[px ..< 2px]: column v + 1 inside.
    let keep: UnsafeMutablePointer<Float>

    static func floats(_ g: ConvGeometry) -> Int {
        let px = g.outputPixels, margin = g.outputWidth + 1
        return 4 * (px + 2 * margin) + 2 * px + 16
    }

    init(_ g: ConvGeometry, buffer: UnsafeMutablePointer<Float>) {
        oh = g.outputHeight; ow = g.outputWidth; px = oh * ow; margin = ow + 1; slot = px + 2 * margin
        base = buffer
        keep = buffer + 4 * slot
        for i in 0..<px {
            let v = i % ow
            keep[i] = v >= 1 ? 1 : 0
            keep[px + i] = v + 1 < ow ? 1 : 0
        }
    }

    @inline(__always) func plane(_ py: Int, _ px: Int) -> UnsafeMutablePointer<Float> { base + (2 * py + px) * slot + margin }

    /// Where tap (ky, kx) reads: its phase plane, flat-shifted, and the column mask (nil: none).
    @inline(__always) func tap(_ ky: Int, _ kx: Int) -> (UnsafeMutablePointer<Float>, UnsafePointer<Float>?) {
        let py = (ky + 1) & 1, qx = (kx + 1) & 1
        let sy = (ky - 1 - py) / 2, sx = (kx - 1 - qx) / 2
        let mask: UnsafePointer<Float>? = sx == 0 ? nil : UnsafePointer(keep + (sx < 0 ? 0 : px))
        return (plane(py, qx) + sy * ow + sx, mask)
    }
}

/// `im2col` for `isHalvingFourByFour` geometries: per channel, one pass splits the map into
/// its phase planes; each of the 16 column-matrix rows is then a phase plane read at a flat
/// shift (rows shifted past the top or bottom read the zero margins; lanes whose column leaves
/// the plane are blended to zero), in 16-float vectors, instead of 16 strided gathers.
func im2colPhases(_ g: ConvGeometry, source: UnsafePointer<Float>, channelStride: Int,
                  column: UnsafeMutablePointer<Float>, ldc: Int) {
    withUnsafeTemporaryAllocation(of: Float.self, capacity: PhasePlanes.floats(g)) { scratch in
        fillZero(scratch.baseAddress!, 4 * (g.outputPixels + 2 * (g.outputWidth + 1)))
        let q = PhasePlanes(g, buffer: scratch.baseAddress!)
        for c in 0..<g.channels {
            let plane = source + c * channelStride
            for u in 0..<q.oh {
                for py in 0..<2 {
                    let row = plane + (2 * u + py) * g.width
                    let even = q.plane(py, 0) + u * q.ow, odd = q.plane(py, 1) + u * q.ow
                    for v in 0..<q.ow {
                        even[v] = row[2 * v]
                        odd[v] = row[2 * v + 1]
                    }
                }
            }
            for ky in 0..<4 {
                for kx in 0..<4 {
                    let dst = column + ((c * 4 + ky) * 4 + kx) * ldc
                    let (src, mask) = q.tap(ky, kx)
                    if let mask { maskedCopy(dst, src, mask, q.px) } else { copyFloats(dst, src, q.px) }
                }
            }
        }
    }
}

/// `col2im` for `isHalvingFourByFour` geometries, the adjoint of `im2colPhases`: the 16 rows
/// of a channel are added (masked, shifted) into zeroed phase planes, which are then added
/// back onto the map's pixels.
func col2imPhases(_ g: ConvGeometry, column: UnsafePointer<Float>, ldc: Int,
                  destination: UnsafeMutablePointer<Float>, channelStride: Int) {
    withUnsafeTemporaryAllocation(of: Float.self, capacity: PhasePlanes.floats(g)) { scratch in
        let q = PhasePlanes(g, buffer: scratch.baseAddress!)
        for c in 0..<g.channels {
            fillZero(q.base, 4 * q.slot)
            for ky in 0..<4 {
                for kx in 0..<4 {
                    let src = column + ((c * 4 + ky) * 4 + kx) * ldc
                    let (dst, mask) = q.tap(ky, kx)
                    if let mask { maskedAdd(dst, src, mask, q.px) } else { addFloats(dst, src, q.px) }
                }
            }
            let plane = destination + c * channelStride
            for u in 0..<q.oh {
                for py in 0..<2 {
                    let row = plane + (2 * u + py) * g.width
                    let even = q.plane(py, 0) + u * q.ow, odd = q.plane(py, 1) + u * q.ow
                    for v in 0..<q.ow {
                        row[2 * v] += even[v]
                        row[2 * v + 1] += odd[v]
                    }
                }
            }
        }
    }
}

/// keep[kx · P + y·W + x] = 1 if column x + kx − p lies inside [0, W), else 0.
@inline(__always)
private func fillColumnMasks(_ keep: UnsafeMutablePointer<Float>, _ g: ConvGeometry) {
    let w = g.width, px = g.height * g.width
    for kx in 0..<g.kernelWidth {
        let m = keep + kx * px, dx = kx - g.padding
        for i in 0..<px {
            let x = i % w + dx
            m[i] = (x >= 0 && x < w) ? 1 : 0
        }
    }
}

/// dst[i] = keep[i] != 0 ? src[i] : 0 (a blend, so NaN or inf in dropped lanes stay dropped).
@inline(__always)
func maskedCopy(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, _ keep: UnsafePointer<Float>, _ n: Int) {
    var i = 0
    let d = UnsafeMutableRawPointer(dst), s = UnsafeRawPointer(src), k = UnsafeRawPointer(keep)
    while i + 16 <= n {
        let v = s.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<Float>.self)
        let m = k.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<Float>.self)
        d.storeBytes(of: v.replacing(with: 0, where: m .== 0), toByteOffset: 4 * i, as: SIMD16<Float>.self)
        i += 16
    }
    while i < n { dst[i] = keep[i] != 0 ? src[i] : 0; i += 1 }
}

/// dst[i] += keep[i] != 0 ? src[i] : 0.
@inline(__always)
func maskedAdd(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, _ keep: UnsafePointer<Float>, _ n: Int) {
    var i = 0
    let d = UnsafeMutableRawPointer(dst), s = UnsafeRawPointer(src), k = UnsafeRawPointer(keep)
    while i + 16 <= n {
        let v = s.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<Float>.self)
        let m = k.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<Float>.self)
        let sum = d.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<Float>.self) + v.replacing(with: 0, where: m .== 0)
        d.storeBytes(of: sum, toByteOffset: 4 * i, as: SIMD16<Float>.self)
        i += 16
    }
    while i < n { if keep[i] != 0 { dst[i] += src[i] }; i += 1 }
}

/// dst[0..<n] = src[0..<n] with 16-wide vector moves (short runs: no memmove call).
@inline(__always)
func copyFloats(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, _ n: Int) {
    var i = 0
    let d = UnsafeMutableRawPointer(dst), s = UnsafeRawPointer(src)
    while i + 16 <= n {
        d.storeBytes(of: s.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<Float>.self), toByteOffset: 4 * i,
                     as: SIMD16<Float>.self)
        i += 16
    }
    while i < n { dst[i] = src[i]; i += 1 }
}

/// dst[0..<n] += src[0..<n] with 16-wide vectors.
@inline(__always)
func addFloats(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, _ n: Int) {
    var i = 0
    let d = UnsafeMutableRawPointer(dst), s = UnsafeRawPointer(src)
    while i + 16 <= n {
        let v = d.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<Float>.self)
            + s.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<Float>.self)
        d.storeBytes(of: v, toByteOffset: 4 * i, as: SIMD16<Float>.self)
        i += 16
    }
    while i < n { dst[i] += src[i]; i += 1 }
}

/// dst[0..<n] = 0 with 16-wide vector stores.
@inline(__always)
func fillZero(_ dst: UnsafeMutablePointer<Float>, _ n: Int) {
    var i = 0
    let d = UnsafeMutableRawPointer(dst)
    while i + 16 <= n {
        d.storeBytes(of: SIMD16<Float>(), toByteOffset: 4 * i, as: SIMD16<Float>.self)
        i += 16
    }
    while i < n { dst[i] = 0; i += 1 }
}

/// out[x] = src[x · s] for x in `range`; stride 2 (the encoder's convolutions) in 16-wide
/// vectors: the even lanes of two consecutive 16-float loads.
@inline(__always)
func gatherStrided(_ out: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, _ range: Range<Int>, stride s: Int) {
    var x = range.lowerBound
    if s == 2 {
        let raw = UnsafeRawPointer(src), dst = UnsafeMutableRawPointer(out)
        while x + 16 <= range.upperBound {
            let a = raw.loadUnaligned(fromByteOffset: 8 * x, as: SIMD16<Float>.self)
            // The last element read, src[2x + 31], lies beyond the last one used (2x + 30); it is
            // read only if the row holds it, i.e. when x + 16 < range end.
            let b: SIMD16<Float>
            if x + 16 < range.upperBound {
                b = raw.loadUnaligned(fromByteOffset: 8 * x + 64, as: SIMD16<Float>.self)
            } else {
                var t = SIMD16<Float>()
                for i in 0..<15 { t[i] = src[2 * x + 16 + i] }
                b = t
            }
            dst.storeBytes(of: SIMD16(lowHalf: a.evenHalf, highHalf: b.evenHalf), toByteOffset: 4 * x,
                           as: SIMD16<Float>.self)
            x += 16
        }
    }
    while x < range.upperBound { out[x] = src[x * s]; x += 1 }
}

/// to[x · s] += from[x] for x in `range` (the adjoint of `gatherStrided`).
@inline(__always)
func scatterAddStrided(_ to: UnsafeMutablePointer<Float>, _ from: UnsafePointer<Float>, _ range: Range<Int>,
                       stride s: Int) {
    for x in range { to[x * s] += from[x] }
}
