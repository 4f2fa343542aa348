import Drill
import DrillRunner
import Foundation
import Syscall
import TestSupport
import Topology
import XCTest
import TopologyFiles

/// The drill runner end to end on loopback, with nothing faked: a tandemd (dry-run kernel: this
/// machine has no IPVS) checking two `gridsvc static` backends, real hooks that kill and restart
/// one of them, the real tandem-stress probe, and tandemd's /status polled. The kernel-level drills
/// (IPVS, VRRP, two directors) run in the lab (scripts/drill-failover, scripts/lab-e2e).
final class DrillRunnerTests: XCTestCase {
    var work = ""
    var processes: [Process] = []

    override func setUpWithError() throws {
        work = NSTemporaryDirectory() + "drill-runner-tests-\(getpid())-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
    }

    override func tearDown() {
        for p in processes where p.isRunning { p.terminate(); p.waitUntilExit() }
        // The heal hook's restarted backend, by the pid file it wrote.
        if let pid = (try? String(contentsOfFile: work + "/a.pid", encoding: .utf8)).flatMap({ Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }) {
            kill(pid, SIGKILL)
        }
        try? FileManager.default.removeItem(atPath: work)
    }

    func binary(_ name: String) throws -> String {
        try XCTUnwrap(BuildProducts.path(name), "\(name) not built beside the tests (\(BuildProducts.directory.path)): swift build --product \(name)").path
    }

