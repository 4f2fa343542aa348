// The one reader every secret goes through: the VRRP key, the API token, database passwords.
#if canImport(Glibc)
import Glibc
#endif

/// Why a secret file was refused. The description says what to run to fix it.
public struct SecretFileError: Error, Sendable, CustomStringConvertible, Equatable {
    /// Stable code: `unreadable`, `not_regular`, `too_open`, `wrong_owner`, `too_short`.
    public var code: String
    /// What to tell the user.
    public var description: String
}

/// Reads secrets from files, refusing files that others could read or change.
///
/// The rule (like ssh's private keys): a regular file (a symbolic link is followed), owned by the
/// user reading it or by root, with no permission for others and no write permission for the group
/// (0600, 0400, or 0640 / 0440 for a dedicated group). One trailing newline (and CR) is dropped so
/// that `echo SECRET > file` works. The secret itself never appears in an error.
public enum SecretFile {
    /// Checks that `path` is a secret file this user may rely on (it exists, is a regular file,
    /// has no permission for others and no write permission for the group, and is owned by this
    /// user or root) without reading it: what `tandemctl validate` asks of every secret the
    /// topology names. ``read(_:what:minimumBytes:maximumBytes:)`` makes the same checks.
    public static func check(_ path: String, what: String) throws(SecretFileError) {
        var st = stat()
        guard stat(path, &st) == 0 else {
            throw SecretFileError(code: "unreadable", description:
                "cannot read \(what) \(path): \(String(cString: strerror(errno))); create it (mode 0600, owned by this user) or fix the path")
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw SecretFileError(code: "not_regular", description: "\(what) \(path) is not a regular file")
        }
        let mode = st.st_mode & 0o777
        guard mode & 0o027 == 0 else {
            throw SecretFileError(code: "too_open", description:
                "\(what) \(path) has mode \(String(mode, radix: 8)); it must be 0600 (or 0640 for a dedicated group): run chmod 600 \(path)")
        }
        let me = geteuid()
        guard st.st_uid == me || st.st_uid == 0 else {
            throw SecretFileError(code: "wrong_owner", description:
                "\(what) \(path) is owned by uid \(st.st_uid), not by this user (uid \(me)) or root: run chown \(me) \(path)")
        }
    }

    /// The secret in `path`, as bytes. `what` names it in errors ("auth key file", "password file").
    public static func read(_ path: String, what: String, minimumBytes: Int = 1, maximumBytes: Int = 1 << 20) throws(SecretFileError) -> [UInt8] {
        try check(path, what: what)
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw SecretFileError(code: "unreadable", description: "cannot read \(what) \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while bytes.count <= maximumBytes {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { throw SecretFileError(code: "unreadable", description: "cannot read \(what) \(path): \(String(cString: strerror(errno)))") }
            if n == 0 { break }
            bytes += chunk[0..<n]
        }
        guard bytes.count <= maximumBytes else {
            throw SecretFileError(code: "unreadable", description: "\(what) \(path) is larger than \(maximumBytes) bytes: not a secret")
        }
        if bytes.last == 0x0A { bytes.removeLast() }
        if bytes.last == 0x0D { bytes.removeLast() }
        guard bytes.count >= minimumBytes else {
            throw SecretFileError(code: "too_short", description: minimumBytes <= 1
                ? "\(what) \(path) is empty"
                : "\(what) \(path) holds \(bytes.count) bytes; use at least \(minimumBytes) (e.g. head -c 32 /dev/urandom | base64 > \(path))")
        }
        return bytes
    }

    /// The secret in `path` as text with surrounding white space removed (passwords, tokens).
    public static func text(_ path: String, what: String, minimumBytes: Int = 1) throws(SecretFileError) -> String {
        let bytes = try read(path, what: what, minimumBytes: minimumBytes)
        var s = Substring(String(decoding: bytes, as: UTF8.self))
        while let c = s.first, c.isWhitespace { s.removeFirst() }
        while let c = s.last, c.isWhitespace { s.removeLast() }
        guard s.utf8.count >= minimumBytes else {
            throw SecretFileError(code: "too_short", description: "\(what) \(path) holds fewer than \(minimumBytes) characters")
        }
        return String(s)
    }
}
