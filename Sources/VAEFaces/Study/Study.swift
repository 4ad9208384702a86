import Foundation
import NeuralCore
import TensorIO

/// `vae-faces study` (issue #12): the whole protocol behind the README's verdict on PixelDCL, from
/// one command. For each decoder × seed: train (batch 64, at least `steps` steps, longer while the
/// val −ELBO still falls: `StudyExtension`), export the model, the test −ELBO, the artifact score
/// of `samples` prior samples and of the test reconstructions against the real test faces, with
/// bootstrap intervals; then the across-seed tables (`StudyReport`) and the curves (`StudyPlot`).
///
/// The folder `out`:
///
///     OUT/runs/<decoder>-seed<S>/        the run folder of `vae-faces train … --out` (resumed, never restarted)
///     OUT/models/<decoder>-seed<S>.safetensors   its export
///     OUT/results/<decoder>-seed<S>.json the run's numbers (`StudyRunResult`); present = the run is done
///     OUT/study.json, study.md, study.svg   the study, rebuilt after every run (`collect` rebuilds them
///                                        from the result files alone)
///
/// Resumable at every point: a run with a result file is skipped; otherwise its run folder is
/// continued from its checkpoint to the length the rule asks (a run someone trained by hand with
/// the same command is adopted as it is), and the cheap stages after training are redone.
public struct Study: Sendable {
    public var out: String
    /// The data folder (nil: $VAE_FACES_DATA) or an explicit prepared cache.
    public var data: String?
    public var cache: String?
    public var decoders: [DecoderKind] = DecoderKind.allCases
    public var seeds: [UInt64] = [0, 1, 2]
    /// The length of a run before the extension rule.
    public var steps = 5000
    /// Prior samples scored per run (seed 0, temperature 1).
    public var samples = 1000
    /// Bootstrap rounds of each interval.
    public var resamples = 1000
    public var batchSize = 64
    /// The latent size of new runs (nil: the default, 128). For quick tests.
    public var latentDimension: Int?
    /// Val images validated on during training, and test images evaluated and scored (nil: all).
    /// For quick tests.
    public var validationLimit: Int?
    public var testLimit: Int?
    /// Show the trainer's progress bar on standard error.
    public var showTrainingProgress = true
    /// The FID Inception weights file: with it, each run's `samples` prior samples also get their
    /// FID and KID against the real test faces (`FIDScore`); without, the study says they were not computed.
    public var inception: String?

    public init(out: String, data: String? = nil, cache: String? = nil) {
        self.out = out
        self.data = data
        self.cache = cache
    }

    /// The bits/dim caveat, printed wherever the study shows bits/dim.
    public static let bitsPerDimensionCaveat = "The −ELBO uses a Bernoulli likelihood on continuous [0, 1] pixels, not a likelihood of 8-bit images: its bits/dim are a relative measure between these decoders, not comparable to published (discretised) bits/dim such as NVAE's 2.03 on CelebA 64."

    /// "dcl-seed0".
    public static func runName(_ decoder: DecoderKind, _ seed: UInt64) -> String { "\(decoder.rawValue)-seed\(seed)" }

    /// The files of a study folder.
    public struct Folder: Sendable {
        public let path: String
        public init(_ path: String) { self.path = path }

        /// The run folder's path as the study folder was given (relative stays relative), for commands.
        public func runPath(_ name: String) -> String { path + "/runs/" + name }
        public func run(_ name: String) -> RunFolder { RunFolder(runPath(name)) }
        public func model(_ name: String) -> String { path + "/models/" + name + ".safetensors" }
        public var results: String { path + "/results" }
        public func result(_ name: String) -> String { results + "/" + name + ".json" }
        public var json: String { path + "/study.json" }
        public var markdown: String { path + "/study.md" }
        public var plot: String { path + "/study.svg" }
    }

    public var folder: Folder { Folder(out) }

    /// What the study says while it works: one line per stage of a run, notes from preparation
    /// and training.
    public enum Event: Sendable {
        /// Run `index` (from 1) of `count` enters a stage ("skipped", "training to step 5000", …).
        case stage(index: Int, count: Int, run: String, stage: String)
        case note(String)
    }

