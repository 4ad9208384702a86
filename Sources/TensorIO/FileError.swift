import Foundation

/// An error about a file, meant for a person: "FILE: PROBLEM" on one line.
///
/// The one error type for files in the whole project: thrown by the safetensors and `.npy`
/// readers and writers, by `AtomicWrite`, and by VAEFaces for every problem that names a file
/// (an image, a cache, a checkpoint, a log).
public struct FileError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The file's path (or another name for the bytes' source).
    public let file: String
    /// What is wrong with it, in words.
    public let problem: String

    public init(file: String, _ problem: String) {
        self.file = file
        self.problem = problem
    }

    public var description: String { "\(file): \(problem)" }

    /// An error of the system or of Foundation in a few words for a `problem`: the C library's
    /// text for an errno ("No space left on device"), which Foundation wraps in an `NSError`,
    /// directly or as its underlying error; else the error's own description.
    public static func reason(_ error: Error) -> String {
        var current = error as NSError
        while current.domain != NSPOSIXErrorDomain, let underlying = current.userInfo[NSUnderlyingErrorKey] as? NSError {
            current = underlying
        }
        if current.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(current.code))) }
        return error.localizedDescription
    }
}
