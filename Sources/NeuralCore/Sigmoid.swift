import Foundation

/// y = 1 / (1 + e⁻ˣ), element-wise, any shape; dx = dy·y·(1 − y) from the output alone.
///
/// SIMD body in the stable form (`VectorMath.sigmoid`: e = e^(−|x|), 1/(1+e) or e/(1+e)),
/// scalar tail 1/(1 + e⁻ˣ). Saturates cleanly: y is 0 (or subnormal) for x ≲ −87, never NaN.
/// The VAE trains on logits (the loss takes them directly); this layer turns logits into
/// images when sampling.
public final class Sigmoid: Layer {
    public var computesInputGradient = true
    private var output: Tensor?
    private var inputGradient: Tensor?

    public init() {}

    public func forward(_ input: Tensor, mode: Mode) -> Tensor {
        let y = reuse(output, shape: input.shape)
        output = y
        let x = UnsafeSendable(input.pointer), out = UnsafeSendable(y.pointer)
        VectorMath.chunked(input.count, minimumPerChunk: 1 << 13) { range in
            var i = range.lowerBound
            while i + 16 <= range.upperBound {
                VectorMath.store(VectorMath.sigmoid(VectorMath.load(x.value + i)).sigmoid, out.value + i)
                i += 16
            }
            while i < range.upperBound { out.value[i] = 1 / (1 + expf(-x.value[i])); i += 1 }
        }
        return y
    }

    public func backward(_ outputGradient: Tensor) -> Tensor {
        guard let y = output else { preconditionFailure("Sigmoid.backward before forward") }
        precondition(outputGradient.count == y.count, "Sigmoid.backward: gradient \(outputGradient.shape) for output \(y.shape)")
        let dx = reuse(inputGradient, shape: y.shape)
        inputGradient = dx
        guard computesInputGradient else { return dx }
        let o = UnsafeSendable(y.pointer), g = UnsafeSendable(outputGradient.pointer), d = UnsafeSendable(dx.pointer)
        VectorMath.chunked(y.count) { range in
            let one = VectorMath.V(repeating: 1)
            var i = range.lowerBound
            while i + 16 <= range.upperBound {
                let s = VectorMath.load(o.value + i)
                VectorMath.store(VectorMath.load(g.value + i) * s * (one - s), d.value + i)
                i += 16
            }
            while i < range.upperBound { let s = o.value[i]; d.value[i] = g.value[i] * s * (1 - s); i += 1 }
        }
        return dx
    }
}
