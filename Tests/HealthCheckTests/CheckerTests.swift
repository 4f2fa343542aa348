import Cryptography
@testable import HealthCheck
import Foundation
import NIOCore
import Topology
import XCTest
import Health
import HTTPWire
import Net
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// Each check kind against a real peer on this machine's loopback.
final class CheckerTests: XCTestCase {
    let loopback = IPAddress("127.0.0.1")!

    // MARK: TCP

    func testTCPCheckSucceedsAgainstAListeningSocket() async throws {
        let l = try LoopbackListener(backlog: 16)
        defer { l.close() }
        let out = await TCPChecker(address: loopback, port: l.port).check(timeout: .seconds(2))
        XCTAssertEqual(out, .success)
    }

    func testTCPCheckCountsARefusedConnectionAtOnce() async throws {
        let port = try LoopbackListener.unusedPort()
        let out = await TCPChecker(address: loopback, port: port).check(timeout: .seconds(2))
        XCTAssertEqual(out, .failure(reason: "connection refused", immediate: true))
    }

    func testUnreachableHostOrNetworkCountsAtOnceLikeARefusal() {
        // Definitive answers (the member's kernel, ours, or a router said so) are immediate;
        // anything unknown counts toward fall.
        let cases: [(Int32, CheckOutcome)] = [
            (ECONNREFUSED, .failure(reason: "connection refused", immediate: true)),
            (ECONNRESET, .failure(reason: "connection reset", immediate: true)),
            (EHOSTUNREACH, .failure(reason: "host unreachable", immediate: true)),
            (ENETUNREACH, .failure(reason: "network unreachable", immediate: true)),
            (ETIMEDOUT, .timedOut),
        ]
        for (errno, want) in cases {
            XCTAssertEqual(ProbeSocket.outcome(of: IOError(errnoCode: errno, reason: "connect")), want, "errno \(errno)")
        }
        guard case .failure(_, let immediate) = ProbeSocket.outcome(of: IOError(errnoCode: EACCES, reason: "connect")) else {
            return XCTFail("EACCES should be a failure")
        }
        XCTAssertFalse(immediate, "an unexpected errno must count toward fall, not drain at once")
    }

    func testTCPCheckOfAnUnroutableAddressIsImmediate() async throws {
        // Linux refuses a TCP connect to the limited broadcast address with ENETUNREACH at once
        // (tcp_v4_connect: broadcast/multicast route), a real unreachable answer without touching routes.
        let out = await TCPChecker(address: IPAddress("255.255.255.255")!, port: 80).check(timeout: .seconds(2))
        XCTAssertEqual(out, .failure(reason: "network unreachable", immediate: true))
    }

    func testTCPCheckAgainstASilentPeerCostsTheTimeout() async throws {
        // backlog 0 holds one pending connection; fill it so the kernel drops further SYNs.
        let l = try LoopbackListener(backlog: 0)
        let fillers = l.fillBacklog(connections: 4)
        defer { l.close(); for f in fillers { _ = close(f) } }
        let out = await TCPChecker(address: loopback, port: l.port).check(timeout: .milliseconds(300))
        XCTAssertEqual(out, .timedOut)
    }

    // MARK: HTTP

