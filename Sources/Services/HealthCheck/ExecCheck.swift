import Health
import Syscall
#if canImport(Glibc)
import Glibc
#endif

/// Runs a command; exit status 0 means healthy.
///
/// The command runs through ``Subprocess`` in its own process group with stdin, stdout and stderr
/// on `/dev/null`, never blocking a thread of the cooperative pool; on timeout the whole process
/// group gets `SIGKILL`. The member's service, name, address and port are passed as `TANDEM_*`
/// variables.
public struct ExecChecker: HealthChecker {
    /// argv; `command[0]` is an absolute path or found on `PATH`.
    public var command: [String]
    /// Extra environment variables.
    public var environment: [String: String]

    /// Creates an exec check.
    public init(command: [String], environment: [String: String] = [:]) {
        self.command = command; self.environment = environment
    }

    /// Spawns, waits up to `timeout`, kills on timeout (``Subprocess``).
    public func check(timeout: Duration) async -> CheckOutcome {
        guard !command.isEmpty else { return .failure(reason: "empty command", immediate: false) }
        let outcome: Subprocess.Outcome
        do {
            outcome = try await Subprocess.run(command, environment: environment, timeout: timeout, captureOutput: false)
        } catch {
            return .failure(reason: "spawn \(command[0]): \(String(cString: strerror(error.errno)))", immediate: false)
        }
        switch outcome.termination {
        case .exited(0): return .success
        case .exited(let code): return .failure(reason: "exit status \(code)", immediate: false)
        case .signalled(let sig): return .failure(reason: "killed by signal \(sig)", immediate: false)
        case .timedOut, .cancelled: return .timedOut
        }
    }
}
