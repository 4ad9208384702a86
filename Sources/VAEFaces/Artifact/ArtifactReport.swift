import Foundation

/// Everything `vae-faces artifact-score` reports, as JSON (`--json`) or as a table for people.
///
/// JSON (keys absent when they do not apply):
///
///     {"images": [{"file": …, "cb": …, "cb_local": …, …, "cb_channel": […], "flat": …}],
///      "aggregate": {"cb": {"mean", "median", "p95", "std", "min", "max"}, …, "cb_channel": [{…}], "n", "n_flat"},
///      "reference": {…same shape as aggregate…},
///      "reference_source": {"cache": …, "split": …}
///                       or {"split": …, "shipped_baseline": {"data_set", "split", "n", "first_file", "last_file",
///                                                            "files_xxh64", "pixels_xxh64"}},
///      "vs_reference": {"cb": {"ratio_mean", "db", "ratio_median", "above_real_p95",
///                              "ratio_mean_interval95": {"low", "high"}}, …, "cb_channel": [{…}]},
///      (the interval only for cb and cb_local: the bootstrap needs the real images' own scores)
///      "skipped": [{"file": …, "problem": …}]}
public struct ArtifactReport: Encodable, Sendable {
    /// Where the real images came from: a prepared cache and its split ("all" for every image),
    /// or the real-face baseline shipped with the tool (`RealFaceBaseline`), named by its identity.
    public struct ReferenceSource: Codable, Sendable, Equatable {
        /// The prepared cache scored; nil for the shipped baseline.
        public var cache: String?
        public var split: String
        /// The shipped baseline's data identity, when it was the reference.
        public var shippedBaseline: RealFaceBaseline.Identity?

        public init(cache: String, split: String) { self.cache = cache; self.split = split }
        public init(shipped identity: RealFaceBaseline.Identity) { split = identity.split; shippedBaseline = identity }

        enum CodingKeys: String, CodingKey { case cache, split, shippedBaseline = "shipped_baseline" }
    }

    /// The model whose images were scored (`--model`), nil for image files.
    public var model: ModelScoringInfo?
    public var images: [ScoredImage]?
    public var aggregate: ArtifactAggregate?
    public var reference: ArtifactAggregate?
    public var referenceSource: ReferenceSource?
    public var vsReference: ArtifactComparison?
    public var skipped: [SkippedFile]

    /// The report of the scored images (none: reference only) against an optional reference.
    public init(images: [ScoredImage], skipped: [SkippedFile],
                reference: (scores: [ArtifactScores], source: ReferenceSource)? = nil) {
        let real = reference.flatMap { $0.scores.isEmpty ? nil : (ArtifactAggregate($0.scores), $0.source) }
        self.init(images: images, skipped: skipped, real: real, realPrimary: reference.map { RealPrimaryScores($0.scores) })
    }

    /// The report of the scored images (none: reference only) against the aggregate of real
    /// images (all a reading needs); with the real images' own primary scores, the readings of
    /// `cb` and `cb_local` also carry their bootstrap intervals.
    public init(images: [ScoredImage], skipped: [SkippedFile], real: (aggregate: ArtifactAggregate, source: ReferenceSource)?,
                realPrimary: RealPrimaryScores? = nil) {
        self.skipped = skipped
        if !images.isEmpty {
            self.images = images
            aggregate = ArtifactAggregate(images.map(\.scores))
        }
        if let real {
            reference = real.aggregate
            referenceSource = real.source
            if !images.isEmpty {
                vsReference = ArtifactComparison(scores: images.map(\.scores), reference: real.aggregate, realPrimary: realPrimary)
            }
        }
    }

    enum CodingKeys: String, CodingKey {
        case model, images, aggregate, reference, referenceSource = "reference_source", vsReference = "vs_reference", skipped
    }

    // MARK: - The table

