// An advisory flock(2) on a file that says who owns a shared resource (a network namespace's IPVS
// table) for as long as the owner's process lives. flock, not a pid file: the kernel drops the lock
// when the last descriptor closes, so a crash (kill -9, OOM) frees it and nothing goes stale.
#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Why an ``OwnershipLock`` was not taken.
public enum OwnershipLockError: Error, Sendable, CustomStringConvertible, Equatable {
    /// Another process holds the lock. `record` is what the exclusive holder wrote into the file
    /// (`pid` and the fields it passed); it is empty, or left from an earlier owner, when a shared
    /// holder has it.
    case held(path: String, record: [String: String])
    /// A system call failed: the directory cannot be made, the file cannot be opened or locked.
    case system(SystemCallError)

    /// Stable code: `held` or `system`.
    public var code: String {
        switch self {
        case .held: "held"
        case .system: "system"
        }
    }

    /// What happened, with the path.
    public var description: String {
        switch self {
        case .held(let path, let record):
            let who = record.keys.sorted().map { "\($0)=\(record[$0]!)" }.joined(separator: " ")
            return "\(path) is locked by another process" + (who.isEmpty ? "" : " (it recorded: \(who))")
        case .system(let e):
            return e.description
        }
    }
}

/// An advisory lock (`flock(2)`) on a file, held until ``release()`` or until the process ends.
///
/// An exclusive holder writes a record into the file, `key=value` lines starting with its `pid`,
/// so that a process refused the lock can say who has it; the file is emptied on release. A
/// shared holder writes nothing (several may hold it at once). Locks taken through two separate
/// `open`s conflict even inside one process, as between processes.
public final class OwnershipLock: Sendable {
    /// `LOCK_SH` or `LOCK_EX`.
    public enum Mode: Sendable {
        /// Many holders at once; excludes an exclusive holder.
        case shared
        /// One holder; excludes everybody else.
        case exclusive
    }

    /// The lock file.
    public let path: String
    /// How it is held.
    public let mode: Mode
    /// The open descriptor that carries the lock; -1 once released.
    private let descriptor: Mutex<Int32>

    private init(path: String, mode: Mode, descriptor: Int32) {
        self.path = path; self.mode = mode; self.descriptor = Mutex(descriptor)
    }

    deinit { release() }

    /// Takes the lock on `path` now or throws ``OwnershipLockError/held(path:record:)``. The file
    /// (mode 0644) and its directory (0755) are created when missing. An exclusive holder writes
    /// `pid=…` and `record` into it (values on one line each).
    public static func acquire(_ path: String, mode: Mode, record: [String: String] = [:]) throws(OwnershipLockError) -> OwnershipLock {
        let fd: Int32
        do {
            try makeDirectory(parentOf: path)
            // A shared holder writes nothing, so read access is enough (an unprivileged reader of a
            // root-owned 0644 file can still take it).
            let access = mode == .exclusive ? O_RDWR : O_RDONLY
            fd = try syscall("open", path) { open(path, access | O_CREAT | O_CLOEXEC, 0o644) }
        } catch {
            throw .system(error)
        }
        do {
            try syscall("flock", path) { flock(fd, mode == .exclusive ? LOCK_EX | LOCK_NB : LOCK_SH | LOCK_NB) }
        } catch {
            let held = error.errno == EWOULDBLOCK
            let found = held ? readRecord(fd) : [:]
            close(fd)
            throw held ? .held(path: path, record: found) : .system(error)
        }
        let lock = OwnershipLock(path: path, mode: mode, descriptor: fd)
        if mode == .exclusive {
            var fields = record
            fields["pid"] = String(getpid())
            let text = fields.keys.sorted { ($0 == "pid" ? "" : $0) < ($1 == "pid" ? "" : $1) }
                .map { "\($0)=\(fields[$0]!.split(whereSeparator: \.isNewline).joined(separator: " "))\n" }.joined()
            do throws(SystemCallError) {
                try syscall("ftruncate", path) { ftruncate(fd, 0) }
                let bytes = Array(text.utf8)
                let written = try syscall("pwrite", path) { bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) } }
                if written != bytes.count { throw SystemCallError(function: "pwrite", context: "\(path): short write", errno: EIO) }
            } catch {
                lock.release()
                throw .system(error)
            }
        }
        return lock
    }

    /// Takes the lock, retrying every 50 ms for up to `patience` while somebody else holds it (a
    /// short-lived shared holder, say), then throws as ``acquire(_:mode:record:)`` does.
    public static func acquire(_ path: String, mode: Mode, record: [String: String] = [:],
                               patience: Duration) async throws(OwnershipLockError) -> OwnershipLock {
        let deadline = ContinuousClock.now + patience
        while true {
            do { return try acquire(path, mode: mode, record: record) } catch {
                guard case .held = error, ContinuousClock.now < deadline else { throw error }
            }
            try? await Task.sleep(for: .milliseconds(50))
        }
    }

    /// Drops the lock (an exclusive holder empties the file first, so no stale record outlives it).
    /// Idempotent.
    public func release() {
        let fd = descriptor.withLock { fd in
            defer { fd = -1 }
            return fd
        }
        guard fd >= 0 else { return }
        if mode == .exclusive { _ = ftruncate(fd, 0) }
        close(fd)
    }

    /// The record in the lock file: `key=value` lines (others ignored).
    private static func readRecord(_ fd: Int32) -> [String: String] {
        var bytes = [UInt8](repeating: 0, count: 4096)
        let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { return [:] }
        return parseRecord(String(decoding: bytes[0..<n], as: UTF8.self))
    }

    /// `key=value` lines as a dictionary; lines without `=` are ignored.
    static func parseRecord(_ text: String) -> [String: String] {
        var out: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard let eq = line.firstIndex(of: "=") else { continue }
            out[String(line[..<eq])] = String(line[line.index(after: eq)...])
        }
        return out
    }

    /// `mkdir -p` of the directory that holds `path` (mode 0755).
    private static func makeDirectory(parentOf path: String) throws(SystemCallError) {
        var prefix = path.hasPrefix("/") ? "" : "."
        let parts = path.split(separator: "/", omittingEmptySubsequences: true).dropLast()
        for part in parts {
            prefix += "/" + part
            if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
                throw SystemCallError(function: "mkdir", context: prefix, errno: errno)
            }
        }
    }
}

/// Whether a process with this pid exists (`kill(pid, 0)`; a process of another user counts).
public func processExists(_ pid: Int32) -> Bool {
    pid > 0 && (kill(pid, 0) == 0 || errno == EPERM)
}

/// The inode of this process's network namespace (`stat /proc/self/ns/net`): it names the
/// namespace, and so the IPVS table, while the namespace lives.
public func networkNamespaceInode() throws(SystemCallError) -> UInt64 {
    var st = stat()
    try syscall("stat", "/proc/self/ns/net") { stat("/proc/self/ns/net", &st) }
    return UInt64(st.st_ino)
}
