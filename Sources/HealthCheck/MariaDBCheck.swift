import Foundation
import MariaDB
import RingHealth
import Topology

/// The replication-aware MariaDB check of one member.
///
/// With a ``RingMonitor`` that watches the member's node (the daemon's normal case), the outcome is
/// the ring verdict for that node: healthy while trusted, failed with the reason when the ring
/// says drain (stopped, hung, replication broken, or missing another node's writes: what
/// `SHOW SLAVE STATUS` on the node itself hides). The check itself does no I/O then; the
/// monitor's heartbeat loops do.
///
/// Without a monitor (a MariaDB service outside any declared ring) it falls back to the
/// member-local view: connect as the monitor user and require every replication connection to
/// run IO and SQL with no last error. That view cannot see upstream breaks or a hung master.
public struct MariaDBChecker: HealthChecker {
    /// Node address.
    public var address: IPAddress
    /// Node port.
    public var port: UInt16
    /// Monitor user (needs SLAVE MONITOR).
    public var user: String
    /// File holding the password (mode 0600), if any.
    public var passwordFile: String?
    /// The ring monitor watching this node, if any.
    public var ring: RingMonitor?

    /// Creates a MariaDB check; pass `ring` to judge the member by the ring-wide heartbeat watch.
    public init(address: IPAddress, port: UInt16, user: String, passwordFile: String?, ring: RingMonitor? = nil) {
        self.address = address; self.port = port; self.user = user; self.passwordFile = passwordFile; self.ring = ring
    }

    /// The ring verdict if a monitor watches this node, else the member-local status check.
    public func check(timeout: Duration) async -> CheckOutcome {
        if let ring, let name = ring.nodeName(host: address.description, port: port),
           let outcome = await ring.outcome(for: name, timeout: timeout) {
            return outcome
        }
        return await localCheck(timeout: timeout)
    }

    private func localCheck(timeout: Duration) async -> CheckOutcome {
        var password = ""
        if let f = passwordFile {
            do { password = try readPassword(f) } catch { return .failure(reason: "\(error)", immediate: false) }
        }
        let config = MariaDBConfig(host: address.description, port: Int(port), user: user, password: password,
                                   connectTimeout: timeout, readTimeout: timeout, writeTimeout: timeout)
        let started = ContinuousClock.now
        do {
            let conn = try await MariaDBConnection.connect(config)
            var links: [ReplicationStatus] = []
            var readError: (any Error)?
            do { links = try await conn.replicationStatus() } catch { readError = error }
            await conn.close()
            if let readError { throw readError }
            for l in links where !l.isHealthy || l.lastIOErrno != 0 || l.lastSQLErrno != 0 {
                let name = l.connectionName.isEmpty ? "default" : l.connectionName
                var why = "replication \(name): IO \(l.ioRunning), SQL \(l.sqlRunning)"
                if l.lastIOErrno != 0 { why += ", IO error \(l.lastIOErrno) \(l.lastIOError)" }
                if l.lastSQLErrno != 0 { why += ", SQL error \(l.lastSQLErrno) \(l.lastSQLError)" }
                return .failure(reason: why, immediate: false)
            }
            return .success
        } catch {
            let elapsed = ContinuousClock.now - started
            if elapsed >= MariaDBConfig.clampedTimeout(timeout) * 0.9 { return .timedOut }
            let refused = (error as? MariaDBError).map {
                $0.errno == MariaDBError.connectionError || $0.errno == MariaDBError.connHostError
            } ?? false
            return .failure(reason: "\(error)", immediate: refused)
        }
    }
}

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
        return MariaDBChecker(address: target.address, port: target.port, user: user, passwordFile: passwordFile, ring: ring)
    }
}

extension MariaDBConfig {
    /// The timeout libmariadb will really apply: whole seconds, at least one.
    static func clampedTimeout(_ d: Duration) -> Duration {
        MariaDBConfig(user: "", password: "", connectTimeout: d).connectTimeout
    }
}
