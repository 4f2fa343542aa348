/// A configuration mistake a user can fix; the message says what and how.
public struct ConfigError: Error, Sendable, CustomStringConvertible {
    /// The message.
    public var description: String
    /// Creates the error.
    public init(_ description: String) { self.description = description }
}
