/// The square of a source image that becomes one 64×64 training face.
///
/// - CelebA aligned images (178×218): rows 39..178 and columns 19..158, the 140×140 centre crop of
///   `../shared/docs/model.md`.
/// - Any other size (generic image folders): the largest centred square, side min(W, H), at
///   x = ⌊(W − side)/2⌋, y = ⌊(H − side)/2⌋. Sizes below 64×64 are refused (enlarging would
///   only blur them).
/// The square is then area-resized to 64×64 (`AreaResizer`), the model's input size
/// (`VAEConfiguration.imageSize`).
public struct FaceCrop: Equatable, Sendable, CustomStringConvertible {
    public var x: Int, y: Int, size: Int

    /// CelebA's aligned-and-cropped image size and the crop the model is defined on.
    public static let celebAWidth = 178, celebAHeight = 218
    public static let celebA = FaceCrop(x: 19, y: 39, size: 140)

    public init(x: Int, y: Int, size: Int) { self.x = x; self.y = y; self.size = size }

    /// The crop for an image of width×height, or a reason it has none.
    public static func forImage(width: Int, height: Int) -> Result<FaceCrop, CropRefusal> {
        if width == celebAWidth && height == celebAHeight { return .success(celebA) }
        let side = min(width, height)
        guard side >= VAEConfiguration.imageSize else { return .failure(CropRefusal(width: width, height: height)) }
        return .success(FaceCrop(x: (width - side) / 2, y: (height - side) / 2, size: side))
    }

    public var description: String { "\(size)×\(size) at (\(x), \(y))" }
}

public struct CropRefusal: Error, Sendable {
    public let width: Int, height: Int
    public var reason: String { "\(width)×\(height) is smaller than \(VAEConfiguration.imageSize)×\(VAEConfiguration.imageSize)" }
}
