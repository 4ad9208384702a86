import CBLAS

/// The eigendecomposition of a real symmetric matrix by LAPACK's divide and conquer (`dsyevd`,
/// exported by OpenBLAS), in Double.
struct SymmetricEigen {
    /// The eigenvalues, ascending.
    var values: [Double]
    /// With vectors: row k (`vectors[k·n ..< (k+1)·n]`) is the unit eigenvector of `values[k]`.
    var vectors: [Double]?

    /// Decomposes the row-major n × n symmetric `matrix` (only its upper triangle is read).
    /// Throws when LAPACK does not converge or the result is not finite.
    init(_ matrix: [Double], dimension n: Int, vectors wanted: Bool) throws {
        precondition(matrix.count == n * n, "SymmetricEigen: \(matrix.count) values are not \(n)²")
        // Row-major upper = column-major lower; the eigenvectors come back as the columns of the
        // column-major result, which are the rows of it read row-major.
        var a = matrix
        var w = [Double](repeating: 0, count: n)
        var jobz = CChar(UInt8(ascii: wanted ? "V" : "N")), uplo = CChar(UInt8(ascii: "L"))
        var size = Int32(n), info: Int32 = 0
        var lwork: Int32 = -1, liwork: Int32 = -1
        var workSize = 0.0, iworkSize: Int32 = 0
        dsyevd_(&jobz, &uplo, &size, &a, &size, &w, &workSize, &lwork, &iworkSize, &liwork, &info, 1, 1)
        guard info == 0 else { throw VAEFacesError("LAPACK dsyevd: workspace query failed (info \(info))") }
        lwork = Int32(workSize.rounded(.up))
        liwork = max(1, iworkSize)
        var work = [Double](repeating: 0, count: Int(max(1, lwork)))
        var iwork = [Int32](repeating: 0, count: Int(liwork))
        dsyevd_(&jobz, &uplo, &size, &a, &size, &w, &work, &lwork, &iwork, &liwork, &info, 1, 1)
        guard info == 0, w.allSatisfy(\.isFinite) else {
            throw VAEFacesError("LAPACK dsyevd: the eigendecomposition of a \(n)×\(n) matrix failed (info \(info))")
        }
        values = w
        vectors = wanted ? a : nil
    }
}
