import Foundation

/// A number the study compares between decoders, read from each run's result.
public enum StudyMetric: String, CaseIterable, Codable, Sendable {
    case testNegativeELBO = "test_negative_elbo_nats"
    case samplesCB = "samples_cb_ratio"
    case samplesCBLocal = "samples_cb_local_ratio"
    case reconstructionsCB = "reconstructions_cb_ratio"
    case reconstructionsCBLocal = "reconstructions_cb_local_ratio"

    /// The metric's name in study.md.
    public var title: String {
        switch self {
        case .testNegativeELBO: "test −ELBO"
        case .samplesCB: "samples R(cb)"
        case .samplesCBLocal: "samples R(cb_local)"
        case .reconstructionsCB: "reconstructions R(cb)"
        case .reconstructionsCBLocal: "reconstructions R(cb_local)"
        }
    }

    /// The artifact ratio of a run this metric reads (nil for the −ELBO).
    func ratio(_ run: StudyRunResult) -> StudyRatio? {
        switch self {
        case .testNegativeELBO: nil
        case .samplesCB: run.samples.cb
        case .samplesCBLocal: run.samples.cbLocal
        case .reconstructionsCB: run.reconstructions.cb
        case .reconstructionsCBLocal: run.reconstructions.cbLocal
        }
    }

    func value(_ run: StudyRunResult) -> Double? {
        self == .testNegativeELBO ? run.test.negativeELBO : ratio(run)?.ratio
    }
}

/// One decoder across its seeds.
public struct StudyDecoderSummary: Codable, Equatable, Sendable {
    public var decoder: DecoderKind
    public var seeds: [UInt64]
    public var parameters: Int
    public var decoderParameters: Int
    public var steps: SeedSpread
    public var bitsPerDimension: SeedSpread
    /// Every `StudyMetric` that has a value in some run, by its raw value.
    public var metrics: [String: SeedSpread]
    /// The share of images above the real p95, samples and reconstructions, cb and cb_local.
    public var aboveRealP95: [String: SeedSpread]

    enum CodingKeys: String, CodingKey {
        case decoder, seeds, parameters, decoderParameters = "decoder_parameters", steps
        case bitsPerDimension = "bits_per_dim", metrics, aboveRealP95 = "above_real_p95"
    }

    init(_ runs: [StudyRunResult]) {
        let first = runs[0]
        decoder = first.decoder
        seeds = runs.map(\.seed)
        parameters = first.parameters
        decoderParameters = first.decoderParameters
        steps = SeedSpread(runs.map { Double($0.steps) })
        bitsPerDimension = SeedSpread(runs.map(\.test.bitsPerDimension))
        metrics = Dictionary(uniqueKeysWithValues: StudyMetric.allCases.compactMap { metric in
            SeedSpread(runs.map(metric.value)).map { (metric.rawValue, $0) }
        })
        aboveRealP95 = Dictionary(uniqueKeysWithValues: StudyMetric.allCases.compactMap { metric in
            metric.ratio(first) == nil ? nil : (metric.rawValue, SeedSpread(runs.map { metric.ratio($0)!.aboveRealP95 }))
        })
    }

    public subscript(metric: StudyMetric) -> SeedSpread? { metrics[metric.rawValue] }
}

/// Whether two decoders differ in one metric, by the study's rule: the difference is real when
/// their across-seed 95 % t-intervals do not overlap, within noise when they do, and undetermined
/// when a decoder has a single seed (no across-seed interval).
public struct StudyComparison: Codable, Equatable, Sendable {
    public enum Verdict: String, Codable, Sendable {
        case real
        case withinNoise = "within noise"
        case undetermined
    }

    public var metric: StudyMetric
    public var first: DecoderKind
    public var second: DecoderKind
    public var verdict: Verdict

    init(metric: StudyMetric, _ a: StudyDecoderSummary, _ b: StudyDecoderSummary) {
        self.metric = metric
        first = a.decoder
        second = b.decoder
        if let x = a[metric]?.interval, let y = b[metric]?.interval {
            verdict = x.overlaps(y) ? .withinNoise : .real
        } else {
            verdict = .undetermined
        }
    }
}

