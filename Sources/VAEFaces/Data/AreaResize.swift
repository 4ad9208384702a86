/// The exact area resize (OpenCV's INTER_AREA when shrinking): output pixel (X, Y) is the mean
/// of the source over the rectangle [X·sx, (X+1)·sx) × [Y·sy, (Y+1)·sy), sx = W/W', sy = H/H',
/// each source pixel weighted by the area it shares with that rectangle. Fractional overlaps
/// count by their share, so 140 → 64 (sx = 2.1875 = 35/16) mixes 3 or 4 source columns per
/// output column with weights k/35 — not a box filter sampled at pixel centres, not adaptive
/// pooling.
///
/// The overlap area of a source pixel with the rectangle is the product of its x- and y-overlaps,
/// so the resize is separable: a vertical pass over whole rows (contiguous, vectorised), then a
/// horizontal pass, with weight tables computed once. Overlaps are whole multiples of
/// g/W' source pixels (g = gcd(W, W')), so the weights are integers k over a denominator W/g
/// and the sums are exact integers: the output is round(V / D), V = ΣΣ kx·ky·p,
/// D = (W/g)·(H/g'), rounded half up, exactly (a tie would need V/D to be a half; for 140 → 64,
/// D = 1225 is odd and there are none).
public struct AreaResizer: Sendable {
    public let sourceWidth: Int, sourceHeight: Int
    public let outputWidth: Int, outputHeight: Int
    let columns: Taps
    let rows: Taps
    /// ⌊n / 2D⌋ for every numerator n ≤ 511·D the sums can give, when a 64-bit multiply-shift
    /// can do it exactly.
    let divider: ExactDivider?

    /// The source pixels each output index covers: `first[o] ..< first[o] + count[o]`, with
    /// integer weights `weights[offset[o] ..< offset[o] + count[o]]` summing to `denominator`.
    struct Taps: Sendable {
        var first: [Int] = []
        var count: [Int] = []
        var offset: [Int] = []
        var weights: [Int32] = []
        let denominator: Int

        /// Taps for n source pixels → m output pixels. In units of 1/m source pixel, source j
        /// spans [j·m, (j+1)·m) and output o spans [o·n, (o+1)·n); every boundary is a multiple
        /// of g = gcd(n, m), and an overlap of k·g units is a weight of k/(n/g).
        init(source n: Int, output m: Int) {
            var a = n, b = m
            while b != 0 { (a, b) = (b, a % b) }
            let g = a
            denominator = n / g
            for o in 0..<m {
                let lo = o * n, hi = (o + 1) * n
                first.append(lo / m)
                offset.append(weights.count)
                var j = lo / m
                while j * m < hi {
                    let overlap = min((j + 1) * m, hi) - max(j * m, lo)
                    if overlap > 0 { weights.append(Int32(overlap / g)) }
                    j += 1
                }
                count.append(weights.count - offset[o])
            }
        }

        /// Runs `body` with the four tables as buffers (the resize loops index them unchecked).
        @inline(__always)
        func withBuffers<R>(_ body: (_ first: UnsafeBufferPointer<Int>, _ count: UnsafeBufferPointer<Int>,
                                     _ offset: UnsafeBufferPointer<Int>, _ weights: UnsafeBufferPointer<Int32>) -> R) -> R {
            first.withUnsafeBufferPointer { f in
                count.withUnsafeBufferPointer { c in
                    offset.withUnsafeBufferPointer { o in
                        weights.withUnsafeBufferPointer { w in body(f, c, o, w) }
                    }
                }
            }
        }
    }

    /// A resizer from sourceWidth×sourceHeight to outputWidth×outputHeight (any sizes ≥ 1;
    /// enlarging repeats the covering source pixel, as the same definition gives).
    public init(sourceWidth: Int, sourceHeight: Int, outputWidth: Int, outputHeight: Int) {
        precondition(sourceWidth > 0 && sourceHeight > 0 && outputWidth > 0 && outputHeight > 0,
                     "AreaResizer: sizes must be positive")
        // Vertical sums stay below 255·(H/g') and are kept in Int32.
        precondition(sourceHeight < 1 << 22, "AreaResizer: source height \(sourceHeight) too large")
        self.sourceWidth = sourceWidth
        self.sourceHeight = sourceHeight
        self.outputWidth = outputWidth
        self.outputHeight = outputHeight
        columns = Taps(source: sourceWidth, output: outputWidth)
        rows = Taps(source: sourceHeight, output: outputHeight)
        let d = UInt64(rows.denominator * columns.denominator)
        divider = ExactDivider(divisor: 2 * d, maxNumerator: 511 * d)
    }

