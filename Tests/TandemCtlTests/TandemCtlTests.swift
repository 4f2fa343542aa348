import DaemonAPI
import Foundation
import Syscall
import TestSupport
import XCTest
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// tandemctl as scripts and monitoring see it (issues 12 and 15): the built executable's output and
/// exit status (0 ok, 1 a problem found, 2 usage, 3 tandemd unreachable), against a tandemd started
/// with `--dry-run-kernel` on loopback. The real-kernel half (the kernel's weight, the ownership lock
/// held by a real tandemd, a crash freeing it) is DaemonTests' `uml-daemon.sh`.
final class TandemCtlTests: XCTestCase {
    var work = ""

    override func setUpWithError() throws {
        work = NSTemporaryDirectory() + "tandemctl-tests-\(getpid())-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: work)
    }

    /// Runs the built tandemctl (a missing one fails the test); status and stdout+stderr.
    func ctl(_ args: String..., file: StaticString = #filePath, line: UInt = #line) throws -> (status: Int32, output: String) {
        try ctl(args, file: file, line: line)
    }

    /// Runs the built tandemctl with `args`.
    func ctl(_ args: [String], file: StaticString = #filePath, line: UInt = #line) throws -> (status: Int32, output: String) {
        let binary = try XCTUnwrap(BuildProducts.path("tandemctl"), "tandemctl not built beside the tests (\(BuildProducts.directory.path)): swift build --product tandemctl",
                                   file: file, line: line)
        return RealRing.runProcess([binary.path] + args, timeout: 30, what: "tandemctl \(args.joined(separator: " "))")
    }

    func freePort() throws -> Int { try XCTUnwrap(RealRing.freePortRange(count: 1), "no free port on 127.0.0.1") }

