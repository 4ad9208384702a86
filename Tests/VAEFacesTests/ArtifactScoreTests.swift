import Foundation
import Testing
import NeuralCore
@testable import VAEFaces

/// `ArtifactScorer` against the independent computations of `Reference`, and the properties the
/// spec (../shared/docs/artifact-metric.md) promises.
@Suite struct ArtifactScoreTests {
    static let sizes: [(Int, Int, Int)] = [(3, 64, 64), (3, 20, 36), (1, 18, 26), (2, 40, 24), (3, 6, 10), (1, 4, 4)]

    @Test(arguments: 0..<sizes.count)
    func residualFieldsMatchNaiveMapsAndTaperedSums(_ k: Int) {
        let (c, h, w) = Self.sizes[k]
        for image in [TestImage.textured(channels: c, height: h, width: w, seed: UInt64(k)),
                      TestImage.noise(channels: c, height: h, width: w, seed: UInt64(100 + k))] {
            let grid = ArtifactScorer.tileGrid(height: h, width: w)
            var tiles = [Double](repeating: -1, count: grid.rows * grid.columns)
            let s = tiles.withUnsafeMutableBufferPointer { image.score(tileMap: $0) }
            let naive = Reference.residualForm(image)
            let tapered = Reference.taperedForm(image)
            #expect(!s.flat)
            for r in [naive, tapered] {
                #expect(nearlyEqual(s.cb, r.cb), "cb \(s.cb) vs \(r.cb) at \(c)×\(h)×\(w)")
                #expect(nearlyEqual(s.cbLocal, r.cbLocal), "cb_local \(s.cbLocal) vs \(r.cbLocal)")
                #expect(nearlyEqual(s.cbCol, r.cbCol, floor: 1e-12), "cb_col \(s.cbCol) vs \(r.cbCol)")
                #expect(nearlyEqual(s.cbRow, r.cbRow, floor: 1e-12), "cb_row \(s.cbRow) vs \(r.cbRow)")
                #expect(nearlyEqual(s.cbDiag, r.cbDiag, floor: 1e-12), "cb_diag \(s.cbDiag) vs \(r.cbDiag)")
                #expect(nearlyEqual(s.amp, r.amp), "amp \(s.amp) vs \(r.amp)")
                #expect(nearlyEqual(s.ampLocal, r.ampLocal), "amp_local \(s.ampLocal) vs \(r.ampLocal)")
                #expect(s.cbChannel.count == c)
                for i in 0..<c { #expect(nearlyEqual(s.cbChannel[i], r.cbChannel[i], floor: 1e-12), "cb_channel[\(i)]") }
                for t in tiles.indices { #expect(nearlyEqual(tiles[t], r.tileMap[t], floor: 1e-12), "tile \(t)") }
            }
            // The two reference forms agree with each other too (they share no code).
            #expect(nearlyEqual(naive.cb, tapered.cb, 1e-9) && nearlyEqual(naive.cbLocal, tapered.cbLocal, 1e-9))
            #expect(nearlyEqual(s.cb, s.cbCol + s.cbRow + s.cbDiag, 1e-12))
            #expect(nearlyEqual(tiles.reduce(0, +), s.cbLocal, 1e-12))
        }
    }

    @Test(arguments: 0..<sizes.count)
    func rawAndLatticeFieldsMatchADirectDFT(_ k: Int) {
        let (c, h, w) = Self.sizes[k]
        let image = TestImage.textured(channels: c, height: h, width: w, seed: UInt64(7 + k))
        let s = image.score()
        #expect(nearlyEqual(s.cbRaw, Reference.latticeDFT(image, period: 2), 1e-9), "cb_raw at \(c)×\(h)×\(w)")
        #expect(nearlyEqual(s.cbRaw, Reference.phaseForm(image), 1e-9), "cb_raw phase form")
        // Lattices larger than the image are empty: the score is 0.
        for (p, value) in [(4, s.p4), (8, s.p8), (16, s.p16)] {
            if h >= p && w >= p {
                let direct = Reference.latticeDFT(image, period: p)
                #expect(nearlyEqual(value, direct, 1e-9), "p\(p) \(value) vs DFT \(direct) at \(c)×\(h)×\(w)")
            } else {
                #expect(value == 0, "p\(p) of a \(h)×\(w) image")
            }
        }
    }

    @Test func latticesAreCumulativeWhenNothingIsCropped() {
        let s = TestImage.textured(channels: 3, height: 32, width: 48, seed: 3).score()
        #expect(s.cbRaw <= s.p4 && s.p4 <= s.p8 && s.p8 <= s.p16 && s.p16 <= 1)
    }

    @Test func linearRampLeaksIntoRawButNotIntoCb() {
        // Spec §3.2: for a pure linear ramp along x, cb_raw = 3/(W² − 1); the border-corrected cb is 0.
        let w = 64
        let ramp = TestImage(channels: 1, height: 16, width: w) { _, _, x in Double(x) / Double(w) }
        let s = ramp.score()
        #expect(nearlyEqual(s.cbRaw, 3 / Double(w * w - 1), 1e-6), "cb_raw \(s.cbRaw)")
        #expect(s.cb < 1e-12 && s.cbLocal < 1e-12, "cb \(s.cb), cb_local \(s.cbLocal)")
        // Quadratic content in both directions is removed exactly too.
        let bowl = TestImage(channels: 1, height: 32, width: 32) { _, y, x in
            0.2 + 0.3 * Double(x * x) / 1024 + 0.2 * Double(y * y) / 1024 + 0.1 * Double(x * y) / 1024
        }
        #expect(bowl.score().cbLocal < 1e-12)
    }

    @Test func nearestNeighbourUpsamplingHasNoRawStride2Energy() {
        let small = TestImage.noise(channels: 3, height: 16, width: 16, seed: 5)
        let big = TestImage(channels: 3, height: 32, width: 32) { c, y, x in small[c, y / 2, x / 2] }
        let s = big.score()
        #expect(s.cbRaw < 1e-14, "four identical phases: cb_raw \(s.cbRaw)")
        #expect(s.cbLocal > 1e-3, "the 2×2 blocks are stride-2 structure for the border-corrected score")
    }

    @Test func scaleAndOffsetInvariance() {
        let image = TestImage.textured(channels: 3, height: 32, width: 40, seed: 11)
        let a = image.score()
        // Values chosen exactly representable in Float after the map (×0.5 is exact; +0.25 rounds).
        let b = image.map { 0.5 * $0 + 0.25 }.score()
        let c = image.map { 2 * $0 }.score()
        for other in [b, c] {
            for field in ArtifactField.allCases where field != .amp && field != .ampLocal {
                #expect(nearlyEqual(other[field], a[field], 1e-5, floor: 1e-9), "\(field.rawValue): \(other[field]) vs \(a[field])")
            }
        }
        #expect(nearlyEqual(b.amp, 0.5 * a.amp, 1e-5) && nearlyEqual(b.ampLocal, 0.5 * a.ampLocal, 1e-5))
        #expect(nearlyEqual(c.amp, 2 * a.amp, 1e-6) && nearlyEqual(c.ampLocal, 2 * a.ampLocal, 1e-6))
    }

    @Test func addedCheckerboardReadsItsAmplitudeAndScoresRiseWithIt() {
        let base = TestImage.smooth(channels: 3, height: 64, width: 64, seed: 21)
        let baseScores = base.score()
        var previous = baseScores
        for a in [0.0005, 0.001, 0.003, 0.01, 0.03, 0.1] {
            let s = base.map { $0 }.addingPattern(a) { y, x in (x + y) % 2 == 0 ? 1 : -1 }.score()
            // A smooth image has almost no stride-2 content of its own: amp reads A.
            #expect(abs(s.amp - a) < 0.02 * a, "amp \(s.amp) for A = \(a)")
            #expect(abs(s.ampLocal - a) < 0.05 * a, "amp_local \(s.ampLocal) for A = \(a)")
            for field in [ArtifactField.cb, .cbLocal, .cbDiag, .amp, .ampLocal, .cbRaw, .p4, .p8, .p16] {
                #expect(s[field] > previous[field], "\(field.rawValue) must rise with A = \(a)")
            }
            #expect(s.cbDiag > 1e3 * (s.cbCol + s.cbRow), "a checkerboard shows in cb_diag")
            previous = s
        }
        // On a quadratic base the reading is exact.
        let bowl = TestImage(channels: 3, height: 32, width: 32) { c, y, x in
            0.3 + 0.1 * Double(c) + 0.2 * Double(x * x + y * y) / 2048
        }
        let exact = bowl.addingPattern(0.03) { y, x in (x + y) % 2 == 0 ? 1 : -1 }.score()
        #expect(nearlyEqual(exact.amp, 0.03, 1e-5) && nearlyEqual(exact.ampLocal, 0.03, 1e-5), "amp \(exact.amp)")
    }

    @Test func stripesShowOnlyInTheirOwnTerm() {
        let base = TestImage.smooth(channels: 3, height: 48, width: 64, seed: 4)
        let alongX = base.addingPattern(0.02) { _, x in x % 2 == 0 ? 1 : -1 }.score()
        let alongY = base.addingPattern(0.02) { y, _ in y % 2 == 0 ? 1 : -1 }.score()
        #expect(alongX.cbCol > 1e3 * (alongX.cbRow + alongX.cbDiag), "(−1)^x stripes: \(alongX.cbCol) \(alongX.cbRow) \(alongX.cbDiag)")
        #expect(alongY.cbRow > 1e3 * (alongY.cbCol + alongY.cbDiag), "(−1)^y stripes: \(alongY.cbRow) \(alongY.cbCol) \(alongY.cbDiag)")
        #expect(abs(alongX.amp - 0.02) < 0.02 * 0.02 && abs(alongY.amp - 0.02) < 0.02 * 0.02)
    }

    @Test func signFlippingCheckerboardRaisesLocalFarMoreThanGlobal() {
        let base = TestImage.smooth(channels: 3, height: 64, width: 64, seed: 8)
        let plain = base.addingPattern(0.02) { y, x in (x + y) % 2 == 0 ? 1 : -1 }.score()
        let flipping = base.addingPattern(0.02) { y, x in
            ((x + y) % 2 == 0 ? 1 : -1) * ((x / 16 + y / 16) % 2 == 0 ? 1 : -1)
        }.score()
        let clean = base.score()
        #expect(flipping.cbLocal > 100 * clean.cbLocal, "the local score sees it")
        #expect(flipping.cbLocal > 100 * flipping.cb, "cb_local \(flipping.cbLocal) vs cb \(flipping.cb)")
        // Most of a plain checkerboard's local energy (the residuals at the 16-px sign flips are damped).
        #expect(flipping.cbLocal > 0.7 * plain.cbLocal && flipping.cbLocal < plain.cbLocal)
        #expect(plain.cbLocal >= plain.cb * (1 - 1e-4))
    }

    @Test(arguments: [0.0, 0.5, 1.0])
    func flatImagesScoreZeroWithoutNaN(_ value: Double) {
        let image = TestImage(channels: 3, height: 16, width: 24) { _, _, _ in value }
        let grid = ArtifactScorer.tileGrid(height: 16, width: 24)
        var tiles = [Double](repeating: 7, count: grid.rows * grid.columns)
        let s = tiles.withUnsafeMutableBufferPointer { image.score(tileMap: $0) }
        #expect(s == .flat(channels: 3))
        #expect(tiles.allSatisfy { $0 == 0 })
    }

    @Test func aFlatChannelScoresZeroAloneWhileTheOthersScore() {
        let textured = TestImage.textured(channels: 3, height: 32, width: 32, seed: 2)
        let image = TestImage(channels: 3, height: 32, width: 32) { c, y, x in c == 1 ? 0.25 : textured[c, y, x] }
        let s = image.score()
        #expect(!s.flat)
        #expect(s.cbChannel[1] == 0)
        #expect(s.cbChannel[0] > 0 && s.cbChannel[2] > 0)
        let all = [s.cb, s.cbLocal, s.cbCol, s.cbRow, s.cbDiag, s.amp, s.ampLocal, s.cbRaw, s.p4, s.p8, s.p16] + s.cbChannel
        #expect(all.allSatisfy { $0.isFinite && $0 >= 0 })
    }

    @Test func oddSizesDropTheLastRowAndColumn() {
        let image = TestImage.textured(channels: 3, height: 21, width: 35, seed: 6)
        let odd = image.score()
        let even = image.cropped(height: 20, width: 34).score()
        #expect(odd == even)
        #expect(ArtifactScorer.tileGrid(height: 21, width: 35) == ArtifactScorer.tileGrid(height: 20, width: 34))
        // A single row or column leaves nothing: flat.
        #expect(TestImage.noise(channels: 1, height: 1, width: 9, seed: 1).score() == .flat(channels: 1))
    }

    @Test func interleavedBytesScoreLikeTheSamePlanarFloats() {
        let (h, w) = (24, 32)
        var bytes = [UInt8](repeating: 0, count: h * w * 3)
        var rng = SeededGenerator(seed: 9)
        for i in bytes.indices { bytes[i] = UInt8(rng.next() % 256) }
        let planar = TestImage(channels: 3, height: h, width: w) { c, y, x in Double(bytes[(y * w + x) * 3 + c]) / 255 }
        let fromBytes = bytes.withUnsafeBufferPointer { ArtifactScorer().score(interleaved: $0, channels: 3, height: h, width: w) }
        let fromFloats = planar.score()
        for field in ArtifactField.allCases {
            #expect(nearlyEqual(fromBytes[field], fromFloats[field], 1e-6, floor: 1e-12), "\(field.rawValue)")
        }
    }

    @Test func oneScorerReusedAcrossSizesGivesTheSameScoresAsFreshOnes() {
        let scorer = ArtifactScorer()
        for (k, (c, h, w)) in [(1, 8, 8), (3, 64, 64), (2, 10, 12), (3, 64, 64)].enumerated() {
            let image = TestImage.textured(channels: c, height: h, width: w, seed: UInt64(k))
            let reused = image.pixels.withUnsafeBufferPointer { scorer.score(planar: $0, channels: c, height: h, width: w) }
            #expect(reused == image.score())
        }
    }
}

extension TestImage {
    /// The image plus A·pattern(y, x) in every channel.
    func addingPattern(_ amplitude: Double, _ pattern: @escaping (Int, Int) -> Double) -> TestImage {
        TestImage(channels: channels, height: height, width: width) { c, y, x in self[c, y, x] + amplitude * pattern(y, x) }
    }
}
