import Foundation
import Testing
import NeuralCore
import TensorIO
import TestSupport

/// Parity with the PyTorch peer: Golden/<layer>.safetensors hold seeded weights (under their
/// state_dict names), an input x and an upstream gradient dy, and PyTorch's output y, input
/// gradient dx and weight gradients "grad.<name>" (computed by /work/shared/bench/torch_vae.py's
/// classes in float64, stored as float32; batch 2, 5 → 4 channels, 6×6 input).
enum Golden {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden")

    /// Loads the weights into `layer`, runs forward and backward, and returns the worst relative
    /// error per compared tensor.
    static func compare(_ file: String, _ layer: Layer) throws -> [String: Double] {
        let archive = try SafeTensorsArchive.read(path: directory.appendingPathComponent(file + ".safetensors").path)
        for (name, p) in layer.parameters {
            try archive.load(name, into: p.value)
            p.gradient.zero()
        }
        layer.computesInputGradient = true
        let x = try archive.tensor("x")
        let y = layer.forward(x, mode: .training)
        var errors = ["y": relativeMaxError(y.array, try archive.floats("y"))]
        #expect(y.shape == archive.shape("y"))
        let dx = layer.backward(try archive.tensor("dy"))
        errors["dx"] = relativeMaxError(dx.array, try archive.floats("dx"))
        for (name, p) in layer.parameters {
            errors["grad." + name] = relativeMaxError(p.gradient.array, try archive.floats("grad." + name))
        }
        return errors
    }
}

@Test(arguments: ["dcl", "dcl-general", "pixeldcl", "ipixeldcl", "resizeconv", "conv4x4s2", "conv3x3bias"])
func layerMatchesPyTorchGolden(_ name: String) throws {
    var rng = SeededGenerator(seed: 81)
    let layer: Layer
    switch name {
    case "dcl", "dcl-general":
        let dcl = ConvTranspose2d.dcl(inputChannels: 5, outputChannels: 4, generator: &rng)
        dcl.usesPhaseDecomposition = name == "dcl"
        layer = dcl
    case "pixeldcl": layer = PixelDCL(inputChannels: 5, outputChannels: 4, generator: &rng)
    case "ipixeldcl": layer = IPixelDCL(inputChannels: 5, outputChannels: 4, generator: &rng)
    case "resizeconv": layer = ResizeConv(inputChannels: 5, outputChannels: 4, generator: &rng)
    case "conv4x4s2":
        layer = Conv2d(inputChannels: 5, outputChannels: 4, kernelSize: 4, stride: 2, padding: 1, bias: false, generator: &rng)
    default:
        layer = Conv2d(inputChannels: 5, outputChannels: 4, kernelSize: 3, padding: 1, bias: true, generator: &rng)
    }
    let errors = try Golden.compare(name == "dcl-general" ? "dcl" : name, layer)
    #expect(errors.count == 2 + layer.parameters.count)
    for (tensor, e) in errors.sorted(by: { $0.key < $1.key }) {
        #expect(e < 1e-4, "\(name).\(tensor): relative error \(e)")
    }
}
