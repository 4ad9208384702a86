import NeuralCore

/// An 8-bit RGB image: `pixels[(y * width + x) * 3 + c]` (interleaved HWC, row-major, c = R, G, B).
/// The layout of PNG/JPEG rows, of the prepared cache and of sample grids.
public struct Image8: Equatable, Sendable {
    public var width: Int
    public var height: Int
    /// width · height · 3 bytes, RGB interleaved, rows top to bottom.
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(width >= 0 && height >= 0 && pixels.count == width * height * 3,
                     "Image8: \(pixels.count) bytes for \(width)×\(height)×3")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// A width×height image filled with one colour.
    public init(width: Int, height: Int, fill: RGB8 = RGB8(0, 0, 0)) {
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for i in 0..<(width * height) {
            pixels[3 * i] = fill.r
            pixels[3 * i + 1] = fill.g
            pixels[3 * i + 2] = fill.b
        }
        self.init(width: width, height: height, pixels: pixels)
    }

    /// The pixel at (x, y).
    public subscript(x: Int, y: Int) -> RGB8 {
        let i = (y * width + x) * 3
        return RGB8(pixels[i], pixels[i + 1], pixels[i + 2])
    }

    /// The float value v ∈ [0, 1] as the nearest 8-bit level: round(clamp(v, 0, 1) · 255), halves
    /// away from zero; NaN becomes 0. The one float→byte conversion of the tool.
    @inline(__always) public static func quantize(_ v: Float) -> UInt8 {
        guard v > 0 else { return 0 }              // also NaN
        guard v < 1 else { return 255 }
        return UInt8(v * 255 + 0.5)                // v·255 + 0.5 ∈ [0.5, 255.5): truncation = round half up
    }

    /// An image from one planar CHW float image in [0, 1] starting at `planes`:
    /// `planes[c * height * width + y * width + x]`, `channels` 3 (RGB) or 1 (gray, copied to R, G, B).
    public init(planar planes: UnsafePointer<Float>, channels: Int, width: Int, height: Int) {
        precondition(channels == 3 || channels == 1, "Image8(planar:): \(channels) channels, expected 1 or 3")
        let plane = width * height
        var pixels = [UInt8](repeating: 0, count: plane * 3)
        for i in 0..<plane {
            for c in 0..<3 {
                pixels[3 * i + c] = Image8.quantize(planes[(channels == 3 ? c : 0) * plane + i])
            }
        }
        self.init(width: width, height: height, pixels: pixels)
    }

    /// A planar [0, 1] float image as 8 bits (`FloatImage` with 1 or 3 channels).
    public init(_ image: FloatImage) {
        self = image.data.withUnsafeBufferPointer {
            Image8(planar: $0.baseAddress!, channels: image.channels, width: image.width, height: image.height)
        }
    }

    /// Splits a batch of planar images, NCHW [count, channels, height, width] floats in [0, 1] (the
    /// model's output layout), into one `Image8` per image with `quantize`'s rounding.
    public static func images(fromNCHW data: UnsafeBufferPointer<Float>, count: Int, channels: Int,
                              height: Int, width: Int) -> [Image8] {
        let size = channels * height * width
        precondition(data.count >= count * size, "Image8.images: \(data.count) floats for [\(count), \(channels), \(height), \(width)]")
        return (0..<count).map { n in
            Image8(planar: data.baseAddress! + n * size, channels: channels, width: width, height: height)
        }
    }

    /// `images(fromNCHW:…)` for a NeuralCore tensor of shape [N, C, H, W].
    public static func images(fromNCHW tensor: Tensor) -> [Image8] {
        precondition(tensor.shape.count == 4, "Image8.images: expected an NCHW tensor, got \(tensor.shape)")
        let s = tensor.shape
        return images(fromNCHW: UnsafeBufferPointer(tensor.buffer), count: s[0], channels: s[1], height: s[2], width: s[3])
    }
}

/// One 8-bit RGB colour.
public struct RGB8: Equatable, Sendable, CustomStringConvertible {
    public var r, g, b: UInt8
    public init(_ r: UInt8, _ g: UInt8, _ b: UInt8) { self.r = r; self.g = g; self.b = b }
    public var description: String { "(\(r), \(g), \(b))" }
}

/// A float image in planar CHW layout: `data[c * height * width + y * width + x]`, values in [0, 1].
/// What `PNG.readRGB` returns (channels = 3) and the per-image layout of the model's NCHW batches.
public struct FloatImage: Equatable, Sendable {
    public var width: Int
    public var height: Int
    public var channels: Int
    /// channels · height · width values.
    public var data: [Float]

    public init(width: Int, height: Int, channels: Int, data: [Float]) {
        precondition(data.count == width * height * channels,
                     "FloatImage: \(data.count) values for \(channels)×\(height)×\(width)")
        self.width = width
        self.height = height
        self.channels = channels
        self.data = data
    }

    /// The 8-bit image as planar floats v/255 (exact: every level is representable).
    public init(_ image: Image8) {
        let plane = image.width * image.height
        var data = [Float](repeating: 0, count: 3 * plane)
        for i in 0..<plane {
            for c in 0..<3 { data[c * plane + i] = Float(image.pixels[3 * i + c]) / 255 }
        }
        self.init(width: image.width, height: image.height, channels: 3, data: data)
    }

    /// The value of channel `c` at (x, y).
    public subscript(c: Int, x: Int, y: Int) -> Float { data[(c * height + y) * width + x] }
}
