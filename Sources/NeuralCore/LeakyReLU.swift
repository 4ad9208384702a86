/// y = x for x > 0, slope·x otherwise (slope 0.2 in the encoder), element-wise, any shape.
///
/// For a positive slope the sign of y is the sign of x, so the backward pass reads only the
/// output: dx = dy where y > 0, slope·dy elsewhere (x = 0 takes the slope, as PyTorch).
public final class LeakyReLU: Layer {
    public let slope: Float
    public var computesInputGradient = true
    private var output: Tensor?
    private var inputGradient: Tensor?

    public init(slope: Float = 0.2) {
        precondition(slope > 0, "LeakyReLU: the slope must be positive (the backward pass reads the output's sign)")
        self.slope = slope
    }

    public func forward(_ input: Tensor, mode: Mode) -> Tensor {
        let y = reuse(output, shape: input.shape)
        output = y
        LeakyRectifier(slope: slope).apply(input.pointer, into: y.pointer, count: input.count)
        return y
    }

    public func backward(_ outputGradient: Tensor) -> Tensor {
        guard let y = output else { preconditionFailure("LeakyReLU.backward before forward") }
        precondition(outputGradient.count == y.count, "LeakyReLU.backward: gradient \(outputGradient.shape) for output \(y.shape)")
        let dx = reuse(inputGradient, shape: y.shape)
        inputGradient = dx
        guard computesInputGradient else { return dx }
        LeakyRectifier(slope: slope).gate(outputGradient.pointer, sign: y.pointer, into: dx.pointer, count: y.count)
        return dx
    }
}
