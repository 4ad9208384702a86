import CTurboJPEG

/// Decodes JPEG bytes to 8-bit RGB (HWC) with TurboJPEG, whose errors come back as return codes
/// (the classic libjpeg API would `exit()` the process on a corrupt file).
///
/// One decoder holds one TurboJPEG handle and its output buffer, reused image after image; it
/// is not for concurrent use: give each thread its own. Decoding uses TurboJPEG's defaults, the
/// accurate integer DCT and smooth chroma upsampling, which give libjpeg's output. A file that
/// libjpeg reads only with a warning (truncated data filled with gray, bytes missing in a
/// segment) is treated as an error: its pixels are not all real.
public final class JPEGDecoder {
    private let handle: tjhandle
    /// The last decoded image, width·height·3 bytes (capacity may be larger).
    public private(set) var pixels: [UInt8] = []
    public private(set) var width = 0
    public private(set) var height = 0

    /// Largest image decoded, in pixels (a corrupt header must not allocate gigabytes).
    public static let maxPixels = 1 << 26

    public init() throws {
        guard let handle = tjInitDecompress() else {
            throw VAEFacesError("TurboJPEG: cannot create a decompressor")
        }
        self.handle = handle
    }

    deinit { tjDestroy(handle) }

    /// Whether the bytes start like a JPEG (SOI marker followed by another marker).
    public static func looksLikeJPEG(_ bytes: UnsafeRawBufferPointer) -> Bool {
        bytes.count >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF
    }

    /// Decodes the JPEG into `pixels` (RGB, rows top to bottom); on failure returns the reason.
    public func decode(_ bytes: UnsafeRawBufferPointer) -> String? {
        guard let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count > 0 else {
            return "empty file (0 bytes)"
        }
        var w: Int32 = 0, h: Int32 = 0, subsampling: Int32 = 0, colorspace: Int32 = 0
        guard tjDecompressHeader3(handle, base, UInt(bytes.count), &w, &h, &subsampling, &colorspace) == 0 else {
            return "corrupt JPEG header: \(lastError())"
        }
        guard w > 0, h > 0, Int(w) * Int(h) <= JPEGDecoder.maxPixels else {
            return "JPEG of \(w)×\(h) pixels is outside the accepted size"
        }
        let needed = Int(w) * Int(h) * 3
        if pixels.count < needed { pixels = [UInt8](repeating: 0, count: needed) }
        let status = pixels.withUnsafeMutableBufferPointer { out in
            tjDecompress2(handle, base, UInt(bytes.count), out.baseAddress, w, 0, h, Int32(TJPF_RGB.rawValue), 0)
        }
        guard status == 0 else {
            let message = lastError()
            let truncated = message.localizedCaseInsensitiveContains("premature end")
            return truncated ? "truncated JPEG (\(message))" : "corrupt JPEG data: \(message)"
        }
        width = Int(w)
        height = Int(h)
        return nil
    }

    private func lastError() -> String {
        guard let text = tjGetErrorStr2(handle) else { return "unknown TurboJPEG error" }
        return String(cString: text)
    }
}
