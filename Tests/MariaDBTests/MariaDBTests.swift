import Foundation
import MariaDB
import TestSupport
import XCTest

/// Tests against real mariadbd processes (see TestRing). Each test creates its own table names so
/// order does not matter.
final class MariaDBConnectionTests: XCTestCase {
    /// The shared ring. Throwing here (inside the test body) fails the test and names what is
    /// missing; XCTest on Linux would report an error thrown from setUp as a skip.
    var sharedRing: TestRing {
        get throws { try TestRing.get() }
    }

    private func unique(_ prefix: String) -> String {
        "\(prefix)_\(UInt32.random(in: 0...UInt32.max))"
    }

    func testConnectMeasuresUnderOneSecondAndReportsServerVersion() async throws {
        let ring = try sharedRing
        let start = ContinuousClock.now
        let c = try await MariaDBConnection.connect(try ring.gridConfig(1))
        let elapsed = ContinuousClock.now - start
        print("connect took \(elapsed)")
        XCTAssertLessThan(elapsed, .seconds(1))
        let rows = try await c.query("SELECT VERSION() AS v, DATABASE() AS db, CURRENT_USER() AS u").rows
        XCTAssertEqual(rows.count, 1)
        XCTAssertTrue(rows[0].string("v")?.contains("MariaDB") ?? false, "\(rows)")
        XCTAssertEqual(rows[0].string("db"), "grid")
        XCTAssertEqual(rows[0].string("u"), "gridsvc@127.0.0.1")
        await c.close()
        XCTAssertTrue(c.isBroken)
    }

    func testEveryValueTypeRoundTripsThroughBindsAndBothProtocols() async throws {
        let ring = try sharedRing
        let c = try await MariaDBConnection.connect(try ring.gridConfig(1))
        let table = unique("roundtrip")
        _ = try await c.query("""
            CREATE TABLE \(table) (id INT PRIMARY KEY, i BIGINT, u BIGINT UNSIGNED, d DOUBLE,
              t TEXT CHARACTER SET utf8mb4, b LONGBLOB, n INT NULL)
            """)
        let bigText = String(repeating: "DN=/DC=org/CN=Grüße 🌍 ", count: 200)  // > initial 256-byte cell
        var allBytes = [UInt8](0...255)
        allBytes += [UInt8](repeating: 0, count: 70_000)  // zeros and a long cell
        let cases: [[MariaDBValue]] = [
            [.int(1), .int(Int64.min), .uint(UInt64.max), .double(3.141592653589793), .text("Grüße 🌍"), .blob([0, 1, 0, 255]), .null],
            [.int(2), .int(Int64.max), .uint(0), .double(-1.5e-300), .text(bigText), .blob(allBytes), .null],
            [.int(3), .int(0), .uint(42), .double(0), .text(""), .blob([]), .null],
        ]
        for row in cases {
            let r = try await c.execute("INSERT INTO \(table) VALUES (?, ?, ?, ?, ?, ?, ?)", row)
            XCTAssertEqual(r.affectedRows, 1)
        }
        let columns = ["id", "i", "u", "d", "t", "b", "n"]
        let binary = try await c.execute("SELECT id, i, u, d, t, b, n FROM \(table) WHERE id >= ? ORDER BY id", [.int(0)])
        XCTAssertEqual(binary.rows.map(\.values), cases)
        XCTAssertEqual(binary.rows.first?.columns, columns)
        let text = try await c.query("SELECT id, i, u, d, t, b, n FROM \(table) ORDER BY id")
        XCTAssertEqual(text.rows.count, 3)
        for (got, want) in zip(text.rows, cases) {
            // The text protocol spells DOUBLE with limited digits: compare it numerically.
            for (k, column) in columns.enumerated() where column != "d" {
                XCTAssertEqual(got[column], want[k], "text protocol, column \(column)")
            }
            guard case .double(let g) = got["d"], case .double(let w) = want[3] else {
                return XCTFail("d is not a double: \(String(describing: got["d"]))")
            }
            XCTAssertEqual(g, w, accuracy: abs(w) * 1e-14)
        }
        XCTAssertEqual(text.rows[0].int("i"), Int64.min)
        XCTAssertEqual(text.rows[0].string("t"), "Grüße 🌍")
        XCTAssertNil(text.rows[0].int("n"))
        XCTAssertEqual(text.rows[0]["n"], .null)
        XCTAssertNil(text.rows[0]["no_such_column"])
        // NULL, DECIMAL and dates come back exactly, as text.
        let misc = try await c.execute("SELECT ? AS x, CAST(12.50 AS DECIMAL(5,2)) AS amount, DATE('2026-11-22') AS day", [.null])
        XCTAssertEqual(misc.rows.first?.values, [.null, .text("12.50"), .text("2026-11-22")])
        _ = try await c.query("DROP TABLE \(table)")
        await c.close()
    }

