import Foundation
import NeuralCore
import Testing
@testable import vae_faces
@testable import VAEFaces

/// `n` draws of a skewed positive score (like `cb`): exp of a normal, from `seed`.
private func scores(_ n: Int, seed: UInt64, scale: Double = 1) -> [Double] {
    var g = SeededGenerator(seed: seed)
    return (0..<n).map { _ in scale * exp(Double(g.nextNormal())) }
}

private func mean(_ values: [Double]) -> Double { values.reduce(0, +) / Double(values.count) }

@Suite struct BootstrapTests {
    @Test func theIntervalHoldsThePointEstimate() throws {
        let generated = scores(300, seed: 1, scale: 2), real = scores(400, seed: 2)
        let interval = try #require(Bootstrap.ratioOfMeans(generated, real, resamples: 1000, seed: 0))
        let point = mean(generated) / mean(real)
        #expect(interval.contains(point) && interval.low < point && point < interval.high, "\(interval) vs \(point)")
        // The scale of 2 is inside, a ratio of 1 (no difference) is far outside.
        #expect(interval.contains(2) && !interval.contains(1), "\(interval)")
    }

    @Test func theIntervalIsFixedByItsSeed() throws {
        let a = scores(100, seed: 3), b = scores(120, seed: 4)
        let first = Bootstrap.ratioOfMeans(a, b, resamples: 500, seed: 7)
        #expect(first == Bootstrap.ratioOfMeans(a, b, resamples: 500, seed: 7))
        #expect(first != Bootstrap.ratioOfMeans(a, b, resamples: 500, seed: 8))
    }

    @Test func theIntervalNarrowsWithMoreImages() throws {
        let width = { (n: Int) throws -> Double in
            let interval = try #require(Bootstrap.ratioOfMeans(scores(n, seed: 5), scores(n, seed: 6), resamples: 1000))
            return interval.high - interval.low
        }
        let (small, large) = (try width(40), try width(2000))
        // The width falls like 1/√n: 2000/40 = 50 images, so about 7× narrower.
        #expect(large < small / 4, "\(small) → \(large)")
    }

    @Test func anUndefinedRatioHasNoInterval() {
        #expect(Bootstrap.ratioOfMeans([1, 2], [0, 0]) == nil)
        #expect(Bootstrap.ratioOfMeans([], [1]) == nil)
    }
}

@Suite struct StudyRuleTests {
    /// Validations every 250 steps with the val −ELBO `loss(step)`.
    private func validations(to step: Int, _ loss: (Int) -> Double) -> [(step: Int, loss: Double)] {
        stride(from: 250, through: step, by: 250).map { ($0, loss($0)) }
    }

    @Test func runsTrainToTheirLengthThenWhileTheLossFallsByMoreThanOnePercent() {
        let rule = StudyExtension(steps: 5000)
        #expect(rule.cap == 10_000)
        #expect(rule.nextTarget(step: 0, validations: []) == 5000)
        #expect(rule.nextTarget(step: 3400, validations: validations(to: 3400) { _ in 100 }) == 5000)
        // Flat over the last 1,000 steps: done; falling by 2 %: another chunk.
        let flat = validations(to: 5000) { 6000 - Double(min($0, 4000)) / 10 }
        #expect(rule.fall(validations: flat) == 0)
        #expect(rule.nextTarget(step: 5000, validations: flat) == nil)
        let falling = validations(to: 5000) { 6000 - Double($0) * 0.12 }     // 120 of 5520 over 1,000 steps
        #expect(abs(rule.fall(validations: falling)! - 120 / 5520) < 1e-12)
        #expect(rule.nextTarget(step: 5000, validations: falling) == 6000)
        // An interrupted chunk is finished first; the cap ends any chunk.
        #expect(rule.nextTarget(step: 6400, validations: falling) == 7000)
        #expect(rule.nextTarget(step: 10_000, validations: validations(to: 10_000) { 6000 - Double($0) * 0.12 }) == nil)
        #expect(rule.isCapped(step: 10_000, validations: validations(to: 10_000) { 6000 - Double($0) * 0.12 }))
        #expect(!rule.isCapped(step: 5000, validations: flat))
        // Without a validation 1,000 steps back, the fall is unknown and the run ends at its length.
        #expect(StudyExtension(steps: 3).nextTarget(step: 3, validations: [(3, 100)]) == nil)
    }

