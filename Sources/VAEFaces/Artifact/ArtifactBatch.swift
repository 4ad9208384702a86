import Foundation
import NeuralCore

/// Which mean maps to accumulate while scoring a set of images (for `--map` and `--heatmap`).
public struct ArtifactMapOptions: Sendable, Equatable {
    /// The mean log power spectrum.
    public var spectrum: Bool
    /// The mean `cb_local` contribution of each 8×8 tile.
    public var heatmap: Bool
    public init(spectrum: Bool = false, heatmap: Bool = false) { self.spectrum = spectrum; self.heatmap = heatmap }
    public static let none = ArtifactMapOptions()
}

/// The mean maps of the scored images of one size (H × W after dropping an odd last row/column).
/// Images of other sizes are left out of the maps (they are still scored); see `ArtifactBatchResult`.
public struct ArtifactMeanMaps: Sendable, Equatable {
    public var height: Int, width: Int
    /// How many images the heatmap averages (every image of this size).
    public var count: Int
    /// How many images the spectrum averages (the non-flat images of this size).
    public var spectrumCount: Int
    /// Mean over images of log10(P(u, v) / (H·W) + 1e-12), P = Σ_c |F_c(u, v)|²; H × W row-major,
    /// in DFT order (DC at index 0; `centered` shifts it to the middle). Nil when not asked for,
    /// or when every image was flat.
    public var logPower: [Double]?
    /// Mean over images of E(tile) / S (whose sum over tiles is the mean `cb_local`), on the tile grid
    /// `ArtifactScorer.tileGrid`, row-major. Nil when not asked for.
    public var tileCbLocal: [Double]?
    public var tileRows: Int { ArtifactScorer.tileGrid(height: height, width: width).rows }
    public var tileColumns: Int { ArtifactScorer.tileGrid(height: height, width: width).columns }

    /// Floor added to the power before the logarithm (no log of 0 for a bin with no energy).
    public static let powerFloor = 1e-12

    /// `logPower` with the zero frequency moved to the middle: element (i, j) is bin
    /// ((i + H/2) mod H, (j + W/2) mod W), so DC is at (H/2, W/2) and the stride-2 bins
    /// (H/2, 0), (0, W/2), (H/2, W/2) sit at (0, W/2), (H/2, 0) and (0, 0).
    public var centeredLogPower: [Double]? {
        guard let logPower else { return nil }
        var out = [Double](repeating: 0, count: height * width)
        for i in 0..<height {
            for j in 0..<width {
                out[i * width + j] = logPower[((i + height / 2) % height) * width + (j + width / 2) % width]
            }
        }
        return out
    }
}

/// Scoring state for one thread: a scorer, and running sums of the maps per image size.
public final class ArtifactWorker {
    public let scorer = ArtifactScorer()
    let options: ArtifactMapOptions

    struct Size: Hashable { var height: Int, width: Int }
    final class Sums {
        var count = 0, spectrumCount = 0
        var logPower: [Double], tiles: [Double]
        var spectrum: PowerSpectrum?
        init(size: Size, options: ArtifactMapOptions) {
            logPower = options.spectrum ? [Double](repeating: 0, count: size.height * size.width) : []
            let grid = ArtifactScorer.tileGrid(height: size.height, width: size.width)
            tiles = options.heatmap ? [Double](repeating: 0, count: grid.rows * grid.columns) : []
            spectrum = options.spectrum ? PowerSpectrum(height: size.height, width: size.width) : nil
        }
    }
    var sums: [Size: Sums] = [:]
    private var power: [Double] = [], tileScratch: [Double] = []

    public init(maps: ArtifactMapOptions = .none) { options = maps }

    /// Scores a planar CHW Float image in [0, 1] and adds it to the maps.
    public func score(planar pixels: UnsafeBufferPointer<Float>, channels: Int, height: Int, width: Int) -> ArtifactScores {
        scorer.load(planar: pixels, channels: channels, height: height, width: width)
        return scoreLoaded()
    }

    /// Scores an interleaved HWC 8-bit image (values / 255) and adds it to the maps.
    public func score(interleaved bytes: UnsafeBufferPointer<UInt8>, channels: Int, height: Int, width: Int) -> ArtifactScores {
        scorer.load(interleaved: bytes, channels: channels, height: height, width: width)
        return scoreLoaded()
    }

