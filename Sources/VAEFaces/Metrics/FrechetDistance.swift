import CBLAS

/// The Fréchet distance between the Gaussians of two feature sets (the FID when the features
/// are those of the FID Inception):
///
///     d² = |μ1 − μ2|² + tr Σ1 + tr Σ2 − 2·tr (Σ1·Σ2)^½
///
/// pytorch-fid takes the square root of the non-symmetric product with `scipy.linalg.sqrtm`.
/// Here tr (Σ1·Σ2)^½ = tr (Σ1^½·Σ2·Σ1^½)^½ (the two products are similar), computed stably in
/// Double: Σ1^½ = V·diag(√λ)·Vᵀ from the eigendecomposition of Σ1, then the eigenvalues μ of the
/// symmetric positive semi-definite M = Σ1^½·Σ2·Σ1^½ (both by LAPACK `dsyevd`), tr = Σ √max(μ, 0).
/// A singular product (fewer images than features) is no failure: its zero eigenvalues have
/// zero roots, as scipy's `sqrtm` gives them (the golden tests hold both to the same digits).
/// When the square root cannot be computed at all, it is computed again with eps·I added to both
/// covariances inside the root, pytorch-fid's fallback (its traces stay those of Σ1 and Σ2).
public struct FrechetDistance: Sendable, Equatable {
    /// d², in squared feature units.
    public var value: Double
    /// The eps added to the covariances inside the square root (0 unless the fallback was taken).
    public var offset: Double

    /// pytorch-fid's eps of the fallback.
    public static let fallbackOffset = 1e-6

    public init(_ a: FeatureStatistics, _ b: FeatureStatistics, fallbackOffset eps: Double = FrechetDistance.fallbackOffset) throws {
        do {
            self = try FrechetDistance(a, b, offset: 0)
        } catch {
            self = try FrechetDistance(a, b, offset: eps)
        }
    }

    /// d² with `offset`·I added to both covariances inside the square root.
    init(_ a: FeatureStatistics, _ b: FeatureStatistics, offset: Double) throws {
        precondition(a.dimension == b.dimension, "FrechetDistance: \(a.dimension) features against \(b.dimension)")
        let d = a.dimension
        var squaredDistance = 0.0, traces = 0.0
        for j in 0..<d {
            squaredDistance += (a.mean[j] - b.mean[j]) * (a.mean[j] - b.mean[j])
            traces += a.covariance[j * d + j] + b.covariance[j * d + j]
        }
        let root = try Self.traceOfSquareRoot(a.covariance, b.covariance, dimension: d, offset: offset)
        value = squaredDistance + traces - 2 * root
        self.offset = offset
    }

    /// tr ((S1 + offset·I)·(S2 + offset·I))^½ for symmetric positive semi-definite S1, S2 (row-major d × d).
    static func traceOfSquareRoot(_ s1: [Double], _ s2: [Double], dimension d: Int, offset: Double) throws -> Double {
        let n = Int32(d)
        // Σ1^½ = Vᵀ·diag(√λ)·V, V's rows the eigenvectors; eigenvalues below 0 are rounding: 0.
        let eigen = try SymmetricEigen(s1, dimension: d, vectors: true)
        let v = eigen.vectors!
        var scaled = v
        for k in 0..<d {
            let root = max(eigen.values[k] + offset, 0).squareRoot()
            for j in 0..<d { scaled[k * d + j] *= root }
        }
        var rootS1 = [Double](repeating: 0, count: d * d)
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n, n, n, 1, v, n, scaled, n, 0, &rootS1, n)
        // M = Σ1^½·(S2 + offset·I)·Σ1^½.
        var shifted = s2
        for j in 0..<d { shifted[j * d + j] += offset }
        var left = [Double](repeating: 0, count: d * d), m = [Double](repeating: 0, count: d * d)
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, rootS1, n, shifted, n, 0, &left, n)
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, left, n, rootS1, n, 0, &m, n)
        return try SymmetricEigen(m, dimension: d, vectors: false).values.reduce(0) { $0 + max($1, 0).squareRoot() }
    }
}
