import CBLAS

/// Feature vectors of a set of images, one row each: `values[i·dimension + j]` is feature j of
/// image i (e.g. the 2048 pool features of the FID Inception).
public struct FeatureMatrix: Sendable, Equatable {
    public var values: [Float]
    public var count: Int
    public var dimension: Int

    public init(values: [Float], count: Int, dimension: Int) {
        precondition(count >= 0 && dimension > 0 && values.count == count * dimension,
                     "FeatureMatrix: \(values.count) values are not \(count) rows of \(dimension)")
        self.values = values
        self.count = count
        self.dimension = dimension
    }

    /// Rows `rows` converted to Double, minus `center` when given: a rows.count × dimension block.
    func doubleRows<C: Collection>(_ rows: C, minus center: [Double]? = nil) -> [Double] where C.Element == Int {
        var block = [Double](repeating: 0, count: rows.count * dimension)
        for (k, i) in rows.enumerated() {
            for j in 0..<dimension {
                block[k * dimension + j] = Double(values[i * dimension + j]) - (center?[j] ?? 0)
            }
        }
        return block
    }
}

/// The Gaussian the FID fits to a feature set: mean and covariance, in Double.
public struct FeatureStatistics: Sendable, Equatable {
    public var count: Int
    public var dimension: Int
    public var mean: [Double]
    /// Row-major dimension × dimension, symmetric: Σ (x − mean)(x − mean)ᵀ / (count − 1), NumPy's
    /// `np.cov(features, rowvar=False)` as pytorch-fid uses it.
    public var covariance: [Double]

    public init(count: Int, dimension: Int, mean: [Double], covariance: [Double]) {
        precondition(mean.count == dimension && covariance.count == dimension * dimension,
                     "FeatureStatistics: a mean of \(dimension) and a \(dimension)² covariance needed")
        self.count = count
        self.dimension = dimension
        self.mean = mean
        self.covariance = covariance
    }

    /// The statistics of at least two feature vectors. Two passes in Double: the mean, then the
    /// centred rows `batch` at a time into Cᵀ·C (DSYRK, the upper triangle), so no cancellation
    /// between E[xxᵀ] and mean·meanᵀ and no n × d Double copy of the features.
    public init(_ features: FeatureMatrix, batch: Int = 256) {
        let n = features.count, d = features.dimension
        precondition(n >= 2, "FeatureStatistics: a covariance needs at least 2 feature vectors, got \(n)")
        var mean = [Double](repeating: 0, count: d)
        for i in 0..<n {
            for j in 0..<d { mean[j] += Double(features.values[i * d + j]) }
        }
        for j in 0..<d { mean[j] /= Double(n) }

        var covariance = [Double](repeating: 0, count: d * d)
        for start in stride(from: 0, to: n, by: batch) {
            let rows = start..<min(n, start + batch)
            let block = features.doubleRows(rows, minus: mean)
            cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, Int32(d), Int32(rows.count),
                        1, block, Int32(d), 1, &covariance, Int32(d))
        }
        let scale = 1 / Double(n - 1)
        for i in 0..<d {
            for j in i..<d {
                covariance[i * d + j] *= scale
                covariance[j * d + i] = covariance[i * d + j]
            }
        }
        self.init(count: n, dimension: d, mean: mean, covariance: covariance)
    }
}
