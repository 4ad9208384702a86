import Foundation
import NeuralCore
import TensorIO
import Testing
import VAEFaces

private func norm(_ v: [Float]) -> Double { v.map { Double($0) * Double($0) }.reduce(0, +).squareRoot() }

@Suite struct SamplingTests {
    @Test func priorCodesDependOnlyOnSeedAndIndex() {
        let a = LatentCodes.prior(count: 64, dimension: 16, seed: 3)
        let b = LatentCodes.prior(count: 10, dimension: 16, seed: 3)
        let c = LatentCodes.prior(count: 10, dimension: 16, seed: 4)
        #expect(Array(a.array.prefix(160)) == b.array)
        #expect(b.array != c.array)
        let hot = LatentCodes.prior(count: 10, dimension: 16, seed: 3, temperature: 0.5)
        #expect(zip(hot.array, b.array).allSatisfy { $0 == 0.5 * $1 })
        // roughly standard normal
        let mean = a.array.reduce(0, +) / Float(a.count)
        let variance = a.array.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Float(a.count)
        #expect(abs(mean) < 0.1 && abs(variance - 1) < 0.15)
    }

    @Test func lerpAndSlerpInterpolateBetweenTheEnds() {
        let a: [Float] = [1, 0, 0], b: [Float] = [0, 2, 0]
        #expect(LatentCodes.lerp(a, b, 0) == a && LatentCodes.lerp(a, b, 1) == b)
        #expect(LatentCodes.lerp(a, b, 0.25) == [0.75, 0.5, 0])
        let s0 = LatentCodes.slerp(a, b, 0), s1 = LatentCodes.slerp(a, b, 1), mid = LatentCodes.slerp(a, b, 0.5)
        #expect(zip(s0, a).allSatisfy { abs($0 - $1) < 1e-6 } && zip(s1, b).allSatisfy { abs($0 - $1) < 1e-6 })
        // Orthogonal a, b: the midpoint is (a + b)·sin(π/4)/sin(π/2) = (a + b)/√2.
        #expect(abs(mid[0] - 1 / 2.0.squareRoot().float) < 1e-6 && abs(mid[1] - 2 / 2.0.squareRoot().float) < 1e-6)
        // Unit vectors stay on the unit sphere; a straight line dips inside it.
        let u: [Float] = [0.6, 0.8, 0], v: [Float] = [0, 0.6, -0.8]
        for t in stride(from: Float(0), through: 1, by: 0.125) {
            #expect(abs(norm(LatentCodes.slerp(u, v, t)) - 1) < 1e-5)
        }
        #expect(norm(LatentCodes.lerp(u, v, 0.5)) < 0.9)
        // Parallel vectors: no angle, falls back to the straight line.
        #expect(LatentCodes.slerp([1, 1], [2, 2], 0.5) == LatentCodes.lerp([1, 1], [2, 2], 0.5))
        let rows = LatentCodes.interpolations(pairs: [(a, b), (b, a)], steps: 5, spherical: false)
        #expect(rows.shape == [10, 3])
        #expect(LatentCodes.row(rows, 0) == a && LatentCodes.row(rows, 4) == b && LatentCodes.row(rows, 5) == b)
        // Consecutive codes as pairs: codes 0–1 and 2–3 of five (the fifth has no partner).
        let codes = LatentCodes.prior(count: 5, dimension: 3, seed: 1)
        let between = LatentCodes.interpolations(betweenPairsOf: codes, rows: 9, steps: 3, spherical: false)
        #expect(between.shape == [6, 3])
        #expect(LatentCodes.row(between, 0) == LatentCodes.row(codes, 0) && LatentCodes.row(between, 5) == LatentCodes.row(codes, 3))
        #expect(LatentCodes.interpolations(betweenPairsOf: codes, rows: 1, steps: 3, spherical: true).shape == [3, 3])
    }

    @Test func latentsAreReadFromNPYWithShapeChecks() throws {
        let folder = TrainingTestData.temporaryFolder()
        defer { TrainingTestData.remove(folder) }
        let values = (0..<(3 * 8)).map { Float($0) / 7 }
        try NPY.write(shape: [3, 8], values: values, to: folder + "/z.npy")
        let z = try LatentCodes.read(npy: folder + "/z.npy", dimension: 8)
        #expect(z.shape == [3, 8] && z.array == values)
        try NPY.write(shape: [8], values: Array(values.prefix(8)), to: folder + "/one.npy")
        #expect(try LatentCodes.read(npy: folder + "/one.npy", dimension: 8).shape == [1, 8])
        let message = try #require(errorMessage { _ = try LatentCodes.read(npy: folder + "/z.npy", dimension: 128) })
        #expect(message.contains("N×128") && message.hasPrefix(folder + "/z.npy"), "\(message)")
        var bad = values
        bad[10] = .infinity
        try NPY.write(shape: [3, 8], values: bad, to: folder + "/inf.npy")
        #expect(errorMessage { _ = try LatentCodes.read(npy: folder + "/inf.npy", dimension: 8) }?.contains("vector 1") == true)
    }

