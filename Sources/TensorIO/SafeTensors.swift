import Foundation
import NeuralCore

// The safetensors format (https://github.com/huggingface/safetensors), as written by the Python
// `safetensors` package and read by PyTorch's `load_state_dict` after `safetensors.torch.load_file`:
//
//   bytes 0..<8      N, the header length, UInt64 little-endian
//   bytes 8..<8+N    a UTF-8 JSON object, possibly padded with trailing spaces:
//                    {"NAME": {"dtype": "F32", "shape": [2, 3], "data_offsets": [BEGIN, END]}, …,
//                     "__metadata__": {"key": "string value", …}}
//   bytes 8+N…       the tensors' raw little-endian data; BEGIN and END count from byte 8+N.
//
// Data is assumed little-endian on the host too (x86-64 and arm64).

/// The element types of safetensors files that can be read (each converted to Float32).
public enum SafeTensorsDType: String, Sendable, CaseIterable {
    case f64 = "F64", f32 = "F32", f16 = "F16", bf16 = "BF16"
    case i64 = "I64", i32 = "I32", i16 = "I16", i8 = "I8", u8 = "U8", bool = "BOOL"

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .f64, .i64: 8
        case .f32, .i32: 4
        case .f16, .bf16, .i16: 2
        case .i8, .u8, .bool: 1
        }
    }
}

/// A safetensors file held in memory (memory-mapped when read from disk): its metadata, and its
/// tensors by name, converted to Float32 on request.
///
/// Every structural problem (header, offsets, sizes, truncation) is found by `parse`, so once an
/// archive exists, `floats` can only fail for a missing name or an unsupported element type.
public struct SafeTensorsArchive {
    /// Where the bytes came from (used in error messages).
    public let source: String
    /// The header's `__metadata__` (empty when absent).
    public var metadata: [String: String]
    /// The tensor names, sorted.
    public private(set) var names: [String]

    struct Entry {
        var dtype: String
        var shape: [Int]
        var count: Int
        /// Byte range within the data section.
        var begin: Int, end: Int
    }
    private let entries: [String: Entry]
    private let bytes: Data
    /// Offset of the data section from the start of `bytes` (which may be a slice).
    private let dataStart: Int

    /// The shape of tensor `name`, or nil if there is no such tensor.
    public func shape(_ name: String) -> [Int]? { entries[name]?.shape }

    /// The element type of tensor `name` as written in the file ("F32", "BF16", …), or nil.
    public func dtype(_ name: String) -> String? { entries[name]?.dtype }

    /// The elements of tensor `name` in row-major order, converted to Float32
    /// (F64 rounded; F16, BF16 exact; integers and BOOL as their values).
    public func floats(_ name: String) throws -> [Float] {
        let (entry, dtype) = try self.entry(name)
        return [Float](unsafeUninitializedCapacity: entry.count) { buffer, initialized in
            convert(entry, dtype, into: buffer)
            initialized = entry.count
        }
    }

    /// Tensor `name` as a new `Tensor` with the file's shape.
    public func tensor(_ name: String) throws -> Tensor {
        let (entry, dtype) = try self.entry(name)
        let tensor = Tensor(shape: entry.shape)
        convert(entry, dtype, into: tensor.buffer)
        return tensor
    }

    /// Copies tensor `name` into `tensor`, whose shape must be the file's: the way to load a
    /// model's parameters in place.
    public func load(_ name: String, into tensor: Tensor) throws {
        let (entry, dtype) = try self.entry(name)
        guard entry.shape == tensor.shape else {
            throw FileError(file: source, "tensor '\(name)' has shape \(entry.shape), expected \(tensor.shape)")
        }
        convert(entry, dtype, into: tensor.buffer)
    }

