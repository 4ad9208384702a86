import Foundation
import NeuralCore
import TensorIO
import Testing
import VAEFaces

/// A model and optimiser after `steps` Adam steps on a small random batch: every weight,
/// BatchNorm statistic and moment away from its initial value.
private func trainedModel(_ decoder: DecoderKind = .pixeldcl, latent: Int = 16, steps: Int = 2)
    -> (VAE, Adam, TrainingConfiguration) {
    let configuration = TrainingConfiguration(model: VAEConfiguration(latentDimension: latent, decoder: decoder),
                                              batchSize: 4, seed: 7)
    let model = VAE(configuration: configuration.model, seed: configuration.seed)
    let optimizer = Adam(parameters: model.parameters, learningRate: configuration.learningRate)
    var rng = SeededGenerator(seed: 99)
    let x = Tensor(shape: [4, 3, 64, 64])
    for i in 0..<x.count { x[i] = rng.nextUniform() }
    let noise = Tensor(shape: [4, latent])
    for _ in 0..<steps {
        rng.fillNormal(noise)
        _ = model.trainingStep(x, noise: noise)
        optimizer.step()
    }
    return (model, optimizer, configuration)
}

private func bitsEqual(_ a: Tensor, _ b: Tensor) -> Bool {
    a.shape == b.shape && (0..<a.count).allSatisfy { a[$0].bitPattern == b[$0].bitPattern }
}

/// The message of the error `body` throws (VAEFacesError or FileError), or nil.
func errorMessage(_ body: () throws -> Void) -> String? {
    do {
        try body()
        return nil
    } catch {
        return "\(error)"
    }
}

@Suite struct CheckpointTests {
    @Test func roundTripRestoresEveryTensorAndTheState() throws {
        let (model, optimizer, configuration) = trainedModel()
        var generator = SeededGenerator(seed: 5, stream: 2)
        _ = generator.next()
        let state = TrainingState(step: 2, position: .init(epoch: 3, batch: 17), noiseGenerator: generator,
                                  bestValidationLoss: 1234.5, bestValidationStep: 2, trainingSeconds: 1.5, threads: 2)
        let folder = TrainingTestData.temporaryFolder()
        defer { TrainingTestData.remove(folder) }
        let path = folder + "/latest.safetensors"
        try Checkpoint.write(to: path, model: model, optimizer: optimizer, configuration: configuration, state: state)

        let file = try Checkpoint.read(path: path)
        #expect(file.configuration == configuration)
        #expect(file.state == state)
        #expect(file.state.restoredNoiseGenerator == generator)
        #expect(file.archive.metadata["decoder"] == "pixeldcl")
        let restoredModel = VAE(configuration: file.configuration.model, seed: 12345)   // other initial weights
        let restoredOptimizer = Adam(parameters: restoredModel.parameters, learningRate: file.configuration.learningRate)
        try Checkpoint.restore(file, model: restoredModel, optimizer: restoredOptimizer)
        #expect(restoredOptimizer.stepCount == optimizer.stepCount)
        for ((name, a), (_, b)) in zip(model.stateDict + optimizer.state, restoredModel.stateDict + restoredOptimizer.state) {
            #expect(bitsEqual(a, b), "\(name) differs after the round trip")
        }
        #expect(model.stateDict.contains { $0.name == "decoder.bns.3.num_batches_tracked" && $0.tensor[0] == 2 })
    }

