// The one wrapper for system calls: typed errors naming the function, EINTR retried.
#if canImport(Glibc)
import Glibc
#endif

/// A failed system call: which function, for what, and the kernel's errno.
public struct SystemCallError: Error, Sendable, CustomStringConvertible, Equatable {
    /// The C function that failed.
    public var function: String
    /// What we were doing, for the user (interface, address).
    public var context: String
    /// errno.
    public var errno: Int32

    /// Creates an error.
    public init(function: String, context: String = "", errno: Int32) {
        self.function = function; self.context = context; self.errno = errno
    }

    /// `function(context): strerror`.
    public var description: String {
        let msg = String(cString: strerror(errno))
        return context.isEmpty ? "\(function): \(msg) (errno \(errno))" : "\(function) (\(context)): \(msg) (errno \(errno))"
    }
}

/// Runs a C call that reports failure as -1 + errno, retrying EINTR, and throws the typed error.
@discardableResult
public func syscall<T: BinaryInteger>(_ function: String, _ context: @autoclosure () -> String = "",
                               _ body: () -> T) throws(SystemCallError) -> T {
    var attempts = 0
    while true {
        let r = body()
        if r != -1 { return r }
        let e = Glibc.errno
        attempts += 1
        if e == EINTR && attempts < 100 { continue }
        throw SystemCallError(function: function, context: context(), errno: e)
    }
}

/// Reads the whole of a file (a `/proc` file, a small configuration file) with `open` and `read`.
public func readWholeFile(_ path: String, limit: Int = 64 << 20) throws(SystemCallError) -> [UInt8] {
    let fd = try syscall("open", path) { open(path, O_RDONLY | O_CLOEXEC) }
    defer { close(fd) }
    var out: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 1 << 16)
    while out.count < limit {
        let got = try syscall("read", path) { buf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) } }
        if got == 0 { break }
        out.append(contentsOf: buf[0..<got])
    }
    return out
}

/// Number of CPUs this process may run on (its affinity mask, as set by `taskset`; read from the
/// `Cpus_allowed` line of /proc/self/status), at least 1. Falls back to the online CPU count.
public func allowedCPUCount() -> Int {
    if let bytes = try? readWholeFile("/proc/self/status"),
       let n = cpusAllowed(statusText: String(decoding: bytes, as: UTF8.self)), n > 0 { return n }
    return max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))
}

/// The number of bits set in the `Cpus_allowed:` hex mask of a /proc/PID/status text (nil if absent).
public func cpusAllowed(statusText: String) -> Int? {
    for line in statusText.split(separator: "\n") where line.hasPrefix("Cpus_allowed:") {
        var n = 0
        for c in line.dropFirst("Cpus_allowed:".count) {
            guard let v = c.hexDigitValue else { continue }
            n += v.nonzeroBitCount
        }
        return n
    }
    return nil
}

/// `if_nametoindex`, with an error that says which interface does not exist.
public func interfaceIndex(_ name: String) throws(SystemCallError) -> Int32 {
    let i = if_nametoindex(name)
    guard i != 0 else { throw SystemCallError(function: "if_nametoindex", context: "interface \(name)", errno: Glibc.errno) }
    return Int32(i)
}

/// Monotonic and wall clocks the edge feeds the pure machines with.
public enum Clocks {
    /// Nanoseconds of CLOCK_MONOTONIC as a `Duration`.
    public static func monotonic() -> Duration {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return .seconds(Int64(ts.tv_sec)) + .nanoseconds(Int64(ts.tv_nsec))
    }
    /// Wall-clock microseconds, to seed sequence numbers so a restart never reuses them.
    public static func wallMicroseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return UInt64(ts.tv_sec) * 1_000_000 + UInt64(ts.tv_nsec) / 1000
    }
}

/// The paths `pattern` matches, sorted, as glob(3) expands them with `GLOB_BRACE` (what keepalived
/// does with its `include` patterns); empty when nothing matches or the pattern cannot be read.
public func globPaths(_ pattern: String) -> [String] {
    var g = glob_t()
    defer { globfree(&g) }
    guard glob(pattern, GLOB_BRACE, nil, &g) == 0 else { return [] }
    return (0..<Int(g.gl_pathc)).compactMap { g.gl_pathv[$0].map { String(cString: $0) } }
}

/// Raises this process's open-file limit to its hard limit and returns the new soft limit: a
/// director holds a connection per checked member (the connection watch) and tens of thousands of
/// members exceed the usual soft limit of 1,024.
@discardableResult
public func raiseOpenFileLimit() -> Int {
    var l = rlimit()
    guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &l) == 0 else { return 0 }
    if l.rlim_cur < l.rlim_max {
        l.rlim_cur = l.rlim_max
        _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &l)
        _ = getrlimit(Int32(RLIMIT_NOFILE.rawValue), &l)
    }
    return Int(l.rlim_cur)
}
