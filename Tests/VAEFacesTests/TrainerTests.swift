import Foundation
import NeuralCore
import Testing
import VAEFaces

/// A quiet trainer on the real CelebA cache: small batch, latent 32, validation on 8 val images.
private func makeTrainer(_ folder: String, steps: Int, batch: Int = 8, decoder: DecoderKind = .pixeldcl,
                         evalEvery: Int? = nil, checkpointEvery: Int? = nil, resume: Bool = false) throws -> Trainer {
    let cache = try TrainingTestData.cache.get()
    let schedule = TrainingSchedule(steps: steps, checkpointEvery: checkpointEvery, evalEvery: evalEvery,
                                    validationLimit: 8, gridCount: 8, gridColumns: 4)
    let run = RunFolder(folder)
    let trainer: Trainer
    if resume {
        trainer = try Trainer(resuming: Checkpoint.read(path: run.latestCheckpoint), schedule: schedule, folder: run, cache: cache)
    } else {
        let configuration = TrainingConfiguration(model: VAEConfiguration(latentDimension: 32, decoder: decoder),
                                                  batchSize: batch, seed: 42, dataFolder: TrainingTestData.celebA)
        trainer = try Trainer(configuration: configuration, schedule: schedule, folder: run, cache: cache)
    }
    trainer.showProgress = false
    trainer.onMessage = { _ in }
    trainer.shouldStop = { false }
    return trainer
}

/// Runs the trainer and returns the losses of the steps it made, by step.
private func losses(_ trainer: Trainer) throws -> (summary: TrainingSummary, losses: [Int: VAELossValue]) {
    var seen = [Int: VAELossValue]()
    let previous = trainer.onStep
    trainer.onStep = { record in
        seen[record.step] = record.loss
        previous?(record)
    }
    let summary = try trainer.run()
    return (summary, seen)
}

private func mean(_ values: [Double]) -> Double { values.reduce(0, +) / Double(values.count) }

/// The mean `cb` and `cb_local` of 64×64 faces, each scored on its own with one `ArtifactScorer`.
private func meanScores(_ images: [Image8]) -> (cb: Double, cbLocal: Double) {
    let scorer = ArtifactScorer()
    var cb = 0.0, cbLocal = 0.0
    for image in images {
        let scores = image.pixels.withUnsafeBufferPointer { scorer.score(interleaved: $0, channels: 3, height: 64, width: 64) }
        cb += scores.cb
        cbLocal += scores.cbLocal
    }
    return (cb / Double(images.count), cbLocal / Double(images.count))
}

/// The artifact columns of the log, in order.
private let artifactColumns = ["val_cb_ratio", "val_cb_local_ratio", "rec_cb_ratio", "rec_cb_local_ratio"]

@Suite(.enabled(if: TrainingTestData.available, "needs ../shared/data/celeba next to the repository"))
struct TrainerTests {
    @Test func shortTrainingLowersTheLossAndFillsTheRunFolder() throws {
        let folder = TrainingTestData.temporaryFolder()
        defer { TrainingTestData.remove(folder) }
        let trainer = try makeTrainer(folder, steps: 30, batch: 16, evalEvery: 15)
        let (summary, seen) = try losses(trainer)
        #expect(summary.outcome == .completed && summary.step == 30)
        let first = mean((1...5).map { seen[$0]!.total }), last = mean((26...30).map { seen[$0]!.total })
        #expect(last < first * 0.95, "loss went from \(first) to \(last)")

        let run = RunFolder(folder)
        for path in [run.latestCheckpoint, run.bestCheckpoint, run.log, run.lossPlot, run.sampleGrid(step: 15),
                     run.sampleGrid(step: 30), run.reconstructionGrid(step: 30)] {
            #expect(FileManager.default.fileExists(atPath: path), "missing \(path)")
        }
        let log = try CSVLog.read(path: run.log)
        #expect(log["step"] == (1...30).map(Double.init))
        #expect(log["val_loss"]!.enumerated().filter { $0.element.isFinite }.map(\.offset) == [14, 29])
        #expect(abs(log["loss"]![29] - seen[30]!.total) <= 1e-9 * seen[30]!.total)
        let grid = Image8(try PNG.readRGB(run.reconstructionGrid(step: 30)))
        #expect(grid.width == 4 * 66 + 2 && grid.height == 2 * 66 + 2)   // 4 originals above 4 reconstructions
        let latest = try Checkpoint.read(path: run.latestCheckpoint)
        #expect(latest.state.step == 30 && latest.adamStep == 30)
        #expect(latest.state.bestValidationStep != nil && latest.state.bestValidationLoss == summary.bestValidationLoss)
        #expect(try ModelFile.load(path: run.bestCheckpoint).decoder == .pixeldcl)
    }

