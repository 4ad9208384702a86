import NeuralCore

/// The decoder of docs/model.md; only the four Up layers depend on the `DecoderKind`:
/// Linear latent→4096 → reshape [256, 4, 4] → BatchNorm → ReLU →
/// 4 × [Up (256→128→64→32→32, spatial 4→8→16→32→64) → BatchNorm → ReLU] →
/// Conv 3×3 pad 1 (32→3, with bias) → logits [N, 3, 64, 64] (the image is σ(logits)).
/// Each BatchNorm → ReLU pair is one `BatchNorm(activation: .relu)` layer (fused passes).
///
/// Names are the PyTorch peer's, from `children`: "fc.weight", "fc.bias", "bn0.*",
/// "ups.K.<name>" (DCL/resize-conv "weight"; PixelDCL "w0", "w1", "w2"; iPixelDCL "w1", "w2",
/// "w3"), "bns.K.*", "out.weight", "out.bias".
public final class Decoder: Module {
    public static let upChannels = [(256, 128), (128, 64), (64, 32), (32, 32)]

    public let kind: DecoderKind
    public let fc: Linear
    /// BatchNorm(256) → ReLU.
    public let bn0: BatchNorm
    public let ups: [any Layer]
    /// BatchNorm → ReLU after each Up layer.
    public let bns: [BatchNorm]
    public let out: Conv2d
    /// The Linear's [N, 4096] output seen as the map [N, 256, 4, 4] (a view: the Linear's tensor
    /// keeps its shape).
    private var map: Tensor?

    public init(kind: DecoderKind, latentDimension: Int, generator: inout SeededGenerator) {
        self.kind = kind
        fc = Linear(inFeatures: latentDimension, outFeatures: 256 * 4 * 4, generator: &generator)
        bn0 = BatchNorm(channels: 256, activation: .relu)
        var ups = [any Layer]()
        for (cin, cout) in Decoder.upChannels {
            ups.append(kind.makeUpLayer(inputChannels: cin, outputChannels: cout, generator: &generator))
        }
        self.ups = ups
        bns = Decoder.upChannels.map { BatchNorm(channels: $0.1, activation: .relu) }
        out = Conv2d(inputChannels: 32, outputChannels: 3, kernelSize: 3, stride: 1, padding: 1, bias: true,
                     generator: &generator)
    }

    /// In the peer's registration order (fc, bn0, ups, bns, out).
    public var children: [(name: String, module: any Module)] {
        [("fc", fc), ("bn0", bn0), ("ups", ModuleList(ups)), ("bns", ModuleList(bns)), ("out", out)]
    }

    /// z [N, latent] → logits [N, 3, 64, 64] (owned by the last conv).
    public func forward(_ z: Tensor, mode: Mode) -> Tensor {
        let map = fc.forward(z, mode: mode).viewed(as: [z.shape[0], 256, 4, 4], reusing: self.map)
        self.map = map
        var h = bn0.forward(map, mode: mode)
        for k in 0..<ups.count {
            h = bns[k].forward(ups[k].forward(h, mode: mode), mode: mode)
        }
        return out.forward(h, mode: mode)
    }

    /// dLoss/dlogits → dLoss/dz [N, latent]; accumulates every parameter gradient.
    public func backward(_ logitsGradient: Tensor) -> Tensor {
        var d = out.backward(logitsGradient)
        for k in (0..<ups.count).reversed() {
            d = ups[k].backward(bns[k].backward(d))
        }
        d = bn0.backward(d)
        return fc.backward(d)
    }
}
