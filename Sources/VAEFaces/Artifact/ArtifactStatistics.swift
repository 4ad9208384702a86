import Foundation

/// Summary statistics of one score over a set of images (../shared/docs/artifact-metric.md §2).
public struct FieldStatistics: Codable, Sendable, Equatable {
    public var mean: Double
    public var median: Double
    /// 95th percentile, linear interpolation between order statistics (numpy's default).
    public var p95: Double
    /// Sample standard deviation (ddof 1); 0 for a single value.
    public var std: Double
    public var min: Double
    public var max: Double

    /// The statistics of `values` (at least one). Sorts a copy.
    public init(_ values: [Double]) {
        precondition(!values.isEmpty, "FieldStatistics of an empty set")
        let sorted = values.sorted()
        let n = sorted.count
        let mean = sorted.reduce(0, +) / Double(n)
        var squares = 0.0
        for v in sorted { squares += (v - mean) * (v - mean) }
        self.mean = mean
        self.median = FieldStatistics.quantile(sorted: sorted, 0.5)
        self.p95 = FieldStatistics.quantile(sorted: sorted, 0.95)
        self.std = n > 1 ? (squares / Double(n - 1)).squareRoot() : 0
        self.min = sorted[0]
        self.max = sorted[n - 1]
    }

    /// The q-quantile of ascending `sorted` values with numpy's default (linear) rule:
    /// position h = (n − 1)·q, value v[⌊h⌋] + (h − ⌊h⌋)·(v[⌊h⌋+1] − v[⌊h⌋]).
    public static func quantile(sorted: [Double], _ q: Double) -> Double {
        precondition(!sorted.isEmpty, "quantile of an empty set")
        let h = Double(sorted.count - 1) * q
        let lo = Int(h.rounded(.down))
        let hi = Swift.min(lo + 1, sorted.count - 1)
        return sorted[lo] + (h - Double(lo)) * (sorted[hi] - sorted[lo])
    }
}

/// The aggregate of a set of scored images: statistics of every scalar field, of `cb_channel`
/// per channel index, and the counts. Flat images are included (with their scores of 0).
///
/// JSON: `{"cb": {"mean", "median", "p95", "std", "min", "max"}, …, "cb_channel": [{…}, …], "n": …, "n_flat": …}`.
public struct ArtifactAggregate: Codable, Sendable, Equatable {
    public var fields: [ArtifactField: FieldStatistics]
    /// `cbChannel[c]`: statistics of `cb_channel[c]` over the images that have channel c.
    public var cbChannel: [FieldStatistics]
    public var n: Int
    public var nFlat: Int

    /// Aggregates at least one image's scores.
    public init(_ scores: [ArtifactScores]) {
        precondition(!scores.isEmpty, "ArtifactAggregate of an empty set")
        var fields: [ArtifactField: FieldStatistics] = [:]
        for field in ArtifactField.allCases {
            fields[field] = FieldStatistics(scores.map { $0[field] })
        }
        self.fields = fields
        let channels = scores.map(\.cbChannel.count).max() ?? 0
        cbChannel = (0..<channels).map { c in
            FieldStatistics(scores.compactMap { c < $0.cbChannel.count ? $0.cbChannel[c] : nil })
        }
        n = scores.count
        nFlat = scores.filter(\.flat).count
    }

    public subscript(field: ArtifactField) -> FieldStatistics { fields[field]! }

    public func encode(to encoder: any Swift.Encoder) throws {
        var container = encoder.container(keyedBy: JSONFieldKey.self)
        for field in ArtifactField.allCases { try container.encode(self[field], forKey: JSONFieldKey(field.rawValue)) }
        try container.encode(cbChannel, forKey: JSONFieldKey("cb_channel"))
        try container.encode(n, forKey: JSONFieldKey("n"))
        try container.encode(nFlat, forKey: JSONFieldKey("n_flat"))
    }

    public init(from decoder: any Swift.Decoder) throws {
        let container = try decoder.container(keyedBy: JSONFieldKey.self)
        var fields: [ArtifactField: FieldStatistics] = [:]
        for field in ArtifactField.allCases {
            fields[field] = try container.decode(FieldStatistics.self, forKey: JSONFieldKey(field.rawValue))
        }
        self.fields = fields
        cbChannel = try container.decode([FieldStatistics].self, forKey: JSONFieldKey("cb_channel"))
        n = try container.decode(Int.self, forKey: JSONFieldKey("n"))
        nFlat = try container.decode(Int.self, forKey: JSONFieldKey("n_flat"))
    }
}

/// One score of a set read against the same score of real images (§4 of the spec).
/// A value that is undefined (a ratio over a reference of 0, the dB of a ratio of 0) is nil
/// (JSON null), never NaN or infinity.
public struct ArtifactReading: Codable, Sendable, Equatable {
    /// mean(scored) / mean(real): 1 ≈ as much stride-2 energy as real photos, > 1 excess, < 1 less.
    public var ratioMean: Double?
    /// 10·log10(ratio_mean).
    public var db: Double?
    /// median(scored) / median(real): robust to a few extreme images.
    public var ratioMedian: Double?
    /// The share of scored images whose score exceeds the real images' p95 (5 % for real images).
    public var aboveRealP95: Double
    /// The 95 % bootstrap interval of `ratioMean` (`Bootstrap.ratioOfMeans`, 1,000 resamples of
    /// both sides, seed 0): present for the primary fields when the real images' own scores are
    /// known, as with `--reference` and the shipped baseline.
    public var interval: Bootstrap.Interval?

