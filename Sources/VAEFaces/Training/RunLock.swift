import Foundation
import TensorIO

/// One training process per run folder: an exclusive `flock` on RUN/train.lock, held while a
/// trainer runs. A second `train` on the same folder is refused at once with a one-line error
/// instead of interleaving its checkpoints and log with the first's. The kernel drops the lock
/// when the holder closes the file or dies, so a killed run never leaves its folder locked
/// (the file itself stays; it holds the last holder's process id, for people).
public final class RunLock {
    public static let fileName = "train.lock"
    /// RUN/train.lock.
    public let path: String
    private var descriptor: Int32

    /// Takes the lock of `folder` (creating the folder and the lock file if needed), or throws a
    /// `FileError` naming the folder when another process, or another lock in this one, holds it.
    public init(_ folder: RunFolder) throws {
        path = folder.path + "/" + RunLock.fileName
        do {
            try FileManager.default.createDirectory(atPath: folder.path, withIntermediateDirectories: true)
        } catch {
            throw FileError(file: folder.path, "cannot create the run folder: \(FileError.reason(error))")
        }
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw FileError(file: path, "cannot open the run's lock file: \(String(cString: strerror(errno)))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let busy = errno == EWOULDBLOCK
            let reason = String(cString: strerror(errno))
            var text = [UInt8](repeating: 0, count: 32)
            let n = pread(fd, &text, text.count, 0)
            close(fd)
            let holder = Int(String(decoding: text.prefix(max(0, n)), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
            throw FileError(file: folder.path, busy
                ? "another training process\(holder.map { " (pid \($0))" } ?? "") is using this run folder; wait for it to finish or stop it first"
                : "cannot lock \(RunLock.fileName): \(reason)")
        }
        let pid = Array("\(getpid())\n".utf8)
        if ftruncate(fd, 0) == 0 { _ = pwrite(fd, pid, pid.count, 0) }
        descriptor = fd
    }

    /// Gives the lock up (also done when the lock is freed or the process ends).
    public func release() {
        guard descriptor >= 0 else { return }
        close(descriptor)
        descriptor = -1
    }

    deinit { release() }
}
