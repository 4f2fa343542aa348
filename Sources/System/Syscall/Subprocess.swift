// The one way Tandem runs a child process: exec health checks, fence agents.
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
            pid = try spawn(argv, stdin: stdinPipe?.read, output: outPipe?.write, environment: environment)
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

    /// WIFEXITED / WEXITSTATUS / WTERMSIG are macros: the wait status decoded by hand.
    static func termination(_ status: Int32) -> Termination {
        (status & 0x7f) == 0 ? .exited((status >> 8) & 0xff) : .signalled(status & 0x7f)
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

    static func spawn(_ argv: [String], stdin: Int32?, output: Int32?, environment: [String: String]) throws(SystemCallError) -> pid_t {
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        posix_spawnattr_setpgroup(&attr, 0)
        var none = sigset_t(); sigemptyset(&none)
        posix_spawnattr_setsigmask(&attr, &none)
        var all = sigset_t(); sigfillset(&all)
        posix_spawnattr_setsigdefault(&attr, &all)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let fd = stdin { posix_spawn_file_actions_adddup2(&actions, fd, 0) }
        else { posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0) }
        if let fd = output {
            posix_spawn_file_actions_adddup2(&actions, fd, 1)
            posix_spawn_file_actions_adddup2(&actions, fd, 2)
        } else {
            posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
            posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        }
        var env: [String: String] = [:]
        var i = 0
        while let p = environ[i] {
            let s = String(cString: p)
            if let eq = s.firstIndex(of: "=") { env[String(s[..<eq])] = String(s[s.index(after: eq)...]) }
            i += 1
        }
        for (k, v) in environment { env[k] = v }
        let cArgv = argv.map { strdup($0) } + [nil]
        let cEnv = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for p in cArgv { free(p) }; for p in cEnv { free(p) } }
        var pid: pid_t = 0
        let rc = posix_spawnp(&pid, argv[0], &actions, &attr, cArgv, cEnv)
        guard rc == 0 else { throw SystemCallError(function: "posix_spawnp", context: argv[0], errno: rc) }
        return pid
    }
}
