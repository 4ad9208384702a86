/// Runs 3×3 stride-1 pad-1 convolutions of even-sized maps as Winograd F(2×2, 3×3); measured
/// faster than the direct kernels once both channel counts are ≥ 32 (`Convolution.prefersWinograd`).
///
/// On the transforms of `Winograd` (16 multiplies per 2×2 output tile instead of 36): forward,
/// input gradient (the same operation with the flipped and transposed kernel) and weight
/// gradient (`Winograd.weightGradient`).
final class WinogradKernel: ConvolutionKernel {
    let geometry: ConvGeometry
    let outputChannels: Int
    private let transformed: Tensor          // forward U [16][M][C]
    private let transformedFlipped: Tensor   // input gradient U' [16][C][M]

    static func supports(_ g: ConvGeometry) -> Bool {
        g.isSameThreeByThree && Winograd.supports(height: g.height, width: g.width)
    }

    init(geometry: ConvGeometry, outputChannels: Int) {
        self.geometry = geometry
        self.outputChannels = outputChannels
        let count = Winograd.weightCount(outputs: outputChannels, inputs: geometry.channels)
        transformed = Tensor(shape: [count])
        transformedFlipped = Tensor(shape: [count])
    }

    func pack(_ weight: UnsafePointer<Float>, ldw: Int, backward: Bool) {
        Winograd.transformWeights(weight, ldw: ldw, outputs: outputChannels, inputs: geometry.channels,
                                  flipped: backward, into: (backward ? transformedFlipped : transformed).pointer)
    }

    /// One chunk of tiles (a multiple of 16 images on the lanes layout: no lane wasted).
    func groupPixels(gemmColumns: Int) -> Int {
        Winograd.chunkImages(height: geometry.height, width: geometry.width) * geometry.outputPixels
    }

    func scratchCount(images count: Int) -> Int {
        let g = geometry
        return Winograd.weightGradientScratchCount(inputs: g.channels, outputs: outputChannels, height: g.height,
                                                   width: g.width, images: count)
    }

    var writesAnyPlanes: Bool { true }
    var readsAnyGradientPlanes: Bool { true }

    func forward(source: Planes, count: Int, weight: UnsafePointer<Float>, ldw: Int, into output: Planes,
                 accumulate: Bool, scratch: UnsafeMutablePointer<Float>) {
        let g = geometry
        Winograd.convolve(source: source, count: count, channels: g.channels, height: g.height, width: g.width,
                          transformed: transformed.pointer, outputs: outputChannels,
                          output: output, accumulate: accumulate, scratch: scratch)
    }

    func backward(source: Planes, count: Int, weight: UnsafePointer<Float>, ldw: Int, outputGradient dy: Planes,
                  weightGradient dw: UnsafeMutablePointer<Float>, inputGradient: Planes?,
                  scratch: UnsafeMutablePointer<Float>) {
        let g = geometry, m = outputChannels, c = g.channels
        Winograd.weightGradient(source: source, outputGradient: dy, count: count, channels: c, height: g.height,
                                width: g.width, outputs: m, into: dw, ldw: ldw, scratch: scratch)
        guard let inputGradient else { return }
        Winograd.convolve(source: dy, count: count, channels: m, height: g.height, width: g.width,
                          transformed: transformedFlipped.pointer, outputs: c,
                          output: inputGradient, accumulate: true, scratch: scratch)
    }
}
