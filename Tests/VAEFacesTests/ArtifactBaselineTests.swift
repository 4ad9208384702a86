import Foundation
import Testing
@testable import VAEFaces

/// The real-image baseline of ../shared/docs/artifact-metric.md §5, computed by an independent
/// implementation (Pillow decode, exact area resize, 8-bit rounding), against this tool's own
/// pipeline: the prepared cache of `../shared/data/celeba` (`preparedCelebA`, shared with the data
/// tests) scored by `ArtifactScoring.scoreCache`. Agreement checks the metric and the data
/// pipeline's crop and area resize at once.
@Suite(.enabled(if: sharedCelebA != nil, "needs ../shared/data/celeba next to the package"))
struct ArtifactBaselineTests {
    /// (field, mean, median, p95) of the spec's §5 table, as printed there.
    typealias Row = (field: ArtifactField, mean: Double, median: Double, p95: Double)

    static let testSplit: [Row] = [
        (.cb, 1.07e-5, 6.85e-6, 3.60e-5),
        (.cbLocal, 6.43e-4, 5.58e-4, 1.44e-3),
        (.cbRaw, 1.29e-4, 9.26e-5, 3.69e-4),
    ]
    static let allImages: [Row] = [
        (.cb, 1.04e-5, 5.77e-6, 3.40e-5),
        (.cbLocal, 6.31e-4, 5.09e-4, 1.48e-3),
        (.cbRaw, 1.32e-4, 9.39e-5, 3.74e-4),
        (.amp, 6.4e-4, 5.6e-4, 1.3e-3), (.ampLocal, 5.5e-3, 5.2e-3, 8.7e-3),
        (.cbCol, 5.1e-6, 1.6e-6, 2.1e-5), (.cbRow, 4.6e-6, 1.6e-6, 1.8e-5), (.cbDiag, 6.8e-7, 1.9e-7, 2.9e-6),
        (.p4, 8.7e-4, 6.9e-4, 2.1e-3), (.p8, 5.0e-3, 4.2e-3, 1.1e-2), (.p16, 3.1e-2, 2.8e-2, 6.3e-2),
    ]

    /// Whether `value` shows as `printed` when rounded to the significant digits printed
    /// (half a unit of the last digit either way, plus 0.1 % of slack for ties).
    static func rounds(_ value: Double, to printed: Double, digits: Int) -> Bool {
        let unit = pow(10, floor(log10(printed)) - Double(digits - 1))
        return abs(value - printed) <= 0.5 * unit * 1.001
    }

    @Test func testSplitAgreesWithTheSpecWithinOnePercent() throws {
        let cache = try #require(try preparedCelebA?.get().cache)
        let scores = try ArtifactScoring.scoreCache(cache, split: .test).scores
        let real = ArtifactAggregate(scores)
        #expect(real.n == 659 && real.nFlat == 0)
        for row in Self.testSplit {
            let s = real[row.field]
            print("artifact baseline, test split, \(row.field.rawValue): mean \(s.mean) (spec \(row.mean)), "
                  + "median \(s.median) (spec \(row.median)), p95 \(s.p95) (spec \(row.p95))")
            #expect(abs(s.mean / row.mean - 1) < 0.01, "\(row.field.rawValue) mean \(s.mean) vs \(row.mean)")
            #expect(abs(s.median / row.median - 1) < 0.01, "\(row.field.rawValue) median \(s.median) vs \(row.median)")
            #expect(Self.rounds(s.p95, to: row.p95, digits: 3), "\(row.field.rawValue) p95 \(s.p95) vs \(row.p95)")
        }
    }

    @Test func everyImageAgreesWithTheSpecToTheDigitsItPrints() throws {
        let cache = try #require(try preparedCelebA?.get().cache)
        let real = ArtifactAggregate(try ArtifactScoring.scoreCache(cache, split: nil).scores)
        #expect(real.n == 17_373 && real.nFlat == 0)
        for row in Self.allImages {
            let s = real[row.field]
            let digits = [ArtifactField.cb, .cbLocal, .cbRaw].contains(row.field) ? 3 : 2
            #expect(Self.rounds(s.mean, to: row.mean, digits: digits), "\(row.field.rawValue) mean \(s.mean) vs \(row.mean)")
            #expect(Self.rounds(s.median, to: row.median, digits: digits), "\(row.field.rawValue) median \(s.median) vs \(row.median)")
            #expect(Self.rounds(s.p95, to: row.p95, digits: digits), "\(row.field.rawValue) p95 \(s.p95) vs \(row.p95)")
        }
        // Real against real: the test split read against every image is near 1 on every reading.
        let test = try ArtifactScoring.scoreCache(cache, split: .test).scores
        let vs = ArtifactComparison(scores: test, reference: real)
        #expect(abs(vs[.cb].ratioMean! - 1) < 0.1 && abs(vs[.cbLocal].ratioMean! - 1) < 0.05)
        #expect(vs[.cbLocal].aboveRealP95 < 0.08)
    }
}
