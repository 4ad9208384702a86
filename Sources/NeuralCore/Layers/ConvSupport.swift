/// Useful floating-point operations of one forward and one backward pass (multiply-adds × 2),
/// for throughput reports. "Useful" = the layer's mathematical definition, not what a kernel
/// happens to execute (see each layer's `flops`).
public struct LayerFLOPs: Equatable, Sendable {
    public var forward: Double
    public var backward: Double
    public init(forward: Double, backward: Double) {
        self.forward = forward
        self.backward = backward
    }
}

/// A layer that can state its cost for an input shape.
public protocol FLOPCounting {
    func flops(inputShape: [Int]) -> LayerFLOPs
}

extension SeededGenerator {
    /// PyTorch's default initialisation of conv, transposed-conv and Linear weights and biases
    /// (kaiming_uniform with a = √5 and its bias rule both reduce to this): U(−1/√fan_in, 1/√fan_in).
    public mutating func fillKaimingUniform(_ tensor: Tensor, fanIn: Int) {
        fillUniform(tensor, bound: 1 / Float(fanIn).squareRoot())
    }
}

/// Checks that `input` is a batch of images [N, channels, H, W] as `layer` expects.
@inline(__always)
func expectImages(_ input: Tensor, channels: Int, _ layer: String) -> (n: Int, h: Int, w: Int) {
    let s = input.shape
    precondition(s.count == 4 && s[1] == channels,
                 "\(layer): input shape \(s), expected [N, \(channels), H, W]")
    return (s[0], s[2], s[3])
}
