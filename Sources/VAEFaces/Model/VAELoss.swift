import Foundation
import NeuralCore

/// The VAE objective, per image and averaged over the batch of N images:
///
///   L = (1/N) Σₙ [ Σ_pixels BCE(σ(l), x) + β · KL(N(μ, σ²) ‖ N(0, I)) ]
///
/// with logits l, targets x ∈ [0, 1], and the KL term in closed form. Each piece returns its
/// value (summed in Double) and writes or adds its gradient; `Reparameterization` is the
/// sampling step z = μ + σ·ε between encoder and decoder.
public enum VAELoss {
    /// Binary cross-entropy of σ(logits) against `targets`, summed over all elements and divided
    /// by N = logits.shape[0] (per-image sum, batch mean), as PyTorch's
    /// `binary_cross_entropy_with_logits(l, x, reduction="sum") / N`.
    ///
    /// Per element, in the numerically stable form (no log(0) for saturated logits):
    ///   ℓ(l, x) = max(l, 0) − l·x + log(1 + e^(−|l|)),
    /// whose derivative is ∂ℓ/∂l = σ(l) − x, with σ(l) = 1/(1+e^(−|l|)) for l ≥ 0 and
    /// e^(−|l|)/(1+e^(−|l|)) for l < 0 (one exponential serves both).
    ///
    /// Computed 16 lanes at a time with `VectorMath.exp` / `log1pUnit` / `sigmoid` (within a few
    /// ulp of libm), the tail with `expf` / `log1pf`.
    ///
    /// If `gradient` is given it is **overwritten** with scale·(σ(l) − x)/N, i.e. dL/dl for
    /// L = scale·(returned value).
    public static func binaryCrossEntropyWithLogits(logits: Tensor, targets: Tensor, gradient: Tensor? = nil,
                                                    scale: Float = 1) -> Double {
        precondition(logits.count == targets.count, "BCE: logits \(logits.shape) vs targets \(targets.shape)")
        let n = max(1, logits.shape.first ?? 1)
        if let gradient {
            precondition(gradient.count == logits.count, "BCE: gradient \(gradient.shape) for logits \(logits.shape)")
        }
        let l = UnsafeSendable(logits.pointer), x = UnsafeSendable(targets.pointer)
        let g = UnsafeSendable(gradient?.pointer)
        let gScale = scale / Float(n)
        let total = VectorMath.chunkedSum(logits.count, minimumPerChunk: 1 << 13) { range in
            typealias V = VectorMath.V
            // 16 lanes at a time (SIMD e^x and log1p), each lane's terms added in Double.
            var acc = SIMD16<Double>(repeating: 0)
            let vScale = V(repeating: gScale), zero = V(repeating: 0)
            var i = range.lowerBound
            while i + 16 <= range.upperBound {
                let li = VectorMath.load(l.value + i), xi = VectorMath.load(x.value + i)
                let (sig, e) = VectorMath.sigmoid(li)
                acc += SIMD16<Double>(zero.replacing(with: li, where: li .> zero) - li * xi + VectorMath.log1pUnit(e))
                if let gp = g.value { VectorMath.store((sig - xi) * vScale, gp + i) }
                i += 16
            }
            var s = acc.sum()
            while i < range.upperBound {
                let li = l.value[i], xi = x.value[i]
                let e = expf(-abs(li))
                s += Double(max(li, 0) - li * xi + log1pf(e))
                if let gp = g.value {
                    let sig = li >= 0 ? 1 / (1 + e) : e / (1 + e)
                    gp[i] = (sig - xi) * gScale
                }
                i += 1
            }
            return s
        }
        return total / Double(n)
    }

    /// KL(N(μ, σ²) ‖ N(0, I)) = −½ Σ_j (1 + log σ²_j − μ_j² − σ²_j) per image, averaged over the
    /// N = mu.shape[0] images.
    ///
    /// Closed-form gradients of the weighted term `gradientWeight`·KL (β·KL in the objective),
    /// **added** to the given tensors (the reparameterisation's gradients are usually already
    /// there), in the same pass as the value:
    ///   ∂/∂μ = β·μ/N,   ∂/∂log σ² = β·½(σ² − 1)/N.
    public static func klDivergence(mu: Tensor, logVariance: Tensor, muGradient: Tensor? = nil,
                                    logVarianceGradient: Tensor? = nil, gradientWeight weight: Float = 1) -> Double {
        precondition(mu.shape == logVariance.shape, "KL: mu \(mu.shape) vs logvar \(logVariance.shape)")
        let n = max(1, mu.shape.first ?? 1)
        let scale = weight / Float(n)
        var s = 0.0
        for i in 0..<mu.count {
            let m = mu[i], lv = logVariance[i]
            let v = expf(lv)
            s += Double(1 + lv - m * m - v)
            muGradient?[i] += scale * m
            logVarianceGradient?[i] += scale * 0.5 * (v - 1)
        }
        return -0.5 * s / Double(n)
    }
}

/// The reparameterisation z = μ + σ·ε with σ = exp(½ log σ²) and given noise ε ~ N(0, I),
/// which keeps z differentiable in μ and log σ²:
///   dμ = dz,   d(log σ²) = dz·ε·½σ.
/// Shapes: all [N, latent]. Owns z and both gradients (reused across steps).
public final class Reparameterization {
    public private(set) var z: Tensor?
    public private(set) var muGradient: Tensor?
    public private(set) var logVarianceGradient: Tensor?
    private var sigma: Tensor?
    private var noise: Tensor?

    public init() {}

    /// z = μ + exp(½ log σ²)·ε. Keeps ε (by reference) and σ for `backward`.
    public func forward(mu: Tensor, logVariance: Tensor, noise: Tensor) -> Tensor {
        precondition(mu.shape == logVariance.shape && mu.count == noise.count,
                     "Reparameterization: mu \(mu.shape), logvar \(logVariance.shape), noise \(noise.shape)")
        let out = reuse(z, shape: mu.shape), s = reuse(sigma, shape: mu.shape)
        z = out
        sigma = s
        self.noise = noise
        for i in 0..<mu.count {
            s[i] = expf(0.5 * logVariance[i])
            out[i] = mu[i] + s[i] * noise[i]
        }
        return out
    }

    /// dz → (dμ, d log σ²), both **overwritten** (owned by this object).
    public func backward(_ zGradient: Tensor) -> (mu: Tensor, logVariance: Tensor) {
        guard let s = sigma, let eps = noise else { preconditionFailure("Reparameterization.backward before forward") }
        precondition(zGradient.count == s.count, "Reparameterization.backward: gradient \(zGradient.shape) for z \(s.shape)")
        let dMu = reuse(muGradient, shape: s.shape), dLv = reuse(logVarianceGradient, shape: s.shape)
        muGradient = dMu
        logVarianceGradient = dLv
        for i in 0..<s.count {
            dMu[i] = zGradient[i]
            dLv[i] = zGradient[i] * eps[i] * 0.5 * s[i]
        }
        return (dMu, dLv)
    }
}
