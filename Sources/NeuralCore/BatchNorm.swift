import Foundation

/// Batch normalisation per channel, PyTorch's `nn.BatchNorm2d` (input [N, C, H, W]) and
/// `nn.BatchNorm1d` (input [N, C]) in one layer: a vector is a map with H·W = 1.
///
/// With M = N·H·W values per channel c:
/// - training: μ = mean, σ² = biased variance (Σ(x−μ)²/M) of the batch;
///   y = γ·(x − μ)/√(σ² + ε) + β; the running averages move with momentum 0.1 toward μ and the
///   **unbiased** variance σ²·M/(M−1), exactly as PyTorch (which needs M > 1);
/// - inference: the same formula with the running mean and variance in place of μ, σ².
/// ε = 1e-5. Parameters "weight" γ (init 1), "bias" β (init 0), both [C]; buffers
/// "running_mean" (0), "running_var" (1), and "num_batches_tracked".
///
/// `num_batches_tracked` is an int64 scalar in PyTorch's state_dict; here it is a 0-d Float
/// tensor (shape []) counting training forward passes, exact up to 2²⁴ batches. It does not
/// affect the arithmetic (PyTorch uses it only when momentum is None); it is kept so that a
/// state_dict exported from here has every key PyTorch's `load_state_dict` expects.
///
/// Channels are processed in parallel; each channel's N segments of H·W contiguous values are
/// reduced with SIMD, accumulated in Double, with a two-pass (mean, then squared deviations)
/// variance.
public final class BatchNorm: Layer {
    public let channels: Int
    public let momentum: Float = 0.1
    public let epsilon: Float = 1e-5
    public let weight: Parameter
    public let bias: Parameter
    public let runningMean: Tensor
    public let runningVariance: Tensor
    public let batchesTracked: Tensor
    public var computesInputGradient = true

    private var input: Tensor?
    private var output: Tensor?
    private var inputGradient: Tensor?
    private var lastMode: Mode = .training
    /// Per channel: the mean and 1/√(var + ε) used by the last forward (batch or running).
    private let savedMean: Tensor
    private let savedInverseStd: Tensor

    public init(channels: Int) {
        precondition(channels > 0, "BatchNorm: channel count must be positive")
        self.channels = channels
        weight = Parameter(shape: [channels])
        weight.value.fill(1)
        bias = Parameter(shape: [channels])
        runningMean = Tensor(shape: [channels])
        runningVariance = Tensor(shape: [channels])
        runningVariance.fill(1)
        batchesTracked = Tensor(shape: [])
        savedMean = Tensor(shape: [channels])
        savedInverseStd = Tensor(shape: [channels])
    }

    public var parameters: [(name: String, parameter: Parameter)] { [("weight", weight), ("bias", bias)] }
    public var buffers: [(name: String, tensor: Tensor)] {
        [("running_mean", runningMean), ("running_var", runningVariance), ("num_batches_tracked", batchesTracked)]
    }

    /// (N, spatial) of an input [N, C, …].
    private func layout(_ shape: [Int]) -> (n: Int, spatial: Int) {
        precondition(shape.count >= 2 && shape[1] == channels,
                     "BatchNorm(\(channels)): input \(shape) is not [N, \(channels), …]")
        return (shape[0], shape.dropFirst(2).reduce(1, *))
    }

