import CPNG
import Foundation
import NeuralCore
import TensorIO
import Testing
@testable import VAEFaces

/// PNG bytes written by libpng's simplified writer in `format` from `buffer` (components of
/// 1 or 2 bytes) with an optional colour map.
func libpngEncode<T>(width: Int, height: Int, format: UInt32, buffer: [T], colormap: [UInt8]? = nil, entries: Int = 0) throws -> Data {
    var png = png_image()
    png.version = UInt32(PNG_IMAGE_VERSION)
    png.width = UInt32(width)
    png.height = UInt32(height)
    png.format = format
    png.colormap_entries = UInt32(entries)
    var size = 0
    let ok1 = buffer.withUnsafeBytes { b in png_image_write_to_memory(&png, nil, &size, 0, b.baseAddress, 0, colormap) }
    try #require(ok1 != 0 && size > 0)
    var out = [UInt8](repeating: 0, count: size)
    let ok2 = buffer.withUnsafeBytes { b in png_image_write_to_memory(&png, &out, &size, 0, b.baseAddress, 0, colormap) }
    try #require(ok2 != 0)
    return Data(out[0..<size])
}

/// Expected planar floats of an RGB image given per-pixel (r, g, b) sample values and a scale.
func planar(_ rgb: [(Int, Int, Int)], scale: Float) -> [Float] {
    rgb.map { Float($0.0) / scale } + rgb.map { Float($0.1) / scale } + rgb.map { Float($0.2) / scale }
}

@Suite struct PNGTests {
    @Test func eightBitRGBRoundTripIsExact() throws {
        for (w, h, seed) in [(37, 23, 1), (1, 1, 2), (64, 64, 3), (530, 266, 4)] {
            let image = randomImage(width: w, height: h, seed: UInt64(seed))
            let decoded = try PNG.readRGB(data: try PNG.encode(image), source: "memory")
            #expect(decoded.width == w && decoded.height == h && decoded.channels == 3)
            #expect(Image8(decoded) == image)
            #expect(decoded == FloatImage(image))
        }
    }

