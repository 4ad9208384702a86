import Foundation

/// One `vae-faces artifact-score` run: what to score (image files, trained models), against which
/// real images, and which pictures to write. `run` does all of it and returns what the command
/// prints; the command only turns its flags into this value.
public struct ArtifactScoreRun: Sendable {
    /// PNG files and folders of PNG files (one scored set).
    public var paths: [String]
    /// The real-image reference: a data folder or a prepared cache (`ArtifactScoring.openReference`).
    /// Without one, models are read against the shipped real-face baseline (`RealFaceBaseline`).
    public var reference: String?
    /// The split of the reference, nil for every image.
    public var split: Split?
    /// Trained models whose images are scored, one set each.
    public var models: [String]
    /// Which images of each model: samples from the prior or reconstructions of the reference split.
    public var modelImages: ModelImageSource
    /// Where to write the mean log power spectrum PNG, if anywhere.
    public var spectrumMap: String?
    /// Where to write the mean `cb_local` per 8×8 tile PNG, if anywhere.
    public var heatmap: String?

    public init(paths: [String] = [], reference: String? = nil, split: Split? = .test, models: [String] = [],
                modelImages: ModelImageSource = .prior(count: 1000, seed: 0, temperature: 1),
                spectrumMap: String? = nil, heatmap: String? = nil) {
        self.paths = paths
        self.reference = reference
        self.split = split
        self.models = models
        self.modelImages = modelImages
        self.spectrumMap = spectrumMap
        self.heatmap = heatmap
    }

    /// The reference's split as reports name it: train, val, test or all.
    public var splitName: String { split?.rawValue ?? "all" }

    /// Scores the real reference first (model reconstructions are made from its images), then the
    /// paths as one set, then each model; writes the requested pictures. `note` receives the
    /// lines meant for standard error (preparation notes, skipped files).
    ///
    /// Models scored without a reference are read against the shipped baseline of the split
    /// (test or val); reconstructions still need the real images of `reference` (`scoreModel` says so).
    public func run(note: (String) -> Void = { _ in }) throws -> ArtifactScoreResult {
        let maps = ArtifactMapOptions(spectrum: spectrumMap != nil, heatmap: heatmap != nil)

        var referenceCache: PreparedCache?
        var referenceSet: (aggregate: ArtifactAggregate, source: ArtifactReport.ReferenceSource)?
        var realPrimary: RealPrimaryScores?
        var referenceMaps: ArtifactMeanMaps?
        if let reference {
            let cache = try ArtifactScoring.openReference(reference) { event in
                if case .note(let text) = event { note(text) }
            }
            let scored = try ArtifactScoring.scoreCache(cache, split: split, maps: maps)
            referenceCache = cache
            referenceSet = (ArtifactAggregate(scored.scores), .init(cache: cache.path, split: splitName))
            realPrimary = RealPrimaryScores(scored.scores)
            referenceMaps = scored.maps
        } else if !models.isEmpty {
            guard let baseline = split.flatMap({ RealFaceBaseline.shipped[$0] }) else {
                throw VAEFacesError("the shipped real-face baseline holds the "
                                    + RealFaceBaseline.splitsShipped.map(\.rawValue).joined(separator: " and ")
                                    + " splits, not \(splitName): give --reference DIR")
            }
            referenceSet = (baseline.aggregate, .init(shipped: baseline.identity))
            realPrimary = RealPrimaryScores(cb: baseline.cb, cbLocal: baseline.cbLocal)
        }

        var sets: [ArtifactScoreResult.ScoredSet] = []
        if !paths.isEmpty {
            let found = ArtifactScoring.collectFiles(paths)
            let scored = ArtifactScoring.scoreFiles(found.files, maps: maps)
            let skipped = found.missing + scored.skipped
            for skip in skipped { note("skipped \(skip.file): \(skip.problem)") }
            if scored.leftOutOfMaps > 0, let m = scored.maps {
                note("note: \(scored.leftOutOfMaps) image(s) not of size \(m.width)×\(m.height) are scored but left out of the maps")
            }
            guard !scored.images.isEmpty else {
                throw VAEFacesError(found.files.isEmpty
                    ? "no PNG images found in \(paths.joined(separator: ", "))"
                    : "none of the \(found.files.count) files could be read as PNG images")
            }
            sets.append(.init(label: "files", report: ArtifactReport(images: scored.images, skipped: skipped, real: referenceSet,
                                                                   realPrimary: realPrimary),
                              maps: scored.maps))
        }
        for path in models {
            let scored = try ArtifactScoring.scoreModel(path: path, source: modelImages, cache: referenceCache, maps: maps)
            var report = ArtifactReport(images: scored.images, skipped: [], real: referenceSet, realPrimary: realPrimary)
            report.model = scored.info
            let label = "\(scored.info.decoder) \(modelImages.name) (\(URL(fileURLWithPath: path).lastPathComponent))"
            sets.append(.init(label: label, report: report, maps: scored.maps))
        }
        if sets.isEmpty { sets.append(.init(label: "reference", report: ArtifactReport(images: [], skipped: [], real: referenceSet), maps: nil)) }

        let result = ArtifactScoreResult(sets: sets, spectrumMap: spectrumMap, heatmap: heatmap)
        let panels = result.panels(reference: referenceMaps, split: splitName)
        if let spectrumMap { try PNG.write(try ArtifactPictures.spectrum(panels), to: spectrumMap) }
        if let heatmap { try PNG.write(try ArtifactPictures.heatmap(panels), to: heatmap) }
        return result
    }
}