    /// x [N, C, …] → y of the same shape.
    public func forward(_ input: Tensor, mode: Mode) -> Tensor {
        let (n, spatial) = layout(input.shape)
        let m = n * spatial
        self.input = input
        lastMode = mode
        let y = reuse(output, shape: input.shape)
        output = y
        let c = channels
        let x = UnsafeSendable(input.pointer), out = UnsafeSendable(y.pointer)
        let gamma = UnsafeSendable(weight.value.pointer), beta = UnsafeSendable(bias.value.pointer)
        let mean = UnsafeSendable(savedMean.pointer), inv = UnsafeSendable(savedInverseStd.pointer)
        let rMean = UnsafeSendable(runningMean.pointer), rVar = UnsafeSendable(runningVariance.pointer)
        let eps = Double(epsilon)
        let training = mode == .training
        if training {
            precondition(m > 1, "BatchNorm: training needs more than one value per channel, got input \(input.shape)")
            batchesTracked[0] += 1
        }
        let momentum = Double(self.momentum)
        parallelChunks(c) { range in
            for ch in range {
                let mu: Double, invStd: Double
                if training {
                    var s = 0.0
                    for i in 0..<n { s += Double(VectorMath.sum(x.value + (i * c + ch) * spatial, spatial)) }
                    mu = s / Double(m)
                    var ss = 0.0
                    for i in 0..<n {
                        ss += Double(VectorMath.sumOfSquaredDeviations(x.value + (i * c + ch) * spatial, spatial,
                                                                       mean: Float(mu)))
                    }
                    let variance = ss / Double(m)
                    invStd = 1 / (variance + eps).squareRoot()
                    rMean.value[ch] = Float((1 - momentum) * Double(rMean.value[ch]) + momentum * mu)
                    rVar.value[ch] = Float((1 - momentum) * Double(rVar.value[ch])
                                           + momentum * variance * Double(m) / Double(m - 1))
                } else {
                    mu = Double(rMean.value[ch])
                    invStd = 1 / (Double(rVar.value[ch]) + eps).squareRoot()
                }
                mean.value[ch] = Float(mu)
                inv.value[ch] = Float(invStd)
                let scale = Float(Double(gamma.value[ch]) * invStd)
                for i in 0..<n {
                    let o = (i * c + ch) * spatial
                    VectorMath.affine(x.value + o, out.value + o, spatial,
                                      center: Float(mu), scale: scale, shift: beta.value[ch])
                }
            }
        }
        return y
    }

    /// dy → dx. With x̂ = (x − μ)/√(σ² + ε): dγ += Σ dy·x̂, dβ += Σ dy, and
    /// - training (μ, σ² depend on x): dx = γ/√(σ²+ε) · (dy − Σdy/M − x̂·Σ(dy·x̂)/M);
    /// - inference (running statistics are constants): dx = γ/√(σ²+ε) · dy.
    public func backward(_ outputGradient: Tensor) -> Tensor {
        guard let input else { preconditionFailure("BatchNorm.backward before forward") }
        precondition(outputGradient.shape == input.shape, "BatchNorm.backward: gradient \(outputGradient.shape) for input \(input.shape)")
        let (n, spatial) = layout(input.shape)
        let m = Double(n * spatial)
        let dx = reuse(inputGradient, shape: input.shape)
        inputGradient = dx
        let c = channels
        let x = UnsafeSendable(input.pointer), dy = UnsafeSendable(outputGradient.pointer)
        let out = UnsafeSendable(dx.pointer)
        let gamma = UnsafeSendable(weight.value.pointer)
        let dGamma = UnsafeSendable(weight.gradient.pointer), dBeta = UnsafeSendable(bias.gradient.pointer)
        let mean = UnsafeSendable(savedMean.pointer), inv = UnsafeSendable(savedInverseStd.pointer)
        let training = lastMode == .training
        let wantInput = computesInputGradient
        parallelChunks(c) { range in
            for ch in range {
                let mu = mean.value[ch], invStd = Double(inv.value[ch])
                var sumDy = 0.0, sumDyXc = 0.0   // Σ dy, Σ dy·(x − μ)
                for i in 0..<n {
                    let o = (i * c + ch) * spatial
                    let (s, t) = VectorMath.sumAndCenteredDot(dy.value + o, x.value + o, spatial, mean: mu)
                    sumDy += Double(s)
                    sumDyXc += Double(t)
                }
                let sumDyXhat = sumDyXc * invStd
                dGamma.value[ch] += Float(sumDyXhat)
                dBeta.value[ch] += Float(sumDy)
                guard wantInput else { continue }
                let k = Double(gamma.value[ch]) * invStd
                // dx = k·dy + b·(x − μ) + c0, with x̂ = (x − μ)·invStd written out.
                let b = training ? -k * invStd * sumDyXhat / m : 0
                let c0 = training ? -k * sumDy / m : 0
                for i in 0..<n {
                    let o = (i * c + ch) * spatial
                    VectorMath.combine(dy.value + o, x.value + o, out.value + o, spatial,
                                       a: Float(k), b: Float(b), center: mu, c: Float(c0))
                }
            }
        }
        return dx
    }
}
