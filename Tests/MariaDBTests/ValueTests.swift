import MariaDB
import XCTest

/// Pure tests: no server needed.
final class MariaDBValueTests: XCTestCase {
    func testTimeoutsAreNeverZeroAndRoundUpToWholeSeconds() {
        var c = MariaDBConfig(user: "u", password: "p", connectTimeout: .zero, readTimeout: .milliseconds(1500),
                              writeTimeout: .seconds(-3))
        XCTAssertEqual(c.connectTimeout, .seconds(1))
        XCTAssertEqual(c.readTimeout, .seconds(2))
        XCTAssertEqual(c.writeTimeout, .seconds(1))
        c.readTimeout = .zero
        XCTAssertEqual(c.readTimeout, .seconds(1), "setting 0 later must clamp too")
        XCTAssertEqual(c.endpoint, "127.0.0.1:3306")
        c.unixSocket = "/run/db.sock"
        XCTAssertEqual(c.endpoint, "unix:/run/db.sock")
    }

    func testGTIDPositionParsesPerDomainSequences() {
        let p = GTIDPosition("2-2-17,1-1-42")
        XCTAssertEqual(p.sequence(domain: 1), 42)
        XCTAssertEqual(p.sequence(domain: 2), 17)
        XCTAssertEqual(p.sequence(domain: 3), 0)
        XCTAssertEqual(p.domains[2]?.serverID, 2)
        XCTAssertEqual(p.description, "1-1-42,2-2-17")
        XCTAssertTrue(GTIDPosition("").domains.isEmpty)
    }

    func testConnectionLevelErrorsAreTheOnesThatKillTheSession() {
        func e(_ n: Int32) -> MariaDBError { MariaDBError(operation: "x", errno: n, sqlState: "HY000", message: "", endpoint: "h:1") }
        for n: Int32 in [2002, 2003, 2006, 2013, 1927, 1053] { XCTAssertTrue(e(n).isConnectionLevel, "\(n)") }
        for n: Int32 in [1062, 1146, 1045, 1213, 2034] { XCTAssertFalse(e(n).isConnectionLevel, "\(n)") }
        XCTAssertTrue(e(1213).isRetryableTransaction)
        XCTAssertEqual(e(1062).description, "x on h:1 failed: MariaDB error 1062 (SQLSTATE HY000): ")
    }

    func testRowAccessorsConvertOnlyWhatFits() {
        let row = MariaDBRow(columns: ["a", "b", "c", "d", "e"],
                             values: [.int(5), .uint(UInt64.max), .text("12"), .null, .blob(Array("hi".utf8))])
        XCTAssertEqual(row.int("a"), 5)
        XCTAssertNil(row.int("b"), "UInt64.max does not fit Int64")
        XCTAssertEqual(row.int("c"), 12)
        XCTAssertNil(row.int("d"))
        XCTAssertEqual(row.string("e"), "hi")
        XCTAssertEqual(row.string("b"), "18446744073709551615")
        XCTAssertNil(row["zz"])
        XCTAssertEqual(row["d"], .null)
    }
}
