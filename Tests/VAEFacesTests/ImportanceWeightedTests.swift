import Foundation
import NeuralCore
import Testing
@testable import vae_faces
@testable import VAEFaces

/// The log weight log p(x|z) + log p(z) − log q(z|x) of one image, computed from the densities'
/// definitions in Double (the 2π terms written out), from a forward pass of that image alone.
private func logWeight(_ model: VAE, image x: Tensor, noise: Tensor) -> Double {
    let out = model.forward(x, noise: noise, mode: .inference)
    var logLikelihood = 0.0
    for i in 0..<x.count {
        let p = 1 / (1 + exp(-Double(out.logits[i]))), t = Double(x[i])
        logLikelihood += t * log(p) + (1 - t) * log(1 - p)
    }
    let halfLog2Pi = 0.5 * log(2 * Double.pi)
    var logPrior = 0.0, logPosterior = 0.0
    for j in 0..<noise.count {
        let z = Double(out.z[j]), mu = Double(out.mu[j]), sigma = exp(0.5 * Double(out.logVariance[j]))
        logPrior += -0.5 * z * z - halfLog2Pi
        logPosterior += -0.5 * ((z - mu) / sigma) * ((z - mu) / sigma) - log(sigma) - halfLog2Pi
    }
    return logLikelihood + logPrior - logPosterior
}

/// A small untrained model with non-trivial BatchNorm running statistics, as after training.
func warmedModel(_ cache: PreparedCache, latent: Int, decoder: DecoderKind = .pixeldcl) -> VAE {
    let model = VAE(configuration: VAEConfiguration(latentDimension: latent, decoder: decoder), seed: 11)
    let warm = TrainingTestData.images(cache, Array(cache.indices(in: .train).prefix(8)))
    let noise = Tensor(shape: [8, latent])
    for _ in 0..<3 { _ = model.forward(warm, noise: noise, mode: .training) }
    return model
}

@Suite struct LogMeanExpTests {
    @Test func logMeanExpIsExactWhereExpOverflows() {
        var large = LogMeanExp(), small = LogMeanExp()
        for v in [1000.0, 1001, 999] { large.add(v) }
        for v in [-1001.0, -1000, -999] { small.add(v) }    // a rising sequence rescales the sum each time
        let expected = log((1 + exp(1.0) + exp(-1.0)) / 3)
        #expect(abs(large.value - (1000 + expected)) < 1e-12)
        #expect(abs(small.value - (-1000 + expected)) < 1e-12)
        var one = LogMeanExp()
        one.add(-7.25)
        #expect(one.value == -7.25 && one.count == 1)
    }
}

