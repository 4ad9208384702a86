import CBLAS

/// Fully connected layer: `y = x·Wᵀ + b`, PyTorch's `nn.Linear`.
///
/// Shapes: input [N, inFeatures] — or any [N, …] whose trailing dimensions multiply to
/// `inFeatures`, so an NCHW map flattens for free (C, H, W order, as `torch.flatten(1)`);
/// output [N, outFeatures]. Parameters: "weight" [outFeatures, inFeatures], "bias"
/// [outFeatures], both initialised uniform in ±1/√inFeatures (PyTorch's default).
///
/// Forward and backward are one SGEMM each (plus one for the weight gradient):
/// `y = x Wᵀ`, `dx = dy W`, `dW += dyᵀ x`, `db += Σₙ dy`.
public final class Linear: Layer {
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
        let bound = 1 / Float(inFeatures).squareRoot()
        generator.fillUniform(weight.value, bound: bound)
        generator.fillUniform(bias.value, bound: bound)
    }

    public var parameters: [(name: String, parameter: Parameter)] { [("weight", weight), ("bias", bias)] }

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
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans,
                    Int32(n), Int32(outFeatures), Int32(inFeatures),
                    1, input.pointer, Int32(inFeatures), weight.value.pointer, Int32(inFeatures),
                    1, y.pointer, Int32(outFeatures))
        return y
    }

    /// dy [N, out] → dx (shaped like the input) = dy·W; accumulates dW += dyᵀ·x, db += Σₙ dy.
    public func backward(_ outputGradient: Tensor) -> Tensor {
        guard let x = input else { preconditionFailure("Linear.backward before forward") }
        let n = x.shape[0]
        precondition(outputGradient.count == n * outFeatures, "Linear.backward: gradient \(outputGradient.shape)")
        let dy = outputGradient.pointer
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans,
                    Int32(outFeatures), Int32(inFeatures), Int32(n),
                    1, dy, Int32(outFeatures), x.pointer, Int32(inFeatures),
                    1, weight.gradient.pointer, Int32(inFeatures))
        let db = bias.gradient.pointer
        for row in 0..<n {
            let r = dy + row * outFeatures
            for o in 0..<outFeatures { db[o] += r[o] }
        }
        let dx = reuse(inputGradient, shape: x.shape)
        inputGradient = dx
        if computesInputGradient {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans,
                        Int32(n), Int32(inFeatures), Int32(outFeatures),
                        1, dy, Int32(outFeatures), weight.value.pointer, Int32(inFeatures),
                        0, dx.pointer, Int32(inFeatures))
        }
        return dx
    }
}
