import Foundation

/// Reading whole files, the counterpart of `AtomicWrite`: the bytes, or a `FileError` naming the
/// file that says whether it is missing or unreadable.
public enum FileRead {
    /// The bytes of the file at `path`. Fails with "no such file" or "cannot be read", followed by
    /// " (expected WHAT)" when `expected` names what the file should be. `mapped`: memory-map the
    /// file when that is safe (large files read once, such as tensors).
    public static func contents(of path: String, expected: String? = nil, mapped: Bool = false) throws -> Data {
        do {
            return try Data(contentsOf: URL(fileURLWithPath: path), options: mapped ? .mappedIfSafe : [])
        } catch {
            let reason = FileManager.default.fileExists(atPath: path) ? "cannot be read" : "no such file"
            throw FileError(file: path, expected.map { "\(reason) (expected \($0))" } ?? reason)
        }
    }
}
