import Foundation
import CBLAS
import CPNG
import CTurboJPEG
import NeuralCore

/// A quick proof that the system libraries the tool links are present and compute correctly:
/// a small SGEMM against a direct loop, a PNG encode/decode round trip in memory, and a JPEG
/// encode/decode round trip. Used by `vae-faces selfcheck` and by the test suite.
public struct SelfCheckReport: Codable, Sendable {
    public struct Item: Codable, Sendable {
        public var name: String
        public var ok: Bool
        public var detail: String
    }
    public var items: [Item]
    public var ok: Bool { items.allSatisfy(\.ok) }
}

public enum SelfCheck {
    public static func run() -> SelfCheckReport {
        SelfCheckReport(items: [checkBLAS(), checkPNG(), checkJPEG()])
    }

    static func checkBLAS() -> SelfCheckReport.Item {
        // C[m×n] = A[m×k]·B[k×n] with small integers: exact in Float32.
        let m = 7, n = 5, k = 11
        let a = (0..<(m * k)).map { Float(($0 * 7) % 13) - 6 }
        let b = (0..<(k * n)).map { Float(($0 * 5) % 11) - 5 }
        var c = [Float](repeating: 0, count: m * n)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k),
                    1, a, Int32(k), b, Int32(n), 0, &c, Int32(n))
        var worst: Float = 0
        for i in 0..<m {
            for j in 0..<n {
                var s: Float = 0
                for p in 0..<k { s += a[i * k + p] * b[p * n + j] }
                worst = max(worst, abs(s - c[i * n + j]))
            }
        }
        let core = String(cString: openblas_get_corename())
        let config = String(cString: openblas_get_config())
        return .init(name: "openblas", ok: worst == 0,
                     detail: "sgemm 7×5×11 max error \(worst); core \(core); \(config)")
    }

    /// A 16×12 RGB gradient used by the image round trips.
    static func testImage(width: Int, height: Int) -> [UInt8] {
        var px = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            for x in 0..<width {
                let i = (y * width + x) * 3
                px[i] = UInt8(x * 255 / (width - 1))
                px[i + 1] = UInt8(y * 255 / (height - 1))
                px[i + 2] = UInt8((x + y) * 255 / (width + height - 2))
            }
        }
        return px
    }

    static func checkPNG() -> SelfCheckReport.Item {
        let w = 16, h = 12
        let image = Image8(width: w, height: h, pixels: testImage(width: w, height: h))
        let version = String(cString: png_get_libpng_ver(nil))
        do {
            // Encode to memory and decode again with the tool's own PNG code: every byte must survive.
            let encoded = try PNG.encode(image)
            let decoded = Image8(try PNG.readRGB(data: encoded, source: "self-check PNG"))
            let exact = decoded == image
            return .init(name: "libpng", ok: exact,
                         detail: "\(w)×\(h) RGB round trip \(exact ? "exact" : "MISMATCH"); libpng \(version)")
        } catch {
            return .init(name: "libpng", ok: false, detail: "\(error); libpng \(version)")
        }
    }

    static func checkJPEG() -> SelfCheckReport.Item {
        let w = 16, h = 12
        let pixels = testImage(width: w, height: h)
        guard let encoder = tjInitCompress(), let decoder = tjInitDecompress() else {
            return .init(name: "turbojpeg", ok: false, detail: "tjInit failed")
        }
        defer { tjDestroy(encoder); tjDestroy(decoder) }
        var buffer: UnsafeMutablePointer<UInt8>? = nil
        var size: UInt = 0
        guard tjCompress2(encoder, pixels, Int32(w), 0, Int32(h), Int32(TJPF_RGB.rawValue), &buffer, &size,
                          Int32(TJSAMP_444.rawValue), 95, 0) == 0, let jpeg = buffer else {
            return .init(name: "turbojpeg", ok: false, detail: "tjCompress2 failed")
        }
        defer { tjFree(jpeg) }
        var decoded = [UInt8](repeating: 0, count: w * h * 3)
        guard tjDecompress2(decoder, jpeg, size, &decoded, Int32(w), 0, Int32(h), Int32(TJPF_RGB.rawValue), 0) == 0 else {
            return .init(name: "turbojpeg", ok: false, detail: "tjDecompress2 failed")
        }
        let worst = zip(decoded, pixels).map { abs(Int($0) - Int($1)) }.max() ?? 0
        // A smooth gradient at quality 95 decodes within a few levels of the original.
        let ok = worst <= 8
        // A corrupt stream must return an error, not exit the process (classic libjpeg would).
        let garbage = [UInt8](repeating: 0x42, count: 64)
        let rejects = tjDecompress2(decoder, garbage, UInt(garbage.count), &decoded, Int32(w), 0, Int32(h),
                                    Int32(TJPF_RGB.rawValue), 0) != 0
        return .init(name: "turbojpeg", ok: ok && rejects,
                     detail: "\(w)×\(h) round trip max error \(worst) levels; corrupt stream \(rejects ? "rejected" : "NOT rejected")")
    }
}
