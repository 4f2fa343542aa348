import Health
#if canImport(Glibc)
import Glibc
#endif

/// Runs a command; exit status 0 means healthy.
///
/// The command is started with `posix_spawn` in its own process group (stdin, stdout and stderr on
/// `/dev/null`); the wait polls `waitpid(WNOHANG)` every few milliseconds between async sleeps, so no
/// thread of the cooperative pool ever blocks. On timeout the whole process group gets `SIGKILL` and
/// is reaped. The member's service, name, address and port are passed as `TANDEM_*` variables.
public struct ExecChecker: HealthChecker {
    /// argv; `command[0]` is an absolute path or found on `PATH`.
    public var command: [String]
    /// Extra environment variables.
    public var environment: [String: String]

    /// Creates an exec check.
    public init(command: [String], environment: [String: String] = [:]) {
        self.command = command; self.environment = environment
    }

    /// Spawns, waits up to `timeout`, kills on timeout.
    public func check(timeout: Duration) async -> CheckOutcome {
        guard !command.isEmpty else { return .failure(reason: "empty command", immediate: false) }
        let pid: pid_t
        switch spawn() {
        case .success(let p): pid = p
        case .failure(let e): return .failure(reason: "spawn \(command[0]): \(e.message)", immediate: false)
        }
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        var pollInterval = Duration.milliseconds(1)
        // Bounded by the deadline (and by cancellation); at most timeout/1ms iterations.
        while true {
            var status: Int32 = 0
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid {
                let exited = (status & 0x7f) == 0
                if exited {
                    let code = (status >> 8) & 0xff
                    return code == 0 ? .success : .failure(reason: "exit status \(code)", immediate: false)
                }
                return .failure(reason: "killed by signal \(status & 0x7f)", immediate: false)
            }
            if r < 0 && errno != EINTR { return .failure(reason: "waitpid: errno \(errno)", immediate: false) }
            if clock.now >= deadline || Task.isCancelled {
                kill(-pid, SIGKILL)
                kill(pid, SIGKILL)
                var s: Int32 = 0
                // The child was SIGKILLed: reaping returns promptly. Bounded retries on EINTR.
                for _ in 0..<1000 { if waitpid(pid, &s, 0) >= 0 || errno != EINTR { break } }
                return .timedOut
            }
            try? await clock.sleep(for: pollInterval)
            pollInterval = min(pollInterval * 2, .milliseconds(10))
        }
    }

    struct SpawnError: Error { var message: String }

    private func spawn() -> Result<pid_t, SpawnError> {
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
        for fd: Int32 in [0, 1, 2] {
            posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0)
        }
        var env: [String: String] = [:]
        var i = 0
        while let p = environ[i] {
            let s = String(cString: p)
            if let eq = s.firstIndex(of: "=") { env[String(s[..<eq])] = String(s[s.index(after: eq)...]) }
            i += 1
        }
        for (k, v) in environment { env[k] = v }
        let argv = command.map { strdup($0) } + [nil]
        let envp = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for p in argv { free(p) }; for p in envp { free(p) } }
        var pid: pid_t = 0
        let rc = posix_spawnp(&pid, command[0], &actions, &attr, argv, envp)
        guard rc == 0 else { return .failure(SpawnError(message: String(cString: strerror(rc)))) }
        return .success(pid)
    }
}