    @Test func truncatedCheckpointIsRefusedWithAMessage() throws {
        let (model, optimizer, configuration) = trainedModel(steps: 1)
        let folder = TrainingTestData.temporaryFolder()
        defer { TrainingTestData.remove(folder) }
        let path = folder + "/latest.safetensors"
        try Checkpoint.write(to: path, model: model, optimizer: optimizer, configuration: configuration,
                             state: TrainingState(step: 1, noiseGenerator: SeededGenerator(seed: 1)))
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        for keep in [bytes.count - 1, bytes.count / 2, 100, 4] {
            let cut = folder + "/cut-\(keep).safetensors"
            try bytes.prefix(keep).write(to: URL(fileURLWithPath: cut))
            let message = try #require(errorMessage { _ = try Checkpoint.read(path: cut) })
            #expect(message.hasPrefix(cut + ": "), "\(message)")
            #expect(message.contains("truncated") || message.contains("shorter"), "\(message)")
            let sampleMessage = try #require(errorMessage { _ = try ModelFile.load(path: cut) })
            #expect(sampleMessage.hasPrefix(cut + ": "))
        }
    }

    @Test func foreignFilesAreRefusedWithAMessage() throws {
        let folder = TrainingTestData.temporaryFolder()
        defer { TrainingTestData.remove(folder) }
        // Not safetensors at all.
        let text = folder + "/notes.safetensors"
        try Data(String(repeating: "hello, world\n", count: 20).utf8).write(to: URL(fileURLWithPath: text))
        let m1 = try #require(errorMessage { _ = try Checkpoint.read(path: text) })
        #expect(m1.contains("not a safetensors file"), "\(m1)")
        // Valid safetensors, but not a VAE.
        var writer = SafeTensorsWriter(metadata: ["format": "something-else"])
        writer.add("layer.weight", shape: [2, 2], values: [1, 2, 3, 4])
        let other = folder + "/other.safetensors"
        try writer.write(to: other)
        let m2 = try #require(errorMessage { _ = try Checkpoint.read(path: other) })
        #expect(m2.contains("not a vae-faces training checkpoint"), "\(m2)")
        let m3 = try #require(errorMessage { _ = try ModelFile.load(path: other) })
        #expect(m3.contains("not a VAE model"), "\(m3)")
        // An exported model is a model but not a checkpoint: it samples but cannot be resumed.
        let (model, _, _) = trainedModel(steps: 1)
        let exported = folder + "/model.safetensors"
        try ModelExport.write(model, to: exported)
        let m4 = try #require(errorMessage { _ = try Checkpoint.read(path: exported) })
        #expect(m4.contains("'vae-faces-model'"), "\(m4)")
        // Missing files.
        let m5 = try #require(errorMessage { _ = try ModelFile.load(path: folder + "/none.safetensors") })
        #expect(m5.contains("no such file"), "\(m5)")
    }

    @Test func exportHoldsExactlyTheStateDictAndLoadsBack() throws {
        let (model, _, _) = trainedModel(.dcl, steps: 1)
        let folder = TrainingTestData.temporaryFolder()
        defer { TrainingTestData.remove(folder) }
        try ModelExport.write(model, to: folder + "/f32.safetensors", step: 1)
        try ModelExport.write(model, to: folder + "/f16.safetensors", half: true)
        let archive = try SafeTensorsArchive.read(path: folder + "/f32.safetensors")
        #expect(archive.names == model.stateDict.map(\.name).sorted())
        #expect(archive.metadata["decoder"] == "dcl" && archive.metadata["step"] == "1")
        let exact = try ModelFile.load(path: folder + "/f32.safetensors")
        #expect(exact.decoder == .dcl && exact.decoderSource == "metadata" && exact.hasEncoder && exact.step == 1)
        for ((name, a), (_, b)) in zip(model.stateDict, exact.model.stateDict) {
            #expect(bitsEqual(a, b), "\(name)")
        }
        let half = try ModelFile.load(path: folder + "/f16.safetensors")
        let halfArchive = try SafeTensorsArchive.read(path: folder + "/f16.safetensors")
        #expect(halfArchive.dtype("encoder.mu.weight") == "F16")
        #expect(halfArchive.dtype("decoder.bn0.num_batches_tracked") == "F32")
        for ((name, a), (_, b)) in zip(model.stateDict, half.model.stateDict) {
            for i in 0..<a.count {
                #expect(abs(a[i] - b[i]) <= abs(a[i]) * 0x1p-11 + 1e-7, "\(name)[\(i)]: \(a[i]) vs \(b[i])")
            }
        }
    }

