import NeuralCore

/// Central finite-difference gradient checking (style.md §2.6).
///
/// The scalar loss is L = Σ output ⊙ P with a fixed random projection P (a plain sum would make
/// BatchNorm's input gradient vanish identically and hide bugs), accumulated in Double. The
/// analytic gradients come from one `backward(P)`; each probed entry of the input and of every
/// parameter is nudged by ±eps and L recomputed.
public struct GradientCheckResult: CustomStringConvertible {
    /// Worst |analytic − numeric| / max(scale, |analytic|, |numeric|) per checked tensor name.
    public var worst: [String: Double] = [:]
    public var maxError: Double { worst.values.max() ?? 0 }
    public var description: String {
        worst.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")
    }
}

public func projectionLoss(_ output: Tensor, _ projection: Tensor) -> Double {
    var s = 0.0
    for i in 0..<output.count { s += Double(output[i]) * Double(projection[i]) }
    return s
}

/// Checks `layer` at `input`. Probes at most `probes` entries per tensor (spread evenly, always
/// including the first and last). `scale` is a floor for the error denominator, so entries
/// whose true gradient is ~0 are judged against the typical gradient size.
public func gradientCheck(_ layer: Layer, input: Tensor, mode: Mode = .training, seed: UInt64 = 99,
                          eps: Float = 1e-2, probes: Int = 40) -> GradientCheckResult {
    var rng = SeededGenerator(seed: seed, stream: 7)
    let out = layer.forward(input, mode: mode)
    let projection = Tensor(shape: out.shape)
    rng.fillNormal(projection)
    for (_, p) in layer.parameters { p.gradient.zero() }
    layer.computesInputGradient = true
    let analyticInput = layer.backward(projection).array
    let analyticParams = layer.parameters.map { ($0.name, $0.parameter.gradient.array) }

    func loss() -> Double { projectionLoss(layer.forward(input, mode: mode), projection) }

    var result = GradientCheckResult()
    func check(_ name: String, _ tensor: Tensor, _ analytic: [Float]) {
        let n = tensor.count
        guard n > 0 else { return }
        let indices = Set((0..<min(probes, n)).map { n == 1 ? 0 : $0 * (n - 1) / max(1, min(probes, n) - 1) })
        let scale = max(1e-3, Double(analytic.map { abs($0) }.max() ?? 0) * 1e-2)
        var worst = 0.0
        for i in indices.sorted() {
            let saved = tensor[i]
            tensor[i] = saved + eps
            let up = loss()
            tensor[i] = saved - eps
            let down = loss()
            tensor[i] = saved
            let numeric = (up - down) / (2 * Double(eps))
            let a = Double(analytic[i])
            worst = max(worst, abs(a - numeric) / max(scale, abs(a), abs(numeric)))
        }
        result.worst[name] = worst
    }
    check("input", input, analyticInput)
    for (i, (name, p)) in layer.parameters.enumerated() {
        check(name, p.value, analyticParams[i].1)
    }
    return result
}
