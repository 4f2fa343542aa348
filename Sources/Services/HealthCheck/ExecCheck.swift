import Health
import Syscall
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
                let end = ChildTermination(waitStatus: status)
                return end == .exited(0) ? .success : .failure(reason: end.description, immediate: false)
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
        do { return .success(try spawnProcess(command, environment: environment)) } catch {
            return .failure(SpawnError(message: String(cString: strerror(error.errno))))
        }
    }
}
