import Foundation

/// NumPy's `.npy` files (https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html):
///
///   "\x93NUMPY", major, minor        versions 1.0, 2.0 and 3.0
///   header length                    UInt16 LE (v1) or UInt32 LE (v2, v3)
///   header                           a Python dict literal, padded with spaces and a newline:
///                                    {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
///   data                             the elements, C (row-major) order
///
/// Reading accepts little-endian float32, float64 and float16 in C order and returns Float32;
/// writing produces version 1.0 float32 files (what `numpy.save` writes for a float32 array).
public enum NPY {
    private static let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)

    /// Reads the `.npy` file at `path`: its shape and its values (row-major) as Float32.
    public static func read(path: String) throws -> (shape: [Int], values: [Float]) {
        try parse(FileRead.contents(of: path, expected: "a NumPy .npy file", mapped: true), source: path)
    }

    /// Decodes the bytes of a `.npy` file; `source` names them in error messages.
    public static func parse(_ data: Data, source: String) throws -> (shape: [Int], values: [Float]) {
        func fail(_ problem: String) -> FileError { FileError(file: source, problem) }
        let bytes = [UInt8](data)
        guard bytes.count >= 10, Array(bytes[0..<6]) == magic else {
            throw fail("not a NumPy .npy file (it does not start with \\x93NUMPY)")
        }
        let major = bytes[6]
        let headerStart: Int
        let headerLength: Int
        switch major {
        case 1:
            headerStart = 10
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
        case 2, 3:
            guard bytes.count >= 12 else { throw fail("truncated: the file ends inside the .npy preamble") }
            headerStart = 12
            headerLength = (0..<4).reduce(0) { $0 | Int(bytes[8 + $1]) << (8 * $1) }
        default:
            throw fail(".npy format version \(major).\(bytes[7]) is not supported (1.0, 2.0 and 3.0 are)")
        }
        guard headerStart + headerLength <= bytes.count else {
            throw fail("truncated: the header needs \(headerLength) bytes, the file has \(bytes.count - headerStart) after the preamble")
        }
        let headerText = String(decoding: bytes[headerStart..<(headerStart + headerLength)], as: UTF8.self)
        var parser = HeaderParser(headerText)
        guard let header = parser.dictionary(),
              case .string(let descr)? = header["descr"],
              case .bool(let fortranOrder)? = header["fortran_order"],
              case .integers(let shape)? = header["shape"] else {
            throw fail("the .npy header is not a dict with 'descr', 'fortran_order' and 'shape': \(headerText.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        guard !fortranOrder else {
            throw fail("the array is stored in Fortran (column-major) order; save it in C order (numpy.ascontiguousarray) instead")
        }
        let elementSize: Int
        switch descr {
        case "<f4", "=f4": elementSize = 4
        case "<f8", "=f8": elementSize = 8
        case "<f2", "=f2": elementSize = 2
        case ">f4", ">f8", ">f2": throw fail("the array is big-endian ('\(descr)'); only little-endian is supported")
        default: throw fail("the array has dtype '\(descr)'; only float32, float64 and float16 ('<f4', '<f8', '<f2') are supported")
        }
        var count = 1
        for dimension in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
            guard !overflow else { throw fail("the shape \(shape) is impossibly large") }
            count = product
        }
        let dataStart = headerStart + headerLength
        let available = bytes.count - dataStart
        let (needed, overflow) = count.multipliedReportingOverflow(by: elementSize)
        guard !overflow else { throw fail("the shape \(shape) is impossibly large") }
        guard needed <= available else {
            throw fail("truncated: shape \(shape) of '\(descr)' needs \(needed) bytes of data, found \(available)")
        }
        let values = bytes.withUnsafeBytes { all -> [Float] in
            let raw = UnsafeRawBufferPointer(rebasing: all[dataStart...])
            switch elementSize {
            case 4: return (0..<count).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) }
            case 8: return (0..<count).map { Float(Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * $0, as: UInt64.self)))) }
            default: return (0..<count).map { Float(Float16(bitPattern: UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self)))) }
            }
        }
        return (shape, values)
    }

    /// Writes a float32 array (row-major, `values.count` = product of `shape`) to `path` as a
    /// version 1.0 `.npy` file, atomically. Shape `[]` is a scalar (one value).
    public static func write(shape: [Int], values: [Float], to path: String) throws {
        try AtomicWrite.write(encode(shape: shape, values: values), to: path)
    }

    /// The bytes `write` writes (header padded so the data starts on a 64-byte boundary, as numpy does).
    public static func encode(shape: [Int], values: [Float]) -> Data {
        precondition(shape.allSatisfy { $0 >= 0 } && shape.reduce(1, *) == values.count,
                     "NPY.encode: \(values.count) values for shape \(shape)")
        let dimensions = shape.count == 1 ? "\(shape[0])," : shape.map(String.init).joined(separator: ", ")
        var header = Array("{'descr': '<f4', 'fortran_order': False, 'shape': (\(dimensions)), }".utf8)
        let total = 10 + header.count + 1
        header += [UInt8](repeating: 0x20, count: (64 - total % 64) % 64) + [0x0A]
        precondition(header.count <= Int(UInt16.max), "NPY.encode: shape \(shape) has too many dimensions")
        var bytes = magic + [1, 0, UInt8(header.count & 0xFF), UInt8(header.count >> 8)] + header
        bytes.reserveCapacity(bytes.count + 4 * values.count)
        for value in values { withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes += $0 } }
        return Data(bytes)
    }
}

