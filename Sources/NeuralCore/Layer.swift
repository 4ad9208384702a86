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
/// - `parameters` and `buffers` list the layer's tensors under their PyTorch `state_dict`
///   local names ("weight", "bias", "w0", "running_mean", ...); containers prefix them
///   ("encoder.features.0.weight").
public protocol Layer: AnyObject {
    func forward(_ input: Tensor, mode: Mode) -> Tensor
    func backward(_ outputGradient: Tensor) -> Tensor
    var parameters: [(name: String, parameter: Parameter)] { get }
    /// Non-trainable state saved with the weights (BatchNorm running statistics).
    var buffers: [(name: String, tensor: Tensor)] { get }
    var computesInputGradient: Bool { get set }
}

extension Layer {
    public var parameters: [(name: String, parameter: Parameter)] { [] }
    public var buffers: [(name: String, tensor: Tensor)] { [] }
}
