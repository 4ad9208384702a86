import Foundation
import NeuralCore
@testable import VAEFaces

/// A small planar CHW test image of Floats, with the straightforward, independent computations of
/// the artifact scores that the tests hold `ArtifactScorer` against (../shared/docs/artifact-metric.md).
struct TestImage {
    var channels: Int, height: Int, width: Int
    var pixels: [Float]

    init(channels: Int, height: Int, width: Int, _ value: (_ c: Int, _ y: Int, _ x: Int) -> Double) {
        self.channels = channels; self.height = height; self.width = width
        pixels = []
        pixels.reserveCapacity(channels * height * width)
        for c in 0..<channels { for y in 0..<height { for x in 0..<width { pixels.append(Float(value(c, y, x))) } } }
    }

    subscript(c: Int, y: Int, x: Int) -> Double { Double(pixels[(c * height + y) * width + x]) }

    /// The same image with every value mapped.
    func map(_ f: (Double) -> Double) -> TestImage {
        TestImage(channels: channels, height: height, width: width) { c, y, x in f(self[c, y, x]) }
    }

    /// The top-left h × w crop.
    func cropped(height h: Int, width w: Int) -> TestImage {
        TestImage(channels: channels, height: h, width: w) { c, y, x in self[c, y, x] }
    }

    func score(tileMap: UnsafeMutableBufferPointer<Double>? = nil) -> ArtifactScores {
        pixels.withUnsafeBufferPointer {
            ArtifactScorer().score(planar: $0, channels: channels, height: height, width: width, tileMap: tileMap)
        }
    }

    /// A smooth, non-polynomial random image: a few low-frequency waves per channel, in [0.1, 0.9].
    static func smooth(channels: Int = 3, height: Int, width: Int, seed: UInt64) -> TestImage {
        var rng = SeededGenerator(seed: seed)
        let waves = (0..<(channels * 4)).map { _ in
            (Double(rng.nextUniform(-0.12, 0.12)), Double(rng.nextUniform(-0.12, 0.12)),
             Double(rng.nextUniform(0, 6.3)), Double(rng.nextUniform(0.02, 0.08)))
        }
        return TestImage(channels: channels, height: height, width: width) { c, y, x in
            var v = 0.5
            for k in 0..<4 {
                let (fy, fx, phase, a) = waves[c * 4 + k]
                v += a * sin(fy * Double(y) + fx * Double(x) + phase)
            }
            return v
        }
    }

    /// Uniform noise in [0, 1]: every frequency present.
    static func noise(channels: Int = 3, height: Int, width: Int, seed: UInt64) -> TestImage {
        var rng = SeededGenerator(seed: seed)
        return TestImage(channels: channels, height: height, width: width) { _, _, _ in Double(rng.nextUniform()) }
    }

    /// A random image with structure at every scale: smooth waves + noise + a faint checkerboard
    /// whose sign flips by region.
    static func textured(channels: Int = 3, height: Int, width: Int, seed: UInt64) -> TestImage {
        let base = smooth(channels: channels, height: height, width: width, seed: seed)
        var rng = SeededGenerator(seed: seed ^ 0x9e37)
        return TestImage(channels: channels, height: height, width: width) { c, y, x in
            let flip: Double = (y / 11 + x / 7) % 2 == 0 ? 1 : -1
            let board: Double = (x + y) % 2 == 0 ? 1 : -1
            return base[c, y, x] + 0.03 * Double(rng.nextUniform(-1, 1)) + 0.004 * flip * board
        }
    }
}

/// The values of `ArtifactScores` that the references below compute, all in Double.
struct ReferenceScores {
    var cb = 0.0, cbLocal = 0.0, cbCol = 0.0, cbRow = 0.0, cbDiag = 0.0
    var cbChannel: [Double] = []
    var amp = 0.0, ampLocal = 0.0
    var tileMap: [Double] = []
}

enum Reference {
    static func sgn(_ i: Int) -> Double { i % 2 == 0 ? 1 : -1 }

    static func acEnergy(_ image: TestImage, channel c: Int) -> Double {
        var sum = 0.0
        for y in 0..<image.height { for x in 0..<image.width { sum += image[c, y, x] } }
        let mean = sum / Double(image.height * image.width)
        var s = 0.0
        for y in 0..<image.height { for x in 0..<image.width { s += (image[c, y, x] - mean) * (image[c, y, x] - mean) } }
        return s
    }