/// The values an .npy header dict holds.
private enum HeaderValue {
    case string(String), bool(Bool), integers([Int])
}

/// Parses the Python dict literal of an .npy header: string keys; values are strings, True/False
/// or tuples of integers. Returns nil on anything else.
private struct HeaderParser {
    private let characters: [Character]
    private var position = 0

    init(_ text: String) { characters = Array(text) }

    mutating func dictionary() -> [String: HeaderValue]? {
        guard take("{") else { return nil }
        var result: [String: HeaderValue] = [:]
        while !take("}") {
            guard let key = string(), take(":"), let value = value() else { return nil }
            result[key] = value
            if !take(",") {
                guard take("}") else { return nil }
                break
            }
        }
        return result
    }

    private mutating func value() -> HeaderValue? {
        skipSpaces()
        if let s = string() { return .string(s) }
        if word("True") { return .bool(true) }
        if word("False") { return .bool(false) }
        guard take("(") else { return nil }
        var integers: [Int] = []
        while !take(")") {
            guard let n = integer() else { return nil }
            integers.append(n)
            if !take(",") {
                guard take(")") else { return nil }
                break
            }
        }
        return .integers(integers)
    }

    private mutating func skipSpaces() {
        while position < characters.count, characters[position].isWhitespace { position += 1 }
    }

    /// Consumes `c` (after spaces) if it is next.
    private mutating func take(_ c: Character) -> Bool {
        skipSpaces()
        guard position < characters.count, characters[position] == c else { return false }
        position += 1
        return true
    }

    private mutating func word(_ w: String) -> Bool {
        let letters = Array(w)
        guard position + letters.count <= characters.count,
              Array(characters[position..<(position + letters.count)]) == letters else { return false }
        position += letters.count
        return true
    }

    /// A quoted string without escapes ('…' or "…").
    private mutating func string() -> String? {
        skipSpaces()
        guard position < characters.count, characters[position] == "'" || characters[position] == "\"" else { return nil }
        let quote = characters[position]
        guard let end = characters[(position + 1)...].firstIndex(of: quote) else { return nil }
        let s = String(characters[(position + 1)..<end])
        position = end + 1
        return s
    }

    /// A non-negative decimal integer (numpy may write a trailing 'L' in old files).
    private mutating func integer() -> Int? {
        skipSpaces()
        var digits = ""
        while position < characters.count, characters[position].isASCII, characters[position].isNumber {
            digits.append(characters[position])
            position += 1
        }
        if position < characters.count, characters[position] == "L" { position += 1 }
        return Int(digits)
    }
}
