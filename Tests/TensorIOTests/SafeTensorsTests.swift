import Foundation
import Testing
import NeuralCore
import TensorIO

/// Folder of small committed fixture files (found from this source file, not a bundle).
let fixturesFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures").path

/// A fresh temporary folder for one test.
func temporaryFolder() throws -> String {
    let path = NSTemporaryDirectory() + "neuralcore-tests-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// Runs `body` and returns the description of the error it throws (nil if none).
func thrownMessage(_ body: () throws -> Void) -> String? {
    do { try body(); return nil } catch { return "\(error)" }
}

/// Little-endian header length + header JSON (unpadded) + data: a hand-made file.
func safetensorsBytes(header: String, data: [UInt8], headerLength: UInt64? = nil) -> Data {
    let json = Array(header.utf8)
    var bytes = withUnsafeBytes(of: (headerLength ?? UInt64(json.count)).littleEndian) { Array($0) }
    bytes += json + data
    return Data(bytes)
}

@Suite struct SafeTensorsTests {
    @Test func float32RoundTripIsExactAndKeepsShapesAndMetadata() throws {
        let weights = (0..<24).map { Float($0) * 0.37 - 4 }
        let special: [Float] = [.infinity, -.infinity, -0.0, .leastNonzeroMagnitude, .greatestFiniteMagnitude]
        let tensor = Tensor(shape: [2, 1, 3], values: [1, 2, 3, 4, 5, 6])
        var writer = SafeTensorsWriter(metadata: ["decoder": "pixeldcl", "config": "{\"beta\": 1}\n\tü"])
        writer.add("conv.weight", shape: [2, 3, 2, 2], values: weights)
        writer.add("special", shape: [5], values: special)
        writer.add("a.tensor", values: tensor)
        writer.add("scalar", shape: [], values: [7.5])
        writer.add("empty", shape: [0, 4], values: [])
        let folder = try temporaryFolder()
        let path = folder + "/model.safetensors"
        try writer.write(to: path)

        let archive = try SafeTensorsArchive.read(path: path)
        #expect(archive.names == ["a.tensor", "conv.weight", "empty", "scalar", "special"])
        #expect(archive.metadata == writer.metadata)
        #expect(archive.shape("conv.weight") == [2, 3, 2, 2])
        #expect(archive.shape("scalar") == [])
        #expect(archive.shape("empty") == [0, 4])
        #expect(archive.shape("missing") == nil)
        #expect(archive.dtype("special") == "F32")
        #expect(try archive.floats("conv.weight") == weights)
        #expect(try archive.floats("special").map(\.bitPattern) == special.map(\.bitPattern))
        #expect(try archive.floats("scalar") == [7.5])
        #expect(try archive.floats("empty") == [])
        let loaded = try archive.tensor("a.tensor")
        #expect(loaded.shape == [2, 1, 3] && loaded.array == tensor.array)
        // The file on disk is exactly what encode() produces, with no stray temporary file.
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == writer.encode())
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder) == ["model.safetensors"])
    }

    @Test func float16RoundTripRoundsToNearestEven() throws {
        // Exactly representable, ties that round to even, overflow and subnormals.
        let values: [Float] = [0.5, -2.25, 65504, 1.0 + 1.0 / 2048, 1.0 + 3.0 / 2048, 65520, 1e-8, 3e-8, 6e-8, 0.1, -1000.3]
        let expected: [Float] = [0.5, -2.25, 65504, 1, 1.0 + 4.0 / 2048, .infinity, 0, 0x1p-24, 0x1p-24, 0.0999755859375, -1000.5]
        var writer = SafeTensorsWriter()
        writer.add("h", shape: [values.count], values: values, storage: .float16)
        let random = (0..<1000).map { _ in Float.random(in: -300...300) }
        writer.add("random", shape: [10, 100], values: random, storage: .float16)
        let archive = try SafeTensorsArchive.parse(writer.encode(), source: "memory")
        #expect(archive.dtype("h") == "F16")
        #expect(try archive.floats("h") == expected)
        // Half precision keeps 11 significant bits: relative error ≤ 2^-11.
        for (x, y) in zip(random, try archive.floats("random")) {
            #expect(abs(x - y) <= abs(x) * 0x1p-11)
        }
    }

    @Test func layoutIsAlignedAndOrderedLikeThePythonPackage() throws {
        var writer = SafeTensorsWriter(metadata: ["k": "v"])
        writer.add("b16", shape: [3], values: [1, 2, 3], storage: .float16)
        writer.add("z32", shape: [1], values: [1])
        writer.add("a32", shape: [2], values: [1, 2])
        let data = writer.encode()
        let headerLength = data.withUnsafeBytes { Int(UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self))) }
        #expect((8 + headerLength) % 8 == 0)
        let header = String(decoding: data[8..<(8 + headerLength)], as: UTF8.self)
        #expect(header.hasPrefix("{\"__metadata__\":{\"k\":\"v\"},\"a32\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"z32\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]},\"b16\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[12,18]}}"))
        #expect(data.count == 8 + headerLength + 18)
        // A slice of a larger buffer (indices not starting at 0) parses the same.
        let slice = (Data([9, 9, 9]) + data).dropFirst(3)
        #expect(try SafeTensorsArchive.parse(slice, source: "slice").floats("b16") == [1, 2, 3])
    }

    /// A file written by the Python `safetensors` package (`safetensors.torch.save_file`) with
    /// these exact values: F32, F16, BF16, F64, I64, an empty tensor and metadata.
    @Test func readsAFileWrittenByPythonSafetensors() throws {
        let archive = try SafeTensorsArchive.read(path: fixturesFolder + "/python.safetensors")
        #expect(archive.metadata == ["decoder": "pixeldcl", "note": "héllo \"quoted\"\n"])
        #expect(archive.names == ["bn.num_batches_tracked", "decoder.bf16", "decoder.half", "double", "empty", "encoder.weight"])
        #expect(archive.shape("encoder.weight") == [2, 3])
        #expect(try archive.floats("encoder.weight") == [1.0, -2.5, 3.25, 0.1, 1e-30, -7e20])
        #expect(archive.dtype("decoder.half") == "F16")
        #expect(try archive.floats("decoder.half") == [0.5, -2.25, 1024, 0x1p-14, 0x1p-24, 65504])
        #expect(archive.dtype("decoder.bf16") == "BF16")
        #expect(try archive.floats("decoder.bf16") == [1.0, -3.140625, 0x1p33])
        #expect(try archive.floats("double") == [Float(0.1 as Double), Float(-1e-3 as Double)])
        #expect(archive.shape("bn.num_batches_tracked") == [])
        #expect(try archive.floats("bn.num_batches_tracked") == [42])
        #expect(archive.shape("empty") == [0, 3])
        #expect(try archive.floats("empty") == [])
    }

    @Test func loadIntoChecksTheShape() throws {
        var writer = SafeTensorsWriter()
        writer.add("w", shape: [2, 2], values: [1, 2, 3, 4])
        let archive = try SafeTensorsArchive.parse(writer.encode(), source: "ckpt.safetensors")
        let target = Tensor(shape: [2, 2])
        try archive.load("w", into: target)
        #expect(target.array == [1, 2, 3, 4])
        let message = thrownMessage { try archive.load("w", into: Tensor(shape: [4])) }
        #expect(message == "ckpt.safetensors: tensor 'w' has shape [2, 2], expected [4]")
        #expect(thrownMessage { _ = try archive.floats("v") } == "ckpt.safetensors: no tensor named 'v' (the file has 1 tensors, e.g. 'w')")
    }

    // MARK: Bad files give one clear line naming the file and the problem.

    @Test func rejectsMissingShortAndTruncatedFiles() throws {
        let folder = try temporaryFolder()
        #expect(thrownMessage { _ = try SafeTensorsArchive.read(path: folder + "/none.safetensors") }
                == "\(folder)/none.safetensors: no such file (expected a safetensors file)")
        #expect(thrownMessage { _ = try SafeTensorsArchive.parse(Data([1, 2, 3]), source: "f") }
                == "f: not a safetensors file: 3 bytes, shorter than the 8-byte header length")

        var writer = SafeTensorsWriter()
        writer.add("w", shape: [4], values: [1, 2, 3, 4])
        let good = writer.encode()
        // Cut inside the tensor data.
        let path = folder + "/cut.safetensors"
        try good.prefix(good.count - 6).write(to: URL(fileURLWithPath: path))
        #expect(thrownMessage { _ = try SafeTensorsArchive.read(path: path) }
                == "\(path): truncated: expected 16 bytes of tensor data, found 10")
        // Cut inside the header.
        #expect(thrownMessage { _ = try SafeTensorsArchive.parse(good.prefix(20), source: "f") }
                == "f: not a safetensors file or truncated: the header length is \(good.count - 24) bytes but the file has only 12 bytes after it")
    }

    @Test func rejectsBadHeaders() {
        func message(_ header: String, data: [UInt8] = [], headerLength: UInt64? = nil) -> String? {
            thrownMessage { _ = try SafeTensorsArchive.parse(safetensorsBytes(header: header, data: data, headerLength: headerLength), source: "f") }
        }
        // A PNG is not a safetensors file: its first 8 bytes read as an enormous header length.
        #expect(message("", headerLength: 0x0A1A_0A0D_474E_5089)?.hasPrefix("f: not a safetensors file or truncated: the header length is 727905341920923785 bytes") == true)
        #expect(message("{\"w\": {\"dtype\": ") == "f: the 16-byte header is not valid JSON")
        #expect(message("[1, 2]") == "f: the header is JSON but not an object")
        #expect(message("{\"w\": {\"dtype\": \"F32\", \"shape\": [-1], \"data_offsets\": [0, 4]}}", data: [0, 0, 0, 0])
                == "f: tensor 'w' has no valid \"shape\" (an array of non-negative integers)")
        #expect(message("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0]}}", data: [0, 0, 0, 0])
                == "f: tensor 'w' has no valid \"data_offsets\" (two integers)")
        #expect(message("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 0]}}", data: [0, 0, 0, 0])
                == "f: tensor 'w' has invalid data_offsets [4, 0]")
        #expect(message("{\"w\": {\"dtype\": \"F32\", \"shape\": [2, 3], \"data_offsets\": [0, 20]}}", data: .init(repeating: 0, count: 24))
                == "f: tensor 'w': data_offsets [0, 20] span 20 bytes, but shape [2, 3] of F32 needs 24")
        #expect(message("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}, \"b\": {\"dtype\": \"F16\", \"shape\": [2], \"data_offsets\": [6, 10]}}", data: .init(repeating: 0, count: 10))
                == "f: tensors 'a' [0, 8] and 'b' [6, 10] overlap")
        #expect(message("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [96, 100]}}", data: [0, 0, 0, 0])
                == "f: truncated: expected 100 bytes of tensor data, found 4")
        #expect(message("{\"__metadata__\": {\"steps\": 3}}") == "f: __metadata__ value of 'steps' is not a string")
    }

    @Test func unknownDTypeIsListedButCannotBeRead() throws {
        // Header padded with spaces, as the format allows.
        let header = "{\"q\": {\"dtype\": \"F8_E4M3\", \"shape\": [2], \"data_offsets\": [0, 2]}, \"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [2, 6]}}   "
        let archive = try SafeTensorsArchive.parse(safetensorsBytes(header: header, data: [0, 0, 0, 0, 0x80, 0x3F]), source: "f")
        #expect(archive.names == ["q", "w"])
        #expect(archive.shape("q") == [2])
        #expect(try archive.floats("w") == [1])  // unaligned data is fine
        #expect(thrownMessage { _ = try archive.floats("q") }
                == "f: tensor 'q' has dtype 'F8_E4M3', which cannot be read (supported: F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL)")
    }

    @Test func failedWriteLeavesTheOldFile() throws {
        let folder = try temporaryFolder()
        let path = folder + "/x.safetensors"
        try Data("old".utf8).write(to: URL(fileURLWithPath: path))
        struct Boom: Error {}
        #expect(throws: Boom.self) { try AtomicWrite.write(to: path) { _ in throw Boom() } }
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "old")
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder) == ["x.safetensors"])
        // A folder where the file should be: a clear error naming the file.
        try FileManager.default.createDirectory(atPath: folder + "/dir.safetensors/sub", withIntermediateDirectories: true)
        let message = thrownMessage { try SafeTensorsWriter().write(to: folder + "/dir.safetensors") }
        #expect(message?.hasPrefix("\(folder)/dir.safetensors: cannot rename the temporary file into place") == true)
    }

    /// A `Tensor` is read when the file is written (no copy of it is held meanwhile), an array when
    /// added; either way the bytes are those of the values, also past one 65,536-value piece.
    @Test func tensorsAreReadWhenWrittenArraysWhenAdded() throws {
        let n = 70_000
        let values = (0..<n).map { Float($0) * 0.25 - 100 }
        let tensor = Tensor(shape: [n]), later = Tensor(shape: [7, 10_000])
        var array = values
        var writer = SafeTensorsWriter()
        writer.add("tensor", values: tensor)
        writer.add("half", values: later, storage: .float16)
        writer.add("array", shape: [n], values: array)
        tensor.pointer.update(from: values, count: n)
        later.pointer.update(from: values, count: n)
        array[0] = 1
        let archive = try SafeTensorsArchive.parse(writer.encode(), source: "t.safetensors")
        #expect(try archive.floats("tensor") == values)
        #expect(try archive.floats("array") == values)
        #expect(try archive.floats("half") == values.map { Float(Float16($0)) })
    }
}