    /// Tensor `name`'s entry and element type, checked before anything is allocated for it: only
    /// a readable element type guarantees (see `parse`) that its shape fits in the file.
    private func entry(_ name: String) throws -> (Entry, SafeTensorsDType) {
        guard let entry = entries[name] else {
            throw FileError(file: source, "no tensor named '\(name)' (the file has \(names.count) tensors\(names.isEmpty ? "" : ", e.g. '\(names[0])'"))")
        }
        guard let dtype = SafeTensorsDType(rawValue: entry.dtype) else {
            throw FileError(file: source, "tensor '\(name)' has dtype '\(entry.dtype)', which cannot be read (supported: \(SafeTensorsDType.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        return (entry, dtype)
    }

    private func convert(_ entry: Entry, _ dtype: SafeTensorsDType, into out: UnsafeMutableBufferPointer<Float>) {
        let n = entry.count
        bytes.withUnsafeBytes { (all: UnsafeRawBufferPointer) in
            let raw = UnsafeRawBufferPointer(rebasing: all[(dataStart + entry.begin)..<(dataStart + entry.end)])
            switch dtype {
            case .f32:
                if n > 0 { UnsafeMutableRawPointer(out.baseAddress!).copyMemory(from: raw.baseAddress!, byteCount: n * 4) }
            case .f16:
                for i in 0..<n { out[i] = Float(Float16(bitPattern: UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))) }
            case .bf16:
                for i in 0..<n { out[i] = Float(bitPattern: UInt32(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) << 16) }
            case .f64:
                for i in 0..<n { out[i] = Float(Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)))) }
            case .i64:
                for i in 0..<n { out[i] = Float(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self))) }
            case .i32:
                for i in 0..<n { out[i] = Float(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self))) }
            case .i16:
                for i in 0..<n { out[i] = Float(Int16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: Int16.self))) }
            case .i8:
                for i in 0..<n { out[i] = Float(raw.load(fromByteOffset: i, as: Int8.self)) }
            case .u8, .bool:
                for i in 0..<n { out[i] = Float(raw[i]) }
            }
        }
    }

    // MARK: Reading and validating

    /// Reads and validates the safetensors file at `path` (memory-mapped).
    public static func read(path: String) throws -> SafeTensorsArchive {
        try parse(FileRead.contents(of: path, expected: "a safetensors file", mapped: true), source: path)
    }

    /// Validates the bytes of a safetensors file; `source` names them in error messages.
    public static func parse(_ data: Data, source: String) throws -> SafeTensorsArchive {
        func fail(_ problem: String) -> FileError { FileError(file: source, problem) }
        let bytes = data  // not copied (a memory-mapped file stays mapped); offsets below count from its start
        guard bytes.count >= 8 else {
            throw fail("not a safetensors file: \(bytes.count) bytes, shorter than the 8-byte header length")
        }
        let headerLength = bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard headerLength <= UInt64(bytes.count - 8) else {
            throw fail("not a safetensors file or truncated: the header length is \(headerLength) bytes but the file has only \(bytes.count - 8) bytes after it")
        }
        let dataStart = 8 + Int(headerLength)
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: bytes.withUnsafeBytes { Data($0[8..<dataStart]) })
        } catch {
            throw fail("the \(headerLength)-byte header is not valid JSON")
        }
        guard let header = json as? [String: Any] else { throw fail("the header is JSON but not an object") }

        var metadata: [String: String] = [:]
        if let meta = header["__metadata__"] {
            guard let dictionary = meta as? [String: Any] else { throw fail("__metadata__ is not an object") }
            for (key, value) in dictionary {
                guard let string = value as? String else { throw fail("__metadata__ value of '\(key)' is not a string") }
                metadata[key] = string
            }
        }

        let dataLength = bytes.count - dataStart
        var entries: [String: Entry] = [:]
        for (name, value) in header where name != "__metadata__" {
            guard let info = value as? [String: Any] else { throw fail("the header entry of tensor '\(name)' is not an object") }
            guard let dtype = info["dtype"] as? String else { throw fail("tensor '\(name)' has no \"dtype\" string") }
            guard let shapeArray = info["shape"] as? [Any],
                  let shape = integers(shapeArray), shape.allSatisfy({ $0 >= 0 }) else {
                throw fail("tensor '\(name)' has no valid \"shape\" (an array of non-negative integers)")
            }
            guard let offsetArray = info["data_offsets"] as? [Any],
                  let offsets = integers(offsetArray), offsets.count == 2 else {
                throw fail("tensor '\(name)' has no valid \"data_offsets\" (two integers)")
            }
            let (begin, end) = (offsets[0], offsets[1])
            guard 0 <= begin, begin <= end else {
                throw fail("tensor '\(name)' has invalid data_offsets [\(begin), \(end)]")
            }
            var count = 1
            for dimension in shape {
                let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
                guard !overflow else { throw fail("tensor '\(name)' has an impossibly large shape \(shape)") }
                count = product
            }
            if let size = SafeTensorsDType(rawValue: dtype)?.size {
                let (needed, overflow) = count.multipliedReportingOverflow(by: size)
                guard !overflow, needed == end - begin else {
                    throw fail("tensor '\(name)': data_offsets [\(begin), \(end)] span \(end - begin) bytes, but shape \(shape) of \(dtype) needs \(overflow ? "too many" : String(needed))")
                }
            }
            entries[name] = Entry(dtype: dtype, shape: shape, count: count, begin: begin, end: end)
        }

        // Byte ranges must not overlap, and all must lie within the data section.
        let byBegin = entries.filter { $0.value.end > $0.value.begin }.sorted { ($0.value.begin, $0.key) < ($1.value.begin, $1.key) }
        for (previous, next) in zip(byBegin, byBegin.dropFirst()) where next.value.begin < previous.value.end {
            throw fail("tensors '\(previous.key)' [\(previous.value.begin), \(previous.value.end)] and '\(next.key)' [\(next.value.begin), \(next.value.end)] overlap")
        }
        let needed = entries.values.map(\.end).max() ?? 0
        guard needed <= dataLength else {
            throw fail("truncated: expected \(needed) bytes of tensor data, found \(dataLength)")
        }
        return SafeTensorsArchive(source: source, metadata: metadata, names: entries.keys.sorted(),
                                  entries: entries, bytes: bytes, dataStart: dataStart)
    }

    /// JSON numbers as Ints (nil if any is not an integer).
    private static func integers(_ values: [Any]) -> [Int]? {
        var result: [Int] = []
        for value in values {
            guard let number = value as? NSNumber else { return nil }
            let double = number.doubleValue
            guard double == double.rounded(), abs(double) < 9.0e15 else { return nil }
            result.append(number.intValue)
        }
        return result
    }
}

