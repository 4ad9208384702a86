import Foundation

/// The discrete Fourier transform of complex sequences of one length n, in place:
/// X[k] = Σ_j x[j]·e^(−2πi·jk/n). A radix-2 FFT when n is a power of two, the direct O(n²) sum
/// otherwise. Tables are built once; `transform` allocates nothing.
///
/// `transform` works on `count` sequences side by side: element j of sequence m is at
/// `j·stride + m`, so the columns of a row-major matrix are transformed a whole row at a time
/// (contiguous, vectorisable inner loops).
final class FourierTransform {
    let n: Int
    private let cosTable: UnsafeMutablePointer<Double>   // cos(2π·m/n), m in 0..<n
    private let sinTable: UnsafeMutablePointer<Double>   // sin(2π·m/n)
    private let bitReversed: UnsafeMutablePointer<Int>?  // the FFT's input permutation
    private var scratch: UnsafeMutablePointer<Double>    // the direct sum's output, 2·capacity
    private var scratchCapacity = 0

    init(length n: Int) {
        precondition(n >= 1, "FourierTransform of length \(n)")
        self.n = n
        cosTable = .allocate(capacity: n)
        sinTable = .allocate(capacity: n)
        for m in 0..<n {
            cosTable[m] = cos(2 * Double.pi * Double(m) / Double(n))
            sinTable[m] = sin(2 * Double.pi * Double(m) / Double(n))
        }
        if n & (n - 1) == 0 {
            let bits = n.trailingZeroBitCount
            let table = UnsafeMutablePointer<Int>.allocate(capacity: n)
            for i in 0..<n {
                var r = 0
                for b in 0..<bits where i & (1 << b) != 0 { r |= 1 << (bits - 1 - b) }
                table[i] = r
            }
            bitReversed = table
        } else {
            bitReversed = nil
        }
        scratch = .allocate(capacity: 1)
    }

    deinit {
        cosTable.deallocate(); sinTable.deallocate(); bitReversed?.deallocate(); scratch.deallocate()
    }

    /// Transforms `count` sequences in place: element j of sequence m at re/im[j·stride + m].
    func transform(re: UnsafeMutablePointer<Double>, im: UnsafeMutablePointer<Double>, stride: Int, count: Int = 1) {
        if let bitReversed {
            for i in 0..<n {
                let j = bitReversed[i]
                if j > i {
                    for m in 0..<count {
                        swap(&re[i * stride + m], &re[j * stride + m])
                        swap(&im[i * stride + m], &im[j * stride + m])
                    }
                }
            }
            var half = 1
            while half < n {
                let step = n / (2 * half)   // twiddle e^(−2πi·k/(2·half)) = table[k·step]
                var start = 0
                while start < n {
                    for k in 0..<half {
                        let wr = cosTable[k * step], wi = -sinTable[k * step]
                        let ar = re + (start + k) * stride, ai = im + (start + k) * stride
                        let br = re + (start + k + half) * stride, bi = im + (start + k + half) * stride
                        for m in 0..<count {
                            let tr = br[m] * wr - bi[m] * wi
                            let ti = br[m] * wi + bi[m] * wr
                            br[m] = ar[m] - tr; bi[m] = ai[m] - ti
                            ar[m] += tr; ai[m] += ti
                        }
                    }
                    start += 2 * half
                }
                half *= 2
            }
        } else {
            if scratchCapacity < n * count {
                scratch.deallocate()
                scratchCapacity = n * count
                scratch = .allocate(capacity: 2 * scratchCapacity)
            }
            let outRe = scratch, outIm = scratch + n * count
            for k in 0..<n {
                for m in 0..<count { outRe[k * count + m] = 0; outIm[k * count + m] = 0 }
                for j in 0..<n {
                    let t = (j * k) % n
                    let c = cosTable[t], s = sinTable[t]
                    let xr = re + j * stride, xi = im + j * stride
                    let yr = outRe + k * count, yi = outIm + k * count
                    for m in 0..<count {
                        yr[m] += xr[m] * c + xi[m] * s
                        yi[m] += xi[m] * c - xr[m] * s
                    }
                }
            }
            for k in 0..<n {
                (re + k * stride).update(from: outRe + k * count, count: count)
                (im + k * stride).update(from: outIm + k * count, count: count)
            }
        }
    }
}

/// The 2-D power spectrum of multi-channel images of one size H × W: P(u, v) = Σ_c |F_c(u, v)|²,
/// with F_c the 2-D DFT of channel c. Reusable, one per thread.
///
/// Both passes run as vectorised column transforms: the channel is transposed, transformed along
/// x for every y at once, and, since a real image's spectrum is Hermitian (F(u, v) = conj F(−u, −v)),
/// only the columns v ≤ W/2 are transposed back and transformed along y; the power of the other
/// columns is mirrored from them.
final class PowerSpectrum {
    let height: Int, width: Int
    private let alongX: FourierTransform, alongY: FourierTransform
    private let half: Int
    private let buffer: UnsafeMutablePointer<Double>   // tRe, tIm (W × H), gRe, gIm (H × (W/2 + 1))

    init(height: Int, width: Int) {
        precondition(width >= 1 && height >= 1, "PowerSpectrum of \(height)×\(width)")
        self.height = height; self.width = width
        alongX = FourierTransform(length: width)
        alongY = FourierTransform(length: height)
        half = width / 2
        buffer = .allocate(capacity: 2 * width * height + 2 * height * (half + 1))
    }

    deinit { buffer.deallocate() }

    /// Adds P(u, v) of the `channels` planes (H × W Doubles each, one after the other) to `power[u·W + v]`.
    func addPower(of planes: UnsafePointer<Double>, channels: Int, into power: UnsafeMutablePointer<Double>) {
        let (h, w, n, columns) = (height, width, height * width, half + 1)
        let tRe = buffer, tIm = buffer + n, gRe = buffer + 2 * n, gIm = gRe + h * columns
        for c in 0..<channels {
            let x = planes + c * n
            // t[x][y] = X[y][x]: the DFT along x, for all y side by side.
            for y in 0..<h { for i in 0..<w { tRe[i * h + y] = x[y * w + i] } }
            tIm.update(repeating: 0, count: n)
            alongX.transform(re: tRe, im: tIm, stride: h, count: h)
            // g[y][v] = t[v][y] for v ≤ W/2: the DFT along y, for those columns side by side.
            for y in 0..<h {
                for v in 0..<columns { gRe[y * columns + v] = tRe[v * h + y]; gIm[y * columns + v] = tIm[v * h + y] }
            }
            alongY.transform(re: gRe, im: gIm, stride: columns, count: columns)
            for u in 0..<h {
                let row = power + u * w, g = u * columns, mirror = ((h - u) % h) * columns
                for v in 0..<columns { row[v] += gRe[g + v] * gRe[g + v] + gIm[g + v] * gIm[g + v] }
                for v in columns..<max(columns, w) {
                    let i = mirror + w - v
                    row[v] += gRe[i] * gRe[i] + gIm[i] * gIm[i]
                }
            }
        }
    }
}
