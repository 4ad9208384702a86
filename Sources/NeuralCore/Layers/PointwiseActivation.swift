import Foundation

/// An element-wise activation y = f(z) and its backward gate dL/dz from dL/dy, for SIMD vectors
/// and scalars (the same arithmetic both ways). The one definition of ReLU, LeakyReLU and the
/// sigmoid: the `Pointwise` layers and the activation `BatchNorm` fuses in all apply these.
///
/// The gate reads the output y, not z, so a layer keeps no copy of its input.
public protocol PointwiseActivation: Sendable {
    func apply(_ z: VectorMath.V) -> VectorMath.V
    func apply(_ z: Float) -> Float
    /// dL/dz from dL/dy = g at output y = f(z).
    func gate(_ g: VectorMath.V, _ y: VectorMath.V) -> VectorMath.V
    func gate(_ g: Float, _ y: Float) -> Float

    /// out[i] = f(x[i]) for `count` floats, chunks in parallel. Implemented once below; a
    /// requirement so that each activation's witness is the loop specialised for it (a generic
    /// caller in another module then still runs the inlined SIMD body).
    func apply(_ x: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, count: Int)
    /// dx[i] = gate(dy[i], y[i]) for `count` floats, chunks in parallel (implemented once below).
    func gate(_ dy: UnsafePointer<Float>, output y: UnsafePointer<Float>, into dx: UnsafeMutablePointer<Float>, count: Int)
    /// The fewest elements worth a parallel chunk of the forward pass: memory-bound functions
    /// want large chunks, an exponential per element pays for smaller ones.
    static var minimumPerForwardChunk: Int { get }
}

/// An activation whose output has the sign of its pre-activation (y > 0 exactly where z > 0)
/// and whose gate reads nothing else of y, so the gate may be given z in place of y: BatchNorm's
/// fused backward recomputes z and never stores y.
protocol SignGatedActivation: PointwiseActivation {}

struct IdentityActivation: SignGatedActivation {
    @inline(__always) func apply(_ z: VectorMath.V) -> VectorMath.V { z }
    @inline(__always) func apply(_ z: Float) -> Float { z }
    @inline(__always) func gate(_ g: VectorMath.V, _ y: VectorMath.V) -> VectorMath.V { g }
    @inline(__always) func gate(_ g: Float, _ y: Float) -> Float { g }
}

/// ReLU: y = max(z, 0); dz = dy where y > 0, else 0 (as PyTorch's threshold_backward).
public struct Rectifier: SignGatedActivation {
    @inline(__always) public func apply(_ z: VectorMath.V) -> VectorMath.V {
        VectorMath.V(repeating: 0).replacing(with: z, where: z .> 0)
    }
    @inline(__always) public func apply(_ z: Float) -> Float { max(z, 0) }
    @inline(__always) public func gate(_ g: VectorMath.V, _ y: VectorMath.V) -> VectorMath.V {
        VectorMath.V(repeating: 0).replacing(with: g, where: y .> 0)
    }
    @inline(__always) public func gate(_ g: Float, _ y: Float) -> Float { y > 0 ? g : 0 }
}

/// LeakyReLU: y = z for z > 0, else slope·z (slope > 0, so y has the sign of z); dz = dy where
/// y > 0, else slope·dy (z = 0 takes the slope, as PyTorch).
public struct LeakyRectifier: SignGatedActivation {
    public let slope: Float
    init(slope: Float) {
        precondition(slope > 0, "LeakyReLU: the slope must be positive (the backward pass reads the output's sign)")
        self.slope = slope
    }
    @inline(__always) public func apply(_ z: VectorMath.V) -> VectorMath.V {
        (z * VectorMath.V(repeating: slope)).replacing(with: z, where: z .> 0)
    }
    @inline(__always) public func apply(_ z: Float) -> Float { z > 0 ? z : z * slope }
    @inline(__always) public func gate(_ g: VectorMath.V, _ y: VectorMath.V) -> VectorMath.V {
        (g * VectorMath.V(repeating: slope)).replacing(with: g, where: y .> 0)
    }
    @inline(__always) public func gate(_ g: Float, _ y: Float) -> Float { y > 0 ? g : g * slope }
}

/// The sigmoid y = 1 / (1 + e⁻ᶻ); dz = dy·y·(1 − y) from the output alone.
///
/// SIMD body in the stable form (`VectorMath.sigmoid`: e = e^(−|z|), 1/(1+e) or e/(1+e)),
/// scalar tail 1/(1 + e⁻ᶻ). Saturates cleanly: y is 0 (or subnormal) for z ≲ −87, never NaN.
public struct Logistic: PointwiseActivation {
    public static var minimumPerForwardChunk: Int { 1 << 13 }
    @inline(__always) public func apply(_ z: VectorMath.V) -> VectorMath.V { VectorMath.sigmoid(z).sigmoid }
    @inline(__always) public func apply(_ z: Float) -> Float { 1 / (1 + expf(-z)) }
    @inline(__always) public func gate(_ g: VectorMath.V, _ y: VectorMath.V) -> VectorMath.V {
        g * y * (VectorMath.V(repeating: 1) - y)
    }
    @inline(__always) public func gate(_ g: Float, _ y: Float) -> Float { g * y * (1 - y) }
}

extension PointwiseActivation {
    public static var minimumPerForwardChunk: Int { 1 << 15 }

    public func apply(_ x: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, count: Int) {
        let x = UnsafeSendable(UnsafeMutablePointer(mutating: x)), out = UnsafeSendable(out)
        VectorMath.chunked(count, minimumPerChunk: Self.minimumPerForwardChunk) { range in
            var i = range.lowerBound
            while i + 16 <= range.upperBound {
                VectorMath.store(apply(VectorMath.load(x.value + i)), out.value + i)
                i += 16
            }
            while i < range.upperBound { out.value[i] = apply(x.value[i]); i += 1 }
        }
    }

    public func gate(_ dy: UnsafePointer<Float>, output y: UnsafePointer<Float>, into dx: UnsafeMutablePointer<Float>, count: Int) {
        let g = UnsafeSendable(UnsafeMutablePointer(mutating: dy)), o = UnsafeSendable(UnsafeMutablePointer(mutating: y))
        let d = UnsafeSendable(dx)
        VectorMath.chunked(count) { range in
            var i = range.lowerBound
            while i + 16 <= range.upperBound {
                VectorMath.store(gate(VectorMath.load(g.value + i), VectorMath.load(o.value + i)), d.value + i)
                i += 16
            }
            while i < range.upperBound { d.value[i] = gate(g.value[i], o.value[i]); i += 1 }
        }
    }
}