    /// The residual-map form, with naive loops: the full maps Gx, Gy, Gxy as 2-D arrays, then the
    /// mean of each signed map over each region's usable pixels. H and W must be even.
    static func residualForm(_ image: TestImage) -> ReferenceScores {
        let h = image.height, w = image.width
        var gx = [[Double]](repeating: [Double](repeating: 0, count: w), count: h)
        var gy = gx, gxy = gx
        var result = ReferenceScores()
        let tilesY = (h + 7) / 8, tilesX = (w + 7) / 8
        result.tileMap = [Double](repeating: 0, count: tilesY * tilesX)
        var totalS = 0.0, totalE = 0.0, totalLocal = 0.0
        var eCol = 0.0, eRow = 0.0, eDia = 0.0
        for c in 0..<image.channels {
            for y in 0..<h {
                for x in 1..<(w - 1) { gx[y][x] = (2 * image[c, y, x] - image[c, y, x - 1] - image[c, y, x + 1]) / 4 }
            }
            for y in 1..<(h - 1) {
                for x in 0..<w { gy[y][x] = (2 * image[c, y, x] - image[c, y - 1, x] - image[c, y + 1, x]) / 4 }
            }
            for y in 1..<(h - 1) {
                for x in 1..<(w - 1) { gxy[y][x] = (2 * gx[y][x] - gx[y - 1][x] - gx[y + 1][x]) / 4 }
            }
            /// (|R|·c_col², |R|·c_row², |R|·c_dia²) over rows ys, columns xs.
            func energy(_ ys: Range<Int>, _ xs: Range<Int>) -> (Double, Double, Double) {
                var sCol = 0.0, nCol = 0, sRow = 0.0, nRow = 0, sDia = 0.0, nDia = 0
                for y in ys {
                    for x in xs {
                        let usableX = x >= 2 && x <= w - 3, usableY = y >= 2 && y <= h - 3
                        if usableX { sCol += sgn(x) * gx[y][x]; nCol += 1 }
                        if usableY { sRow += sgn(y) * gy[y][x]; nRow += 1 }
                        if usableX && usableY { sDia += sgn(x + y) * gxy[y][x]; nDia += 1 }
                    }
                }
                let size = Double(ys.count * xs.count)
                func sq(_ s: Double, _ n: Int) -> Double { n == 0 ? 0 : size * (s / Double(n)) * (s / Double(n)) }
                return (sq(sCol, nCol), sq(sRow, nRow), sq(sDia, nDia))
            }
            let whole = energy(0..<h, 0..<w)
            eCol += whole.0; eRow += whole.1; eDia += whole.2
            let e = whole.0 + whole.1 + whole.2
            let s = acEnergy(image, channel: c)
            totalS += s; totalE += e
            result.cbChannel.append(s > 0 ? e / s : 0)
            for ty in 0..<tilesY {
                for tx in 0..<tilesX {
                    let t = energy((ty * 8)..<min(ty * 8 + 8, h), (tx * 8)..<min(tx * 8 + 8, w))
                    result.tileMap[ty * tilesX + tx] += t.0 + t.1 + t.2
                    totalLocal += t.0 + t.1 + t.2
                }
            }
        }
        result.cb = totalE / totalS
        result.cbLocal = totalLocal / totalS
        result.cbCol = eCol / totalS; result.cbRow = eRow / totalS; result.cbDiag = eDia / totalS
        result.tileMap = result.tileMap.map { $0 / totalS }
        let values = Double(image.channels * h * w)
        result.amp = (totalE / values).squareRoot()
        result.ampLocal = (totalLocal / values).squareRoot()
        return result
    }

    /// The spec's taper for a region whose usable positions are [lo, hi): the weights of
    /// (−1)^j·X(j) over the region widened by one pixel each side, (¼, ¾, 1, …, 1, ¾, ¼)
    /// ((¼, ½, ¼) for a single usable position). Over a whole row of W pixels: (0, ¼, ¾, 1, …, 1, ¾, ¼, 0).
    static func taper(_ lo: Int, _ hi: Int) -> [(Int, Double)] {
        let n = hi - lo
        if n <= 0 { return [] }
        if n == 1 { return [(lo - 1, 0.25), (lo, 0.5), (lo + 1, 0.25)] }
        var weights: [(Int, Double)] = [(lo - 1, 0.25), (lo, 0.75)]
        for j in (lo + 1)..<(hi - 1) { weights.append((j, 1)) }
        weights += [(hi - 1, 0.75), (hi, 0.25)]
        return weights
    }