    func testHTTPCheckStatusBodyAndDigest() async throws {
        let server = try TestHTTPServer.member()
        let port = server.port
        func run(_ c: HTTPCheck) async -> CheckOutcome {
            await HTTPChecker(address: loopback, port: port, check: c).check(timeout: .seconds(2))
        }
        let digest = try SHA256.hex(Array(TestHTTPServer.memberOKBody.utf8))
        let ok = await run(HTTPCheck(path: "/ok", expectStatus: 200))
        let mismatch = await run(HTTPCheck(path: "/down", expectStatus: 200))
        let expected503 = await run(HTTPCheck(path: "/down", expectStatus: 503))
        let contains = await run(HTTPCheck(path: "/ok", bodyContains: "healthy"))
        let notContains = await run(HTTPCheck(path: "/ok", bodyContains: "sick"))
        let digestOK = await run(HTTPCheck(path: "/ok", bodySHA256: digest.uppercased()))
        let digestBad = await run(HTTPCheck(path: "/ok", bodySHA256: String(repeating: "0", count: 64)))
        let chunked = await run(HTTPCheck(path: "/chunked", bodySHA256: digest))
        server.stop()

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
        let refused = await HTTPChecker(address: loopback, port: try LoopbackListener.unusedPort(), check: HTTPCheck()).check(timeout: .seconds(1))
        XCTAssertEqual(refused, .failure(reason: "connection refused", immediate: true))
        // Accepted by the kernel (backlog) but never answered: the request deadline fires.
        let l = try LoopbackListener(backlog: 16)
        defer { l.close() }
        let silent = await HTTPChecker(address: loopback, port: l.port, check: HTTPCheck()).check(timeout: .milliseconds(300))
        XCTAssertEqual(silent, .timedOut)
    }

    func testHTTPKeepAliveReusesOneConnectionAndSurvivesAnIdleClose() async throws {
        let server = try TestHTTPServer.member(keepAlive: true)
        let checker = HTTPChecker(address: loopback, port: server.port, check: HTTPCheck(path: "/ok", bodyContains: "healthy"))
        var outcomes: [CheckOutcome] = []
        for _ in 0..<5 { outcomes.append(await checker.check(timeout: .seconds(2))) }
        XCTAssertEqual(outcomes, Array(repeating: .success, count: 5))
        XCTAssertEqual(server.accepted, 1, "five checks on one keep-alive connection")
        // The member closes the idle connection (an idle timeout): the next check is not a failure,
        // it retries on a new connection.
        server.dropConnections()
        let afterClose = await checker.check(timeout: .seconds(2))
        XCTAssertEqual(afterClose, .success)
        XCTAssertEqual(server.accepted, 2)
        checker.shutdown()
        server.stop()
    }

    func testHTTPWatchSeesTheMemberCloseItsConnection() async throws {
        let server = try TestHTTPServer.member(keepAlive: true)
        let checker = HTTPChecker(address: loopback, port: server.port, check: HTTPCheck(path: "/ok"))
        let before = await checker.waitForHeldConnectionLoss()
        XCTAssertFalse(before, "nothing held before the first check: the watch returns at once")
        let first = await checker.check(timeout: .seconds(2))
        XCTAssertEqual(first, .success)
        async let lost = checker.waitForHeldConnectionLoss()
        try await Task.sleep(for: .milliseconds(50))
        server.stop()  // as if the process died: its kernel closes the connection
        let sawLoss = await lost
        XCTAssertTrue(sawLoss)
        let after = await checker.check(timeout: .seconds(1))
        XCTAssertEqual(after, .failure(reason: "connection refused", immediate: true))
    }

    func testHTTPServerThatClosesEachResponseGetsNoWatch() async throws {
        let server = try TestHTTPServer.member(keepAlive: false)
        let checker = HTTPChecker(address: loopback, port: server.port, check: HTTPCheck(path: "/ok"))
        let a = await checker.check(timeout: .seconds(2)), b = await checker.check(timeout: .seconds(2))
        XCTAssertEqual([a, b], [.success, .success])
        XCTAssertEqual(server.accepted, 2)
        let watched = await checker.waitForHeldConnectionLoss()
        XCTAssertFalse(watched)
        server.stop()
    }

