import Foundation

/// A PNG writer for tests that does not use libpng: it emits exactly the chunks it is given
/// (IHDR, optional PLTE/tRNS/colour chunks, one IDAT of stored deflate blocks, IEND), so tests
/// can build files libpng's simplified writer cannot (16-bit with a gAMA/sRGB chunk, 16-bit
/// non-premultiplied RGBA, 1/2/4-bit gray, tRNS on RGB) and know every stored sample.
enum RawPNG {
    /// Color types of the PNG specification.
    enum ColorType: UInt8 {
        case gray = 0, rgb = 2, palette = 3, grayAlpha = 4, rgba = 6
        var channels: Int { [1, 0, 3, 1, 2, 0, 4][Int(rawValue)] }
    }

    /// `samples`: height·width·channels values in row-major interleaved order, each < 2^depth.
    static func make(width: Int, height: Int, colorType: ColorType, depth: Int, samples: [Int],
                     palette: [(UInt8, UInt8, UInt8)] = [], chunks: [(String, [UInt8])] = []) -> Data {
        let channels = colorType.channels
        precondition(samples.count == width * height * channels)
        var raw = [UInt8]()
        for y in 0..<height {
            raw.append(0)                                   // filter type 0 (None)
            var bits = 0, acc = 0
            for i in 0..<(width * channels) {
                let v = samples[y * width * channels + i]
                precondition(v >= 0 && v < 1 << depth)
                switch depth {
                case 16: raw.append(UInt8(v >> 8)); raw.append(UInt8(v & 255))
                case 8: raw.append(UInt8(v))
                default:
                    acc = acc << depth | v
                    bits += depth
                    if bits == 8 { raw.append(UInt8(acc)); acc = 0; bits = 0 }
                }
            }
            if bits > 0 { raw.append(UInt8(acc << (8 - bits))) }
        }
        var out: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        var ihdr = be32(width) + be32(height)
        ihdr += [UInt8(depth), colorType.rawValue, 0, 0, 0]
        out += chunk("IHDR", ihdr)
        for (type, data) in chunks where type != "tRNS" { out += chunk(type, data) }
        if !palette.isEmpty { out += chunk("PLTE", palette.flatMap { [$0.0, $0.1, $0.2] }) }
        for (type, data) in chunks where type == "tRNS" { out += chunk(type, data) }
        out += chunk("IDAT", zlibStored(raw))
        out += chunk("IEND", [])
        return Data(out)
    }

    static func be32(_ v: Int) -> [UInt8] { [UInt8(v >> 24 & 255), UInt8(v >> 16 & 255), UInt8(v >> 8 & 255), UInt8(v & 255)] }

    static func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let body = Array(type.utf8) + data
        return be32(data.count) + body + be32(Int(crc32(body)))
    }

    /// A zlib stream of stored (uncompressed) deflate blocks.
    static func zlibStored(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x78, 0x01]
        var offset = 0
        repeat {
            let n = min(65535, data.count - offset)
            let final: UInt8 = offset + n == data.count ? 1 : 0
            out += [final, UInt8(n & 255), UInt8(n >> 8), UInt8(~n & 255), UInt8((~n >> 8) & 255)]
            out += data[offset..<(offset + n)]
            offset += n
        } while offset < data.count
        var a: UInt32 = 1, b: UInt32 = 0
        for byte in data { a = (a + UInt32(byte)) % 65521; b = (b + a) % 65521 }
        return out + be32(Int(b << 16 | a))
    }

    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        return ~crc
    }
}
