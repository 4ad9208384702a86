/// Whether BatchNorm uses batch statistics (training) or its running averages (inference).
public enum Mode: Sendable { case training, inference }

/// A trainable tensor and the gradient accumulated for it.
public final class Parameter: @unchecked Sendable {
    public let value: Tensor
    /// dLoss/dValue, same shape; backward passes *accumulate* into it (`+=`), the optimiser's
    /// step zeroes it.
    public let gradient: Tensor
    public init(shape: [Int]) {
        value = Tensor(shape: shape)
        gradient = Tensor(shape: shape)
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