    @Test func theSeedSpreadHasAStudentTInterval() throws {
        let spread = SeedSpread([1, 2, 3])
        #expect(spread.mean == 2 && spread.min == 1 && spread.max == 3)
        // s = 1, t(0.975, 2) = 4.303: 2 ± 4.303 / √3.
        let interval = try #require(spread.interval)
        #expect(abs(interval.high - (2 + 4.303 / 3.0.squareRoot())) < 1e-12 && abs(interval.low - (2 - 4.303 / 3.0.squareRoot())) < 1e-12)
        #expect(SeedSpread([1.5]).interval == nil)
        // The expansion beyond the table meets it: t(0.975, 30) = 2.042, t(0.975, 60) = 2.000.
        #expect(abs(SeedSpread.tQuantile975(degreesOfFreedom: 31) - 2.040) < 0.001)
        #expect(abs(SeedSpread.tQuantile975(degreesOfFreedom: 60) - 2.000) < 0.001)
    }

    @Test func theLateSwingReadsTheValidationsOfTheLastThousandSteps() throws {
        let point = { (step: Int, cb: Double?) in
            StudyCurvePoint(step: step, valLoss: 1, samplesCB: cb, samplesCBLocal: nil, reconstructionsCB: nil, reconstructionsCBLocal: nil)
        }
        // Step 4000 is exactly 1,000 steps before the last and so outside; 4600 has no ratio.
        let curves = [point(3000, 50), point(4000, 40), point(4250, 3), point(4500, 1.5), point(4600, nil),
                      point(4750, 6), point(5000, 2)]
        let swing = try #require(StudyLateSwing(curves))
        #expect(swing.validations == 4 && swing.min == 1.5 && swing.max == 6 && swing.median == 2.5 && swing.swing == 4)
        #expect(try #require(StudyLateSwing(Array(curves.prefix(4)), window: 300)).median == 2.25)   // 4250, 4500: 3, 1.5
        #expect(StudyLateSwing([point(5000, 2)]) == nil && StudyLateSwing([point(4900, 0), point(5000, 2)]) == nil)
        // Its cell in study.md's per-run table.
        #expect(StudyReport.swing(swing) == "2.50 (1.50–6.00)" && StudyReport.swing(nil) == "–")
    }

    @Test func studyParsesItsListsAndCollectsFromSamplesByDefault() throws {
        let ok = try StudyCommand.parse(["--data", "d", "--out", "o", "--decoders", "dcl,resizeconv", "--seeds", "0,4", "--steps", "10"])
        #expect(ok.decoders == "dcl,resizeconv" && ok.steps == 10 && ok.samples == 1000 && ok.resamples == 1000 && ok.batch == 64)
        let collect = try StudyCommand.parse(["--collect"])
        #expect(collect.collect && collect.collectFolder == nil)
        #expect(try StudyCommand.parse(["--collect", "Samples/study"]).collectFolder == "Samples/study")
        for bad in [["--data", "d"], ["--out", "o", "--decoders", "dcl,unet"], ["--out", "o", "--seeds", "0,x"],
                    ["--out", "o", "--samples", "0"], ["--out", "o", "folder"]] {
            #expect(throws: (any Error).self, "\(bad)") { _ = try StudyCommand.parse(bad) }
        }
    }
}

/// The whole study on a tiny budget: 2 decoders × 2 seeds × 3 steps at batch 8, latent 16, on 8 val
/// and 16 test images, 8 samples and 100 bootstrap rounds.
@Suite(.enabled(if: TrainingTestData.available, "needs ../shared/data/celeba next to the repository"))
struct StudyTests {
    private func study(_ out: String, cache: PreparedCache) -> Study {
        var study = Study(out: out, cache: cache.path)
        study.decoders = [.dcl, .pixeldcl]
        study.seeds = [0, 1]
        study.steps = 3
        study.samples = 8
        study.resamples = 100
        study.batchSize = 8
        study.latentDimension = 16
        study.validationLimit = 8
        study.testLimit = 16
        study.showTrainingProgress = false
        return study
    }

