import Foundation
import Testing
import TensorIO

/// Failures while writing: a full disk (here /dev/full, which answers every write with ENOSPC,
/// and a fill that fails the same way) gives a one-line `FileError` naming the file, and the file
/// that was there before stays as it was. (The real small file systems are in FaultTests.)
@Suite struct FaultWriteTests {
    private func folder() throws -> String {
        let path = NSTemporaryDirectory() + "vae-faces-tests/fault-write-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// The error Foundation really throws for a write on a full device reads as the C library's
    /// text, on one line.
    @Test(.enabled(if: FileManager.default.isWritableFile(atPath: "/dev/full")))
    func aFullDeviceReadsAsNoSpaceLeft() throws {
        let handle = try #require(FileHandle(forWritingAtPath: "/dev/full"))
        defer { try? handle.close() }
        var caught: Error?
        do { try handle.write(contentsOf: Data(count: 4096)) } catch { caught = error }
        #expect(FileError.reason(try #require(caught)) == String(cString: strerror(ENOSPC)))
    }

    /// A write that fails half way leaves the previous file and no temporary file behind.
    @Test func aFailedWriteKeepsThePreviousFile() throws {
        let folder = try folder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/model.safetensors"
        try AtomicWrite.write(Data("previous".utf8), to: path)
        var caught: Error?
        do {
            try AtomicWrite.write(to: path) { handle in
                try handle.write(contentsOf: Data(count: 1000))
                throw NSError(domain: NSCocoaErrorDomain, code: NSFileWriteOutOfSpaceError,
                              userInfo: [NSUnderlyingErrorKey: NSError(domain: NSPOSIXErrorDomain, code: Int(ENOSPC))])
            }
        } catch { caught = error }
        #expect(caught as? FileError == FileError(file: path, "cannot write: \(String(cString: strerror(ENOSPC)))"))
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "previous")
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder) == ["model.safetensors"])
    }

    /// A `FileError` thrown by the fill (the writer's own check) passes through unchanged.
    @Test func aFileErrorOfTheFillPassesThrough() throws {
        let folder = try folder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let own = FileError(file: folder + "/images", "none of the 3 image files could be used")
        #expect(throws: own) { try AtomicWrite.write(to: folder + "/cache") { _ in throw own } }
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder).isEmpty)
    }
}
