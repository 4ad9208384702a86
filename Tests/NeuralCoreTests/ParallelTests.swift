import Testing
import NeuralCore
import TestSupport

@Test func parallelForVisitsEveryIndexOnce() {
    var hits = [Int](repeating: 0, count: 1000)
    hits.withUnsafeMutableBufferPointer { buf in
        let p = UnsafeSendable(buf.baseAddress!)
        parallelFor(1000) { i in p.value[i] += 1 }
    }
    #expect(hits.allSatisfy { $0 == 1 })
}

@Test func parallelChunksCoverTheRangeWithoutOverlap() {
    for count in [0, 1, 2, 3, 17] {
        var hits = [Int](repeating: 0, count: count)
        hits.withUnsafeMutableBufferPointer { buf in
            guard let base = buf.baseAddress else { return }
            let p = UnsafeSendable(base)
            parallelChunks(count) { range in for i in range { p.value[i] += 1 } }
        }
        #expect(hits.allSatisfy { $0 == 1 })
    }
    #expect(relativeMaxError([1, 2], [1, 2]) == 0)
}
