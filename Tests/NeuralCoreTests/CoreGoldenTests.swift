import Testing
import Foundation
import NeuralCore
import TensorIO
import TestSupport

// Parity with PyTorch: golden files written by torch 2.x (nn.Linear, nn.BatchNorm2d/1d in train
// and eval mode, torch.optim.Adam with clip_grad_norm_; the VAE loss's file is with its test
// in VAEFacesTests) from fixed seeded weights, inputs and upstream gradients `gy`
// (loss = Σ y ⊙ gy). The generator is Tests/Golden/make_golden.py (see Tests/Golden/README.md).

private func coreGolden(_ name: String) throws -> SafeTensorsArchive {
    let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden")
    return try SafeTensorsArchive.read(path: folder.appendingPathComponent(name + ".safetensors").path)
}

/// Expects `actual` to match tensor `name` of `golden` within `tolerance` relative to its scale.
private func expectMatch(_ actual: Tensor, _ golden: SafeTensorsArchive, _ name: String, tolerance: Double = 1e-4,
                         sourceLocation: SourceLocation = #_sourceLocation) throws {
    let expected = try golden.floats(name)
    #expect(golden.shape(name).map { $0.reduce(1, *) } == actual.count, "\(name): element count", sourceLocation: sourceLocation)
    let error = relativeMaxError(actual.array, expected)
    #expect(error < tolerance, "\(name): relative error \(error)", sourceLocation: sourceLocation)
}

@Test func linearMatchesPyTorch() throws {
    let g = try coreGolden("linear")
    var rng = SeededGenerator(seed: 0)
    let layer = Linear(inFeatures: 7, outFeatures: 5, generator: &rng)
    try g.load("weight", into: layer.weight.value)
    try g.load("bias", into: layer.bias.value)
    let x = try g.tensor("x")
    try expectMatch(layer.forward(x, mode: .training), g, "y")
    try expectMatch(layer.backward(try g.tensor("gy")), g, "gx")
    try expectMatch(layer.weight.gradient, g, "gweight")
    try expectMatch(layer.bias.gradient, g, "gbias")
}

@Test(arguments: ["batchnorm2d", "batchnorm1d"])
func batchNormMatchesPyTorchInTrainingAndInference(file: String) throws {
    let g = try coreGolden(file)
    let x = try g.tensor("x"), gy = try g.tensor("gy")
    for (mode, prefix) in [(Mode.training, "train"), (.inference, "eval")] {
        let bn = BatchNorm(channels: x.shape[1])
        for (name, t) in [("weight", bn.weight.value), ("bias", bn.bias.value),
                          ("running_mean", bn.runningMean), ("running_var", bn.runningVariance)] {
            try g.load(name, into: t)
        }
        try expectMatch(bn.forward(x, mode: mode), g, "\(prefix).y")
        try expectMatch(bn.backward(gy), g, "\(prefix).gx")
        try expectMatch(bn.weight.gradient, g, "\(prefix).gweight")
        try expectMatch(bn.bias.gradient, g, "\(prefix).gbias")
        try expectMatch(bn.runningMean, g, "\(prefix).running_mean", tolerance: 1e-6)
        try expectMatch(bn.runningVariance, g, "\(prefix).running_var", tolerance: 1e-6)
    }
}

/// Three Adam steps and a fourth with clip_grad_norm_(1e-2). Parameters start at ~1e-3, so
/// their Float spacing (~1e-10) resolves the ~5e-4 steps; each step's change is compared.
@Test func adamMatchesPyTorch() throws {
    let g = try coreGolden("adam")
    let a = Parameter(shape: [37]), b = Parameter(shape: [2, 3])
    try g.load("a.0", into: a.value)
    try g.load("b.0", into: b.value)
    let adam = Adam(parameters: [("a", a), ("b", b)])
    for step in 1...4 {
        let before = a.value.array + b.value.array
        try g.load("a.grad.\(step)", into: a.gradient)
        try g.load("b.grad.\(step)", into: b.gradient)
        let update = adam.step(maxGradientNorm: step == 4 ? 1e-2 : nil)
        #expect(update.applied && update.clipped == (step == 4))
        if step == 4 {
            let norm = Double(try g.floats("norm.4")[0])
            #expect(abs(update.gradientNorm - norm) < 1e-6 * norm)
        }
        let expected = try g.floats("a.\(step)") + g.floats("b.\(step)")
        let after = a.value.array + b.value.array
        let error = relativeMaxError(zip(after, before).map { $0 - $1 }, zip(expected, before).map { $0 - $1 })
        #expect(error < 1e-4, "step \(step): relative error of the change \(error)")
        if step == 3 {
            let m = adam.firstMoments[0].array + adam.firstMoments[1].array
            let v = adam.secondMoments[0].array + adam.secondMoments[1].array
            #expect(relativeMaxError(m, try g.floats("a.m") + g.floats("b.m")) < 1e-6)
            #expect(relativeMaxError(v, try g.floats("a.v") + g.floats("b.v")) < 1e-6)
        }
    }
}
