import Testing
import Foundation
import NeuralCore

/// The SIMD e^x, log1p and σ used by the loss and the Sigmoid layer, against Double references
/// over their whole working ranges (the loss feeds them −|l| and e^(−|l|) ∈ (0, 1]).
@Test func simdExpLog1pAndSigmoidMatchDoubleReferences() {
    var worstExp = 0.0, worstLog = 0.0, worstSigmoid = 0.0
    var v = VectorMath.V(), u = VectorMath.V()
    for k in 0..<20_000 {
        for lane in 0..<16 {
            v[lane] = -87 + 175 * Float(k * 16 + lane) / Float(20_000 * 16)          // e^x on [−87, 88]
            u[lane] = Float(k * 16 + lane) / Float(20_000 * 16 - 1)                   // log1p on [0, 1]
        }
        let e = VectorMath.exp(v), lp = VectorMath.log1pUnit(u), s = VectorMath.sigmoid(v / 4).sigmoid
        for lane in 0..<16 {
            let x = Double(v[lane]), y = Double(u[lane])
            worstExp = max(worstExp, abs(Double(e[lane]) - Foundation.exp(x)) / Foundation.exp(x))
            if y > 0 { worstLog = max(worstLog, abs(Double(lp[lane]) - Foundation.log1p(y)) / Foundation.log1p(y)) }
            let ref = 1 / (1 + Foundation.exp(-x / 4))
            worstSigmoid = max(worstSigmoid, abs(Double(s[lane]) - ref) / ref)
        }
    }
    #expect(worstExp < 3e-7 && worstLog < 3e-7 && worstSigmoid < 3e-7, "\(worstExp) \(worstLog) \(worstSigmoid)")
    #expect(VectorMath.log1pUnit(VectorMath.V(repeating: 0))[0] == 0)
    #expect(VectorMath.exp(VectorMath.V(repeating: -200))[0] == 0)
    #expect(VectorMath.exp(VectorMath.V(repeating: 200))[0].isFinite)
    #expect(VectorMath.sigmoid(VectorMath.V(repeating: -200)).sigmoid[0] == 0)
    #expect(VectorMath.sigmoid(VectorMath.V(repeating: 200)).sigmoid[0] == 1)
}
