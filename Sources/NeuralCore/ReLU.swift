/// y = max(x, 0), element-wise, any shape.
///
/// The backward pass reads only the output (dx = dy where y > 0, else 0, as PyTorch's
/// `threshold_backward`), so the layer keeps no copy of its input.
public final class ReLU: Layer {
    public var computesInputGradient = true
    private var output: Tensor?
    private var inputGradient: Tensor?

    public init() {}

    public func forward(_ input: Tensor, mode: Mode) -> Tensor {
        let y = reuse(output, shape: input.shape)
        output = y
        let x = UnsafeSendable(input.pointer), out = UnsafeSendable(y.pointer)
        VectorMath.chunked(input.count) { range in
            let zero = VectorMath.V(repeating: 0)
            var i = range.lowerBound
            while i + 16 <= range.upperBound {
                VectorMath.store(pointwiseMax(VectorMath.load(x.value + i), zero), out.value + i)
                i += 16
            }
            while i < range.upperBound { out.value[i] = max(x.value[i], 0); i += 1 }
        }
        return y
    }

    public func backward(_ outputGradient: Tensor) -> Tensor {
        guard let y = output else { preconditionFailure("ReLU.backward before forward") }
        precondition(outputGradient.count == y.count, "ReLU.backward: gradient \(outputGradient.shape) for output \(y.shape)")
        let dx = reuse(inputGradient, shape: y.shape)
        inputGradient = dx
        guard computesInputGradient else { return dx }
        let o = UnsafeSendable(y.pointer), g = UnsafeSendable(outputGradient.pointer), d = UnsafeSendable(dx.pointer)
        VectorMath.chunked(y.count) { range in
            var i = range.lowerBound
            while i + 16 <= range.upperBound {
                let keep = VectorMath.load(o.value + i) .> 0
                VectorMath.store(VectorMath.V(repeating: 0).replacing(with: VectorMath.load(g.value + i), where: keep),
                                 d.value + i)
                i += 16
            }
            while i < range.upperBound { d.value[i] = o.value[i] > 0 ? g.value[i] : 0; i += 1 }
        }
        return dx
    }
}
