import NeuralCore
import Testing
@testable import VAEFaces

@Suite struct GridTests {
    @Test func sizeFollowsTheGeometry() {
        #expect(Grid.size(count: 64, columns: 8, tileSize: 64) == (530, 530))
        #expect(Grid.size(count: 10, columns: 4, tileSize: 64) == (266, 200))
        #expect(Grid.size(count: 1, columns: 1, tileSize: 64) == (68, 68))
        #expect(Grid.size(count: 3, columns: 5, tileSize: 8) == (52, 12))
        #expect(Grid.capacity(width: 530, height: 530, tileSize: 64)! == (8, 8))
        #expect(Grid.capacity(width: 531, height: 530, tileSize: 64) == nil)
    }

    @Test func tilesArePlacedRowByRowWithBorders() {
        let s = 6, columns = 4
        let tiles = (0..<10).map { randomImage(width: s, height: s, seed: UInt64(100 + $0)) }
        let grid = Grid.make(tiles: tiles, columns: columns, background: RGB8(1, 2, 3))
        #expect(grid.width == columns * (s + 2) + 2 && grid.height == 3 * (s + 2) + 2)
        // Every pixel is either inside tile i (row-major placement, 2-pixel borders) or background.
        for y in 0..<grid.height {
            for x in 0..<grid.width {
                let cx = x - 2, cy = y - 2
                let col = cx / (s + 2), row = cy / (s + 2), ix = cx % (s + 2), iy = cy % (s + 2)
                let i = row * columns + col
                let insideTile = cx >= 0 && cy >= 0 && ix < s && iy < s && col < columns && i < tiles.count
                let expected = insideTile ? tiles[i][ix, iy] : RGB8(1, 2, 3)
                #expect(grid[x, y] == expected, "pixel (\(x), \(y))")
            }
        }
        for i in tiles.indices { #expect(Grid.tile(i, of: grid, columns: columns, tileSize: s) == tiles[i]) }
        #expect(Grid.origin(of: 5, columns: 4, tileSize: 64) == (2 + 66, 2 + 66))
        #expect(Grid.make(tiles: tiles, columns: columns)[0, 0] == Grid.background)
    }

    @Test func planarFloatsBecomeBytesWithRounding() {
        // Exact levels k/255 map back to k; halves round up; out of range and NaN clamp.
        for k in 0...255 { #expect(Image8.quantize(Float(k) / 255) == UInt8(k)) }
        #expect(Image8.quantize(0.5 / 255) == 1)
        #expect(Image8.quantize(0.49 / 255) == 0)
        #expect(Image8.quantize(254.51 / 255) == 255)
        #expect(Image8.quantize(-0.2) == 0 && Image8.quantize(1.7) == 255 && Image8.quantize(.nan) == 0)
        #expect(Image8.quantize(.infinity) == 255 && Image8.quantize(-.infinity) == 0)

        // A batch NCHW [2, 3, 2, 3] tensor: value = (n·100 + c·10 + y·3 + x) / 255.
        let n = 2, c = 3, h = 2, w = 3
        var values = [Float]()
        for b in 0..<n { for ch in 0..<c { for y in 0..<h { for x in 0..<w { values.append(Float(b * 100 + ch * 10 + y * 3 + x) / 255) } } } }
        let images = Image8.images(fromNCHW: Tensor(shape: [n, c, h, w], values: values))
        #expect(images.count == 2)
        for b in 0..<n {
            for y in 0..<h {
                for x in 0..<w {
                    let v = b * 100 + y * 3 + x
                    #expect(images[b][x, y] == RGB8(UInt8(v), UInt8(v + 10), UInt8(v + 20)))
                }
            }
        }
        // One channel: gray copied to R, G, B.
        let gray = Image8.images(fromNCHW: Tensor(shape: [1, 1, 1, 2], values: [0.2, 1]))
        #expect(gray[0].pixels == [51, 51, 51, 255, 255, 255])
    }
}