@Suite(.enabled(if: TrainingTestData.available, "needs ../shared/data/celeba next to the repository"))
struct ImportanceWeightedTests {
    /// Per-image L_K equals log-mean-exp of K log weights computed one forward at a time, with the
    /// ε_k drawn in order from the image's evaluation noise generator; and it does not depend on
    /// the batch size (the (image, sample) rows fall into different decoder chunks).
    @Test func boundsMatchAnIndependentComputation() throws {
        let cache = try TrainingTestData.cache.get()
        let d = 16, k = 5
        let model = warmedModel(cache, latent: d)
        let indices = Array(cache.indices(in: .val).prefix(3))
        let bounds = Evaluation.importanceWeightedBounds(model, cache: cache, indices: indices, samples: k,
                                                         batchSize: 4, noiseSeed: 9)
        #expect(bounds.count == 3)
        for (n, index) in indices.enumerated() {
            let x = TrainingTestData.images(cache, [index])
            var generator = Evaluation.noiseGenerator(forImage: index, seed: 9)
            var logWeights = [Double]()
            for _ in 0..<k {
                let noise = Tensor(shape: [1, d])
                generator.fillNormal(noise)
                logWeights.append(logWeight(model, image: x, noise: noise))
            }
            let top = logWeights.max()!
            let expected = top + log(logWeights.map { exp($0 - top) }.reduce(0, +) / Double(k))
            #expect(abs(bounds[n] - expected) <= 1e-5 * abs(expected), "image \(index): \(bounds[n]) vs \(expected)")
        }
        for batchSize in [1, 3, 64] {
            let other = Evaluation.importanceWeightedBounds(model, cache: cache, indices: indices, samples: k,
                                                            batchSize: batchSize, noiseSeed: 9)
            for (a, b) in zip(other, bounds) { #expect(abs(a - b) <= 1e-6 * abs(b), "batch \(batchSize): \(a) vs \(b)") }
        }
    }

    /// Deterministic by seed: the same seed gives the same bound, another seed another one.
    @Test func boundIsDeterministicBySeed() throws {
        let cache = try TrainingTestData.cache.get()
        let model = warmedModel(cache, latent: 16)
        let run = { (seed: UInt64) in
            try Evaluation.importanceWeighted(model, cache: cache, split: .val, samples: 4, batchSize: 8,
                                              noiseSeed: seed, limit: 6)
        }
        let a = try run(3), b = try run(3), c = try run(4)
        #expect(a == b)
        #expect(a.images == 6 && a.samples == 4 && a.noiseSeed == 3)
        #expect(c.negativeBound != a.negativeBound)
        #expect(abs(a.bitsPerDimension - a.negativeBound / (12288 * log(2.0))) <= 1e-12 * a.bitsPerDimension)
    }

    /// K = 1 is the single-sample ELBO estimate with the ELBO's own ε: −L_1 = the reconstruction
    /// term of `Evaluation.run` + the KL estimated as log q(z|x) − log p(z) at that z.
    @Test func oneSampleIsTheSingleSampleELBO() throws {
        let cache = try TrainingTestData.cache.get()
        let d = 16
        let model = warmedModel(cache, latent: d)
        let elbo = try Evaluation.run(model, cache: cache, split: .val, batchSize: 4, noiseSeed: 5, limit: 10)
        let iw = try Evaluation.importanceWeighted(model, cache: cache, split: .val, samples: 1, batchSize: 4,
                                                   noiseSeed: 5, limit: 10)
        var sampledKL = 0.0
        for index in cache.indices(in: .val).prefix(10) {
            let x = TrainingTestData.images(cache, [index])
            let noise = Tensor(shape: [1, d])
            Evaluation.noise(forImage: index, seed: 5, dimension: d, into: noise.pointer)
            let out = model.forward(x, noise: noise, mode: .inference)
            for j in 0..<d {
                let z = Double(out.z[j]), eps = Double(noise[j]), lv = Double(out.logVariance[j])
                sampledKL += -0.5 * eps * eps - 0.5 * lv + 0.5 * z * z      // log q − log p
            }
        }
        sampledKL /= 10
        let expected = elbo.reconstruction + sampledKL
        #expect(abs(iw.negativeBound - expected) <= 1e-5 * expected, "−L_1 \(iw.negativeBound) vs \(expected)")
        #expect(sampledKL != elbo.kl)   // the exact KL is not what L_1 uses
    }

    /// On the shipped PixelDCL model (a trained one, where q(z|x) and p(z|x) differ): L_1 < L_10 <
    /// L_100, and L_100 lies above the ELBO beyond its Monte-Carlo noise.
    @Test func boundRisesWithKAndLiesAboveTheELBO() throws {
        let path = TrainingTestData.packageRoot.appendingPathComponent("Models/pixeldcl.safetensors").path
        let cache = try TrainingTestData.cache.get()
        let model = try ModelFile.load(path: path, requireEncoder: true).model
        let indices = Array(cache.indices(in: .test).prefix(8))
        let bounds = [1, 10, 100].map {
            Evaluation.importanceWeightedBounds(model, cache: cache, indices: indices, samples: $0, batchSize: 64, noiseSeed: 0)
        }
        let means = bounds.map { $0.reduce(0, +) / Double($0.count) }
        #expect(means[0] < means[1] && means[1] < means[2], "L_1, L_10, L_100: \(means)")
        let elbo = -Evaluation.run(model, cache: cache, indices: indices, noiseSeed: 0).negativeELBO
        #expect(means[2] > elbo, "L_100 \(means[2]) below the ELBO \(elbo)")
        // The gain over the one-sample bound beats its Monte-Carlo noise: a paired t > 3 over the images.
        let gains = zip(bounds[2], bounds[0]).map { $0 - $1 }
        let meanGain = gains.reduce(0, +) / Double(gains.count)
        let sd = (gains.map { ($0 - meanGain) * ($0 - meanGain) }.reduce(0, +) / Double(gains.count - 1)).squareRoot()
        #expect(meanGain > 3 * sd / Double(gains.count).squareRoot(), "gains \(gains)")
    }
}

/// `--iw K` on the eval command (no data needed).
@Suite struct ImportanceWeightedOptionTests {
    @Test func iwNeedsAPositiveSampleCount() throws {
        #expect(try EvalCommand.parse(["--model", "m", "--iw", "100"]).importanceSamples == 100)
        #expect(try EvalCommand.parse(["--model", "m"]).importanceSamples == nil)
        #expect(throws: (any Error).self) { _ = try EvalCommand.parse(["--model", "m", "--iw", "0"]) }
    }
}
