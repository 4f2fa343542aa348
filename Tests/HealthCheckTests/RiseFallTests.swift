import HealthCheck
import XCTest
import Health

/// Rise/fall as lines of event → expected actions.
final class RiseFallTests: XCTestCase {
    private func run(_ m: inout RiseFall, _ lines: [(RiseFall.Event, [RiseFall.Action])], file: StaticString = #filePath, line: UInt = #line) {
        for (i, (event, want)) in lines.enumerated() {
            XCTAssertEqual(m.on(event), want, "step \(i): \(event)", file: file, line: line)
        }
    }

    func testUpMemberDrainedAfterFallFailuresAndBackAfterRiseSuccesses() {
        var m = RiseFall(rise: 2, fall: 3, initial: .up)
        run(&m, [
            (.checkSucceeded, []),
            (.timedOut, []),
            (.checkFailed(reason: "HTTP status 503, want 200", immediate: false), []),
            (.checkSucceeded, []),                       // a success resets the failure count
            (.timedOut, []),
            (.timedOut, []),
            (.checkFailed(reason: "HTTP status 503, want 200", immediate: false), [.markDown(reason: "HTTP status 503, want 200")]),
            (.timedOut, []),                             // already down: no repeated action
            (.checkSucceeded, []),
            (.timedOut, []),                             // a failure resets the success count
            (.checkSucceeded, []),
            (.checkSucceeded, [.markUp]),
            (.checkSucceeded, []),
        ])
        XCTAssertEqual(m.state, .up)
    }

    func testRefusedConnectionDrainsAtOnce() {
        var m = RiseFall(rise: 2, fall: 3, initial: .up)
        run(&m, [
            (.checkSucceeded, []),
            (.checkFailed(reason: "connection refused", immediate: true), [.markDown(reason: "connection refused")]),
            (.checkFailed(reason: "connection refused", immediate: true), []),
        ])
        XCTAssertEqual(m.state, .down)
    }

    func testTimeoutReasonNamesTheTimeout() {
        var m = RiseFall(rise: 1, fall: 1, initial: .up)
        run(&m, [(.timedOut, [.markDown(reason: "check timed out")]), (.checkSucceeded, [.markUp])])
    }

    func testUnknownMemberIsDecidedByTheFirstResult() {
        var a = RiseFall(rise: 3, fall: 3)
        XCTAssertEqual(a.state, .unknown)
        run(&a, [(.checkSucceeded, [.markUp]), (.checkSucceeded, [])])
        var b = RiseFall(rise: 3, fall: 3)
        run(&b, [(.timedOut, [.markDown(reason: "check timed out")]), (.checkSucceeded, []), (.checkSucceeded, []), (.checkSucceeded, [.markUp])])
    }

    func testRiseAndFallBelowOneAreTreatedAsOne() {
        var m = RiseFall(rise: 0, fall: -2, initial: .up)
        XCTAssertEqual(m.rise, 1)
        XCTAssertEqual(m.fall, 1)
        run(&m, [(.checkFailed(reason: "x", immediate: false), [.markDown(reason: "x")]), (.checkSucceeded, [.markUp])])
    }
}
