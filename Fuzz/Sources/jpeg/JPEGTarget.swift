import VAEFaces

/// JPEG bytes through TurboJPEG, as `prepare` decodes CelebA's images. One decoder is reused
/// input after input, as a preparation thread reuses it file after file.
nonisolated(unsafe) let decoder = try! JPEGDecoder()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJPEG(_ bytes: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    _ = decoder.decode(UnsafeRawBufferPointer(start: bytes, count: count))
    return 0
}
