import Drill
import Topology
import XCTest
import TopologyFiles

/// The drill file: read with the topology's reader, checked against the topology, every problem located.
final class DrillFileTests: XCTestCase {
    static let topology = """
        site: lab
        hosts:
          - {name: h1, address: 192.0.2.1, cpus: 2, memory: 4GiB}
          - {name: h2, address: 192.0.2.2, cpus: 2, memory: 4GiB}
        vms:
          - {name: da, role: director, vcpus: 1, memory: 1GiB, addresses: [10.99.0.1/24]}
          - {name: db, role: director, vcpus: 1, memory: 1GiB, addresses: [10.99.0.2/24]}
          - {name: w1, role: gums, vcpus: 1, memory: 1GiB, addresses: [10.99.0.11/24]}
          - {name: w2, role: gums, vcpus: 1, memory: 1GiB, addresses: [10.99.0.12/24]}
        services:
          - name: web
            vip: 10.99.0.100
            port: 8080
            forwarding: dr
            members: [{vm: w1, port: 8080}, {vm: w2, port: 8080}]
            check: {kind: http, path: /healthz}
        directors:
          members: [da, db]
          vrid: 51
          priorities: {da: 150, db: 100}
          advert_interval: 100ms
          interface: eth0

        """

    static func site() throws -> Topology {
        try TopologyLoader.parse(data: Data(topology.utf8), file: "lab.yaml").topology
    }

    func testAGoodFileReadsEverySection() throws {
        let text = """
            site: lab
            service: web
            directors:
              da: {status: http://10.97.0.1:9595}
              db: {watch: [/lab/vip-watch, b0]}
            probe: {rate: 300, timeout: 250ms, slot: 20ms, hold_connection: 0, target: 10.99.0.100:8080}
            timing: {baseline: 2s, observe: 4s, settle: 20s, poll: 25ms}
            environment: {LAB_STATE: /lab/state}
            hooks:
              director-kill: {inject: [/lab/hooks/director-kill], heal: [/lab/hooks/director-start], timeout: 20s}
              heartbeat-cut: {inject: [/lab/hooks/heartbeat-cut], heal: [/lab/hooks/heartbeat-heal], hold: 3s}
            expect:
              director-kill: {max_outage: 1s, connection: survives}
            acceptance:
              services: {web: {call: static, path: /healthz}}
              capacity_seconds: 5
              min_calls_per_day: 1000000

            """
        let f = try DrillFileLoader.parse(text: text, file: "drills.yaml", topology: Self.site())
        XCTAssertEqual(f.service, "web")
        XCTAssertEqual(f.directors.map(\.name), ["da", "db"])
        XCTAssertEqual(f.directors[0].source, .status(host: "10.97.0.1", port: 9595))
        XCTAssertEqual(f.directors[1].source, .watch(["/lab/vip-watch", "b0"]))
        XCTAssertEqual([f.probe.rate, f.probe.timeoutMillis, f.probe.slotMillis, f.probe.holdConnectionMillis], [300, 250, 20, 0])
        XCTAssertEqual(f.probe.connections, 8, "defaults fill what the file leaves out")
        XCTAssertEqual(f.timing.observe, .seconds(4))
        XCTAssertEqual(f.timing.poll, .milliseconds(25))
        XCTAssertEqual(f.environment, ["LAB_STATE": "/lab/state"])
        XCTAssertEqual(try f.hooks(for: .directorKill).timeout, .seconds(20))
        XCTAssertEqual(try f.hooks(for: .heartbeatCut).hold, .seconds(3))
        XCTAssertEqual(f.expectations[.directorKill]?.maxOutage, .seconds(1))
        XCTAssertEqual(f.acceptance?.services.map(\.name), ["web"])
        XCTAssertEqual(f.acceptance?.minCallsPerDay, 1_000_000)
        XCTAssertEqual(f.acceptance?.failover, .backendKill)
    }

    func testAKindWithoutAHookIsRefusedNamingTheKeyToSet() throws {
        let f = try DrillFileLoader.parse(text: "directors: {da: {status: http://10.97.0.1:9595}, db: {status: http://10.97.0.2:9595}}\n",
                                          file: "drills.yaml", topology: Self.site())
        XCTAssertThrowsError(try f.hooks(for: .linkFlap)) { e in
            XCTAssertEqual((e as? DrillError)?.description,
                           "drills.yaml: no hook for link-flap: a drill never guesses how to hurt a site — set hooks.link-flap.inject (and hooks.link-flap.heal) to the commands that inject and end this fault here")
        }
    }