    /// A stop request (Ctrl-C, SIGTERM) ended training; the run's checkpoint is saved and running
    /// the study again continues from it.
    public struct Stopped: Error, CustomStringConvertible, Sendable {
        public var run: String
        public var step: Int
        public var description: String { "stopped: \(run) at step \(step); run the same study command again to continue" }
    }

    /// Runs every seed × decoder not yet done (seed-major), then writes the study's documents; returns the
    /// report. A run whose folder another process is training (`vae-faces train` holds its
    /// `RunLock`) is skipped this time, with a stage line saying so. Throws `Stopped` on a stop
    /// request, and file, data and training errors.
    public func run(events: @escaping (Event) -> Void = { _ in }) throws -> StudyReport {
        precondition(steps > 0 && samples > 0 && resamples > 0, "Study: steps, samples and resamples must be positive")
        // Seed by seed, so that a study stopped early already has every decoder's first seed.
        let plan = seeds.flatMap { seed in decoders.map { ($0, seed) } }
        var real: RealFaces?
        for (offset, (decoder, seed)) in plan.enumerated() {
            let name = Study.runName(decoder, seed)
            let stage = { (text: String) in events(.stage(index: offset + 1, count: plan.count, run: name, stage: text)) }
            if FileManager.default.fileExists(atPath: folder.result(name)) {
                stage("done (\(folder.result(name)))")
                continue
            }
            do {
                try RunLock(folder.run(name)).release()
            } catch {
                stage("skipped: \(error)")
                continue
            }
            let training = try train(decoder, seed, stage: stage, note: { events(.note($0)) })
            if real == nil { real = try openRealFaces(events: events) }
            let result = try evaluate(decoder, seed, training: training, real: real!, stage: stage)
            try AtomicWrite.write(try result.encoded(), to: folder.result(name))
            stage("written \(folder.result(name))")
            try writeDocuments(try Study.readResults(in: folder.results))
        }
        return try writeDocuments(try Study.readResults(in: folder.results))
    }

    /// Rebuilds study.json, study.md and study.svg in `out` from the result files in `folder`
    /// (its `results/` subfolder when there is one), without any run folder or data.
    public static func collect(from folder: String, to out: String) throws -> StudyReport {
        let results = FileManager.default.fileExists(atPath: folder + "/results") ? folder + "/results" : folder
        return try Study(out: out).writeDocuments(try readResults(in: results))
    }

