/// Whether BatchNorm uses batch statistics (training) or its running averages (inference).
public enum Mode: Sendable { case training, inference }

/// A trainable tensor and the gradient accumulated for it.
public final class Parameter: @unchecked Sendable {
    public let value: Tensor
    /// dLoss/dValue, same shape; backward passes *accumulate* into it (`+=`), the optimiser's
    /// step zeroes it.
    public let gradient: Tensor
    /// Counts the changes of `value`: whoever writes it (the optimiser's step, loading weights)
    /// calls `valueDidChange()`, and copies made from it for inference (packed kernel weights,
    /// stacked or remapped kernels: `DerivedWeights`) are remade only when it moved.
    public private(set) var version = 0

    public init(shape: [Int]) {
        value = Tensor(shape: shape)
        gradient = Tensor(shape: shape)
    }

    /// Marks `value` as changed: the next inference pass re-derives what it had cached from it.
    public func valueDidChange() { version &+= 1 }
}

/// Whether a copy derived from some parameters (kernel weights packed or stacked for a kernel)
/// must be remade. Training remakes it on every pass (its weights change every step, and this
/// keeps the training path exactly as it was); inference only after one of the parameters
/// changed (`Parameter.version`), so sampling and evaluation derive once per set of weights.
struct DerivedWeights {
    private var versions: [Int]?

    /// Whether to remake the copy for a pass in `mode` from `parameters`; records it as remade.
    mutating func needsUpdate(from parameters: [Parameter], mode: Mode) -> Bool {
        let current = parameters.map(\.version)
        defer { versions = mode == .inference ? current : nil }
        return mode == .training || versions != current
    }
}

/// One differentiable step of a network, with its forward and backward pass side by side.
///
/// Contract:
/// - `forward` computes the output and keeps whatever `backward` needs (its input, masks,
///   BatchNorm statistics). The returned tensor is owned by the layer and overwritten by its
///   next forward call; callers must not hold on to it across steps.
/// - `backward` takes dLoss/dOutput for the most recent forward call, **accumulates** the
///   parameter gradients into `Parameter.gradient`, and returns dLoss/dInput (also owned by the
///   layer). A layer whose `computesInputGradient` is false may skip that work and return an
///   unspecified tensor (the first layer of a network has no one to pass it to).
/// - As a `Module` (a leaf of the tree), a layer lists its tensors under their PyTorch
///   `state_dict` local names ("weight", "bias", "w0", "running_mean", ...) in `parameters` and
///   `buffers`; the containers above it add the prefixes ("encoder.features.0.weight").
public protocol Layer: Module {
    func forward(_ input: Tensor, mode: Mode) -> Tensor
    func backward(_ outputGradient: Tensor) -> Tensor
    var computesInputGradient: Bool { get set }
}
