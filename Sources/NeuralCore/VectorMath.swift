/// Contiguous-segment SIMD kernels shared by the per-channel and element-wise layers
/// (BatchNorm, activations, losses, Adam): 16 lanes at a time, a scalar tail.
///
/// All take raw pointers and a count; none allocate. Reductions return Float partial sums that
/// callers accumulate across segments in Double.
public enum VectorMath {
    public typealias V = SIMD16<Float>
    @inline(__always) public static func load(_ p: UnsafePointer<Float>) -> V {
        UnsafeRawPointer(p).loadUnaligned(as: V.self)
    }
    @inline(__always) public static func store(_ v: V, _ p: UnsafeMutablePointer<Float>) {
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

    /// e^x lane by lane (Cephes' expf: x = n·ln2 + r, |r| ≤ ½ln2, a degree-6 polynomial for e^r,
    /// 2ⁿ put into the exponent bits); within 2 ulp of `expf` on [−87.3, 88.3]. Above, the input
    /// is clamped at 88.37 (result ~2.4e38, finite); below −87.34 (where e^x < 2⁻¹²⁶) the result
    /// is 0.
    @inline(__always)
    public static func exp(_ x: V) -> V {
        let low = V(repeating: -87.33654), high = V(repeating: 88.37)
        var clamped = x.replacing(with: low, where: x .< low)
        clamped.replace(with: high, where: clamped .> high)
        // n = round(x·log₂e) by the 1.5·2²³ trick: adding it rounds to an integer, whose value
        // then sits in the low mantissa bits (n ∈ [−126, 127]).
        let magic = V(repeating: 12582912)
        let shifted = clamped * V(repeating: 1.44269504088896341) + magic
        let n = shifted - magic
        var r = clamped.addingProduct(n, V(repeating: -0.693359375))
        r = r.addingProduct(n, V(repeating: 2.12194440e-4))
        var p = V(repeating: 1.9875691500e-4)
        p = p * r + V(repeating: 1.3981999507e-3)
        p = p * r + V(repeating: 8.3334519073e-3)
        p = p * r + V(repeating: 4.1665795894e-2)
        p = p * r + V(repeating: 1.6666665459e-1)
        p = p * r + V(repeating: 5.0000001201e-1)
        let e = p * (r * r) + r + V(repeating: 1)
        let bits = unsafeBitCast(shifted, to: SIMD16<Int32>.self) &- unsafeBitCast(magic, to: SIMD16<Int32>.self)
        let scale = unsafeBitCast((bits &+ SIMD16<Int32>(repeating: 127)) &<< 23, to: V.self)
        return (e * scale).replacing(with: 0, where: x .< low)
    }

    /// log(1 + x) lane by lane for x ∈ [0, 1] (Cephes' log1p kernel on f = x, or on
    /// f = (x − 1)/2 with ln 2 added when 1 + x > √2); within 2 ulp of `log1pf` there.
    @inline(__always)
    public static func log1pUnit(_ x: V) -> V {
        let high = x .> V(repeating: 0.41421356)
        let f = x.replacing(with: (x - V(repeating: 1)) * V(repeating: 0.5), where: high)
        let z = f * f
        var p = V(repeating: 7.0376836292e-2)
        p = p * f - V(repeating: 1.1514610310e-1)
        p = p * f + V(repeating: 1.1676998740e-1)
        p = p * f - V(repeating: 1.2420140846e-1)
        p = p * f + V(repeating: 1.4249322787e-1)
        p = p * f - V(repeating: 1.6668057665e-1)
        p = p * f + V(repeating: 2.0000714765e-1)
        p = p * f - V(repeating: 2.4999993993e-1)
        p = p * f + V(repeating: 3.3333331174e-1)
        var y = p * f * z
        y = y.addingProduct(V(repeating: -0.5), z)
        let k = V(repeating: 0).replacing(with: V(repeating: 1), where: high)
        // ln 2 = 0.693359375 − 2.12194440e-4, the first part exact in few bits.
        return (k * V(repeating: -2.12194440e-4) + y + f).addingProduct(k, V(repeating: 0.693359375))
    }

    /// σ(x) = 1/(1 + e⁻ˣ) lane by lane, in the stable form with e = e^(−|x|) ∈ (0, 1]:
    /// 1/(1 + e) for x ≥ 0, e/(1 + e) otherwise. Also returns e (for log1p(e) in the BCE).
    @inline(__always)
    public static func sigmoid(_ x: V) -> (sigmoid: V, expMinusAbs: V) {
        let e = exp(x.replacing(with: -x, where: x .> 0))
        let inverse = V(repeating: 1) / (V(repeating: 1) + e)
        return (inverse.replacing(with: e * inverse, where: x .< 0), e)
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
