import CPNG
import Foundation
import TensorIO

/// PNG reading and writing through libpng's simplified `png_image` API (the classic API aborts
/// through longjmp on a bad file, which Swift cannot catch).
///
/// Reading returns the stored sample values unchanged, as floats: v/255 for 8-bit files and
/// v/65535 for 16-bit files (1-, 2- and 4-bit gray are first expanded to 8 bits by the PNG rule
/// v·255/(2^depth − 1); palette entries are 8-bit). No colour management and no gamma:
///
/// - libpng's simplified reader converts between its 8-bit "sRGB" formats and 16-bit "linear"
///   formats, and from a file's gAMA/sRGB/iCCP/cHRM encoding to the requested one. We read 8-bit
///   files into an 8-bit format and 16-bit files into a 16-bit format, and drop those four
///   colour-space chunks from the bytes handed to libpng, so no transfer curve is ever applied.
/// - Alpha is dropped, not composited: a translucent or transparent pixel keeps its stored
///   colour. The tRNS chunk is dropped too (palette entries, gray and RGB samples read as stored),
///   and alpha channels are read and discarded. One limit: libpng returns 16-bit colour with an
///   alpha channel premultiplied by alpha; we divide it back out, which is exact for opaque
///   pixels, accurate to about 0.5/alpha of full scale for translucent ones, and gives black
///   where alpha is 0 (that colour is lost inside libpng).
public enum PNG {
    /// Largest image `readRGB` accepts, in pixels (a corrupt header must not allocate gigabytes).
    public static let maxPixels = 1 << 26

    // MARK: Writing

    /// The image as PNG bytes (8-bit RGB, with libpng's sRGB chunk).
    public static func encode(_ image: Image8) throws -> Data {
        guard image.width > 0, image.height > 0 else {
            throw VAEFacesError("PNG: cannot encode an empty \(image.width)×\(image.height) image")
        }
        var png = png_image()
        png.version = UInt32(PNG_IMAGE_VERSION)
        png.width = UInt32(image.width)
        png.height = UInt32(image.height)
        png.format = UInt32(PNG_FORMAT_RGB)
        let stride = Int32(image.width * 3)
        return try image.pixels.withUnsafeBufferPointer { pixels -> Data in
            // The first call measures, the second writes.
            var size = 0
            guard png_image_write_to_memory(&png, nil, &size, 0, pixels.baseAddress, stride, nil) != 0, size > 0 else {
                throw VAEFacesError("PNG: libpng cannot encode a \(image.width)×\(image.height) image: \(message(of: &png))")
            }
            var data = Data(count: size)
            let ok = data.withUnsafeMutableBytes { out in
                png_image_write_to_memory(&png, out.baseAddress, &size, 0, pixels.baseAddress, stride, nil)
            }
            guard ok != 0 else {
                throw VAEFacesError("PNG: libpng cannot encode a \(image.width)×\(image.height) image: \(message(of: &png))")
            }
            data.count = size
            return data
        }
    }

    /// Writes the image as an 8-bit RGB PNG, atomically (temporary file + rename).
    public static func write(_ image: Image8, to path: String) throws {
        let data: Data
        do { data = try encode(image) } catch let error as VAEFacesError {
            throw FileError(file: path, error.message)
        }
        try AtomicWrite.write(data, to: path)
    }

    // MARK: Reading

    /// Reads any PNG (1–16-bit; gray, gray+alpha, RGB, RGBA or palette) as RGB floats in [0, 1],
    /// planar [3, height, width]. Stored values pass through unchanged (see the type's notes).
    public static func readRGB(_ path: String) throws -> FloatImage {
        try readRGB(data: FileRead.contents(of: path), source: path)
    }

