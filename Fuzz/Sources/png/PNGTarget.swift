import Foundation
import VAEFaces

/// PNG bytes through libpng's simplified reader and our chunk filter, then to 8 bits, as
/// `prepare` and `artifact-score` read PNG files.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPNG(_ bytes: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    if let image = try? PNG.readRGB(data: Data(bytes: bytes, count: count), source: "fuzz") {
        _ = Image8(image)
    }
    return 0
}