/// The study's documents from its run results: study.json (every run and the across-seed
/// summary) and study.md (the tables of issue #12, which differences are real, the caveats).
public struct StudyReport: Codable, Equatable, Sendable {
    public var runs: [StudyRunResult]
    public var decoders: [StudyDecoderSummary]
    public var comparisons: [StudyComparison]

    /// The report of `runs` (in decoder then seed order, at least one).
    public init(runs: [StudyRunResult]) {
        precondition(!runs.isEmpty, "StudyReport: no runs")
        self.runs = runs
        var groups: [[StudyRunResult]] = []
        for run in runs {
            if groups.last?.first?.decoder == run.decoder { groups[groups.count - 1].append(run) } else { groups.append([run]) }
        }
        let summaries = groups.map(StudyDecoderSummary.init)
        decoders = summaries
        comparisons = StudyMetric.allCases.flatMap { metric in
            summaries.indices.flatMap { i in
                summaries.indices.dropFirst(i + 1).map { j in StudyComparison(metric: metric, summaries[i], summaries[j]) }
            }
        }
    }

    func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }

    // MARK: study.md

    /// study.md: a function of the results alone (no dates, no paths of this machine beyond the
    /// commands), so `--collect` rebuilds it byte for byte.
    public func markdown() -> String {
        let band = runs[0].noiseBand
        var lines = [
            "# The study: checkerboard artifacts by decoder",
            "",
            "Made by `vae-faces study`; rebuilt from the result files by `vae-faces study --collect`. "
                + "\(runs.count) runs. Artifact ratios R = mean score of the model's images / mean score of the "
                + "\(runs[0].realTestImages) real test faces (1: as much stride-2 energy as real photos; > 1: checkerboard "
                + "excess; < 1: blur); samples: \(runs[0].samples.n) prior samples (seed 0) per run; reconstructions: "
                + "the \(runs[0].reconstructions.n) test faces through encoder and decoder.",
            "",
            "## Per decoder, across seeds",
            "",
            "Each cell: the mean over seeds, its 95 % t-interval [low, high] and the range (min–max). "
                + "With one seed (†) the cell shows that run's value and its per-run bootstrap interval.",
            "",
            "| decoder | params (decoder) | steps | seeds | test −ELBO, nats | bits/dim | samples R(cb) | samples R(cb_local) "
                + "| reconstructions R(cb) | reconstructions R(cb_local) | above real p95: samples cb / cb_local | reconstructions cb / cb_local |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for summary in decoders {
            let runs = self.runs.filter { $0.decoder == summary.decoder }
            let cell = { (metric: StudyMetric) in
                summary[metric].map { Self.cell($0, single: runs.count == 1 ? metric.ratio(runs[0])?.interval : nil,
                                                  decimals: metric == .testNegativeELBO ? 1 : 3) } ?? "–"
            }
            let share = { (a: StudyMetric, b: StudyMetric) in
                "\(Self.percent(summary.aboveRealP95[a.rawValue]?.mean)) / \(Self.percent(summary.aboveRealP95[b.rawValue]?.mean))"
            }
            let steps = summary.steps.min == summary.steps.max ? "\(Int(summary.steps.min))"
                : "\(Int(summary.steps.min))–\(Int(summary.steps.max))"
            lines.append("| \(summary.decoder.rawValue) | \(Self.millions(summary.parameters)) (\(Self.millions(summary.decoderParameters))) "
                + "| \(steps) | \(summary.seeds.count) | \(cell(.testNegativeELBO)) | \(Self.format(summary.bitsPerDimension.mean, 4)) "
                + "| \(cell(.samplesCB)) | \(cell(.samplesCBLocal)) | \(cell(.reconstructionsCB)) | \(cell(.reconstructionsCBLocal)) "
                + "| \(share(.samplesCB, .samplesCBLocal)) | \(share(.reconstructionsCB, .reconstructionsCBLocal)) |")
        }
        let withFID = runs.contains { $0.fid != nil }
        lines += [
            "",
            "## Per run",
            "",
            "R with its 95 % bootstrap interval over images (\(runs[0].bootstrap.resamples) resamples of both the "
                + "generated and the real faces, seed \(runs[0].bootstrap.seed)); training time: the steps alone, without validation.",
            "",
            Self.fidNote(runs),
            "",
            "| run | steps | training time | test −ELBO, nats | samples R(cb) | samples R(cb_local) | reconstructions R(cb) "
                + "| reconstructions R(cb_local) | samples R(cb) at the validations of the last 1,000 steps: median (min–max) "
                + "| val −ELBO fall over the last 1,000 steps |" + (withFID ? " samples FID | samples KID |" : ""),
            "|---|---|---|---|---|---|---|---|---|---|" + (withFID ? "---|---|" : ""),
        ]
        for run in runs {
            var steps = "\(run.steps)"
            if run.training.extensionChunks > 0 { steps += " (+\(run.training.extensionChunks)×1,000)" }
            if run.training.capped { steps += ", capped" }
            lines.append("| \(run.name) | \(steps) | \(Self.duration(run.training.seconds)) | \(Self.format(run.test.negativeELBO, 1)) "
                + "| \(Self.ratio(run.samples.cb)) | \(Self.ratio(run.samples.cbLocal)) | \(Self.ratio(run.reconstructions.cb)) "
                + "| \(Self.ratio(run.reconstructions.cbLocal)) | \(Self.swing(StudyLateSwing(run.curves))) "
                + "| \(run.training.lastFall.map { Self.percent($0, decimals: 2) } ?? "–") |"
                + (withFID ? " \(run.fid.map { Self.format($0.fid, 2) } ?? "–") | "
                   + "\(run.fid.map { Self.format($0.kid, 4) + " ± " + Self.format($0.kidStd, 4) } ?? "–") |" : ""))
        }
        lines += ["", "## Which differences are real", "",
                  "A difference between two decoders counts as real only when their across-seed 95 % t-intervals do not overlap.", ""]
        for verdict in [StudyComparison.Verdict.real, .withinNoise, .undetermined] {
            let found = comparisons.filter { $0.verdict == verdict }
            guard !found.isEmpty else { continue }
            lines.append(verdict == .real ? "Real:" : verdict == .withinNoise ? "Within noise (the intervals overlap):"
                         : "Undetermined (a decoder with one seed has no across-seed interval):")
            lines.append("")
            lines += found.map(describe)
            lines.append("")
        }
        lines += [
            "## Notes",
            "",
            "- Real-vs-real noise band (shaded in study.svg): R of the \(band.n) real val faces against the real test faces, "
                + "with its 95 % bootstrap interval: R(cb) \(Self.ratio(band.cb)), R(cb_local) \(Self.ratio(band.cbLocal)). "
                + "A ratio inside it is as close to real photos as one set of real photos is to another.",
            "- The curves in study.svg are the ratios of the fixed-latent samples at each validation during training, against "
                + "the real val faces (training.csv's `val_cb_ratio`, `val_cb_local_ratio`).",
        ] + Self.swingNote(runs) + [
            "- Run length: at least the asked steps at batch 64; then +1,000 steps while the val −ELBO fell by more than 1 % "
                + "over the last 1,000 steps, up to twice the asked steps.",
            "- Bits/dim: " + Study.bitsPerDimensionCaveat,
            "",
            "![R(cb) and R(cb_local) against the training step](study.svg)",
            "",
            "## Commands",
            "",
        ]
        for run in runs {
            lines.append("\(run.name):")
            lines.append("")
            lines += run.commands.map { "    " + $0 }
            lines.append("")
        }
        return lines.joined(separator: "\n")
    }

    /// "- samples R(cb): dcl 1.52 [1.40, 1.64] vs pixeldcl 1.10 [1.05, 1.15] (dcl higher)".
    private func describe(_ comparison: StudyComparison) -> String {
        let decimals = comparison.metric == .testNegativeELBO ? 1 : 3
        let side = { (decoder: DecoderKind) -> (text: String, mean: Double?) in
            guard let spread = self.decoders.first(where: { $0.decoder == decoder })?[comparison.metric] else { return ("\(decoder.rawValue) –", nil) }
            let interval = spread.interval.map { " [\(Self.format($0.low, decimals)), \(Self.format($0.high, decimals))]" } ?? " (1 seed)"
            return ("\(decoder.rawValue) \(Self.format(spread.mean, decimals))\(interval)", spread.mean)
        }
        let (a, b) = (side(comparison.first), side(comparison.second))
        var text = "- \(comparison.metric.title): \(a.text) vs \(b.text)"
        if comparison.verdict == .real, let x = a.mean, let y = b.mean {
            text += " (\(x > y ? comparison.first.rawValue : comparison.second.rawValue) higher)"
        }
        return text
    }

    /// What the FID/KID columns hold, or that they were not computed.
    static func fidNote(_ runs: [StudyRunResult]) -> String {
        guard let score = runs.lazy.compactMap(\.fid).first else { return "FID/KID: not computed: no Inception weights." }
        var note = "FID/KID: \(score.images) prior samples (seed 0) against \(score.referenceImages) real test faces; "
            + FIDResult.protocolSummary + "; KID ± its std over \(score.kidSubsets) subsets of \(score.kidSubsetSize)."
        if let warning = score.biasWarning { note += " " + warning.prefix(1).uppercased() + warning.dropFirst() + "." }
        return note
    }

    /// How far the runs' R(cb) moved between checkpoints near their end, when any run shows it.
    static func swingNote(_ runs: [StudyRunResult]) -> [String] {
        let swings = runs.compactMap { run in StudyLateSwing(run.curves).map { (run.name, $0.swing) } }
        guard let low = swings.min(by: { $0.1 < $1.1 }), let high = swings.max(by: { $0.1 < $1.1 }) else { return [] }
        return ["- From one checkpoint to the next: over the last 1,000 steps of a run, the samples' R(cb) at the validations "
                + "(the fixed-latent grid against the real val faces) moved by a factor (highest / lowest) of \(format(low.1, 1)) "
                + "(\(low.0)) to \(format(high.1, 1)) (\(high.0)). A run's end-of-training R(cb) is a single checkpoint's "
                + "reading from a range this wide."]
    }

    // MARK: Formatting

    /// "1.84 (1.49–2.60)" or "–".
    static func swing(_ swing: StudyLateSwing?) -> String {
        guard let swing else { return "–" }
        return "\(format(swing.median, 2)) (\(format(swing.min, 2))–\(format(swing.max, 2)))"
    }

    static func format(_ value: Double, _ decimals: Int) -> String { String(format: "%.\(decimals)f", value) }

    /// "1.234 [1.100, 1.368] (1.150–1.300)"; one value: "1.234 [1.100, 1.368] †" with `single`,
    /// the run's own interval.
    static func cell(_ spread: SeedSpread, single: Bootstrap.Interval?, decimals: Int) -> String {
        let f = { format($0, decimals) }
        if let interval = spread.interval {
            return "\(f(spread.mean)) [\(f(interval.low)), \(f(interval.high))] (\(f(spread.min))–\(f(spread.max)))"
        }
        return f(spread.mean) + (single.map { " [\(f($0.low)), \(f($0.high))]" } ?? "") + " †"
    }

    /// "1.234 [1.100, 1.368]" or "–".
    static func ratio(_ ratio: StudyRatio) -> String {
        guard let value = ratio.ratio else { return "–" }
        return format(value, 3) + (ratio.interval.map { " [\(format($0.low, 3)), \(format($0.high, 3))]" } ?? "")
    }

    static func percent(_ value: Double?, decimals: Int = 1) -> String {
        value.map { format(100 * $0, decimals) + " %" } ?? "–"
    }

    static func millions(_ count: Int) -> String { format(Double(count) / 1e6, 2) + " M" }

    /// "1:02:03" (hours:minutes:seconds).
    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60)
    }
}
