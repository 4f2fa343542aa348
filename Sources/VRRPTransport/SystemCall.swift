// One wrapper for every C call in this module: typed errors naming the function, EINTR retried.
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
func syscall<T: BinaryInteger>(_ function: String, _ context: @autoclosure () -> String = "",
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

/// `if_nametoindex`, with an error that says which interface does not exist.
func interfaceIndex(_ name: String) throws(SystemCallError) -> Int32 {
    let i = if_nametoindex(name)
    guard i != 0 else { throw SystemCallError(function: "if_nametoindex", context: "interface \(name)", errno: Glibc.errno) }
    return Int32(i)
}

/// Monotonic and wall clocks the edge feeds the pure machines with.
enum Clocks {
    /// Nanoseconds of CLOCK_MONOTONIC as a `Duration`.
    static func monotonic() -> Duration {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return .seconds(Int64(ts.tv_sec)) + .nanoseconds(Int64(ts.tv_nsec))
    }
    /// Wall-clock microseconds, to seed sequence numbers so a restart never reuses them.
    static func wallMicroseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return UInt64(ts.tv_sec) * 1_000_000 + UInt64(ts.tv_nsec) / 1000
    }
}
