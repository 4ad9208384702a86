import VAEFaces

/// A prepared cache file. Random bytes rarely match the XXH64 checksum, so each input is
/// validated twice: as it is (header checks), and with the checksum field set to the bytes'
/// true checksum, so that the fuzzer reaches the metadata tables behind it.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCache(_ bytes: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: bytes, count: count)
    _ = try? PreparedCache.validate(input, source: "fuzz")
    guard count >= PreparedCache.headerSize else { return 0 }
    var patched = [UInt8](input)
    let checksum = patched.withUnsafeBytes { XXH64.hash(UnsafeRawBufferPointer(rebasing: $0[PreparedCache.headerSize...])) }
    withUnsafeBytes(of: checksum.littleEndian) { patched.replaceSubrange(56..<64, with: $0) }
    _ = try? patched.withUnsafeBytes { try PreparedCache.validate($0, source: "fuzz") }
    return 0
}