    @Test func sampleGridHasTheGridGeometryAndDependsOnlyOnTheSeed() throws {
        let model = VAE(configuration: VAEConfiguration(latentDimension: 16, decoder: .resizeconv), seed: 1)
        func grid(seed: UInt64, n: Int, columns: Int) -> Image8 {
            let z = LatentCodes.prior(count: n, dimension: 16, seed: seed)
            return Grid.make(tiles: Sampler.decode(model, latents: z, batchSize: 4), columns: columns)
        }
        let g = grid(seed: 9, n: 10, columns: 4)
        #expect(g.width == 4 * 66 + 2 && g.height == 3 * 66 + 2)
        #expect(grid(seed: 9, n: 10, columns: 4) == g)
        #expect(grid(seed: 10, n: 10, columns: 4) != g)
        // Batching does not change a face (inference-mode BatchNorm): tile 5 alone equals tile 5 of the grid.
        let z = LatentCodes.prior(count: 10, dimension: 16, seed: 9)
        let single = Tensor(shape: [1, 16], values: LatentCodes.row(z, 5))
        let alone = Sampler.decode(model, latents: single)[0]
        #expect(Grid.tile(5, of: g, columns: 4, tileSize: 64) == alone)
        // --each: one PNG per face, readable and equal to its tile.
        let folder = TrainingTestData.temporaryFolder()
        defer { TrainingTestData.remove(folder) }
        try Sampler.writeEach(Sampler.decode(model, latents: z), to: folder)
        let files = try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
        #expect(files.count == 10 && files.first == "000000.png" && files.last == "000009.png")
        #expect(Image8(try PNG.readRGB(folder + "/000005.png")) == alone)
    }

    @Test func pairedRowsPutReconstructionsBelowTheirOriginals() {
        func tile(_ v: UInt8) -> Image8 { Image8(width: 2, height: 2, fill: RGB8(v, v, v)) }
        let originals = (0..<5).map { tile(UInt8($0)) }, reconstructions = (0..<5).map { tile(UInt8(100 + $0)) }
        let tiles = Sampler.pairedRows(originals: originals, reconstructions: reconstructions, columns: 3)
        let values = tiles.map { $0.pixels[0] }
        #expect(values == [0, 1, 2, 100, 101, 102, 3, 4, 255, 103, 104])
    }

    /// A state_dict saved by the PyTorch peer (`safetensors.torch.save_file` of the pixeldcl
    /// decoder's entries of `VAE("pixeldcl").state_dict()`, float16, int64 num_batches_tracked,
    /// no metadata; non-trivial BatchNorm statistics) loads here and decodes 4 fixed latents to
    /// the peer's eval-mode images within one 8-bit level.
    @Test func peerStateDictSamplesThePeersImages() throws {
        let folder = TrainingTestData.packageRoot.appendingPathComponent("Tests/VAEFacesTests/Golden").path
        let loaded = try ModelFile.load(path: folder + "/peer_pixeldcl_decoder.safetensors")
        #expect(loaded.decoder == .pixeldcl && loaded.decoderSource == "tensor names" && !loaded.hasEncoder)
        #expect(loaded.model.decoder.bn0.batchesTracked[0] == 3)
        let golden = try SafeTensorsArchive.read(path: folder + "/peer_pixeldcl_samples.safetensors")
        let z = try golden.tensor("z")
        let expected = try golden.tensor("images")
        let images = Sampler.decode(loaded.model, latents: z)
        let peer = Image8.images(fromNCHW: expected)
        #expect(images.count == 4)
        var worst = 0, differing = 0
        for (ours, theirs) in zip(images, peer) {
            for (a, b) in zip(ours.pixels, theirs.pixels) {
                worst = max(worst, abs(Int(a) - Int(b)))
                if a != b { differing += 1 }
            }
        }
        #expect(worst <= 1, "largest difference \(worst) levels")
        // And in floats, far tighter than a level.
        let floats = loaded.model.decode(z)
        var maxError: Float = 0
        for i in 0..<floats.count { maxError = max(maxError, abs(floats[i] - expected[i])) }
        #expect(maxError < 1e-4, "max |ours − peer| = \(maxError)")
    }
}

private extension Double {
    var float: Float { Float(self) }
}

@Test func anExportCarriesTheTrainingRecordButKeepsItsOwnKeys() throws {
    let folder = TrainingTestData.temporaryFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let path = folder + "/m.safetensors"
    let vae = VAE(configuration: VAEConfiguration(decoder: .pixeldcl), seed: 1)
    try ModelExport.write(vae, to: path, half: true, step: 7,
                          record: ["training_state": "{\"step\":7}", "decoder": "dcl", "format": "other"])
    let archive = try SafeTensorsArchive.read(path: path)
    #expect(archive.metadata["training_state"] == "{\"step\":7}")
    #expect(archive.metadata["decoder"] == "pixeldcl" && archive.metadata["format"] == ModelExport.format)
    #expect(archive.metadata["step"] == "7")
    #expect(try ModelFile.load(path: path).decoder == .pixeldcl)
}
