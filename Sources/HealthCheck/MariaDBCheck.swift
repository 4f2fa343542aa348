import Foundation
import MariaDB
import Topology

/// Per-member MariaDB check: connects as the monitor user and reads `SHOW ALL SLAVES STATUS`.
///
/// Healthy when the node answers and every replication connection it has runs both threads with
/// no last error. This is the member-local half only; what `SHOW SLAVE STATUS` hides (a stopped
/// link upstream, a hung node before `slave_net_timeout`) needs the ring-wide heartbeat watch of
/// issue 5, which is not built yet (see docs/health-checks.md).
public struct MariaDBChecker: HealthChecker {
    /// Node address.
    public var address: IPAddress
    /// Node port.
    public var port: UInt16
    /// Monitor user (needs SLAVE MONITOR).
    public var user: String
    /// File holding the password (mode 0600), if any.
    public var passwordFile: String?

    /// Creates a MariaDB check.
    public init(address: IPAddress, port: UInt16, user: String, passwordFile: String?) {
        self.address = address; self.port = port; self.user = user; self.passwordFile = passwordFile
    }

    /// Connects, reads replication status, closes.
    public func check(timeout: Duration) async -> CheckOutcome {
        var password = ""
        if let f = passwordFile {
            guard let text = try? String(contentsOfFile: f, encoding: .utf8) else {
                return .failure(reason: "cannot read password file \(f)", immediate: false)
            }
            password = text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let config = MariaDBConfig(host: address.description, port: Int(port), user: user, password: password,
                                   connectTimeout: timeout, readTimeout: timeout, writeTimeout: timeout)
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
            let text = "\(error)"
            let refused = text.contains("2002") || text.contains("2003") && text.contains("refused")
            return .failure(reason: text, immediate: refused)
        }
    }
}
