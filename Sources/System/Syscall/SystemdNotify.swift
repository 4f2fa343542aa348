// systemd's service notification protocol (sd_notify(3)) without libsystemd: one datagram of
// newline-separated KEY=VALUE assignments to the AF_UNIX socket named by $NOTIFY_SOCKET.
#if canImport(Glibc)
import Glibc
#endif

/// Sends service state notices to systemd (or to whatever bound `NOTIFY_SOCKET`: a test).
///
/// The protocol (sd_notify(3), systemd.service(5) `Type=notify`): a datagram on an `AF_UNIX`
/// `SOCK_DGRAM` socket whose address is `$NOTIFY_SOCKET`, a file system path, or an abstract name
/// written with a leading `@` (the `@` stands for the leading NUL byte of the abstract namespace).
public struct SystemdNotifier: Sendable, Equatable {
    /// The socket address as `NOTIFY_SOCKET` gives it (`/run/systemd/notify`, `@/org/…`).
    public let socket: String

    /// A notifier for `socket` (validated when a notice is sent).
    public init(socket: String) { self.socket = socket }

    /// The notifier systemd asked for, or `nil` when the process was not started with
    /// `NOTIFY_SOCKET` (by hand, or by a unit that is not `Type=notify`).
    public static func fromEnvironment(_ environment: [String: String]) -> SystemdNotifier? {
        guard let s = environment["NOTIFY_SOCKET"], !s.isEmpty else { return nil }
        return SystemdNotifier(socket: s)
    }

    /// The watchdog period systemd asked for (`WatchdogSec=`, passed as `WATCHDOG_USEC`), or `nil`
    /// when there is none or it is meant for another process (`WATCHDOG_PID` names another pid).
    /// The service must send `WATCHDOG=1` more often than this; sd_watchdog_enabled(3) advises half.
    public static func watchdogPeriod(_ environment: [String: String], pid: Int32 = getpid()) -> Duration? {
        guard let text = environment["WATCHDOG_USEC"], let usec = UInt64(text), usec > 0 else { return nil }
        if let p = environment["WATCHDOG_PID"], Int32(p) != pid { return nil }
        return .microseconds(Int64(clamping: usec))
    }

    /// `READY=1`: start-up is finished (for `tandemd`: the first reconcile has run). `status`, if
    /// given, is shown by `systemctl status`.
    public func ready(status: String? = nil) throws(SystemCallError) {
        try send(["READY=1"] + (status.map { ["STATUS=\($0)"] } ?? []))
    }

    /// `RELOADING=1` with `MONOTONIC_USEC` (the time of the reload's start on CLOCK_MONOTONIC, which
    /// systemd 253 and later require to match the reload to its request); send ``ready(status:)``
    /// when the reload is done, whatever its outcome.
    public func reloading(status: String? = nil) throws(SystemCallError) {
        let now = Clocks.monotonic()
        let usec = now.components.seconds * 1_000_000 + now.components.attoseconds / 1_000_000_000_000
        try send(["RELOADING=1", "MONOTONIC_USEC=\(usec)"] + (status.map { ["STATUS=\($0)"] } ?? []))
    }

    /// `STOPPING=1`: shutdown has begun.
    public func stopping(status: String? = nil) throws(SystemCallError) {
        try send(["STOPPING=1"] + (status.map { ["STATUS=\($0)"] } ?? []))
    }

    /// `WATCHDOG=1`: the service is alive; systemd restarts it when these stop for `WatchdogSec`.
    public func watchdog() throws(SystemCallError) { try send(["WATCHDOG=1"]) }

    /// `STATUS=…` alone.
    public func status(_ text: String) throws(SystemCallError) { try send(["STATUS=\(text)"]) }

    /// Sends `assignments` (each `KEY=VALUE`, no newline inside) as one datagram.
    public func send(_ assignments: [String]) throws(SystemCallError) {
        let message = assignments.map { $0.replacingNewlines() }.joined(separator: "\n")
        var (address, length) = try Self.address(socket)
        let fd = try syscall("socket", "AF_UNIX datagram for NOTIFY_SOCKET") { Glibc.socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
        defer { close(fd) }
        let bytes = Array(message.utf8)
        try syscall("sendto", "NOTIFY_SOCKET \(socket)") {
            withUnsafePointer(to: &address) { p in
                p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                    bytes.withUnsafeBytes { Glibc.sendto(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL), sa, length) }
                }
            }
        }
    }

    /// The `sockaddr_un` for a `NOTIFY_SOCKET` value: a leading `@` is the abstract namespace's NUL.
    /// Anything but an absolute path or an abstract name is refused with EINVAL, as libsystemd does.
    public static func address(_ socket: String) throws(SystemCallError) -> (sockaddr_un, socklen_t) {
        var path = Array(socket.utf8)
        let abstract = path.first == UInt8(ascii: "@")
        guard abstract || path.first == UInt8(ascii: "/") else {
            throw SystemCallError(function: "sd_notify", context: "NOTIFY_SOCKET \(socket) is neither a path nor an @abstract name", errno: EINVAL)
        }
        if abstract { path[0] = 0 }
        var a = sockaddr_un()
        a.sun_family = sa_family_t(AF_UNIX)
        let capacity = MemoryLayout.size(ofValue: a.sun_path)
        // An abstract name has no terminating NUL (its length is in the address length); a path has one.
        guard path.count + (abstract ? 0 : 1) <= capacity else {
            throw SystemCallError(function: "sd_notify", context: "NOTIFY_SOCKET \(socket) is longer than \(capacity - 1) bytes", errno: ENAMETOOLONG)
        }
        withUnsafeMutableBytes(of: &a.sun_path) { raw in
            for (i, b) in path.enumerated() { raw[i] = b }
        }
        let offset = MemoryLayout<sockaddr_un>.offset(of: \sockaddr_un.sun_path)!
        return (a, socklen_t(offset + path.count + (abstract ? 0 : 1)))
    }
}

private extension String {
    /// A value with a newline would start a new assignment; a status line never needs one.
    func replacingNewlines() -> String { String(map { $0 == "\n" || $0 == "\r" ? " " : $0 }) }
}
