import Foundation
import Testing
import NeuralCore
import TestSupport

/// What each rank of a `ThreadGroup` produced: its share's output and input gradient, its
/// parameter gradients and its running statistics after one training forward and backward.
private final class RankResults: @unchecked Sendable {
    var outputs: [[Float]]
    var inputGradients: [[Float]]
    var weightGradients: [[Float]]
    var biasGradients: [[Float]]
    var buffers: [[[Float]]]
    init(ranks: Int) {
        outputs = Array(repeating: [], count: ranks)
        inputGradients = outputs
        weightGradients = outputs
        biasGradients = outputs
        buffers = Array(repeating: [], count: ranks)
    }

    private let lock = NSLock()

    /// Stores rank `rank`'s results. The ranks call it at the same time, and a Swift array must not
    /// be changed from several threads at once (its copy-on-write check races), hence the lock.
    func record(_ rank: Int, outputs: [Float], inputGradients: [Float], weightGradients: [Float], biasGradients: [Float],
                buffers: [[Float]]) {
        lock.withLock {
            self.outputs[rank] = outputs
            self.inputGradients[rank] = inputGradients
            self.weightGradients[rank] = weightGradients
            self.biasGradients[rank] = biasGradients
            self.buffers[rank] = buffers
        }
    }
}

/// Rows `rows` (along the batch axis) of a tensor, as a new tensor.
private func rows(_ t: Tensor, _ rows: Range<Int>) -> Tensor {
    let per = t.count / t.shape[0]
    let out = Tensor(shape: [rows.count] + t.shape.dropFirst())
    out.pointer.update(from: t.pointer + rows.lowerBound * per, count: rows.count * per)
    return out
}

/// Synchronised BatchNorm: N ranks, each with B/N images of a batch, compute what one BatchNorm
/// computes on the whole batch B — the outputs and input gradients of their rows, the same
/// running statistics on every rank, and parameter gradients whose sum over the ranks is the
/// whole batch's (the trainer sums them). Shares with different statistics per rank, so the
/// global mean and variance differ from every local one.
@Test(arguments: [([6, 3, 4, 5], BatchNorm.Activation.identity, 2), ([8, 4, 3, 17], .relu, 2),
                  ([9, 5], .leakyReLU(slope: 0.2), 3), ([4, 2, 8, 8], .relu, 4)])
func synchronisedBatchNormEqualsOneBatchNormOnTheWholeBatch(shape: [Int], activation: BatchNorm.Activation, ranks: Int) {
    let channels = shape[1], share = shape[0] / ranks
    let x = channelInput(shape, seed: 31)
    for i in 0..<x.count where i >= x.count / 2 { x[i] = 0.5 * x[i] + 1 }       // the later ranks' statistics differ
    let dy = Reference.randomTensor(shape, seed: 32)
    let whole = makeBatchNorm(channels, seed: 33)
    let reference = BatchNorm(channels: channels, activation: activation)
    for ((_, a), (_, b)) in zip(reference.stateDict, whole.stateDict) { a.pointer.update(from: b.pointer, count: b.count) }
    let y = reference.forward(x, mode: .training).array
    let dx = reference.backward(dy).array

    let group = ThreadGroup(size: ranks)
    let results = RankResults(ranks: ranks)
    let box = UnsafeSendable((x, dy, whole))
    group.run { rank in
        let (x, dy, whole) = box.value
        let bn = BatchNorm(channels: channels, activation: activation)
        for ((_, a), (_, b)) in zip(bn.stateDict, whole.stateDict) { a.pointer.update(from: b.pointer, count: b.count) }
        bn.communicator = group.communicator(rank: rank)
        let mine = rank * share ..< (rank + 1) * share
        let outputs = bn.forward(rows(x, mine), mode: .training).array
        let inputGradients = bn.backward(rows(dy, mine)).array
        results.record(rank, outputs: outputs, inputGradients: inputGradients, weightGradients: bn.weight.gradient.array,
                       biasGradients: bn.bias.gradient.array, buffers: bn.buffers.map { $0.tensor.array })
    }

    let per = x.count / shape[0] * share
    for rank in 0..<ranks {
        let mine = rank * per ..< (rank + 1) * per
        #expect(relativeMaxError(results.outputs[rank], Array(y[mine])) < 1e-5, "rank \(rank): outputs")
        #expect(relativeMaxError(results.inputGradients[rank], Array(dx[mine])) < 1e-4, "rank \(rank): input gradients")
        #expect(results.buffers[rank] == results.buffers[0], "rank \(rank): running statistics differ from rank 0's")
    }
    for (ours, theirs) in zip(results.buffers[0], reference.buffers.map { $0.tensor.array }) {
        #expect(relativeMaxError(ours, theirs) < 1e-5, "running statistics")
    }
    let sum = { (parts: [[Float]]) in (0..<channels).map { c in parts.reduce(0) { $0 + $1[c] } } }
    #expect(relativeMaxError(sum(results.weightGradients), reference.weight.gradient.array) < 1e-4)
    #expect(relativeMaxError(sum(results.biasGradients), reference.bias.gradient.array) < 1e-4)
}

/// Without a communicator, or with one of a single process, BatchNorm is the local one, bit for bit.
@Test func batchNormWithOneProcessIsTheLocalOne() {
    let x = channelInput([4, 3, 5, 5], seed: 41), dy = Reference.randomTensor([4, 3, 5, 5], seed: 42)
    let plain = makeBatchNorm(3, seed: 43), alone = makeBatchNorm(3, seed: 43)
    alone.communicator = SingleProcess()
    #expect(plain.forward(x, mode: .training).array == alone.forward(x, mode: .training).array)
    #expect(plain.backward(dy).array == alone.backward(dy).array)
    #expect(plain.weight.gradient.array == alone.weight.gradient.array)
    #expect(plain.buffers.map { $0.tensor.array } == alone.buffers.map { $0.tensor.array })
}