    /// The tapered-sum form: c_col(R) = Σ_rows Σ_x w(x)(−1)^x X / (rows · usable columns), c_row
    /// likewise along y, c_dia with w(y)·w(x): directly on the pixels, no residual maps.
    static func taperedForm(_ image: TestImage) -> ReferenceScores {
        let h = image.height, w = image.width
        let tilesY = (h + 7) / 8, tilesX = (w + 7) / 8
        var result = ReferenceScores()
        result.tileMap = [Double](repeating: 0, count: tilesY * tilesX)
        var totalS = 0.0, totalE = 0.0, totalLocal = 0.0, eCol = 0.0, eRow = 0.0, eDia = 0.0
        for c in 0..<image.channels {
            func energy(_ ys: Range<Int>, _ xs: Range<Int>) -> (Double, Double, Double) {
                let ux = (max(xs.lowerBound, 2), min(xs.upperBound, w - 2))
                let uy = (max(ys.lowerBound, 2), min(ys.upperBound, h - 2))
                let nx = max(0, ux.1 - ux.0), ny = max(0, uy.1 - uy.0)
                let tx = taper(ux.0, ux.1), ty = taper(uy.0, uy.1)
                var sCol = 0.0, sRow = 0.0, sDia = 0.0
                for y in ys { for (x, wx) in tx { sCol += wx * sgn(x) * image[c, y, x] } }
                for (y, wy) in ty { for x in xs { sRow += wy * sgn(y) * image[c, y, x] } }
                for (y, wy) in ty { for (x, wx) in tx { sDia += wy * wx * sgn(x + y) * image[c, y, x] } }
                let size = Double(ys.count * xs.count)
                func sq(_ s: Double, _ n: Int) -> Double { n == 0 ? 0 : size * (s / Double(n)) * (s / Double(n)) }
                return (sq(sCol, ys.count * nx), sq(sRow, ny * xs.count), sq(sDia, ny * nx))
            }
            let whole = energy(0..<h, 0..<w)
            eCol += whole.0; eRow += whole.1; eDia += whole.2
            let e = whole.0 + whole.1 + whole.2
            let s = acEnergy(image, channel: c)
            totalS += s; totalE += e
            result.cbChannel.append(s > 0 ? e / s : 0)
            for ty in 0..<tilesY {
                for tx in 0..<tilesX {
                    let t = energy((ty * 8)..<min(ty * 8 + 8, h), (tx * 8)..<min(tx * 8 + 8, w))
                    result.tileMap[ty * tilesX + tx] += t.0 + t.1 + t.2
                    totalLocal += t.0 + t.1 + t.2
                }
            }
        }
        result.cb = totalE / totalS
        result.cbLocal = totalLocal / totalS
        result.cbCol = eCol / totalS; result.cbRow = eRow / totalS; result.cbDiag = eDia / totalS
        result.tileMap = result.tileMap.map { $0 / totalS }
        let values = Double(image.channels * h * w)
        result.amp = (totalE / values).squareRoot()
        result.ampLocal = (totalLocal / values).squareRoot()
        return result
    }

    /// The direct 2-D DFT of channel c (O((H·W)²)): power |F(u, v)|² at [u][v].
    static func power(_ image: TestImage, channel c: Int) -> [[Double]] {
        let h = image.height, w = image.width
        var result = [[Double]](repeating: [Double](repeating: 0, count: w), count: h)
        for u in 0..<h {
            for v in 0..<w {
                var re = 0.0, im = 0.0
                for y in 0..<h {
                    for x in 0..<w {
                        // Reduce the phase modulo 1 exactly in integers before the trigonometry.
                        let phase = 2 * Double.pi * (Double((u * y) % h) / Double(h) + Double((v * x) % w) / Double(w))
                        re += image[c, y, x] * cos(phase)
                        im -= image[c, y, x] * sin(phase)
                    }
                }
                result[u][v] = re * re + im * im
            }
        }
        return result
    }

    /// `cb_raw` (P = 2) or `pP` from the direct DFT: the energy at the DFT bins of the P-lattice
    /// (DC excluded) over all non-DC energy, both summed over channels, the image cropped to multiples of P.
    static func latticeDFT(_ image: TestImage, period p: Int) -> Double {
        let cropped = image.cropped(height: image.height - image.height % p, width: image.width - image.width % p)
        let h = cropped.height, w = cropped.width
        var lattice = 0.0, total = 0.0
        for c in 0..<image.channels {
            let f = power(cropped, channel: c)
            for u in 0..<h {
                for v in 0..<w where u != 0 || v != 0 {
                    total += f[u][v]
                    if u % (h / p) == 0 && v % (w / p) == 0 { lattice += f[u][v] }
                }
            }
        }
        return lattice / total
    }

    /// `cb_raw` in the phase form: (1/4)·Σ_pq m_pq² / var(X), pooled over channels
    /// (Σ_c Σ_pq (n/4)·m_pq² / Σ_c S_c).
    static func phaseForm(_ image: TestImage) -> Double {
        var numerator = 0.0, denominator = 0.0
        let n = Double(image.height * image.width)
        for c in 0..<image.channels {
            var sum = 0.0
            for y in 0..<image.height { for x in 0..<image.width { sum += image[c, y, x] } }
            let mean = sum / n
            for p in 0..<2 {
                for q in 0..<2 {
                    var s = 0.0, k = 0.0
                    for y in stride(from: p, to: image.height, by: 2) {
                        for x in stride(from: q, to: image.width, by: 2) { s += image[c, y, x] - mean; k += 1 }
                    }
                    numerator += k * (s / k) * (s / k)
                }
            }
            denominator += acEnergy(image, channel: c)
        }
        return numerator / denominator
    }
}

/// |a − b| ≤ tolerance · max(|b|, floor): relative agreement, absolute near zero.
func nearlyEqual(_ a: Double, _ b: Double, _ tolerance: Double = 1e-9, floor: Double = 1e-15) -> Bool {
    abs(a - b) <= tolerance * max(abs(b), floor)
}
