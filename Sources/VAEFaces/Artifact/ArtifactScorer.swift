import NeuralCore

/// Computes `ArtifactScores` (../shared/docs/artifact-metric.md §2) in Double arithmetic.
///
/// One scorer holds the scratch memory for one thread and reuses it for every image it scores
/// (it grows when a larger image comes): create one per worker, never share one between threads.
///
/// How each field is computed (the equivalent forms of the spec, cross-checked in the tests):
/// - `cb`, `cb_local` and the three terms: the residual-map form. Per channel, the signed residuals
///   Zcol = (−1)^x·Gx, Zrow = (−1)^y·Gy, Zdia = (−1)^(x+y)·Gxy are summed per 8×8 tile over their
///   usable pixels; the whole-image sums are the sums of the tile sums.
/// - `cb_raw`, `p4`, `p8`, `p16`: the phase (lattice) form instead of a DFT. The DFT bins on the
///   P-lattice, F(a·H/P, b·W/P), are the P×P DFT of the P² class sums T_pq = Σ X over the pixels
///   with (y mod P, x mod P) = (p, q). By Parseval on that P×P DFT, with the DC bin removed,
///   Σ_lattice≠0 |F|² = P²·Σ_pq (T_pq − T̄)², T̄ = mean of the T_pq; and Σ_k≠0 |F(k)|² = H·W·Σ(X − mean)².
///   So p_P = P²·Σ(T − T̄)² / (H_P·W_P·S_P), over the image cropped to H_P × W_P (multiples of P).
public final class ArtifactScorer {
    /// The tile size of `cb_local`.
    public static let tile = 8
    /// The lattice periods of `cb_raw` (P = 2), `p4`, `p8`, `p16`.
    static let periods = [2, 4, 8, 16]
    /// The flat rule's relative threshold: flat when RMS(X − mean) ≤ 1e-6 · max|X|.
    static let flatThreshold = 1e-6

    private var scratch: UnsafeMutablePointer<Double>
    private var capacity: Int

    public init() {
        capacity = 0
        scratch = .allocate(capacity: 1)
    }

    deinit { scratch.deallocate() }

    /// The tile grid of `cb_local` for an image of `height` × `width` pixels (after dropping an odd
    /// last row or column): ⌈H/8⌉ rows × ⌈W/8⌉ columns of tiles, laid from (0, 0).
    public static func tileGrid(height: Int, width: Int) -> (rows: Int, columns: Int) {
        let h = height & ~1, w = width & ~1
        return ((h + tile - 1) / tile, (w + tile - 1) / tile)
    }

    /// Scores a planar CHW image of Floats in [0, 1]: `pixels[(c·height + y)·width + x]`.
    ///
    /// - Parameter tileMap: if given, receives E(tile) / S for each tile of `tileGrid(height:width:)`
    ///   (row-major; its sum is `cb_local`); all 0 for a flat image. Must hold exactly that many values.
    public func score(planar pixels: UnsafeBufferPointer<Float>, channels: Int, height: Int, width: Int,
                      tileMap: UnsafeMutableBufferPointer<Double>? = nil) -> ArtifactScores {
        load(planar: pixels, channels: channels, height: height, width: width)
        return scoreLoaded(tileMap: tileMap)
    }

    /// Scores an interleaved (HWC) 8-bit image, each value divided by 255:
    /// `bytes[(y·width + x)·channels + c]` — the layout of the prepared CelebA cache.
    public func score(interleaved bytes: UnsafeBufferPointer<UInt8>, channels: Int, height: Int, width: Int,
                      tileMap: UnsafeMutableBufferPointer<Double>? = nil) -> ArtifactScores {
        load(interleaved: bytes, channels: channels, height: height, width: width)
        return scoreLoaded(tileMap: tileMap)
    }

    /// The image last loaded, as Double planes (C × H × W, H and W even after dropping an odd last
    /// row or column); valid until the next load.
    private(set) var loaded: (channels: Int, height: Int, width: Int) = (0, 0, 0)
    var planes: UnsafePointer<Double> { UnsafePointer(scratch) }

    /// Converts a planar CHW Float image into the Double planes.
    func load(planar pixels: UnsafeBufferPointer<Float>, channels: Int, height: Int, width: Int) {
        precondition(pixels.count >= channels * height * width, "ArtifactScorer: buffer smaller than C·H·W")
        let h = height & ~1, w = width & ~1
        let plane = prepare(channels: channels, height: h, width: w)
        for c in 0..<channels {
            for y in 0..<h {
                let source = pixels.baseAddress! + (c * height + y) * width
                let target = plane + (c * h + y) * w
                for x in 0..<w { target[x] = Double(source[x]) }
            }
        }
        loaded = (channels, h, w)
    }