/// What an `ArtifactScoreRun` found: one report per scored set (or the reference's alone).
///
/// As JSON: the report of the one set, or with several sets
/// `{"sets": [{"label": …, "report": {…one set's report…}}]}`.
public struct ArtifactScoreResult: Encodable, Sendable {
    /// One scored set: the image files, or the images of one model.
    public struct ScoredSet: Encodable, Sendable {
        public var label: String
        public var report: ArtifactReport
        /// The set's mean maps, when pictures were asked for (not part of the JSON).
        public var maps: ArtifactMeanMaps?

        enum CodingKeys: String, CodingKey { case label, report }
    }

    public var sets: [ScoredSet]
    /// The pictures written, for the closing lines of the table.
    public var spectrumMap: String?
    public var heatmap: String?

    /// The picture panels: each scored set that has maps, then the real images'.
    func panels(reference: ArtifactMeanMaps?, split: String) -> [ArtifactPictures.Panel] {
        var panels: [ArtifactPictures.Panel] = sets.compactMap { set in
            set.maps.map { .init(title: sets.count == 1 ? "SCORED: \($0.count) IMAGES" : "\(set.label.uppercased()): \($0.count)", maps: $0) }
        }
        if let reference { panels.append(.init(title: "REAL: \(split) SPLIT, \(reference.count) IMAGES", maps: reference)) }
        return panels
    }

    /// The report for people: one set's table; or, with several sets, the side-by-side summary and
    /// then each set's table under its label. Then the pictures written.
    public func text(perImage: Bool = false) -> String {
        var text: String
        if sets.count > 1 {
            text = ArtifactReport.sideBySide(sets.map { ($0.label, $0.report) }) + "\n"
            for set in sets { text += "== \(set.label)\n" + set.report.table(perImage: perImage) + "\n" }
        } else {
            text = sets[0].report.table(perImage: perImage)
        }
        if let spectrumMap { text += "spectrum map: \(spectrumMap)\n" }
        if let heatmap { text += "tile heatmap: \(heatmap)\n" }
        return text
    }

    public func encode(to encoder: any Swift.Encoder) throws {
        if sets.count == 1 {
            try sets[0].report.encode(to: encoder)
        } else {
            var container = encoder.container(keyedBy: JSONFieldKey.self)
            try container.encode(sets, forKey: JSONFieldKey("sets"))
        }
    }
}