    func testTCPWatchReportsALossThatHappenedBeforeTheWait() async throws {
        // The member dies between a successful check and the monitor's next wait: the close must not
        // be swallowed as "nothing held".
        let l = try LoopbackListener(backlog: 16)
        let checker = TCPChecker(address: loopback, port: l.port)
        let out = await checker.check(timeout: .seconds(2))
        XCTAssertEqual(out, .success)
        l.close()
        // Bounded wait until NIO has seen the reset, without racing the watch.
        for _ in 0..<200 where checker.holdsConnectionForTesting {
            try await Task.sleep(for: .milliseconds(10))
        }
        XCTAssertFalse(checker.holdsConnectionForTesting, "the reset never reached the held connection within 2 s")
        let sawLoss = await checker.waitForHeldConnectionLoss()
        XCTAssertTrue(sawLoss, "a connection lost before the wait began must still wake the monitor")
        let again = await checker.waitForHeldConnectionLoss()
        XCTAssertFalse(again, "the loss is reported once, then nothing is held")
        checker.shutdown()
    }

    func testTCPWatchSeesTheMemberCloseItsConnection() async throws {
        let l = try LoopbackListener(backlog: 16)
        let checker = TCPChecker(address: loopback, port: l.port)
        let out = await checker.check(timeout: .seconds(2))
        XCTAssertEqual(out, .success)
        async let lost = checker.waitForHeldConnectionLoss()
        try await Task.sleep(for: .milliseconds(50))
        // Closing the listener resets the connections still in its accept queue.
        l.close()
        let sawLoss = await lost
        XCTAssertTrue(sawLoss)
        checker.shutdown()
    }

