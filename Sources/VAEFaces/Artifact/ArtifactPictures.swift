import Foundation

/// The pictures of `vae-faces artifact-score`: the mean log power spectrum (`--map`) and the mean
/// `cb_local` per 8×8 tile (`--heatmap`), each for the scored images beside the real ones when a
/// reference is given, on one shared colour scale with a labelled colour bar.
public enum ArtifactPictures {
    /// A map panel: the maps of one set and its caption.
    public struct Panel {
        public var title: String
        public var maps: ArtifactMeanMaps
        public init(title: String, maps: ArtifactMeanMaps) { self.title = title; self.maps = maps }
    }

    static let background = RGB8(255, 255, 255)
    static let ink = RGB8(0, 0, 0)
    static let marker = RGB8(230, 30, 30)
    static let margin = 16

    /// The mean log10 power spectra, centered (DC in the middle), each enlarged to about 320 px,
    /// with the stride-2 bins (H/2, 0), (0, W/2), (H/2, W/2) framed in red. The colour scale spans
    /// the non-DC bins of every panel (DC, far brighter, saturates). Panels without a spectrum are skipped.
    public static func spectrum(_ panels: [Panel]) throws -> Image8 {
        let shown = panels.compactMap { p in p.maps.centeredLogPower.map { (p, $0) } }
        guard !shown.isEmpty else { throw VAEFacesError("no spectrum to draw: every scored image was flat") }
        var lo = Double.infinity, hi = -Double.infinity
        for (p, map) in shown {
            let dc = (p.maps.height / 2) * p.maps.width + p.maps.width / 2
            for (i, v) in map.enumerated() where i != dc { lo = min(lo, v); hi = max(hi, v) }
        }
        if !(hi > lo) { hi = lo + 1 }
        let scales = shown.map { max(1, 320 / max($0.0.maps.height, $0.0.maps.width)) }
        let panelWidths = zip(shown, scales).map { $0.0.maps.width * $1 }
        let panelHeight = zip(shown, scales).map { $0.0.maps.height * $1 }.max()!
        let legend = ["LOG10 POWER PER PIXEL, MEAN OVER IMAGES; CENTRE = DC",
                      "RED: THE STRIDE-2 BINS (PI,0) (0,PI) (PI,PI), AT THE TOP AND LEFT EDGES"]
        var canvas = Canvas(width: layoutWidth(panelWidths) + colourBarWidth,
                            height: margin + titleHeight + 8 + panelHeight + margin + legend.count * 10 + margin)
        var x = margin
        for ((panel, map), scale) in zip(shown, scales) {
            let (h, w) = (panel.maps.height, panel.maps.width)
            let top = margin + titleHeight + 8
            canvas.text(panel.title, x: x, y: margin)
            for i in 0..<h {
                for j in 0..<w {
                    canvas.fill(x: x + j * scale, y: top + i * scale, width: scale, height: scale,
                                colour: viridis((map[i * w + j] - lo) / (hi - lo)))
                }
            }
            // Centered positions of the stride-2 bins: (0, W/2), (H/2, 0), (0, 0), all on the top row
            // or the left column. Each is framed by a 1-px red square just outside its cell, and red
            // ticks in the margin point at its row and column.
            for (i, j) in [(0, w / 2), (h / 2, 0), (0, 0)] {
                canvas.outline(x: x + j * scale - 1, y: top + i * scale - 1, width: scale + 2, height: scale + 2,
                               colour: marker, thickness: 1)
                canvas.fill(x: x + j * scale + scale / 2 - 1, y: top - 9, width: 2, height: 6, colour: marker)
                canvas.fill(x: x - 9, y: top + i * scale + scale / 2 - 1, width: 6, height: 2, colour: marker)
            }
            x += w * scale + gap
        }
        for (k, line) in legend.enumerated() {
            canvas.text(line, x: margin, y: margin + titleHeight + 8 + panelHeight + margin + k * 10)
        }
        canvas.colourBar(x: x - gap + margin, y: margin + titleHeight + 8, height: panelHeight, lo: lo, hi: hi) {
            String(format: "%.1f", $0)
        }
        return canvas.image
    }

