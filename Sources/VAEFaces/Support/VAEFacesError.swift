/// An error meant for a person about a request that names no file: a setting out of range, an
/// option that does not fit the others, a computation with nothing to work on. Problems with a
/// file (one that is missing, unreadable, damaged, or holds the wrong thing) are TensorIO's
/// `FileError`, which names the file.
public struct VAEFacesError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
