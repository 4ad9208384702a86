import Foundation
import VAEFaces

/// CelebA's list_attr_celeba.txt, read for the names of the seed files.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzAttributes(_ bytes: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    var annotations = CelebAAnnotations()
    _ = try? annotations.readAttributes(Data(bytes: bytes, count: count), source: "fuzz",
                                        names: ["000001.jpg", "000002.jpg", "000003.jpg"])
    return 0
}
