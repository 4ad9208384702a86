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
        let x = UnsafeSendable(input.pointer), out = UnsafeSendable(y.pointer)
        let slope = self.slope
        VectorMath.chunked(input.count) { range in
            let s = VectorMath.V(repeating: slope)
            var i = range.lowerBound
            while i + 16 <= range.upperBound {
                let v = VectorMath.load(x.value + i)
                VectorMath.store((v * s).replacing(with: v, where: v .> 0), out.value + i)
                i += 16
            }
            while i < range.upperBound { let v = x.value[i]; out.value[i] = v > 0 ? v : v * slope; i += 1 }
        }
        return y
    }

    public func backward(_ outputGradient: Tensor) -> Tensor {
        guard let y = output else { preconditionFailure("LeakyReLU.backward before forward") }
        precondition(outputGradient.count == y.count, "LeakyReLU.backward: gradient \(outputGradient.shape) for output \(y.shape)")
        let dx = reuse(inputGradient, shape: y.shape)
        inputGradient = dx
        guard computesInputGradient else { return dx }
        let o = UnsafeSendable(y.pointer), g = UnsafeSendable(outputGradient.pointer), d = UnsafeSendable(dx.pointer)
        let slope = self.slope
        VectorMath.chunked(y.count) { range in
            let s = VectorMath.V(repeating: slope)
            var i = range.lowerBound
            while i + 16 <= range.upperBound {
                let v = VectorMath.load(g.value + i)
                VectorMath.store((v * s).replacing(with: v, where: VectorMath.load(o.value + i) .> 0), d.value + i)
                i += 16
            }
            while i < range.upperBound { d.value[i] = o.value[i] > 0 ? g.value[i] : g.value[i] * slope; i += 1 }
        }
        return dx
    }
}