    /// `readRGB` on PNG bytes in memory; `source` names them in error messages.
    public static func readRGB(data: Data, source: String) throws -> FloatImage {
        let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        guard data.count >= 8, data.prefix(8).elementsEqual(signature) else {
            throw FileError(file: source, data.isEmpty ? "empty file, not a PNG" : "not a PNG file (no PNG signature)")
        }
        let bytes = withoutColorAndTransparencyChunks(data)
        return try bytes.withUnsafeBytes { raw -> FloatImage in
            var png = png_image()
            png.version = UInt32(PNG_IMAGE_VERSION)
            guard png_image_begin_read_from_memory(&png, raw.baseAddress, raw.count) != 0 else {
                throw FileError(file: source, "corrupt PNG: \(message(of: &png))")
            }
            let width = Int(png.width), height = Int(png.height)
            guard width > 0, height > 0, width * height <= maxPixels else {
                png_image_free(&png)
                throw FileError(file: source, "PNG of \(width)×\(height) pixels is larger than the \(maxPixels)-pixel limit")
            }
            let fileFormat = png.format
            let sixteenBit = fileFormat & UInt32(PNG_FORMAT_FLAG_LINEAR) != 0
            let plane = width * height
            var out = [Float](repeating: 0, count: 3 * plane)
            if sixteenBit {
                // 16-bit file → 16-bit RGBA (libpng calls it linear; with no gAMA chunk left the
                // file is taken as linear too, so no curve is applied). Alpha comes back
                // premultiplied when the file has an alpha channel; A = 65535 otherwise.
                png.format = UInt32(PNG_FORMAT_FLAG_LINEAR | PNG_FORMAT_FLAG_COLOR | PNG_FORMAT_FLAG_ALPHA)
                var samples = [UInt16](repeating: 0, count: 4 * plane)
                let ok = samples.withUnsafeMutableBufferPointer { png_image_finish_read(&png, nil, $0.baseAddress, 0, nil) }
                guard ok != 0 else { throw FileError(file: source, "corrupt PNG: \(message(of: &png))") }
                for i in 0..<plane {
                    let a = UInt32(samples[4 * i + 3])
                    for c in 0..<3 {
                        var v = UInt32(samples[4 * i + c])
                        if a != 65535 { v = a == 0 ? 0 : min(65535, (v * 65535 + a / 2) / a) }
                        out[c * plane + i] = Float(v) / 65535
                    }
                }
            } else {
                // 8-bit file → 8-bit RGBA, non-premultiplied ("PNG" alpha mode): colours as stored.
                png.format = UInt32(PNG_FORMAT_FLAG_COLOR | PNG_FORMAT_FLAG_ALPHA)
                var samples = [UInt8](repeating: 0, count: 4 * plane)
                let ok = samples.withUnsafeMutableBufferPointer { png_image_finish_read(&png, nil, $0.baseAddress, 0, nil) }
                guard ok != 0 else { throw FileError(file: source, "corrupt PNG: \(message(of: &png))") }
                for i in 0..<plane {
                    for c in 0..<3 { out[c * plane + i] = Float(samples[4 * i + c]) / 255 }
                }
            }
            return FloatImage(width: width, height: height, channels: 3, data: out)
        }
    }

    /// Chunks that only change how libpng interprets colour or transparency.
    static let droppedChunks: Set<String> = ["gAMA", "sRGB", "iCCP", "cHRM", "tRNS"]

    /// The PNG bytes without the chunks in `droppedChunks` (ancillary chunks, so the rest stays a
    /// valid PNG and no CRC changes). A malformed chunk list is left as it is from that point on,
    /// for libpng to report.
    static func withoutColorAndTransparencyChunks(_ data: Data) -> Data {
        let bytes = [UInt8](data)
        var keep: [Range<Int>] = [0..<8]
        var offset = 8
        var dropped = false
        while offset + 12 <= bytes.count {
            let length = Int(bytes[offset]) << 24 | Int(bytes[offset + 1]) << 16 | Int(bytes[offset + 2]) << 8 | Int(bytes[offset + 3])
            let end = offset + 12 + length
            guard end <= bytes.count else { break }
            let type = String(decoding: bytes[(offset + 4)..<(offset + 8)], as: UTF8.self)
            if droppedChunks.contains(type) {
                dropped = true
            } else {
                keep.append(offset..<end)
            }
            offset = end
            if type == "IEND" { break }
        }
        guard dropped else { return data }
        if offset < bytes.count { keep.append(offset..<bytes.count) }
        var out = [UInt8]()
        out.reserveCapacity(bytes.count)
        for range in keep { out.append(contentsOf: bytes[range]) }
        return Data(out)
    }

    // (Composite PNG_FORMAT_* macros such as PNG_FORMAT_RGBA are not imported into Swift; the
    // formats above are spelled with their flags.)

    /// libpng's error text for a failed simplified-API call.
    static func message(of png: inout png_image) -> String {
        withUnsafeBytes(of: &png.message) { raw in
            let text = String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            return text.isEmpty ? "libpng error" : text
        }
    }
}
