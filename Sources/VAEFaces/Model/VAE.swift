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
    /// reconstruction + β·kl: the objective whose gradients `VAE.backward` computes.
    public var total: Double

    /// The two terms and their sum with the KL weighted by β.
    init(reconstruction: Double, kl: Double, klWeight: Float) {
        self.reconstruction = reconstruction
        self.kl = kl
        total = reconstruction + Double(klWeight) * kl
    }
}

/// The reference VAE of docs/model.md: `Encoder`, reparameterisation, `Decoder`, and the loss,
/// with a hand-written backward pass through all of it.
///
/// One training step (`trainingStep`, then an optimiser step on `parameters`):
///
///     x ─ encoder ─→ μ, log σ² ─ z = μ + σ·ε ─→ decoder ─→ logits
///     loss = BCE(logits, x) + β·KL(μ, log σ²)
///     dlogits ─ decoder.backward ─→ dz ─ reparameterisation ─→ dμ, d log σ² (+ β·dKL) ─ encoder.backward
///
/// Every layer keeps its outputs and gradients between calls, so after the first step at a
/// batch size nothing is allocated. The model keeps no other state between calls: `forward`
/// returns its tensors, `backward` takes them back.
///
/// Names: as a `Module` ("encoder", "decoder"), its `stateDict` lists every parameter and
/// buffer under the PyTorch peer's `state_dict` names ("encoder.features.0.weight",
/// "decoder.ups.2.w1", "decoder.bns.3.running_var", …), so weights move between the two
/// unchanged (`load(from:)`).
public final class VAE: Module {
    public let configuration: VAEConfiguration
    public let encoder: Encoder
    public let decoder: Decoder
    private let reparameterization = Reparameterization()
    private let sigmoid = Sigmoid()
    /// dLoss/dlogits of the last `backward`.
    private var logitsGradient: Tensor?

    /// A model initialised from `seed` (PyTorch's default schemes: U(±1/√fan_in) for conv,
    /// transposed-conv and Linear weights and biases; BatchNorm γ = 1, β = 0), layers in order.
    public init(configuration: VAEConfiguration, seed: UInt64) {
        precondition(configuration.latentDimension > 0, "VAE: latent dimension must be positive")
        self.configuration = configuration
        var generator = SeededGenerator(seed: seed, stream: 0)
        encoder = Encoder(latentDimension: configuration.latentDimension, generator: &generator)
        decoder = Decoder(kind: configuration.decoder, latentDimension: configuration.latentDimension,
                          generator: &generator)
        shareWorkspace()
    }

    public var children: [(name: String, module: any Module)] { [("encoder", encoder), ("decoder", decoder)] }

    /// Copies every parameter and buffer of `stateDict` from `archive`, looked up as
    /// `prefix + name`. Throws (naming the file and tensor) if one is missing or has another shape;
    /// other tensors in the archive are ignored. An int64 `num_batches_tracked` is read as its value.
    public func load(from archive: SafeTensorsArchive, prefix: String = "") throws {
        for (name, tensor) in stateDict { try archive.load(prefix + name, into: tensor) }
        parametersDidChange()
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
        return VAEOutput(logits: logits, mu: mu, logVariance: logVariance, z: z)
    }

    /// The loss of `output` against `target` (normally the forward's input x); no gradients.
    public func loss(_ output: VAEOutput, target: Tensor) -> VAELossValue {
        precondition(target.shape == output.logits.shape, "VAE.loss: target \(target.shape) for logits \(output.logits.shape)")
        return VAELossValue(reconstruction: VAELoss.binaryCrossEntropyWithLogits(logits: output.logits, targets: target),
                            kl: VAELoss.klDivergence(mu: output.mu, logVariance: output.logVariance),
                            klWeight: configuration.klWeight)
    }

    /// The loss of `output` against `target`, back-propagated: accumulates dLoss/dθ into every
    /// parameter's gradient and returns the loss. `output` must be the most recent `forward`'s
    /// (the layers back-propagate the forward they ran last).
    public func backward(_ output: VAEOutput, target: Tensor) -> VAELossValue {
        precondition(target.shape == output.logits.shape, "VAE.backward: target \(target.shape) for logits \(output.logits.shape)")
        let dLogits = reuse(logitsGradient, shape: output.logits.shape)
        logitsGradient = dLogits
        let reconstruction = VAELoss.binaryCrossEntropyWithLogits(logits: output.logits, targets: target, gradient: dLogits)
        let (dMu, dLogVariance) = reparameterization.backward(decoder.backward(dLogits))
        let kl = VAELoss.klDivergence(mu: output.mu, logVariance: output.logVariance, muGradient: dMu,
                                      logVarianceGradient: dLogVariance, gradientWeight: configuration.klWeight)
        encoder.backward(muGradient: dMu, logVarianceGradient: dLogVariance)
        return VAELossValue(reconstruction: reconstruction, kl: kl, klWeight: configuration.klWeight)
    }

    /// One step's gradients: forward (training mode) and backward on the batch x with noise ε;
    /// returns the loss. The optimiser step is the caller's.
    public func trainingStep(_ x: Tensor, noise: Tensor) -> VAELossValue {
        backward(forward(x, noise: noise, mode: .training), target: x)
    }

    // MARK: Sampling

    /// Images σ(decoder(z)) [N, 3, 64, 64] in [0, 1] for latents z [N, latent]; `.inference`
    /// (the default) uses the BatchNorm running averages. The result is owned by the model.
    /// Decoding reuses the decoder's buffers, so it ends any forward/backward in progress.
    public func decode(_ z: Tensor, mode: Mode = .inference) -> Tensor {
        precondition(z.shape.count == 2 && z.shape[1] == configuration.latentDimension,
                     "VAE.decode: z \(z.shape), expected [N, \(configuration.latentDimension)]")
        return sigmoid.forward(decoder.forward(z, mode: mode), mode: mode)
    }
}