    /// Runs the study and returns its stage lines ("dcl-seed0: training to step 3", …).
    private func run(_ study: Study) throws -> (report: StudyReport, stages: [String]) {
        var stages = [String]()
        let report = try study.run { event in
            if case let .stage(_, _, run, stage) = event { stages.append("\(run): \(stage)") }
        }
        return (report, stages)
    }

    @Test func theStudyRunsResumesSkipsAndCollects() throws {
        let cache = try TrainingTestData.cache.get()
        let out = TrainingTestData.temporaryFolder()
        defer { TrainingTestData.remove(out) }
        var study = study(out, cache: cache)
        let folder = study.folder

        // dcl-seed0 trained by hand to step 2 of 3, as `vae-faces train` would.
        var request = TrainingRequest(run: .new(folder: folder.run("dcl-seed0").path), length: .steps(2), decoder: .dcl)
        request.cache = cache.path
        request.batchSize = 8
        request.latentDimension = 16
        request.seed = 0
        request.validationLimit = 8
        let hand = try request.makeTrainer(note: { _ in }).trainer
        hand.showProgress = false
        hand.onMessage = { _ in }
        hand.shouldStop = { false }
        _ = try hand.run()
        let handLog = try String(contentsOfFile: folder.run("dcl-seed0").log, encoding: .utf8).split(separator: "\n")

        let (report, stages) = try run(study)
        #expect(stages.contains("dcl-seed0: training from step 2 to 3"), "\(stages)")
        #expect(stages.contains("pixeldcl-seed1: training to step 3"), "\(stages)")
        let names = ["dcl-seed0", "dcl-seed1", "pixeldcl-seed0", "pixeldcl-seed1"]
        #expect(report.runs.map(\.name) == names && report.decoders.map(\.decoder) == [.dcl, .pixeldcl])

        // The half-trained run was resumed: its first two rows are the hand-trained ones.
        let log = try String(contentsOfFile: folder.run("dcl-seed0").log, encoding: .utf8).split(separator: "\n")
        #expect(log.count == 4 && Array(log.prefix(3)) == Array(handLog.prefix(3)))

        // Every output exists and parses.
        for name in names {
            let result = try StudyRunResult.read(path: folder.result(name))
            #expect(result.steps == 3 && result.name == name && result.test.images == 16 && result.samples.n == 8)
            #expect(result.realTestImages == 16 && result.reconstructions.n == 16 && result.noiseBand.n == 8)
            let cb = try #require(result.samples.cb.ratio), interval = try #require(result.samples.cb.interval)
            #expect(interval.contains(cb))
            // Validations at each session's end: the hand-trained run also has step 2's.
            #expect(result.curves.map(\.step) == (name == "dcl-seed0" ? [2, 3] : [3]) && result.curves.last?.samplesCB != nil)
            #expect(result.commands.first?.hasPrefix("vae-faces train --cache \(cache.path) --decoder") == true)
            #expect(result.training.extensionChunks == 0 && !result.training.capped)
            let model = try ModelFile.load(path: folder.model(name), requireEncoder: true)
            #expect(model.step == 3 && model.decoder == result.decoder)
        }
        let decoded = try JSONDecoder().decode(StudyReport.self, from: Data(contentsOf: URL(fileURLWithPath: folder.json)))
        #expect(decoded == report)
        #expect(report.comparisons.count == StudyMetric.allCases.count)
        let markdown = try String(contentsOfFile: folder.markdown, encoding: .utf8)
        #expect(markdown == report.markdown())
        #expect(markdown.contains("| dcl |") && markdown.contains("| pixeldcl-seed1 |") && markdown.contains("Bernoulli"))
        // dcl-seed0 validated at steps 2 and 3: the notes give its swing between the two.
        #expect(markdown.contains("- From one checkpoint to the next: ") && markdown.contains("(dcl-seed0)"))
        let svg = try String(contentsOfFile: folder.plot, encoding: .utf8)
        #expect(svg.hasPrefix("<?xml") && svg.components(separatedBy: "class=\"band\"").count == 5)

        // A rerun skips every finished run and leaves its result untouched.
        let date = { (name: String) in try FileManager.default.attributesOfItem(atPath: folder.result(name))[.modificationDate] as? Date }
        let before = try names.map { (try Data(contentsOf: URL(fileURLWithPath: folder.result($0))), try date($0)) }
        let rerun = try run(study)
        #expect(rerun.stages.allSatisfy { $0.contains(": done") }, "\(rerun.stages)")
        for (name, (bytes, modified)) in zip(names, before) {
            #expect(try Data(contentsOf: URL(fileURLWithPath: folder.result(name))) == bytes && (try date(name)) == modified)
        }

        // A run that another process trains is skipped; once free, a run at its length without a
        // result is adopted: scored again, not trained.
        try FileManager.default.removeItem(atPath: folder.result("pixeldcl-seed1"))
        let lock = try RunLock(folder.run("pixeldcl-seed1"))
        let busy = try run(study)
        lock.release()
        #expect(busy.stages.contains { $0.hasPrefix("pixeldcl-seed1: skipped") && $0.contains("another training process") }, "\(busy.stages)")
        #expect(!FileManager.default.fileExists(atPath: folder.result("pixeldcl-seed1")) && busy.report.runs.count == 3)
        let adopted = try run(study)
        #expect(!adopted.stages.contains { $0.contains("training") }, "\(adopted.stages)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: folder.result("pixeldcl-seed1"))) == before[3].0)

        // --collect rebuilds study.md from the result files alone.
        let collected = TrainingTestData.temporaryFolder("collected")
        defer { TrainingTestData.remove(collected) }
        try FileManager.default.copyItem(atPath: folder.results, toPath: collected + "/results")
        study.out = collected
        _ = try Study.collect(from: collected, to: collected)
        #expect(try String(contentsOfFile: study.folder.markdown, encoding: .utf8) == markdown)
        #expect(try Data(contentsOf: URL(fileURLWithPath: study.folder.plot)) == Data(svg.utf8))
    }
}