/// Builds a safetensors file from Float32 values, stored as F32 or F16.
///
/// Values given as a `Tensor` are read when the file is written, not copied when added, so
/// writing a checkpoint does not hold a second copy of the weights and Adam's moments (58 MB for
/// the iPixelDCL model): leave such a tensor unchanged until `write`/`encode`. Arrays and buffers
/// are copied when added. Values are converted to the file's bytes piece by piece as they are
/// written. The file lists tensors by element size, then by
/// name — the order of the Python `safetensors` package, which keeps every tensor aligned to its
/// element size; the header is padded so the data section starts on an 8-byte boundary.
public struct SafeTensorsWriter {
    /// How values are stored in the file.
    public enum Storage: Sendable {
        /// F32: exact.
        case float32
        /// F16: rounded to nearest, ties to even; magnitudes beyond 65504 become ±infinity.
        case float16

        var dtype: SafeTensorsDType { self == .float32 ? .f32 : .f16 }
    }

    /// Written as the header's `__metadata__` (omitted when empty).
    public var metadata: [String: String]
    private var entries: [String: Entry] = [:]

    /// A tensor of the file: how it is stored, its shape and where its values come from.
    private struct Entry {
        let storage: Storage
        let shape: [Int]
        let values: Values
        var byteCount: Int { shape.reduce(1, *) * storage.dtype.size }
    }

    /// Values read when the file is written (a caller's `Tensor`) or copied when added.
    private enum Values {
        case tensor(Tensor)
        case copy([Float])

        func withBuffer<R>(_ body: (UnsafeBufferPointer<Float>) -> R) -> R {
            switch self {
            case .tensor(let t): body(UnsafeBufferPointer(t.buffer))
            case .copy(let a): a.withUnsafeBufferPointer(body)
            }
        }
    }

    public init(metadata: [String: String] = [:]) {
        self.metadata = metadata
    }

    /// Adds tensor `name` with `shape` (whose element count must equal `values.count`).
    /// Names must be unique and not "__metadata__".
    public mutating func add(_ name: String, shape: [Int], values: UnsafeBufferPointer<Float>, storage: Storage = .float32) {
        add(name, Entry(storage: storage, shape: shape, values: .copy(Array(values))), count: values.count)
    }

    /// Adds tensor `name` with `shape` from an array.
    public mutating func add(_ name: String, shape: [Int], values: [Float], storage: Storage = .float32) {
        add(name, Entry(storage: storage, shape: shape, values: .copy(values)), count: values.count)
    }

