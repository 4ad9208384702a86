import ArgumentParser
import Foundation
import VAEFaces

struct ArtifactScoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "artifact-score",
        abstract: "Measure checkerboard artifacts: the stride-2 energy of images, read against real faces.",
        discussion: """
            The score (../shared/docs/artifact-metric.md) is the energy of the image at the stride-2 \
            periods — the DFT frequencies (π,0), (0,π), (π,π), with the border leak removed — as a \
            share of the image's variance: cb over the whole image, cb_local summed over 8×8 tiles. \
            Read it against real faces: with --reference, every aggregate is shown next to the same \
            aggregate over the real images the model trains on (ratio of means, also in dB; ratio \
            of medians; share above the real p95, which is 5 % for real images).

            PATH arguments are PNG files or folders; a folder contributes every .png file in it and \
            in its subfolders (hidden ones excepted). Files that cannot be read are reported on \
            standard error and skipped.
            """)

    @Argument(help: "PNG files and/or folders of PNG files (searched recursively).")
    var paths: [String] = []

    @Option(help: ArgumentHelp("The real-image reference: a data folder (its prepared cache is used, prepared first if needed) or a prepared cache file.",
                               valueName: "dir-or-cache"))
    var reference: String?

    @Option(help: ArgumentHelp("The split of the reference: train, val, test or all.", valueName: "split"))
    var split: String = "test"

    @Flag(name: .customLong("per-image"), help: "Also print one row of scores per image.")
    var perImage = false

    @Flag(help: "Print everything as JSON (per-image scores always included).")
    var json = false

    @Option(help: ArgumentHelp("Write the mean log power spectrum (stride-2 bins marked; beside the reference's) as a PNG.",
                               valueName: "png"))
    var map: String?

    @Option(help: ArgumentHelp("Write the mean cb_local per 8×8 tile (beside the reference's) as a PNG.", valueName: "png"))
    var heatmap: String?

    @OptionGroup var threads: ThreadOptions

    func validate() throws {
        if paths.isEmpty && reference == nil {
            throw ValidationError("give PNG files or folders to score, or --reference to show the real baseline")
        }
        if split != "all" && Split(rawValue: split) == nil {
            throw ValidationError("--split must be train, val, test or all, not \"\(split)\"")
        }
    }

    func run() throws {
        threads.apply()
        let maps = ArtifactMapOptions(spectrum: map != nil, heatmap: heatmap != nil)

        var scored: [ScoredImage] = [], skipped: [SkippedFile] = [], scoredMaps: ArtifactMeanMaps?
        if !paths.isEmpty {
            let found = ArtifactScoring.collectFiles(paths)
            let result = ArtifactScoring.scoreFiles(found.files, maps: maps)
            scored = result.images
            skipped = found.missing + result.skipped
            scoredMaps = result.maps
            for skip in skipped { printError("skipped \(skip.file): \(skip.problem)") }
            if result.leftOutOfMaps > 0, let m = result.maps {
                printError("note: \(result.leftOutOfMaps) image(s) not of size \(m.width)×\(m.height) are scored but left out of the maps")
            }
            guard !scored.isEmpty else {
                throw VAEFacesError(found.files.isEmpty
                    ? "no PNG images found in \(paths.joined(separator: ", "))"
                    : "none of the \(found.files.count) files could be read as PNG images")
            }
        }

        var referenceSet: (scores: [ArtifactScores], source: ArtifactReport.ReferenceSource)?
        var referenceMaps: ArtifactMeanMaps?
        if let reference {
            let cache = try ArtifactScoring.openReference(reference) { event in
                if case .note(let text) = event { printError(text) }
            }
            let result = try ArtifactScoring.scoreCache(cache, split: Split(rawValue: split), maps: maps)
            referenceSet = (result.scores, .init(cache: cache.path, split: split))
            referenceMaps = result.maps
        }

        let report = ArtifactReport(images: scored, skipped: skipped, reference: referenceSet)
        var panels: [ArtifactPictures.Panel] = []
        if let scoredMaps { panels.append(.init(title: "SCORED: \(scoredMaps.count) IMAGES", maps: scoredMaps)) }
        if let referenceMaps { panels.append(.init(title: "REAL: \(split) SPLIT, \(referenceMaps.count) IMAGES", maps: referenceMaps)) }
        if let map { try PNG.write(try ArtifactPictures.spectrum(panels), to: map) }
        if let heatmap { try PNG.write(try ArtifactPictures.heatmap(panels), to: heatmap) }

        if json {
            try printJSON(report)
        } else {
            print(report.table(perImage: perImage), terminator: "")
            if let map { print("spectrum map: \(map)") }
            if let heatmap { print("tile heatmap: \(heatmap)") }
        }
    }
}