    private func scoreLoaded() -> ArtifactScores {
        let (channels, h, w) = scorer.loaded
        guard options.spectrum || options.heatmap, h > 0, w > 0 else { return scorer.scoreLoaded(tileMap: nil) }
        let size = Size(height: h, width: w)
        let sums = self.sums[size] ?? Sums(size: size, options: options)
        self.sums[size] = sums
        sums.count += 1
        let scores: ArtifactScores
        if options.heatmap {
            let grid = ArtifactScorer.tileGrid(height: h, width: w)
            if tileScratch.count != grid.rows * grid.columns {
                tileScratch = [Double](repeating: 0, count: grid.rows * grid.columns)
            }
            scores = tileScratch.withUnsafeMutableBufferPointer { scorer.scoreLoaded(tileMap: $0) }
            for t in tileScratch.indices { sums.tiles[t] += tileScratch[t] }
        } else {
            scores = scorer.scoreLoaded(tileMap: nil)
        }
        if let spectrum = sums.spectrum, !scores.flat {
            let n = h * w
            if power.count != n { power = [Double](repeating: 0, count: n) }
            power.withUnsafeMutableBufferPointer { p in
                p.update(repeating: 0)
                spectrum.addPower(of: scorer.planes, channels: channels, into: p.baseAddress!)
            }
            // The power of a real image is symmetric, P(u, v) = P(−u, −v): sum the logarithms of
            // the columns v ≤ W/2 only; `ArtifactBatch.run` mirrors them to the rest at the end.
            let scale = 1 / Double(n)
            for u in 0..<h {
                for i in (u * w)...(u * w + w / 2) {
                    sums.logPower[i] += log10(power[i] * scale + ArtifactMeanMaps.powerFloor)
                }
            }
            sums.spectrumCount += 1
        }
        return scores
    }
}

/// The outcome of scoring a set of images.
public struct ArtifactBatchResult {
    /// One outcome per image, in order: its scores, or the error that kept it from being scored.
    public var outcomes: [Result<ArtifactScores, any Error>]
    /// The mean maps over the images of the most common size (nil when no maps were asked for or
    /// nothing was scored).
    public var maps: ArtifactMeanMaps?
    /// Scored images of other sizes, left out of `maps`.
    public var leftOutOfMaps: Int
}

public enum ArtifactBatch {
    /// Scores `count` images spread over `Threading.workers` threads: `body(i, worker)` produces
    /// image i and scores it with `worker` (one per thread, reused for all its images). An error
    /// thrown by `body` is recorded as image i's outcome.
    public static func run(count: Int, maps: ArtifactMapOptions = .none,
                           _ body: (Int, ArtifactWorker) throws -> ArtifactScores) -> ArtifactBatchResult {
        var outcomes = [Result<ArtifactScores, any Error>](repeating: .failure(VAEFacesError("not scored")), count: count)
        let chunks = max(1, min(Threading.workers, count))
        var workers = [ArtifactWorker?](repeating: nil, count: chunks)
        outcomes.withUnsafeMutableBufferPointer { out in
            workers.withUnsafeMutableBufferPointer { slots in
                parallelFor(chunks) { c in
                    let worker = ArtifactWorker(maps: maps)
                    for i in (count * c / chunks)..<(count * (c + 1) / chunks) {
                        do { out[i] = .success(try body(i, worker)) } catch { out[i] = .failure(error) }
                    }
                    slots[c] = worker
                }
            }
        }
        // Merge the workers' sums per size and keep the most common size (ties: the larger image).
        var merged: [ArtifactWorker.Size: ArtifactWorker.Sums] = [:]
        for worker in workers.compactMap({ $0 }) {
            for (size, sums) in worker.sums {
                guard let into = merged[size] else { merged[size] = sums; continue }
                into.count += sums.count
                into.spectrumCount += sums.spectrumCount
                for i in into.logPower.indices { into.logPower[i] += sums.logPower[i] }
                for i in into.tiles.indices { into.tiles[i] += sums.tiles[i] }
            }
        }
        let best = merged.max { a, b in
            (a.value.count, a.key.height * a.key.width) < (b.value.count, b.key.height * b.key.width)
        }
        var result = ArtifactBatchResult(outcomes: outcomes, maps: nil, leftOutOfMaps: 0)
        if let (size, sums) = best {
            var logPower: [Double]? = nil
            if maps.spectrum && sums.spectrumCount > 0 {
                let (h, w) = (size.height, size.width)
                var mean = sums.logPower.map { $0 / Double(sums.spectrumCount) }
                for u in 0..<h {
                    for v in (w / 2 + 1)..<max(w / 2 + 1, w) { mean[u * w + v] = mean[((h - u) % h) * w + w - v] }
                }
                logPower = mean
            }
            result.maps = ArtifactMeanMaps(
                height: size.height, width: size.width, count: sums.count, spectrumCount: sums.spectrumCount,
                logPower: logPower,
                tileCbLocal: maps.heatmap ? sums.tiles.map { $0 / Double(sums.count) } : nil)
            result.leftOutOfMaps = merged.values.reduce(0) { $0 + $1.count } - sums.count
        }
        return result
    }
}
