import Foundation
import NeuralCore
import Testing
@testable import VAEFaces

/// Runs the library's resizer on a region of `image`.
func areaResize(_ image: Image8, x0: Int = 0, y0: Int = 0, size: (Int, Int)? = nil, output: (Int, Int)) -> [UInt8] {
    let (w, h) = size ?? (image.width, image.height)
    let resizer = AreaResizer(sourceWidth: w, sourceHeight: h, outputWidth: output.0, outputHeight: output.1)
    var out = [UInt8](repeating: 0, count: output.0 * output.1 * 3)
    var scratch = [Int64](repeating: -12345, count: resizer.scratchBytes / 8 + 1)
    image.pixels.withUnsafeBufferPointer { src in
        scratch.withUnsafeMutableBytes { s in
            resizer.resize(src.baseAddress! + (y0 * image.width + x0) * 3, sourceRowBytes: image.width * 3,
                           into: &out, scratch: s.baseAddress!)
        }
    }
    return out
}

/// Checks the resizer against the direct definition: equal after rounding, except where the
/// exact value is within 1e-9 of a half (a genuine tie, where either neighbour is acceptable).
func expectMatchesDefinition(_ ours: [UInt8], _ reference: [Double], _ label: String) {
    #expect(ours.count == reference.count)
    var mismatches = 0
    for i in reference.indices {
        let r = reference[i]
        let tie = abs(r - r.rounded(.down) - 0.5) < 1e-9
        if !(Double(ours[i]) == (r + 0.5).rounded(.down) || (tie && Double(ours[i]) == r.rounded(.down))) { mismatches += 1 }
    }
    #expect(mismatches == 0, "\(label): \(mismatches) of \(reference.count) values differ from the direct computation")
}

@Suite struct PreprocessTests {
    @Test func celebACropGeometry() throws {
        #expect(FaceCrop.celebA == FaceCrop(x: 19, y: 39, size: 140))
        // rows 39..178 and columns 19..158 inclusive
        #expect(FaceCrop.celebA.y + FaceCrop.celebA.size - 1 == 178 && FaceCrop.celebA.x + FaceCrop.celebA.size - 1 == 158)
        #expect(try FaceCrop.forImage(width: 178, height: 218).get() == FaceCrop.celebA)
        #expect(try FaceCrop.forImage(width: 300, height: 200).get() == FaceCrop(x: 50, y: 0, size: 200))
        #expect(try FaceCrop.forImage(width: 101, height: 250).get() == FaceCrop(x: 0, y: 74, size: 101))
        #expect(try FaceCrop.forImage(width: 64, height: 64).get() == FaceCrop(x: 0, y: 0, size: 64))
        if case .failure(let refusal) = FaceCrop.forImage(width: 63, height: 500) {
            #expect(refusal.reason == "63×500 is smaller than 64×64")
        } else {
            Issue.record("63×500 should be refused")
        }
    }

    @Test func weightTablesCoverEachOutputExactlyOnce() {
        // 140 → 64: g = gcd(140, 64) = 4, weights are overlaps in units of 1/16 pixel over 35.
        let taps = AreaResizer.Taps(source: 140, output: 64)
        #expect(taps.denominator == 35)
        for o in 0..<64 {
            let w = taps.weights[taps.offset[o]..<(taps.offset[o] + taps.count[o])]
            #expect(w.reduce(0, +) == 35)                       // the output spans 35/16 pixels
            #expect(taps.count[o] == 3 || taps.count[o] == 4)
            #expect(w.allSatisfy { $0 >= 1 && $0 <= 16 })        // a source pixel is 16/16
        }
        #expect(taps.first[0] == 0 && taps.first[63] + taps.count[63] == 140)
        // Output 0 covers [0, 2.1875): pixels 0 and 1 whole (16 + 16) and 3/16 of pixel 2.
        #expect(Array(taps.weights[0..<3]) == [16, 16, 3])
        // Every source pixel is covered exactly once in total (16/16).
        var perSource = [Int32](repeating: 0, count: 140)
        for o in 0..<64 { for t in 0..<taps.count[o] { perSource[taps.first[o] + t] += taps.weights[taps.offset[o] + t] } }
        #expect(perSource.allSatisfy { $0 == 16 })
        // Sizes with no common factor, and enlarging.
        for (n, m) in [(77, 64), (64, 64), (37, 11), (5, 8)] {
            let t = AreaResizer.Taps(source: n, output: m)
            var cover = [Int32](repeating: 0, count: n)
            for o in 0..<m {
                #expect(t.weights[t.offset[o]..<(t.offset[o] + t.count[o])].reduce(0, +) == Int32(t.denominator))
                for k in 0..<t.count[o] { cover[t.first[o] + k] += t.weights[t.offset[o] + k] }
            }
            #expect(Set(cover).count == 1, "\(n) → \(m)")
        }
    }

