import Foundation
import Testing
import TensorIO

/// Inputs found by the fuzz targets in Fuzz/ (or by reading the parsers along with them) that
/// crashed a parser instead of making it throw.
@Suite struct FuzzRegressionTests {
    /// The message of the `FileError` that `body` throws (nil if it throws none).
    private func problem(_ body: () throws -> Void) -> String? {
        do { try body() } catch let error as FileError { return error.problem } catch { return "\(error)" }
        return nil
    }

    /// An .npy header whose element count fits in an Int but whose byte count does not: the
    /// "truncated" message multiplied them and trapped on the overflow (found by fuzz-npy).
    @Test func npyByteCountOverflowIsAnError() {
        let header = "{'descr': '<f2', 'fortran_order': False, 'shape': (444444444444444, 4444, 3), }"
        let bytes = [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.utf8.count), 0] + Array(header.utf8)
        #expect(problem { _ = try NPY.parse(Data(bytes), source: "big.npy") }
                == "the shape [444444444444444, 4444, 3] is impossibly large")
    }

    /// A tensor of an unreadable element type declaring a huge shape: nothing ties its shape to
    /// the file's size, so reading it allocated the declared count (trillions of floats) before
    /// looking at the type. Now the type is checked first.
    @Test func unreadableTensorWithHugeShapeAllocatesNothing() throws {
        let json = Array("{\"w\":{\"dtype\":\"C64\",\"shape\":[1000000000000],\"data_offsets\":[0,0]}}".utf8)
        var bytes = [UInt8](repeating: 0, count: 8)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { bytes.replaceSubrange(0..<8, with: $0) }
        let archive = try SafeTensorsArchive.parse(Data(bytes + json), source: "huge.safetensors")
        let expected = "tensor 'w' has dtype 'C64', which cannot be read (supported: F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL)"
        #expect(problem { _ = try archive.floats("w") } == expected)
        #expect(problem { _ = try archive.tensor("w") } == expected)
    }
}
