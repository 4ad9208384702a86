import Testing
@testable import NeuralCore

/// `EdgeTaps.Layout.pad` writes every float of the bordered planes, in a buffer full of
/// garbage (a shared workspace holds other layers' data): the interior is the source, the border
/// and the slack are zeros.
@Test(arguments: [(h: 4, w: 32, images: 3, channels: 2), (h: 1, w: 33, images: 1, channels: 3), (h: 5, w: 7, images: 2, channels: 1)])
func edgeTapPaddingWritesInteriorAndZeroBorder(_ t: (h: Int, w: Int, images: Int, channels: Int)) {
    let layout = EdgeTaps.Layout(height: t.h, width: t.w, images: t.images)
    let sourceStride = t.images * t.h * t.w
    let source = (0..<t.channels * sourceStride).map { Float($0 + 1) }
    var padded = [Float](repeating: .nan, count: t.channels * layout.channelStride)
    source.withUnsafeBufferPointer { s in
        padded.withUnsafeMutableBufferPointer { p in
            layout.pad(s.baseAddress!, sourceStride: sourceStride, channels: t.channels, into: p.baseAddress!)
        }
    }
    for c in 0..<t.channels {
        for n in 0..<t.images {
            for q in 0..<layout.plane {
                let (row, column) = (q / layout.rowStride, q % layout.rowStride)
                let interior = row >= 1 && row <= t.h && column >= 1 && column <= t.w
                let want = interior ? source[c * sourceStride + n * t.h * t.w + (row - 1) * t.w + column - 1] : 0
                #expect(padded[c * layout.channelStride + n * layout.plane + q] == want,
                        "channel \(c), image \(n), float \(q)")
            }
        }
    }
}
