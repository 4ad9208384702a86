import NeuralCore
import Testing

/// Inference passes pack (and stack, remap) a layer's weights once per set of weights
/// (`Parameter.version`); training passes every time; a change of the weights through the
/// optimiser or `parametersDidChange` is never served from a stale cache.
struct WeightCacheTests {
    typealias ConvLayer = Layer & ConvolutionLayer
    typealias Case = (name: String, make: @Sendable (UInt64) -> any ConvLayer, input: [Int], convolutions: Int)

    /// Each convolution-type layer kind of the model, at a shape that runs its fast path (the
    /// Winograd, direct and phase kernels), and the weight packs of one pass (its convolutions,
    /// and PixelDCL's edge-tap W2 on wide maps).
    static let cases: [Case] = [
        ("conv2d", { seed in
            var g = SeededGenerator(seed: seed)
            return Conv2d(inputChannels: 32, outputChannels: 32, kernelSize: 3, padding: 1, bias: true, generator: &g)
        }, [2, 32, 32, 32], 1),
        ("encoder conv", { seed in
            var g = SeededGenerator(seed: seed)
            return Conv2d(inputChannels: 8, outputChannels: 16, kernelSize: 4, stride: 2, padding: 1, bias: true, generator: &g)
        }, [2, 8, 16, 16], 1),
        ("dcl", { seed in
            var g = SeededGenerator(seed: seed)
            return ConvTranspose2d.dcl(inputChannels: 64, outputChannels: 32, generator: &g)
        }, [2, 64, 8, 8], 1),
        ("pixeldcl", { seed in
            var g = SeededGenerator(seed: seed)
            return PixelDCL(inputChannels: 64, outputChannels: 64, generator: &g)
        }, [2, 64, 8, 8], 2),
        ("pixeldcl edge taps", { seed in   // a map wide enough for EdgeTaps: W2 is packed too
            var g = SeededGenerator(seed: seed)
            return PixelDCL(inputChannels: 32, outputChannels: 32, generator: &g)
        }, [2, 32, 32, 32], 3),
        ("ipixeldcl", { seed in
            var g = SeededGenerator(seed: seed)
            return IPixelDCL(inputChannels: 64, outputChannels: 64, generator: &g)
        }, [2, 64, 8, 8], 3),
        ("resizeconv", { seed in
            var g = SeededGenerator(seed: seed)
            return ResizeConv(inputChannels: 32, outputChannels: 16, generator: &g)
        }, [2, 32, 8, 8], 1),
    ]

    static func input(_ shape: [Int], seed: UInt64 = 7) -> Tensor {
        let x = Tensor(shape: shape)
        var g = SeededGenerator(seed: seed)
        g.fillNormal(x)
        return x
    }

    static func values(_ t: Tensor) -> [Float] { (0..<t.count).map { t[$0] } }

    @Test(arguments: cases.indices)
    func inferencePacksOnceTrainingEveryPass(_ index: Int) {
        let c = Self.cases[index], layer = c.make(1), x = Self.input(c.input)
        let first = Self.values(layer.forward(x, mode: .inference))
        #expect(layer.forwardWeightPacks == c.convolutions, "\(c.name)")
        for _ in 0..<3 { #expect(Self.values(layer.forward(x, mode: .inference)) == first, "\(c.name)") }
        #expect(layer.forwardWeightPacks == c.convolutions, "\(c.name): inference re-packed unchanged weights")
        for _ in 0..<2 { _ = layer.forward(x, mode: .training) }
        #expect(layer.forwardWeightPacks == 3 * c.convolutions, "\(c.name): training packs every pass")
    }

    @Test(arguments: cases.indices)
    func anAdamStepInvalidatesTheCache(_ index: Int) {
        let c = Self.cases[index], layer = c.make(1), x = Self.input(c.input)
        let before = Self.values(layer.forward(x, mode: .inference))
        // One training step on a random output gradient.
        let y = layer.forward(x, mode: .training)
        let dy = Self.input(y.shape, seed: 8)
        _ = layer.backward(dy)
        Adam(parameters: layer.parameters, learningRate: 1e-2).step()
        let packs = layer.forwardWeightPacks
        let after = Self.values(layer.forward(x, mode: .inference))
        #expect(layer.forwardWeightPacks == packs + c.convolutions, "\(c.name)")
        #expect(after != before, "\(c.name)")
        #expect(after == Self.values(Self.copy(of: layer, c).forward(x, mode: .inference)), "\(c.name): stale weights")
    }

    @Test(arguments: cases.indices)
    func weightsWrittenInPlaceAndMarkedGiveAFreshModelsOutput(_ index: Int) {
        let c = Self.cases[index], layer = c.make(1), other = c.make(2), x = Self.input(c.input)
        _ = layer.forward(x, mode: .inference)
        for ((_, p), (_, q)) in zip(layer.parameters, other.parameters) { p.value.copy(from: q.value) }
        layer.parametersDidChange()
        #expect(Self.values(layer.forward(x, mode: .inference)) == Self.values(other.forward(x, mode: .inference)),
                "\(c.name)")
        #expect(layer.forwardWeightPacks == 2 * c.convolutions, "\(c.name)")
    }

    /// A layer of the same kind that never ran, holding `layer`'s weights.
    static func copy(of layer: any ConvLayer, _ c: Case) -> any ConvLayer {
        let fresh = c.make(99)
        for ((_, p), (_, q)) in zip(fresh.parameters, layer.parameters) { p.value.copy(from: q.value) }
        return fresh
    }
}
