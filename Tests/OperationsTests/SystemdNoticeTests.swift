import Foundation
import Glibc
import TestSupport
import XCTest

/// tandemd as systemd runs it (`Type=notify`, `WatchdogSec=`): the notices on a NOTIFY_SOCKET the
/// test binds, the exit status of a bad configuration, and journal lines when JOURNAL_STREAM names
/// standard error.
final class SystemdNoticeTests: OperationsTestCase {
    /// Starts tandemd (dry-run kernel) with `environment` added; stdout+stderr go to `log`.
    func startTandemd(_ topology: String, apiPort: Int, environment: [String: String], log: String,
                      extra: [String] = []) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try binary("tandemd"))
        p.arguments = ["--topology", topology, "--node", "d1", "--dry-run-kernel", "--status-listen", "127.0.0.1:\(apiPort)",
                       "--state-dir", work + "/run"] + extra
        var env = ProcessInfo.processInfo.environment
        for k in ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM"] { env[k] = nil }
        p.environment = env.merging(environment) { _, new in new }
        // createFile replaces a file (a new inode): only when there is none, so a JOURNAL_STREAM
        // naming the caller's file still names it.
        if !FileManager.default.fileExists(atPath: log) { XCTAssertTrue(FileManager.default.createFile(atPath: log, contents: nil)) }
        let out = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        p.standardOutput = out
        p.standardError = out
        try p.run()
        return p
    }

    func logText(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }

    func testReadyAfterTheFirstReconcileReloadingOnSighupStoppingOnSigtermAndWatchdogPingsAtHalfThePeriod() throws {
        let notify = try FakeNotifySocket()
        let port = try freePort()
        let topology = try write("site.yaml", site(upPort: port), mode: 0o644)
        let log = work + "/tandemd.log"
        // WatchdogSec=1s: pings every 500 ms.
        let daemon = try startTandemd(topology, apiPort: port, environment: ["NOTIFY_SOCKET": notify.name, "WATCHDOG_USEC": "1000000"], log: log)
        defer { if daemon.isRunning { daemon.terminate() }; daemon.waitUntilExit() }

        let ready = try XCTUnwrap(notify.waitFor("READY=1", timeout: .seconds(20)), "no READY=1 within 20 s:\n" + logText(log))
        XCTAssertTrue(ready.notice.contains("STATUS=running: first reconcile done, 1 service"), ready.notice)
        XCTAssertEqual(ready.before, [], "nothing before READY=1 (no ping before the first reconcile)")
        XCTAssertTrue(logText(log).contains("tandemd started"), logText(log))

        // Pings over 3.2 s: the first half period after READY=1, then one every 500 ms.
        var pings: [ContinuousClock.Instant] = []
        let window = ContinuousClock.now + .milliseconds(3200)
        while ContinuousClock.now < window {
            guard let n = notify.receive(timeout: ContinuousClock.now.duration(to: window)) else { break }
            XCTAssertEqual(n, "WATCHDOG=1")
            pings.append(.now)
        }
        XCTAssertTrue((5...7).contains(pings.count), "expected about 6 pings in 3.2 s at WatchdogSec=1s, got \(pings.count)")
        let gaps = zip(pings.dropFirst(), pings).map { $0.0 - $0.1 }
        for gap in gaps {
            XCTAssertGreaterThan(gap, .milliseconds(350), "pings come at half the period, not faster: \(gaps)")
            XCTAssertLessThan(gap, .milliseconds(800), "pings come at half the period, well before WatchdogSec: \(gaps)")
        }

        // SIGHUP: RELOADING=1 with MONOTONIC_USEC, the reload, READY=1 with its outcome.
        kill(daemon.processIdentifier, SIGHUP)
        let reloading = try XCTUnwrap(notify.waitFor("RELOADING=1", timeout: .seconds(5)), "no RELOADING=1 after SIGHUP:\n" + logText(log))
        XCTAssertNotNil(reloading.notice.range(of: #"^RELOADING=1\nMONOTONIC_USEC=\d+\nSTATUS=reloading "#, options: .regularExpression), reloading.notice)
        let reloaded = try XCTUnwrap(notify.waitFor("READY=1", timeout: .seconds(5)), "no READY=1 after the reload:\n" + logText(log))
        XCTAssertTrue(reloaded.notice.contains("STATUS=reload applied: 2 checks kept, 0 started, 0 stopped"), reloaded.notice)

        // A refused reload says so, and the daemon stays ready.
        try site(upPort: port).replacingOccurrences(of: "vip: 10.99.0.1", with: "vip: nonsense").write(toFile: topology, atomically: true, encoding: .utf8)
        kill(daemon.processIdentifier, SIGHUP)
        XCTAssertNotNil(notify.waitFor("RELOADING=1", timeout: .seconds(5)))
        let refused = try XCTUnwrap(notify.waitFor("READY=1", timeout: .seconds(5)))
        XCTAssertTrue(refused.notice.contains("STATUS=reload refused, running configuration unchanged"), refused.notice)

        // SIGTERM: STOPPING=1 first, then a clean exit.
        kill(daemon.processIdentifier, SIGTERM)
        XCTAssertNotNil(notify.waitFor("STOPPING=1", timeout: .seconds(10)), "no STOPPING=1 after SIGTERM:\n" + logText(log))
        daemon.waitUntilExit()
        XCTAssertEqual(daemon.terminationStatus, 0, logText(log))
    }

    func testWithoutSystemdTandemdRunsAndSendsNothing() throws {
        let port = try freePort()
        let topology = try write("site.yaml", site(upPort: port), mode: 0o644)
        let log = work + "/tandemd.log"
        let daemon = try startTandemd(topology, apiPort: port, environment: [:], log: log)
        defer { if daemon.isRunning { daemon.terminate() }; daemon.waitUntilExit() }
        let started = (0..<100).contains { _ in usleep(100_000); return logText(log).contains("tandemd started") }
        XCTAssertTrue(started, logText(log))
        XCTAssertTrue(logText(log).contains("systemd=no"), logText(log))
    }

    func testABadConfigurationExitsSeventyEightSoSystemdDoesNotRestartIt() throws {
        let port = try freePort()
        let bad = try write("bad.yaml", site(upPort: port).replacingOccurrences(of: "vip: 10.99.0.1", with: "vip: not-an-address"), mode: 0o644)
        let r = try run("tandemd", ["--topology", bad, "--node", "d1", "--dry-run-kernel", "--status-listen", "127.0.0.1:\(port)", "--state-dir", work + "/run"])
        XCTAssertEqual(r.status, 78, r.output)
        XCTAssertTrue(r.output.contains("bad.yaml:"), "the file and line are named: \(r.output)")
        XCTAssertTrue(r.output.contains("not-an-address"), r.output)
        let missing = try run("tandemd", ["--topology", work + "/none.yaml", "--node", "d1", "--dry-run-kernel",
                                          "--status-listen", "127.0.0.1:\(port)", "--state-dir", work + "/run"])
        XCTAssertEqual(missing.status, 78, missing.output)
        let usage = try run("tandemd", ["--no-such-flag"])
        XCTAssertEqual(usage.status, 64, usage.output)
        let level = try run("tandemd", ["--log-level", "loud"])
        XCTAssertEqual(level.status, 64, level.output)
        XCTAssertTrue(level.output.contains("want one of trace, debug, info, notice, warning, error, critical"), level.output)
    }

    /// Starts tandemd with `environment`, logging to `log` (created here unless it exists), and returns
    /// its "tandemd started" line.
    func startedLine(environment: [String: String], log: String) throws -> String {
        let port = try freePort()
        let topology = try write("site.yaml", site(upPort: port), mode: 0o644)
        let daemon = try startTandemd(topology, apiPort: port, environment: environment, log: log)
        defer { if daemon.isRunning { daemon.terminate() }; daemon.waitUntilExit() }
        let started = (0..<100).contains { _ in usleep(100_000); return logText(log).contains("tandemd started") }
        XCTAssertTrue(started, logText(log))
        return String(try XCTUnwrap(logText(log).split(separator: "\n").first { $0.contains("tandemd started") }))
    }

    func testJournalLinesCarryPrioritiesAndNoTimestamp() throws {
        let log = work + "/journal.log"
        XCTAssertTrue(FileManager.default.createFile(atPath: log, contents: nil))
        var st = stat()
        XCTAssertEqual(stat(log, &st), 0)
        let line = try startedLine(environment: ["JOURNAL_STREAM": "\(st.st_dev):\(st.st_ino)"], log: log)
        XCTAssertTrue(line.hasPrefix("<5>tandemd: tandemd started "), line)
        XCTAssertTrue(line.contains(" node=d1 "), line)
        XCTAssertNil(line.range(of: #"\d{4}-\d\d-\d\dT"#, options: .regularExpression), "no timestamp of our own: \(line)")
    }

    func testPlainLinesHaveATimestampAndTheLevel() throws {
        let line = try startedLine(environment: [:], log: work + "/plain.log")
        XCTAssertNotNil(line.range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z notice tandemd: tandemd started "#, options: .regularExpression), line)
    }
}