    /// The report as text: the counts, then the readings against the reference (when there is
    /// one), then the statistics of each set; with `perImage`, one row per image first.
    public func table(perImage: Bool = false) -> String {
        var lines: [String] = []
        let fields = ArtifactField.allCases.map(\.rawValue)
        let channelCount = aggregate?.cbChannel.count ?? reference?.cbChannel.count ?? 0
        let channelNames = (0..<channelCount).map { "cb_channel[\($0)]" }
        let nameWidth = max(14, ((fields + channelNames).map(\.count).max() ?? 0) + 2)

        if perImage, let images {
            let fileWidth = min(60, max(4, images.map(\.file.count).max() ?? 0)) + 2
            lines.append(pad("file", fileWidth) + fields.map { right($0, 11) }.joined() + "  flat")
            for image in images {
                lines.append(pad(image.file, fileWidth)
                             + ArtifactField.allCases.map { right(sci(image.scores[$0]), 11) }.joined()
                             + (image.scores.flat ? "  yes" : "  no"))
            }
            lines.append("")
        }

        if let aggregate {
            lines.append("scored: \(count(aggregate))" + (skipped.isEmpty ? "" : "; \(skipped.count) file\(skipped.count == 1 ? "" : "s") skipped"))
        } else if !skipped.isEmpty {
            lines.append("\(skipped.count) file\(skipped.count == 1 ? "" : "s") skipped")
        }
        if let reference, let source = referenceSource {
            let which = source.split == "all" ? "every image" : "the \(source.split) split"
            if let shipped = source.shippedBaseline {
                lines.append("reference: \(count(reference)), \(which) of the real-face baseline shipped with the tool "
                             + "(no --reference given): \(shipped.summary)")
            } else if let cache = source.cache {
                lines.append("reference: \(count(reference)), \(which) of \(cache)")
            }
        }

        if let vs = vsReference, let aggregate, let reference {
            lines.append("")
            lines.append("Against the real images (ratio 1 = as much stride-2 energy as real faces; > 1 excess; "
                         + "share above the real p95 is 5 % for real images):")
            let intervals = vs.fields.values.contains { $0.interval != nil }
            lines.append(pad("field", nameWidth) + right("mean", 11) + right("real mean", 11) + right("ratio", 8)
                         + (intervals ? right("95 % interval", 18) : "") + right("dB", 8) + right("median", 11) + right("real median", 12) + right("ratio", 8)
                         + right(">real p95", 11))
            func row(_ name: String, _ s: FieldStatistics, _ r: FieldStatistics, _ reading: ArtifactReading) -> String {
                pad(name, nameWidth) + right(sci(s.mean), 11) + right(sci(r.mean), 11) + right(fixed(reading.ratioMean, 3), 8)
                    + (intervals ? right(bracketed(reading.interval), 18) : "") + right(signed(reading.db), 8) + right(sci(s.median), 11) + right(sci(r.median), 12)
                    + right(fixed(reading.ratioMedian, 3), 8) + right(String(format: "%.1f %%", 100 * reading.aboveRealP95), 11)
            }
            for field in ArtifactField.allCases { lines.append(row(field.rawValue, aggregate[field], reference[field], vs[field])) }
            for (c, reading) in vs.cbChannel.enumerated() {
                lines.append(row(channelNames[c], aggregate.cbChannel[c], reference.cbChannel[c], reading))
            }
        }

        for (title, set) in [("Scored images", aggregate), ("Real images (reference)", reference)] {
            guard let set else { continue }
            lines.append("")
            lines.append("\(title):")
            lines.append(pad("field", nameWidth) + ["mean", "median", "p95", "std", "min", "max"].map { right($0, 11) }.joined())
            func row(_ name: String, _ s: FieldStatistics) -> String {
                pad(name, nameWidth) + [s.mean, s.median, s.p95, s.std, s.min, s.max].map { right(sci($0), 11) }.joined()
            }
            for field in ArtifactField.allCases { lines.append(row(field.rawValue, set[field])) }
            for (c, s) in set.cbChannel.enumerated() { lines.append(row(channelNames[c], s)) }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Several scored sets side by side (one row each, then the reference): the two primary
    /// fields, their ratio of means to the reference (also in dB), ratio of medians and share
    /// above the real p95. Every set must have been scored against the same reference.
    public static func sideBySide(_ sets: [(label: String, report: ArtifactReport)]) -> String {
        let labelWidth = max(12, (sets.map(\.label.count).max() ?? 0) + 2)
        let intervals = sets.contains { $0.report.vsReference?[.cb].interval != nil }
        var lines = ["Side by side (ratios against the real images; 1 = as much stride-2 energy as real faces"
                     + (intervals ? "; 95 % bootstrap intervals, 1,000 resamples of both sides, seed 0" : "") + "):"]
        var header = pad("set", labelWidth) + right("n", 6)
        for field in [ArtifactField.cb, .cbLocal] {
            let f = field.rawValue
            header += right("mean \(f)", 15) + right("ratio", 8) + (intervals ? right("95 % interval", 18) : "")
                + right("dB", 8) + right("med ratio", 10) + right(">p95", 8)
        }
        lines.append(header)
        func cells(_ stats: FieldStatistics, _ reading: ArtifactReading?) -> String {
            right(sci(stats.mean), 15) + right(fixed(reading?.ratioMean, 3), 8)
                + (intervals ? right(bracketed(reading?.interval), 18) : "") + right(signed(reading?.db), 8)
                + right(fixed(reading?.ratioMedian, 3), 10)
                + right(reading.map { String(format: "%.1f%%", 100 * $0.aboveRealP95) } ?? "–", 8)
        }
        for (label, report) in sets {
            guard let aggregate = report.aggregate else { continue }
            lines.append(pad(label, labelWidth) + right(String(aggregate.n), 6)
                         + cells(aggregate[.cb], report.vsReference?[.cb])
                         + cells(aggregate[.cbLocal], report.vsReference?[.cbLocal]))
        }
        if let reference = sets.first(where: { $0.report.reference != nil })?.report.reference {
            lines.append(pad("real", labelWidth) + right(String(reference.n), 6)
                         + cells(reference[.cb], nil) + cells(reference[.cbLocal], nil))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    private func count(_ a: ArtifactAggregate) -> String {
        "\(a.n) image\(a.n == 1 ? "" : "s") (\(a.nFlat) flat)"
    }
}

/// 1.234e-05
fileprivate func sci(_ v: Double) -> String { String(format: "%.3e", v) }
/// 1.234, or "–" for an undefined value.
fileprivate func fixed(_ v: Double?, _ digits: Int) -> String { v.map { String(format: "%.\(digits)f", $0) } ?? "–" }
/// [1.234, 5.678], or "–".
fileprivate func bracketed(_ i: Bootstrap.Interval?) -> String {
    i.map { String(format: "[%.3f, %.3f]", $0.low, $0.high) } ?? "–"
}
/// +1.23, or "–".
fileprivate func signed(_ v: Double?) -> String { v.map { String(format: "%+.2f", $0) } ?? "–" }
fileprivate func pad(_ s: String, _ width: Int) -> String {
    let cut = s.count > width - 2 ? "…" + s.suffix(width - 3) : s
    return cut + String(repeating: " ", count: max(0, width - cut.count))
}
fileprivate func right(_ s: String, _ width: Int) -> String { String(repeating: " ", count: max(1, width - s.count)) + s }
