import Foundation
import NeuralCore
import Testing
@testable import vae_faces
import VAEFaces

@Suite struct TraversalCodeTests {
    /// Row r·steps + s of the grid's codes is the base with only dimension dims[r] changed, to values[s].
    @Test func rowsDifferOnlyInTheChosenDimension() {
        let base = LatentCodes.row(LatentCodes.prior(count: 1, dimension: 12, seed: 2), 0)
        let dims = [3, 0, 11], values = Traversal.sweep(-3...3, steps: 7)
        #expect(values == [-3, -2, -1, 0, 1, 2, 3])
        let z = Traversal.latents(base: base, dimensions: dims, values: values)
        #expect(z.shape == [21, 12])
        for (r, j) in dims.enumerated() {
            for (s, value) in values.enumerated() {
                let row = LatentCodes.row(z, r * 7 + s)
                for k in 0..<12 { #expect(row[k] == (k == j ? value : base[k]), "row \(r), step \(s), dimension \(k)") }
            }
        }
    }

    @Test func mostActiveDimensionsAreTheLargestKL() {
        let kl = [0.1, 5, 0.0, 7, 5, 0.2]
        #expect(Traversal.mostActive(kl, count: 3) == [3, 1, 4])
        #expect(Traversal.mostActive(kl, count: 1) == [kl.indices.max { kl[$0] < kl[$1] }!])
    }

    @Test func badDimensionsAreOneLineErrors() throws {
        let model = VAE(configuration: VAEConfiguration(latentDimension: 16, decoder: .dcl), seed: 1)
        for (dims, expected) in [(Traversal.Dimensions.chosen([3, 17, 40]), "--dims 17 is out of range: the model has 16 latent dimensions (0 to 15)"),
                                 (.chosen([-1]), "--dims -1 is out of range: the model has 16 latent dimensions (0 to 15)"),
                                 (.mostActive(count: 20), "--dims 20: the model has 16 latent dimensions; ask for 1 to 16")] {
            let message = try #require(errorMessage {
                _ = try Traversal.run(model, dimensions: dims, base: .prior(seed: 0), range: -3...3, steps: 3, cache: nil)
            })
            #expect(message == expected)
        }
        let noData = try #require(errorMessage {
            _ = try Traversal.run(model, dimensions: .mostActive(count: 4), base: .prior(seed: 0), range: -3...3, steps: 3, cache: nil)
        })
        #expect(noData.contains("needs the val split: give --data") && !noData.contains("\n"))
    }

    @Test func traverseOptionsAreParsed() throws {
        let ok = try TraverseCommand.parse(["--model", "m", "--out", "g.png", "--range", "-2:2.5", "--dims", "3,17,40"])
        #expect(try ok.sweep == -2...2.5 && (try ok.dimensions) == .chosen([3, 17, 40]) && ok.steps == 9)
        #expect(try TraverseCommand.parse(["--model", "m", "--out", "g.png"]).dimensions == .mostActive(count: 8))
        #expect(try TraverseCommand.parse(["--model", "m", "--out", "g.png", "--dims", "5,"]).dimensions == .chosen([5]))
        for bad in [["--model", "m", "--out", "g.png", "--range", "3:-3"],
                    ["--model", "m", "--out", "g.png", "--range", "x"],
                    ["--model", "m", "--out", "g.png", "--dims", "0"],
                    ["--model", "m", "--out", "g.png", "--dims", "a,b"],
                    ["--model", "m", "--out", "g.png", "--steps", "1"],
                    ["--model", "m", "--out", "g.png", "--from-test", "-1"]] {
            #expect(throws: (any Error).self, "\(bad)") { _ = try TraverseCommand.parse(bad) }
        }
    }
}

@Suite(.enabled(if: TrainingTestData.available, "needs ../shared/data/celeba next to the repository"))
struct TraversalDataTests {
    /// The per-dimension KL equals a computation image by image, and the default rows are its argmax.
    @Test func defaultDimensionsAreTheMostActiveOnVal() throws {
        let cache = try TrainingTestData.cache.get()
        let model = warmedModel(cache, latent: 16, decoder: .resizeconv)
        let some = Array(cache.indices(in: .val).prefix(5))
        let kl = Traversal.averageKLPerDimension(model, cache: cache, indices: some, batchSize: 2)
        var expected = [Double](repeating: 0, count: 16)
        for index in some {
            let (mu, lv) = model.encoder.forward(TrainingTestData.images(cache, [index]), mode: .inference)
            for j in 0..<16 {
                let m = Double(mu[j]), v = Double(lv[j])
                expected[j] += -0.5 * (1 + v - m * m - exp(v)) / 5
            }
        }
        for j in 0..<16 { #expect(abs(kl[j] - expected[j]) <= 1e-9 + 1e-6 * expected[j], "dimension \(j)") }

        let result = try Traversal.run(model, dimensions: .mostActive(count: 4), base: .testFace(2), range: -2...2,
                                       steps: 3, cache: cache)
        let valKL = try #require(result.averageKL)
        #expect(result.dimensions.count == 4)
        #expect(result.dimensions[0] == valKL.indices.max { valKL[$0] < valKL[$1] })
        #expect(Set(result.dimensions) == Set(valKL.indices.sorted { valKL[$0] > valKL[$1] }.prefix(4)))
        // The base is the posterior mean of the third test face; the faces are its decoded rows.
        let test = cache.indices(in: .test)
        let mu = model.encoder.forward(TrainingTestData.images(cache, [test[2]]), mode: .inference).mu.array
        #expect(result.base == mu && result.faces.count == 12)
        #expect(result.latents.array == Traversal.latents(base: mu, dimensions: result.dimensions, values: [-2, 0, 2]).array)
        let outOfRange = try #require(errorMessage {
            _ = try Traversal.run(model, dimensions: .chosen([1]), base: .testFace(test.count), range: -2...2, steps: 3, cache: cache)
        })
        #expect(outOfRange == "--from-test \(test.count): the test split has \(test.count) faces (0 to \(test.count - 1))")
    }
}
