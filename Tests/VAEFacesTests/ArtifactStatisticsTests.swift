import Foundation
import Testing
import NeuralCore
@testable import VAEFaces

@Suite struct ArtifactStatisticsTests {
    @Test func statisticsMatchHandValues() {
        // mean 4; median 3; p95 at position 0.95·4 = 3.8: 4 + 0.8·(10 − 4) = 8.8;
        // std (ddof 1): squares 9 + 4 + 1 + 0 + 36 = 50, /4 = 12.5.
        let s = FieldStatistics([10, 2, 4, 1, 3])
        #expect(s.mean == 4 && s.median == 3 && s.min == 1 && s.max == 10)
        #expect(abs(s.p95 - 8.8) < 1e-12)
        #expect(abs(s.std - 12.5.squareRoot()) < 1e-12)
        // Even count: the median interpolates; p95 of 0...19 at 18.05.
        let t = FieldStatistics((0..<20).map(Double.init))
        #expect(t.median == 9.5 && abs(t.p95 - 18.05) < 1e-12)
        #expect(abs(t.std - (35.0).squareRoot()) < 1e-12)   // var of 0…19, ddof 1: 20·21/12 = 35
        // One value: std 0, every quantile the value.
        let one = FieldStatistics([0.25])
        #expect(one == FieldStatistics([0.25]) && one.std == 0 && one.p95 == 0.25 && one.median == 0.25)
    }

    static func scores(_ cb: Double, flat: Bool = false, channels: [Double] = [0, 0, 0]) -> ArtifactScores {
        var s = ArtifactScores.flat(channels: channels.count)
        s.cb = cb; s.cbLocal = 10 * cb; s.p16 = cb / 2
        s.cbChannel = channels
        s.flat = flat
        return s
    }

    @Test func aggregateCountsFlatImagesAsZero() {
        let set = [Self.scores(1), Self.scores(0, flat: true), Self.scores(3), Self.scores(0, flat: true)]
        let a = ArtifactAggregate(set)
        #expect(a.n == 4 && a.nFlat == 2)
        #expect(a[.cb].mean == 1 && a[.cb].median == 0.5 && a[.cbLocal].max == 30 && a[.p16].mean == 0.5)
        #expect(a.cbChannel.count == 3)
    }

    @Test func readingsAgainstAReference() {
        let real = ArtifactAggregate((1...20).map { Self.scores(Double($0)) })   // mean 10.5, median 10.5, p95 19.05
        let scored = [2.0, 4, 20, 21, 40].map { Self.scores($0) }                 // mean 17.4, median 20
        let vs = ArtifactComparison(scores: scored, reference: real)
        let r = vs[.cb]
        #expect(abs(r.ratioMean! - 17.4 / 10.5) < 1e-12)
        #expect(abs(r.db! - 10 * log10(17.4 / 10.5)) < 1e-12)
        #expect(abs(r.ratioMedian! - 20 / 10.5) < 1e-12)
        #expect(r.aboveRealP95 == 3.0 / 5)
        // A reference of 0 gives no ratio (JSON null), never infinity or NaN; a scored mean of 0 gives no dB.
        #expect(vs[.cbRaw].ratioMean == nil && vs[.cbRaw].db == nil && vs[.cbRaw].aboveRealP95 == 0)
        let zero = ArtifactComparison(scores: [Self.scores(0)], reference: real)
        #expect(zero[.cb].ratioMean == 0 && zero[.cb].db == nil)
        // Real against itself: ratios 1, about 5 % above its own p95.
        let same = ArtifactComparison(scores: (1...20).map { Self.scores(Double($0)) }, reference: real)
        #expect(same[.cb].ratioMean == 1 && same[.cb].db == 0 && same[.cb].aboveRealP95 == 0.05)
        #expect(same.cbChannel.count == 3)
    }

    @Test func jsonUsesTheSpecFieldNames() throws {
        let set = [Self.scores(1), Self.scores(2)]
        let agg = ArtifactAggregate(set)
        let object = try JSONSerialization.jsonObject(with: JSONEncoder().encode(agg)) as! [String: Any]
        let expected = Set(ArtifactField.allCases.map(\.rawValue) + ["cb_channel", "n", "n_flat"])
        #expect(Set(object.keys) == expected)
        #expect(Set((object["cb"] as! [String: Any]).keys) == ["mean", "median", "p95", "std", "min", "max"])
        #expect(try JSONDecoder().decode(ArtifactAggregate.self, from: JSONEncoder().encode(agg)) == agg)

        let vs = ArtifactComparison(scores: set, reference: ArtifactAggregate([Self.scores(0)]))
        let readings = try JSONSerialization.jsonObject(with: JSONEncoder().encode(vs)) as! [String: Any]
        #expect(Set(readings.keys) == Set(ArtifactField.allCases.map(\.rawValue) + ["cb_channel"]))
        let cb = readings["cb"] as! [String: Any]
        #expect(Set(cb.keys) == ["ratio_mean", "db", "ratio_median", "above_real_p95"])
        #expect(cb["ratio_mean"] is NSNull)

        let image = try JSONSerialization.jsonObject(with: JSONEncoder().encode(Self.scores(1))) as! [String: Any]
        #expect(Set(image.keys) == Set(ArtifactField.allCases.map(\.rawValue) + ["cb_channel", "flat"]))
    }
}