    /// One fixed batch of 8 faces, trained on alone: the reconstruction loss approaches its floor,
    /// the targets' own entropy Σ H(x) (BCE against soft targets cannot go below it).
    @Test func overfittingOneBatchDrivesTheLossFarDown() throws {
        let cache = try TrainingTestData.cache.get()
        let x = TrainingTestData.images(cache, Array(cache.indices(in: .train).prefix(8)))
        var floor = 0.0
        for i in 0..<x.count {
            let t = Double(x[i])
            if t > 0 && t < 1 { floor -= t * log(t) + (1 - t) * log(1 - t) }
        }
        floor /= 8
        let model = VAE(configuration: VAEConfiguration(latentDimension: 32, decoder: .dcl), seed: 1)
        let optimizer = Adam(parameters: model.parameters, learningRate: 2e-3)
        var rng = SeededGenerator(seed: 2)
        let noise = Tensor(shape: [8, 32])
        var excess = [Double]()
        for _ in 0..<120 {
            rng.fillNormal(noise)
            let loss = model.trainingStep(x, noise: noise)
            optimizer.step()
            excess.append(loss.reconstruction - floor)
        }
        let start = excess[0], end = mean(Array(excess.suffix(5)))
        #expect(end < 0.12 * start, "reconstruction loss above the entropy floor: \(start) → \(end) nats/image (floor \(floor))")
    }

    /// k steps, a checkpoint, and a resumed run to n give the losses of n steps in one go, bit for
    /// bit — with validation at other steps in the two runs (it must not disturb training).
    @Test func resumedRunRepeatsTheUninterruptedLossesExactly() throws {
        let straight = TrainingTestData.temporaryFolder("straight"), split = TrainingTestData.temporaryFolder("split")
        defer { TrainingTestData.remove(straight); TrainingTestData.remove(split) }
        let (_, reference) = try losses(try makeTrainer(straight, steps: 12, evalEvery: 4))
        let (firstSummary, first) = try losses(try makeTrainer(split, steps: 5, evalEvery: 3))
        #expect(firstSummary.step == 5)
        let resumed = try makeTrainer(split, steps: 12, evalEvery: 3, resume: true)
        #expect(resumed.state.step == 5 && resumed.optimizer.stepCount == 5)
        let (summary, second) = try losses(resumed)
        #expect(summary.step == 12 && Set(first.keys) == Set(1...5) && Set(second.keys) == Set(6...12))
        for step in 1...12 {
            #expect((first[step] ?? second[step]) == reference[step], "step \(step)")
        }
        #expect(try CSVLog.read(path: RunFolder(split).log)["step"] == (1...12).map(Double.init))
        // The final states agree too.
        let a = try Checkpoint.read(path: RunFolder(straight).latestCheckpoint)
        let b = try Checkpoint.read(path: RunFolder(split).latestCheckpoint)
        #expect(a.state.position == b.state.position && a.state.noiseGenerator == b.state.noiseGenerator)
        for name in ["encoder.features.0.weight", "decoder.ups.3.w2", "decoder.bns.2.running_var", "adam.v.decoder.fc.weight"] {
            #expect(try a.archive.floats(name) == b.archive.floats(name), "\(name)")
        }
    }

    @Test func stopRequestSavesACheckpointAndEndsCleanly() throws {
        let folder = TrainingTestData.temporaryFolder()
        defer { TrainingTestData.remove(folder) }
        let trainer = try makeTrainer(folder, steps: 50, checkpointEvery: 100)
        var done = 0
        trainer.onStep = { _ in done += 1 }
        trainer.shouldStop = { done >= 2 }   // polled after each step: true after step 3
        let summary = try trainer.run()
        #expect(summary.outcome == .stopped && summary.step == 3)
        let checkpoint = try Checkpoint.read(path: RunFolder(folder).latestCheckpoint)
        #expect(checkpoint.state.step == 3 && checkpoint.adamStep == 3)
        #expect(FileManager.default.fileExists(atPath: RunFolder(folder).lossPlot))
        let resumed = try makeTrainer(folder, steps: 4, resume: true)
        #expect(try resumed.run().step == 4)
        // A new learning rate from the resumed step on (as after a NaN).
        let cache = try TrainingTestData.cache.get()
        let slower = try Trainer(resuming: Checkpoint.read(path: RunFolder(folder).latestCheckpoint),
                                 schedule: TrainingSchedule(steps: 5), folder: RunFolder(folder), cache: cache, learningRate: 1e-4)
        #expect(slower.optimizer.learningRate == 1e-4 && slower.configuration.learningRate == 1e-4 && slower.optimizer.stepCount == 4)
    }

