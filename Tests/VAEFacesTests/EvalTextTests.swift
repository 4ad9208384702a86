import Testing
@testable import VAEFaces
@testable import vae_faces

/// What `vae-faces eval` prints for people.
@Suite struct EvalTextTests {
    /// Every bits/dim eval prints is followed by the likelihood caveat.
    @Test func evalTextSaysBitsPerDimensionAreNotComparableToPublishedOnes() {
        let result = EvaluationResult(images: 659, negativeELBO: 7000, reconstruction: 6900, kl: 100, bitsPerDimension: 0.82, noiseSeed: 0)
        let bound = ImportanceWeightedResult(images: 659, samples: 8, negativeBound: 6990, bitsPerDimension: 0.81, noiseSeed: 0)
        for text in [EvalCommand.text(split: .test, decoder: .dcl, result: result, bound: nil),
                     EvalCommand.text(split: .val, decoder: .pixeldcl, result: result, bound: bound)] {
            let lines = text.split(separator: "\n")
            #expect(lines.last == "  note: " + EvalCommand.bitsPerDimensionCaveat[...])
            #expect(lines.dropLast().contains { $0.contains("bits/dim") })
        }
        #expect(EvalCommand.bitsPerDimensionCaveat.contains("Bernoulli")
                && EvalCommand.bitsPerDimensionCaveat.contains("not comparable") && EvalCommand.bitsPerDimensionCaveat.contains("2.03"))
    }
}
