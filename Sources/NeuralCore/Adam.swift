import Foundation

/// Adam (Kingma & Ba), bias-corrected exactly as `torch.optim.Adam` (no weight decay, no
/// amsgrad), over a fixed list of named parameters. At step t (1-based), per element:
///
///   g ← clipCoefficient·g                       (only with gradient-norm clipping)
///   m ← m + (1 − β₁)(g − m)                     (= β₁m + (1−β₁)g, PyTorch's lerp form)
///   v ← β₂v + (1 − β₂)g²
///   p ← p − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε)
///
/// then g ← 0. Defaults lr 5e-4, β = (0.9, 0.999), ε = 1e-8 (the reference model's).
///
/// One `step` makes one pass over each parameter's gradient for the global norm (Double) and one
/// fused SIMD pass for the update and the zeroing; large tensors are split across the workers.
/// Non-finite gradients (NaN/Inf anywhere, seen as a non-finite norm) are never applied: `step`
/// reports it, leaves parameters, moments and the step count untouched, and zeroes the
/// gradients, so a trainer can stop cleanly (or skip the batch).
///
/// State for checkpoints: `state` lists the moments as "adam.m.<name>" and "adam.v.<name>";
/// `stepCount` is the number of applied updates (PyTorch's per-parameter `step`).
public final class Adam {
    public let parameters: [(name: String, parameter: Parameter)]
    /// Hyper-parameters in Double, as PyTorch's Python floats: 1 − β is formed in Double and then
    /// rounded (1 − Float(0.999) would be off by 1.3e-5 relative).
    public var learningRate: Double
    public let beta1: Double
    public let beta2: Double
    public let epsilon: Double
    /// Updates applied so far (t of the last update).
    public var stepCount = 0
    /// First moments m, one per parameter, same shapes.
    public let firstMoments: [Tensor]
    /// Second moments v, one per parameter, same shapes.
    public let secondMoments: [Tensor]

    /// What one `step` did.
    public struct Update: Sendable, Equatable {
        /// ‖g‖₂ over all gradients before clipping (NaN or ∞ if some gradient was not finite).
        public var gradientNorm: Double
        /// The gradients were scaled down to the maximum norm.
        public var clipped: Bool
        /// The update was applied (false only for non-finite gradients).
        public var applied: Bool
    }

    public init(parameters: [(name: String, parameter: Parameter)], learningRate: Double = 5e-4,
                beta1: Double = 0.9, beta2: Double = 0.999, epsilon: Double = 1e-8) {
        precondition(Set(parameters.map(\.name)).count == parameters.count, "Adam: duplicate parameter names")
        self.parameters = parameters
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        firstMoments = parameters.map { Tensor(shape: $0.parameter.value.shape) }
        secondMoments = parameters.map { Tensor(shape: $0.parameter.value.shape) }
    }

    /// The moments under checkpoint names: "adam.m.<parameter name>", "adam.v.<parameter name>".
    public var state: [(name: String, tensor: Tensor)] {
        parameters.indices.map { ("adam.m." + parameters[$0].name, firstMoments[$0]) }
            + parameters.indices.map { ("adam.v." + parameters[$0].name, secondMoments[$0]) }
    }

    /// Sets every parameter gradient to zero.
    public func zeroGradients() {
        for (_, p) in parameters { p.gradient.zero() }
    }

    /// ‖g‖₂ over all parameter gradients, accumulated in Double (NaN/∞ if any entry is).
    public func gradientNorm() -> Double {
        var sum = 0.0
        for (_, p) in parameters {
            let g = UnsafeSendable(p.gradient.pointer)
            sum += VectorMath.chunkedSum(p.gradient.count) { range in
                Double(VectorMath.sumOfSquares(g.value + range.lowerBound, range.count))
            }
        }
        return sum.squareRoot()
    }

    /// One update from the accumulated gradients, which it then zeroes.
    ///
    /// With `maxGradientNorm`, gradients are first scaled by min(1, max/(‖g‖ + 1e-6)), as
    /// `torch.nn.utils.clip_grad_norm_`.
    @discardableResult
    public func step(maxGradientNorm: Double? = nil) -> Update {
        let norm = gradientNorm()
        guard norm.isFinite else {
            zeroGradients()
            return Update(gradientNorm: norm, clipped: false, applied: false)
        }
        var coefficient: Float = 1
        if let maxGradientNorm, maxGradientNorm / (norm + 1e-6) < 1 {
            coefficient = Float(maxGradientNorm / (norm + 1e-6))
        }
        stepCount += 1
        let t = Double(stepCount)
        let stepSize = Float(learningRate / (1 - pow(beta1, t)))
        let correction2 = Float((1 - pow(beta2, t)).squareRoot())
        for (k, (_, p)) in parameters.enumerated() {
            update(p, m: firstMoments[k], v: secondMoments[k], coefficient: coefficient,
                   stepSize: stepSize, correction2: correction2)
            p.valueDidChange()
        }
        return Update(gradientNorm: norm, clipped: coefficient < 1, applied: true)
    }

    private func update(_ p: Parameter, m: Tensor, v: Tensor, coefficient: Float, stepSize: Float, correction2: Float) {
        let w = UnsafeSendable(p.value.pointer), g = UnsafeSendable(p.gradient.pointer)
        let mp = UnsafeSendable(m.pointer), vp = UnsafeSendable(v.pointer)
        let b1 = Float(1 - beta1), b2 = Float(beta2), ob2 = Float(1 - beta2), eps = Float(epsilon)
        VectorMath.chunked(p.value.count) { range in
            typealias V = VectorMath.V
            let vc = V(repeating: coefficient), vb1 = V(repeating: b1), vb2 = V(repeating: b2)
            let vob2 = V(repeating: ob2), veps = V(repeating: eps), vs = V(repeating: stepSize)
            let vc2 = V(repeating: correction2), zero = V(repeating: 0)
            var i = range.lowerBound
            while i + 16 <= range.upperBound {
                let gi = VectorMath.load(g.value + i) * vc
                var mi = VectorMath.load(mp.value + i)
                mi = mi + vb1 * (gi - mi)
                let vi = VectorMath.load(vp.value + i) * vb2 + vob2 * gi * gi
                let denom = vi.squareRoot() / vc2 + veps
                VectorMath.store(VectorMath.load(w.value + i) - vs * (mi / denom), w.value + i)
                VectorMath.store(mi, mp.value + i)
                VectorMath.store(vi, vp.value + i)
                VectorMath.store(zero, g.value + i)
                i += 16
            }
            while i < range.upperBound {
                let gi = g.value[i] * coefficient
                let mi = mp.value[i] + b1 * (gi - mp.value[i])
                let vi = vp.value[i] * b2 + ob2 * gi * gi
                let denom = vi.squareRoot() / correction2 + eps
                w.value[i] -= stepSize * (mi / denom)
                mp.value[i] = mi
                vp.value[i] = vi
                g.value[i] = 0
                i += 1
            }
        }
    }
}
