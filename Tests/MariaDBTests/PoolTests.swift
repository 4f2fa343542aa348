import Foundation
import MariaDB
import TestSupport
import XCTest

final class MariaDBPoolTests: XCTestCase {
    /// The shared ring. Throwing here (inside the test body) fails the test and names what is
    /// missing; XCTest on Linux would report an error thrown from setUp as a skip.
    var sharedRing: TestRing {
        get throws { try TestRing.get() }
    }

    /// Server-side count of sessions of `user` with a marker in their program-independent state:
    /// we count processlist rows for the pool's user on node 2, where nothing else logs in as it.
    private static func serverSessions(_ admin: MariaDBConnection, user: String) async throws -> Int64 {
        try await admin.execute(
            "SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE USER = ?", [.text(user)]
        ).rows.first?.int("n") ?? -1
    }

    /// Samples the pool's server-side session count every 10 ms (at most 2 s) until cancelled.
    private static func sample(_ admin: MariaDBConnection, baseline: Int64, into box: ActorBox) async {
        var i = 0
        while i < 200 && !Task.isCancelled {
            let n = (try? await serverSessions(admin, user: "gridsvc")) ?? 0
            await box.max(Int(n - baseline))
            try? await Task.sleep(for: .milliseconds(10))
            i += 1
        }
    }

    func testPoolNeverOpensMoreThanMaxConnectionsUnderLoad() async throws {
        let ring = try sharedRing
        // Node 2 and a dedicated user-visible count: the pool's gridsvc sessions on node 2.
        let admin = try await MariaDBConnection.connect(try ring.rootConfig(2))
        let before = try await Self.serverSessions(admin, user: "gridsvc")
        let pool = MariaDBPool(config: try ring.gridConfig(2), maxConnections: 3, acquireTimeout: .seconds(10))
        let maxSeenByServer = ActorBox(0)
        let sampler = Task { await MariaDBPoolTests.sample(admin, baseline: before, into: maxSeenByServer) }
        let ids = try await withThrowingTaskGroup(of: UInt64.self) { group in
            for _ in 0..<20 {
                group.addTask {
                    try await pool.withConnection { c in
                        _ = try await c.query("SELECT SLEEP(0.1)")
                        return c.serverConnectionID
                    }
                }
            }
            var ids: [UInt64] = []
            for try await id in group { ids.append(id) }
            return ids
        }
        sampler.cancel()
        _ = await sampler.value
        XCTAssertEqual(ids.count, 20, "every caller was served")
        XCTAssertLessThanOrEqual(Set(ids).count, 3, "more than 3 distinct sessions were used")
        let open = await pool.openConnections
        XCTAssertLessThanOrEqual(open, 3)
        let serverMax = await maxSeenByServer.value
        XCTAssertGreaterThan(serverMax, 0, "sampler never saw the pool's sessions")
        XCTAssertLessThanOrEqual(serverMax, 3, "server saw \(serverMax) pool sessions at once")
        await pool.shutdown()
        let v3 = await pool.openConnections
        XCTAssertEqual(v3, 0)
        await admin.close()
    }

    func testExhaustedPoolThrowsAfterAcquireTimeout() async throws {
        let ring = try sharedRing
        let pool = MariaDBPool(config: try ring.gridConfig(1), maxConnections: 1, acquireTimeout: .milliseconds(300))
        let holder = Task {
            try await pool.withConnection { c in _ = try await c.query("SELECT SLEEP(1.5)") }
        }
        // Give the holder time to take the only connection.
        let v4 = await eventually(timeout: .seconds(3)) { await pool.leasedConnections == 1 }
        XCTAssertTrue(v4)
        let start = ContinuousClock.now
        do {
            _ = try await pool.withConnection { c in try await c.query("SELECT 1") }
            XCTFail("got a connection from an exhausted pool")
        } catch let e as MariaDBPoolError {
            guard case .exhausted(let max, let waited) = e else { return XCTFail("unexpected \(e)") }
            XCTAssertEqual(max, 1)
            XCTAssertEqual(waited, .milliseconds(300))
        }
        let elapsed = ContinuousClock.now - start
        XCTAssertGreaterThanOrEqual(elapsed, .milliseconds(280))
        XCTAssertLessThan(elapsed, .milliseconds(1200), "waited far beyond acquireTimeout: \(elapsed)")

        // tryWithConnection refuses at once.
        let tryStart = ContinuousClock.now
        do {
            _ = try await pool.tryWithConnection { c in try await c.query("SELECT 1") }
            XCTFail("tryWithConnection got a connection from a busy pool")
        } catch MariaDBPoolError.exhausted {}
        XCTAssertLessThan(ContinuousClock.now - tryStart, .milliseconds(100))
        let v5 = await pool.exhaustedCount
        XCTAssertEqual(v5, 2)

        try await holder.value
        // Once free, the same pool serves again.
        let one = try await pool.withConnection { c in try await c.query("SELECT 1 AS one").rows.first?.int("one") }
        XCTAssertEqual(one, 1)
        await pool.shutdown()
    }