    func testEveryProblemIsLocatedWithWhatToDo() throws {
        let text = """
            site: other
            service: wbe
            directors:
              da: {status: https://10.97.0.1:9595}
              dc: {status: http://10.97.0.3:9595}
            probe: {call: ftp}
            hooks:
              director-kil: {inject: [x]}
              heartbeat-cut: {inject: [x]}
              backend-kill: {inject: [x], hold: 2s}

            """
        XCTAssertThrowsError(try DrillFileLoader.parse(text: text, file: "drills.yaml", topology: Self.site())) { e in
            let lines = (e as? TopologyDiagnostics)?.diagnostics.map(\.description) ?? []
            let want = [
                "drills.yaml:1:7: error: site 'other' is not the topology's ('lab') (site) — this drill file belongs to another site; pass the drills.yaml of site lab, or fix the name",
                "drills.yaml:2:10: error: no service 'wbe' in the topology (service) — did you mean 'web'?",
                "drills.yaml:4:16: error: 'https://10.97.0.1:9595' is not http://IPV4:PORT (directors.da.status) — give tandemd's --status-listen as a URL, for example http://10.0.0.1:9595",
                "drills.yaml:5:7: error: 'dc' is not a member of the director pair (da, db) (directors.dc) — did you mean 'da'?",
                "drills.yaml:6:15: error: unknown call 'ftp' (probe.call) — valid: static, gums, voms, saz",
                "drills.yaml:8:17: error: unknown drill kind 'director-kil' (hooks.director-kil) — did you mean 'director-kill'? known: director-kill, director-graceful, heartbeat-cut, link-flap, backend-kill, backend-silent, planned-drain, ring-link-stop",
                "drills.yaml:9:18: error: heartbeat-cut needs a heal hook: its fault must end under load (hooks.heartbeat-cut.heal) — add `heal: [command that ends the fault]`",
                "drills.yaml:10:37: error: backend-kill is healed after the probe, so 'hold' means nothing here (hooks.backend-kill.hold) — remove hold; it applies to heartbeat-cut, link-flap",
            ]
            for w in want { XCTAssertTrue(lines.contains(w), "missing:\n\(w)\nin:\n\(lines.joined(separator: "\n"))") }
            XCTAssertTrue(lines.contains { $0.contains("no entry for director db") }, lines.joined(separator: "\n"))
        }
    }

    func testAnUnreadableOrEmptyFileSaysWhereToStart() throws {
        XCTAssertThrowsError(try DrillFileLoader.parse(text: "  \n", file: "drills.yaml", topology: Self.site())) { e in
            XCTAssertEqual((e as? TopologyDiagnostics)?.codes, [.empty])
            XCTAssertTrue("\(e)".contains("docs/drills.md"), "\(e)")
        }
        XCTAssertThrowsError(try DrillFileLoader.load(path: "/nonexistent/drills.yaml", topology: Self.site())) { e in
            XCTAssertEqual((e as? TopologyDiagnostics)?.codes, [.unreadable])
        }
    }

    func testTheShippedFermiGridDrillFileValidatesAgainstItsTopology() throws {
        // Tests/DrillTests/DrillFileTests.swift → the repository's topology/.
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let topologyPath = root.appendingPathComponent("topology/fermigrid-ha.yaml").path
        let site = try TopologyLoader.load(path: topologyPath)
        let f = try DrillFileLoader.load(path: root.appendingPathComponent("topology/fermigrid-ha.drills.yaml").path, topology: site)
        XCTAssertEqual(f.directors.map(\.name), ["fg5x0", "fg6x0"])
        XCTAssertEqual(Set(f.hooks.keys), [.directorKill, .directorGraceful, .heartbeatCut, .backendKill, .plannedDrain])
        XCTAssertEqual(f.acceptance?.services.map(\.name), ["gums", "voms", "saz-cms"])
        XCTAssertEqual(f.acceptance?.minCallsPerDay, 10_000_000)
        XCTAssertThrowsError(try f.hooks(for: .linkFlap), "no hook: refused")
    }
}