    /// Reads `values` (one score of every scored image) against the real statistics `real`.
    /// With `realValues` (the real images' own scores), also the bootstrap interval of the ratio.
    public init(values: [Double], real: FieldStatistics, realValues: [Double]? = nil) {
        let scored = FieldStatistics(values)
        ratioMean = ArtifactReading.ratio(scored.mean, real.mean)
        db = ratioMean.flatMap { $0 > 0 ? 10 * log10($0) : nil }
        ratioMedian = ArtifactReading.ratio(scored.median, real.median)
        aboveRealP95 = Double(values.filter { $0 > real.p95 }.count) / Double(values.count)
        interval = realValues.flatMap { Bootstrap.ratioOfMeans(values, $0) }
    }

    static func ratio(_ a: Double, _ b: Double) -> Double? {
        b > 0 ? a / b : nil
    }

    enum CodingKeys: String, CodingKey {
        case ratioMean = "ratio_mean", db, ratioMedian = "ratio_median", aboveRealP95 = "above_real_p95"
        case interval = "ratio_mean_interval95"
    }

    public func encode(to encoder: any Swift.Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        // Explicit nulls, so that every reading has the same four keys.
        try container.encode(ratioMean, forKey: .ratioMean)
        try container.encode(db, forKey: .db)
        try container.encode(ratioMedian, forKey: .ratioMedian)
        try container.encode(aboveRealP95, forKey: .aboveRealP95)
        try container.encodeIfPresent(interval, forKey: .interval)
    }
}

/// Every field of a scored set read against a reference set: `{"cb": {…reading…}, …,
/// "cb_channel": [{…}, …]}`. `cb_channel` is read channel by channel, for the channel indices both
/// sets have (an empty list when they have none in common).
public struct ArtifactComparison: Codable, Sendable, Equatable {
    public var fields: [ArtifactField: ArtifactReading]
    public var cbChannel: [ArtifactReading]

    /// `realPrimary`, the real images' own `cb` and `cb_local` (in any order), adds the bootstrap
    /// intervals of those two ratios.
    public init(scores: [ArtifactScores], reference: ArtifactAggregate, realPrimary: RealPrimaryScores? = nil) {
        precondition(!scores.isEmpty, "ArtifactComparison of an empty set")
        var fields: [ArtifactField: ArtifactReading] = [:]
        for field in ArtifactField.allCases {
            fields[field] = ArtifactReading(values: scores.map { $0[field] }, real: reference[field],
                                            realValues: realPrimary?[field])
        }
        self.fields = fields
        let channels = min(scores.map(\.cbChannel.count).max() ?? 0, reference.cbChannel.count)
        cbChannel = (0..<channels).compactMap { c in
            let values = scores.compactMap { c < $0.cbChannel.count ? $0.cbChannel[c] : nil }
            return values.isEmpty ? nil : ArtifactReading(values: values, real: reference.cbChannel[c])
        }
    }

    public subscript(field: ArtifactField) -> ArtifactReading { fields[field]! }

    public func encode(to encoder: any Swift.Encoder) throws {
        var container = encoder.container(keyedBy: JSONFieldKey.self)
        for field in ArtifactField.allCases { try container.encode(self[field], forKey: JSONFieldKey(field.rawValue)) }
        try container.encode(cbChannel, forKey: JSONFieldKey("cb_channel"))
    }

    public init(from decoder: any Swift.Decoder) throws {
        let container = try decoder.container(keyedBy: JSONFieldKey.self)
        var fields: [ArtifactField: ArtifactReading] = [:]
        for field in ArtifactField.allCases {
            fields[field] = try container.decode(ArtifactReading.self, forKey: JSONFieldKey(field.rawValue))
        }
        self.fields = fields
        cbChannel = try container.decode([ArtifactReading].self, forKey: JSONFieldKey("cb_channel"))
    }
}

/// The real images' own scores of the two primary fields, which the bootstrap intervals resample.
public struct RealPrimaryScores: Sendable, Equatable {
    public var cb: [Double]
    public var cbLocal: [Double]

    public init(cb: [Double], cbLocal: [Double]) {
        self.cb = cb
        self.cbLocal = cbLocal
    }

    public init(_ scores: [ArtifactScores]) { self.init(cb: scores.map(\.cb), cbLocal: scores.map(\.cbLocal)) }

    /// The scores of `field`, nil for the fields that are not primary.
    public subscript(field: ArtifactField) -> [Double]? {
        switch field {
        case .cb: cb
        case .cbLocal: cbLocal
        default: nil
        }
    }
}

/// A JSON key spelled at run time (the spec's field names mixed with `n`, `n_flat`, `cb_channel`).
struct JSONFieldKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ s: String) { stringValue = s }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}
