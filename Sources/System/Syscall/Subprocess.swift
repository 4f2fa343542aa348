// Running a child to completion: exec health checks, fence agents. The child is started by
// ``spawnProcess`` (Spawn.swift), the one spawner, which drills use directly for long-lived children.
#if canImport(Glibc)
import Glibc
#endif

/// A child process run to completion, bounded in time, with its input on stdin and its output
/// (stdout and stderr together) captured up to a limit.
///
/// The child is started with `posix_spawnp` in a process group of its own, with a clean signal
/// mask and default handlers. The wait polls `waitpid(WNOHANG)` between short async sleeps (1 ms
/// growing to 10 ms), so no thread of the cooperative pool ever blocks. At the deadline, or when
/// the calling task is cancelled, the whole process group gets `SIGKILL` (a child's own children
/// die with it) and the child is reaped.
public enum Subprocess {
    /// How the child ended.
    public enum Termination: Sendable, Equatable, CustomStringConvertible {
        /// It exited with this status.
        case exited(Int32)
        /// A signal killed it.
        case signalled(Int32)
        /// It ran past the deadline and was killed.
        case timedOut
        /// The calling task was cancelled and the child killed.
        case cancelled

        /// `exit status 1`, `killed by signal 9`, `timed out`, `cancelled`.
        public var description: String {
            switch self {
            case .exited(let s): "exit status \(s)"
            case .signalled(let s): "killed by signal \(s)"
            case .timedOut: "timed out"
            case .cancelled: "cancelled"
            }
        }
    }

    /// What a run produced.
    public struct Outcome: Sendable, Equatable {
        /// How the child ended.
        public var termination: Termination
        /// Its stdout and stderr, interleaved as written, at most the run's `outputLimit` bytes.
        public var output: [UInt8]
        /// True if it wrote more than `outputLimit` bytes (the rest was read and dropped).
        public var truncated: Bool
        /// How long it ran.
        public var elapsed: Duration
    }

    /// Runs `argv` (`argv[0]` an absolute path or a name on `PATH`) with the environment of this
    /// process plus `environment`. `input`, when given, is written to the child's stdin, which is
    /// then closed; without it stdin is `/dev/null`. With `captureOutput` false stdout and stderr
    /// go to `/dev/null`. Throws only when the child cannot be started.
    public static func run(_ argv: [String], input: [UInt8]? = nil, environment: [String: String] = [:],
                           timeout: Duration, captureOutput: Bool = true, outputLimit: Int = 64 << 10) async throws(SystemCallError) -> Outcome {
        precondition(!argv.isEmpty, "Subprocess.run needs a command")
        let clock = ContinuousClock()
        let started = clock.now
        var stdinPipe: (read: Int32, write: Int32)? = nil
        var outPipe: (read: Int32, write: Int32)? = nil
        if input != nil { stdinPipe = try pipe(argv[0]) }
        if captureOutput {
            do { outPipe = try pipe(argv[0]) } catch {
                if let p = stdinPipe { close(p.read); close(p.write) }
                throw error
            }
        }
        let pid: pid_t
        do {
            pid = try spawnProcess(argv, environment: environment, stdin: stdinPipe?.read, stdout: outPipe?.write, stderr: outPipe?.write)
        } catch {
            for fd in [stdinPipe?.read, stdinPipe?.write, outPipe?.read, outPipe?.write].compactMap({ $0 }) { close(fd) }
            throw error
        }
        // The child's ends belong to the child now.
        if let p = stdinPipe { close(p.read) }
        if let p = outPipe { close(p.write) }
        var pendingInput = input.map { ArraySlice($0) } ?? []
        var stdinFD = stdinPipe?.write
        if let fd = stdinFD { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        if let fd = outPipe?.read { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        defer {
            if let fd = stdinFD { close(fd) }
            if let fd = outPipe?.read { close(fd) }
        }
        var output: [UInt8] = []
        var truncated = false
        func drain() {
            guard let fd = outPipe?.read else { return }
            var chunk = [UInt8](repeating: 0, count: 4096)
            // Bounded: a chatty child cannot keep us here; the rest is read on the next round.
            for _ in 0..<64 {
                let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { return }
                let room = max(0, outputLimit - output.count)
                output += chunk[0..<min(n, room)]
                if n > room { truncated = true }
            }
        }
        func feed() {
            guard let fd = stdinFD else { return }
            while !pendingInput.isEmpty {
                let n = pendingInput.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                if n < 0 && errno == EAGAIN { return }
                // EPIPE or another error: the child does not read its input; stop offering it.
                if n <= 0 { pendingInput = []; break }
                pendingInput = pendingInput.dropFirst(n)
            }
            close(fd)
            stdinFD = nil
        }
        let deadline = started.advanced(by: timeout)
        var pollInterval = Duration.milliseconds(1)
        // Bounded by the deadline (and by cancellation).
        while true {
            feed()
            drain()
            var status: Int32 = 0
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid {
                drain()
                return Outcome(termination: termination(status), output: output, truncated: truncated, elapsed: clock.now - started)
            }
            if r < 0 && errno != EINTR {
                let e = errno
                kill(-pid, SIGKILL)
                throw SystemCallError(function: "waitpid", context: argv[0], errno: e)
            }
            let cancelled = Task.isCancelled
            if clock.now >= deadline || cancelled {
                kill(-pid, SIGKILL)
                kill(pid, SIGKILL)
                var s: Int32 = 0
                // The child was SIGKILLed: reaping returns promptly. Bounded retries on EINTR.
                for _ in 0..<1000 { if waitpid(pid, &s, 0) >= 0 || errno != EINTR { break } }
                drain()
                return Outcome(termination: cancelled ? .cancelled : .timedOut, output: output, truncated: truncated,
                               elapsed: clock.now - started)
            }
            try? await clock.sleep(for: pollInterval)
            pollInterval = min(pollInterval * 2, .milliseconds(10))
        }
    }

    /// The wait status as a termination (``ChildTermination`` decodes it).
    static func termination(_ status: Int32) -> Termination {
        switch ChildTermination(waitStatus: status) {
        case .exited(let s): .exited(s)
        case .signalled(let s): .signalled(s)
        }
    }

    /// A connected pair of sockets (read end, write end), close-on-exec from birth so that no child
    /// spawned at the same moment by another thread inherits them (an inherited write end would
    /// keep our child from ever seeing end-of-file on its stdin). `pipe2` is not exported to Swift
    /// by Glibc; `socketpair` with `SOCK_CLOEXEC` gives the same guarantee.
    static func pipe(_ what: String) throws(SystemCallError) -> (read: Int32, write: Int32) {
        var fds: [Int32] = [-1, -1]
        try syscall("socketpair", what) {
            socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds)
        }
        // One direction each, as a pipe has.
        shutdown(fds[0], Int32(SHUT_WR))
        shutdown(fds[1], Int32(SHUT_RD))
        return (fds[0], fds[1])
    }
}
