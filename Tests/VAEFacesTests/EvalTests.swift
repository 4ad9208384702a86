import Foundation
import NeuralCore
import Testing
import VAEFaces

@Suite(.enabled(if: TrainingTestData.available, "needs ../shared/data/celeba next to the repository"))
struct EvalTests {
    /// −ELBO over 10 val images equals the same quantity computed image by image in the test:
    /// one forward each (batch of 1, inference mode), BCE and KL summed directly in Double.
    @Test func negativeELBOMatchesAnIndependentComputation() throws {
        let cache = try TrainingTestData.cache.get()
        let model = VAE(configuration: VAEConfiguration(latentDimension: 32, decoder: .pixeldcl), seed: 11)
        // Make the running statistics non-trivial, as after training.
        let warm = TrainingTestData.images(cache, Array(cache.indices(in: .train).prefix(8)))
        let warmNoise = Tensor(shape: [8, 32])
        for _ in 0..<3 { _ = model.forward(warm, noise: warmNoise, mode: .training) }

        let indices = Array(cache.indices(in: .val).prefix(10))
        let result = try Evaluation.run(model, cache: cache, split: .val, batchSize: 4, noiseSeed: 5, limit: 10)
        #expect(result.images == 10)

        var rec = 0.0, kl = 0.0
        for index in indices {
            let x = TrainingTestData.images(cache, [index])
            let noise = Tensor(shape: [1, 32])
            Evaluation.noise(forImage: index, seed: 5, dimension: 32, into: noise.pointer)
            let out = model.forward(x, noise: noise, mode: .inference)
            for i in 0..<x.count {
                let l = Double(out.logits[i]), t = Double(x[i])
                let p = 1 / (1 + exp(-l))
                rec -= t * log(p) + (1 - t) * log(1 - p)
            }
            for j in 0..<32 {
                let mu = Double(out.mu[j]), lv = Double(out.logVariance[j])
                kl += -0.5 * (1 + lv - mu * mu - exp(lv))
            }
        }
        rec /= 10
        kl /= 10
        #expect(result.reconstruction.isFinite && result.kl.isFinite)
        #expect(abs(result.reconstruction - rec) <= 1e-4 * rec, "rec \(result.reconstruction) vs \(rec)")
        #expect(abs(result.kl - kl) <= 1e-4 * kl + 1e-6, "kl \(result.kl) vs \(kl)")
        #expect(abs(result.negativeELBO - (rec + kl)) <= 1e-4 * (rec + kl))
        #expect(abs(result.bitsPerDimension - (rec + kl) / (12288 * log(2.0))) <= 1e-4 * result.bitsPerDimension)
        // Deterministic, and independent of the batch size.
        let again = try Evaluation.run(model, cache: cache, split: .val, batchSize: 10, noiseSeed: 5, limit: 10)
        #expect(abs(again.negativeELBO - result.negativeELBO) <= 1e-6 * result.negativeELBO)
        let otherNoise = try Evaluation.run(model, cache: cache, split: .val, batchSize: 4, noiseSeed: 6, limit: 10)
        #expect(otherNoise.reconstruction != result.reconstruction && otherNoise.kl == result.kl)
    }
}