    func testAutoIncrementUsesTheNodeOffsetAndTransactionsRollBack() async throws {
        let ring = try sharedRing
        let c1 = try await MariaDBConnection.connect(try ring.gridConfig(1))
        let c2 = try await MariaDBConnection.connect(try ring.gridConfig(2))
        let table = unique("ai")
        _ = try await c1.query("CREATE TABLE \(table) (id INT AUTO_INCREMENT PRIMARY KEY, v INT)")
        let v1 = await eventually(timeout: .seconds(5)) {
            (try? await c2.query("SELECT 1 FROM \(table)")) != nil
        }
        XCTAssertTrue(v1, "table did not replicate to node 2")
        let a = try await c1.execute("INSERT INTO \(table) (v) VALUES (?)", [.int(1)])
        let b = try await c2.execute("INSERT INTO \(table) (v) VALUES (?)", [.int(2)])
        XCTAssertEqual(a.lastInsertID % 2, 1, "node 1 (offset 1 of 2) must generate odd ids")
        XCTAssertEqual(b.lastInsertID % 2, 0, "node 2 (offset 2 of 2) must generate even ids")

        struct Boom: Error {}
        do {
            _ = try await c1.transaction { tx in
                _ = try await tx.execute("INSERT INTO \(table) (v) VALUES (?)", [.int(99)])
                throw Boom()
            }
            XCTFail("transaction should have rethrown")
        } catch is Boom {}
        let kept = try await c1.transaction { tx in
            try await tx.execute("INSERT INTO \(table) (v) VALUES (?)", [.int(7)]).affectedRows
        }
        XCTAssertEqual(kept, 1)
        let values = try await c1.query("SELECT v FROM \(table) ORDER BY v").rows.compactMap { $0.int("v") }
        XCTAssertTrue(values.contains(7))
        XCTAssertFalse(values.contains(99), "rolled-back row is visible: \(values)")
        // Node 2's insert may still be on its way to node 1. Dropping the table before it lands
        // would stop node 1's SQL thread with 1146 (a conflicting write, as the notes describe),
        // so wait until node 1 has applied node 2's domain up to now.
        let converged = try await ring.waitForConvergence(timeout: .seconds(5))
        XCTAssertTrue(converged, "ring did not converge within 5 s")
        _ = try await c1.query("DROP TABLE \(table)")
        await c1.close()
        await c2.close()
    }

    func testCachedStatementsFollowSchemaChangesAndRecoverFromErrors() async throws {
        let ring = try sharedRing
        let c = try await MariaDBConnection.connect(try ring.gridConfig(1))
        let table = unique("cache")
        _ = try await c.query("CREATE TABLE \(table) (id INT PRIMARY KEY, a INT)")
        let insert = "INSERT INTO \(table) (id, a) VALUES (?, ?)"
        let select = "SELECT * FROM \(table) WHERE id = ?"
        _ = try await c.execute(insert, [.int(1), .int(10)])
        let before = try await c.execute(select, [.int(1)])
        XCTAssertEqual(before.rows.first?.columns, ["id", "a"])
        _ = try await c.query("ALTER TABLE \(table) ADD COLUMN b INT NOT NULL DEFAULT 7")
        let after = try await c.execute(select, [.int(1)])
        XCTAssertEqual(after.rows.first?.columns, ["id", "a", "b"], "cached statement kept stale metadata")
        XCTAssertEqual(after.rows.first?.values, [.int(1), .int(10), .int(7)])
        do {
            _ = try await c.execute(insert, [.int(1), .int(11)])
            XCTFail("duplicate accepted")
        } catch let e as MariaDBError {
            XCTAssertEqual(e.errno, MariaDBError.duplicateEntry)
        }
        let second = try await c.execute(insert, [.int(2), .int(20)])
        XCTAssertEqual(second.affectedRows, 1, "statement did not recover after a failed execute")
        let rows = try await c.execute("SELECT id FROM \(table) ORDER BY id", []).rows.compactMap { $0.int("id") }
        XCTAssertEqual(rows, [1, 2])
        _ = try await c.query("DROP TABLE \(table)")
        do {
            _ = try await c.execute(select, [.int(1)])
            XCTFail("select on a dropped table succeeded")
        } catch let e as MariaDBError {
            XCTAssertEqual(e.errno, MariaDBError.noSuchTable)
        }
        await c.close()
    }

