/// An error about a file, meant for a person: "FILE: PROBLEM" on one line.
///
/// Thrown by NeuralCore's file formats (`SafeTensorsError` is this type) and by `AtomicWrite`.
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
}