    @Test(arguments: DecoderKind.allCases)
    func decoderIsInferredFromTensorNamesWithoutMetadata(_ kind: DecoderKind) throws {
        let model = VAE(configuration: VAEConfiguration(latentDimension: 8, decoder: kind), seed: 3)
        let folder = TrainingTestData.temporaryFolder()
        defer { TrainingTestData.remove(folder) }
        // A PyTorch-style state_dict: no metadata, int-free, names as the peer's.
        var writer = SafeTensorsWriter()
        for (name, tensor) in model.stateDict where !name.hasSuffix("num_batches_tracked") { writer.add(name, values: tensor) }
        try writer.write(to: folder + "/plain.safetensors")
        let loaded = try ModelFile.load(path: folder + "/plain.safetensors")
        #expect(loaded.decoder == kind && loaded.decoderSource == "tensor names")
        #expect(loaded.model.configuration.latentDimension == 8)
        // Decoder-only, with a torch.compile prefix: samples, but cannot encode.
        var decoderOnly = SafeTensorsWriter()
        for (name, tensor) in model.stateDict where name.hasPrefix("decoder.") {
            decoderOnly.add("_orig_mod." + name.dropFirst("decoder.".count), values: tensor)
        }
        try decoderOnly.write(to: folder + "/decoder.safetensors")
        let partial = try ModelFile.load(path: folder + "/decoder.safetensors")
        #expect(partial.decoder == kind && !partial.hasEncoder)
        let message = try #require(errorMessage { _ = try ModelFile.load(path: folder + "/decoder.safetensors", requireEncoder: true) })
        #expect(message.contains("only a decoder"))
    }

    @Test func wrongShapesAndContradictingMetadataAreRefused() throws {
        let model = VAE(configuration: VAEConfiguration(latentDimension: 8, decoder: .pixeldcl), seed: 3)
        let folder = TrainingTestData.temporaryFolder()
        defer { TrainingTestData.remove(folder) }
        var writer = SafeTensorsWriter(metadata: ["decoder": "dcl"])
        for (name, tensor) in model.stateDict { writer.add(name, values: tensor) }
        try writer.write(to: folder + "/contradiction.safetensors")
        let m1 = try #require(errorMessage { _ = try ModelFile.load(path: folder + "/contradiction.safetensors") })
        #expect(m1.contains("metadata says decoder 'dcl'") && m1.contains("'pixeldcl'"), "\(m1)")

        var bad = SafeTensorsWriter()
        for (name, tensor) in model.stateDict {
            if name == "decoder.ups.1.w1" { bad.add(name, shape: [tensor.count], values: tensor) } else { bad.add(name, values: tensor) }
        }
        try bad.write(to: folder + "/shape.safetensors")
        let m2 = try #require(errorMessage { _ = try ModelFile.load(path: folder + "/shape.safetensors") })
        #expect(m2.contains("'decoder.ups.1.w1' has shape"), "\(m2)")

        var missing = SafeTensorsWriter()
        for (name, tensor) in model.stateDict where name != "encoder.features.4.running_var" { missing.add(name, values: tensor) }
        try missing.write(to: folder + "/missing.safetensors")
        let m3 = try #require(errorMessage { _ = try ModelFile.load(path: folder + "/missing.safetensors") })
        #expect(m3.contains("no tensor 'encoder.features.4.running_var'"), "\(m3)")

        var nonFinite = SafeTensorsWriter()
        for (name, tensor) in model.stateDict {
            var values = tensor.array
            if name == "decoder.out.bias" { values[1] = .nan }
            nonFinite.add(name, shape: tensor.shape, values: values)
        }
        try nonFinite.write(to: folder + "/nan.safetensors")
        let m4 = try #require(errorMessage { _ = try ModelFile.load(path: folder + "/nan.safetensors") })
        #expect(m4.contains("non-finite"), "\(m4)")
    }
}
