import NeuralCore

/// The decoder's up-sampling layer (docs/model.md "The Up layers"); the raw values are the
/// PyTorch peer's `--decoder` names.
public enum DecoderKind: String, CaseIterable, Codable, Sendable {
    /// Transposed convolution 6×6, stride 2, padding 2.
    case dcl
    /// Pixel deconvolution (Gao et al. 2017, the authors' simplified `pixel_dcl`).
    case pixeldcl
    /// Input pixel deconvolution (`ipixel_dcl`).
    case ipixeldcl
    /// Nearest-neighbour ×2 then a 3×3 convolution (Odena et al. 2016).
    case resizeconv

    /// A new Up layer Cin → Cout (H×W → 2H×2W), initialised as PyTorch does.
    public func makeUpLayer(inputChannels: Int, outputChannels: Int, generator: inout SeededGenerator) -> any Layer {
        switch self {
        case .dcl: ConvTranspose2d.dcl(inputChannels: inputChannels, outputChannels: outputChannels, generator: &generator)
        case .pixeldcl: PixelDCL(inputChannels: inputChannels, outputChannels: outputChannels, generator: &generator)
        case .ipixeldcl: IPixelDCL(inputChannels: inputChannels, outputChannels: outputChannels, generator: &generator)
        case .resizeconv: ResizeConv(inputChannels: inputChannels, outputChannels: outputChannels, generator: &generator)
        }
    }
}

/// What varies between runs of the reference model; everything else (64×64 RGB input, channel
/// widths, kernel sizes) is fixed by docs/model.md.
public struct VAEConfiguration: Codable, Equatable, Sendable {
    /// Dimension of z (the reference model: 128).
    public var latentDimension: Int
    /// The up-sampling layer of the decoder.
    public var decoder: DecoderKind
    /// β, the weight of the KL term in the loss (the reference model: 1).
    public var klWeight: Float

    /// Images are 3 × 64 × 64 (NCHW), values in [0, 1].
    public static let imageChannels = 3
    public static let imageSize = 64

    public init(latentDimension: Int = 128, decoder: DecoderKind = .dcl, klWeight: Float = 1) {
        self.latentDimension = latentDimension
        self.decoder = decoder
        self.klWeight = klWeight
    }
}
