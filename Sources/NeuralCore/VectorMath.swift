/// Contiguous-segment SIMD kernels shared by the per-channel and element-wise layers
/// (BatchNorm, activations, losses, Adam): 16 lanes at a time, a scalar tail.
///
/// All take raw pointers and a count; none allocate. Reductions return Float partial sums that
/// callers accumulate across segments in Double.
public enum VectorMath {
    public typealias V = SIMD16<Float>
    @inline(__always) static func load(_ p: UnsafePointer<Float>) -> V {
        UnsafeRawPointer(p).loadUnaligned(as: V.self)
    }
    @inline(__always) static func store(_ v: V, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self)
    }

    /// Σ p[i].
    @inline(__always)
    public static func sum(_ p: UnsafePointer<Float>, _ count: Int) -> Float {
        var acc = V(repeating: 0)
        var i = 0
        while i + 16 <= count { acc += load(p + i); i += 16 }
        var s = acc.sum()
        while i < count { s += p[i]; i += 1 }
        return s
    }

    /// Σ (p[i] − mean)².
    @inline(__always)
    public static func sumOfSquaredDeviations(_ p: UnsafePointer<Float>, _ count: Int, mean: Float) -> Float {
        var acc = V(repeating: 0)
        let m = V(repeating: mean)
        var i = 0
        while i + 16 <= count { let d = load(p + i) - m; acc.addProduct(d, d); i += 16 }
        var s = acc.sum()
        while i < count { let d = p[i] - mean; s += d * d; i += 1 }
        return s
    }

    /// Σ p[i]².
    @inline(__always)
    public static func sumOfSquares(_ p: UnsafePointer<Float>, _ count: Int) -> Float {
        sumOfSquaredDeviations(p, count, mean: 0)
    }

    /// (Σ dy[i], Σ dy[i]·(x[i] − mean)).
    @inline(__always)
    public static func sumAndCenteredDot(_ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ count: Int,
                                         mean: Float) -> (Float, Float) {
        var a = V(repeating: 0), b = V(repeating: 0)
        let m = V(repeating: mean)
        var i = 0
        while i + 16 <= count {
            let g = load(dy + i)
            a += g
            b.addProduct(g, load(x + i) - m)
            i += 16
        }
        var s = a.sum(), t = b.sum()
        while i < count { s += dy[i]; t += dy[i] * (x[i] - mean); i += 1 }
        return (s, t)
    }

    /// out[i] = (x[i] − center)·scale + shift (out may alias x).
    @inline(__always)
    public static func affine(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ count: Int,
                              center: Float = 0, scale: Float, shift: Float) {
        let m = V(repeating: center), s = V(repeating: scale), b = V(repeating: shift)
        var i = 0
        while i + 16 <= count { store(b.addingProduct(load(x + i) - m, s), out + i); i += 16 }
        while i < count { out[i] = (x[i] - center) * scale + shift; i += 1 }
    }

    /// out[i] = a·u[i] + b·(w[i] − center) + c (out may alias u or w).
    @inline(__always)
    public static func combine(_ u: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
                               _ count: Int, a: Float, b: Float, center: Float = 0, c: Float) {
        let va = V(repeating: a), vb = V(repeating: b), vc = V(repeating: c), vm = V(repeating: center)
        var i = 0
        while i + 16 <= count {
            var r = vc
            r.addProduct(va, load(u + i))
            r.addProduct(vb, load(w + i) - vm)
            store(r, out + i)
            i += 16
        }
        while i < count { out[i] = a * u[i] + b * (w[i] - center) + c; i += 1 }
    }

    /// Runs `body(range)` over 0..<count, in parallel chunks when the work is large enough to be
    /// worth dispatching (element-wise passes are memory-bound; tiny ones run inline).
    @inline(__always)
    public static func chunked(_ count: Int, minimumPerChunk: Int = 1 << 15, _ body: (Range<Int>) -> Void) {
        if count < 2 * minimumPerChunk { body(0..<count) } else { parallelChunks(count, body) }
    }

    /// Σ over chunks of `body(range)`, the chunks of 0..<count run in parallel when large enough:
    /// for reductions (losses, norms) that accumulate each chunk in Double. The partial sums are
    /// added in chunk order, so the result depends only on the count and the worker count.
    public static func chunkedSum(_ count: Int, minimumPerChunk: Int = 1 << 15, _ body: (Range<Int>) -> Double) -> Double {
        let chunks = max(1, min(Threading.workers, count / minimumPerChunk))
        if chunks == 1 { return body(0..<count) }
        return withUnsafeTemporaryAllocation(of: Double.self, capacity: chunks) { partial in
            let p = UnsafeSendable(partial.baseAddress!)
            parallelFor(chunks) { c in
                p.value[c] = body(count * c / chunks ..< count * (c + 1) / chunks)
            }
            var total = 0.0
            for c in 0..<chunks { total += partial[c] }
            return total
        }
    }
}
