import ArgumentParser
import Foundation
import VAEFaces

struct StudyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "study",
        abstract: "Train and measure every decoder × seed (issue #12's protocol) and write the study's tables and plot.",
        discussion: """
            For each decoder × seed: train at batch 64 to --steps (OUT/runs/<decoder>-seed<S>, the \
            folder `vae-faces train --out` makes; +1,000 steps while the val −ELBO still falls by \
            more than 1 % over the last 1,000, up to twice --steps), export the model \
            (OUT/models/), the test −ELBO, and the artifact ratios R(cb), R(cb_local) of --samples \
            prior samples and of the test reconstructions against the real test faces, with 95 % \
            bootstrap intervals; the run's numbers go to OUT/results/<decoder>-seed<S>.json. Then \
            OUT/study.json, study.md (across seeds: mean, min–max, t-interval; which differences \
            are real) and study.svg (R against the step, the real-vs-real noise band shaded).

            Resumable: rerun the same command after a stop; finished runs (a result file) are \
            skipped, unfinished ones continue from their checkpoints. --collect DIR rebuilds the \
            three documents from the result files alone (DIR/results/*.json, or DIR/*.json).

            Bits/dim caveat: the −ELBO is a Bernoulli likelihood on continuous pixels, a relative \
            measure between decoders, not comparable to published discretised bits/dim.
            """)

    @OptionGroup var data: DataOptions

    @Option(help: "The study folder (default with --collect: the collected folder).")
    var out: String?

    @Option(help: "The decoders, comma-separated.")
    var decoders = "dcl,pixeldcl,ipixeldcl,resizeconv"

    @Option(help: "The seeds, comma-separated.")
    var seeds = "0,1,2"

    @Option(help: "Train each run to at least this step.")
    var steps = 5000

    @Option(help: "Prior samples scored per run (seed 0).")
    var samples = 1000

    @Option(help: "Bootstrap resamples per interval.")
    var resamples = 1000

    @Option(help: ArgumentHelp("The FID Inception weights (default: $\(InceptionV3.environmentVariable)); with them each run also gets the FID/KID of its samples against the test faces.",
                               valueName: "file"))
    var inception: String?

    @Flag(help: "Rebuild study.json, study.md and study.svg from the result files in DIR (default Samples/study).")
    var collect = false

    @Argument(help: ArgumentHelp("With --collect: the folder of result files.", valueName: "dir"))
    var collectFolder: String?

    @Flag(help: "Print study.json on standard output (progress stays on standard error).")
    var json = false

    // Knobs of the quick tests (the study itself is batch 64, latent 128, every val and test image).
    @Option(help: .hidden) var batch = 64
    @Option(help: .hidden) var latent: Int?
    @Option(help: .hidden) var validationLimit: Int?
    @Option(help: .hidden) var testLimit: Int?

    @OptionGroup var threads: ThreadOptions

    func validate() throws {
        if collectFolder != nil && !collect { throw ValidationError("a folder argument goes with --collect") }
        if !collect {
            guard out != nil else { throw ValidationError("choose the study folder: --out DIR") }
            guard try !parsedDecoders().isEmpty, try !parsedSeeds().isEmpty else {
                throw ValidationError("name at least one decoder (--decoders) and one seed (--seeds)")
            }
        }
        for (name, value) in [("--steps", steps), ("--samples", samples), ("--resamples", resamples), ("--batch", batch)] where value <= 0 {
            throw ValidationError("\(name) must be positive, got \(value)")
        }
    }

    private func parsedDecoders() throws -> [DecoderKind] {
        try decoders.split(separator: ",").map { name in
            guard let decoder = DecoderKind(rawValue: String(name)) else {
                throw ValidationError("unknown decoder '\(name)' (dcl, pixeldcl, ipixeldcl or resizeconv)")
            }
            return decoder
        }
    }

    private func parsedSeeds() throws -> [UInt64] {
        try seeds.split(separator: ",").map { text in
            guard let seed = UInt64(text) else { throw ValidationError("--seeds takes numbers separated by commas, got '\(seeds)'") }
            return seed
        }
    }

    func run() throws {
        threads.apply()
        let report: StudyReport
        if collect {
            let folder = collectFolder ?? "Samples/study"
            report = try Study.collect(from: folder, to: out ?? folder)
            printError("rebuilt study.json, study.md and study.svg in \(out ?? folder) from \(report.runs.count) results")
        } else {
            var study = Study(out: out!, data: data.data, cache: data.cache)
            study.decoders = try parsedDecoders()
            study.seeds = try parsedSeeds()
            study.steps = steps
            study.samples = samples
            study.resamples = resamples
            study.batchSize = batch
            study.latentDimension = latent
            study.validationLimit = validationLimit
            study.testLimit = testLimit
            let weightsGiven = inception != nil || ProcessInfo.processInfo.environment[InceptionV3.environmentVariable] != nil
            study.inception = weightsGiven ? try InceptionV3.resolveWeightsFile(inception) : nil
            StopSignal.install()
            defer { StopSignal.restoreDefaults() }
            do {
                report = try study.run { event in
                    switch event {
                    case let .stage(index, count, run, stage): printError("[\(index)/\(count)] \(run): \(stage)")
                    case .note(let text): printError(text)
                    }
                }
            } catch let stopped as Study.Stopped {
                printError(stopped.description)
                throw ExitCode(128 + (StopSignal.signalNumber ?? SIGINT))
            }
            printError("study: \(study.folder.markdown), \(study.folder.json), \(study.folder.plot)")
        }
        if json { try printJSON(report) } else { print(report.markdown()) }
    }
}
