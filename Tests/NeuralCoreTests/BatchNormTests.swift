import Testing
import NeuralCore
import TestSupport

/// BatchNorm by its definition, in Double: per channel mean and biased variance over
/// (N, spatial), y = γ(x − μ)/√(σ² + ε) + β. Returns y, the batch means and biased variances.
func naiveBatchNorm(_ x: Tensor, gamma: [Float], beta: [Float]) -> (y: [Float], mean: [Double], variance: [Double]) {
    let n = x.shape[0], c = x.shape[1], s = x.shape.dropFirst(2).reduce(1, *)
    var y = [Float](repeating: 0, count: x.count)
    var means = [Double](), variances = [Double]()
    for ch in 0..<c {
        var values = [Double]()
        for i in 0..<n { for k in 0..<s { values.append(Double(x[(i * c + ch) * s + k])) } }
        let mean = values.reduce(0, +) / Double(values.count)
        let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count)
        means.append(mean); variances.append(variance)
        for i in 0..<n {
            for k in 0..<s {
                let j = (i * c + ch) * s + k
                y[j] = Float(Double(gamma[ch]) * (Double(x[j]) - mean) / (variance + 1e-5).squareRoot() + Double(beta[ch]))
            }
        }
    }
    return (y, means, variances)
}

/// A BatchNorm with non-trivial γ, β and running statistics.
func makeBatchNorm(_ channels: Int, seed: UInt64) -> BatchNorm {
    var rng = SeededGenerator(seed: seed)
    let bn = BatchNorm(channels: channels)
    for i in 0..<channels {
        bn.weight.value[i] = rng.nextUniform(0.5, 1.5)
        bn.bias.value[i] = rng.nextUniform(-0.5, 0.5)
        bn.runningMean[i] = rng.nextUniform(-0.3, 0.3)
        bn.runningVariance[i] = rng.nextUniform(0.5, 2)
    }
    return bn
}

/// Inputs with a per-channel offset and scale, so normalisation has work to do.
func channelInput(_ shape: [Int], seed: UInt64) -> Tensor {
    var rng = SeededGenerator(seed: seed)
    let x = Tensor(shape: shape)
    let c = shape[1], s = shape.dropFirst(2).reduce(1, *)
    for i in 0..<x.count {
        let ch = (i / s) % c
        x[i] = Float(ch) - 1 + (1 + 0.5 * Float(ch)) * rng.nextNormal()
    }
    return x
}

// 2-D maps (odd sizes, N = 1 with spatial extent, 16+ wide rows for the SIMD body) and vectors
// (N ≥ 3: with N = 2 every normalised value is ±1, a degenerate case).
let batchNormShapes: [[Int]] = [[2, 3, 4, 5], [3, 2, 3, 3], [1, 4, 5, 7], [2, 2, 4, 17], [5, 3], [7, 6]]

@Test(arguments: batchNormShapes)
func batchNormTrainingForwardMatchesDefinitionAndUpdatesRunningStatistics(shape: [Int]) {
    let bn = makeBatchNorm(shape[1], seed: 11)
    let x = channelInput(shape, seed: 12)
    let oldMean = bn.runningMean.array, oldVar = bn.runningVariance.array
    let y = bn.forward(x, mode: .training)
    let ref = naiveBatchNorm(x, gamma: bn.weight.value.array, beta: bn.bias.value.array)
    #expect(relativeMaxError(y.array, ref.y) < 1e-5)
    let m = Double(x.count / shape[1])
    for ch in 0..<shape[1] {
        let expectedMean = 0.9 * Double(oldMean[ch]) + 0.1 * ref.mean[ch]
        let expectedVar = 0.9 * Double(oldVar[ch]) + 0.1 * ref.variance[ch] * m / (m - 1)   // unbiased
        #expect(abs(Double(bn.runningMean[ch]) - expectedMean) < 1e-5 * max(1, abs(expectedMean)))
        #expect(abs(Double(bn.runningVariance[ch]) - expectedVar) < 1e-5 * max(1, expectedVar))
    }
    #expect(bn.batchesTracked[0] == 1)
    _ = bn.forward(x, mode: .training)
    #expect(bn.batchesTracked[0] == 2)
}

