import Testing
import Foundation
import NeuralCore
import TestSupport

/// Normal values pushed at least 0.1 away from 0, so ±eps probes never cross a kink.
func awayFromZero(_ shape: [Int], seed: UInt64) -> Tensor {
    var rng = SeededGenerator(seed: seed)
    let t = Tensor(shape: shape)
    for i in 0..<t.count { let v = rng.nextNormal(); t[i] = v >= 0 ? v + 0.1 : v - 0.1 }
    return t
}

@Test(arguments: [[2, 3, 4, 5], [7], [1, 1, 3, 3]] as [[Int]])
func activationGradientsCheck(shape: [Int]) {
    let layers: [(String, Layer)] = [("relu", ReLU()), ("leaky", LeakyReLU(slope: 0.2)), ("sigmoid", Sigmoid())]
    for (name, layer) in layers {
        let result = gradientCheck(layer, input: awayFromZero(shape, seed: 5))
        #expect(result.maxError < 2e-3, "\(name): \(result)")
    }
}

/// Forward and backward against scalar formulas on a count that exercises the SIMD body, the
/// scalar tail and the parallel chunks.
@Test func activationsMatchScalarFormulasOnLargeTensors() {
    var rng = SeededGenerator(seed: 6)
    let n = 70_003
    let x = Tensor(shape: [n]); rng.fillNormal(x)
    for i in stride(from: 0, to: n, by: 97) { x[i] = 0 }   // exact zeros take the x ≤ 0 branch
    x[1] = 200; x[2] = -200                                  // sigmoid saturation
    let dy = Tensor(shape: [n]); rng.fillNormal(dy)
    let cases: [(Layer, (Float) -> Float, (Float, Float) -> Float)] = [
        (ReLU(), { max($0, 0) }, { v, g in v > 0 ? g : 0 }),
        (LeakyReLU(slope: 0.2), { $0 > 0 ? $0 : 0.2 * $0 }, { v, g in v > 0 ? g : 0.2 * g }),
        (Sigmoid(), { 1 / (1 + exp(-$0)) }, { v, g in let s = 1 / (1 + exp(-v)); return g * s * (1 - s) }),
    ]
    for (layer, f, df) in cases {
        let y = layer.forward(x, mode: .training)
        let dx = layer.backward(dy)
        #expect(y.array.allSatisfy(\.isFinite) && dx.array.allSatisfy(\.isFinite))
        var worstY: Float = 0, worstDx: Float = 0
        for i in 0..<n {
            worstY = max(worstY, abs(y[i] - f(x[i])))
            worstDx = max(worstDx, abs(dx[i] - df(x[i], dy[i])))
        }
        #expect(worstY < 1e-6 && worstDx < 1e-6, "\(type(of: layer)): \(worstY) \(worstDx)")
    }
}
