import ArgumentParser
import Foundation
import VAEFaces

struct PrepareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prepare",
        abstract: "Decode, crop and resize every image of a data folder once, into the cache training reads.",
        discussion: """
            The data folder is a CelebA root (img_align_celeba/ plus list_eval_partition.txt and \
            list_attr_celeba.txt) or any folder of JPEG/PNG images. The cache defaults to \
            ~/.cache/vae-faces/<folder>-<hash>.vfcache.
            """)

    @Option(help: "The data folder (default: $VAE_FACES_DATA).")
    var data: String?

    @Option(help: "The cache file to write (default: under ~/.cache/vae-faces/, keyed by the data folder).")
    var cache: String?

    @Flag(help: "Print a JSON summary on standard output.")
    var json = false

    @Option(help: "Also write the first 64 prepared images, in file-name order, as an 8×8 PNG grid.")
    var preview: String?

    @OptionGroup var threads: ThreadOptions

    func run() throws {
        threads.apply()
        let folder = try DataPreparation.resolveDataFolder(data)
        let interactive = isatty(STDERR_FILENO) != 0
        var lastReport = -1.0
        let summary = try DataPreparation.prepare(dataFolder: folder, cachePath: cache) { event in
            switch event {
            case .skipped(let file, let reason):
                if interactive { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
                printError("skipped \(file): \(reason)")
            case .note(let text):
                printError(text)
            case .progress(let done, let total, let skipped, let seconds):
                guard done == total || seconds - lastReport >= (interactive ? 0.2 : 2) else { return }
                lastReport = seconds
                let rate = seconds > 0 ? Double(done) / seconds : 0
                let line = "prepared \(done)/\(total) files (\(skipped) skipped), \(Int(rate.rounded())) images/s"
                if interactive {
                    FileHandle.standardError.write(Data(("\r\u{1B}[K" + line + (done == total ? "\n" : "")).utf8))
                } else {
                    printError(line)
                }
            }
        }
        if let preview {
            let cache = try PreparedCache.open(path: summary.cache)
            try PNG.write(DataPreparation.previewGrid(cache), to: preview)
        }
        if json {
            try printJSON(summary)
        } else {
            let s = summary.splits
            print("\(summary.images) images (train \(s.train), val \(s.val), test \(s.test)), "
                  + "\(summary.skipped.count) skipped, in \(String(format: "%.1f", summary.seconds)) s "
                  + "(\(Int((Double(summary.images + summary.skipped.count) / max(summary.seconds, 1e-9)).rounded())) images/s)")
            print("cache: \(summary.cache)")
            if let preview { print("preview: \(preview)") }
        }
    }
}
