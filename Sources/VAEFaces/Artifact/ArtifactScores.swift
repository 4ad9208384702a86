/// The checkerboard-artifact scores of one image, as defined in `../shared/docs/artifact-metric.md`
/// (§2). Every field is ≥ 0 and finite; a flat image has every score 0 and `flat == true`.
///
/// Encoded (JSON) with the spec's field names: `cb`, `cb_local`, `cb_col`, `cb_row`, `cb_diag`,
/// `cb_channel`, `amp`, `amp_local`, `cb_raw`, `p4`, `p8`, `p16`, `flat`.
public struct ArtifactScores: Codable, Sendable, Equatable {
    /// Stride-2 energy of the whole image (border-corrected residual form) / AC energy. Primary, global.
    public var cb: Double
    /// The same energy summed over 8×8 tiles / the image's AC energy. Primary, local.
    public var cbLocal: Double
    /// The three terms of `cb`: vertical stripes (−1)^x, horizontal stripes (−1)^y, checkerboard (−1)^(x+y).
    public var cbCol: Double
    public var cbRow: Double
    public var cbDiag: Double
    /// `cb` of each channel alone: E_c / S_c (0 for a flat channel).
    public var cbChannel: [Double]
    /// RMS amplitude of the global / tiled stride-2 pattern, in the image's [0, 1] units (not scale-free).
    public var amp: Double
    public var ampLocal: Double
    /// The literal DFT version: energy at the bins (H/2,0), (0,W/2), (H/2,W/2) / AC energy.
    public var cbRaw: Double
    /// Energy at all DFT bins of the P-lattice (DC excluded) / AC energy, the image cropped to multiples of P.
    public var p4: Double
    public var p8: Double
    public var p16: Double
    /// True when the image has (numerically) no AC energy; every score is then 0.
    public var flat: Bool

    public init(cb: Double, cbLocal: Double, cbCol: Double, cbRow: Double, cbDiag: Double, cbChannel: [Double],
                amp: Double, ampLocal: Double, cbRaw: Double, p4: Double, p8: Double, p16: Double, flat: Bool) {
        self.cb = cb; self.cbLocal = cbLocal
        self.cbCol = cbCol; self.cbRow = cbRow; self.cbDiag = cbDiag
        self.cbChannel = cbChannel
        self.amp = amp; self.ampLocal = ampLocal
        self.cbRaw = cbRaw; self.p4 = p4; self.p8 = p8; self.p16 = p16
        self.flat = flat
    }

    /// The scores of a flat image with `channels` channels: all 0.
    public static func flat(channels: Int) -> ArtifactScores {
        ArtifactScores(cb: 0, cbLocal: 0, cbCol: 0, cbRow: 0, cbDiag: 0,
                       cbChannel: [Double](repeating: 0, count: channels),
                       amp: 0, ampLocal: 0, cbRaw: 0, p4: 0, p8: 0, p16: 0, flat: true)
    }

    /// The value of one scalar field.
    public subscript(field: ArtifactField) -> Double {
        switch field {
        case .cb: cb
        case .cbLocal: cbLocal
        case .cbCol: cbCol
        case .cbRow: cbRow
        case .cbDiag: cbDiag
        case .amp: amp
        case .ampLocal: ampLocal
        case .cbRaw: cbRaw
        case .p4: p4
        case .p8: p8
        case .p16: p16
        }
    }

    enum CodingKeys: String, CodingKey {
        case cb, cbLocal = "cb_local", cbCol = "cb_col", cbRow = "cb_row", cbDiag = "cb_diag"
        case cbChannel = "cb_channel", amp, ampLocal = "amp_local", cbRaw = "cb_raw", p4, p8, p16, flat
    }
}

/// The scalar fields of `ArtifactScores`, in the spec's table order, named as in the spec.
/// (`cb_channel`, an array, and `flat`, a flag, are handled separately.)
public enum ArtifactField: String, CaseIterable, Codable, Sendable, CodingKey {
    case cb, cbLocal = "cb_local", cbCol = "cb_col", cbRow = "cb_row", cbDiag = "cb_diag"
    case amp, ampLocal = "amp_local", cbRaw = "cb_raw", p4, p8, p16
}
