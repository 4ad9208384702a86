/// The one grid geometry of the tool (sample grids, preview grids, grids read back for scoring):
///
/// C columns of S×S tiles with a 2-pixel border around and between the tiles, filled row by row
/// with tile 0 at the top left. A grid of n tiles has R = ⌈n / C⌉ rows and measures
/// (C·(S+2) + 2) × (R·(S+2) + 2) pixels (C·66 + 2 wide for 64×64 tiles); tile i has its top-left
/// pixel at x = 2 + (i mod C)·(S+2), y = 2 + ⌊i / C⌋·(S+2). Borders, and the cells of a last row
/// that is not full, are the background colour: white (255, 255, 255) unless chosen otherwise.
public enum Grid {
    /// Border width around and between tiles, in pixels.
    public static let border = 2
    /// The default border colour: white.
    public static let background = RGB8(255, 255, 255)

    /// Width and height of a grid of `count` S×S tiles in `columns` columns.
    public static func size(count: Int, columns: Int, tileSize: Int) -> (width: Int, height: Int) {
        let rows = (count + columns - 1) / columns
        return (columns * (tileSize + border) + border, rows * (tileSize + border) + border)
    }

    /// The top-left pixel of tile `index`.
    public static func origin(of index: Int, columns: Int, tileSize: Int) -> (x: Int, y: Int) {
        (border + (index % columns) * (tileSize + border), border + (index / columns) * (tileSize + border))
    }

    /// The tiles (all S×S, at least one) laid out in `columns` columns.
    public static func make(tiles: [Image8], columns: Int, background: RGB8 = Grid.background) -> Image8 {
        precondition(!tiles.isEmpty && columns > 0, "Grid.make: needs at least one tile and one column")
        let s = tiles[0].width
        precondition(tiles.allSatisfy { $0.width == s && $0.height == s },
                     "Grid.make: all tiles must be \(s)×\(s)")
        let (width, height) = size(count: tiles.count, columns: columns, tileSize: s)
        var grid = Image8(width: width, height: height, fill: background)
        grid.pixels.withUnsafeMutableBufferPointer { out in
            for (i, tile) in tiles.enumerated() {
                let (x0, y0) = origin(of: i, columns: columns, tileSize: s)
                tile.pixels.withUnsafeBufferPointer { src in
                    for y in 0..<s {
                        let to = out.baseAddress! + ((y0 + y) * width + x0) * 3
                        to.update(from: src.baseAddress! + y * s * 3, count: s * 3)
                    }
                }
            }
        }
        return grid
    }

    /// Tile `index` cut out of a grid made with the same `columns` and `tileSize`.
    public static func tile(_ index: Int, of grid: Image8, columns: Int, tileSize: Int) -> Image8 {
        let (x0, y0) = origin(of: index, columns: columns, tileSize: tileSize)
        precondition(x0 + tileSize <= grid.width && y0 + tileSize <= grid.height,
                     "Grid.tile: tile \(index) lies outside the \(grid.width)×\(grid.height) grid")
        var pixels = [UInt8]()
        pixels.reserveCapacity(tileSize * tileSize * 3)
        for y in 0..<tileSize {
            let start = ((y0 + y) * grid.width + x0) * 3
            pixels.append(contentsOf: grid.pixels[start..<(start + tileSize * 3)])
        }
        return Image8(width: tileSize, height: tileSize, pixels: pixels)
    }

    /// How many tiles a grid of this size holds room for, given the tile size and column count,
    /// or nil when its size does not fit the geometry.
    public static func capacity(width: Int, height: Int, tileSize: Int) -> (columns: Int, rows: Int)? {
        let step = tileSize + border
        guard width > border, height > border, (width - border) % step == 0, (height - border) % step == 0 else { return nil }
        return ((width - border) / step, (height - border) / step)
    }
}
