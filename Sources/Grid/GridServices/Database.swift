import GridModel
import MariaDB
import Synchronization

/// The ring nodes one instance may use, in order of preference: a bounded pool per node; requests go to
/// the first node that answers, and move on to the next one only when a connection to the current one is
/// lost (so one instance writes through one node at a time, which is what the GUMS lease slices need).
public final class DatabaseCluster: Sendable {
    /// The nodes, in preference order.
    public let endpoints: [DatabaseEndpoint]
    private let pools: [MariaDBPool]
    private let active = Atomic<Int>(0)

    /// Creates one bounded pool per endpoint. Nothing connects until first use.
    public init(endpoints: [DatabaseEndpoint], user: String, password: String, database: String,
                maxConnections: Int, acquireTimeout: Duration = .milliseconds(500),
                connectTimeout: Duration = .seconds(1), readTimeout: Duration = .seconds(5)) {
        self.endpoints = endpoints
        self.pools = endpoints.map { e in
            MariaDBPool(
                config: MariaDBConfig(host: e.host, port: e.port, user: user, password: password, database: database,
                                      connectTimeout: connectTimeout, readTimeout: readTimeout, writeTimeout: readTimeout),
                maxConnections: maxConnections, acquireTimeout: acquireTimeout)
        }
    }

    /// The endpoint requests go to now.
    public var activeEndpoint: DatabaseEndpoint { endpoints[active.load(ordering: .relaxed) % endpoints.count] }

    /// Runs `body` on a pooled connection to the active node; on a lost connection, retries once on each of
    /// the other nodes in turn and makes the first that answers the active one.
    public func withConnection<T: Sendable>(_ body: @escaping @Sendable (MariaDBConnection) async throws -> T) async throws -> T {
        let start = active.load(ordering: .relaxed)
        var lastError: (any Error)?
        for attempt in 0..<pools.count {
            let i = (start + attempt) % pools.count
            do {
                let r = try await pools[i].withConnection(body)
                if attempt > 0 { active.store(i, ordering: .relaxed) }
                return r
            } catch let e as MariaDBError where e.isConnectionLevel {
                lastError = e
                continue
            }
        }
        throw lastError!
    }


    /// Closes every pool.
    public func shutdown() async {
        for p in pools { await p.shutdown() }
    }
}