    func testDuplicateKeyAndMissingTableThrowTypedErrors() async throws {
        let ring = try sharedRing
        let c = try await MariaDBConnection.connect(try ring.gridConfig(1))
        let table = unique("dup")
        _ = try await c.query("CREATE TABLE \(table) (dn VARCHAR(200) PRIMARY KEY)")
        _ = try await c.execute("INSERT INTO \(table) VALUES (?)", [.text("/CN=alice")])
        do {
            _ = try await c.execute("INSERT INTO \(table) VALUES (?)", [.text("/CN=alice")])
            XCTFail("duplicate insert succeeded")
        } catch let e as MariaDBError {
            XCTAssertEqual(e.errno, MariaDBError.duplicateEntry)
            XCTAssertEqual(e.sqlState, "23000")
            XCTAssertEqual(e.operation, "mysql_stmt_execute")
            XCTAssertEqual(e.endpoint, "127.0.0.1:\(ring.port(1))")
            XCTAssertTrue(e.message.contains("Duplicate entry"), e.message)
            XCTAssertFalse(e.isConnectionLevel)
            XCTAssertTrue(e.description.contains("1062"), e.description)
        }
        do {
            _ = try await c.query("SELECT * FROM no_such_table_here")
            XCTFail("query on a missing table succeeded")
        } catch let e as MariaDBError {
            XCTAssertEqual(e.errno, MariaDBError.noSuchTable)
            XCTAssertEqual(e.sqlState, "42S02")
            XCTAssertEqual(e.operation, "mysql_real_query")
        }
        do {
            _ = try await c.execute("SELECT ? + ?", [.int(1)])
            XCTFail("wrong bind count accepted")
        } catch let e as MariaDBError {
            XCTAssertEqual(e.errno, MariaDBError.invalidParameterNumber)
        }
        // Errors that are not connection-level leave the connection usable.
        XCTAssertFalse(c.isBroken)
        let v2 = try await c.query("SELECT 1 AS one").rows.first?.int("one")
        XCTAssertEqual(v2, 1)
        _ = try await c.query("DROP TABLE \(table)")
        await c.close()
    }

    func testConnectToClosedPortFailsFastWithConnectionError() async throws {
        guard let port = TestRing.freePortRange(count: 1) else { return XCTFail("no free port to test with") }
        let start = ContinuousClock.now
        do {
            _ = try await MariaDBConnection.connect(MariaDBConfig(port: port, user: "gridsvc", password: "x"))
            XCTFail("connected to a closed port")
        } catch let e as MariaDBError {
            XCTAssertTrue([MariaDBError.connectionError, MariaDBError.connHostError].contains(e.errno), "\(e)")
            XCTAssertEqual(e.operation, "mysql_real_connect")
            XCTAssertEqual(e.endpoint, "127.0.0.1:\(port)")
            XCTAssertTrue(e.isConnectionLevel)
        }
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(1))
    }

    func testWrongPasswordIsAccessDenied() async throws {
        let ring = try sharedRing
        do {
            _ = try await MariaDBConnection.connect(MariaDBConfig(port: ring.port(1), user: "gridsvc", password: "wrong"))
            XCTFail("connected with a wrong password")
        } catch let e as MariaDBError {
            XCTAssertEqual(e.errno, 1045, "\(e)")
        }
    }

    func testReadTimeoutBoundsAHungQueryAndBreaksTheConnection() async throws {
        let ring = try sharedRing
        let c = try await MariaDBConnection.connect(try ring.gridConfig(1, readTimeout: .milliseconds(1)))
        XCTAssertEqual(c.config.readTimeout, .seconds(1), "timeouts below 1 s must clamp to 1 s, never 0")
        let start = ContinuousClock.now
        do {
            _ = try await c.query("SELECT SLEEP(3)")
            XCTFail("SLEEP(3) finished despite a 1 s read timeout")
        } catch let e as MariaDBError {
            XCTAssertEqual(e.errno, MariaDBError.serverLost, "\(e)")
            XCTAssertTrue(e.isConnectionLevel)
        }
        let elapsed = ContinuousClock.now - start
        print("read timeout fired after \(elapsed)")
        XCTAssertGreaterThanOrEqual(elapsed, .milliseconds(900))
        XCTAssertLessThan(elapsed, .milliseconds(2900))
        XCTAssertTrue(c.isBroken)
        await c.close()
    }

    func testManyConcurrentQueriesDoNotBlockTheCooperativePool() async throws {
        let ring = try sharedRing
        // 8 concurrent SLEEP(0.5) on 8 connections: if the blocking calls ran on the cooperative
        // pool (2 threads here) this would take ~2 s; on the executor it takes ~0.5 s, and a
        // timer task keeps ticking meanwhile.
        let config = try ring.gridConfig(1)
        let start = ContinuousClock.now
        let ticker = Task { () -> Int in
            var ticks = 0
            while !Task.isCancelled && ticks < 1000 {
                try? await Task.sleep(for: .milliseconds(10))
                ticks += 1
            }
            return ticks
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    let c = try await MariaDBConnection.connect(config)
                    _ = try await c.query("SELECT SLEEP(0.5)")
                    await c.close()
                }
            }
            try await group.waitForAll()
        }
        let elapsed = ContinuousClock.now - start
        ticker.cancel()
        let ticks = await ticker.value
        XCTAssertLessThan(elapsed, .milliseconds(1500), "queries were serialised: \(elapsed)")
        XCTAssertGreaterThan(ticks, 20, "the cooperative pool was blocked while queries ran")
    }
}
