import ArgumentParser
import Foundation
import NeuralCore
import TensorIO
import VAEFaces

struct TraverseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "traverse",
        abstract: "Latent traversals: one row per latent dimension, swept over a range with the others fixed.",
        discussion: """
            Each row decodes the base code with one dimension set to --steps evenly spaced values \
            of --range (both ends included). The base code is a prior sample of --seed (the first \
            face of `sample --seed`) or, with --from-test K, the posterior mean μ of test face K \
            (0-based, file-name order). --dims N takes the N dimensions with the largest average \
            KL(q(z_j|x) ‖ N(0, 1)) on the val split, printed (this needs --data or --cache); \
            --dims 3,17,40 names them (0-based; a single one as --dims 5,).
            """)

    @Option(help: "The model file (.safetensors: checkpoint, export or PyTorch state_dict).")
    var model: String

    @Option(help: "The grid PNG to write.")
    var out: String

    @Option(help: ArgumentHelp("How many dimensions (the most active on the val split), or a comma-separated list of them.",
                               valueName: "N|i,j,…"))
    var dims = "8"

    @Option(parsing: .unconditional, help: ArgumentHelp("The values each row sweeps, LOW:HIGH.", valueName: "LOW:HIGH"))
    var range = "-3:3"

    @Option(help: "Values per row (grid columns).")
    var steps = 9

    @Option(help: "Seed of the prior sample the other dimensions keep.")
    var seed: UInt64 = 0

    @Option(name: .customLong("from-test"), help: ArgumentHelp("Start from the posterior mean of test face K instead.", valueName: "K"))
    var fromTest: Int?

    /// For the KL ranking and --from-test.
    @OptionGroup var data: DataOptions

    @OptionGroup var threads: ThreadOptions

    /// --dims as the library's choice.
    var dimensions: Traversal.Dimensions {
        get throws {
            if dims.contains(",") {
                let parts = dims.split(separator: ",", omittingEmptySubsequences: true)
                let list = parts.compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
                guard list.count == parts.count, !list.isEmpty else {
                    throw ValidationError("--dims \(dims): expected a count or comma-separated dimension numbers")
                }
                return .chosen(list)
            }
            guard let count = Int(dims), count > 0 else {
                throw ValidationError("--dims \(dims): expected a positive count or comma-separated dimension numbers")
            }
            return .mostActive(count: count)
        }
    }

    /// --range as a closed range.
    var sweep: ClosedRange<Float> {
        get throws {
            let parts = range.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 2, let low = Float(parts[0]), let high = Float(parts[1]),
                  low.isFinite, high.isFinite, low < high else {
                throw ValidationError("--range \(range): expected LOW:HIGH with LOW < HIGH, e.g. -3:3")
            }
            return low...high
        }
    }

    func validate() throws {
        _ = try dimensions
        _ = try sweep
        guard steps >= 2 else { throw ValidationError("--steps must be at least 2 (the two ends), got \(steps)") }
        if let fromTest, fromTest < 0 { throw ValidationError("--from-test must be 0 or more, got \(fromTest)") }
    }

    func run() throws {
        threads.apply()
        let loaded = try ModelFile.load(path: model, requireEncoder: true)
        let choice = try dimensions
        // Without data the library says what needs it.
        let prepared: PreparedCache?
        if data.isGiven && (fromTest != nil || choice.isRanked) {
            prepared = try data.open()
        } else {
            prepared = nil
        }
        let result = try Traversal.run(loaded.model, dimensions: choice,
                                       base: fromTest.map { .testFace($0) } ?? .prior(seed: seed),
                                       range: try sweep, steps: steps, cache: prepared)
        if let kl = result.averageKL {
            print("dimensions by average KL on the val split (nats): "
                  + result.dimensions.map { String(format: "%d (%.2f)", $0, kl[$0]) }.joined(separator: ", "))
        }
        try PNG.write(Grid.make(tiles: result.faces, columns: steps), to: out)
        printError("\(loaded.decoder.rawValue) model: rows = dimensions \(result.dimensions.map(String.init).joined(separator: ", ")), "
                   + "\(steps) values from \(result.values.first!) to \(result.values.last!) → \(out)")
    }
}