    @Test func writeThenReadFileIsExactAndLeavesNoTemporaryFile() throws {
        let folder = try makeTemporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let image = randomImage(width: 20, height: 9, seed: 7)
        let path = folder + "/sub/image.png"
        try PNG.write(image, to: path)
        try PNG.write(image, to: path)                 // overwrite in place
        #expect(Image8(try PNG.readRGB(path)) == image)
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder + "/sub") == ["image.png"])
    }

    @Test func libpngFormatsReadAsStoredValues() throws {
        let w = 5, h = 3, n = w * h
        let v8 = (0..<(n * 4)).map { UInt8(($0 * 37 + 11) % 256) }
        // Gray: R = G = B = the gray sample.
        let gray = try PNG.readRGB(data: libpngEncode(width: w, height: h, format: UInt32(PNG_FORMAT_GRAY), buffer: Array(v8[0..<n])), source: "gray")
        #expect(gray.data == planar((0..<n).map { (Int(v8[$0]), Int(v8[$0]), Int(v8[$0])) }, scale: 255))
        // Gray + alpha: alpha dropped, gray kept even where alpha is 0.
        var ga = Array(v8[0..<(2 * n)])
        ga[1] = 0; ga[3] = 255; ga[5] = 1
        let grayAlpha = try PNG.readRGB(data: libpngEncode(width: w, height: h, format: UInt32(PNG_FORMAT_GA), buffer: ga), source: "ga")
        #expect(grayAlpha.data == planar((0..<n).map { (Int(ga[2 * $0]), Int(ga[2 * $0]), Int(ga[2 * $0])) }, scale: 255))
        // RGBA: colours as stored, whatever the alpha.
        var rgba = v8
        rgba[3] = 0; rgba[7] = 255
        let color = try PNG.readRGB(data: libpngEncode(width: w, height: h, format: UInt32(PNG_FORMAT_FLAG_COLOR | PNG_FORMAT_FLAG_ALPHA), buffer: rgba), source: "rgba")
        #expect(color.data == planar((0..<n).map { (Int(rgba[4 * $0]), Int(rgba[4 * $0 + 1]), Int(rgba[4 * $0 + 2])) }, scale: 255))
        // Palette (RGB colour map, and RGBA colour map, which adds tRNS): the entries' colours.
        let map: [UInt8] = [10, 20, 30, 200, 100, 0, 255, 255, 255, 0, 0, 0]
        let indices = (0..<n).map { UInt8($0 % 4) }
        let paletted = try PNG.readRGB(data: libpngEncode(width: w, height: h, format: UInt32(PNG_FORMAT_FLAG_COLOR | PNG_FORMAT_FLAG_COLORMAP),
                                                      buffer: indices, colormap: map, entries: 4), source: "palette")
        let expected = planar(indices.map { (Int(map[3 * Int($0)]), Int(map[3 * Int($0) + 1]), Int(map[3 * Int($0) + 2])) }, scale: 255)
        #expect(paletted.data == expected)
        let mapA: [UInt8] = [10, 20, 30, 0, 200, 100, 0, 128, 255, 255, 255, 255, 0, 0, 0, 7]
        let palettedAlpha = try PNG.readRGB(data: libpngEncode(width: w, height: h, format: UInt32(PNG_FORMAT_FLAG_COLOR | PNG_FORMAT_FLAG_ALPHA | PNG_FORMAT_FLAG_COLORMAP),
                                                           buffer: indices, colormap: mapA, entries: 4), source: "palette+alpha")
        #expect(palettedAlpha.data == planar(indices.map { (Int(mapA[4 * Int($0)]), Int(mapA[4 * Int($0) + 1]), Int(mapA[4 * Int($0) + 2])) }, scale: 255))
        // 16-bit RGB and 16-bit gray (libpng writes these with a gAMA 1.0 chunk): v / 65535.
        let v16 = (0..<(n * 3)).map { UInt16(($0 * 4099 + 17) % 65536) }
        let rgb16 = try PNG.readRGB(data: libpngEncode(width: w, height: h, format: UInt32(PNG_FORMAT_FLAG_LINEAR | PNG_FORMAT_FLAG_COLOR), buffer: v16), source: "rgb16")
        #expect(rgb16.data == planar((0..<n).map { (Int(v16[3 * $0]), Int(v16[3 * $0 + 1]), Int(v16[3 * $0 + 2])) }, scale: 65535))
        let gray16 = try PNG.readRGB(data: libpngEncode(width: w, height: h, format: UInt32(PNG_FORMAT_FLAG_LINEAR), buffer: Array(v16[0..<n])), source: "gray16")
        #expect(gray16.data == planar((0..<n).map { (Int(v16[$0]), Int(v16[$0]), Int(v16[$0])) }, scale: 65535))
    }

    /// Files libpng's reader would pass through a transfer curve if the colour chunks were
    /// honoured: the values must come back as stored.
    @Test func gammaAndColourSpaceChunksAreIgnored() throws {
        let w = 4, h = 4, n = w * h
        let v16 = (0..<(n * 3)).map { ($0 * 5003 + 101) % 65536 }
        let chunkSets: [[(String, [UInt8])]] = [
            [("gAMA", RawPNG.be32(45455))],
            [("sRGB", [0]), ("gAMA", RawPNG.be32(45455))],
            [("gAMA", RawPNG.be32(100000)), ("cHRM", RawPNG.be32(31270) + RawPNG.be32(32900) + RawPNG.be32(64000) + RawPNG.be32(33000)
                                                      + RawPNG.be32(30000) + RawPNG.be32(60000) + RawPNG.be32(15000) + RawPNG.be32(6000))],
        ]
        for chunks in chunkSets {
            let file16 = RawPNG.make(width: w, height: h, colorType: .rgb, depth: 16, samples: v16, chunks: chunks)
            let image16 = try PNG.readRGB(data: file16, source: "rgb16 \(chunks.map(\.0))")
            #expect(image16.data == planar((0..<n).map { (v16[3 * $0], v16[3 * $0 + 1], v16[3 * $0 + 2]) }, scale: 65535), "\(chunks.map(\.0))")
            let v8 = v16.map { $0 >> 8 }
            let file8 = RawPNG.make(width: w, height: h, colorType: .rgb, depth: 8, samples: v8, chunks: chunks)
            let image8 = try PNG.readRGB(data: file8, source: "rgb8 \(chunks.map(\.0))")
            #expect(image8.data == planar((0..<n).map { (v8[3 * $0], v8[3 * $0 + 1], v8[3 * $0 + 2]) }, scale: 255), "\(chunks.map(\.0))")
        }
    }

    @Test func lowBitDepthGrayIsExpandedByThePNGRule() throws {
        for depth in [1, 2, 4] {
            let w = 7, h = 3, top = (1 << depth) - 1
            let samples = (0..<(w * h)).map { $0 % (top + 1) }
            let image = try PNG.readRGB(data: RawPNG.make(width: w, height: h, colorType: .gray, depth: depth, samples: samples), source: "gray\(depth)")
            let levels = samples.map { $0 * 255 / top }
            #expect(image.data == planar(levels.map { ($0, $0, $0) }, scale: 255), "depth \(depth)")
        }
    }

    @Test func transparencyIsDroppedNotComposited() throws {
        let w = 3, h = 2, n = w * h
        // 16-bit RGB with a tRNS colour equal to pixel 0: that pixel keeps its colour.
        let rgb = (0..<(n * 3)).map { ($0 * 9001 + 3) % 65536 }
        let trns = RawPNG.make(width: w, height: h, colorType: .rgb, depth: 16, samples: rgb,
                               chunks: [("tRNS", rgb[0..<3].flatMap { [UInt8($0 >> 8), UInt8($0 & 255)] })])
        #expect(try PNG.readRGB(data: trns, source: "trns").data == planar((0..<n).map { (rgb[3 * $0], rgb[3 * $0 + 1], rgb[3 * $0 + 2]) }, scale: 65535))
        // 8-bit RGBA with alpha 0, 1, 128, 255: colour as stored.
        let alphas8: [Int] = [0, 1, 128, 255, 255, 3]
        var rgba8 = [Int]()
        for i in 0..<n { rgba8 += [(i * 40 + 5) % 256, (i * 70 + 9) % 256, (i * 90 + 1) % 256, alphas8[i]] }
        let image8 = try PNG.readRGB(data: RawPNG.make(width: w, height: h, colorType: .rgba, depth: 8, samples: rgba8), source: "rgba8")
        let expected8: [(Int, Int, Int)] = (0..<n).map { i in (rgba8[4 * i], rgba8[4 * i + 1], rgba8[4 * i + 2]) }
        #expect(image8.data == planar(expected8, scale: 255))
        // 16-bit RGBA and gray+alpha: libpng premultiplies, we divide back. Exact when opaque,
        // within ~0.5/alpha of full scale otherwise.
        let alphas: [Int] = [65535, 65535, 40000, 65000, 30000, 1000]
        var rgba16 = [Int]()
        for i in 0..<n { rgba16 += [(i * 12345 + 7) % 65536, (i * 23456 + 11) % 65536, (i * 34567 + 13) % 65536, alphas[i]] }
        let image16 = try PNG.readRGB(data: RawPNG.make(width: w, height: h, colorType: .rgba, depth: 16, samples: rgba16), source: "rgba16")
        var ga16 = [Int]()
        for i in 0..<n { ga16 += [(i * 12345 + 7) % 65536, alphas[i]] }
        let gray16 = try PNG.readRGB(data: RawPNG.make(width: w, height: h, colorType: .grayAlpha, depth: 16, samples: ga16), source: "ga16")
        for i in 0..<n {
            let tolerance = (0.5 * 65535 / Double(alphas[i]) + 1) / 65535
            for c in 0..<3 {
                let stored = Double(rgba16[4 * i + c]) / 65535
                let got = Double(image16.data[c * n + i])
                if alphas[i] == 65535 { #expect(got == Double(Float(rgba16[4 * i + c]) / 65535)) }
                let errorRGBA = Swift.abs(got - stored)
                let errorGA = Swift.abs(Double(gray16.data[c * n + i]) - Double(ga16[2 * i]) / 65535)
                #expect(errorRGBA <= tolerance, "rgba16 pixel \(i) channel \(c): \(got) vs \(stored)")
                #expect(errorGA <= tolerance, "ga16 pixel \(i)")
            }
        }
        // Palette with tRNS: entries read as opaque colours.
        let palette: [(UInt8, UInt8, UInt8)] = [(1, 2, 3), (250, 128, 0), (9, 99, 199)]
        let indices = (0..<n).map { $0 % 3 }
        let paletted = RawPNG.make(width: w, height: h, colorType: .palette, depth: 8, samples: indices, palette: palette, chunks: [("tRNS", [0, 128])])
        #expect(try PNG.readRGB(data: paletted, source: "palette").data
                == planar(indices.map { (Int(palette[$0].0), Int(palette[$0].1), Int(palette[$0].2)) }, scale: 255))
    }

    @Test func corruptInputGivesAnErrorNamingTheSource() throws {
        let good = try PNG.encode(randomImage(width: 40, height: 30, seed: 9))
        var badCRC = good
        let idat = try #require(good.range(of: Data("IDAT".utf8)))
        badCRC[idat.upperBound + 10] ^= 0xFF
        var g = SeededGenerator(seed: 3)
        let cases: [(String, Data)] = [
            ("empty", Data()),
            ("text", Data("hello, this is not an image\n".utf8)),
            ("random", Data((0..<500).map { _ in UInt8(truncatingIfNeeded: g.next()) })),
            ("signature-only", good.prefix(8)),
            ("truncated-header", good.prefix(20)),
            ("truncated-data", good.prefix(good.count / 2)),
            ("bad-crc", badCRC),
            ("jpeg", Data([0xFF, 0xD8, 0xFF, 0xE0] + [UInt8](repeating: 0, count: 100))),
        ]
        for (name, data) in cases {
            #expect {
                _ = try PNG.readRGB(data: data, source: "case-\(name).png")
            } throws: { error in
                (error as? FileError)?.description.hasPrefix("case-\(name).png: ") == true
            }
        }
        #expect(throws: FileError.self) { _ = try PNG.readRGB("/nonexistent/folder/x.png") }
    }
}
