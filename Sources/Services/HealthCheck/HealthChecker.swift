import Health
import Topology

/// One kind of health check against one member. Implementations are small value types, one per
/// file (`TCPCheck.swift`, `HTTPCheck.swift`, `ExecCheck.swift`, `MariaDBCheck.swift`).
///
/// A checker enforces its own `timeout` and never throws: every problem is an outcome.
public protocol HealthChecker: Sendable {
    /// Runs one check, answering within roughly `timeout`.
    func check(timeout: Duration) async -> CheckOutcome
}

/// Builds the checker for a target's kind.
public enum CheckerFactory {
    /// The checker `target.spec.kind` asks for.
    public static func make(_ target: CheckTarget) -> any HealthChecker {
        switch target.spec.kind {
        case .tcp:
            return TCPChecker(address: target.address, port: target.port)
        case .http(let h):
            return HTTPChecker(address: target.address, port: target.port, check: h)
        case .exec(let command):
            return ExecChecker(command: command, environment: [
                "TANDEM_SERVICE": target.service, "TANDEM_MEMBER": target.member,
                "TANDEM_ADDRESS": target.address.description, "TANDEM_PORT": String(target.port),
            ])
        case .mariadb(let user, let passwordFile):
            return MariaDBChecker(address: target.address, port: target.port, user: user, passwordFile: passwordFile)
        }
    }
}