    func testWaiterGetsTheConnectionWhenItIsReturned() async throws {
        let ring = try sharedRing
        let pool = MariaDBPool(config: try ring.gridConfig(1), maxConnections: 1, acquireTimeout: .seconds(5))
        let holder = Task { try await pool.withConnection { c in try await c.query("SELECT SLEEP(0.3)").rows.count } }
        let v6 = await eventually(timeout: .seconds(3)) { await pool.leasedConnections == 1 }
        XCTAssertTrue(v6)
        let start = ContinuousClock.now
        let two = try await pool.withConnection { c in try await c.query("SELECT 2 AS two").rows.first?.int("two") }
        XCTAssertEqual(two, 2)
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(2))
        _ = try await holder.value
        let v7 = await pool.openConnections
        XCTAssertEqual(v7, 1)
        await pool.shutdown()
    }

    func testCancelledWaiterLeavesTheQueueAtOnce() async throws {
        let ring = try sharedRing
        let pool = MariaDBPool(config: try ring.gridConfig(1), maxConnections: 1, acquireTimeout: .seconds(10))
        let holder = Task { try await pool.withConnection { c in try await c.query("SELECT SLEEP(1)").rows.count } }
        let held = await eventually(timeout: .seconds(3)) { await pool.leasedConnections == 1 }
        XCTAssertTrue(held)
        let waiter = Task { try await pool.withConnection { c in c.serverConnectionID } }
        try await Task.sleep(for: .milliseconds(100))
        let start = ContinuousClock.now
        waiter.cancel()
        do {
            _ = try await waiter.value
            XCTFail("cancelled waiter got a connection")
        } catch is CancellationError {}
        XCTAssertLessThan(ContinuousClock.now - start, .milliseconds(500), "cancellation did not end the wait")
        _ = try await holder.value
        let open = await pool.openConnections
        XCTAssertEqual(open, 1)
        await pool.shutdown()
    }

    func testConnectionBrokenByReadTimeoutIsDiscardedNotReused() async throws {
        let ring = try sharedRing
        let pool = MariaDBPool(config: try ring.gridConfig(1, readTimeout: .seconds(1)), maxConnections: 1,
                               acquireTimeout: .seconds(5))
        let firstID = try await pool.withConnection { c in c.serverConnectionID }
        do {
            _ = try await pool.withConnection { c in try await c.query("SELECT SLEEP(3)") }
            XCTFail("SLEEP(3) finished despite a 1 s read timeout")
        } catch let e as MariaDBError {
            XCTAssertEqual(e.errno, MariaDBError.serverLost)
        }
        let v8 = await pool.discardedCount
        XCTAssertEqual(v8, 1)
        let (secondID, one) = try await pool.withConnection { c in
            (c.serverConnectionID, try await c.query("SELECT 1 AS one").rows.first?.int("one"))
        }
        XCTAssertNotEqual(firstID, secondID, "the broken connection was handed out again")
        XCTAssertEqual(one, 1)
        let v9 = await pool.openConnections
        XCTAssertEqual(v9, 1)
        await pool.shutdown()
        do {
            _ = try await pool.withConnection { c in c.serverConnectionID }
            XCTFail("shut-down pool lent a connection")
        } catch MariaDBPoolError.shutDown {}
    }
}

/// A tiny actor for collecting a value from concurrent tasks.
actor ActorBox {
    var value: Int
    init(_ value: Int) { self.value = value }
    func max(_ v: Int) { value = Swift.max(value, v) }
}
