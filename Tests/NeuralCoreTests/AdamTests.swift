import Testing
import Foundation
import NeuralCore
import TestSupport

/// Adam written out in Double for one scalar parameter: the textbook update with PyTorch's
/// bias correction.
func adamTrajectory(p0: Double, gradients: [Double], lr: Double = 5e-4, b1: Double = 0.9, b2: Double = 0.999,
                    eps: Double = 1e-8) -> [Double] {
    var p = p0, m = 0.0, v = 0.0
    var out = [Double]()
    for (k, g) in gradients.enumerated() {
        let t = Double(k + 1)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        let mHat = m / (1 - pow(b1, t))
        let denom = (v / (1 - pow(b2, t))).squareRoot() + eps
        p -= lr * mHat / denom
        out.append(p)
    }
    return out
}

@Test func adamFollowsTheHandComputedTwoStepTrajectory() {
    // 37 elements: the SIMD body and the scalar tail; two parameters: one loop over both.
    let a = Parameter(shape: [37]), b = Parameter(shape: [2, 3])
    var rng = SeededGenerator(seed: 31)
    rng.fillNormal(a.value); rng.fillNormal(b.value)
    let start = a.value.array + b.value.array
    let g1 = (0..<43).map { _ in Double(rng.nextNormal()) }
    let g2 = (0..<43).map { i in i % 5 == 0 ? 0 : Double(rng.nextNormal()) * 1e-3 }
    let adam = Adam(parameters: [("a", a), ("b", b)])
    func setGradients(_ g: [Double]) {
        for i in 0..<37 { a.gradient[i] = Float(g[i]) }
        for i in 0..<6 { b.gradient[i] = Float(g[37 + i]) }
    }
    setGradients(g1)
    let u1 = adam.step()
    #expect(u1.applied && !u1.clipped)
    #expect(a.gradient.array.allSatisfy { $0 == 0 } && b.gradient.array.allSatisfy { $0 == 0 })
    let after1 = a.value.array + b.value.array
    setGradients(g2)
    adam.step()
    let after2 = a.value.array + b.value.array
    #expect(adam.stepCount == 2)
    for i in 0..<43 {
        let ref = adamTrajectory(p0: Double(start[i]), gradients: [g1[i], g2[i]])
        // The first step moves every element by ≈ lr; Float rounding of p is ≈ 1e-7.
        #expect(abs(Double(after1[i]) - ref[0]) < 2e-7, "element \(i) step 1")
        #expect(abs(Double(after2[i]) - ref[1]) < 2e-7, "element \(i) step 2")
    }
    #expect(adam.state.map(\.name) == ["adam.m.a", "adam.m.b", "adam.v.a", "adam.v.b"])
    let m = (1 - 0.9) * 0.9 * g1[0] + (1 - 0.9) * g2[0]
    #expect(abs(Double(adam.firstMoments[0][0]) - m) < 1e-6)
}

@Test func adamClipsTheGlobalGradientNorm() {
    let a = Parameter(shape: [3]), b = Parameter(shape: [1])
    for (i, v) in [Float(3), 0, 4].enumerated() { a.gradient[i] = v }
    b.gradient[0] = 12   // ‖g‖ = 13
    let adam = Adam(parameters: [("a", a), ("b", b)], learningRate: 0.1)
    #expect(abs(adam.gradientNorm() - 13) < 1e-12)
    let u = adam.step(maxGradientNorm: 1.3)
    #expect(u.clipped && u.applied && abs(u.gradientNorm - 13) < 1e-12)
    // First Adam step: p −= lr·ĝ/(|ĝ| + eps) — the clipped gradient's sign; moments hold ĝ = g/10.
    #expect(abs(Double(adam.firstMoments[0][0]) - 0.1 * 3 * (1.3 / (13 + 1e-6))) < 1e-7)
    #expect(abs(a.value[0] + 0.1) < 1e-6 && a.value[1] == 0 && abs(b.value[0] + 0.1) < 1e-6)
    // Below the threshold nothing is scaled.
    a.gradient[0] = 0.1
    #expect(!adam.step(maxGradientNorm: 1.3).clipped)
}

@Test func adamRefusesNonFiniteGradients() {
    let a = Parameter(shape: [20])
    a.value.fill(1)
    a.gradient.fill(0.5)
    a.gradient[17] = .nan
    let adam = Adam(parameters: [("a", a)])
    let u = adam.step()
    #expect(!u.applied && u.gradientNorm.isNaN)
    #expect(a.value.array.allSatisfy { $0 == 1 } && adam.stepCount == 0)
    #expect(adam.firstMoments[0].array.allSatisfy { $0 == 0 })
    #expect(a.gradient.array.allSatisfy { $0 == 0 })
    a.gradient[3] = .infinity
    #expect(!adam.step(maxGradientNorm: 1).applied)
}
