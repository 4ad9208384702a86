import Foundation
import NeuralCore
import VAEFaces

/// The real CelebA subset next to the repository (`../shared/data/celeba` from the package
/// root) and its prepared cache, shared by the training, evaluation and sampling tests.
enum TrainingTestData {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    /// The CelebA folder, or nil when it is not there (tests that need it are then skipped).
    static var celebA: String? { sharedCelebA }

    static var available: Bool { celebA != nil }

    /// The prepared cache of `celebA`: the one the whole test run shares (`preparedCelebA`).
    static let cache: Result<PreparedCache, Error> = {
        guard let prepared = preparedCelebA else { return .failure(VAEFacesError("no CelebA folder at ../shared/data/celeba")) }
        return prepared.map(\.cache)
    }()

    /// A fresh empty folder under the temporary directory.
    static func temporaryFolder(_ name: String = #function) -> String {
        let safe = name.filter { $0.isLetter || $0.isNumber }
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("vae-faces-\(safe)-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url.path
    }

    /// Removes a folder made by `temporaryFolder` (run folders hold checkpoints of tens of MB).
    static func remove(_ folder: String) {
        try? FileManager.default.removeItem(atPath: folder)
    }

    /// Images of a split converted to a [N, 3, 64, 64] tensor of floats in [0, 1].
    static func images(_ cache: PreparedCache, _ indices: [Int]) -> Tensor {
        let x = Tensor(shape: [indices.count, 3, 64, 64])
        for (k, index) in indices.enumerated() {
            let bytes = cache.image(index)
            for p in 0..<(64 * 64) {
                for c in 0..<3 { x[k * 12288 + c * 4096 + p] = Float(bytes[3 * p + c]) / 255 }
            }
        }
        return x
    }
}
