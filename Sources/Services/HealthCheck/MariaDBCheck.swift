import Foundation
import Syscall
import MariaDB
import Health
import Topology
import Net

/// The replication-aware MariaDB check of one member.
///
/// With a ring verdict (``RingVerdict``; the daemon's ring monitor gives one for every node it
/// watches, the normal case), the outcome is the ring verdict for that node: healthy while trusted, failed with the reason when the ring
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
    /// The ring-wide verdict on this node, if a ring monitor watches it.
    public var ring: RingVerdict?

    /// The verdict of a ring monitor on one node: `nil` when the monitor does not (or no longer)
    /// know the node, and the member-local check decides.
    public typealias RingVerdict = @Sendable (_ timeout: Duration) async -> CheckOutcome?

    /// Creates a MariaDB check; pass `ring` to judge the member by the ring-wide heartbeat watch.
    public init(address: IPAddress, port: UInt16, user: String, passwordFile: String?, ring: RingVerdict? = nil) {
        self.address = address; self.port = port; self.user = user; self.passwordFile = passwordFile; self.ring = ring
    }

    /// The ring verdict if a monitor watches this node, else the member-local status check.
    public func check(timeout: Duration) async -> CheckOutcome {
        if let ring, let outcome = await ring(timeout) { return outcome }
        return await localCheck(timeout: timeout)
    }

    private func localCheck(timeout: Duration) async -> CheckOutcome {
        var password = ""
        if let f = passwordFile {
            do { password = try SecretFile.text(f, what: "password file") } catch { return .failure(reason: "\(error)", immediate: false) }
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
