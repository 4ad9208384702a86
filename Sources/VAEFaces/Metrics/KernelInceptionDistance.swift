import CBLAS
import NeuralCore

/// The kernel distance between two feature sets (the KID when the features are those of the FID
/// Inception; Bińkowski et al., *Demystifying MMD GANs*, 2018): the unbiased estimate of MMD²
/// with the cubic polynomial kernel k(x, y) = (x·y / d + 1)³, averaged over random subsets.
///
/// The subsets follow torch-fidelity's defaults (`kid_subsets` 100, `kid_subset_size` 1000; the
/// KID paper's code uses 50 × 1000): each subset draws `subsetSize` rows of each set without
/// replacement, and the result is the mean and the standard deviation (NumPy's `np.std`,
/// population) of the subset estimates. With fewer rows than `subsetSize` in a set, the subsets
/// take as many rows as the smaller set has (torch-fidelity refuses instead).
public struct KernelInceptionDistance: Sendable, Equatable {
    /// The mean of the subset estimates.
    public var mean: Double
    /// Their standard deviation (population).
    public var std: Double
    /// Rows drawn from each set per subset.
    public var subsetSize: Int
    /// The unbiased MMD² of each subset.
    public var estimates: [Double]

    public static let defaultSubsets = 100
    public static let defaultSubsetSize = 1000

    /// One subset: rows of the first set and of the second, as many of each.
    public typealias Subset = (x: [Int], y: [Int])

    /// The KID of `x` against `y` over `subsets` subsets drawn from `seed`.
    public init(_ x: FeatureMatrix, _ y: FeatureMatrix, subsets: Int = KernelInceptionDistance.defaultSubsets,
                subsetSize: Int = KernelInceptionDistance.defaultSubsetSize, seed: UInt64 = 0) {
        let size = min(subsetSize, x.count, y.count)
        self.init(x, y, subsets: Self.subsets(x.count, y.count, subsets: subsets, size: size, seed: seed))
    }

    /// The KID of `x` against `y` over the given subsets (each at least 2 rows, as many from each set).
    public init(_ x: FeatureMatrix, _ y: FeatureMatrix, subsets: [Subset]) {
        precondition(x.dimension == y.dimension, "KernelInceptionDistance: \(x.dimension) features against \(y.dimension)")
        precondition(!subsets.isEmpty, "KernelInceptionDistance: no subsets")
        estimates = subsets.map { subset in
            Self.unbiasedMMD2(x.doubleRows(subset.x), y.doubleRows(subset.y), rows: subset.x.count, dimension: x.dimension)
        }
        subsetSize = subsets[0].x.count
        mean = estimates.reduce(0, +) / Double(estimates.count)
        let m = mean
        std = (estimates.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(estimates.count)).squareRoot()
    }

    /// `count` subsets of `size` rows of each set, without replacement within a subset
    /// (a partial Fisher–Yates shuffle per draw), from `seed` alone.
    public static func subsets(_ countX: Int, _ countY: Int, subsets count: Int, size: Int, seed: UInt64) -> [Subset] {
        precondition(size >= 2 && size <= min(countX, countY), "KernelInceptionDistance: subsets of \(size) rows from \(countX) and \(countY)")
        var generator = SeededGenerator(seed: seed)
        func draw(_ n: Int) -> [Int] {
            var pool = Array(0..<n)
            for i in 0..<size { pool.swapAt(i, i + generator.nextInt(below: n - i)) }
            return Array(pool.prefix(size))
        }
        return (0..<count).map { _ in (draw(countX), draw(countY)) }
    }

    /// The unbiased MMD² of two m × d Double blocks (torch-fidelity's `mmd2`):
    /// Σ_{i≠j} (k(xi, xj) + k(yi, yj)) / (m(m − 1)) − 2·Σ_{i,j} k(xi, yj) / m². The Gram matrices
    /// by DSYRK (upper triangle) and DGEMM.
    static func unbiasedMMD2(_ x: [Double], _ y: [Double], rows m: Int, dimension d: Int) -> Double {
        precondition(m >= 2, "KernelInceptionDistance: a subset needs at least 2 rows")
        let kernelScale = 1 / Double(d)
        @inline(__always) func k(_ dot: Double) -> Double {
            let t = dot * kernelScale + 1
            return t * t * t
        }
        var gram = [Double](repeating: 0, count: m * m)
        /// Σ_{i≠j} k over one set: twice the strict upper triangle.
        func offDiagonalSum(_ a: [Double]) -> Double {
            cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, Int32(m), Int32(d), 1, a, Int32(d), 0, &gram, Int32(m))
            var sum = 0.0
            for i in 0..<m {
                for j in (i + 1)..<m { sum += k(gram[i * m + j]) }
            }
            return 2 * sum
        }
        let within = offDiagonalSum(x) + offDiagonalSum(y)
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(m), Int32(d), 1, x, Int32(d), y, Int32(d), 0, &gram, Int32(m))
        let across = gram.reduce(0) { $0 + k($1) }
        return within / Double(m * (m - 1)) - 2 * across / Double(m * m)
    }
}