    /// Starts `argv` with its output in `log`; waits (≤ 15 s) until the log contains `ready`.
    @discardableResult
    func start(_ argv: [String], log: String, ready: String?) throws -> Process {
        FileManager.default.createFile(atPath: log, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: argv[0])
        p.arguments = Array(argv.dropFirst())
        let out = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        p.standardOutput = out
        p.standardError = out
        try p.run()
        processes.append(p)
        if let ready {
            for _ in 0..<150 {
                if (try? String(contentsOfFile: log, encoding: .utf8))?.contains(ready) == true { return p }
                usleep(100_000)
            }
            XCTFail("\(argv[0]) never said '\(ready)': \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
        }
        return p
    }

    func site(api: Int, a: Int, b: Int) -> String {
        """
        site: loop
        hosts:
          - {name: h1, address: 192.0.2.1, cpus: 4, memory: 4GiB}
          - {name: h2, address: 192.0.2.2, cpus: 4, memory: 4GiB}
        vms:
          - {name: d1, role: director, vcpus: 1, memory: 1GiB, addresses: [127.0.0.3/8]}
          - {name: a, role: gums, vcpus: 1, memory: 1GiB, addresses: [127.0.0.1/8]}
          - {name: b, role: gums, vcpus: 1, memory: 1GiB, addresses: [127.0.0.2/8]}
        services:
          - name: web
            vip: 10.99.0.1
            port: 80
            members:
              - {vm: a, port: \(a), weight: 100}
              - {vm: b, port: \(b), weight: 100}
            check: {kind: http, path: /healthz, interval: 200ms, timeout: 150ms, rise: 1, fall: 2}
        daemon: {repair_interval: 1s}

        """
    }

    func testBackendKillOnLoopbackIsDetectedDrainedRestoredAndReported() async throws {
        let (tandemd, gridsvc, stress) = (try binary("tandemd"), try binary("gridsvc"), try binary("tandem-stress"))
        let base = try XCTUnwrap(RealRing.freePortRange(count: 3), "no three free ports on 127.0.0.1")
        let (api, pa, pb) = (base, base + 1, base + 2)
        let a = try start([gridsvc, "static", "--listen", "127.0.0.1:\(pa)", "--threads", "1"], log: work + "/a.log", ready: "listening")
        try "\(a.processIdentifier)".write(toFile: work + "/a.pid", atomically: true, encoding: .utf8)
        try start([gridsvc, "static", "--listen", "127.0.0.2:\(pb)", "--threads", "1"], log: work + "/b.log", ready: "listening")
        let topoPath = work + "/loop.yaml"
        try site(api: api, a: pa, b: pb).write(toFile: topoPath, atomically: true, encoding: .utf8)
        try start([tandemd, "--topology", topoPath, "--node", "d1", "--dry-run-kernel", "--status-listen", "127.0.0.1:\(api)"],
                  log: work + "/tandemd.log", ready: nil)
        // The hooks: kill -9 of a's gridsvc by its pid file; start it again (its output to a file,
        // so the hook's own pipe is not held by the daemon it starts).
        let drills = """
            site: loop
            service: web
            directors: {d1: {status: http://127.0.0.1:\(api)}}
            probe: {stress: \(stress), rate: 100, connections: 2, timeout: 500ms, slot: 20ms, hold_connection: 100ms, target: 127.0.0.2:\(pb)}
            timing: {baseline: 1s, observe: 2s, settle: 20s, poll: 50ms}
            hooks:
              backend-kill:
                inject: [sh, -c, 'kill -9 "$(cat \(work)/a.pid)" && echo "tandem-drill-event $(date +%s%3N) killed $TANDEM_DRILL_TARGET"']
                heal: [sh, -c, '\(gridsvc) static --listen 127.0.0.1:\(pa) --threads 1 > \(work)/a2.log 2>&1 & echo $! > \(work)/a.pid']
                timeout: 10s

            """
        let drillsPath = work + "/loop.drills.yaml"
        try drills.write(toFile: drillsPath, atomically: true, encoding: .utf8)
        let topology = try TopologyLoader.load(path: topoPath)
        let file = try DrillFileLoader.load(path: drillsPath, topology: topology)
        let settings = DrillSettings(topology: topology, topologyPath: topoPath, drills: file, kind: .backendKill, target: "a",
                                     label: "loop", stress: stress, reportDirectory: work + "/reports")
        let lines = LineLog()
        let outcome = try await DrillRunner(settings, clock: ContinuousClock(), progress: { lines.add($0) }).run()
        let r = outcome.result
        let log = lines.all.joined(separator: "\n")
        XCTAssertTrue(r.verdict.passed, "\(r.verdict.failures)\n\(log)\n" + ((try? String(contentsOfFile: work + "/tandemd.log", encoding: .utf8)) ?? ""))
        XCTAssertNil(r.record.aborted)
        XCTAssertEqual(r.record.target, "a")
        XCTAssertEqual(r.record.targetService, "web")
        XCTAssertEqual(r.record.hooks.map(\.stage), ["inject", "heal"])
        XCTAssertTrue(r.record.hooks.allSatisfy(\.succeeded), "\(r.record.hooks)")
        XCTAssertTrue(r.record.marks.contains { $0.kind == .hook && $0.label == "killed a" }, "the hook's own event: \(r.record.marks)")
        // A refused backend fails its check at once (refused), fall 2 at 200 ms: well within 2 s.
        let detected = try XCTUnwrap(r.figures.detectedMillis, log)
        XCTAssertLessThan(detected, 2000)
        XCTAssertNotNil(r.figures.drainedMillis, "the dry-run kernel's weight 0 as /status reports it")
        XCTAssertNotNil(r.figures.restoredMillis, "a back at weight 100 after the heal")
        // The probe ran against the survivor: no outage, every slot of the window answered.
        XCTAssertEqual(r.figures.outage, .millis(0))
        XCTAssertGreaterThan(r.figures.calls, 200)
        XCTAssertEqual(r.figures.connection, .survived)
        XCTAssertGreaterThan(r.record.samples.count, 40, "status polled every 50 ms")
        XCTAssertTrue(log.contains("baseline: site steady"), log)
        XCTAssertTrue(log.contains("inject hook: sh -c"), log)
        // The reports.
        let html = try String(contentsOfFile: outcome.htmlPath, encoding: .utf8)
        XCTAssertEqual(html.components(separatedBy: "<svg").count - 1, 4, "calls, latency, the director, a's weight")
        let back = try JSONDecoder().decode(DrillResult.self, from: Data(contentsOf: URL(fileURLWithPath: outcome.jsonPath)))
        XCTAssertEqual(back.figures, r.figures)
    }

    func testADrillWithoutItsHookOrOnTheWrongSiteIsRefusedBeforeAnythingIsTouched() async throws {
        let topoPath = work + "/loop.yaml"
        try site(api: 1, a: 2, b: 3).write(toFile: topoPath, atomically: true, encoding: .utf8)
        let topology = try TopologyLoader.load(path: topoPath)
        let file = try DrillFileLoader.parse(text: "directors: {d1: {status: http://127.0.0.1:1}}\n", file: "loop.drills.yaml", topology: topology)
        for (kind, want) in [(DrillKind.backendSilent, "no hook for backend-silent: a drill never guesses how to hurt a site — set hooks.backend-silent.inject"),
                             (DrillKind("host-crash"), "unknown drill kind 'host-crash' — known kinds: director-kill")] {
            let settings = DrillSettings(topology: topology, topologyPath: topoPath, drills: file, kind: kind, label: "loop",
                                         stress: "/nonexistent", reportDirectory: work + "/reports")
            do {
                _ = try await DrillRunner(settings, clock: ContinuousClock(), progress: { _ in }).run()
                XCTFail("\(kind) ran")
            } catch {
                XCTAssertTrue(error.description.hasPrefix(want) || error.description.contains(want), error.description)
            }
        }
        // A director drill on a site with no pair.
        var withHook = file
        withHook.hooks[.directorKill] = .init(inject: ["true"])
        let settings = DrillSettings(topology: topology, topologyPath: topoPath, drills: withHook, kind: .directorKill, label: "loop",
                                     stress: "/nonexistent", reportDirectory: work + "/reports")
        do {
            _ = try await DrillRunner(settings, clock: ContinuousClock(), progress: { _ in }).run()
            XCTFail("director-kill ran on a site without a pair")
        } catch {
            XCTAssertEqual(error.description, "director-kill needs a director pair, and \(topoPath) has none — run it on a site whose topology has `directors:`")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: work + "/reports"), "nothing written for a refused drill")
    }
}

/// Progress lines, collected across threads.
final class LineLog: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    func add(_ l: String) { lock.lock(); lines.append(l); lock.unlock() }
    var all: [String] { lock.lock(); defer { lock.unlock() }; return lines }
}
