import Health
import HealthCheck
import Topology

/// Builds checkers like ``CheckerFactory/make(_:)``, except that a `mariadb` target whose
/// address and port are a node of one of `monitors` gets a checker backed by that ring monitor.
///
/// The daemon passes this as `HealthMonitor`'s `makeChecker`.
public enum RingCheckerFactory {
    /// The checker for `target`.
    public static func make(_ target: CheckTarget, monitors: [RingMonitor]) -> any HealthChecker {
        // With one monitor, a target it does not know yet still gets it: a node that a SIGHUP adds to the
        // ring gets its checker before the ring monitor's reload commit runs, and the checker resolves
        // its node name again on every check.
        guard case .mariadb(let user, let passwordFile) = target.spec.kind,
              let ring = monitors.first(where: { $0.nodeName(host: target.address.description, port: target.port) != nil })
                ?? (monitors.count == 1 ? monitors.first : nil)
        else { return CheckerFactory.make(target) }
        let host = target.address.description, port = target.port
        return MariaDBChecker(address: target.address, port: port, user: user, passwordFile: passwordFile, ring: { timeout in
            guard let name = ring.nodeName(host: host, port: port) else { return nil }
            return await ring.outcome(for: name, timeout: timeout)
        })
    }
}

