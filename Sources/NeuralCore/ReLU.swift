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
        Rectifier().apply(input.pointer, into: y.pointer, count: input.count)
        return y
    }

    public func backward(_ outputGradient: Tensor) -> Tensor {
        guard let y = output else { preconditionFailure("ReLU.backward before forward") }
        precondition(outputGradient.count == y.count, "ReLU.backward: gradient \(outputGradient.shape) for output \(y.shape)")
        let dx = reuse(inputGradient, shape: y.shape)
        inputGradient = dx
        guard computesInputGradient else { return dx }
        Rectifier().gate(outputGradient.pointer, sign: y.pointer, into: dx.pointer, count: y.count)
        return dx
    }
}
