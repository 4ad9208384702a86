import Foundation
import NeuralCore
import Testing
import TestSupport
import VAEFaces

/// What one rank's training session gave: the loss of each step, its notes, its trainer, or the
/// error that ended it.
struct RankRun {
    var losses: [VAELossValue] = []
    var notes: [String] = []
    var trainer: Trainer?
    var error: (any Error)?
}

final class RankRuns: @unchecked Sendable {
    var runs: [RankRun]
    init(ranks: Int) { runs = Array(repeating: RankRun(), count: ranks) }
    private let lock = NSLock()
    /// Stores rank `rank`'s run; ranks call it at the same time (a Swift array's copy-on-write
    /// check races when several threads change it), hence the lock.
    func record(_ run: RankRun, rank: Int) { lock.withLock { runs[rank] = run } }
}

/// Data-parallel training with the ranks as threads of this process (`ThreadGroup`): the
/// trainer's share of the batch and of ε, the summed gradients and losses, rank 0 alone writing,
/// exact resumption, and the weight check. (`MPITrainingTests` runs the same under mpirun.)
@Suite(.enabled(if: TrainingTestData.available, "needs ../shared/data/celeba"))
struct DataParallelTrainingTests {
    /// A small model at a small learning rate: Adam's first steps move each weight by about ±lr
    /// whatever the gradient's size, so at 5e-4 rounding differences (even 1 vs 2 worker threads
    /// of one process) grow to 1e-3 in the loss within 20 steps; at 1e-5 they stay near 1e-6.
    static func configuration(batch: Int = 16) -> TrainingConfiguration {
        TrainingConfiguration(model: VAEConfiguration(latentDimension: 16, decoder: .pixeldcl), batchSize: batch,
                              learningRate: 1e-5, seed: 5, dataFolder: TrainingTestData.celebA)
    }

    /// Trains to `steps` in `folder` with `ranks` ranks (a new run, or the run's continuation).
    static func train(ranks: Int, folder: String, steps: Int, resume: Bool = false, checkpointEvery: Int = 3,
                      prepare: @escaping @Sendable (Int, Trainer) -> Void = { _, _ in }) throws -> [RankRun] {
        let cache = try TrainingTestData.cache.get()
        let schedule = TrainingSchedule(steps: steps, checkpointEvery: checkpointEvery, validationLimit: 16, gridCount: 4, gridColumns: 2)
        let group = ThreadGroup(size: ranks)
        let results = RankRuns(ranks: ranks)
        group.run { rank in
            var run = RankRun()
            do {
                let communicator = group.communicator(rank: rank)
                let folder = RunFolder(folder)
                let trainer = resume
                    ? try Trainer(resuming: Checkpoint.read(path: folder.latestCheckpoint), schedule: schedule, folder: folder, cache: cache,
                                  communicator: communicator)
                    : try Trainer(configuration: configuration(), schedule: schedule, folder: folder, cache: cache,
                                  communicator: communicator)
                trainer.showProgress = false
                trainer.shouldStop = { false }
                let notes = RankRuns(ranks: 1)
                trainer.onMessage = { notes.runs[0].notes.append($0) }
                trainer.onStep = { notes.runs[0].losses.append($0.loss) }
                prepare(rank, trainer)
                run.trainer = trainer
                _ = try trainer.run()
                run.losses = notes.runs[0].losses
                run.notes = notes.runs[0].notes
            } catch {
                run.error = error
            }
            results.record(run, rank: rank)
        }
        return results.runs
    }

    static func parameters(_ trainer: Trainer?) -> [[Float]] { trainer!.model.parameters.map { $0.parameter.value.array } }

