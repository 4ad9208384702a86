import Foundation

/// How a value varies across the seeds of one decoder: the mean, the range, and the 95 %
/// Student-t interval of the mean, mean ± t(0.975, n − 1) · s / √n (s: the sample standard
/// deviation). The t-interval needs two seeds at least; with one it is nil.
public struct SeedSpread: Codable, Equatable, Sendable {
    public var n: Int
    public var mean: Double
    public var min: Double
    public var max: Double
    public var interval: Bootstrap.Interval?

    /// The spread of `values` (one per seed, at least one).
    public init(_ values: [Double]) {
        precondition(!values.isEmpty, "SeedSpread of no values")
        n = values.count
        mean = values.reduce(0, +) / Double(n)
        min = values.min()!
        max = values.max()!
        if n > 1 {
            let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(n - 1)
            let half = SeedSpread.tQuantile975(degreesOfFreedom: n - 1) * (variance / Double(n)).squareRoot()
            interval = Bootstrap.Interval(low: mean - half, high: mean + half)
        }
    }

    /// The spread of the values that exist; nil when none does.
    public init?(_ values: [Double?]) {
        let present = values.compactMap { $0 }
        guard !present.isEmpty else { return nil }
        self.init(present)
    }

    /// t(0.975, ν), the 97.5 % quantile of Student's t distribution with ν degrees of freedom:
    /// tabulated to ν = 30 (three decimals), beyond that the Cornish–Fisher expansion around the
    /// normal quantile 1.959964, which is within 0.001 there.
    public static func tQuantile975(degreesOfFreedom v: Int) -> Double {
        precondition(v >= 1, "t quantile: \(v) degrees of freedom")
        let table = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
                     2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
                     2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042]
        if v <= table.count { return table[v - 1] }
        let z = 1.959964, n = Double(v)
        let z3 = z * z * z, z5 = z3 * z * z
        return z + (z3 + z) / (4 * n) + (5 * z5 + 16 * z3 + 3 * z) / (96 * n * n)
    }
}
