/// Largest |a - b| / max(1e-12, max|b|) over two equally long arrays: the error of `a`
/// relative to the scale of the reference `b` (symmetric in neither argument).
public func relativeMaxError(_ a: [Float], _ b: [Float]) -> Double {
    precondition(a.count == b.count, "relativeMaxError: \(a.count) vs \(b.count) elements")
    var worst = 0.0, scale = 0.0
    for i in a.indices {
        worst = max(worst, abs(Double(a[i]) - Double(b[i])))
        scale = max(scale, abs(Double(b[i])))
    }
    return worst / max(scale, 1e-12)
}
