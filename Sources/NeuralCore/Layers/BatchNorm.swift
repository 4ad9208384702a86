import Foundation

/// Batch normalisation per channel, PyTorch's `nn.BatchNorm2d` (input [N, C, H, W]) and
/// `nn.BatchNorm1d` (input [N, C]) in one layer: a vector is a map with H·W = 1, optionally
/// followed by the ReLU or LeakyReLU that comes after every BatchNorm in the VAE.
///
/// With M = N·H·W values per channel c:
/// - training: μ = mean, σ² = biased variance (Σ(x−μ)²/M) of the batch;
///   z = γ·(x − μ)/√(σ² + ε) + β; the running averages move with momentum 0.1 toward μ and the
///   **unbiased** variance σ²·M/(M−1), exactly as PyTorch (which needs M > 1);
/// - inference: the same formula with the running mean and variance in place of μ, σ².
/// The output is y = act(z) (`Activation`: identity — plain BatchNorm —, ReLU, or LeakyReLU).
/// ε = 1e-5. Parameters "weight" γ (init 1), "bias" β (init 0), both [C]; buffers
/// "running_mean" (0), "running_var" (1), and "num_batches_tracked". The activation has no
/// state, so the state_dict names are those of the BatchNorm alone (the peer's `nn.ReLU` /
/// `nn.LeakyReLU` modules have none either).
///
/// `num_batches_tracked` is an int64 scalar in PyTorch's state_dict; here it is a 0-d Float
/// tensor (shape []) counting training forward passes, exact up to 2²⁴ batches. It does not
/// affect the arithmetic (PyTorch uses it only when momentum is None); it is kept so that a
/// state_dict exported from here has every key PyTorch's `load_state_dict` expects.
///
/// Why the activation is fused in: both passes are memory-bound, and fusing halves the traffic.
/// - forward: one statistics pass (per H·W segment a SIMD sum, then the squared deviations from
///   the segment's own mean while the segment is still in cache; segments are combined in Double
///   with the exact identity Σ(x−μ)² = Σ(x−a)² + 2(a−μ)(Σx − n·a) + n(a−μ)²), then one pass
///   y = act(fma(x − μ, γ/√(σ²+ε), β)). No copy of z or y is kept.
/// - backward: z is recomputed bit-for-bit from x with the same fused multiply-add, so the
///   activation's derivative (1 where z > 0; else 0 for ReLU, the slope for LeakyReLU — at z = 0
///   exactly as the unfused `ReLU` / `LeakyReLU` layers and PyTorch) is applied on the fly:
///   one pass for Σg and Σg·(x−μ) with g = act'(z)·dy, one pass writing dx.
///
/// Channels are processed in parallel; each channel's N segments of H·W contiguous values are
/// reduced with SIMD and accumulated in Double.
public final class BatchNorm: Layer {
    /// The element-wise function applied to the normalised values.
    public enum Activation: Sendable, Equatable {
        /// y = z: plain BatchNorm.
        case identity
        /// y = max(z, 0).
        case relu
        /// y = z for z > 0, slope·z otherwise (slope > 0).
        case leakyReLU(slope: Float)
    }

    public let channels: Int
    public let activation: Activation
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
    /// Per channel: the mean and 1/√(var + ε) used by the last forward (batch or running), and
    /// the scale γ/√(var + ε) and shift β of its z = fma(x − mean, scale, shift).
    private let savedMean: Tensor
    private let savedInverseStd: Tensor
    private let savedScale: Tensor
    private let savedShift: Tensor
    /// Per channel, the two Double sums of a training pass (forward: Σx and Σ(x − μ)²; backward:
    /// Σg and Σg·(x − μ)), the numbers shared with the other ranks: [2C].
    private let channelSums: UnsafeMutableBufferPointer<Double>

    /// The processes that train together (data parallelism). With several, training uses the
    /// statistics of the whole global batch: the per-channel sums are summed over the ranks in
    /// forward and the two gradient sums in backward, so N ranks with B/N images each compute
    /// the step one process computes with B (every rank's share must have the same size). nil
    /// or one process: the local batch, as always. Running statistics then move identically on
    /// every rank.
    public var communicator: (any Communicator)?

    /// Ranks whose shares of the batch make up the statistics.
    private var ranks: Int { communicator?.size ?? 1 }
    /// True when the statistics are shared with other ranks.
    private var isDistributed: Bool { communicator?.isDistributed == true }

