import Foundation

/// A contiguous Float32 array with a shape, in row-major order.
///
/// Layout: images are **NCHW** ([batch, channels, height, width]), the layout of the PyTorch
/// peer's tensors and `state_dict`, so weights, golden files and checkpoints move between the two
/// without transposes. A convolution then sees each image's channel planes as the rows of a
/// matrix, which is what im2col + SGEMM and per-channel SIMD loops want.
///
/// A `Tensor` is a reference type that owns 64-byte aligned memory for its whole life: layers
/// allocate their outputs and gradients once and overwrite them each step (no allocation in the
/// training loop). Reading or writing goes through `pointer`, or `withUnsafe…` for buffers.
/// A *view* (`viewed(as:reusing:)`) shares another tensor's memory under a shape of its own.
public final class Tensor: @unchecked Sendable, CustomStringConvertible {
    public private(set) var shape: [Int]
    /// Number of elements (the product of `shape`).
    public var count: Int { shape.reduce(1, *) }
    /// Number of elements the memory can hold; `reshape` may grow the used part up to this.
    public let capacity: Int
    public let pointer: UnsafeMutablePointer<Float>
    /// The tensor whose memory a view shares (kept alive by it); nil when the memory is its own.
    private let base: Tensor?

    /// A zero-filled tensor of the given shape.
    public init(shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "Tensor: negative dimension in \(shape)")
        self.shape = shape
        self.capacity = max(1, shape.reduce(1, *))
        var raw: UnsafeMutableRawPointer? = nil
        let status = posix_memalign(&raw, 64, capacity * MemoryLayout<Float>.stride)
        guard status == 0, let raw else { fatalError("Tensor: cannot allocate \(capacity) floats") }
        pointer = raw.bindMemory(to: Float.self, capacity: capacity)
        pointer.initialize(repeating: 0, count: capacity)
        base = nil
    }

    /// A view of `base`'s memory with shape `shape` (no copy: a write through either shows in both).
    private init(viewing base: Tensor, shape: [Int]) {
        self.shape = shape
        capacity = base.capacity
        pointer = base.pointer
        self.base = base
    }

    /// A tensor holding a copy of `values` (whose count must match `shape`).
    public convenience init(shape: [Int], values: [Float]) {
        self.init(shape: shape)
        precondition(values.count == count, "Tensor: \(values.count) values for shape \(shape)")
        values.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: values.count) }
    }

    deinit { if base == nil { free(pointer) } }

    /// Changes the shape to one with at most `capacity` elements; contents are kept as they lie.
    public func reshape(_ newShape: [Int]) {
        let n = newShape.reduce(1, *)
        precondition(n <= capacity, "Tensor.reshape: \(newShape) needs \(n) elements, capacity \(capacity)")
        shape = newShape
    }

    /// This tensor's elements seen with shape `shape` (same element count), without changing
    /// this tensor: `view` when it is already a view of this tensor (reshaped to `shape`), else
    /// a new one. The way a network reads a layer's output in another shape (the decoder's
    /// [N, 4096] → [N, 256, 4, 4]) while the layer keeps its own; the caller keeps the view
    /// for the next call, as layers keep their outputs.
    public func viewed(as shape: [Int], reusing view: Tensor?) -> Tensor {
        precondition(shape.reduce(1, *) == count, "Tensor.viewed: \(shape) for the \(count) elements of \(self.shape)")
        if let view, view.base === self {
            view.reshape(shape)
            return view
        }
        return Tensor(viewing: self, shape: shape)
    }

    public var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: pointer, count: count) }
    public var array: [Float] { Array(buffer) }

    public func fill(_ value: Float) { pointer.update(repeating: value, count: count) }
    public func zero() { fill(0) }

    /// Copies the contents of `other`, which must have the same element count.
    public func copy(from other: Tensor) {
        precondition(other.count == count, "Tensor.copy: \(other.shape) into \(shape)")
        pointer.update(from: other.pointer, count: count)
    }

    public subscript(i: Int) -> Float {
        get { pointer[i] }
        set { pointer[i] = newValue }
    }

    public var description: String { "Tensor\(shape)" }
}

/// Returns `tensor` if it exists with exactly `shape` (or can be reshaped to it within its
/// capacity), else a new zeroed tensor: the one way layers keep output buffers across steps.
public func reuse(_ tensor: Tensor?, shape: [Int]) -> Tensor {
    if let tensor, shape.reduce(1, *) <= tensor.capacity {
        if tensor.shape != shape { tensor.reshape(shape) }
        return tensor
    }
    return Tensor(shape: shape)
}
