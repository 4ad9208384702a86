import Foundation
import Testing
import NeuralCore
import TensorIO
@testable import VAEFaces

@Suite struct ArtifactBatchTests {
    /// The direct DFT of one complex sequence.
    static func dft(_ re: [Double], _ im: [Double]) -> ([Double], [Double]) {
        let n = re.count
        var outRe = [Double](repeating: 0, count: n), outIm = outRe
        for k in 0..<n {
            for j in 0..<n {
                let a = -2 * Double.pi * Double(j * k % n) / Double(n)
                outRe[k] += re[j] * cos(a) - im[j] * sin(a)
                outIm[k] += re[j] * sin(a) + im[j] * cos(a)
            }
        }
        return (outRe, outIm)
    }

    @Test(arguments: [1, 2, 8, 64, 6, 12, 15])
    func fourierTransformMatchesTheDirectSum(_ n: Int) {
        var rng = SeededGenerator(seed: UInt64(n))
        let re = (0..<n).map { _ in Double(rng.nextUniform(-1, 1)) }, im = (0..<n).map { _ in Double(rng.nextUniform(-1, 1)) }
        let (expectRe, expectIm) = Self.dft(re, im)
        // Strided storage: element k at 3k.
        var r = [Double](repeating: 9, count: 3 * n), i = r
        for k in 0..<n { r[3 * k] = re[k]; i[3 * k] = im[k] }
        r.withUnsafeMutableBufferPointer { rp in
            i.withUnsafeMutableBufferPointer { ip in
                FourierTransform(length: n).transform(re: rp.baseAddress!, im: ip.baseAddress!, stride: 3)
            }
        }
        for k in 0..<n {
            #expect(abs(r[3 * k] - expectRe[k]) < 1e-12 * Double(n) && abs(i[3 * k] - expectIm[k]) < 1e-12 * Double(n))
        }
        #expect(r[1] == 9 && i[2] == 9, "values between the strided elements are untouched")

        // Several sequences side by side (element j of sequence m at 5j + m, m < 3): each as alone.
        let others = (0..<2).map { _ in (0..<n).map { _ in Double(rng.nextUniform(-1, 1)) } }
        var rr = [Double](repeating: 7, count: 5 * n), ii = [Double](repeating: 7, count: 5 * n)
        for k in 0..<n {
            rr[5 * k] = re[k]; ii[5 * k] = im[k]
            rr[5 * k + 1] = others[0][k]; ii[5 * k + 1] = 0
            rr[5 * k + 2] = 0; ii[5 * k + 2] = others[1][k]
        }
        rr.withUnsafeMutableBufferPointer { rp in
            ii.withUnsafeMutableBufferPointer { ip in
                FourierTransform(length: n).transform(re: rp.baseAddress!, im: ip.baseAddress!, stride: 5, count: 3)
            }
        }
        let second = Self.dft(others[0], [Double](repeating: 0, count: n))
        let third = Self.dft([Double](repeating: 0, count: n), others[1])
        for k in 0..<n {
            let tolerance = 1e-12 * Double(n)
            #expect(abs(rr[5 * k] - expectRe[k]) < tolerance && abs(ii[5 * k] - expectIm[k]) < tolerance)
            #expect(abs(rr[5 * k + 1] - second.0[k]) < tolerance && abs(ii[5 * k + 1] - second.1[k]) < tolerance)
            #expect(abs(rr[5 * k + 2] - third.0[k]) < tolerance && abs(ii[5 * k + 2] - third.1[k]) < tolerance)
            #expect(rr[5 * k + 3] == 7 && ii[5 * k + 4] == 7)
        }
    }

    @Test(arguments: [(16, 16), (12, 20), (8, 6)])
    func powerSpectrumMatchesTheDirect2DDFT(_ size: (Int, Int)) {
        let image = TestImage.textured(channels: 3, height: size.0, width: size.1, seed: 4)
        let n = size.0 * size.1
        var planes = [Double](repeating: 0, count: 3 * n)
        for c in 0..<3 { for y in 0..<size.0 { for x in 0..<size.1 { planes[c * n + y * size.1 + x] = image[c, y, x] } } }
        var power = [Double](repeating: 0, count: n)
        planes.withUnsafeBufferPointer { p in
            power.withUnsafeMutableBufferPointer { out in
                PowerSpectrum(height: size.0, width: size.1).addPower(of: p.baseAddress!, channels: 3, into: out.baseAddress!)
            }
        }
        let direct = (0..<3).map { Reference.power(image, channel: $0) }
        for u in 0..<size.0 {
            for v in 0..<size.1 {
                let expected = direct[0][u][v] + direct[1][u][v] + direct[2][u][v]
                #expect(nearlyEqual(power[u * size.1 + v], expected, 1e-9, floor: 1e-6))
            }
        }
    }

    @Test func batchScoresEqualSingleScoresAndMapsAreMeans() throws {
        let images = (0..<7).map { TestImage.textured(channels: 3, height: 16, width: 24, seed: UInt64($0)) }
            + [TestImage(channels: 3, height: 16, width: 24) { _, _, _ in 0.5 }]       // flat
            + [TestImage.noise(channels: 3, height: 32, width: 32, seed: 1)]           // another size
        let result = ArtifactBatch.run(count: images.count + 1, maps: ArtifactMapOptions(spectrum: true, heatmap: true)) { i, worker in
            guard i < images.count else { throw FileError(file: "missing.png", "no such file") }
            return images[i].pixels.withUnsafeBufferPointer {
                worker.score(planar: $0, channels: 3, height: images[i].height, width: images[i].width)
            }
        }
        #expect(result.outcomes.count == images.count + 1)
        for (i, image) in images.enumerated() { #expect(try result.outcomes[i].get() == image.score()) }
        if case .failure(let error) = result.outcomes.last! {
            #expect("\(error)" == "missing.png: no such file")
        } else {
            Issue.record("the failing image must be recorded as a failure")
        }
        let maps = try #require(result.maps)
        #expect(maps.height == 16 && maps.width == 24 && maps.count == 8 && maps.spectrumCount == 7)
        #expect(result.leftOutOfMaps == 1)
        // Heatmap: the mean of the per-image tile maps; its sum is the mean cb_local.
        let tiles = try #require(maps.tileCbLocal)
        let meanLocal = images[0..<8].map { $0.score().cbLocal }.reduce(0, +) / 8
        #expect(nearlyEqual(tiles.reduce(0, +), meanLocal, 1e-12))
        let reference = images[0..<7].map { Reference.residualForm($0).tileMap }   // + the flat image's zeros
        for t in tiles.indices { #expect(nearlyEqual(tiles[t], reference.map { $0[t] }.reduce(0, +) / 8, 1e-9, floor: 1e-12)) }
        // Spectrum: the mean over the non-flat images of log10(P / (H·W) + 1e-12).
        let logPower = try #require(maps.logPower)
        for (u, v) in [(0, 0), (8, 0), (0, 12), (8, 12), (3, 5)] {
            var expected = 0.0
            for image in images[0..<7] {
                let p = (0..<3).map { Reference.power(image, channel: $0)[u][v] }.reduce(0, +)
                expected += log10(p / Double(16 * 24) + 1e-12) / 7
            }
            #expect(nearlyEqual(logPower[u * 24 + v], expected, 1e-9), "bin (\(u), \(v))")
        }
        let centered = try #require(maps.centeredLogPower)
        #expect(centered[8 * 24 + 12] == logPower[0], "DC in the middle")
        #expect(centered[0] == logPower[8 * 24 + 12], "(H/2, W/2) in the corner")
    }
}
