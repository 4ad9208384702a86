import Foundation
import NeuralCore

/// Confidence intervals by the bootstrap (Efron 1979): the sampling spread of a statistic is
/// estimated by recomputing it on resamples drawn with replacement from the data.
public enum Bootstrap {
    /// A two-sided confidence interval.
    public struct Interval: Codable, Equatable, Sendable {
        public var low: Double
        public var high: Double

        public init(low: Double, high: Double) {
            self.low = low
            self.high = high
        }

        public func contains(_ value: Double) -> Bool { low <= value && value <= high }
        /// True when the two intervals share at least one point.
        public func overlaps(_ other: Interval) -> Bool { low <= other.high && other.low <= high }
    }

    /// The percentile-bootstrap interval of the ratio of means mean(numerator) / mean(denominator)
    /// of two independent samples, such as `R(cb)`: the scores of generated images over those of
    /// real images. Each of `resamples` rounds draws both sides anew with replacement (each at its
    /// own size) and takes the ratio; the interval runs from the (1 − level)/2 to the
    /// (1 + level)/2 quantile of those ratios (linear interpolation, as `FieldStatistics`).
    ///
    /// Deterministic for a seed (`SeededGenerator(seed:, stream: 5)`). Nil when a side is empty or
    /// the denominator's mean is 0 (the ratio is then undefined); a round whose resampled
    /// denominator has mean 0 counts as an infinite ratio.
    public static func ratioOfMeans(_ numerator: [Double], _ denominator: [Double], resamples: Int = 1000,
                                    level: Double = 0.95, seed: UInt64 = 0) -> Interval? {
        precondition(resamples > 0 && level > 0 && level < 1, "Bootstrap: \(resamples) resamples at level \(level)")
        guard !numerator.isEmpty, !denominator.isEmpty, mean(denominator) > 0 else { return nil }
        var generator = SeededGenerator(seed: seed, stream: 5)
        var ratios = [Double]()
        ratios.reserveCapacity(resamples)
        for _ in 0..<resamples {
            let top = resampledMean(numerator, &generator), bottom = resampledMean(denominator, &generator)
            ratios.append(bottom > 0 ? top / bottom : .infinity)
        }
        ratios.sort()
        let tail = (1 - level) / 2
        return Interval(low: FieldStatistics.quantile(sorted: ratios, tail),
                        high: FieldStatistics.quantile(sorted: ratios, 1 - tail))
    }

    /// The mean of `values.count` draws with replacement from `values`.
    private static func resampledMean(_ values: [Double], _ generator: inout SeededGenerator) -> Double {
        var sum = 0.0
        for _ in values.indices { sum += values[generator.nextInt(below: values.count)] }
        return sum / Double(values.count)
    }

    private static func mean(_ values: [Double]) -> Double { values.reduce(0, +) / Double(values.count) }
}