    func write(_ name: String, _ text: String, mode: mode_t = 0o600) throws -> String {
        let path = work + "/" + name
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, mode)
        return path
    }

    /// ``DryRunSite``: members `a` (up on `upPort`) and `b` (down on `downPort`); `daemon:` lines when given.
    func topology(upPort: Int, downPort: Int, daemon: String = "") -> String {
        DryRunSite.yaml(upPort: upPort, downPort: downPort, extra: daemon)
    }

    // MARK: - exit statuses without a daemon

    func testStatusWithNoDaemonExitsThreeWithAPlainMessageAndNoUsage() throws {
        let port = try freePort()
        let r = try ctl("status", "--url", "http://127.0.0.1:\(port)")
        XCTAssertEqual(r.status, 3, r.output)
        XCTAssertTrue(r.output.contains("cannot reach tandemd at http://127.0.0.1:\(port)/status"), r.output)
        XCTAssertTrue(r.output.contains("pass --url"), r.output)
        XCTAssertFalse(r.output.contains("Usage"), "a runtime failure must not print usage: \(r.output)")

        let token = try write("token", "0123456789abcdef0123456789")
        let d = try ctl("drain", "gums", "a", "--url", "http://127.0.0.1:\(port)", "--token-file", token)
        XCTAssertEqual(d.status, 3, d.output)
        XCTAssertTrue(d.output.contains("cannot reach tandemd at http://127.0.0.1:\(port)/drain?service=gums&member=a"), d.output)
    }

    func testUsageErrorsExitTwoWithUsage() throws {
        for args in [["status", "--bogus"], ["frobnicate"], ["drain", "gums"], ["drain", "gums", "a"],
                     ["status", "--member", "gums"], ["status", "--url", "ftp://x"], ["ipvs", "drain", "gums", "a"]] {
            let r = try ctl(args)
            XCTAssertEqual(r.status, 2, "tandemctl \(args.joined(separator: " ")): \(r.output)")
            XCTAssertTrue(r.output.contains("Usage: tandemctl"), "tandemctl \(args.joined(separator: " ")): \(r.output)")
        }
        let help = try ctl("--help")
        XCTAssertEqual(help.status, 0, help.output)
        let flat = help.output.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        XCTAssertTrue(flat.contains("2 a usage error; 3 tandemd cannot be reached"), help.output)
    }

    func testAnInvalidTopologyExitsOneNamingTheFile() throws {
        let good = try write("good.yaml", topology(upPort: 1, downPort: 2), mode: 0o644)
        let ok = try ctl("validate", good)
        XCTAssertEqual(ok.status, 0, ok.output)
        let bad = try write("bad.yaml", topology(upPort: 1, downPort: 2).replacingOccurrences(of: "vip: 10.99.0.1", with: "vip: not-an-address"), mode: 0o644)
        for command in ["validate", "plan"] {
            let r = try ctl(command, bad)
            XCTAssertEqual(r.status, 1, "\(command): \(r.output)")
            XCTAssertTrue(r.output.contains("bad.yaml:"), "\(command) names the file: \(r.output)")
            XCTAssertFalse(r.output.contains("Usage"), r.output)
        }
        let missing = try ctl("ipvs", "drain", "gums", "a", "--topology", work + "/none.yaml")
        XCTAssertEqual(missing.status, 1, missing.output)
    }

    func testDirectWritesRefuseWhileTheTableIsOwnedNamingTheOwner() throws {
        let file = try write("site.yaml", topology(upPort: 1, downPort: 2), mode: 0o644)
        let state = work + "/state"
        // This test process plays tandemd: it holds the lock, with tandemd's record.
        let path = TableOwnership.lockPath(stateDirectory: state, networkNamespace: try networkNamespaceInode())
        let owner = TableOwnership.Owner(node: "d1", statusURL: "http://127.0.0.1:9595")
        let lock = try OwnershipLock.acquire(path, mode: .exclusive, record: owner.record)
        defer { lock.release() }
        for args in [["ipvs", "drain", "gums", "a", "--topology", file], ["ipvs", "undrain", "gums", "a", "--topology", file],
                     ["ipvs", "apply", file], ["apply", file]] {
            let r = try ctl(args + ["--state-dir", state])
            XCTAssertEqual(r.status, 1, "\(args): \(r.output)")
            XCTAssertTrue(r.output.contains("tandemd (pid \(getpid()), node d1, status http://127.0.0.1:9595) owns this IPVS table (lock \(path))"),
                          "\(args): \(r.output)")
            XCTAssertTrue(r.output.contains("Nothing was written"), r.output)
            XCTAssertFalse(r.output.contains("Usage"), r.output)
        }
    }

    // MARK: - against a running tandemd (dry-run kernel)

    func testDrainAndStatusThroughTheDaemonAPI() async throws {
        let tandemd = try XCTUnwrap(BuildProducts.path("tandemd"), "tandemd not built beside the tests: swift build --product tandemd")
        let apiPort = try freePort()
        let downPort = try freePort()
        let url = "http://127.0.0.1:\(apiPort)"
        // Member a's check connects to tandemd's own API port: a TCP listener that is up for as
        // long as the daemon is. Member b's port on 127.0.0.2 has no listener: refused, down.
        let token = try write("token", "ctl-test-token-0123456789abcdef")
        let file = try write("site.yaml", topology(upPort: apiPort, downPort: downPort,
                                                   daemon: "daemon: {token_file: \(token), repair_interval: 1s}"), mode: 0o644)
        let log = work + "/tandemd.log"
        XCTAssertTrue(FileManager.default.createFile(atPath: log, contents: nil), log)
        let daemon = Process()
        daemon.executableURL = tandemd
        daemon.arguments = ["--topology", file, "--node", "d1", "--dry-run-kernel", "--status-listen", "127.0.0.1:\(apiPort)",
                            "--state-dir", work + "/run"]
        let out = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        daemon.standardOutput = out
        daemon.standardError = out
        try daemon.run()
        defer {
            daemon.terminate()
            daemon.waitUntilExit()
            try? out.close()
        }
        var up = (status: Int32(-1), output: "")
        for _ in 0..<75 {  // ≤ 15 s: start, then one check every 200 ms
            up = try ctl("status", "--url", url, "--member", "gums/a")
            if up.status == 0 { break }
            usleep(200_000)
        }
        XCTAssertEqual(up.status, 0, "gums/a never came up: \(up.output)\n" + ((try? String(contentsOfFile: log, encoding: .utf8)) ?? ""))
        XCTAssertTrue(up.output.hasPrefix("gums/a UP weight 100/100 (kernel 100)"), up.output)

        let down = try ctl("status", "--url", url, "--member", "gums/a", "--member", "gums/b")
        XCTAssertEqual(down.status, 1, "b is down: \(down.output)")
        XCTAssertTrue(down.output.contains("gums/b DOWN weight 0/100"), down.output)
        let unknown = try ctl("status", "--url", url, "--member", "gums/zz")
        XCTAssertEqual(unknown.status, 1, unknown.output)
        XCTAssertTrue(unknown.output.contains("service gums has no member zz (members: a, b)"), unknown.output)
        let page = try ctl("status", "--url", url)
        XCTAssertEqual(page.status, 0, page.output)
        XCTAssertTrue(page.output.contains("tandemd on d1 (site ctl)"), page.output)

        let drained = try ctl("drain", "gums", "a", "--url", url, "--token-file", token)
        XCTAssertEqual(drained.status, 0, drained.output)
        XCTAssertNotNil(drained.output.range(of: #"^drained gums/a: weight 0 in the kernel after \d+ ms\n$"#, options: .regularExpression), drained.output)
        let json = try ctl("status", "--url", url, "--json")
        let report = try JSONDecoder().decode(StatusReport.self, from: Data(json.output.utf8))
        let a = try XCTUnwrap(report.services.first?.members.first { $0.member == "a" })
        XCTAssertEqual([a.drained ? 1 : 0, a.weight, a.kernelWeight ?? -1], [1, 0, 0], "drained, weight 0, and the (dry-run) kernel holds 0")

        let again = try ctl("drain", "gums", "a", "--url", url, "--token-file", token, "--json")
        XCTAssertEqual(again.status, 0, again.output)
        let result = try JSONDecoder().decode(DrainResult.self, from: Data(again.output.utf8))
        XCTAssertEqual([result.applied, result.drained], [true, true])
        XCTAssertEqual(result.kernelWeight, 0)

        let undrained = try ctl("undrain", "gums", "a", "--url", url, "--token-file", token)
        XCTAssertEqual(undrained.status, 0, undrained.output)
        XCTAssertTrue(undrained.output.hasPrefix("undrained gums/a: weight 100 in the kernel after"), undrained.output)

        // tandemd refuses: exit 1 with its reason, never usage.
        let wrong = try write("wrong", "not-the-token-0123456789abcdef")
        let refused = try ctl("drain", "gums", "a", "--url", url, "--token-file", wrong)
        XCTAssertEqual(refused.status, 1, refused.output)
        XCTAssertTrue(refused.output.contains("tandemd refused to drain gums/a: missing or wrong bearer token"), refused.output)
        let nosuch = try ctl("drain", "gums", "zz", "--url", url, "--token-file", token)
        XCTAssertEqual(nosuch.status, 1, nosuch.output)
        XCTAssertTrue(nosuch.output.contains("no member zz in service gums"), nosuch.output)
        // A token file others can read is refused before anything is sent.
        let open = try write("open-token", "ctl-test-token-0123456789abcdef", mode: 0o644)
        let loose = try ctl("drain", "gums", "a", "--url", url, "--token-file", open)
        XCTAssertEqual(loose.status, 1, loose.output)
        XCTAssertTrue(loose.output.contains("chmod 600"), loose.output)
        XCTAssertFalse(loose.output.contains("Usage"), loose.output)

        // A tandemd that watches no hosts (no libvirt: keys) refuses a confirm-off, naming why.
        let confirm = try ctl("hosts", "confirm-off", "h1", "--url", url, "--token-file", token)
        XCTAssertEqual(confirm.status, 1, confirm.output)
        XCTAssertTrue(confirm.output.contains("tandemd refused to confirm h1 off: this tandemd controls no hosts"), confirm.output)
        XCTAssertNil(report.hosts, "no host has a libvirt: key: no hosts section")

        // curl users keep the text answer; JSON clients get problems as JSON with a stable code.
        var text = URLRequest(url: URL(string: "\(url)/undrain?service=gums&member=a")!)
        text.httpMethod = "POST"
        text.setValue("Bearer ctl-test-token-0123456789abcdef", forHTTPHeaderField: "Authorization")
        let (body, response) = try await URLSession.shared.data(for: text)
        XCTAssertEqual((response as? HTTPURLResponse)?.statusCode, 200)
        XCTAssertTrue(String(decoding: body, as: UTF8.self).hasPrefix("undrained gums/a: weight 100 in the kernel after"), String(decoding: body, as: UTF8.self))
        var unauthorized = URLRequest(url: URL(string: "\(url)/drain?service=gums&member=a")!)
        unauthorized.httpMethod = "POST"
        unauthorized.setValue("application/json", forHTTPHeaderField: "Accept")
        let (pBody, pResponse) = try await URLSession.shared.data(for: unauthorized)
        XCTAssertEqual((pResponse as? HTTPURLResponse)?.statusCode, 401)
        XCTAssertEqual(try JSONDecoder().decode(APIProblem.self, from: pBody), APIProblem(.unauthorized, "missing or wrong bearer token"))
    }
}
