import NeuralCore
import Testing
import VAEFaces

/// Pins the kernel every convolution of the model runs on (`Convolution.kernel(for:)` at the
/// model's real shapes, as `bench --layers` reports it), so that a change of dispatch is a
/// deliberate one: update this table with the measurement that justified it.
struct KernelChoiceTests {
    @Test func everyLayerOfTheFourModelsRunsItsPinnedKernels() {
        // Name of the convolution in its layer, its forward kernel, and a backward pass that
        // runs on another kernel in parentheses.
        let expected: [(String, [String])] = [
            ("dcl.0", ["phase winograd"]),
            ("dcl.1", ["phase winograd"]),
            ("dcl.2", ["phase winograd"]),
            ("dcl.3", ["phase winograd"]),
            ("pixeldcl.0", ["w0 winograd", "w1 winograd"]),
            ("pixeldcl.1", ["w0 winograd", "w1 winograd"]),
            ("pixeldcl.2", ["w0 winograd", "w1 winograd"]),
            ("pixeldcl.3", ["w0 winograd", "w1 winograd"]),
            ("ipixeldcl.0", ["x winograd", "c1 winograd", "c2 winograd"]),
            ("ipixeldcl.1", ["x winograd", "c1 winograd", "c2 winograd"]),
            ("ipixeldcl.2", ["x winograd", "c1 winograd", "c2 winograd"]),
            ("ipixeldcl.3", ["x winograd", "c1 winograd", "c2 winograd"]),
            ("resizeconv.0", ["weight winograd"]),
            ("resizeconv.1", ["phase gemm"]),
            ("resizeconv.2", ["phase gemm"]),
            ("resizeconv.3", ["phase gemm"]),
            ("encoder.0", ["weight spaceToDepthPixels (dX gemm)"]),
            ("encoder.1", ["weight spaceToDepth"]),
            ("encoder.2", ["weight spaceToDepth"]),
            ("encoder.3", ["weight spaceToDepth"]),
            ("final", ["weight directPixels"]),
        ]
        let actual = LayerBench.kernelChoices().map { ($0.name, $0.kernels.map(\.summary)) }
        #expect(actual.map(\.0) == expected.map(\.0))
        for ((name, kernels), (_, pinned)) in zip(actual, expected) {
            #expect(kernels == pinned, "\(name)")
        }
    }
}