/// The parts of `LinePlot` that study.svg added: shaded bands and panels in a grid.
@Suite struct LinePlotBandTests {
    /// The attribute `name` of the first element of `svg` that contains `marker`.
    private func attribute(_ name: String, of marker: String, in svg: String) throws -> Double {
        let element = try #require(svg.components(separatedBy: "<").first { $0.contains(marker) })
        let value = try #require(element.components(separatedBy: " \(name)=\"").dropFirst().first?.split(separator: "\"").first)
        return try #require(Double(value))
    }

    @Test func aBandIsShadedBetweenItsEndsAndTheAxisCoversIt() throws {
        var plot = LinePlot(title: "t", xLabel: "step", yLabel: "R", logY: true)
        plot.add("seed 0", x: [1, 2, 3], y: [1, 1.5, 2])
        plot.addBand("noise", low: 0.1, high: 10)
        plot.addBand("not on a log scale", low: -1, high: 1)       // left out
        #expect(plot.bands.count == 1)
        #expect(plot.axes.y.low <= -1 && plot.axes.y.high >= 1)
        let svg = plot.svg()
        let top = plot.position(x: 1, y: 10).y, bottom = plot.position(x: 1, y: 0.1).y
        #expect(abs(try attribute("y", of: "class=\"band\"", in: svg) - top) < 0.01)
        #expect(abs(try attribute("height", of: "class=\"band\"", in: svg) - (bottom - top)) < 0.01)
        #expect(svg.contains(">noise</text>"))
    }

    @Test func panelsFillAGridRowByRow() {
        let panel = { (title: String) -> LinePlot in
            var plot = LinePlot(title: title, xLabel: "x", yLabel: "y")
            plot.add("a", x: [0, 1], y: [0, 1])
            return plot
        }
        let svg = LinePlot.svg(stacking: ["A", "B", "C"].map(panel), columns: 2)
        #expect(svg.contains("width=\"1600.00\" height=\"1000.00\""))
        let moves = svg.components(separatedBy: "class=\"panel\" transform=\"").dropFirst().map { $0.prefix { $0 != "\"" } }
        #expect(moves == ["translate(800.00 0.00)", "translate(0 500.00)"])
        // One column is the stack it always was.
        #expect(LinePlot.svg(stacking: ["A", "B"].map(panel), columns: 1) == LinePlot.svg(stacking: ["A", "B"].map(panel)))
    }
}
