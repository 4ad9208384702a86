import Foundation
import NeuralCore

/// Writing files so that nothing is ever half-written (temporary file + rename): NeuralCore's
/// `AtomicWrite`, with its file-system errors reported as `VAEFacesError`.
public enum AtomicFile {
    /// Writes `data` to `path` atomically, creating the parent folder if needed.
    public static func write(_ data: Data, to path: String) throws {
        try write(to: path) { handle in try handle.write(contentsOf: data) }
    }

    /// Calls `fill` with a handle on a temporary file next to `path`, then renames it to `path`.
    /// If `fill` throws, the temporary file is removed, `path` is left untouched and the error is
    /// rethrown as is.
    public static func write(to path: String, _ fill: (FileHandle) throws -> Void) throws {
        var fillFailed = false
        do {
            try AtomicWrite.write(to: path) { handle in
                do { try fill(handle) } catch { fillFailed = true; throw error }
            }
        } catch let error as FileError where !fillFailed {
            throw VAEFacesError(file: error.file, error.problem)
        }
    }
}
