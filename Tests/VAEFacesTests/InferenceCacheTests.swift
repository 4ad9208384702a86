import Foundation
import NeuralCore
import Testing
import TensorIO
import VAEFaces

/// Sampling packs the decoder's weights once, and loading other weights into the same model
/// (`VAE.load`) re-packs them: its samples then equal the other model's.
struct InferenceCacheTests {
    static func packs(_ decoder: Decoder) -> Int {
        decoder.ups.reduce(decoder.out.forwardWeightPacks) { $0 + (($1 as? ConvolutionLayer)?.forwardWeightPacks ?? 0) }
    }

    static func values(_ t: Tensor) -> [Float] { (0..<t.count).map { t[$0] } }

    @Test(arguments: DecoderKind.allCases)
    func samplingPacksOnceAndLoadingWeightsRepacks(_ kind: DecoderKind) throws {
        let model = VAE(configuration: VAEConfiguration(decoder: kind), seed: 1)
        let other = VAE(configuration: VAEConfiguration(decoder: kind), seed: 2)
        let z = LatentCodes.prior(count: 2, dimension: model.configuration.latentDimension, seed: 3)
        let first = Self.values(model.decoder.forward(z, mode: .inference))
        let once = Self.packs(model.decoder)
        #expect(once > 0)
        for _ in 0..<2 { #expect(Self.values(model.decoder.forward(z, mode: .inference)) == first) }
        #expect(Self.packs(model.decoder) == once)

        let path = try makeTemporaryFolder() + "/other.safetensors"
        try ModelExport.write(other, to: path)
        try model.load(from: try SafeTensorsArchive.read(path: path))
        let loaded = Self.values(model.decoder.forward(z, mode: .inference))
        #expect(Self.packs(model.decoder) == 2 * once)
        #expect(loaded == Self.values(other.decoder.forward(z, mode: .inference)))
    }
}
