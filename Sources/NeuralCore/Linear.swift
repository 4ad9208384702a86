/// Fully connected layer: `y = x·Wᵀ + b`, PyTorch's `nn.Linear`.
///
/// Shapes: input [N, inFeatures] — or any [N, …] whose trailing dimensions multiply to
/// `inFeatures`, so an NCHW map flattens for free (C, H, W order, as `torch.flatten(1)`);
/// output [N, outFeatures]. Parameters: "weight" [outFeatures, inFeatures], "bias"
/// [outFeatures], both initialised uniform in ±1/√inFeatures (PyTorch's default).
///
/// Forward and backward are one SGEMM each (plus one for the weight gradient):
/// `y = x Wᵀ`, `dx = dy W`, `dW += dyᵀ x`, `db += Σₙ dy`.
public final class Linear: Layer, FLOPCounting {
    public let inFeatures: Int
    public let outFeatures: Int
    public let weight: Parameter
    public let bias: Parameter
    public var computesInputGradient = true

    private var input: Tensor?
    private var output: Tensor?
    private var inputGradient: Tensor?

    public init(inFeatures: Int, outFeatures: Int, generator: inout SeededGenerator) {
        precondition(inFeatures > 0 && outFeatures > 0, "Linear: feature counts must be positive")
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        weight = Parameter(shape: [outFeatures, inFeatures])
        bias = Parameter(shape: [outFeatures])
        generator.fillKaimingUniform(weight.value, fanIn: inFeatures)
        generator.fillKaimingUniform(bias.value, fanIn: inFeatures)
    }

    public var parameters: [(name: String, parameter: Parameter)] { [("weight", weight), ("bias", bias)] }

    public func flops(inputShape: [Int]) -> LayerFLOPs {
        let f = 2 * Double(inputShape[0] * inFeatures * outFeatures)
        return LayerFLOPs(forward: f, backward: computesInputGradient ? 2 * f : f)
    }

    /// x [N, in] → y [N, out] = x·Wᵀ + b.
    public func forward(_ input: Tensor, mode: Mode) -> Tensor {
        let n = input.shape[0]
        precondition(input.count == n * inFeatures,
                     "Linear: input \(input.shape) does not have \(inFeatures) features per row")
        self.input = input
        let y = reuse(output, shape: [n, outFeatures])
        output = y
        // Broadcast the bias into y, then y += x·Wᵀ (beta = 1).
        for row in 0..<n { (y.pointer + row * outFeatures).update(from: bias.value.pointer, count: outFeatures) }
        sgemm(transposeB: true, m: n, n: outFeatures, k: inFeatures,
              a: input.pointer, lda: inFeatures, b: weight.value.pointer, ldb: inFeatures,
              beta: 1, c: y.pointer, ldc: outFeatures)
        return y
    }

    /// dy [N, out] → dx (shaped like the input) = dy·W; accumulates dW += dyᵀ·x, db += Σₙ dy.
    public func backward(_ outputGradient: Tensor) -> Tensor {
        guard let x = input else { preconditionFailure("Linear.backward before forward") }
        let n = x.shape[0]
        precondition(outputGradient.count == n * outFeatures, "Linear.backward: gradient \(outputGradient.shape)")
        let dy = outputGradient.pointer
        sgemm(transposeA: true, m: outFeatures, n: inFeatures, k: n,
              a: dy, lda: outFeatures, b: x.pointer, ldb: inFeatures,
              beta: 1, c: weight.gradient.pointer, ldc: inFeatures)
        let db = bias.gradient.pointer
        for row in 0..<n {
            let r = dy + row * outFeatures
            for o in 0..<outFeatures { db[o] += r[o] }
        }
        let dx = reuse(inputGradient, shape: x.shape)
        inputGradient = dx
        if computesInputGradient {
            sgemm(m: n, n: inFeatures, k: outFeatures,
                  a: dy, lda: outFeatures, b: weight.value.pointer, ldb: inFeatures,
                  c: dx.pointer, ldc: inFeatures)
        }
        return dx
    }
}
