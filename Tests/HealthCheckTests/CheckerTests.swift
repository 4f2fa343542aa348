import Digest
@testable import HealthCheck
import Foundation
import Topology
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Each check kind against a real peer on this machine's loopback.
final class CheckerTests: XCTestCase {
    let loopback = IPAddress("127.0.0.1")!

    // MARK: TCP

    func testTCPCheckSucceedsAgainstAListeningSocket() async throws {
        let l = try RawListener(backlog: 16)
        defer { l.close() }
        let out = await TCPChecker(address: loopback, port: l.port).check(timeout: .seconds(2))
        XCTAssertEqual(out, .success)
    }

    func testTCPCheckCountsARefusedConnectionAtOnce() async throws {
        let port = try closedPort()
        let out = await TCPChecker(address: loopback, port: port).check(timeout: .seconds(2))
        XCTAssertEqual(out, .failure(reason: "connection refused", immediate: true))
    }

    func testTCPCheckAgainstASilentPeerCostsTheTimeout() async throws {
        // backlog 0 holds one pending connection; fill it so the kernel drops further SYNs.
        let l = try RawListener(backlog: 0)
        let fillers = l.fillBacklog(connections: 4)
        defer { l.close(); for f in fillers { _ = close(f) } }
        let out = await TCPChecker(address: loopback, port: l.port).check(timeout: .milliseconds(300))
        XCTAssertEqual(out, .timedOut)
    }

    // MARK: HTTP

    func testHTTPCheckStatusBodyAndDigest() async throws {
        let server = try await TinyHTTPServer()
        let port = server.port
        func run(_ c: HTTPCheck) async -> CheckOutcome {
            await HTTPChecker(address: loopback, port: port, check: c).check(timeout: .seconds(2))
        }
        let digest = SHA256.hex(Array(TinyHTTPServer.okBody.utf8))
        let ok = await run(HTTPCheck(path: "/ok", expectStatus: 200))
        let mismatch = await run(HTTPCheck(path: "/down", expectStatus: 200))
        let expected503 = await run(HTTPCheck(path: "/down", expectStatus: 503))
        let contains = await run(HTTPCheck(path: "/ok", bodyContains: "healthy"))
        let notContains = await run(HTTPCheck(path: "/ok", bodyContains: "sick"))
        let digestOK = await run(HTTPCheck(path: "/ok", bodySHA256: digest.uppercased()))
        let digestBad = await run(HTTPCheck(path: "/ok", bodySHA256: String(repeating: "0", count: 64)))
        let chunked = await run(HTTPCheck(path: "/chunked", bodySHA256: digest))
        await server.stop()

        XCTAssertEqual(ok, .success)
        XCTAssertEqual(mismatch, .failure(reason: "HTTP status 503, want 200", immediate: false))
        XCTAssertEqual(expected503, .success)
        XCTAssertEqual(contains, .success)
        XCTAssertEqual(notContains, .failure(reason: "body does not contain \"sick\"", immediate: false))
        XCTAssertEqual(digestOK, .success)
        XCTAssertEqual(digestBad, .failure(reason: "body sha256 \(digest), want \(String(repeating: "0", count: 64))", immediate: false))
        XCTAssertEqual(chunked, .success, "chunked body 'tandem ' + 'healthy' has the same digest")
    }

    func testHTTPCheckRefusedAndSilent() async throws {
        let refused = await HTTPChecker(address: loopback, port: try closedPort(), check: HTTPCheck()).check(timeout: .seconds(1))
        XCTAssertEqual(refused, .failure(reason: "connection refused", immediate: true))
        // Accepted by the kernel (backlog) but never answered: the request deadline fires.
        let l = try RawListener(backlog: 16)
        defer { l.close() }
        let silent = await HTTPChecker(address: loopback, port: l.port, check: HTTPCheck()).check(timeout: .milliseconds(300))
        XCTAssertEqual(silent, .timedOut)
    }

    func testHTTPResponseParser() {
        func p(_ s: String, eof: Bool = false) -> HTTPProbeResponse.ParseResult { HTTPProbeResponse.parse(Array(s.utf8), eof: eof) }
        XCTAssertEqual(p("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"), .complete(.init(status: 200, body: Array("hi".utf8))))
        XCTAssertEqual(p("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhi"), .incomplete)
        XCTAssertEqual(p("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhi", eof: true), .invalid("truncated body"))
        XCTAssertEqual(p("HTTP/1.0 404 Not Found\r\n\r\nnope", eof: true), .complete(.init(status: 404, body: Array("nope".utf8))))
        XCTAssertEqual(p("SSH-2.0-OpenSSH\r\n\r\n"), .invalid("bad status line"))
        XCTAssertEqual(p("", eof: true), .invalid("connection closed without a response"))
    }

    // MARK: Exec

    func testExecCheckExitStatus() async {
        let ok = await ExecChecker(command: ["/bin/sh", "-c", "exit 0"]).check(timeout: .seconds(5))
        let bad = await ExecChecker(command: ["/bin/sh", "-c", "exit 1"]).check(timeout: .seconds(5))
        let env = await ExecChecker(command: ["/bin/sh", "-c", "test \"$TANDEM_MEMBER\" = fg5x2"], environment: ["TANDEM_MEMBER": "fg5x2"]).check(timeout: .seconds(5))
        let missing = await ExecChecker(command: ["/nonexistent/tandem-check"]).check(timeout: .seconds(5))
        XCTAssertEqual(ok, .success)
        XCTAssertEqual(bad, .failure(reason: "exit status 1", immediate: false))
        XCTAssertEqual(env, .success)
        XCTAssertNotEqual(missing, .success)
    }

    func testExecCheckKillsTheCommandOnTimeout() async throws {
        let pidFile = FileManager.default.temporaryDirectory.appendingPathComponent("tandem-exec-\(getpid()).pid").path
        defer { try? FileManager.default.removeItem(atPath: pidFile) }
        // The shell forks a grandchild `sleep`, so killing only the direct child would leak it.
        let out = await ExecChecker(command: ["/bin/sh", "-c", "sleep 30 & echo $! > \(pidFile); wait"]).check(timeout: .milliseconds(300))
        XCTAssertEqual(out, .timedOut)
        let text = try String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let grandchild = try XCTUnwrap(pid_t(text), "pid file held \(text)")
        // SIGKILL to the process group is delivered before kill() returns; the grandchild may be a
        // zombie for an instant (its parent is gone, init reaps it), so check its state, not its pid.
        var alive = false
        for _ in 0..<200 {
            let stat = (try? String(contentsOfFile: "/proc/\(grandchild)/stat", encoding: .utf8)) ?? ""
            alive = !stat.isEmpty && !stat.contains(") Z ")
            if !alive { break }
            try await Task.sleep(for: .milliseconds(10))
        }
        XCTAssertFalse(alive, "the command's child \(grandchild) survived the timeout kill")
    }
}
