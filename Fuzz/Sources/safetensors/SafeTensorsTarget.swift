import Foundation
import TensorIO

/// A safetensors file: the header and tensor table are validated, then every tensor is read.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafeTensors(_ bytes: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    guard let archive = try? SafeTensorsArchive.parse(Data(bytes: bytes, count: count), source: "fuzz") else { return 0 }
    for name in archive.names {
        _ = archive.shape(name)
        _ = archive.dtype(name)
        _ = try? archive.floats(name)
        _ = try? archive.tensor(name)
    }
    return 0
}
