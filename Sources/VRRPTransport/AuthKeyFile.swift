// Loading the shared heartbeat key, refusing files others can read.
#if canImport(Glibc)
import Glibc
#endif

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
        var st = stat()
        guard stat(path, &st) == 0 else {
            throw AuthKeyFileError(code: "unreadable", description: "auth key file \(path): \(String(cString: strerror(errno)))")
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw AuthKeyFileError(code: "unreadable", description: "auth key file \(path) is not a regular file")
        }
        let mode = st.st_mode & 0o777
        guard mode & 0o077 == 0 else {
            throw AuthKeyFileError(code: "too_open", description:
                "auth key file \(path) has mode \(String(mode, radix: 8)); it must be 0600 or stricter (run: chmod 600 \(path))")
        }
        guard let fp = fopen(path, "rb") else {
            throw AuthKeyFileError(code: "unreadable", description: "auth key file \(path): \(String(cString: strerror(errno)))")
        }
        defer { fclose(fp) }
        var key: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        for _ in 0..<256 {  // at most 1 MiB: a key, not a database
            let n = fread(&chunk, 1, chunk.count, fp)
            if n <= 0 { break }
            key += chunk[0..<n]
        }
        if key.last == 0x0A { key.removeLast() }
        if key.last == 0x0D { key.removeLast() }
        guard key.count >= 16 else {
            throw AuthKeyFileError(code: "too_short", description: "auth key file \(path) holds \(key.count) bytes; use at least 16 (e.g. head -c 32 /dev/urandom | base64)")
        }
        return key
    }
}
