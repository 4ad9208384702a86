import Testing
import NeuralCore
import TestSupport

/// y[n, o] = b[o] + Σ_i x[n, i]·W[o, i], by direct loops.
func naiveLinear(_ x: [Float], _ w: [Float], _ b: [Float], n: Int, inFeatures: Int, outFeatures: Int) -> [Float] {
    var y = [Float](repeating: 0, count: n * outFeatures)
    for r in 0..<n {
        for o in 0..<outFeatures {
            var s = Double(b[o])
            for i in 0..<inFeatures { s += Double(x[r * inFeatures + i]) * Double(w[o * inFeatures + i]) }
            y[r * outFeatures + o] = Float(s)
        }
    }
    return y
}

@Test(arguments: [[3, 5], [1, 7], [2, 3, 2, 2], [4, 1]] as [[Int]], [4, 1, 9])
func linearForwardMatchesLoopsAndGradientsCheck(inputShape: [Int], outFeatures: Int) {
    var rng = SeededGenerator(seed: 1)
    let inFeatures = inputShape.dropFirst().reduce(1, *)
    let layer = Linear(inFeatures: inFeatures, outFeatures: outFeatures, generator: &rng)
    rng.fillUniform(layer.bias.value, bound: 1)   // make the bias matter
    let x = Tensor(shape: inputShape)
    rng.fillNormal(x)
    let y = layer.forward(x, mode: .training)
    #expect(y.shape == [inputShape[0], outFeatures])
    let reference = naiveLinear(x.array, layer.weight.value.array, layer.bias.value.array,
                                n: inputShape[0], inFeatures: inFeatures, outFeatures: outFeatures)
    #expect(relativeMaxError(y.array, reference) < 1e-6)

    let result = gradientCheck(layer, input: x)
    #expect(result.maxError < 2e-3, "\(result)")
}

@Test func linearInitialisationIsUniformWithinBound() {
    var rng = SeededGenerator(seed: 3)
    let layer = Linear(inFeatures: 64, outFeatures: 32, generator: &rng)
    let bound: Float = 1 / 8
    let w = layer.weight.value.array, b = layer.bias.value.array
    #expect(w.allSatisfy { abs($0) <= bound } && b.allSatisfy { abs($0) <= bound })
    #expect(w.max()! > 0.9 * bound && w.min()! < -0.9 * bound)
    #expect(layer.parameters.map(\.name) == ["weight", "bias"])
}

@Test func linearBackwardAccumulatesParameterGradients() {
    var rng = SeededGenerator(seed: 4)
    let layer = Linear(inFeatures: 6, outFeatures: 3, generator: &rng)
    let x = Tensor(shape: [2, 6]); rng.fillNormal(x)
    let dy = Tensor(shape: [2, 3]); rng.fillNormal(dy)
    _ = layer.forward(x, mode: .training)
    _ = layer.backward(dy)
    let once = layer.weight.gradient.array + layer.bias.gradient.array
    _ = layer.backward(dy)
    let twice = layer.weight.gradient.array + layer.bias.gradient.array
    #expect(relativeMaxError(twice, once.map { 2 * $0 }) < 1e-6)
}
