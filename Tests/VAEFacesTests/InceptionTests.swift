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
