import ArgumentParser
import Foundation
import NeuralCore
import VAEFaces

// Option groups that several subcommands share.

/// Options every compute-heavy subcommand shares.
struct ThreadOptions: ParsableArguments {
    @Option(help: "Worker threads (default: all cores).")
    var threads: Int?

    func apply() { Threading.configure(workers: threads) }
}

/// `--data`, `--cache`: the real faces a command reads (each command's discussion says what for).
struct DataOptions: ParsableArguments {
    @Option(help: "The data folder (default: $VAE_FACES_DATA).")
    var data: String?

    @Option(help: "The prepared cache (default: the data folder's, prepared when missing).")
    var cache: String?

    /// Whether a data folder or cache is named (--data, --cache or $VAE_FACES_DATA).
    var isGiven: Bool {
        data != nil || cache != nil || ProcessInfo.processInfo.environment[DataPreparation.environmentVariable] != nil
    }

    /// The prepared cache of --cache, or of --data / $VAE_FACES_DATA (prepared first when needed).
    func open() throws -> PreparedCache {
        let folder = data != nil || cache == nil ? try DataPreparation.resolveDataFolder(data) : nil
        return try DataPreparation.openOrPrepare(dataFolder: folder, cachePath: cache) { event in
            if case .note(let text) = event { printError(text) }
        }
    }
}

/// `--n`, `--seed`, `--temperature`: faces decoded from the prior, z = temperature · ε with ε ~
/// N(0, I) drawn from the seed (`LatentCodes.prior`). `sample` and `artifact-score` share them, so
/// the same three values name the same faces in both; each command says through `Context` how
/// many faces it draws by default and when the options apply.
struct PriorOptions<Context: PriorOptionsContext>: ParsableArguments {
    @Option(help: ArgumentHelp(Context.countHelp))
    var n: Int = Context.defaultCount

    @Option(help: ArgumentHelp(Context.help("the seed of the latent vectors.")))
    var seed: UInt64 = 0

    @Option(help: ArgumentHelp(Context.help("scales the prior's standard deviation.")))
    var temperature: Float = 1

    func validate() throws {
        guard n > 0 else { throw ValidationError("--n must be positive, got \(n)") }
        guard temperature >= 0, temperature.isFinite else { throw ValidationError("--temperature must be 0 or more, got \(temperature)") }
    }

    /// `count` codes (default `n`) of `dimension` values from the prior.
    func codes(count: Int? = nil, dimension: Int) -> Tensor {
        LatentCodes.prior(count: count ?? n, dimension: dimension, seed: seed, temperature: temperature)
    }

    /// The same faces as the images a model is scored on.
    var source: ModelImageSource { .prior(count: n, seed: seed, temperature: temperature) }
}

/// What a command that decodes faces from the prior says about `PriorOptions`.
protocol PriorOptionsContext {
    /// `--n` when not given.
    static var defaultCount: Int { get }
    /// The help of `--n`.
    static var countHelp: String { get }
    /// When the options apply, as the start of their help ("With --model: "), or "" for always.
    static var scope: String { get }
}

extension PriorOptionsContext {
    /// The help `phrase` after the scope (capitalised when there is none).
    static func help(_ phrase: String) -> String {
        scope.isEmpty ? phrase.prefix(1).uppercased() + phrase.dropFirst() : scope + phrase
    }
}