    public init(channels: Int, activation: Activation = .identity) {
        precondition(channels > 0, "BatchNorm: channel count must be positive")
        if case .leakyReLU(let slope) = activation {
            precondition(slope > 0, "BatchNorm: the LeakyReLU slope must be positive")
        }
        self.channels = channels
        self.activation = activation
        weight = Parameter(shape: [channels])
        weight.value.fill(1)
        bias = Parameter(shape: [channels])
        runningMean = Tensor(shape: [channels])
        runningVariance = Tensor(shape: [channels])
        runningVariance.fill(1)
        batchesTracked = Tensor(shape: [])
        savedMean = Tensor(shape: [channels])
        savedInverseStd = Tensor(shape: [channels])
        savedScale = Tensor(shape: [channels])
        savedShift = Tensor(shape: [channels])
        channelSums = .allocate(capacity: 2 * channels)
        channelSums.initialize(repeating: 0)
    }

    deinit { channelSums.deallocate() }

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

    /// x [N, C, …] → y = act(z) of the same shape.
    public func forward(_ input: Tensor, mode: Mode) -> Tensor {
        switch activation {
        case .identity: forward(input, mode: mode, IdentityActivation())
        case .relu: forward(input, mode: mode, Rectifier())
        case .leakyReLU(let slope): forward(input, mode: mode, LeakyRectifier(slope: slope))
        }
    }

    /// dy (with respect to y = act(z)) → dx. With g = act'(z)·dy and x̂ = (x − μ)/√(σ² + ε):
    /// dγ += Σ g·x̂, dβ += Σ g, and
    /// - training (μ, σ² depend on x): dx = γ/√(σ²+ε) · (g − Σg/M − x̂·Σ(g·x̂)/M);
    /// - inference (running statistics are constants): dx = γ/√(σ²+ε) · g.
    public func backward(_ outputGradient: Tensor) -> Tensor {
        switch activation {
        case .identity: backward(outputGradient, IdentityActivation())
        case .relu: backward(outputGradient, Rectifier())
        case .leakyReLU(let slope): backward(outputGradient, LeakyRectifier(slope: slope))
        }
    }

    private func forward<A: PointwiseActivation>(_ input: Tensor, mode: Mode, _ act: A) -> Tensor {
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
        let scales = UnsafeSendable(savedScale.pointer), shifts = UnsafeSendable(savedShift.pointer)
        let rMean = UnsafeSendable(runningMean.pointer), rVar = UnsafeSendable(runningVariance.pointer)
        let sums = UnsafeSendable(channelSums)
        let eps = Double(epsilon)
        let training = mode == .training
        // Values per channel over every rank's share of the batch (each rank has the same n).
        let total = m * ranks
        if training {
            precondition(total > 1, "BatchNorm: training needs more than one value per channel, got input \(input.shape)")
            batchesTracked[0] += 1
        }
        let momentum = Double(self.momentum)
        // This rank's (Σx, Σ(x − μ)²) of channel `ch`.
        let statistics: @Sendable (Int) -> Void = { ch in
            let (s, ss) = BatchNorm.sumAndSquaredDeviations(x.value + ch * spatial, segments: n,
                                                            stride: c * spatial, count: spatial)
            sums.value[2 * ch] = s
            sums.value[2 * ch + 1] = ss
        }
        // The channel's mean and inverse std (batch statistics in training, running ones
        // otherwise), the running update, and y = act(γ·(x − μ)/σ + β).
        let normalise: @Sendable (Int) -> Void = { ch in
            let mu: Double, invStd: Double
            if training {
                mu = sums.value[2 * ch] / Double(total)
                let variance = sums.value[2 * ch + 1] / Double(total)
                invStd = 1 / (variance + eps).squareRoot()
                rMean.value[ch] = Float((1 - momentum) * Double(rMean.value[ch]) + momentum * mu)
                rVar.value[ch] = Float((1 - momentum) * Double(rVar.value[ch])
                                       + momentum * variance * Double(total) / Double(total - 1))
            } else {
                mu = Double(rMean.value[ch])
                invStd = 1 / (Double(rVar.value[ch]) + eps).squareRoot()
            }
            let center = Float(mu), scale = Float(Double(gamma.value[ch]) * invStd), shift = beta.value[ch]
            mean.value[ch] = center
            inv.value[ch] = Float(invStd)
            scales.value[ch] = scale
            shifts.value[ch] = shift
            let vm = VectorMath.V(repeating: center), vs = VectorMath.V(repeating: scale)
            let vb = VectorMath.V(repeating: shift)
            for i in 0..<n {
                let o = (i * c + ch) * spatial
                let src = x.value + o, dst = out.value + o
                var k = 0
                while k + 16 <= spatial {
                    VectorMath.store(act.apply(vb.addingProduct(VectorMath.load(src + k) - vm, vs)), dst + k)
                    k += 16
                }
                while k < spatial { dst[k] = act.apply(shift.addingProduct(src[k] - center, scale)); k += 1 }
            }
        }
        if training && isDistributed {
            // The statistics of every channel first, summed over the ranks, then the normalisation.
            parallelChunks(c) { range in for ch in range { statistics(ch) } }
            synchroniseStatistics(localCount: m)
            parallelChunks(c) { range in for ch in range { normalise(ch) } }
        } else {
            // One process: each channel's statistics and normalisation together, while its values are in cache.
            parallelChunks(c) { range in
                for ch in range {
                    if training { statistics(ch) }
                    normalise(ch)
                }
            }
        }
        return y
    }