@Test(arguments: batchNormShapes)
func batchNormInferenceUsesRunningStatistics(shape: [Int]) {
    let bn = makeBatchNorm(shape[1], seed: 13)
    let x = channelInput(shape, seed: 14)
    let before = bn.buffers.map { $0.tensor.array }
    let y = bn.forward(x, mode: .inference)
    let s = x.count / (shape[0] * shape[1])
    for i in 0..<x.count {
        let ch = (i / s) % shape[1]
        let expected = bn.weight.value[ch] * (x[i] - bn.runningMean[ch]) / (bn.runningVariance[ch] + 1e-5).squareRoot()
            + bn.bias.value[ch]
        #expect(abs(y[i] - expected) < 1e-5 * max(1, abs(expected)))
    }
    #expect(bn.buffers.map { $0.tensor.array } == before, "inference must not touch the buffers")
}

@Test(arguments: batchNormShapes)
func batchNormGradientsCheckInBothModes(shape: [Int]) {
    for mode in [Mode.training, .inference] {
        let bn = makeBatchNorm(shape[1], seed: 15)
        let result = gradientCheck(bn, input: channelInput(shape, seed: 16), mode: mode)
        #expect(result.maxError < 5e-3, "\(mode): \(result)")
    }
}

@Test func batchNormNamesAndInitialValuesFollowPyTorch() {
    let bn = BatchNorm(channels: 3)
    #expect(bn.parameters.map(\.name) == ["weight", "bias"])
    #expect(bn.buffers.map(\.name) == ["running_mean", "running_var", "num_batches_tracked"])
    #expect(bn.weight.value.array == [1, 1, 1] && bn.bias.value.array == [0, 0, 0])
    #expect(bn.runningMean.array == [0, 0, 0] && bn.runningVariance.array == [1, 1, 1])
    #expect(bn.batchesTracked.shape == [] && bn.batchesTracked.count == 1 && bn.batchesTracked[0] == 0)
}

/// Normalised outputs of a large map (64 × 32 × 32 × 32, as in the model) have mean β and
/// standard deviation γ per channel; the Double accumulation keeps this tight.
@Test func batchNormNormalisesALargeBatch() {
    let shape = [16, 32, 32, 32]
    let bn = BatchNorm(channels: 32)
    let x = channelInput(shape, seed: 17)
    for i in 0..<x.count { x[i] += 100 }   // a large common offset
    let y = bn.forward(x, mode: .training)
    let s = 32 * 32
    for ch in 0..<32 {
        var sum = 0.0, sq = 0.0
        for i in 0..<16 { for k in 0..<s { let v = Double(y[(i * 32 + ch) * s + k]); sum += v; sq += v * v } }
        let m = Double(16 * s)
        #expect(abs(sum / m) < 1e-4)
        #expect(abs(sq / m - 1) < 1e-3)
    }
}

// MARK: BatchNorm fused with its activation

let fusedActivations: [(BatchNorm.Activation, @Sendable () -> Layer)] = [
    (.relu, { ReLU() }), (.leakyReLU(slope: 0.2), { LeakyReLU(slope: 0.2) }),
]

/// A BatchNorm with `activation` and the same γ, β, running statistics as `makeBatchNorm`.
func makeFusedBatchNorm(_ channels: Int, activation: BatchNorm.Activation, seed: UInt64) -> BatchNorm {
    let plain = makeBatchNorm(channels, seed: seed)
    let bn = BatchNorm(channels: channels, activation: activation)
    for (a, b) in zip(bn.parameters, plain.parameters) { a.parameter.value.copy(from: b.parameter.value) }
    for (a, b) in zip(bn.buffers, plain.buffers) { a.tensor.copy(from: b.tensor) }
    return bn
}

/// Inputs whose normalised values are exactly 0 in many places: every channel holds the
/// values ±1.5, ±0.25, ±3 and 0 in equal numbers (batch mean exactly 0, exact in Float), and
/// the running mean is set to 0, so with β = 0 the pre-activation z is exactly 0 wherever x is.
func kinkInput(_ shape: [Int]) -> Tensor {
    let pattern: [Float] = [0, 1.5, -1.5, 0.25, -0.25, 3, -3, 0]
    let x = Tensor(shape: shape)
    let c = shape[1], s = shape.dropFirst(2).reduce(1, *)
    // Index within the channel, so each channel sees whole copies of the pattern.
    for i in 0..<x.count {
        let (image, rest) = i.quotientAndRemainder(dividingBy: c * s)
        x[i] = pattern[(image * s + rest % s + rest / s) % pattern.count]
    }
    return x
}

