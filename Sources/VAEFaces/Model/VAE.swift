import NeuralCore
import TensorIO

/// What one forward pass of the VAE produced (tensors owned by the model, overwritten by the
/// next forward).
public struct VAEOutput {
    /// Decoder output before the sigmoid, [N, 3, 64, 64].
    public let logits: Tensor
    /// Encoder mean and log-variance, [N, latent].
    public let mu: Tensor
    public let logVariance: Tensor
    /// The latent sample μ + σ·ε, [N, latent].
    public let z: Tensor
}

/// The loss of one batch, per image averaged over the batch:
/// total = reconstruction + β·KL.
public struct VAELossValue: Equatable, Sendable {
    /// Σ_pixels BCE(σ(logits), x), batch mean.
    public var reconstruction: Double
    /// KL(N(μ, σ²) ‖ N(0, I)), batch mean (without β).
    public var kl: Double
    /// reconstruction + β·kl: the objective whose gradients `backward` computes.
    public var total: Double
}

/// The reference VAE of docs/model.md: `Encoder`, reparameterisation, `Decoder`, and the loss,
/// with a hand-written backward pass through all of it.
///
/// A training step is `forward(x, noise:, mode: .training)`, `loss(target: x)`, `backward()`
/// (or `trainingStep`), then an optimiser step on `parameters`. Every layer keeps its outputs and
/// gradients between calls, so after the first step at a batch size nothing is allocated.
///
/// Names: `stateDict` lists every parameter and buffer under the PyTorch peer's `state_dict`
/// names ("encoder.features.0.weight", "decoder.ups.2.w1", "decoder.bns.3.running_var", …), so
/// weights move between the two unchanged (`load(from:)`).
public final class VAE {
    public let configuration: VAEConfiguration
    public let encoder: Encoder
    public let decoder: Decoder
    private let reparameterization = Reparameterization()
    private let sigmoid = Sigmoid()
    private var last: VAEOutput?
    private var logitsGradient: Tensor?
    private var lossReady = false

    /// A model initialised from `seed` (PyTorch's default schemes: U(±1/√fan_in) for conv,
    /// transposed-conv and Linear weights and biases; BatchNorm γ = 1, β = 0), layers in order.
    public init(configuration: VAEConfiguration, seed: UInt64) {
        precondition(configuration.latentDimension > 0, "VAE: latent dimension must be positive")
        self.configuration = configuration
        var generator = SeededGenerator(seed: seed, stream: 0)
        encoder = Encoder(latentDimension: configuration.latentDimension, generator: &generator)
        decoder = Decoder(kind: configuration.decoder, latentDimension: configuration.latentDimension,
                          generator: &generator)
    }

    // MARK: Names

    /// Every trainable parameter with its state_dict name (for the optimiser).
    public var parameters: [(name: String, parameter: Parameter)] {
        encoder.parameters.map { ("encoder." + $0.name, $0.parameter) }
            + decoder.parameters.map { ("decoder." + $0.name, $0.parameter) }
    }

    /// The parameters' values under their state_dict names.
    public var namedParameters: [(name: String, tensor: Tensor)] {
        parameters.map { ($0.name, $0.parameter.value) }
    }

    /// BatchNorm running statistics and batch counts under their state_dict names.
    public var namedBuffers: [(name: String, tensor: Tensor)] {
        encoder.buffers.map { ("encoder." + $0.name, $0.tensor) } + decoder.buffers.map { ("decoder." + $0.name, $0.tensor) }
    }

    /// Parameters then buffers: everything a checkpoint or a PyTorch `state_dict` holds.
    public var stateDict: [(name: String, tensor: Tensor)] { namedParameters + namedBuffers }

    /// Copies every parameter and buffer of `stateDict` from `archive`, looked up as
    /// `prefix + name`. Throws (naming the file and tensor) if one is missing or has another shape;
    /// other tensors in the archive are ignored. An int64 `num_batches_tracked` is read as its value.
    public func load(from archive: SafeTensorsArchive, prefix: String = "") throws {
        for (name, tensor) in stateDict { try archive.load(prefix + name, into: tensor) }
    }

    // MARK: Forward, loss, backward

    /// x [N, 3, 64, 64] in [0, 1] and noise ε [N, latent] → logits, μ, log σ², z = μ + σ·ε.
    /// `.training` uses batch statistics (and updates the running averages); `.inference` the
    /// running averages. `noise` is kept by reference for `backward`: leave it unchanged until then.
    public func forward(_ x: Tensor, noise: Tensor, mode: Mode) -> VAEOutput {
        let (mu, logVariance) = encoder.forward(x, mode: mode)
        precondition(noise.count == mu.count, "VAE: noise \(noise.shape) for a latent of shape \(mu.shape)")
        let z = reparameterization.forward(mu: mu, logVariance: logVariance, noise: noise)
        let logits = decoder.forward(z, mode: mode)
        let output = VAEOutput(logits: logits, mu: mu, logVariance: logVariance, z: z)
        last = output
        lossReady = false
        return output
    }

    /// The loss of the last forward against `target` (normally its input x), and the gradient
    /// of the reconstruction term, kept for `backward`.
    public func loss(target: Tensor) -> VAELossValue {
        guard let last else { preconditionFailure("VAE.loss before forward") }
        precondition(target.shape == last.logits.shape, "VAE.loss: target \(target.shape) for logits \(last.logits.shape)")
        let g = reuse(logitsGradient, shape: last.logits.shape)
        logitsGradient = g
        let rec = VAELoss.binaryCrossEntropyWithLogits(logits: last.logits, targets: target, gradient: g)
        let kl = VAELoss.klDivergence(mu: last.mu, logVariance: last.logVariance)
        lossReady = true
        return VAELossValue(reconstruction: rec, kl: kl, total: rec + Double(configuration.klWeight) * kl)
    }

    /// Back-propagates the last `loss`: accumulates dLoss/dθ into every parameter's gradient.
    public func backward() {
        guard let last, let logitsGradient, lossReady else { preconditionFailure("VAE.backward before loss") }
        let dz = decoder.backward(logitsGradient)
        let (dMu, dLogVariance) = reparameterization.backward(dz)
        _ = VAELoss.klDivergence(mu: last.mu, logVariance: last.logVariance, muGradient: dMu,
                                 logVarianceGradient: dLogVariance, weight: configuration.klWeight)
        encoder.backward(muGradient: dMu, logVarianceGradient: dLogVariance)
        lossReady = false
    }

    /// forward (training mode) + loss + backward; the optimiser step is the caller's.
    public func trainingStep(_ x: Tensor, noise: Tensor) -> VAELossValue {
        _ = forward(x, noise: noise, mode: .training)
        let value = loss(target: x)
        backward()
        return value
    }

    // MARK: Sampling

    /// Images σ(decoder(z)) [N, 3, 64, 64] in [0, 1] for latents z [N, latent]; `.inference`
    /// (the default) uses the BatchNorm running averages. The result is owned by the model.
    /// Decoding reuses the decoder's buffers, so it ends any forward/loss/backward in progress.
    public func decode(_ z: Tensor, mode: Mode = .inference) -> Tensor {
        precondition(z.shape.count == 2 && z.shape[1] == configuration.latentDimension,
                     "VAE.decode: z \(z.shape), expected [N, \(configuration.latentDimension)]")
        last = nil
        lossReady = false
        return sigmoid.forward(decoder.forward(z, mode: mode), mode: mode)
    }
}