    /// The watch against a real server process (python3 -m http.server, which accepts the idle
    /// connection in a thread) killed with SIGKILL: its kernel closes the socket and the watch returns.
    func testTCPWatchSeesAKilledServerProcess() async throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/python3") else {
            return XCTFail("/usr/bin/python3 is missing: apt-get install python3")
        }
        let port = try LoopbackListener.unusedPort()
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        server.arguments = ["-m", "http.server", String(port), "--bind", "127.0.0.1", "--directory", "/nonexistent-tandem"]
        server.standardOutput = FileHandle.nullDevice; server.standardError = FileHandle.nullDevice
        try server.run()
        var killed = false
        defer { if !killed { kill(server.processIdentifier, SIGKILL) }; server.waitUntilExit() }
        let checker = TCPChecker(address: loopback, port: port)
        var up = CheckOutcome.timedOut
        for _ in 0..<100 {
            up = await checker.check(timeout: .seconds(1))
            if up == .success { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        XCTAssertEqual(up, .success, "python3 http.server never listened")
        try await Task.sleep(for: .milliseconds(200))  // let it accept the held connection
        async let lost = checker.waitForHeldConnectionLoss()
        try await Task.sleep(for: .milliseconds(50))
        kill(server.processIdentifier, SIGKILL); killed = true
        let sawLoss = await lost
        XCTAssertTrue(sawLoss)
        // The process closes its sockets one by one while it exits: once it is gone, nothing listens.
        server.waitUntilExit()
        let after = await checker.check(timeout: .seconds(1))
        XCTAssertEqual(after, .failure(reason: "connection refused", immediate: true))
    }

    func testHTTPHeadCheckReadsNoBodyAndKeepsTheConnection() async throws {
        // A HEAD answer says Content-Length: 14 and sends no body: the check must not wait for one.
        let server = try TestHTTPServer.member(keepAlive: true)
        let checker = HTTPChecker(address: loopback, port: server.port, check: HTTPCheck(method: "HEAD", path: "/ok"))
        let a = await checker.check(timeout: .seconds(2)), b = await checker.check(timeout: .seconds(2))
        XCTAssertEqual([a, b], [.success, .success])
        XCTAssertEqual(server.accepted, 1, "both HEAD checks on one keep-alive connection")
        XCTAssertEqual(server.requestLines, ["HEAD /ok", "HEAD /ok"])
        checker.shutdown()
        server.stop()
    }

    func testHTTPCheckOfAPortThatSpeaksAnotherProtocolSaysSo() async throws {
        // An SSH daemon where the member should be: the check fails with the parser's reason.
        let server = try TestHTTPServer(fallback: .raw("SSH-2.0-OpenSSH_9.2\r\n"))
        defer { server.stop() }
        let got = await HTTPChecker(address: loopback, port: server.port, check: HTTPCheck()).check(timeout: .seconds(2))
        XCTAssertEqual(got, .failure(reason: HTTPResponseError.badStatusLine.description, immediate: false))
    }

    // MARK: HTTPS

    /// HTTPS against a real TLS server (python3's ssl module) with a self-signed certificate made here.
    func testHTTPSCheckAgainstARealTLSServer() async throws {
        for tool in ["/usr/bin/openssl", "/usr/bin/python3"] where !FileManager.default.isExecutableFile(atPath: tool) {
            return XCTFail("\(tool) is missing: apt-get install openssl python3")
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tandem-tls-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let cert = dir.appendingPathComponent("cert.pem").path, key = dir.appendingPathComponent("key.pem").path
        let gen = Process()
        gen.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        gen.arguments = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                         "-subj", "/CN=tandem-test", "-days", "1"]
        gen.standardOutput = FileHandle.nullDevice; gen.standardError = FileHandle.nullDevice
        try gen.run(); gen.waitUntilExit()
        XCTAssertEqual(gen.terminationStatus, 0, "openssl req failed")
        let script = """
        import http.server, ssl, sys
        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            def do_GET(self):
                ok = self.path == "/ok"
                body = b"tandem tls healthy" if ok else b"down"
                self.send_response(200 if ok else 503)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            def log_message(self, *a):
                pass
        s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(sys.argv[1], sys.argv[2])
        s.socket = ctx.wrap_socket(s.socket, server_side=True)
        print(s.server_address[1], flush=True)
        s.serve_forever()
        """
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        server.arguments = ["-c", script, cert, key]
        let out = Pipe()
        server.standardOutput = out; server.standardError = FileHandle.nullDevice
        try server.run()
        // SIGKILL: the test process may block SIGTERM, and a spawned child inherits that mask.
        defer { kill(server.processIdentifier, SIGKILL); server.waitUntilExit() }
        var line = ""
        for _ in 0..<100 where !line.contains("\n") {
            let d = out.fileHandleForReading.availableData
            if d.isEmpty { break }
            line += String(decoding: d, as: UTF8.self)
        }
        let port = try XCTUnwrap(UInt16(line.trimmingCharacters(in: .whitespacesAndNewlines)), "TLS server printed \(line)")

        let healthy = HTTPChecker(address: loopback, port: port, check: HTTPCheck(scheme: "https", path: "/ok", bodyContains: "tls healthy"))
        var outcomes: [CheckOutcome] = []
        for _ in 0..<3 { outcomes.append(await healthy.check(timeout: .seconds(5))) }
        healthy.shutdown()
        XCTAssertEqual(outcomes, [.success, .success, .success], "https with keep-alive")
        let down = await HTTPChecker(address: loopback, port: port, check: HTTPCheck(scheme: "https", path: "/down")).check(timeout: .seconds(5))
        XCTAssertEqual(down, .failure(reason: "HTTP status 503, want 200", immediate: false))
        // Plain HTTP to the TLS port, and TLS to a plain HTTP server: both fail, neither hangs.
        let plain = await HTTPChecker(address: loopback, port: port, check: HTTPCheck(path: "/ok")).check(timeout: .seconds(2))
        XCTAssertNotEqual(plain, .success)
        let tiny = try TestHTTPServer.member()
        // (The plain server waits for a request line that never comes: the deadline ends it.)
        let tlsToPlain = await HTTPChecker(address: loopback, port: tiny.port, check: HTTPCheck(scheme: "https", path: "/ok")).check(timeout: .milliseconds(500))
        tiny.stop()
        XCTAssertEqual(tlsToPlain, .timedOut)
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