    /// Converts an interleaved HWC 8-bit image into the Double planes (values / 255).
    func load(interleaved bytes: UnsafeBufferPointer<UInt8>, channels: Int, height: Int, width: Int) {
        precondition(bytes.count >= channels * height * width, "ArtifactScorer: buffer smaller than H·W·C")
        let h = height & ~1, w = width & ~1
        let plane = prepare(channels: channels, height: h, width: w)
        let scale = 1.0 / 255.0
        for y in 0..<h {
            let row = bytes.baseAddress! + y * width * channels
            for c in 0..<channels {
                let target = plane + (c * h + y) * w
                for x in 0..<w { target[x] = Double(row[x * channels + c]) * scale }
            }
        }
        loaded = (channels, h, w)
    }

    /// Scores the image last loaded.
    func scoreLoaded(tileMap: UnsafeMutableBufferPointer<Double>?) -> ArtifactScores {
        scorePlanes(channels: loaded.channels, height: loaded.height, width: loaded.width, tileMap: tileMap)
    }

    // MARK: - Scratch layout

    /// Scratch regions for a C × H × W image (H, W even): the Double planes, the Gx map,
    /// the per-tile sums, the lattice class sums and per-channel statistics.
    private struct Layout {
        let planes: Int, gx: Int, tileSums: Int, tileEnergy: Int, lattice: Int, channelStats: Int, total: Int
        init(channels: Int, height: Int, width: Int) {
            let n = height * width
            let grid = ArtifactScorer.tileGrid(height: height, width: width)
            let tiles = grid.rows * grid.columns
            planes = 0
            gx = channels * n
            tileSums = gx + n
            tileEnergy = tileSums + 3 * tiles
            lattice = tileEnergy + tiles
            channelStats = lattice + 2 * 16 * 16
            total = channelStats + 3 * channels
        }
    }

    /// Makes room for a C × h × w image and returns where its Double planes go.
    private func prepare(channels: Int, height: Int, width: Int) -> UnsafeMutablePointer<Double> {
        let need = Layout(channels: channels, height: height, width: width).total
        if need > capacity {
            scratch.deallocate()
            capacity = max(need, capacity * 2)
            scratch = .allocate(capacity: capacity)
        }
        return scratch
    }

    // MARK: - The computation