    @Test func nonFiniteLossStopsAndKeepsTheLastGoodCheckpoint() throws {
        let folder = TrainingTestData.temporaryFolder()
        defer { TrainingTestData.remove(folder) }
        let trainer = try makeTrainer(folder, steps: 10, checkpointEvery: 2)
        trainer.onStep = { record in
            if record.step == 3 { trainer.model.decoder.out.bias!.value[0] = .nan }
        }
        var thrown: NonFiniteLossError?
        do {
            _ = try trainer.run()
        } catch let error as NonFiniteLossError {
            thrown = error
        }
        let error = try #require(thrown)
        #expect(error.step == 4 && error.checkpointStep == 2)
        #expect(error.description.contains("step 4") && error.description.contains("latest.safetensors (step 2)"), "\(error)")
        let file = try Checkpoint.read(path: RunFolder(folder).latestCheckpoint)
        #expect(file.state.step == 2)
        let model = try ModelFile.load(path: RunFolder(folder).latestCheckpoint).model
        #expect(model.decoder.out.bias!.value[0].isFinite)
    }

    /// The policy of `vae-faces train`: a new run's settings from the options and defaults, the
    /// length in epochs, a resumed run's own settings and data, conflicts, a changed learning rate.
    @Test func aTrainingRequestStartsOrResumesARun() throws {
        let cache = try TrainingTestData.cache.get()
        let folder = TrainingTestData.temporaryFolder()
        defer { TrainingTestData.remove(folder) }
        var request = TrainingRequest(run: .new(folder: folder), length: .epochs(2), decoder: .dcl)
        request.cache = cache.path
        request.batchSize = 8
        request.latentDimension = 16
        var notes = [String]()
        let setup = try request.makeTrainer { notes.append($0) }
        let perEpoch = cache.indices(in: .train).count / 8
        #expect(setup.stepsPerEpoch == perEpoch && setup.trainer.schedule.steps == 2 * perEpoch)
        #expect(setup.trainer.configuration == TrainingConfiguration(model: VAEConfiguration(latentDimension: 16, decoder: .dcl),
                                                                     batchSize: 8, cachePath: cache.path))
        #expect(!setup.trainer.isResumed && setup.trainer.schedule.checkpointEvery == 200)
        #expect(setup.description.hasPrefix("training dcl VAE (latent 16, β 1.0), batch 8, lr 0.0005, seed 0"), "\(setup.description)")
        try setup.trainer.saveLatest()

        var conflicting = TrainingRequest(run: .resume(folder: folder), length: .steps(3), decoder: .pixeldcl)
        conflicting.batchSize = 16
        conflicting.seed = 0
        let message = try #require(errorMessage { _ = try conflicting.makeTrainer { _ in } })
        #expect(message == "a resumed run keeps its settings; drop --decoder pixeldcl (the run's: dcl), --batch 16 (the run's: 8)")

        var resume = TrainingRequest(run: .resume(folder: folder), length: .steps(3))
        resume.learningRate = 1e-3
        notes = []
        let resumed = try resume.makeTrainer { notes.append($0) }
        #expect(resumed.trainer.isResumed && resumed.trainer.schedule.steps == 3)
        #expect(resumed.trainer.optimizer.learningRate == 1e-3 && resumed.trainer.configuration.cachePath == cache.path)
        #expect(notes == ["note: the learning rate changes from 0.0005 to 0.001 from step 1 on"], "\(notes)")

        let empty = TrainingTestData.temporaryFolder("empty")
        defer { TrainingTestData.remove(empty) }
        let missing = try #require(errorMessage { _ = try TrainingRequest(run: .resume(folder: empty), length: .steps(1)).makeTrainer { _ in } })
        #expect(missing.contains("not a training run folder"), "\(missing)")
    }

    /// At every validation the log holds the artifact ratios R = mean score / mean score of the
    /// real val faces, equal to the ratios computed here image by image: 256 samples of the fixed
    /// latents, and the val reconstructions; elsewhere they are nan; loss.svg plots them.
    @Test func validationsLogTheArtifactRatiosOfSamplesAndReconstructions() throws {
        let folder = TrainingTestData.temporaryFolder()
        defer { TrainingTestData.remove(folder) }
        let cache = try TrainingTestData.cache.get()
        let trainer = try makeTrainer(folder, steps: 4, evalEvery: 2)
        let val = Array(cache.indices(in: .val).prefix(8))   // makeTrainer's validation limit
        let real = meanScores(val.map(cache.image8))
        var expected = [Int: [Double]]()
        trainer.onStep = { record in
            guard record.validation != nil else { #expect(record.artifacts == nil); return }
            let latents = LatentCodes.prior(count: 256, dimension: 32, seed: 42)
            let samples = meanScores(Sampler.decode(trainer.model, latents: latents, batchSize: 8))
            let reconstructions = meanScores(Sampler.reconstruct(trainer.model, cache: cache, indices: val, batchSize: 8).reconstructions)
            expected[record.step] = [samples.cb / real.cb, samples.cbLocal / real.cbLocal,
                                     reconstructions.cb / real.cb, reconstructions.cbLocal / real.cbLocal]
        }
        _ = try trainer.run()
        #expect(Array(Trainer.logColumns.suffix(4)) == artifactColumns)
        #expect(Set(expected.keys) == [2, 4])
        let log = try CSVLog.read(path: RunFolder(folder).log)
        for (row, step) in log["step"]!.enumerated() {
            let logged = artifactColumns.map { log[$0]![row] }
            if let want = expected[Int(step)] {
                for (value, ratio) in zip(logged, want) {
                    #expect(value.isFinite && value > 0 && abs(value - ratio) <= 1e-12 * ratio, "step \(step): \(value), expected \(ratio)")
                }
            } else {
                #expect(logged.allSatisfy { $0.isNaN }, "step \(step): \(logged)")
            }
        }
        let svg = try String(contentsOfFile: RunFolder(folder).lossPlot, encoding: .utf8)
        for name in ["val −ELBO", "samples R(cb)", "samples R(cb_local)", "reconstructions R(cb)", "reconstructions R(cb_local)"] {
            #expect(svg.contains("data-name=\"\(name)\""), "loss.svg has no series '\(name)'")
        }
    }

    /// A run whose log predates the artifact columns resumes; its old rows get nan in them.
    @Test func aRunWithALogOfTheOldColumnsResumes() throws {
        let folder = TrainingTestData.temporaryFolder()
        defer { TrainingTestData.remove(folder) }
        _ = try makeTrainer(folder, steps: 2, evalEvery: 2).run()
        let run = RunFolder(folder)
        let oldCount = Trainer.logColumns.count - artifactColumns.count
        let oldLog = try String(contentsOfFile: run.log, encoding: .utf8).split(separator: "\n")
            .map { CSVLog.cells(of: String($0)).prefix(oldCount).joined(separator: ",") + "\n" }.joined()
        try oldLog.write(toFile: run.log, atomically: true, encoding: .utf8)
        _ = try makeTrainer(folder, steps: 4, evalEvery: 2, resume: true).run()
        let log = try CSVLog.read(path: run.log)
        #expect(log["step"] == [1, 2, 3, 4] && log["val_loss"]![1].isFinite && log["val_loss"]![3].isFinite)
        #expect(artifactColumns.allSatisfy { log[$0]![1].isNaN && log[$0]![3].isFinite })
        #expect(try String(contentsOfFile: run.lossPlot, encoding: .utf8).contains("data-name=\"samples R(cb)\""))
    }

    @Test func aRunFolderIsNotOverwrittenByANewRun() throws {
        let folder = TrainingTestData.temporaryFolder()
        defer { TrainingTestData.remove(folder) }
        _ = try makeTrainer(folder, steps: 1).run()
        let message = try #require(errorMessage { _ = try makeTrainer(folder, steps: 1) })
        #expect(message.contains("--resume"), "\(message)")
    }
}
