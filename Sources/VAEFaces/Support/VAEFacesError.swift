/// An error meant for a person: one line that names the file (when there is one) and the problem.
public struct VAEFacesError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    /// "FILE: PROBLEM"
    public init(file: String, _ problem: String) { self.message = "\(file): \(problem)" }
    public var description: String { message }
}