    /// Scores the C Double planes (H × W each, H and W even) already in the scratch buffer.
    private func scorePlanes(channels: Int, height: Int, width: Int,
                             tileMap: UnsafeMutableBufferPointer<Double>?) -> ArtifactScores {
        let layout = Layout(channels: channels, height: height, width: width)
        let grid = ArtifactScorer.tileGrid(height: height, width: width)
        let tileCount = grid.rows * grid.columns
        if let tileMap {
            precondition(tileMap.count == tileCount, "ArtifactScorer: tileMap needs \(tileCount) values")
            tileMap.update(repeating: 0)
        }
        let n = height * width
        guard channels > 0, n > 0 else { return .flat(channels: channels) }

        // Moments: per channel (mean, S_c, max|X_c|); S = Σ_c S_c and the largest |value| for the flat rule.
        let stats = scratch + layout.channelStats
        var totalS = 0.0, maxAbs = 0.0
        for c in 0..<channels {
            let m = moments(scratch + c * n, count: n)
            stats[3 * c] = m.mean; stats[3 * c + 1] = m.energy; stats[3 * c + 2] = m.maxAbs
            totalS += m.energy
            maxAbs = max(maxAbs, m.maxAbs)
        }
        if isFlat(energy: totalS, values: channels * n, maxAbs: maxAbs) { return .flat(channels: channels) }

        let gx = scratch + layout.gx
        let tileSums = scratch + layout.tileSums
        let tileEnergy = scratch + layout.tileEnergy
        let lattice = scratch + layout.lattice
        tileEnergy.update(repeating: 0, count: tileCount)

        var energyCol = 0.0, energyRow = 0.0, energyDia = 0.0
        var cbChannel = [Double](repeating: 0, count: channels)
        var latticeEnergy = SIMD4<Double>(), latticeAC = SIMD4<Double>()

        for c in 0..<channels {
            let x = scratch + c * n
            let m = (mean: stats[3 * c], energy: stats[3 * c + 1], maxAbs: stats[3 * c + 2])
            // Residual form of cb and cb_local.
            let e = residualEnergy(x, gx: gx, tileSums: tileSums, tileEnergy: tileEnergy,
                                   height: height, width: width, grid: grid)
            energyCol += e.col; energyRow += e.row; energyDia += e.dia
            if !isFlat(energy: m.energy, values: n, maxAbs: m.maxAbs) {
                cbChannel[c] = (e.col + e.row + e.dia) / m.energy
            }
            // Lattice form of cb_raw, p4, p8, p16.
            let l = latticeEnergies(x, mean: m.mean, energy: m.energy, classSums: lattice, height: height, width: width)
            latticeEnergy += l.lattice
            latticeAC += l.ac
        }

        let energy = energyCol + energyRow + energyDia
        var localEnergy = 0.0
        for t in 0..<tileCount { localEnergy += tileEnergy[t] }
        if let tileMap {
            for t in 0..<tileCount { tileMap[t] = tileEnergy[t] / totalS }
        }
        var latticeScores = SIMD4<Double>()
        for (k, period) in ArtifactScorer.periods.enumerated() {
            let values = channels * (height - height % period) * (width - width % period)
            // latticeAC is Σ_k≠0 |F|² = H_P·W_P·S_P; the flat rule applies to the crop as well.
            let cropS = values > 0 ? latticeAC[k] / Double(values / channels) : 0
            if values > 0 && !isFlat(energy: cropS, values: values, maxAbs: maxAbs) {
                latticeScores[k] = latticeEnergy[k] / latticeAC[k]
            }
        }
        let values = Double(channels * n)
        return ArtifactScores(
            cb: energy / totalS, cbLocal: localEnergy / totalS,
            cbCol: energyCol / totalS, cbRow: energyRow / totalS, cbDiag: energyDia / totalS,
            cbChannel: cbChannel,
            amp: (energy / values).squareRoot(), ampLocal: (localEnergy / values).squareRoot(),
            cbRaw: latticeScores[0], p4: latticeScores[1], p8: latticeScores[2], p16: latticeScores[3],
            flat: false)
    }

    /// The flat rule: sqrt(S / values) ≤ 1e-6 · max|I| (an all-zero image is flat).
    private func isFlat(energy: Double, values: Int, maxAbs: Double) -> Bool {
        !(energy > 0) || (energy / Double(values)).squareRoot() <= ArtifactScorer.flatThreshold * maxAbs
    }

    /// Mean, AC energy Σ(X − mean)² and max|X| of `count` values (two passes, 8 lanes at a time).
    private func moments(_ x: UnsafeMutablePointer<Double>, count: Int) -> (mean: Double, energy: Double, maxAbs: Double) {
        typealias V = SIMD8<Double>
        let raw = UnsafeRawPointer(x)
        let blocks = count / 8
        var sum = V(), top = V(), bottom = V()
        for b in 0..<blocks {
            let v = raw.loadUnaligned(fromByteOffset: b * 64, as: V.self)
            sum += v
            top.replace(with: v, where: v .> top)
            bottom.replace(with: v, where: v .< bottom)
        }
        var total = sum.sum(), maxAbs = max(top.max(), -bottom.min())
        for i in (blocks * 8)..<count {
            total += x[i]
            maxAbs = max(maxAbs, abs(x[i]))
        }
        let mean = total / Double(count)
        var squares = V()
        for b in 0..<blocks {
            let d = raw.loadUnaligned(fromByteOffset: b * 64, as: V.self) - mean
            squares.addProduct(d, d)
        }
        var energy = squares.sum()
        for i in (blocks * 8)..<count { energy += (x[i] - mean) * (x[i] - mean) }
        return (mean, energy, maxAbs)
    }

