import Foundation
import NeuralCore
import Testing
@testable import VAEFaces

/// The FID and KID math against NumPy/SciPy: `Golden/fid_kid.json` holds random float32 feature
/// sets, the FID as pytorch-fid computes it (`scipy.linalg.sqrtm`, its eps fallback) and the KID
/// as torch-fidelity does (unbiased MMD², cubic kernel, subsets drawn by NumPy's `RandomState`).
@Suite struct FeatureDistanceTests {
    struct Golden: Decodable {
        struct FID: Decodable {
            var name: String
            var a: [[Float]], b: [[Float]]
            var fid: Double, offset: Bool, fid_with_offset: Double
        }
        struct KID: Decodable {
            struct Subset: Decodable { var x: [Int], y: [Int] }
            var x: [[Float]], y: [[Float]]
            var subsets: [Subset]
            var estimates: [Double]
            var mean: Double, std: Double
        }
        var fid: [FID]
        var kid: KID
    }

    static let golden: Golden = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden/fid_kid.json")
        return try! JSONDecoder().decode(Golden.self, from: Data(contentsOf: url))
    }()

    static func matrix(_ rows: [[Float]]) -> FeatureMatrix {
        FeatureMatrix(values: rows.flatMap { $0 }, count: rows.count, dimension: rows[0].count)
    }

    static func random(_ n: Int, _ d: Int, seed: UInt64, shift: Float = 0) -> FeatureMatrix {
        var g = SeededGenerator(seed: seed)
        return FeatureMatrix(values: (0..<(n * d)).map { _ in g.nextNormal() + shift }, count: n, dimension: d)
    }

    static func close(_ a: Double, _ b: Double, relative: Double) -> Bool { abs(a - b) <= relative * max(abs(a), abs(b)) }

    @Test func statisticsAreTheMeanAndTheUnbiasedCovariance() {
        let x = Self.random(23, 7, seed: 1, shift: 3)
        let s = FeatureStatistics(x), batched = FeatureStatistics(x, batch: 4)
        let n = 23.0
        for j in 0..<7 {
            let mean = (0..<23).reduce(0.0) { $0 + Double(x.values[$1 * 7 + j]) } / n
            #expect(Self.close(s.mean[j], mean, relative: 1e-14))
            for k in 0..<7 {
                let c = (0..<23).reduce(0.0) { $0 + (Double(x.values[$1 * 7 + j]) - mean) * (Double(x.values[$1 * 7 + k]) - mean) } / (n - 1)
                #expect(abs(s.covariance[j * 7 + k] - c) <= 1e-13 * s.covariance[j * 7 + j])
                #expect(abs(batched.covariance[j * 7 + k] - c) <= 1e-13 * s.covariance[j * 7 + j])
            }
        }
    }

    @Test func fidMatchesPytorchFIDOnSciPy() throws {
        for case_ in Self.golden.fid {
            let a = FeatureStatistics(Self.matrix(case_.a)), b = FeatureStatistics(Self.matrix(case_.b))
            let fid = try FrechetDistance(a, b)
            print("FID \(case_.name): \(fid.value) (SciPy \(case_.fid))")
            #expect(Self.close(fid.value, case_.fid, relative: 1e-6), "\(case_.name): \(fid.value) vs \(case_.fid)")
            #expect((fid.offset > 0) == case_.offset)
            // pytorch-fid's fallback: eps·I inside the square root only.
            let offset = try FrechetDistance(a, b, offset: FrechetDistance.fallbackOffset)
            #expect(Self.close(offset.value, case_.fid_with_offset, relative: 1e-6), "\(case_.name) with the offset")
            #expect(abs(offset.value - fid.value) > 1e-6 * fid.value || case_.a.count > case_.a[0].count)
        }
    }

    /// Symmetric and 0 for a set with itself, up to rounding: for full-rank covariances to 1e-10 of
    /// the trace; for singular ones (fewer vectors than features) the zero eigenvalues, computed
    /// as ±ε·λmax, have roots of √ε·λmax, so only to 1e-6.
    @Test func fidIsSymmetricAndZeroForASetWithItself() throws {
        for (n, d, tolerance) in [(200, 12, 1e-10), (9, 30, 1e-6)] {
            let a = FeatureStatistics(Self.random(n, d, seed: 4)), b = FeatureStatistics(Self.random(n + 5, d, seed: 5, shift: 0.5))
            let ab = try FrechetDistance(a, b), ba = try FrechetDistance(b, a), aa = try FrechetDistance(a, a)
            let trace = (0..<d).reduce(0.0) { $0 + a.covariance[$1 * d + $1] }
            print("FID \(n)×\(d): \(ab.value) vs \(ba.value); with itself \(aa.value), trace \(trace)")
            #expect(ab.offset == 0 && ab.value > 0.5 * Double(d) * 0.25 && abs(ab.value - ba.value) <= tolerance * trace)
            #expect(abs(aa.value) <= tolerance * trace)
        }
    }

    /// A square root that cannot be computed, even with pytorch-fid's offset, is an error, never a NaN FID.
    @Test func fidOfFeaturesWithoutAGaussianIsAnError() {
        var broken = Self.random(20, 6, seed: 2)
        broken.values[7] = .nan
        #expect(throws: VAEFacesError.self) {
            try FrechetDistance(FeatureStatistics(broken), FeatureStatistics(Self.random(20, 6, seed: 3)))
        }
    }

    @Test func kidMatchesTorchFidelityOnTheSameSubsets() {
        let g = Self.golden.kid
        let kid = KernelInceptionDistance(Self.matrix(g.x), Self.matrix(g.y), subsets: g.subsets.map { ($0.x, $0.y) })
        print("KID: \(kid.mean) ± \(kid.std) (NumPy \(g.mean) ± \(g.std))")
        #expect(kid.subsetSize == g.subsets[0].x.count && kid.estimates.count == g.estimates.count)
        for (mine, theirs) in zip(kid.estimates, g.estimates) {
            #expect(abs(mine - theirs) <= 1e-9 * g.mean, "\(mine) vs \(theirs)")
        }
        #expect(Self.close(kid.mean, g.mean, relative: 1e-9) && Self.close(kid.std, g.std, relative: 1e-7))
    }

    @Test func kidSubsetsDependOnTheSeedAloneAndTellSetsApart() {
        let x = Self.random(120, 16, seed: 7), same = Self.random(110, 16, seed: 8), shifted = Self.random(90, 16, seed: 9, shift: 0.4)
        let drawn = KernelInceptionDistance.subsets(120, 90, subsets: 3, size: 50, seed: 1)
        for subset in drawn {
            #expect(Set(subset.x).count == 50 && subset.x.allSatisfy { (0..<120).contains($0) })
            #expect(Set(subset.y).count == 50 && subset.y.allSatisfy { (0..<90).contains($0) })
        }
        #expect(drawn.map(\.x) == KernelInceptionDistance.subsets(120, 90, subsets: 3, size: 50, seed: 1).map(\.x))
        #expect(drawn.map(\.x) != KernelInceptionDistance.subsets(120, 90, subsets: 3, size: 50, seed: 2).map(\.x))

        let near = KernelInceptionDistance(x, same, subsets: 20, subsetSize: 1000, seed: 3)
        let far = KernelInceptionDistance(x, shifted, subsets: 20, subsetSize: 1000, seed: 3)
        #expect(near.subsetSize == 110 && far.subsetSize == 90, "the subsets shrink to the smaller set")
        #expect(near == KernelInceptionDistance(x, same, subsets: 20, subsetSize: 1000, seed: 3))
        #expect(abs(near.mean) < 3 * near.std + 1e-3 && far.mean > 10 * max(near.mean, near.std))
    }
}