    @Test func areaResizeMatchesTheDirectDefinition() {
        for (seed, (w, h), (ow, oh)) in [(1, (140, 140), (64, 64)), (2, (140, 140), (64, 64)), (3, (100, 77), (64, 64)),
                                         (4, (64, 64), (64, 64)), (5, (37, 53), (11, 7)), (6, (500, 333), (64, 64))] {
            let image = randomImage(width: w, height: h, seed: UInt64(seed))
            let ours = areaResize(image, output: (ow, oh))
            expectMatchesDefinition(ours, naiveAreaResize(image, outputWidth: ow, outputHeight: oh), "\(w)×\(h) → \(ow)×\(oh)")
        }
        // A crop inside a larger image (the CelebA case): same as resizing the cut-out region.
        let big = randomImage(width: 178, height: 218, seed: 7)
        let ours = areaResize(big, x0: 19, y0: 39, size: (140, 140), output: (64, 64))
        expectMatchesDefinition(ours, naiveAreaResize(big, x0: 19, y0: 39, width: 140, height: 140, outputWidth: 64, outputHeight: 64), "crop")
    }

    @Test func multiplyShiftDivisionIsExact() throws {
        // CelebA: every numerator the 140 → 64 sums can give (≤ 511·1225), divisor 2·1225.
        let celebA = try #require(ExactDivider(divisor: 2450, maxNumerator: 511 * 1225))
        for n in UInt64(0)...(511 * 1225) { if celebA.divide(n) != n / 2450 { Issue.record("\(n) / 2450"); break } }
        // Other denominators (sizes up to ~2000 px), at the edges and random numerators.
        var g = SeededGenerator(seed: 5)
        for d in [1, 2, 3, 7, 35, 1000, 4095, 4097, 65_535, 1_000_003, 4_000_000] as [UInt64] {
            let maxN = 511 * d / 2
            let divider = try #require(ExactDivider(divisor: d, maxNumerator: maxN), "d = \(d)")
            var probes: [UInt64] = [0, 1, d - 1, d, d + 1, maxN - 1, maxN]
            for _ in 0..<10_000 { probes.append(g.next() % (maxN + 1)) }
            for n in probes where n <= maxN { #expect(divider.divide(n) == n / d, "\(n) / \(d)") }
        }
        #expect(ExactDivider(divisor: 3, maxNumerator: UInt64(1) << 40) == nil)
        // Fallback path (no 64-bit multiply-shift): 4001 × 3001 → 64 × 7, D = 4001 · 3001.
        let big = AreaResizer(sourceWidth: 4001, sourceHeight: 3001, outputWidth: 64, outputHeight: 7)
        #expect(big.divider == nil && big.columns.denominator == 4001 && big.rows.denominator == 3001)
        let image = randomImage(width: 4001, height: 3001, seed: 3)
        expectMatchesDefinition(areaResize(image, output: (64, 7)), naiveAreaResize(image, outputWidth: 64, outputHeight: 7), "4001×3001 → 64×7")
    }

    @Test func constantImagesStayConstant() {
        for value in [0, 1, 127, 128, 254, 255] {
            let image = Image8(width: 140, height: 140, fill: RGB8(UInt8(value), UInt8(255 - value), 77))
            let out = areaResize(image, output: (64, 64))
            #expect(out == Image8(width: 64, height: 64, fill: RGB8(UInt8(value), UInt8(255 - value), 77)).pixels)
        }
    }

    @Test func halvingIsTheMeanOfTwoByTwoBlocks() {
        let image = randomImage(width: 128, height: 128, seed: 11)
        let out = areaResize(image, output: (64, 64))
        for y in 0..<64 {
            for x in 0..<64 {
                for c in 0..<3 {
                    let v = [(0, 0), (1, 0), (0, 1), (1, 1)].map { Int(image.pixels[((2 * y + $0.1) * 128 + 2 * x + $0.0) * 3 + c]) }
                    let mean = (v.reduce(0, +) + 2) / 4               // round half up
                    #expect(Int(out[(y * 64 + x) * 3 + c]) == mean)
                }
            }
        }
    }

    /// Not pixel-centre sampling: an output pixel straddling a source edge mixes both sides.
    @Test func fractionalOverlapsAreWeighted() {
        // Only source column 2 is 255. Output column 0 covers [0, 2.1875), so column 2 enters
        // with weight 0.1875/2.1875 = 3/35; output column 1 covers [2.1875, 4.375), where it
        // has weight 0.8125/2.1875 = 13/35; output column 2 starts at 4.375 and sees none of it.
        var image = Image8(width: 140, height: 140, fill: RGB8(0, 0, 0))
        for y in 0..<140 { for c in 0..<3 { image.pixels[(y * 140 + 2) * 3 + c] = 255 } }
        let out = areaResize(image, output: (64, 64))
        #expect(out[0] == 22)                // 255·3/35 = 21.9
        #expect(out[3] == 95)                // 255·13/35 = 94.7
        #expect(out[6] == 0)
        // Sampling at pixel centres would have given 0 and 255 (or 0 and 0) here.
    }
}
