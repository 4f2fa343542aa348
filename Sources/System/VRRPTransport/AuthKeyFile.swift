// Loading the shared heartbeat key, refusing files others can read.
import Syscall

/// Why the key file was refused.
public struct AuthKeyFileError: Error, Sendable, CustomStringConvertible, Equatable {
    /// Stable code: `unreadable`, `too_open`, `too_short`.
    public var code: String
    /// What to tell the user.
    public var description: String
}

/// The key for authenticated adverts and fast-detector probes.
public enum AuthKeyFile {
    /// Reads the key from `path`. The file must be a regular file with mode 0600 or stricter (no
    /// group/other bits), like ssh's private keys, and hold at least 16 bytes; one trailing newline
    /// is dropped so `echo KEY > file` works.
    public static func load(path: String) throws(AuthKeyFileError) -> [UInt8] {
        do { return try SecretFile.read(path, what: "auth key file", minimumBytes: 16) } catch {
            throw AuthKeyFileError(code: error.code == "not_regular" || error.code == "wrong_owner" ? "unreadable" : error.code,
                                   description: error.description)
        }
    }
}
