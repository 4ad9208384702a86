import Testing
import Foundation
import NeuralCore
import TensorIO
import TestSupport
import VAEFaces

/// −[x·log σ(l) + (1−x)·log(1−σ(l))] in Double, the textbook form (fine for moderate logits).
func textbookBCE(_ l: Double, _ x: Double) -> Double {
    let s = 1 / (1 + exp(-l))
    return -(x * log(s) + (1 - x) * log(1 - s))
}

@Test func bceMatchesTheTextbookFormAndItsGradient() {
    var rng = SeededGenerator(seed: 21)
    let n = 3, per = 2 * 5 * 7
    let logits = Tensor(shape: [n, 2, 5, 7]), x = Tensor(shape: [n, 2, 5, 7])
    for i in 0..<logits.count { logits[i] = 3 * rng.nextNormal(); x[i] = rng.nextUniform() }
    let g = Tensor(shape: logits.shape)
    let loss = VAELoss.binaryCrossEntropyWithLogits(logits: logits, targets: x, gradient: g, scale: 2)
    var expected = 0.0
    for i in 0..<n * per { expected += textbookBCE(Double(logits[i]), Double(x[i])) }
    expected /= Double(n)
    #expect(abs(loss - expected) < 1e-6 * expected)
    // dL/dl = scale·(σ(l) − x)/N, checked by central differences of the loss itself.
    for i in stride(from: 0, to: n * per, by: 13) {
        let h = 1e-3
        let l0 = Double(logits[i])
        let numeric = 2 * (textbookBCE(l0 + h, Double(x[i])) - textbookBCE(l0 - h, Double(x[i]))) / (2 * h) / Double(n)
        #expect(abs(Double(g[i]) - numeric) < 1e-5)
    }
}

@Test func bceIsFiniteAndExactForSaturatedLogits() {
    // l = ±100 with targets 0, 1 and ½: σ(100) = 1 − 3.7e-44, so the textbook form takes log(0).
    let logits = Tensor(shape: [1, 6], values: [100, 100, -100, -100, 100, -100])
    let x = Tensor(shape: [1, 6], values: [1, 0, 0, 1, 0.5, 0.5])
    let g = Tensor(shape: [1, 6])
    let loss = VAELoss.binaryCrossEntropyWithLogits(logits: logits, targets: x, gradient: g)
    #expect(loss.isFinite)
    // per element: 0, 100, 0, 100, 50, 50 (plus log1p(e^-100) ≈ 3.7e-44 each)
    #expect(abs(loss - 300) < 1e-4)
    // dL/dl = σ(l) − x; σ(−100) = 3.7e-44 is a subnormal Float, σ(100) rounds to 1.
    #expect(relativeMaxError(g.array, [0, 1, 0, -1, 0.5, -0.5]) < 1e-30)
}

@Test func bceAveragesOverTheBatchNotThePixels() {
    let one = Tensor(shape: [1, 4], values: [0.3, -1, 2, 0])
    let two = Tensor(shape: [2, 4], values: [0.3, -1, 2, 0, 0.3, -1, 2, 0])
    let x1 = Tensor(shape: [1, 4], values: [0, 1, 0.5, 1])
    let x2 = Tensor(shape: [2, 4], values: [0, 1, 0.5, 1, 0, 1, 0.5, 1])
    let a = VAELoss.binaryCrossEntropyWithLogits(logits: one, targets: x1)
    let b = VAELoss.binaryCrossEntropyWithLogits(logits: two, targets: x2)
    #expect(abs(a - b) < 1e-12 && a > 1)
}

/// KL of N(μ, σ²) from N(0, 1) per dimension, by its definition E_q[log q − log p] written out:
/// log(1/σ) + (σ² + μ²)/2 − ½.
func directKL(mu: Double, variance: Double) -> Double {
    -0.5 * log(variance) + 0.5 * (variance + mu * mu) - 0.5
}

@Test func klMatchesTheDirectFormulaAndItsGradients() {
    var rng = SeededGenerator(seed: 22)
    let n = 4, d = 9
    let mu = Tensor(shape: [n, d]), lv = Tensor(shape: [n, d])
    rng.fillNormal(mu)
    for i in 0..<lv.count { lv[i] = rng.nextUniform(-3, 2) }
    let gMu = Tensor(shape: [n, d]), gLv = Tensor(shape: [n, d])
    gMu.fill(0.25); gLv.fill(-0.5)   // KL adds to what is there
    let beta: Float = 0.7   // weights the gradients (of β·KL), not the value (KL)
    let kl = VAELoss.klDivergence(mu: mu, logVariance: lv, muGradient: gMu, logVarianceGradient: gLv, gradientWeight: beta)
    var expected = 0.0
    for i in 0..<mu.count { expected += directKL(mu: Double(mu[i]), variance: exp(Double(lv[i]))) }
    expected /= Double(n)
    #expect(abs(kl - expected) < 1e-6 * abs(expected))
    let h = 1e-4
    for i in 0..<mu.count {
        let m = Double(mu[i]), v = Double(lv[i])
        let dMu = (directKL(mu: m + h, variance: exp(v)) - directKL(mu: m - h, variance: exp(v))) / (2 * h)
        let dLv = (directKL(mu: m, variance: exp(v + h)) - directKL(mu: m, variance: exp(v - h))) / (2 * h)
        #expect(abs(Double(gMu[i]) - 0.25 - Double(beta) * dMu / Double(n)) < 1e-5)
        #expect(abs(Double(gLv[i]) + 0.5 - Double(beta) * dLv / Double(n)) < 1e-5)
    }
}