    /// Bytes of scratch space `resize` needs: the vertical pass's Int32 [outputHeight,
    /// sourceWidth, 3], then the horizontal pass's Int64 [outputHeight, outputWidth, 3].
    public var scratchBytes: Int { verticalBytes + outputHeight * outputWidth * 3 * 8 }
    private var verticalBytes: Int { (outputHeight * sourceWidth * 3 * 4 + 63) / 64 * 64 }

    /// Resizes an RGB region: `source` points at its top-left pixel, rows `sourceRowBytes`
    /// apart (HWC, 3 bytes a pixel, so a crop is a pointer offset into the full image). Writes
    /// outputHeight × outputWidth × 3 bytes (HWC) to `output`. `scratch` holds at least
    /// `scratchBytes` bytes, 8-byte aligned (no allocation here: callers keep one per thread).
    public func resize(_ source: UnsafePointer<UInt8>, sourceRowBytes: Int,
                       into output: UnsafeMutablePointer<UInt8>, scratch: UnsafeMutableRawPointer) {
        let rowLength = sourceWidth * 3
        let vertical = scratch.bindMemory(to: Int32.self, capacity: outputHeight * rowLength)
        let sums = (scratch + verticalBytes).bindMemory(to: Int64.self, capacity: outputHeight * outputWidth * 3)
        rows.withBuffers { rFirst, rCount, rOffset, rWeights in
            // Vertical pass: output row Y = Σ ky · source row, over whole rows of W·3 values.
            for oy in 0..<outputHeight {
                let acc = vertical + oy * rowLength
                acc.update(repeating: 0, count: rowLength)
                for t in 0..<rCount[oy] {
                    let k = rWeights[rOffset[oy] + t]
                    let src = source + (rFirst[oy] + t) * sourceRowBytes
                    for i in 0..<rowLength { acc[i] &+= k &* Int32(truncatingIfNeeded: src[i]) }
                }
            }
        }
        columns.withBuffers { cFirst, cCount, cOffset, cWeights in
            // Horizontal pass: V = Σ kx · column of the vertical sums.
            for oy in 0..<outputHeight {
                let row = vertical + oy * rowLength
                let out = sums + oy * outputWidth * 3
                for ox in 0..<outputWidth {
                    var r: Int64 = 0, g: Int64 = 0, b: Int64 = 0
                    let p = row + cFirst[ox] * 3
                    let w = cWeights.baseAddress! + cOffset[ox]
                    for t in 0..<cCount[ox] {
                        let k = Int64(w[t])
                        r &+= k &* Int64(p[3 * t])
                        g &+= k &* Int64(p[3 * t + 1])
                        b &+= k &* Int64(p[3 * t + 2])
                    }
                    out[3 * ox] = r
                    out[3 * ox + 1] = g
                    out[3 * ox + 2] = b
                }
            }
        }
        // round(V / D) halves up = ⌊(2V + D) / 2D⌋, by an exact multiply-shift (vectorised).
        let total = outputHeight * outputWidth * 3
        let d = Int64(rows.denominator * columns.denominator)
        if let divider {
            for i in 0..<total {
                output[i] = UInt8(truncatingIfNeeded: divider.divide(UInt64(bitPattern: 2 &* sums[i] &+ d)))
            }
        } else {
            // Huge denominators (side > ~2000 px and coprime to the output): plain division.
            for i in 0..<total { output[i] = UInt8(truncatingIfNeeded: (2 * sums[i] + d) / (2 * d)) }
        }
    }
}

/// Division of integers 0 ≤ n ≤ maxNumerator by a fixed divisor d as ⌊n·m / 2^s⌋ (Granlund and
/// Montgomery, "Division by invariant integers using multiplication", 1994): with k the bit
/// length of maxNumerator, s = k + ⌈log2 d⌉ and m = ⌈2^s / d⌉, the error term n·(m·d − 2^s)/(d·2^s)
/// is below 2^(k−s) ≤ 1/d, too small to cross the next multiple of 1/d. Nil when n·m could
/// overflow 64 bits.
struct ExactDivider: Sendable {
    let multiplier: UInt64
    let shift: UInt64

    init?(divisor d: UInt64, maxNumerator: UInt64) {
        guard d > 0 else { return nil }
        let k = UInt64(64 - maxNumerator.leadingZeroBitCount)
        let log2d = UInt64(64 - (d - 1).leadingZeroBitCount)          // ⌈log2 d⌉
        let s = k + log2d
        guard s < 64 else { return nil }
        let power = UInt64(1) << s
        let m = power / d + (power % d == 0 ? 0 : 1)
        guard !maxNumerator.multipliedReportingOverflow(by: m).overflow else { return nil }
        multiplier = m
        shift = s
    }

    @inline(__always) func divide(_ n: UInt64) -> UInt64 { (n &* multiplier) >> shift }
}
