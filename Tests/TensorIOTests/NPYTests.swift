import Foundation
import Testing
import NeuralCore
import TensorIO

@Suite struct NPYTests {
    /// Files written by numpy 2.4 (`numpy.save`, `numpy.lib.format.write_array(version=…)`).
    @Test func readsFilesWrittenByNumPy() throws {
        let f32 = try NPY.read(path: fixturesFolder + "/f32.npy")
        #expect(f32.shape == [2, 3])
        #expect(f32.values == [1.0, -2.5, 3.25, 0.1, 1e-30, -7e20])
        let f64 = try NPY.read(path: fixturesFolder + "/f64_v2.npy")  // version 2.0
        #expect(f64.shape == [4])
        #expect(f64.values == [Float(0.1 as Double), Float(-1e-3 as Double), .infinity, 2])
        let f16 = try NPY.read(path: fixturesFolder + "/f16_v3.npy")  // version 3.0
        #expect(f16.shape == [2, 2])
        #expect(f16.values == [0.5, -2.25, 65504, 0x1p-24])
        let scalar = try NPY.read(path: fixturesFolder + "/scalar.npy")
        #expect(scalar.shape == [] && scalar.values == [7.5])
    }

    @Test func writesWhatNumPyWrites() throws {
        // numpy.save of the same float32 array produced exactly these bytes.
        let ours = NPY.encode(shape: [2, 3], values: [1.0, -2.5, 3.25, 0.1, 1e-30, -7e20])
        #expect(ours == (try Data(contentsOf: URL(fileURLWithPath: fixturesFolder + "/f32.npy"))))
        #expect(NPY.encode(shape: [], values: [7.5]) == (try Data(contentsOf: URL(fileURLWithPath: fixturesFolder + "/scalar.npy"))))
    }

    @Test func roundTrip() throws {
        let folder = try temporaryFolder()
        for shape in [[5], [3, 128], [2, 1, 4], [0, 7]] {
            let values = (0..<shape.reduce(1, *)).map { _ in Float.random(in: -3...3) }
            let path = folder + "/z\(shape.count).npy"
            try NPY.write(shape: shape, values: values, to: path)
            let back = try NPY.read(path: path)
            #expect(back.shape == shape && back.values == values)
            let size = try Data(contentsOf: URL(fileURLWithPath: path)).count
            #expect((size - 4 * values.count) % 64 == 0)  // data starts on a 64-byte boundary
        }
    }

    @Test func rejectsWhatItCannotRead() throws {
        func message(_ file: String) -> String? { thrownMessage { _ = try NPY.read(path: fixturesFolder + "/" + file) } }
        #expect(message("fortran.npy") == "\(fixturesFolder)/fortran.npy: the array is stored in Fortran (column-major) order; save it in C order (numpy.ascontiguousarray) instead")
        #expect(message("int64.npy") == "\(fixturesFolder)/int64.npy: the array has dtype '<i8'; only float32, float64 and float16 ('<f4', '<f8', '<f2') are supported")
        #expect(message("bigendian.npy") == "\(fixturesFolder)/bigendian.npy: the array is big-endian ('>f4'); only little-endian is supported")
        #expect(message("missing.npy") == "\(fixturesFolder)/missing.npy: no such file (expected a NumPy .npy file)")
        #expect(message("python.safetensors") == "\(fixturesFolder)/python.safetensors: not a NumPy .npy file (it does not start with \\x93NUMPY)")

        let good = NPY.encode(shape: [2, 3], values: [1, 2, 3, 4, 5, 6])
        #expect(thrownMessage { _ = try NPY.parse(good.prefix(good.count - 1), source: "z.npy") }
                == "z.npy: truncated: shape [2, 3] of '<f4' needs 24 bytes of data, found 23")
        #expect(thrownMessage { _ = try NPY.parse(good.prefix(40), source: "z.npy") }
                == "z.npy: truncated: the header needs 118 bytes, the file has 30 after the preamble")
        var badHeader = [UInt8](good)
        badHeader.replaceSubrange(10..<16, with: Array("{'desc".utf8).map { $0 == UInt8(ascii: "c") ? UInt8(ascii: "x") : $0 })
        #expect(thrownMessage { _ = try NPY.parse(Data(badHeader), source: "z.npy") }?.hasPrefix("z.npy: the .npy header is not a dict with 'descr', 'fortran_order' and 'shape': {'desxr'") == true)
        var version9 = [UInt8](good)
        version9[6] = 9
        #expect(thrownMessage { _ = try NPY.parse(Data(version9), source: "z.npy") } == "z.npy: .npy format version 9.0 is not supported (1.0, 2.0 and 3.0 are)")
    }
}
