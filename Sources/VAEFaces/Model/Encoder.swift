import NeuralCore

/// The encoder of docs/model.md, identical for every decoder:
/// 4 × [Conv 4×4 stride 2 pad 1 (no bias) → BatchNorm → LeakyReLU(0.2)],
/// channels 3→32→64→128→256, spatial 64→32→16→8→4; flatten (C, H, W order: 4096) →
/// Linear → μ and Linear → log σ², each [N, latent].
/// Each BatchNorm → LeakyReLU pair is one `BatchNorm(activation: .leakyReLU(slope: 0.2))`.
///
/// Names are the PyTorch peer's, from `children`: "features" is its `nn.Sequential`, whose
/// indices count the LeakyReLUs fused here (conv 0, 3, 6, 9; BatchNorm 1, 4, 7, 10), then the
/// heads "mu" and "logvar": "features.0.weight", "features.1.running_mean", …, "logvar.bias".
public final class Encoder: Module {
    public static let channels = [3, 32, 64, 128, 256]
    /// Size of the flattened feature map: 256 × 4 × 4.
    public static let featureCount = 256 * 4 * 4

    public let convolutions: [Conv2d]
    /// BatchNorm → LeakyReLU(0.2) after each conv.
    public let batchNorms: [BatchNorm]
    public let mu: Linear
    public let logVariance: Linear
    /// dLoss/d(features) = the sum of both heads' input gradients, [N, 256, 4, 4].
    private var featureGradient: Tensor?

    public init(latentDimension: Int, generator: inout SeededGenerator) {
        let c = Encoder.channels
        var convolutions = [Conv2d]()
        for i in 0..<4 {
            convolutions.append(Conv2d(inputChannels: c[i], outputChannels: c[i + 1], kernelSize: 4, stride: 2,
                                       padding: 1, bias: false, generator: &generator))
        }
        convolutions[0].computesInputGradient = false   // nothing upstream of the image
        self.convolutions = convolutions
        batchNorms = (1...4).map { BatchNorm(channels: c[$0], activation: .leakyReLU(slope: 0.2)) }
        mu = Linear(inFeatures: Encoder.featureCount, outFeatures: latentDimension, generator: &generator)
        logVariance = Linear(inFeatures: Encoder.featureCount, outFeatures: latentDimension, generator: &generator)
    }

    public var children: [(name: String, module: any Module)] {
        let features = ModuleList(zip(convolutions, batchNorms).flatMap { [$0, $1] as [any Module] },
                                  indices: (0..<4).flatMap { [3 * $0, 3 * $0 + 1] })
        return [("features", features), ("mu", mu), ("logvar", logVariance)]
    }

    /// x [N, 3, 64, 64] → (μ, log σ²), each [N, latent] (owned by the heads).
    public func forward(_ x: Tensor, mode: Mode) -> (mu: Tensor, logVariance: Tensor) {
        let side = VAEConfiguration.imageSize
        precondition(x.shape.count == 4 && x.shape[1] == VAEConfiguration.imageChannels
                        && x.shape[2] == side && x.shape[3] == side,
                     "Encoder: input \(x.shape), expected [N, \(VAEConfiguration.imageChannels), \(side), \(side)]")
        var h = x
        for i in 0..<4 {
            h = convolutions[i].forward(h, mode: mode)
            h = batchNorms[i].forward(h, mode: mode)
        }
        return (mu.forward(h, mode: mode), logVariance.forward(h, mode: mode))
    }

    /// Accumulates every parameter gradient from dμ and d log σ² of the last forward.
    public func backward(muGradient: Tensor, logVarianceGradient: Tensor) {
        let a = mu.backward(muGradient)
        let b = logVariance.backward(logVarianceGradient)
        let g = reuse(featureGradient, shape: a.shape)
        featureGradient = g
        let pa = UnsafeSendable(a.pointer), pb = UnsafeSendable(b.pointer), pg = UnsafeSendable(g.pointer)
        VectorMath.chunked(g.count) { range in
            for i in range { pg.value[i] = pa.value[i] + pb.value[i] }
        }
        var d = g
        for i in (0..<4).reversed() {
            d = batchNorms[i].backward(d)
            d = convolutions[i].backward(d)
        }
    }
}
