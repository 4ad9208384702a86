/// An element-wise activation and its backward gate, for vectors and scalars (the same
/// arithmetic both ways, so forward and backward agree on the sign of z). The one definition
/// of ReLU and LeakyReLU: the `ReLU` and `LeakyReLU` layers and the activation `BatchNorm`
/// fuses in all apply these.
protocol PointwiseActivation {
    func apply(_ z: VectorMath.V) -> VectorMath.V
    func apply(_ z: Float) -> Float
    /// dL/dz from dL/dy = g at pre-activation z.
    func gate(_ g: VectorMath.V, _ z: VectorMath.V) -> VectorMath.V
    func gate(_ g: Float, _ z: Float) -> Float
}

struct IdentityActivation: PointwiseActivation {
    @inline(__always) func apply(_ z: VectorMath.V) -> VectorMath.V { z }
    @inline(__always) func apply(_ z: Float) -> Float { z }
    @inline(__always) func gate(_ g: VectorMath.V, _ z: VectorMath.V) -> VectorMath.V { g }
    @inline(__always) func gate(_ g: Float, _ z: Float) -> Float { g }
}

/// ReLU: y = max(z, 0); dz = dy where z > 0, else 0 (as `ReLU` and PyTorch's threshold_backward).
struct Rectifier: PointwiseActivation {
    @inline(__always) func apply(_ z: VectorMath.V) -> VectorMath.V {
        VectorMath.V(repeating: 0).replacing(with: z, where: z .> 0)
    }
    @inline(__always) func apply(_ z: Float) -> Float { max(z, 0) }
    @inline(__always) func gate(_ g: VectorMath.V, _ z: VectorMath.V) -> VectorMath.V {
        VectorMath.V(repeating: 0).replacing(with: g, where: z .> 0)
    }
    @inline(__always) func gate(_ g: Float, _ z: Float) -> Float { z > 0 ? g : 0 }
}

/// LeakyReLU: y = z for z > 0, else slope·z; dz = dy where z > 0, else slope·dy (z = 0 takes
/// the slope, as `LeakyReLU` and PyTorch).
struct LeakyRectifier: PointwiseActivation {
    let slope: Float
    @inline(__always) func apply(_ z: VectorMath.V) -> VectorMath.V {
        (z * VectorMath.V(repeating: slope)).replacing(with: z, where: z .> 0)
    }
    @inline(__always) func apply(_ z: Float) -> Float { z > 0 ? z : z * slope }
    @inline(__always) func gate(_ g: VectorMath.V, _ z: VectorMath.V) -> VectorMath.V {
        (g * VectorMath.V(repeating: slope)).replacing(with: g, where: z .> 0)
    }
    @inline(__always) func gate(_ g: Float, _ z: Float) -> Float { z > 0 ? g : g * slope }
}

extension PointwiseActivation {
    /// out[i] = act(x[i]) for `count` floats, chunks in parallel.
    func apply(_ x: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, count: Int) {
        let x = UnsafeSendable(UnsafeMutablePointer(mutating: x)), out = UnsafeSendable(out)
        VectorMath.chunked(count) { range in
            var i = range.lowerBound
            while i + 16 <= range.upperBound {
                VectorMath.store(apply(VectorMath.load(x.value + i)), out.value + i)
                i += 16
            }
            while i < range.upperBound { out.value[i] = apply(x.value[i]); i += 1 }
        }
    }

    /// dx[i] = gate(dy[i], sign[i]) for `count` floats, where `sign` has the sign of the
    /// pre-activation (the layers pass their output: for ReLU and a positive-slope LeakyReLU,
    /// y > 0 exactly where z > 0).
    func gate(_ dy: UnsafePointer<Float>, sign: UnsafePointer<Float>, into dx: UnsafeMutablePointer<Float>, count: Int) {
        let g = UnsafeSendable(UnsafeMutablePointer(mutating: dy)), z = UnsafeSendable(UnsafeMutablePointer(mutating: sign))
        let d = UnsafeSendable(dx)
        VectorMath.chunked(count) { range in
            var i = range.lowerBound
            while i + 16 <= range.upperBound {
                VectorMath.store(gate(VectorMath.load(g.value + i), VectorMath.load(z.value + i)), d.value + i)
                i += 16
            }
            while i < range.upperBound { d.value[i] = gate(g.value[i], z.value[i]); i += 1 }
        }
    }
}