    /// One channel's stride-2 energies: E(image) split into its col/row/dia terms, and each tile's
    /// E(tile) added into `tileEnergy`.
    ///
    /// - x: H × W plane; gx: H × W scratch for Gx; tileSums: 3 × tiles scratch (col, row, dia sums).
    private func residualEnergy(_ x: UnsafeMutablePointer<Double>, gx: UnsafeMutablePointer<Double>,
                                tileSums: UnsafeMutablePointer<Double>, tileEnergy: UnsafeMutablePointer<Double>,
                                height: Int, width: Int, grid: (rows: Int, columns: Int))
        -> (col: Double, row: Double, dia: Double) {
        let tile = ArtifactScorer.tile
        let tiles = grid.rows * grid.columns
        let sumCol = tileSums, sumRow = tileSums + tiles, sumDia = tileSums + 2 * tiles
        tileSums.update(repeating: 0, count: 3 * tiles)

        // Gx(y, x) = (2X(y,x) − X(y,x−1) − X(y,x+1)) / 4 for x in 1...W−2.
        if width >= 3 {
            for y in 0..<height {
                let r = x + y * width, g = gx + y * width
                for i in 1..<(width - 1) { g[i] = (2 * r[i] - r[i - 1] - r[i + 1]) * 0.25 }
            }
        }
        // Usable ranges: x in [2, W−2), y in [2, H−2).
        let x0 = 2, x1 = width - 2, y0 = 2, y1 = height - 2

        // Σ sgn(i)·v[i] over i in [lo, hi), sgn(i) = +1 for even i, −1 for odd i.
        @inline(__always) func alternatingSum(_ lo: Int, _ hi: Int, _ v: (Int) -> Double) -> Double {
            var even = 0.0, odd = 0.0
            var i = lo
            if i & 1 == 1 && i < hi { odd += v(i); i += 1 }
            while i + 1 < hi { even += v(i); odd += v(i + 1); i += 2 }
            if i < hi { even += v(i) }
            return even - odd
        }

        for y in 0..<height {
            let ty = y / tile
            let r = x + y * width, g = gx + y * width
            let sy: Double = y & 1 == 0 ? 1 : -1
            let rowUsable = y >= y0 && y < y1
            for tx in 0..<grid.columns {
                let t = ty * grid.columns + tx
                let lo = tx * tile, hi = min(lo + tile, width)
                // Zcol = (−1)^x Gx over x in [2, W−2), every row.
                let clo = max(lo, x0), chi = min(hi, x1)
                if clo < chi { sumCol[t] += alternatingSum(clo, chi) { g[$0] } }
                guard rowUsable else { continue }
                let up = r - width, down = r + width
                // Zrow = (−1)^y Gy over y in [2, H−2), every column.
                sumRow[t] += sy * ((lo..<hi).reduce(0.0) { $0 + (2 * r[$1] - up[$1] - down[$1]) * 0.25 })
                // Zdia = (−1)^(x+y) Gxy, Gxy = (2Gx(y) − Gx(y−1) − Gx(y+1)) / 4, over both ranges.
                if clo < chi {
                    let gu = g - width, gd = g + width
                    sumDia[t] += sy * alternatingSum(clo, chi) { (2 * g[$0] - gu[$0] - gd[$0]) * 0.25 }
                }
            }
        }

        // E(R) = |R|·(c_col² + c_row² + c_dia²), c = mean over usable pixels (0 if none).
        @inline(__always) func overlap(_ a: Int, _ b: Int, _ lo: Int, _ hi: Int) -> Int { max(0, min(b, hi) - max(a, lo)) }
        @inline(__always) func term(_ sum: Double, _ count: Int) -> Double {
            guard count > 0 else { return 0 }
            let c = sum / Double(count)
            return c * c
        }
        var totalCol = 0.0, totalRow = 0.0, totalDia = 0.0
        for ty in 0..<grid.rows {
            let ya = ty * tile, yb = min(ya + tile, height)
            let usableY = overlap(ya, yb, y0, y1)
            for tx in 0..<grid.columns {
                let xa = tx * tile, xb = min(xa + tile, width)
                let usableX = overlap(xa, xb, x0, x1)
                let t = ty * grid.columns + tx
                let size = Double((yb - ya) * (xb - xa))
                tileEnergy[t] += size * (term(sumCol[t], (yb - ya) * usableX)
                                         + term(sumRow[t], usableY * (xb - xa))
                                         + term(sumDia[t], usableY * usableX))
                totalCol += sumCol[t]; totalRow += sumRow[t]; totalDia += sumDia[t]
            }
        }
        let size = Double(height * width)
        let usableX = max(0, x1 - x0), usableY = max(0, y1 - y0)
        return (size * term(totalCol, height * usableX),
                size * term(totalRow, usableY * width),
                size * term(totalDia, usableY * usableX))
    }

