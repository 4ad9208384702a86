import Foundation
import NeuralCore
import TensorIO
import TestSupport
import Testing
@testable import VAEFaces

/// The FID Inception-v3 against pytorch-fid's architecture in PyTorch (`Scripts/inception_golden.py`).
///
/// `Golden/inception.safetensors` stores no weights: every state_dict entry is `formulaFill` of its
/// name, listed with shape, scale and offset in the metadata "fill", and the test images are a
/// formula too. So the whole network — stem, FIDInceptionA, InceptionB, FIDInceptionC,
/// InceptionD, FIDInceptionE_1 and E_2, the pool — is checked on its real shapes, through the
/// state_dict names, from a 60 KB file. Stored: the network input at 4096 indices (the resize)
/// and the 2048 features of 3 images (float64 PyTorch).
@Suite struct InceptionTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden")
    static func golden() throws -> SafeTensorsArchive {
        try SafeTensorsArchive.read(path: folder.appendingPathComponent("inception.safetensors").path)
    }

    /// [count, 64, 64, 3] bytes ⌊256·u⌋ of the formula of "images" (`formula_images` of the script).
    static func formulaImages(_ count: Int) -> [UInt8] {
        let t = Tensor(shape: [count, 64, 64, 3])
        formulaFill(t, name: "images", scale: 0.5, offset: 0.5)
        return t.array.map { UInt8(($0 * 256).rounded(.down)) }
    }

    /// The formula-filled state_dict of the golden's metadata, as a safetensors file in memory.
    static func formulaWeights(replacing replaced: String? = nil, shape replacement: [Int] = []) throws -> SafeTensorsArchive {
        let json = try #require(try golden().metadata["fill"]?.data(using: .utf8))
        let fill = try #require(try JSONSerialization.jsonObject(with: json) as? [String: [Any]])
        var writer = SafeTensorsWriter()
        for (name, spec) in fill {
            let shape = name == replaced ? replacement : try #require(spec[0] as? [Int])
            let t = Tensor(shape: shape)
            formulaFill(t, name: name, scale: try #require((spec[1] as? NSNumber)?.doubleValue),
                        offset: try #require((spec[2] as? NSNumber)?.doubleValue))
            writer.add(name, values: t)
        }
        return try SafeTensorsArchive.parse(writer.encode(), source: "formula.safetensors")
    }

    @Test func resizeMatchesInterpolate() throws {
        let images = Self.formulaImages(3), side = InceptionV3.inputSide, planes = 3 * side * side
        let resize = BilinearResize(inputHeight: 64, inputWidth: 64, outputHeight: side, outputWidth: side)
        var input = [Float](repeating: 0, count: 3 * planes)
        images.withUnsafeBufferPointer { bytes in
            input.withUnsafeMutableBufferPointer { out in
                for i in 0..<3 {
                    InceptionV3.input(bytes.baseAddress! + i * 64 * 64 * 3, side: 64, resize: resize,
                                      into: out.baseAddress! + i * planes)
                }
            }
        }
        let indices = try Self.golden().floats("input_indices").map { Int($0) }
        let expected = try Self.golden().floats("input")
        let worst = zip(indices, expected).map { abs(input[$0] - $1) }.max() ?? .infinity
        #expect(worst <= 2.4e-7, "largest difference from F.interpolate \(worst)")
    }

    @Test func featuresMatchPyTorch() throws {
        let network = try InceptionV3(archive: Self.formulaWeights())
        let images = Self.formulaImages(3)
        let features = images.withUnsafeBufferPointer { network.features(images: $0, count: 3, side: 64) }
        #expect(features.count == 3 && features.dimension == 2048)
        let expected = try Self.golden().floats("features")
        let error = relativeMaxError(features.values, expected)
        #expect(error < 1e-4, "relative error \(error)")
    }

    /// Each kernel shape of the network, BatchNorm folded in, against the naive convolution
    /// followed by BatchNorm (ε = 0.001) and ReLU; the one-axis paddings as rows or columns
    /// of the naive convolution padded on both axes. Each as one SGEMM and cut into bands of
    /// two output rows (a column budget of two rows, as the stem's large maps are cut).
    @Test(arguments: [(1, 1, 1, 0, 0), (3, 3, 2, 0, 0), (3, 3, 1, 0, 0), (3, 3, 1, 1, 1), (5, 5, 1, 2, 2),
                      (1, 7, 1, 0, 3), (7, 1, 1, 3, 0), (1, 3, 1, 0, 1), (3, 1, 1, 1, 0)], [false, true])
    func foldedConvolutionMatchesConvolutionBatchNormReLU(kernel: (kh: Int, kw: Int, stride: Int, ph: Int, pw: Int), banded: Bool) {
        let (kh, kw, stride, ph, pw) = kernel
        let (c, m, h, w) = (5, 4, 9, 8)
        let x = TestSupport.Reference.randomTensor([1, c, h, w], seed: 1), weight = TestSupport.Reference.randomTensor([m, c, kh, kw], seed: 2)
        let gamma = (0..<m).map { 1 + 0.1 * Float($0) }, beta = (0..<m).map { 0.05 * Float($0) - 0.1 }
        let mean = (0..<m).map { 0.1 - 0.03 * Float($0) }, variance = (0..<m).map { 0.5 + 0.2 * Float($0) }
        var conv = FoldedConvolution(inputChannels: c, outputChannels: m, kernel: (kh, kw), stride: stride,
                                     padding: (ph, pw), convolution: weight.array, gamma: gamma, beta: beta,
                                     runningMean: mean, runningVariance: variance)
        let shape = MapShape(channels: c, height: h, width: w), out = conv.outputShape(shape)
        if banded { conv.columnBudget = 2 * c * kh * kw * out.width }
        #expect(conv.bandRows(shape) == (banded && !conv.isPointwise ? 2 : out.height))
        var y = [Float](repeating: .nan, count: out.count)
        var scratch = [Float](repeating: .nan, count: max(conv.scratchCount(shape), 1))
        y.withUnsafeMutableBufferPointer { y in
            scratch.withUnsafeMutableBufferPointer { scratch in
                conv.forward(x.buffer.baseAddress!, shape: shape, into: y.baseAddress!, scratch: scratch.baseAddress!)
            }
        }
        let padding = max(ph, pw)
        let full = TestSupport.Reference.conv(RefTensor(x), RefTensor(weight), stride: stride, padding: padding)
        let (fh, fw) = (full.shape[2], full.shape[3])
        var expected = [Float]()
        for o in 0..<m {
            for i in 0..<out.height {
                for j in 0..<out.width {
                    let v = full.data[full.at(0, o, i + padding - ph, j + padding - pw)]
                    let bn = (v - Double(mean[o])) / (Double(variance[o]) + 0.001).squareRoot() * Double(gamma[o]) + Double(beta[o])
                    expected.append(Float(max(bn, 0)))
                }
            }
        }
        #expect(out.height == fh - 2 * (padding - ph) && out.width == fw - 2 * (padding - pw))
        #expect(relativeMaxError(y, expected) < 1e-5)
    }

    @Test func poolsAverageInsideTheImageAndTakeTheMaximum() {
        let plane: [Float] = (1...16).map(Float.init)  // 4×4, rows 1–4, 5–8, …
        let shape = MapShape(channels: 1, height: 4, width: 4)
        func pooled(_ pool: InceptionPool) -> [Float] {
            var out = [Float](repeating: .nan, count: pool.outputShape(shape).count)
            plane.withUnsafeBufferPointer { p in out.withUnsafeMutableBufferPointer { pool.forward(p.baseAddress!, shape: shape, into: $0.baseAddress!) } }
            return out
        }
        // count_include_pad=False: the corner averages its 4 pixels, an edge pixel its 6.
        let average = pooled(.average)
        #expect(average[0] == (1 + 2 + 5 + 6) / 4 && average[1] == (1 + 2 + 3 + 5 + 6 + 7) / 6)
        #expect(average[5] == (1 + 2 + 3 + 5 + 6 + 7 + 9 + 10 + 11) / 9)
        #expect(pooled(.max(stride: 2, padding: 0)) == [11])
        #expect(pooled(.max(stride: 1, padding: 1)) == [6, 7, 8, 8, 10, 11, 12, 12, 14, 15, 16, 16, 14, 15, 16, 16])
    }

    /// The step profile (`bench --inception --layers`) has every step once, in order: the
    /// input, the 94 convolutions, the 13 pools, pool3, each with all the images it ran on.
    @Test func profileTimesEveryStep() throws {
        let network = try InceptionV3(archive: Self.formulaWeights())
        let images = Self.formulaImages(3)
        let steps = images.withUnsafeBufferPointer { network.profile(images: $0, count: 3, side: 64, repeats: 2) }
        #expect(steps.count == 1 + 94 + 13 + 1)
        #expect(steps.first?.name == "input" && steps[1].name == "blocks.0.0" && steps.last?.name == "pool3")
        #expect(steps.allSatisfy { $0.images == 6 && $0.cpu_s > 0 })
        #expect(steps.filter { $0.flops > 0 }.count == 94)
        // 5.71 G multiply-adds per image, Inception-v3's count at 299².
        #expect(abs(steps.reduce(0) { $0 + $1.flops } / 2 - 5.71e9) < 0.01e9)
    }

    /// A group of 5 images in the grouped layout [C, 5·H·W], in bands of 2 images, against each
    /// image alone (NCHW, checked against the naive convolution above), for each kernel shape.
    @Test(arguments: [(1, 1, 1, 0, 0), (3, 3, 2, 0, 0), (3, 3, 1, 1, 1), (1, 7, 1, 0, 3), (7, 1, 1, 3, 0)])
    func groupedConvolutionMatchesOneImageAtATime(kernel: (kh: Int, kw: Int, stride: Int, ph: Int, pw: Int)) {
        let (kh, kw, stride, ph, pw) = kernel
        let (n, c, m, h, w) = (5, 3, 4, 9, 8)
        let weight = TestSupport.Reference.randomTensor([m, c, kh, kw], seed: 2).array
        var conv = FoldedConvolution(inputChannels: c, outputChannels: m, kernel: (kh, kw), stride: stride, padding: (ph, pw),
                                     convolution: weight, gamma: [Float](repeating: 1.2, count: m), beta: [Float](repeating: 0.1, count: m),
                                     runningMean: [Float](repeating: 0, count: m), runningVariance: [Float](repeating: 1, count: m))
        let shape = MapShape(channels: c, height: h, width: w), out = conv.outputShape(shape)
        let images = TestSupport.Reference.randomTensor([n, c, h, w], seed: 4).array
        var alone = [Float](repeating: .nan, count: n * out.count)
        var scratch = [Float](repeating: .nan, count: max(conv.scratchCount(shape, count: n), 1))
        for b in 0..<n {
            images.withUnsafeBufferPointer { x in alone.withUnsafeMutableBufferPointer { y in scratch.withUnsafeMutableBufferPointer { s in
                conv.forward(x.baseAddress! + b * shape.count, shape: shape, into: y.baseAddress! + b * out.count, scratch: s.baseAddress!)
            } } }
        }
        // NCHW → grouped: channel ch of image b at (ch·n + b)·pixels.
        var grouped = [Float](repeating: 0, count: images.count)
        for b in 0..<n { for ch in 0..<c { for p in 0..<shape.pixels {
            grouped[(ch * n + b) * shape.pixels + p] = images[(b * c + ch) * shape.pixels + p]
        } } }
        if !conv.isPointwise { conv.columnBudget = 2 * c * kh * kw * out.pixels }
        #expect(conv.isPointwise || conv.bandImages(shape) == 2)
        var together = [Float](repeating: .nan, count: n * out.count)
        scratch = [Float](repeating: .nan, count: max(conv.scratchCount(shape, count: n), 1))
        grouped.withUnsafeBufferPointer { x in together.withUnsafeMutableBufferPointer { y in scratch.withUnsafeMutableBufferPointer { s in
            conv.forward(x.baseAddress!, shape: shape, count: n, into: y.baseAddress!, scratch: s.baseAddress!)
        } } }
        var expected = [Float](repeating: 0, count: together.count)
        for b in 0..<n { for o in 0..<m { for p in 0..<out.pixels {
            expected[(o * n + b) * out.pixels + p] = alone[(b * m + o) * out.pixels + p]
        } } }
        #expect(relativeMaxError(together, expected) < 1e-6)
    }

    /// The 3×3 pool the textbook way: every window's pixels inside the image, one by one.
    static func naivePool(_ pool: InceptionPool, _ input: [Float], shape: MapShape) -> [Float] {
        let (stride, padding) = if case let .max(stride, padding) = pool { (stride, padding) } else { (1, 1) }
        let out = pool.outputShape(shape)
        var result = [Float]()
        for c in 0..<shape.channels {
            for oy in 0..<out.height {
                for ox in 0..<out.width {
                    var window = [Float]()
                    for y in (oy * stride - padding)..<(oy * stride - padding + 3) where (0..<shape.height).contains(y) {
                        for x in (ox * stride - padding)..<(ox * stride - padding + 3) where (0..<shape.width).contains(x) {
                            window.append(input[(c * shape.height + y) * shape.width + x])
                        }
                    }
                    result.append(pool == .average ? window.reduce(0, +) / Float(window.count) : window.max()!)
                }
            }
        }
        return result
    }

    /// The separable pools against the naive windows on the network's map sizes (odd and even,
    /// 8² to 147²) and small ones: the maximum exactly, the average to rounding.
    @Test(arguments: [(3, 4, 5), (2, 8, 8), (3, 17, 17), (2, 35, 35), (2, 16, 7), (1, 147, 147), (1, 3, 3)])
    func poolsMatchNaiveWindows(channels: Int, height: Int, width: Int) {
        let shape = MapShape(channels: channels, height: height, width: width)
        let x = TestSupport.Reference.randomTensor([shape.count], seed: 3).array
        for pool in [InceptionPool.average, .max(stride: 2, padding: 0), .max(stride: 1, padding: 1)] {
            var y = [Float](repeating: .nan, count: pool.outputShape(shape).count)
            x.withUnsafeBufferPointer { x in y.withUnsafeMutableBufferPointer { pool.forward(x.baseAddress!, shape: shape, into: $0.baseAddress!) } }
            let expected = Self.naivePool(pool, x, shape: shape)
            if pool == .average {
                #expect(relativeMaxError(y, expected) < 1e-6, "\(pool) on \(shape)")
            } else {
                #expect(y == expected, "\(pool) on \(shape)")
            }
        }
    }

    @Test func missingOrMisshapenWeightsNameTheTensor() throws {
        let empty = try SafeTensorsArchive.parse(SafeTensorsWriter().encode(), source: "empty.safetensors")
        #expect(throws: FileError(file: "empty.safetensors",
                                  "no tensor 'blocks.0.0.conv.weight' (shape [32, 3, 3, 3]): not the state_dict of pytorch-fid's InceptionV3")) {
            try InceptionV3(archive: empty)
        }
        let name = "blocks.2.4.branch7x7_2.conv.weight"
        let misshapen = try Self.formulaWeights(replacing: name, shape: [128, 128, 7, 1])
        #expect(throws: FileError(file: "formula.safetensors",
                                  "tensor '\(name)' has shape [128, 128, 7, 1], expected [128, 128, 1, 7]")) {
            try InceptionV3(archive: misshapen)
        }
    }

    @Test func weightsFileComesFromTheOptionOrTheEnvironment() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("inception-\(UUID()).safetensors").path
        try Data().write(to: URL(fileURLWithPath: file))
        defer { try? FileManager.default.removeItem(atPath: file) }
        #expect(try InceptionV3.resolveWeightsFile(file, environment: [:]) == file)
        #expect(try InceptionV3.resolveWeightsFile(nil, environment: ["VAE_FACES_INCEPTION": file]) == file)
        #expect(try InceptionV3.resolveWeightsFile(file, environment: ["VAE_FACES_INCEPTION": "/nowhere"]) == file)
        #expect(throws: VAEFacesError.self) { try InceptionV3.resolveWeightsFile(nil, environment: [:]) }
        let missing = file + ".missing"
        #expect(throws: FileError(file: missing, "no such file: the FID Inception weights are made with: \(InceptionV3.conversion)")) {
            try InceptionV3.resolveWeightsFile(nil, environment: ["VAE_FACES_INCEPTION": missing])
        }
    }

    /// A random-weight network and its float32 PyTorch features, written by
    /// `Scripts/inception_golden.py --random DIR` (95 MB, not committed): run with
    /// VAE_FACES_INCEPTION_GOLDEN=DIR.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["VAE_FACES_INCEPTION_GOLDEN"] != nil))
    func randomWeightsMatchPyTorch() throws {
        let folder = try #require(ProcessInfo.processInfo.environment["VAE_FACES_INCEPTION_GOLDEN"])
        let network = try InceptionV3(contentsOf: folder + "/inception_random.safetensors")
        let golden = try SafeTensorsArchive.read(path: folder + "/inception_random_features.safetensors")
        let images = try golden.floats("images").map { UInt8($0) }
        let count = images.count / (64 * 64 * 3)
        let features = images.withUnsafeBufferPointer { network.features(images: $0, count: count, side: 64) }
        let error = relativeMaxError(features.values, try golden.floats("features"))
        #expect(error < 1e-4, "relative error \(error)")
    }
}
