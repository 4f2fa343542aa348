import GridModel
import Foundation
import GridServices
import Logging
import MariaDB
import TestSupport
import XCTest

/// Why a real-ring test could not even start; the message names what is missing and how to get it.
typealias RingUnavailable = RealRing.Unavailable

/// The grid-service tests start their own rings (``RealRing`` from RingTestSupport); these are the
/// grid-specific views of one.
typealias TestRing = RealRing

extension RealRing {
    /// A ring of `nodes` nodes in a fresh state directory (missing `mariadbd` is a test failure).
    static func up(nodes: Int = 2) throws -> RealRing { try start(nodes: nodes, label: "gridsvc-ring") }

    /// Stops the ring and removes its state.
    func down() { stop() }

    /// Stops the mariadbd of node `n` with SIGKILL.
    func killNode(_ n: Int) { try? signal(n, SIGKILL) }

    func endpoint(_ n: Int) -> DatabaseEndpoint { DatabaseEndpoint(host: "127.0.0.1", port: port(n)) }

    /// A root connection over node n's socket, into `grid` (for checks the service user may not run).
    func rootConnection(_ n: Int) async throws -> MariaDBConnection {
        try await MariaDBConnection.connect(try rootConfig(n, database: "grid"))
    }

    func cluster(_ nodes: [Int], pool: Int = 8) -> DatabaseCluster {
        DatabaseCluster(endpoints: nodes.map(endpoint), user: "gridsvc", password: (try? password("gridsvc")) ?? "",
                        database: "grid", maxConnections: pool, acquireTimeout: .milliseconds(500))
    }
}

/// Runs in-process gridsvc instances on free ports for the duration of `body`.
func withServers<T: Sendable>(_ services: [GridService], _ body: @Sendable ([Int]) async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        var ports: [Int] = []
        for s in services {
            let (stream, cont) = AsyncStream<Int>.makeStream()
            let app = s.application(host: "127.0.0.1", port: 0) { cont.yield($0); cont.finish() }
            group.addTask {
                try await app.run()
                return nil
            }
            var it = stream.makeAsyncIterator()
            guard let port = await it.next() else { throw RingUnavailable(description: "server did not start") }
            ports.append(port)
        }
        do {
            let r = try await body(ports)
            group.cancelAll()
            return r
        } catch {
            group.cancelAll()
            throw error
        }
    }
}

func quietLogger(_ label: String) -> Logger {
    var l = Logger(label: label)
    l.logLevel = .error
    return l
}

/// Builds a service of `role` on the ring nodes `nodes` (first preferred).
func makeService(_ ring: TestRing, role: GridRole, nodes: [Int], cache: Int = 10_000, maxInFlight: Int = 64, pool: Int = 8,
                 sazMode: SAZMode = .db, poll: Duration = .milliseconds(200)) -> GridService {
    GridService(settings: GridServerSettings(role: role, maxInFlight: maxInFlight, sazMode: sazMode, pollInterval: poll),
                store: GridStore(db: ring.cluster(nodes, pool: pool), cacheCapacity: cache),
                logger: quietLogger("test.\(role.rawValue)"))
}

/// JSON string literal.
func jsonString(_ s: String) -> String {
    String(decoding: try! JSONEncoder().encode(s), as: UTF8.self)
}
