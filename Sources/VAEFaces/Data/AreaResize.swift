/// The exact area resize (OpenCV's INTER_AREA when shrinking): output pixel (X, Y) is the mean
/// of the source over the rectangle [X·sx, (X+1)·sx) × [Y·sy, (Y+1)·sy), sx = W/W', sy = H/H',
/// each source pixel weighted by the area it shares with that rectangle. Fractional overlaps
/// count by their share, so 140 → 64 (sx = 2.1875) mixes 3 or 4 source columns per output
/// column with weights k/35 — not a box filter sampled at pixel centres, not adaptive pooling.
///
/// The overlap area of a source pixel with the rectangle is the product of its x- and y-overlaps,
/// so the resize is separable: a horizontal pass over each source row, then a vertical pass,
/// with weight tables computed once (exactly, in integer units, then as Double). The result is
/// rounded to the nearest 8-bit level. For 140 → 64 an output is N/1225 for an integer N, which
/// is never a half, so there are no rounding ties.
public struct AreaResizer: Sendable {
    public let sourceWidth: Int, sourceHeight: Int
    public let outputWidth: Int, outputHeight: Int
    let columns: Taps
    let rows: Taps

    /// The source pixels each output index covers: `first[o] ..< first[o] + count[o]`, with
    /// weights `weights[offset[o] ..< offset[o] + count[o]]` summing to 1.
    struct Taps: Sendable {
        var first: [Int] = []
        var count: [Int] = []
        var offset: [Int] = []
        var weights: [Double] = []

        /// Taps for n source pixels → m output pixels. In units of 1/m source pixel, source j
        /// spans [j·m, (j+1)·m) and output o spans [o·n, (o+1)·n); an overlap of k units is a
        /// weight of k/n.
        init(source n: Int, output m: Int) {
            for o in 0..<m {
                let lo = o * n, hi = (o + 1) * n
                first.append(lo / m)
                offset.append(weights.count)
                var j = lo / m
                while j * m < hi {
                    let overlap = min((j + 1) * m, hi) - max(j * m, lo)
                    if overlap > 0 { weights.append(Double(overlap) / Double(n)) }
                    j += 1
                }
                count.append(weights.count - offset[o])
            }
        }
    }

    /// A resizer from sourceWidth×sourceHeight to outputWidth×outputHeight (any sizes ≥ 1;
    /// enlarging repeats the covering source pixel, as the same definition gives).
    public init(sourceWidth: Int, sourceHeight: Int, outputWidth: Int, outputHeight: Int) {
        precondition(sourceWidth > 0 && sourceHeight > 0 && outputWidth > 0 && outputHeight > 0,
                     "AreaResizer: sizes must be positive")
        self.sourceWidth = sourceWidth
        self.sourceHeight = sourceHeight
        self.outputWidth = outputWidth
        self.outputHeight = outputHeight
        columns = Taps(source: sourceWidth, output: outputWidth)
        rows = Taps(source: sourceHeight, output: outputHeight)
    }

    /// Doubles of scratch space `resize` needs.
    public var scratchCount: Int { sourceHeight * outputWidth * 3 }

    /// Resizes an RGB region: `source` points at its top-left pixel, rows `sourceRowBytes`
    /// apart (HWC, 3 bytes a pixel, so a crop is a pointer offset into the full image). Writes
    /// outputHeight × outputWidth × 3 bytes (HWC) to `output`. `scratch` holds at least
    /// `scratchCount` Doubles (no allocation here: callers keep one per thread).
    public func resize(_ source: UnsafePointer<UInt8>, sourceRowBytes: Int,
                       into output: UnsafeMutablePointer<UInt8>, scratch: UnsafeMutablePointer<Double>) {
        let ow = outputWidth
        columns.first.withUnsafeBufferPointer { cFirst in
        columns.count.withUnsafeBufferPointer { cCount in
        columns.offset.withUnsafeBufferPointer { cOffset in
        columns.weights.withUnsafeBufferPointer { cWeights in
            // Horizontal pass: every source row → ow weighted column sums, [sourceHeight, ow, 3].
            for y in 0..<sourceHeight {
                let row = source + y * sourceRowBytes
                let out = scratch + y * ow * 3
                for o in 0..<ow {
                    var r = 0.0, g = 0.0, b = 0.0
                    let p = row + cFirst[o] * 3
                    let w = cWeights.baseAddress! + cOffset[o]
                    for t in 0..<cCount[o] {
                        r += w[t] * Double(p[3 * t])
                        g += w[t] * Double(p[3 * t + 1])
                        b += w[t] * Double(p[3 * t + 2])
                    }
                    out[3 * o] = r
                    out[3 * o + 1] = g
                    out[3 * o + 2] = b
                }
            }
        }}}}
        rows.first.withUnsafeBufferPointer { rFirst in
        rows.count.withUnsafeBufferPointer { rCount in
        rows.offset.withUnsafeBufferPointer { rOffset in
        rows.weights.withUnsafeBufferPointer { rWeights in
            // Vertical pass: weighted sums of the horizontal results down each column, rounded.
            let n = ow * 3
            for o in 0..<outputHeight {
                let w = rWeights.baseAddress! + rOffset[o]
                let top = scratch + rFirst[o] * n
                let out = output + o * n
                for i in 0..<n {
                    var s = 0.0
                    for t in 0..<rCount[o] { s += w[t] * top[t * n + i] }
                    // s ∈ [0, 255] up to rounding error; nearest level, halves up.
                    out[i] = UInt8(Swift.min(255, Swift.max(0, s + 0.5)))
                }
            }
        }}}}
    }
}
