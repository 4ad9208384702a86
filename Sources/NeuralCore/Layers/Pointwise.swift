/// An element-wise activation as a layer, any shape: y = f(x), dx = gate(dy, y).
///
/// The backward pass reads only the output, so the layer keeps no copy of its input.
public final class Pointwise<Function: PointwiseActivation>: Layer {
    public let function: Function
    public var computesInputGradient = true
    private var output: Tensor?
    private var inputGradient: Tensor?

    public init(_ function: Function) { self.function = function }

    public func forward(_ input: Tensor, mode: Mode) -> Tensor {
        let y = reuse(output, shape: input.shape)
        output = y
        function.apply(input.pointer, into: y.pointer, count: input.count)
        return y
    }

    public func backward(_ outputGradient: Tensor) -> Tensor {
        guard let y = output else { preconditionFailure("\(Self.self).backward before forward") }
        precondition(outputGradient.count == y.count, "\(Self.self).backward: gradient \(outputGradient.shape) for output \(y.shape)")
        let dx = reuse(inputGradient, shape: y.shape)
        inputGradient = dx
        guard computesInputGradient else { return dx }
        function.gate(outputGradient.pointer, output: y.pointer, into: dx.pointer, count: y.count)
        return dx
    }
}

/// y = max(x, 0).
public typealias ReLU = Pointwise<Rectifier>
/// y = x for x > 0, slope·x otherwise (slope 0.2 in the encoder).
public typealias LeakyReLU = Pointwise<LeakyRectifier>
/// y = 1 / (1 + e⁻ˣ). The VAE trains on logits (the loss takes them directly); this layer turns
/// logits into images when sampling.
public typealias Sigmoid = Pointwise<Logistic>

extension Pointwise where Function == Rectifier {
    public convenience init() { self.init(Rectifier()) }
}

extension Pointwise where Function == LeakyRectifier {
    public convenience init(slope: Float = 0.2) { self.init(LeakyRectifier(slope: slope)) }
}

extension Pointwise where Function == Logistic {
    public convenience init() { self.init(Logistic()) }
}