    /// 2 ranks × 8 images = 1 process × 16 images, step by step, up to rounding; both ranks
    /// report the global loss and hold the same weights; only rank 0 writes the log.
    @Test func twoRanksComputeTheStepsOfOneProcess() throws {
        let one = TrainingTestData.temporaryFolder("dp-one"), two = TrainingTestData.temporaryFolder("dp-two")
        defer { TrainingTestData.remove(one); TrainingTestData.remove(two) }
        let alone = try Self.train(ranks: 1, folder: one, steps: 6)[0]
        let pair = try Self.train(ranks: 2, folder: two, steps: 6)
        try #require(alone.error == nil && pair.allSatisfy { $0.error == nil }, "\(alone.error!) \(pair.compactMap(\.error))")
        #expect(pair[0].losses == pair[1].losses)
        #expect(Self.parameters(pair[0].trainer) == Self.parameters(pair[1].trainer))
        try #require(alone.losses.count == 6 && pair[0].losses.count == 6)
        for (a, b) in zip(alone.losses, pair[0].losses) {
            #expect(abs(a.total - b.total) <= 1e-4 * abs(a.total), "\(a) vs \(b)")
            #expect(abs(a.kl - b.kl) <= 1e-4 * max(1, abs(a.kl)), "\(a) vs \(b)")
        }
        for (a, b) in zip(Self.parameters(alone.trainer), Self.parameters(pair[0].trainer)) {
            #expect(zip(a, b).allSatisfy { abs($0 - $1) <= 1e-4 })
        }
        #expect(try CSVLog.read(path: RunFolder(two).log)["step"] == (1...6).map(Double.init))
        #expect(pair[1].notes.isEmpty, "rank 1 spoke: \(pair[1].notes)")
        #expect(try Checkpoint.read(path: RunFolder(two).latestCheckpoint).state.ranks == 2)
    }

    /// A 2-rank run stopped at step 3 and resumed to 6 is the straight 2-rank run, bit for bit;
    /// one process continues it, with a note that the losses agree only to rounding.
    @Test func twoRanksResumeBitForBitAndOneProcessContinues() throws {
        let straight = TrainingTestData.temporaryFolder("dp-straight"), split = TrainingTestData.temporaryFolder("dp-split")
        defer { TrainingTestData.remove(straight); TrainingTestData.remove(split) }
        let reference = try Self.train(ranks: 2, folder: straight, steps: 6)[0]
        let first = try Self.train(ranks: 2, folder: split, steps: 3)[0]
        let second = try Self.train(ranks: 2, folder: split, steps: 6, resume: true)[0]
        try #require(reference.error == nil && first.error == nil && second.error == nil)
        #expect(first.losses + second.losses == reference.losses)
        #expect(Self.parameters(second.trainer) == Self.parameters(reference.trainer))

        let alone = try Self.train(ranks: 1, folder: split, steps: 8, resume: true)[0]
        #expect(alone.error == nil)
        #expect(alone.losses.count == 2)
        #expect(alone.notes.contains { $0.contains("written by 2 processes") }, "\(alone.notes)")
        #expect(try CSVLog.read(path: RunFolder(split).log)["step"] == (1...8).map(Double.init))
    }

    /// Ranks whose weights drift apart stop at the next check with a message that says so.
    @Test func ranksWithDifferentWeightsStop() throws {
        let folder = TrainingTestData.temporaryFolder("dp-drift")
        defer { TrainingTestData.remove(folder) }
        let runs = try Self.train(ranks: 2, folder: folder, steps: 6, checkpointEvery: 2) { rank, trainer in
            if rank == 1 { trainer.model.parameters[0].parameter.value[0] += 1e-3 }
        }
        for run in runs {
            let message = "\(run.error.map { "\($0)" } ?? "no error")"
            #expect(message.contains("step 2") && message.contains("differ from rank 0's"), "\(message)")
        }
    }

    /// A batch that does not split evenly over the ranks is refused before training.
    @Test func anIndivisibleBatchIsRefused() throws {
        let folder = TrainingTestData.temporaryFolder("dp-indivisible")
        defer { TrainingTestData.remove(folder) }
        let error = #expect(throws: VAEFacesError.self) {
            try Trainer(configuration: Self.configuration(batch: 15), schedule: TrainingSchedule(steps: 1), folder: RunFolder(folder),
                        cache: try TrainingTestData.cache.get(), communicator: ThreadGroup(size: 2).communicator(rank: 0))
        }
        #expect("\(error.map { "\($0)" } ?? "")".contains("multiple of 2"))
    }
}
