import Foundation
import NeuralCore
import TensorIO

/// Latent vectors to decode: drawn from the prior, read from a NumPy file, or interpolated
/// between pairs. All as tensors [N, latent], row n being the code of image n.
public enum LatentCodes {
    /// N codes drawn from the prior N(0, I) scaled by `temperature` (σ of the sampling
    /// distribution): z = temperature · ε with ε from `SeededGenerator(seed: seed, stream: 4)`,
    /// row by row. So code n is the same for any `count` > n: a grid of 16 is the first 16 tiles
    /// of the grid of 64 with the same seed.
    public static func prior(count: Int, dimension: Int, seed: UInt64, temperature: Float = 1) -> Tensor {
        precondition(count > 0 && dimension > 0, "LatentCodes.prior: count \(count), dimension \(dimension)")
        var generator = SeededGenerator(seed: seed, stream: 4)
        let z = Tensor(shape: [count, dimension])
        for i in 0..<z.count { z[i] = temperature * generator.nextNormal() }
        return z
    }

    /// The latent vectors stored in a NumPy `.npy` file: a float array of shape [N, dimension]
    /// (float32, float64 or float16; [dimension] is one vector). Errors name the file and say
    /// what shape was expected.
    public static func read(npy path: String, dimension: Int) throws -> Tensor {
        let (shape, values) = try NPY.read(path: path)
        let rows: Int
        switch shape.count {
        case 1 where shape[0] == dimension: rows = 1
        case 2 where shape[1] == dimension: rows = shape[0]
        default:
            throw FileError(file: path, "latent vectors of shape \(shape); the model needs an N×\(dimension) array (N rows of \(dimension) values)")
        }
        guard rows > 0 else { throw FileError(file: path, "holds no latent vectors (shape \(shape))") }
        if let bad = values.firstIndex(where: { !$0.isFinite }) {
            throw FileError(file: path, "latent vector \(bad / dimension) has a non-finite value (\(values[bad]))")
        }
        return Tensor(shape: [rows, dimension], values: values)
    }

    /// Row `row` of a [N, D] tensor as an array.
    public static func row(_ tensor: Tensor, _ row: Int) -> [Float] {
        let d = tensor.shape[1]
        return Array(UnsafeBufferPointer(start: tensor.pointer + row * d, count: d))
    }

    /// The point at t ∈ [0, 1] on the straight line from a to b: (1 − t)·a + t·b.
    public static func lerp(_ a: [Float], _ b: [Float], _ t: Float) -> [Float] {
        precondition(a.count == b.count, "lerp: \(a.count) and \(b.count) values")
        return zip(a, b).map { (1 - t) * $0 + t * $1 }
    }

    /// Spherical linear interpolation (Shoemake 1985; White 2016 for VAE latents): with θ the
    /// angle between a and b,
    ///   slerp(a, b, t) = sin((1 − t)θ)/sin θ · a + sin(tθ)/sin θ · b,
    /// which moves at constant angular speed and keeps norms near those of prior samples (the
    /// straight line between two samples passes closer to the origin). Falls back to `lerp`
    /// when a and b are (nearly) parallel or one of them is zero, where θ is not defined.
    public static func slerp(_ a: [Float], _ b: [Float], _ t: Float) -> [Float] {
        precondition(a.count == b.count, "slerp: \(a.count) and \(b.count) values")
        var dot = 0.0, na = 0.0, nb = 0.0
        for i in a.indices {
            dot += Double(a[i]) * Double(b[i])
            na += Double(a[i]) * Double(a[i])
            nb += Double(b[i]) * Double(b[i])
        }
        guard na > 0, nb > 0 else { return lerp(a, b, t) }
        let cosine = min(1, max(-1, dot / (na * nb).squareRoot()))
        let theta = acos(cosine)
        let sine = sin(theta)
        guard sine > 1e-6 else { return lerp(a, b, t) }
        let wa = sin((1 - Double(t)) * theta) / sine, wb = sin(Double(t) * theta) / sine
        return zip(a, b).map { Float(wa * Double($0) + wb * Double($1)) }
    }

    /// At most `rows` rows of interpolations between consecutive codes: row r goes from code 2r
    /// to code 2r + 1 of `codes` [N ≥ 2, D] in `steps` codes (an odd last code is left out).
    public static func interpolations(betweenPairsOf codes: Tensor, rows: Int, steps: Int, spherical: Bool) -> Tensor {
        precondition(codes.shape[0] >= 2 && rows > 0, "interpolations: \(codes.shape[0]) codes, \(rows) rows")
        let pairs = (0..<min(rows, codes.shape[0] / 2)).map { (row(codes, 2 * $0), row(codes, 2 * $0 + 1)) }
        return interpolations(pairs: pairs, steps: steps, spherical: spherical)
    }

    /// Rows of interpolations: for each pair (a, b), `steps` codes at t = 0, 1/(steps−1), …, 1
    /// (so a row starts at a and ends at b), linear or spherical. Result [pairs·steps, D].
    public static func interpolations(pairs: [([Float], [Float])], steps: Int, spherical: Bool) -> Tensor {
        precondition(!pairs.isEmpty && steps >= 2, "interpolations: \(pairs.count) pairs, \(steps) steps")
        let d = pairs[0].0.count
        let z = Tensor(shape: [pairs.count * steps, d])
        for (p, (a, b)) in pairs.enumerated() {
            for s in 0..<steps {
                let t = Float(s) / Float(steps - 1)
                let code = spherical ? slerp(a, b, t) : lerp(a, b, t)
                precondition(code.count == d, "interpolations: codes of different lengths")
                code.withUnsafeBufferPointer { (z.pointer + (p * steps + s) * d).update(from: $0.baseAddress!, count: d) }
            }
        }
        return z
    }
}