    /// The run results in `folder` (every `<decoder>-seed<S>.json`), in decoder then seed order.
    static func readResults(in folder: String) throws -> [StudyRunResult] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        let results = try names.filter { $0.hasSuffix(".json") && $0.contains("-seed") }
            .map { try StudyRunResult.read(path: folder + "/" + $0) }
        guard !results.isEmpty else { throw FileError(file: folder, "no study results (<decoder>-seed<S>.json) here") }
        return results.sorted {
            ($0.decoder.order, $0.seed) < ($1.decoder.order, $1.seed)
        }
    }

    /// Writes study.json, study.md and study.svg of `results` atomically.
    @discardableResult
    func writeDocuments(_ results: [StudyRunResult]) throws -> StudyReport {
        let report = StudyReport(runs: results)
        try AtomicWrite.write(try report.encoded(), to: folder.json)
        try AtomicWrite.write(Data(report.markdown().utf8), to: folder.markdown)
        try StudyPlot.write(results, to: folder.plot)
        return report
    }

    // MARK: Training

    /// How training went, for the result.
    struct Trained {
        var training: StudyTraining
        var steps: Int
        var commands: [String]
    }

    /// Trains the run to the length `StudyExtension` asks, session by session (each a
    /// `TrainingRequest`, as `vae-faces train` makes it: new, or resumed from latest.safetensors).
    private func train(_ decoder: DecoderKind, _ seed: UInt64, stage: (String) -> Void,
                       note: @escaping (String) -> Void) throws -> Trained {
        let name = Study.runName(decoder, seed)
        let run = folder.run(name)
        let rule = StudyExtension(steps: steps)
        while true {
            let step = try Study.checkpointStep(run)
            let validations = step > 0 ? try Study.validations(run, upTo: step) : []
            guard let target = rule.nextTarget(step: step, validations: validations) else { break }
            var request = TrainingRequest(run: step > 0 ? .resume(folder: run.path) : .new(folder: run.path),
                                          length: .steps(target), decoder: decoder)
            request.data = data
            request.cache = cache
            request.batchSize = batchSize
            request.latentDimension = latentDimension
            request.seed = seed
            request.validationLimit = validationLimit
            let setup = try request.makeTrainer(note: note)
            stage(step > 0 ? "training from step \(step) to \(target)" : "training to step \(target)")
            note(setup.description)
            let trainer = setup.trainer
            trainer.showProgress = showTrainingProgress
            trainer.onMessage = showTrainingProgress ? nil : note
            let summary = try trainer.run()
            if summary.outcome == .stopped { throw Stopped(run: name, step: summary.step) }
        }
        let checkpoint = try Checkpoint.read(path: run.latestCheckpoint)
        let final = checkpoint.state.step, validations = try Study.validations(run, upTo: final)
        let chunks = final > steps ? (final - steps + rule.chunk - 1) / rule.chunk : 0
        let training = StudyTraining(targetSteps: steps, capSteps: rule.cap, extensionChunks: chunks,
                                     capped: rule.isCapped(step: final, validations: validations),
                                     lastFall: rule.fall(validations: validations), seconds: checkpoint.state.trainingSeconds)
        return Trained(training: training, steps: final, commands: trainCommands(decoder, seed, final: final, rule: rule))
    }

    /// The step of the run's latest.safetensors, 0 when there is none.
    private static func checkpointStep(_ run: RunFolder) throws -> Int {
        guard FileManager.default.fileExists(atPath: run.latestCheckpoint) else { return 0 }
        return try Checkpoint.read(path: run.latestCheckpoint).state.step
    }

    /// (step, val −ELBO) of the validations in the run's log up to `step`, the checkpoint's (rows
    /// logged after it, before a crash, are not part of the run: a resume drops them).
    private static func validations(_ run: RunFolder, upTo step: Int) throws -> [(step: Int, loss: Double)] {
        StudyCurvePoint.rows(of: try CSVLog.read(path: run.log)).filter { $0.step <= step }.map { ($0.step, $0.valLoss) }
    }

    /// The data options as `vae-faces` takes them (none: $VAE_FACES_DATA, as for the study).
    private var dataOptions: String {
        [data.map { "--data \($0)" }, cache.map { "--cache \($0)" }].compactMap { $0 }.joined(separator: " ")
    }

    /// The train command of the run, then one resume per chunk the rule added.
    private func trainCommands(_ decoder: DecoderKind, _ seed: UInt64, final: Int, rule: StudyExtension) -> [String] {
        let run = folder.runPath(Study.runName(decoder, seed))
        var first = "vae-faces train \(dataOptions) --decoder \(decoder.rawValue) --seed \(seed) --steps \(min(final, steps)) --batch \(batchSize)"
        if let latentDimension { first += " --latent \(latentDimension)" }
        var commands = [first + " --out \(run)"]
        var target = steps
        while target < final {
            target = min(final, target + rule.chunk)
            commands.append("vae-faces train --resume \(run) --steps \(target)")
        }
        return commands
    }

    // MARK: Evaluation

    /// The real faces the runs are read against: the test split (first `testLimit`) and the val
    /// faces training validated on, scored once; with `inception`, the test faces' FID features.
    struct RealFaces {
        let cache: PreparedCache
        let testIndices: [Int]
        let test: [ArtifactScores]
        let val: [ArtifactScores]
        let fid: FIDReference?

        /// The weights and the test faces' features and Gaussian.
        typealias FIDReference = (extractor: FIDFeatureExtractor, features: FeatureMatrix, statistics: FeatureStatistics)
    }

    private func openRealFaces(events: (Event) -> Void) throws -> RealFaces {
        let dataFolder = data != nil || cache == nil ? try DataPreparation.resolveDataFolder(data) : nil
        let prepared = try DataPreparation.openOrPrepare(dataFolder: dataFolder, cachePath: cache) { event in
            if case .note(let text) = event { events(.note(text)) }
        }
        let test = try Evaluation.indices(of: prepared, split: .test, limit: testLimit)
        let val = try Evaluation.indices(of: prepared, split: .val, limit: validationLimit)
        var fid: RealFaces.FIDReference?
        if let inception {
            let extractor = try FIDFeatureExtractor(weightsFile: inception)
            let reference = try ReferenceFeatures.load(cache: prepared, split: .test, limit: test.count, extractor: extractor,
                                                       note: { events(.note($0)) })
            fid = (extractor, reference.features, FeatureStatistics(reference.features))
        }
        return RealFaces(cache: prepared, testIndices: test, test: ArtifactScoring.scoreCache(prepared, indices: test).scores,
                         val: ArtifactScoring.scoreCache(prepared, indices: val).scores, fid: fid)
    }

    /// Export, test −ELBO and artifact scores of a trained run, all from the exported model (so
    /// they equal what `eval` and `artifact-score` print for that file).
    private func evaluate(_ decoder: DecoderKind, _ seed: UInt64, training: Trained, real: RealFaces,
                          stage: (String) -> Void) throws -> StudyRunResult {
        let name = Study.runName(decoder, seed)
        let run = folder.run(name), modelPath = folder.model(name)
        stage("exporting \(modelPath)")
        let checkpoint = try ModelFile.load(path: run.latestCheckpoint, requireEncoder: true)
        try ModelExport.write(checkpoint, to: modelPath)
        let loaded = try ModelFile.load(path: modelPath, requireEncoder: true)
        let model = loaded.model

        stage("test −ELBO on \(real.testIndices.count) images")
        let test = Evaluation.run(model, cache: real.cache, indices: real.testIndices, batchSize: batchSize, noiseSeed: 0)
        stage("artifact scores of \(samples) samples and \(real.testIndices.count) reconstructions")
        let bootstrap = StudyBootstrap(resamples: resamples, level: 0.95, seed: 0)
        let sampleImages = try ArtifactScoring.modelImages(loaded, source: .prior(count: samples, seed: 0, temperature: 1), cache: nil)
        let reconstructions = Sampler.reconstruct(model, cache: real.cache, indices: real.testIndices, batchSize: batchSize).reconstructions
        let count = { (module: any Module) in module.parameters.reduce(0) { $0 + $1.parameter.value.count } }

        let reference = "--reference " + (data ?? cache ?? "$VAE_FACES_DATA")
        var commands = training.commands + [
            "vae-faces export --model \(folder.runPath(name))/latest.safetensors --out \(modelPath)",
            "vae-faces eval --model \(modelPath) \(dataOptions) --split test --seed 0",
            "vae-faces artifact-score --model \(modelPath) \(reference) --split test --n \(samples) --seed 0",
            "vae-faces artifact-score --model \(modelPath) \(reference) --split test --reconstructions",
        ]
        var fid: FIDScore?
        if let real = real.fid {
            stage("FID/KID of \(samples) samples against \(real.features.count) test faces")
            fid = try FIDScore(generated: real.extractor.features(of: sampleImages), reference: real.features,
                               referenceStatistics: real.statistics)
            let limit = testLimit.map { " --reference-n \($0)" } ?? ""
            commands.append("vae-faces fid --model \(modelPath) \(reference) --split test\(limit) --n \(samples) --seed 0 "
                            + "--inception \(real.extractor.weightsFile)")
        }
        return StudyRunResult(
            decoder: decoder, seed: seed, parameters: count(model), decoderParameters: count(model.decoder),
            batchSize: batchSize, latentDimension: model.configuration.latentDimension, steps: training.steps,
            training: training.training, commands: commands, test: test,
            samples: StudyArtifactReading(scores: ArtifactScoring.scores(of: sampleImages).scores, real: real.test, bootstrap: bootstrap),
            reconstructions: StudyArtifactReading(scores: ArtifactScoring.scores(of: reconstructions).scores, real: real.test,
                                                  bootstrap: bootstrap),
            realTestImages: real.test.count,
            noiseBand: StudyArtifactReading(scores: real.val, real: real.test, bootstrap: bootstrap),
            bootstrap: bootstrap, curves: StudyCurvePoint.rows(of: try CSVLog.read(path: run.log)), fid: fid)
    }
}

extension DecoderKind {
    /// The position in `allCases`: tables list decoders in this order.
    var order: Int { DecoderKind.allCases.firstIndex(of: self)! }
}
