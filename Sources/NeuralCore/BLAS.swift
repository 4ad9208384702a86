import CBLAS

/// Single-precision matrix multiply over OpenBLAS: C = alpha · op(A) · op(B) + beta · C.
///
/// All matrices are row-major. op(A) is M×K, op(B) is K×N, C is M×N; `lda`, `ldb`, `ldc` are
/// the row strides of A, B, C *as stored* (so A stored K×M when `transposeA`). OpenBLAS runs on
/// one thread (see `Threading`); callers parallelise over independent GEMMs.
///
/// With `beta = 1` the product is accumulated into C, which is how backward passes add into
/// gradients. Zero-sized products are a no-op (OpenBLAS would still scale C by beta; when
/// K = 0 and beta = 0 we clear C ourselves so the result is the mathematically right zero).
@inline(__always)
public func sgemm(transposeA: Bool = false, transposeB: Bool = false,
                  m: Int, n: Int, k: Int, alpha: Float = 1,
                  a: UnsafePointer<Float>, lda: Int,
                  b: UnsafePointer<Float>, ldb: Int,
                  beta: Float = 0,
                  c: UnsafeMutablePointer<Float>, ldc: Int) {
    guard m > 0, n > 0 else { return }
    if k == 0 {
        if beta == 1 { return }
        for i in 0..<m {
            let row = c + i * ldc
            for j in 0..<n { row[j] = beta == 0 ? 0 : beta * row[j] }
        }
        return
    }
    cblas_sgemm(CblasRowMajor,
                transposeA ? CblasTrans : CblasNoTrans,
                transposeB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha,
                a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}
