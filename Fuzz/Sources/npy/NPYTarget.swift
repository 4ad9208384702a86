import Foundation
import TensorIO

/// A NumPy .npy file (what `--latents` reads).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNPY(_ bytes: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    _ = try? NPY.parse(Data(bytes: bytes, count: count), source: "fuzz")
    return 0
}
