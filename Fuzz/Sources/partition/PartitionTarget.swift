import Foundation
import VAEFaces

/// CelebA's list_eval_partition.txt, read for the names of the seed files.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPartition(_ bytes: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    var annotations = CelebAAnnotations()
    _ = try? annotations.readPartition(Data(bytes: bytes, count: count), source: "fuzz",
                                       names: ["000001.jpg", "000002.jpg", "000003.jpg"])
    return 0
}