@Test func klIsZeroForTheStandardNormal() {
    let mu = Tensor(shape: [2, 3]), lv = Tensor(shape: [2, 3])
    #expect(VAELoss.klDivergence(mu: mu, logVariance: lv) == 0)
}

@Test func reparameterisationForwardAndBackward() {
    var rng = SeededGenerator(seed: 23)
    let mu = Tensor(shape: [3, 5]), lv = Tensor(shape: [3, 5]), eps = Tensor(shape: [3, 5])
    rng.fillNormal(mu); rng.fillNormal(lv); rng.fillNormal(eps)
    let r = Reparameterization()
    let z = r.forward(mu: mu, logVariance: lv, noise: eps)
    for i in 0..<z.count {
        #expect(abs(Double(z[i]) - (Double(mu[i]) + exp(0.5 * Double(lv[i])) * Double(eps[i]))) < 1e-5)
    }
    // Loss Σ z ⊙ P: dμ = P, d log σ² = P·ε·½σ, against central differences in Double.
    let p = Tensor(shape: [3, 5]); rng.fillNormal(p)
    let (dMu, dLv) = r.backward(p)
    func loss(_ m: Double, _ v: Double, _ e: Double, _ w: Double) -> Double { (m + exp(0.5 * v) * e) * w }
    let h = 1e-4
    for i in 0..<z.count {
        let m = Double(mu[i]), v = Double(lv[i]), e = Double(eps[i]), w = Double(p[i])
        #expect(abs(Double(dMu[i]) - (loss(m + h, v, e, w) - loss(m - h, v, e, w)) / (2 * h)) < 1e-5)
        #expect(abs(Double(dLv[i]) - (loss(m, v + h, e, w) - loss(m, v - h, e, w)) / (2 * h)) < 1e-4)
    }
}

/// The parallel, chunked reduction (49,152 elements: several chunks) against a serial Double sum.
@Test func bceOnAModelSizedBatchMatchesASerialSum() {
    var rng = SeededGenerator(seed: 24)
    let logits = Tensor(shape: [4, 3, 64, 64]), x = Tensor(shape: [4, 3, 64, 64])
    for i in 0..<logits.count { logits[i] = 4 * rng.nextNormal(); x[i] = rng.nextUniform() }
    let loss = VAELoss.binaryCrossEntropyWithLogits(logits: logits, targets: x)
    var expected = 0.0
    for i in 0..<logits.count {
        let l = Double(logits[i]), t = Double(x[i])
        expected += max(l, 0) - l * t + log1p(exp(-abs(l)))
    }
    #expect(abs(loss - expected / 4) < 1e-9 * expected)
}

// Parity with PyTorch: binary_cross_entropy_with_logits + KL + reparameterisation, from a
// golden file written by torch 2.x with the other NeuralCoreTests golden files (loss = Σ z ⊙ gz
// upstream of z).
@Test func vaeLossPiecesMatchPyTorch() throws {
    let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden")
    let g = try SafeTensorsArchive.read(path: folder.appendingPathComponent("loss.safetensors").path)
    func expectMatch(_ actual: Tensor, _ name: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let expected = try g.floats(name)
        #expect(g.shape(name).map { $0.reduce(1, *) } == actual.count, "\(name): element count", sourceLocation: sourceLocation)
        let error = relativeMaxError(actual.array, expected)
        #expect(error < 1e-6, "\(name): relative error \(error)", sourceLocation: sourceLocation)
    }
    let logits = try g.tensor("logits"), x = try g.tensor("x")
    let mu = try g.tensor("mu"), lv = try g.tensor("logvar"), eps = try g.tensor("eps")
    let gLogits = Tensor(shape: logits.shape)
    let rec = VAELoss.binaryCrossEntropyWithLogits(logits: logits, targets: x, gradient: gLogits)
    let r = Reparameterization()
    try expectMatch(r.forward(mu: mu, logVariance: lv, noise: eps), "z")
    let (gMu, gLv) = r.backward(try g.tensor("gz"))
    let kl = VAELoss.klDivergence(mu: mu, logVariance: lv, muGradient: gMu, logVarianceGradient: gLv)
    let expected = (rec: try g.floats("rec")[0], kl: try g.floats("kl")[0], loss: try g.floats("loss")[0])
    #expect(abs(rec - Double(expected.rec)) < 1e-5 * Double(expected.rec))
    #expect(abs(kl - Double(expected.kl)) < 1e-5 * Double(expected.kl))
    #expect(abs(rec + kl - Double(expected.loss)) < 1e-5 * Double(expected.loss))
    try expectMatch(gLogits, "glogits")
    try expectMatch(gMu, "gmu")
    try expectMatch(gLv, "glogvar")
}
