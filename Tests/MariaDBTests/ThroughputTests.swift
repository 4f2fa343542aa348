import Foundation
import MariaDB
import Net
import TestSupport
import XCTest

/// Prints round-trip rates so regressions show up in the log; asserts only a loose floor because
/// the machine is shared.
final class ThroughputTests: XCTestCase {
    var sharedRing: TestRing {
        get throws { try TestRing.get() }
    }

    private static func sessionCounter(_ c: MariaDBConnection, _ name: String) async throws -> Int64 {
        // SHOW cannot take a placeholder; `name` is a constant from this file.
        let rows = try await c.query("SHOW SESSION STATUS LIKE '\(name)'").rows
        return rows.first?.int("Value") ?? -1
    }

    func testRepeatedExecutesPrepareOnceAndReportRates() async throws {
        let ring = try sharedRing
        let c = try await MariaDBConnection.connect(try ring.gridConfig(1))
        let table = "tp_\(UInt32.random(in: 0...UInt32.max))"
        _ = try await c.query("CREATE TABLE \(table) (id INT PRIMARY KEY, dn VARCHAR(200))")
        _ = try await c.execute("INSERT INTO \(table) VALUES (?, ?)", [.int(1), .text("/CN=x")])
        let n = 500
        var start = ContinuousClock.now
        for _ in 0..<n { _ = try await c.query("SELECT dn FROM \(table) WHERE id = 1") }
        let textRate = Double(n) / (ContinuousClock.now - start).inSeconds
        let preparesBefore = try await Self.sessionCounter(c, "Com_stmt_prepare")
        start = ContinuousClock.now
        for _ in 0..<n { _ = try await c.execute("SELECT dn FROM \(table) WHERE id = ?", [.int(1)]) }
        let preparedRate = Double(n) / (ContinuousClock.now - start).inSeconds
        print(String(format: "one connection, sequential: text query %.0f/s, prepared execute %.0f/s", textRate, preparedRate))
        let prepares = try await Self.sessionCounter(c, "Com_stmt_prepare") - preparesBefore
        XCTAssertEqual(prepares, 1, "\(n) executes of one SQL text should prepare once (statement cache)")
        _ = try await c.query("DROP TABLE \(table)")
        await c.close()
    }
}