    /// One channel's lattice energies for P = 2, 4, 8, 16 (the lanes of the result):
    /// `lattice` = Σ_lattice≠0 |F|² and `ac` = Σ_k≠0 |F|² = n·S, over the image cropped to H_P × W_P
    /// (multiples of P, n = H_P·W_P pixels), from the P² class sums (see the type's doc).
    ///
    /// From P = 16 down: when a period's crop equals the previous (larger) period's crop, its class
    /// sums are folded from those (class (p, q) mod P collects classes (p + iP, q + jP) mod 2P);
    /// otherwise they take one pass over the pixels. `mean` (the channel's) shifts the values to keep
    /// the sums well conditioned; `energy` is the channel's Σ(X − mean)², reused when nothing is cropped.
    private func latticeEnergies(_ x: UnsafeMutablePointer<Double>, mean: Double, energy: Double,
                                 classSums: UnsafeMutablePointer<Double>, height: Int, width: Int)
        -> (lattice: SIMD4<Double>, ac: SIMD4<Double>) {
        var lattice = SIMD4<Double>(), ac = SIMD4<Double>()
        var current = classSums, spare = classSums + 256
        var previous: (p: Int, h: Int, w: Int)? = nil
        for k in stride(from: 3, through: 0, by: -1) {
            let p = ArtifactScorer.periods[k]
            let h = height - height % p, w = width - width % p
            guard h > 0, w > 0 else { continue }
            if let prev = previous, prev.h == h, prev.w == w {
                swap(&current, &spare)   // spare: the larger period's sums
                current.update(repeating: 0, count: p * p)
                for a in 0..<prev.p {
                    for b in 0..<prev.p { current[(a % p) * p + b % p] += spare[a * prev.p + b] }
                }
            } else {
                switch p {
                case 16: classSumPass(x, mean: mean, into: current, lanes: SIMD16<Double>.self, height: h, width: w, stride: width)
                case 8: classSumPass(x, mean: mean, into: current, lanes: SIMD8<Double>.self, height: h, width: w, stride: width)
                case 4: classSumPass(x, mean: mean, into: current, lanes: SIMD4<Double>.self, height: h, width: w, stride: width)
                default: classSumPass(x, mean: mean, into: current, lanes: SIMD2<Double>.self, height: h, width: w, stride: width)
                }
            }
            previous = (p, h, w)
            // Σ_lattice≠0 |F|² = P²·Σ(T − T̄)²: Parseval on the P×P DFT of the class sums, DC removed.
            var total = 0.0
            for i in 0..<(p * p) { total += current[i] }
            let meanSum = total / Double(p * p)
            var spread = 0.0
            for i in 0..<(p * p) { spread += (current[i] - meanSum) * (current[i] - meanSum) }
            lattice[k] = Double(p * p) * spread
            // Σ_k≠0 |F|² = n·Σ(X − mean_crop)², with Σ(X − mean_crop)² = Σ(X − mean)² − (Σ(X − mean))²/n.
            let n = Double(h * w)
            let squares = h == height && w == width ? energy + total * total / n
                                                    : cropSquares(x, mean: mean, height: h, width: w, stride: width)
            ac[k] = n * max(0, squares - total * total / n)
        }
        return (lattice, ac)
    }

    /// T[p·P + q] = Σ (X − mean) over the pixels (y, x) of the h × w crop with (y mod P, x mod P) = (p, q),
    /// P = V.scalarCount (rows of `stride` values).
    private func classSumPass<V: SIMD>(_ x: UnsafeMutablePointer<Double>, mean: Double, into sums: UnsafeMutablePointer<Double>,
                                       lanes: V.Type, height h: Int, width w: Int, stride: Int) where V.Scalar == Double {
        let p = V.scalarCount
        let chunks = w / p
        for row in 0..<p {
            var acc = V()
            var y = row
            while y < h {
                let r = UnsafeRawPointer(x + y * stride)
                for j in 0..<chunks { acc += r.loadUnaligned(fromByteOffset: j * p * 8, as: V.self) }
                y += p
            }
            let rows = (h - row + p - 1) / p
            let shift = Double(rows * chunks) * mean
            for q in 0..<p { sums[row * p + q] = acc[q] - shift }
        }
    }

    /// Σ (X − mean)² over the h × w crop.
    private func cropSquares(_ x: UnsafeMutablePointer<Double>, mean: Double, height h: Int, width w: Int, stride: Int) -> Double {
        var squares = 0.0
        for y in 0..<h {
            let r = x + y * stride
            for i in 0..<w { squares += (r[i] - mean) * (r[i] - mean) }
        }
        return squares
    }
}
