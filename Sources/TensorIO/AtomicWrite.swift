import Foundation

/// Writing files so that nothing is ever half-written: the bytes go to a temporary file in the
/// destination folder, which is flushed to disk and then renamed over the destination (rename is
/// atomic within a file system). A crash or `kill -9` at any moment leaves either the old file or
/// the new one, never a mix, plus at worst a stray hidden `.NAME.tmp-…` file.
///
/// The project writes whole files only through here (safetensors, `.npy`, PNG, SVG, prepared
/// caches, a CSV log when it is created or cut back on resume); only appending a row to a CSV
/// log goes elsewhere.
public enum AtomicWrite {
    /// Writes `data` to `path` atomically, creating the parent folder if needed.
    public static func write(_ data: Data, to path: String) throws {
        try write(to: path) { handle in try handle.write(contentsOf: data) }
    }

    /// Calls `fill` with a handle on a temporary file next to `path`, then renames it to `path`.
    /// If `fill` throws, the temporary file is removed, `path` is left untouched and the error is
    /// rethrown; an error of the file system (the handle's "no space left on device") as a
    /// one-line `FileError` naming `path`, like every other failure of the file system here.
    public static func write(to path: String, _ fill: (FileHandle) throws -> Void) throws {
        let url = URL(fileURLWithPath: path)
        let folder = url.deletingLastPathComponent()
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        } catch {
            throw FileError(file: path, "cannot create the folder \(folder.path): \(FileError.reason(error))")
        }
        let temp = folder.appendingPathComponent(
            ".\(url.lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        let descriptor = open(temp.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw FileError(file: path, "cannot create a file in \(folder.path): \(String(cString: strerror(errno)))")
        }
        do {
            let handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
            do {
                try fill(handle)
                try handle.synchronize()
                try handle.close()
            } catch {
                try? handle.close()
                let domain = (error as NSError).domain
                let fromFileSystem = domain == NSCocoaErrorDomain || domain == NSPOSIXErrorDomain
                throw fromFileSystem ? FileError(file: path, "cannot write: \(FileError.reason(error))") : error
            }
            if rename(temp.path, url.path) != 0 {
                throw FileError(file: path, "cannot rename the temporary file into place: \(String(cString: strerror(errno)))")
            }
        } catch {
            try? FileManager.default.removeItem(at: temp)
            throw error
        }
        // Make the rename itself durable (best effort: some file systems refuse fsync on folders).
        let folderDescriptor = open(folder.path, O_RDONLY)
        if folderDescriptor >= 0 {
            _ = fsync(folderDescriptor)
            close(folderDescriptor)
        }
    }
}