    /// With several ranks, turns this rank's (Σx, Σ(x − μ_r)²) of each channel (`localCount`
    /// values, local mean μ_r) into the whole batch's: each rank sends Σx and Σx² =
    /// Σ(x − μ_r)² + (Σx)²/count, and from the sums S, Q over all M values Σ(x − μ)² = Q − S²/M
    /// (in Double, where the cancellation costs digits only far below Float's).
    private func synchroniseStatistics(localCount: Int) {
        guard let communicator, communicator.isDistributed else { return }
        let local = Double(localCount), total = local * Double(communicator.size)
        for ch in 0..<channels {
            channelSums[2 * ch + 1] += channelSums[2 * ch] * channelSums[2 * ch] / local
        }
        communicator.allReduceSum(channelSums)
        for ch in 0..<channels {
            channelSums[2 * ch + 1] = max(0, channelSums[2 * ch + 1] - channelSums[2 * ch] * channelSums[2 * ch] / total)
        }
    }

    private func backward<A: SignGatedActivation>(_ outputGradient: Tensor, _ act: A) -> Tensor {
        guard let input else { preconditionFailure("BatchNorm.backward before forward") }
        precondition(outputGradient.shape == input.shape, "BatchNorm.backward: gradient \(outputGradient.shape) for input \(input.shape)")
        let (n, spatial) = layout(input.shape)
        let m = Double(n * spatial * ranks)
        let dx = reuse(inputGradient, shape: input.shape)
        inputGradient = dx
        let c = channels
        let x = UnsafeSendable(input.pointer), dy = UnsafeSendable(outputGradient.pointer)
        let out = UnsafeSendable(dx.pointer)
        let dGamma = UnsafeSendable(weight.gradient.pointer), dBeta = UnsafeSendable(bias.gradient.pointer)
        let mean = UnsafeSendable(savedMean.pointer), inv = UnsafeSendable(savedInverseStd.pointer)
        let scales = UnsafeSendable(savedScale.pointer), shifts = UnsafeSendable(savedShift.pointer)
        let sums = UnsafeSendable(channelSums)
        let training = lastMode == .training
        typealias V = VectorMath.V
        // Pass 1: Σ g and Σ g·(x − μ), with g = act'(z)·dy and z recomputed as in forward; dγ and
        // dβ get this rank's share (the trainer sums parameter gradients over the ranks).
        let gradientSums: @Sendable (Int) -> Void = { ch in
            let mu = mean.value[ch], invStd = Double(inv.value[ch])
            let scale = scales.value[ch], shift = shifts.value[ch]
            let vm = V(repeating: mu), vs = V(repeating: scale), vb = V(repeating: shift)
            var sumG = 0.0, sumGXc = 0.0
            for i in 0..<n {
                let o = (i * c + ch) * spatial
                let xs = x.value + o, gs = dy.value + o
                var a = V(repeating: 0), b = V(repeating: 0)
                var k = 0
                while k + 16 <= spatial {
                    let xc = VectorMath.load(xs + k) - vm
                    let g = act.gate(VectorMath.load(gs + k), vb.addingProduct(xc, vs))
                    a += g
                    b.addProduct(g, xc)
                    k += 16
                }
                var s = a.sum(), t = b.sum()
                while k < spatial {
                    let xc = xs[k] - mu
                    let g = act.gate(gs[k], shift.addingProduct(xc, scale))
                    s += g
                    t += g * xc
                    k += 1
                }
                sumG += Double(s)
                sumGXc += Double(t)
            }
            dGamma.value[ch] += Float(sumGXc * invStd)
            dBeta.value[ch] += Float(sumG)
            sums.value[2 * ch] = sumG
            sums.value[2 * ch + 1] = sumGXc
        }
        // Pass 2: dx = k·g + b·(x − μ) + c0, with x̂ = (x − μ)·invStd written out.
        let inputGradientOf: @Sendable (Int) -> Void = { ch in
            let mu = mean.value[ch], invStd = Double(inv.value[ch])
            let scale = scales.value[ch], shift = shifts.value[ch]
            let vm = V(repeating: mu), vs = V(repeating: scale), vb = V(repeating: shift)
            let sumG = sums.value[2 * ch], sumGXhat = sums.value[2 * ch + 1] * invStd
            let kk = Double(scale)
            let bb = training ? -kk * invStd * sumGXhat / m : 0
            let c0 = training ? -kk * sumG / m : 0
            let fk = Float(kk), fb = Float(bb), fc = Float(c0)
            let vk = V(repeating: fk), vbb = V(repeating: fb), vc = V(repeating: fc)
            for i in 0..<n {
                let o = (i * c + ch) * spatial
                let xs = x.value + o, gs = dy.value + o, ds = out.value + o
                var k = 0
                while k + 16 <= spatial {
                    let xc = VectorMath.load(xs + k) - vm
                    let g = act.gate(VectorMath.load(gs + k), vb.addingProduct(xc, vs))
                    var r = vc
                    r.addProduct(vk, g)
                    r.addProduct(vbb, xc)
                    VectorMath.store(r, ds + k)
                    k += 16
                }
                while k < spatial {
                    let xc = xs[k] - mu
                    let g = act.gate(gs[k], shift.addingProduct(xc, scale))
                    ds[k] = fk * g + fb * xc + fc
                    k += 1
                }
            }
        }
        let wantInput = computesInputGradient
        if training && wantInput && isDistributed {
            // dx depends on the sums over the whole batch: every rank's.
            parallelChunks(c) { range in for ch in range { gradientSums(ch) } }
            communicator?.allReduceSum(channelSums)
            parallelChunks(c) { range in for ch in range { inputGradientOf(ch) } }
        } else {
            // One process: both passes over a channel together, while its values are in cache.
            parallelChunks(c) { range in
                for ch in range {
                    gradientSums(ch)
                    if wantInput { inputGradientOf(ch) }
                }
            }
        }
        return dx
    }

