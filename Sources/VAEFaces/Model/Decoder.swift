import NeuralCore

/// The decoder of docs/model.md; only the four Up layers depend on the `DecoderKind`:
/// Linear latent→4096 → reshape [256, 4, 4] → BatchNorm → ReLU →
/// 4 × [Up (256→128→64→32→32, spatial 4→8→16→32→64) → BatchNorm → ReLU] →
/// Conv 3×3 pad 1 (32→3, with bias) → logits [N, 3, 64, 64] (the image is σ(logits)).
/// Each BatchNorm → ReLU pair is one `BatchNorm(activation: .relu)` layer (fused passes).
///
/// Parameter names are the PyTorch peer's: "fc.weight", "fc.bias", "bn0.*", "ups.K.<name>"
/// (DCL/resize-conv "weight"; PixelDCL "w0", "w1", "w2"; iPixelDCL "w1", "w2", "w3"),
/// "bns.K.*", "out.weight", "out.bias".
public final class Decoder {
    public static let upChannels = [(256, 128), (128, 64), (64, 32), (32, 32)]

    public let kind: DecoderKind
    public let fc: Linear
    /// BatchNorm(256) → ReLU.
    public let bn0: BatchNorm
    public let ups: [any Layer]
    /// BatchNorm → ReLU after each Up layer.
    public let bns: [BatchNorm]
    public let out: Conv2d

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
    public var parameters: [(name: String, parameter: Parameter)] {
        var list = fc.parameters.map { ("fc.\($0.name)", $0.parameter) }
        list += bn0.parameters.map { ("bn0.\($0.name)", $0.parameter) }
        for (k, up) in ups.enumerated() { list += up.parameters.map { ("ups.\(k).\($0.name)", $0.parameter) } }
        for (k, bn) in bns.enumerated() { list += bn.parameters.map { ("bns.\(k).\($0.name)", $0.parameter) } }
        list += out.parameters.map { ("out.\($0.name)", $0.parameter) }
        return list
    }

    public var buffers: [(name: String, tensor: Tensor)] {
        var list = bn0.buffers.map { ("bn0.\($0.name)", $0.tensor) }
        for (k, bn) in bns.enumerated() { list += bn.buffers.map { ("bns.\(k).\($0.name)", $0.tensor) } }
        return list
    }

    /// z [N, latent] → logits [N, 3, 64, 64] (owned by the last conv).
    public func forward(_ z: Tensor, mode: Mode) -> Tensor {
        let n = z.shape[0]
        var h = fc.forward(z, mode: mode)
        h.reshape([n, 256, 4, 4])   // the Linear's [N, 4096] output viewed as a map (it reshapes it back)
        h = bn0.forward(h, mode: mode)
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