/// The fused layer computes exactly what BatchNorm followed by the separate activation layer
/// computes (same forward bits, same backward bits, same parameter gradients), in both modes,
/// including inputs where the pre-activation sits exactly on the kink (z = 0).
@Test(arguments: [[2, 3, 4, 5], [2, 2, 4, 17], [4, 8, 4, 4], [8, 3]])
func fusedBatchNormActivationMatchesTheUnfusedPair(shape: [Int]) {
    for (activation, makeActivation) in fusedActivations {
        for mode in [Mode.training, .inference] {
            for kinks in [false, true] {
                if kinks && (shape.dropFirst(2).reduce(1, *) * shape[0]) % 8 != 0 { continue }
                let fused = makeFusedBatchNorm(shape[1], activation: activation, seed: 21)
                let plain = makeBatchNorm(shape[1], seed: 21)
                let x = kinks ? kinkInput(shape) : channelInput(shape, seed: 22)
                if kinks {
                    for bn in [fused, plain] { bn.bias.value.zero(); bn.runningMean.zero() }
                }
                let act = makeActivation()
                let y = fused.forward(x, mode: mode).array
                let yRef = act.forward(plain.forward(x, mode: mode), mode: mode).array
                #expect(y == yRef, "\(activation) \(mode) kinks \(kinks): forward differs")
                if kinks { #expect(y.contains(0), "the kink input must hit z = 0") }
                let dy = Reference.randomTensor(shape, seed: 23)
                let dx = fused.backward(dy).array
                let dxRef = plain.backward(act.backward(dy)).array
                #expect(dx == dxRef, "\(activation) \(mode) kinks \(kinks): input gradient differs")
                #expect(fused.weight.gradient.array == plain.weight.gradient.array)
                #expect(fused.bias.gradient.array == plain.bias.gradient.array)
                #expect(fused.buffers.map { $0.tensor.array } == plain.buffers.map { $0.tensor.array })
            }
        }
    }
}

/// At z = 0 the derivative follows the unfused layers' (and PyTorch's) convention: ReLU passes
/// nothing, LeakyReLU passes the slope. Inference mode, where dx = γ/√(var+ε) · act'(z) · dy.
@Test func fusedBatchNormDerivativeAtTheKink() {
    for (activation, slope) in [(BatchNorm.Activation.relu, Float(0)), (.leakyReLU(slope: 0.2), 0.2)] {
        let bn = BatchNorm(channels: 2, activation: activation)
        bn.weight.value[0] = 2; bn.weight.value[1] = 0.5
        bn.runningVariance.fill(1 - 1e-5)   // var + ε ≈ 1
        let x = Tensor(shape: [1, 2, 1, 3], values: [0, 1, -1, 0, 2, -2])
        let y = bn.forward(x, mode: .inference)
        #expect(y[0] == 0 && y[3] == 0)
        let dy = Tensor(shape: [1, 2, 1, 3], values: [1, 1, 1, 1, 1, 1])
        let dx = bn.backward(dy)
        let scale: [Float] = [bn.weight.value[0] / (1 as Float).squareRoot(), bn.weight.value[1]]
        for (i, expected) in [slope, 1, slope, slope, 1, slope].enumerated() {
            #expect(abs(dx[i] - scale[i / 3] * expected) < 1e-5, "\(activation) element \(i): \(dx[i])")
        }
    }
}

/// `x` with every element moved until its pre-activation z (under `bn`'s parameters and `mode`)
/// is at least `margin` from the kink, so that the finite differences (±1e-2 on one input or
/// parameter moves z by at most ~0.03) never straddle it.
func movedOffTheKink(_ x: Tensor, of bn: BatchNorm, mode: Mode, margin: Float = 0.08) -> Tensor {
    for _ in 0..<100 {
        let plain = BatchNorm(channels: bn.channels)   // identity: its output is z
        for (a, b) in zip(plain.parameters, bn.parameters) { a.parameter.value.copy(from: b.parameter.value) }
        for (a, b) in zip(plain.buffers, bn.buffers) { a.tensor.copy(from: b.tensor) }
        let z = plain.forward(x, mode: mode)
        var moved = false
        for i in 0..<x.count where abs(z[i]) < margin {
            x[i] += z[i] >= 0 ? 0.25 : -0.25
            moved = true
        }
        if !moved { return x }
    }
    Issue.record("could not move the input off the kink")
    return x
}

/// Finite differences (random projection loss accumulated in Double) through the fused layer.
@Test(arguments: batchNormShapes)
func fusedBatchNormGradientsCheckInBothModes(shape: [Int]) {
    for (activation, _) in fusedActivations {
        for mode in [Mode.training, .inference] {
            let bn = makeFusedBatchNorm(shape[1], activation: activation, seed: 15)
            let x = movedOffTheKink(channelInput(shape, seed: 16), of: bn, mode: mode)
            let result = gradientCheck(bn, input: x, mode: mode)
            #expect(result.maxError < 5e-3, "\(activation) \(mode): \(result)")
        }
    }
}