    /// (Σx, Σ(x − μ)²) over `segments` runs of `count` floats, `stride` apart, in Double; one
    /// read of memory (each segment's second pass hits the cache).
    @inline(__always)
    private static func sumAndSquaredDeviations(_ p: UnsafePointer<Float>, segments: Int, stride: Int,
                                                count: Int) -> (Double, Double) {
        var sums = 0.0, deviations = 0.0, means = 0.0, meanSquares = 0.0
        // Per segment: s = Σx, a = its Float mean, d = Σ(x − a)². Then, with S = Σs, N = segments·count,
        // μ = S/N: Σ(x−μ)² = Σ_seg [d + 2(a−μ)(s − count·a) + count·(a−μ)²]
        //                 = Σd + 2Σ a(s − count·a) − 2μ Σ(s − count·a) + count·Σa² − 2μ·count·Σa + N·μ².
        var residuals = 0.0, weightedResiduals = 0.0
        let n = Double(count)
        for i in 0..<segments {
            let seg = p + i * stride
            let s = Double(VectorMath.sum(seg, count))
            let a = Float(s / n)
            let d = Double(VectorMath.sumOfSquaredDeviations(seg, count, mean: a))
            let ad = Double(a), r = s - n * ad
            sums += s
            deviations += d
            means += ad
            meanSquares += ad * ad
            residuals += r
            weightedResiduals += ad * r
        }
        let total = Double(segments) * n
        let mu = sums / total
        let ss = deviations + 2 * weightedResiduals - 2 * mu * residuals + n * meanSquares - 2 * mu * n * means
            + total * mu * mu
        return (sums, max(0, ss))
    }
}
