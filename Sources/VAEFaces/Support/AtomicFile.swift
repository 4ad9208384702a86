import Foundation

/// Writing files so that nothing is ever half-written: the bytes go to a temporary file in the
/// destination folder, which is flushed and then renamed over the destination. A crash at any
/// moment leaves either the old file or the new one, never a mix.
public enum AtomicFile {
    /// Writes `data` to `path` atomically, creating the parent folder if needed.
    public static func write(_ data: Data, to path: String) throws {
        try write(to: path) { handle in try handle.write(contentsOf: data) }
    }

    /// Calls `fill` with a handle on a temporary file next to `path`, then renames it to `path`.
    /// If `fill` throws, the temporary file is removed and `path` is left untouched.
    public static func write(to path: String, _ fill: (FileHandle) throws -> Void) throws {
        let url = URL(fileURLWithPath: path)
        let folder = url.deletingLastPathComponent()
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let temp = folder.appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        guard FileManager.default.createFile(atPath: temp.path, contents: nil) else {
            throw VAEFacesError(file: path, "cannot create a file in \(folder.path)")
        }
        do {
            let handle = try FileHandle(forWritingTo: temp)
            do {
                try fill(handle)
                try handle.synchronize()
                try handle.close()
            } catch {
                try? handle.close()
                throw error
            }
            if rename(temp.path, url.path) != 0 {
                throw VAEFacesError(file: path, "cannot rename the temporary file into place: \(String(cString: strerror(errno)))")
            }
        } catch {
            try? FileManager.default.removeItem(at: temp)
            throw error
        }
    }
}