    /// The mean `cb_local` contribution E(tile)/S of each 8×8 tile (the tiles of a panel sum to its
    /// mean `cb_local`), each tile a square cell with its value printed, on a colour scale from 0
    /// to the largest tile of every panel. Panels without a heatmap are skipped.
    public static func heatmap(_ panels: [Panel]) throws -> Image8 {
        let shown = panels.compactMap { p in p.maps.tileCbLocal.map { (p, $0) } }
        guard !shown.isEmpty else { throw VAEFacesError("no heatmap to draw") }
        let hi = max(shown.flatMap(\.1).max() ?? 0, 1e-300)
        let cells = shown.map { max(8, min(48, 512 / max($0.0.maps.tileRows, $0.0.maps.tileColumns))) }
        let panelWidths = zip(shown, cells).map { $0.0.maps.tileColumns * $1 }
        let panelHeight = zip(shown, cells).map { $0.0.maps.tileRows * $1 }.max()!
        let legend = ["MEAN CB_LOCAL PER 8X8 TILE: E(TILE)/S, MEAN OVER IMAGES",
                      "THE TILES OF A PANEL SUM TO ITS MEAN CB_LOCAL"]
        var canvas = Canvas(width: layoutWidth(panelWidths) + colourBarWidth,
                            height: margin + 2 * titleHeight + panelHeight + margin + legend.count * 10 + margin)
        var x = margin
        for ((panel, tiles), cell) in zip(shown, cells) {
            let (rows, columns) = (panel.maps.tileRows, panel.maps.tileColumns)
            let top = margin + 2 * titleHeight
            canvas.text(panel.title, x: x, y: margin)
            canvas.text("SUM " + compact(tiles.reduce(0, +)), x: x, y: margin + titleHeight)
            for r in 0..<rows {
                for c in 0..<columns {
                    let v = tiles[r * columns + c]
                    let colour = viridis(v / hi)
                    canvas.fill(x: x + c * cell, y: top + r * cell, width: cell, height: cell, colour: colour)
                    if cell >= 40 {
                        let label = compact(v)
                        let bright = 0.299 * Double(colour.r) + 0.587 * Double(colour.g) + 0.114 * Double(colour.b) > 140
                        canvas.text(label, x: x + c * cell + (cell - 6 * label.count + 1) / 2, y: top + r * cell + cell / 2 - 3,
                                    colour: bright ? ink : background)
                    }
                }
            }
            canvas.outline(x: x - 1, y: top - 1, width: columns * cell + 2, height: rows * cell + 2, colour: ink, thickness: 1)
            x += columns * cell + gap
        }
        for (k, line) in legend.enumerated() {
            canvas.text(line, x: margin, y: margin + 2 * titleHeight + panelHeight + margin + k * 10)
        }
        canvas.colourBar(x: x - gap + margin, y: margin + 2 * titleHeight, height: panelHeight, lo: 0, hi: hi, label: compact)
        return canvas.image
    }

    static let titleHeight = 14, gap = 40, colourBarWidth = 100

    /// Left margin, the panels side by side with a gap between them, and the gap before the colour bar.
    static func layoutWidth(_ panels: [Int]) -> Int {
        margin + panels.reduce(0, +) + gap * (panels.count - 1) + margin
    }

    /// A short number for a tile: "2.1E-5", "0".
    static func compact(_ v: Double) -> String {
        guard v != 0 else { return "0" }
        let e = Int(floor(log10(abs(v))))
        var m = v / pow(10, Double(e))
        var exponent = e
        if (m * 10).rounded() >= 100 { m /= 10; exponent += 1 }
        return String(format: "%.1f", m) + "E\(exponent)"
    }

    /// The viridis colour map (9 control points, linear in between), t clamped to [0, 1].
    static func viridis(_ t: Double) -> RGB8 {
        let points: [(Double, Double, Double)] = [
            (68, 1, 84), (71, 44, 122), (59, 81, 139), (44, 113, 142), (33, 144, 141),
            (39, 173, 129), (92, 200, 99), (170, 220, 50), (253, 231, 37)]
        let u = (t.isFinite ? min(1, max(0, t)) : 0) * Double(points.count - 1)
        let k = min(points.count - 2, Int(u))
        let f = u - Double(k)
        let (a, b) = (points[k], points[k + 1])
        func mix(_ x: Double, _ y: Double) -> UInt8 { UInt8((x + f * (y - x)).rounded()) }
        return RGB8(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
    }
}

/// A white RGB canvas with rectangles, outlines and 5×7 bitmap text (uppercase, digits, a few signs).
struct Canvas {
    var image: Image8

