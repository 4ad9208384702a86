import CTurboJPEG
import Foundation
import NeuralCore
import Testing
@testable import VAEFaces

/// A deterministic random 8-bit RGB image.
func randomImage(width: Int, height: Int, seed: UInt64) -> Image8 {
    var g = SeededGenerator(seed: seed)
    return Image8(width: width, height: height, pixels: (0..<(width * height * 3)).map { _ in UInt8(truncatingIfNeeded: g.next()) })
}

/// A smooth deterministic image (JPEG-friendly): gradients plus a seed-dependent tint.
func smoothImage(width: Int, height: Int, seed: Int) -> Image8 {
    var pixels = [UInt8](repeating: 0, count: width * height * 3)
    for y in 0..<height {
        for x in 0..<width {
            let i = (y * width + x) * 3
            pixels[i] = UInt8((x * 255 / max(1, width - 1) + seed * 37) % 256)
            pixels[i + 1] = UInt8((y * 255 / max(1, height - 1) + seed * 53) % 256)
            pixels[i + 2] = UInt8(((x + y) * 3 + seed * 11) % 256)
        }
    }
    return Image8(width: width, height: height, pixels: pixels)
}

/// A fresh empty folder under the system temporary folder.
func makeTemporaryFolder(_ name: String = #function) throws -> String {
    let tag = name.filter { $0.isLetter || $0.isNumber }
    let path = NSTemporaryDirectory() + "vae-faces-tests/\(tag)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// JPEG bytes of an image, encoded with TurboJPEG (4:4:4, the given quality).
func encodeJPEG(_ image: Image8, quality: Int32 = 95) throws -> Data {
    let encoder = try #require(tjInitCompress())
    defer { tjDestroy(encoder) }
    var buffer: UnsafeMutablePointer<UInt8>? = nil
    var size: UInt = 0
    let status = image.pixels.withUnsafeBufferPointer {
        tjCompress2(encoder, $0.baseAddress, Int32(image.width), 0, Int32(image.height), Int32(TJPF_RGB.rawValue),
                    &buffer, &size, Int32(TJSAMP_444.rawValue), quality, 0)
    }
    try #require(status == 0 && buffer != nil)
    defer { tjFree(buffer) }
    return Data(bytes: buffer!, count: Int(size))
}

/// Decodes JPEG bytes with TurboJPEG directly (not through the library's decoder).
func decodeJPEGDirectly(_ data: Data) throws -> Image8 {
    let decoder = try #require(tjInitDecompress())
    defer { tjDestroy(decoder) }
    var w: Int32 = 0, h: Int32 = 0, sub: Int32 = 0, cs: Int32 = 0
    let bytes = [UInt8](data)
    try #require(tjDecompressHeader3(decoder, bytes, UInt(bytes.count), &w, &h, &sub, &cs) == 0)
    var pixels = [UInt8](repeating: 0, count: Int(w * h * 3))
    try #require(tjDecompress2(decoder, bytes, UInt(bytes.count), &pixels, w, 0, h, Int32(TJPF_RGB.rawValue), 0) == 0)
    return Image8(width: Int(w), height: Int(h), pixels: pixels)
}

/// The area resize computed directly from its definition, in Double, without weight tables:
/// for each output pixel, loop over the source pixels its rectangle
/// [X·sx, (X+1)·sx) × [Y·sy, (Y+1)·sy) touches and weight each by its overlap area.
/// Returns unrounded values, HWC.
func naiveAreaResize(_ image: Image8, x0: Int = 0, y0: Int = 0, width: Int? = nil, height: Int? = nil,
                     outputWidth: Int, outputHeight: Int) -> [Double] {
    let w = width ?? image.width, h = height ?? image.height
    let sx = Double(w) / Double(outputWidth), sy = Double(h) / Double(outputHeight)
    var out = [Double](repeating: 0, count: outputWidth * outputHeight * 3)
    for oy in 0..<outputHeight {
        let top = Double(oy) * sy, bottom = Double(oy + 1) * sy
        for ox in 0..<outputWidth {
            let left = Double(ox) * sx, right = Double(ox + 1) * sx
            var sum = [0.0, 0.0, 0.0]
            for y in Int(top.rounded(.down))..<Int(bottom.rounded(.up)) {
                let dy = min(Double(y + 1), bottom) - max(Double(y), top)
                for x in Int(left.rounded(.down))..<Int(right.rounded(.up)) {
                    let dx = min(Double(x + 1), right) - max(Double(x), left)
                    let p = image[x0 + x, y0 + y]
                    sum[0] += dx * dy * Double(p.r)
                    sum[1] += dx * dy * Double(p.g)
                    sum[2] += dx * dy * Double(p.b)
                }
            }
            for c in 0..<3 { out[(oy * outputWidth + ox) * 3 + c] = sum[c] / (sx * sy) }
        }
    }
    return out
}

/// `../shared/data/celeba` next to the package, when present.
let sharedCelebA: String? = {
    let package = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let folder = package.deletingLastPathComponent().appendingPathComponent("shared/data/celeba").path
    return FileManager.default.fileExists(atPath: folder + "/img_align_celeba") ? folder : nil
}()

func write(_ data: Data, to path: String) throws {
    try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    try data.write(to: URL(fileURLWithPath: path))
}

/// A generic image folder of `count` random 64×64 PNGs ("face_000.png", …), which prepare to
/// exactly their own pixels (64×64 needs no crop, and a 64 → 64 area resize is the identity).
func makeFaceFolder(count: Int, seed: UInt64 = 1, _ name: String = #function) throws -> (root: String, faces: [Image8]) {
    let root = try makeTemporaryFolder(name)
    var faces = [Image8]()
    for i in 0..<count {
        let face = randomImage(width: 64, height: 64, seed: seed &* 1000 &+ UInt64(i))
        try write(try PNG.encode(face), to: root + "/faces/" + String(format: "face_%03d.png", i))
        faces.append(face)
    }
    return (root + "/faces", faces)
}
