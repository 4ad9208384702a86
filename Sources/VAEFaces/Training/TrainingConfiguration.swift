import Foundation
import NeuralCore

/// What defines a training run and stays fixed for its whole life (a resumed run keeps it):
/// the model, the optimiser's settings, the batch size, the seed and the data.
/// Defaults are the reference model's (docs/model.md): latent 128, β 1, Adam lr 5e-4, batch 64.
public struct TrainingConfiguration: Codable, Equatable, Sendable {
    public var model: VAEConfiguration
    public var batchSize: Int
    public var learningRate: Double
    /// Fixes the initial weights (stream 0), the data order (`BatchLoader.order`), the ε noise
    /// of training (stream 2), the validation noise and the fixed sample latents (stream 4).
    public var seed: UInt64
    /// The data folder the run trains on (absolute), if known.
    public var dataFolder: String?
    /// The prepared cache it reads (absolute), when given explicitly.
    public var cachePath: String?

    public init(model: VAEConfiguration = VAEConfiguration(), batchSize: Int = 64, learningRate: Double = 5e-4,
                seed: UInt64 = 0, dataFolder: String? = nil, cachePath: String? = nil) {
        self.model = model
        self.batchSize = batchSize
        self.learningRate = learningRate
        self.seed = seed
        self.dataFolder = dataFolder
        self.cachePath = cachePath
    }

    /// Throws a message for settings that cannot train.
    public func validate() throws {
        guard model.latentDimension > 0 else { throw VAEFacesError("the latent size must be positive, got \(model.latentDimension)") }
        guard batchSize > 1 else { throw VAEFacesError("the batch size must be at least 2 (BatchNorm needs batch statistics), got \(batchSize)") }
        guard learningRate > 0, learningRate.isFinite else { throw VAEFacesError("the learning rate must be positive, got \(learningRate)") }
        guard model.klWeight >= 0, model.klWeight.isFinite else { throw VAEFacesError("β (the KL weight) must be 0 or more, got \(model.klWeight)") }
    }
}

/// When things happen during a run; may change when a run is resumed.
public struct TrainingSchedule: Equatable, Sendable {
    /// The run stops after this step (steps count from 1; a resumed run continues to it).
    public var steps: Int
    /// Also write sample and reconstruction grids every this many steps.
    public var sampleEvery: Int?
    /// Write `latest.safetensors` every this many steps (and at every epoch end, on a stop
    /// request and at the end of the run).
    public var checkpointEvery: Int?
    /// Also validate (with grids) every this many steps; validation always runs at each epoch's
    /// end and at the end of the run.
    public var evalEvery: Int?
    /// Validate on at most this many val images (nil: the whole split). For quick tests.
    public var validationLimit: Int?
    /// Tiles of the sample grid and of the reconstruction grid (originals + reconstructions).
    public var gridCount: Int
    public var gridColumns: Int

    public init(steps: Int, sampleEvery: Int? = nil, checkpointEvery: Int? = 200, evalEvery: Int? = nil,
                validationLimit: Int? = nil, gridCount: Int = 64, gridColumns: Int = 8) {
        self.steps = steps
        self.sampleEvery = sampleEvery
        self.checkpointEvery = checkpointEvery
        self.evalEvery = evalEvery
        self.validationLimit = validationLimit
        self.gridCount = gridCount
        self.gridColumns = gridColumns
    }

    public func validate() throws {
        guard steps > 0 else { throw VAEFacesError("the number of steps must be positive, got \(steps)") }
        for (name, value) in [("--sample-every", sampleEvery), ("--checkpoint-every", checkpointEvery), ("--eval-every", evalEvery)] {
            if let value, value <= 0 { throw VAEFacesError("\(name) must be positive, got \(value)") }
        }
        if let validationLimit, validationLimit <= 0 { throw VAEFacesError("the validation limit must be positive, got \(validationLimit)") }
        guard gridCount > 0, gridColumns > 0 else { throw VAEFacesError("grids need at least one tile and one column") }
    }
}

/// The files of a run folder:
///
///     RUN/latest.safetensors             checkpoint after the last saved step (resume from it)
///     RUN/best.safetensors               checkpoint with the lowest validation loss so far
///     RUN/training.csv                   one row per step; val columns on validated steps
///     RUN/loss.svg                       train and val loss against the step
///     RUN/samples/step-00001234.png      decoded fixed latent vectors (comparable over time)
///     RUN/reconstructions/step-00001234.png   val originals (odd rows) above reconstructions
public struct RunFolder: Sendable, Equatable {
    public let path: String
    public init(_ path: String) { self.path = DataFolder.absolutePath(path) }

    public var latestCheckpoint: String { path + "/latest.safetensors" }
    public var bestCheckpoint: String { path + "/best.safetensors" }
    public var log: String { path + "/training.csv" }
    public var lossPlot: String { path + "/loss.svg" }
    public func sampleGrid(step: Int) -> String { path + "/samples/step-\(Self.stepName(step)).png" }
    public func reconstructionGrid(step: Int) -> String { path + "/reconstructions/step-\(Self.stepName(step)).png" }

    /// The step zero-padded to 8 digits, so file names sort by step.
    static func stepName(_ step: Int) -> String {
        let s = String(step)
        return String(repeating: "0", count: max(0, 8 - s.count)) + s
    }
}