    init(width: Int, height: Int) { image = Image8(width: width, height: height, fill: ArtifactPictures.background) }

    mutating func set(_ x: Int, _ y: Int, _ colour: RGB8) {
        guard x >= 0, y >= 0, x < image.width, y < image.height else { return }
        let i = (y * image.width + x) * 3
        image.pixels[i] = colour.r; image.pixels[i + 1] = colour.g; image.pixels[i + 2] = colour.b
    }

    mutating func fill(x: Int, y: Int, width: Int, height: Int, colour: RGB8) {
        for yy in y..<(y + height) { for xx in x..<(x + width) { set(xx, yy, colour) } }
    }

    mutating func outline(x: Int, y: Int, width: Int, height: Int, colour: RGB8, thickness: Int) {
        fill(x: x, y: y, width: width, height: thickness, colour: colour)
        fill(x: x, y: y + height - thickness, width: width, height: thickness, colour: colour)
        fill(x: x, y: y, width: thickness, height: height, colour: colour)
        fill(x: x + width - thickness, y: y, width: thickness, height: height, colour: colour)
    }

    /// Text with its top-left corner at (x, y), 6 px per character.
    mutating func text(_ s: String, x: Int, y: Int, colour: RGB8 = ArtifactPictures.ink) {
        for (k, ch) in s.uppercased().enumerated() {
            guard let rows = Canvas.glyphs[ch] else { continue }
            for (r, bits) in rows.enumerated() {
                for c in 0..<5 where bits & (0x10 >> c) != 0 { set(x + 6 * k + c, y + r, colour) }
            }
        }
    }

    /// A vertical colour bar from `hi` (top) to `lo` (bottom) with five labelled ticks.
    mutating func colourBar(x: Int, y: Int, height: Int, lo: Double, hi: Double, label: (Double) -> String) {
        for k in 0..<height {
            fill(x: x, y: y + k, width: 16, height: 1, colour: ArtifactPictures.viridis(1 - Double(k) / Double(max(1, height - 1))))
        }
        outline(x: x - 1, y: y - 1, width: 18, height: height + 2, colour: ArtifactPictures.ink, thickness: 1)
        for t in 0...4 {
            let ty = y + (height - 1) * t / 4
            fill(x: x + 17, y: ty, width: 4, height: 1, colour: ArtifactPictures.ink)
            text(label(hi - (hi - lo) * Double(t) / 4), x: x + 23, y: ty - 3)
        }
    }

    /// 5×7 glyphs, one 5-bit row each (bit 4 = leftmost pixel).
    static let glyphs: [Character: [UInt8]] = [
        "0": [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E], "1": [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        "2": [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F], "3": [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        "4": [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02], "5": [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        "6": [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E], "7": [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        "8": [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E], "9": [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        "A": [0x0E, 0x11, 0x11, 0x11, 0x1F, 0x11, 0x11], "B": [0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E],
        "C": [0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E], "D": [0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C],
        "E": [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F], "F": [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10],
        "G": [0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F], "H": [0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        "I": [0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E], "J": [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C],
        "K": [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11], "L": [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F],
        "M": [0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11], "N": [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
        "O": [0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E], "P": [0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10],
        "Q": [0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D], "R": [0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11],
        "S": [0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E], "T": [0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
        "U": [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E], "V": [0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04],
        "W": [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A], "X": [0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11],
        "Y": [0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04], "Z": [0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F],
        ".": [0, 0, 0, 0, 0, 0x0C, 0x0C], "-": [0, 0, 0, 0x1F, 0, 0, 0], "+": [0, 0x04, 0x04, 0x1F, 0x04, 0x04, 0],
        ":": [0, 0x0C, 0x0C, 0, 0x0C, 0x0C, 0], "=": [0, 0, 0x1F, 0, 0x1F, 0, 0], ",": [0, 0, 0, 0, 0x0C, 0x04, 0x08],
        "(": [0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02], ")": [0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08],
        "/": [0, 0x01, 0x02, 0x04, 0x08, 0x10, 0], "%": [0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03],
        "_": [0, 0, 0, 0, 0, 0, 0x1F], ";": [0, 0x0C, 0x0C, 0, 0x0C, 0x04, 0x08], " ": [0, 0, 0, 0, 0, 0, 0],
    ]
}
