import Foundation

/// The discrete Fourier transform of complex sequences of one length n, in place:
/// X[k] = Σ_j x[j]·e^(−2πi·jk/n). A radix-2 FFT when n is a power of two, the direct O(n²) sum
/// otherwise. Tables are built once; `transform` allocates nothing.
final class FourierTransform {
    let n: Int
    private let cosTable: [Double], sinTable: [Double]   // cos/sin(2π·m/n), m in 0..<n
    private let bitReversed: [Int]?                      // the FFT's input permutation
    private var scratchRe: [Double], scratchIm: [Double] // the direct sum's output

    init(length n: Int) {
        precondition(n >= 1, "FourierTransform of length \(n)")
        self.n = n
        cosTable = (0..<n).map { cos(2 * Double.pi * Double($0) / Double(n)) }
        sinTable = (0..<n).map { sin(2 * Double.pi * Double($0) / Double(n)) }
        if n & (n - 1) == 0 {
            let bits = n.trailingZeroBitCount
            bitReversed = (0..<n).map { i in
                var r = 0
                for b in 0..<bits where i & (1 << b) != 0 { r |= 1 << (bits - 1 - b) }
                return r
            }
        } else {
            bitReversed = nil
        }
        scratchRe = [Double](repeating: 0, count: n)
        scratchIm = [Double](repeating: 0, count: n)
    }

    /// Transforms the n values re[k·stride], im[k·stride] in place.
    func transform(re: UnsafeMutablePointer<Double>, im: UnsafeMutablePointer<Double>, stride: Int) {
        if let bitReversed {
            for i in 0..<n {
                let j = bitReversed[i]
                if j > i {
                    swap(&re[i * stride], &re[j * stride])
                    swap(&im[i * stride], &im[j * stride])
                }
            }
            var half = 1
            while half < n {
                let step = n / (2 * half)   // twiddle e^(−2πi·k/(2·half)) = table[k·step]
                var start = 0
                while start < n {
                    for k in 0..<half {
                        let wr = cosTable[k * step], wi = -sinTable[k * step]
                        let a = (start + k) * stride, b = (start + k + half) * stride
                        let tr = re[b] * wr - im[b] * wi
                        let ti = re[b] * wi + im[b] * wr
                        re[b] = re[a] - tr; im[b] = im[a] - ti
                        re[a] += tr; im[a] += ti
                    }
                    start += 2 * half
                }
                half *= 2
            }
        } else {
            for k in 0..<n {
                var sr = 0.0, si = 0.0
                for j in 0..<n {
                    let m = (j * k) % n
                    let xr = re[j * stride], xi = im[j * stride]
                    sr += xr * cosTable[m] + xi * sinTable[m]
                    si += xi * cosTable[m] - xr * sinTable[m]
                }
                scratchRe[k] = sr; scratchIm[k] = si
            }
            for k in 0..<n { re[k * stride] = scratchRe[k]; im[k * stride] = scratchIm[k] }
        }
    }
}

/// The 2-D power spectrum of multi-channel images of one size H × W: P(u, v) = Σ_c |F_c(u, v)|²,
/// with F_c the 2-D DFT of channel c (row transforms, then column transforms). Reusable, one per thread.
final class PowerSpectrum {
    let height: Int, width: Int
    private let rows: FourierTransform, columns: FourierTransform
    private var re: [Double], im: [Double]

    init(height: Int, width: Int) {
        self.height = height; self.width = width
        rows = FourierTransform(length: width)
        columns = FourierTransform(length: height)
        re = [Double](repeating: 0, count: height * width)
        im = re
    }

    /// Adds P(u, v) of the `channels` planes (H × W Doubles each, one after the other) to `power[u·W + v]`.
    func addPower(of planes: UnsafePointer<Double>, channels: Int, into power: UnsafeMutablePointer<Double>) {
        let n = height * width
        re.withUnsafeMutableBufferPointer { reBuffer in
            im.withUnsafeMutableBufferPointer { imBuffer in
                let re = reBuffer.baseAddress!, im = imBuffer.baseAddress!
                for c in 0..<channels {
                    re.update(from: planes + c * n, count: n)
                    im.update(repeating: 0, count: n)
                    for y in 0..<height { rows.transform(re: re + y * width, im: im + y * width, stride: 1) }
                    for x in 0..<width { columns.transform(re: re + x, im: im + x, stride: width) }
                    for i in 0..<n { power[i] += re[i] * re[i] + im[i] * im[i] }
                }
            }
        }
    }
}