    /// Adds tensor `name` from a `Tensor`, with its own shape unless `shape` is given (same count).
    /// The tensor is read when the file is written.
    public mutating func add(_ name: String, shape: [Int]? = nil, values: Tensor, storage: Storage = .float32) {
        add(name, Entry(storage: storage, shape: shape ?? values.shape, values: .tensor(values)), count: values.count)
    }

    private mutating func add(_ name: String, _ entry: Entry, count: Int) {
        precondition(name != "__metadata__", "SafeTensorsWriter: '__metadata__' is reserved")
        precondition(entries[name] == nil, "SafeTensorsWriter: tensor '\(name)' added twice")
        precondition(entry.shape.allSatisfy { $0 >= 0 } && entry.shape.reduce(1, *) == count,
                     "SafeTensorsWriter: \(count) values for '\(name)' of shape \(entry.shape)")
        entries[name] = entry
    }

    /// The file's bytes.
    public func encode() -> Data {
        var data = Data()
        emit { data.append(contentsOf: $0) }
        return data
    }

    /// Writes the file to `path` atomically (temporary file + rename, see `AtomicWrite`).
    public func write(to path: String) throws {
        try AtomicWrite.write(to: path) { handle in
            var failure: Error?
            emit { chunk in
                guard failure == nil else { return }
                do { try handle.write(contentsOf: chunk) } catch { failure = error }
            }
            if let failure { throw failure }
        }
    }

    /// Produces the file in order: header length, header, tensor data.
    private func emit(_ sink: ([UInt8]) -> Void) {
        let order = entries.sorted { a, b in
            let (sizeA, sizeB) = (a.value.storage.dtype.size, b.value.storage.dtype.size)
            return sizeA != sizeB ? sizeA > sizeB : a.key < b.key
        }
        var fields: [String] = []
        if !metadata.isEmpty {
            let pairs = metadata.sorted { $0.key < $1.key }.map { "\(jsonString($0.key)):\(jsonString($0.value))" }
            fields.append("\"__metadata__\":{\(pairs.joined(separator: ","))}")
        }
        var offset = 0
        for (name, entry) in order {
            let shape = entry.shape.map(String.init).joined(separator: ",")
            fields.append("\(jsonString(name)):{\"dtype\":\"\(entry.storage.dtype.rawValue)\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(offset + entry.byteCount)]}")
            offset += entry.byteCount
        }
        var header = Array("{\(fields.joined(separator: ","))}".utf8)
        while (8 + header.count) % 8 != 0 { header.append(0x20) }
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { sink(Array($0)) }
        sink(header)
        for (_, entry) in order {
            entry.values.withBuffer { SafeTensorsWriter.emit($0, as: entry.storage, sink) }
        }
    }

    /// Converts `values` to the file's little-endian bytes, 65,536 values at a time, handing each
    /// piece to `sink` (so no whole tensor is ever held as bytes).
    private static func emit(_ values: UnsafeBufferPointer<Float>, as storage: Storage, _ sink: ([UInt8]) -> Void) {
        let piece = 1 << 16
        for start in stride(from: 0, to: values.count, by: piece) {
            let n = min(piece, values.count - start)
            switch storage {
            case .float32:
                sink([UInt8](unsafeUninitializedCapacity: 4 * n) { out, initialized in
                    for i in 0..<n { UnsafeMutableRawBufferPointer(out).storeBytes(of: values[start + i].bitPattern.littleEndian, toByteOffset: 4 * i, as: UInt32.self) }
                    initialized = 4 * n
                })
            case .float16:
                sink([UInt8](unsafeUninitializedCapacity: 2 * n) { out, initialized in
                    for i in 0..<n { UnsafeMutableRawBufferPointer(out).storeBytes(of: Float16(values[start + i]).bitPattern.littleEndian, toByteOffset: 2 * i, as: UInt16.self) }
                    initialized = 2 * n
                })
            }
        }
    }
}

/// `string` as a JSON string literal.
private func jsonString(_ string: String) -> String {
    var out = "\""
    for scalar in string.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case let c where c.value < 0x20:
            out += "\\u" + String(repeating: "0", count: 4 - String(c.value, radix: 16).count) + String(c.value, radix: 16)
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out + "\""
}
