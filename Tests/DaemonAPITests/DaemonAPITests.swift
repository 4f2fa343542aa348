import DaemonAPI
import Foundation
import XCTest

/// The shapes tandemd and tandemctl share: drain answers, member verdicts, the ownership record.
final class DaemonAPITests: XCTestCase {
    func testDrainResultTextIsWhatCurlUsersReadAndItsJSONRoundTrips() throws {
        let done = DrainResult(service: "gums", member: "fg5x2", drained: true, applied: true, wanted: 0, kernelWeight: 0, afterMs: 12)
        XCTAssertEqual(done.rendered(), "drained gums/fg5x2: weight 0 in the kernel after 12 ms")
        let back = DrainResult(service: "gums", member: "fg5x2", drained: false, applied: true, wanted: 100, kernelWeight: 100, afterMs: 3)
        XCTAssertEqual(back.rendered(), "undrained gums/fg5x2: weight 100 in the kernel after 3 ms")
        let late = DrainResult(service: "gums", member: "fg5x2", drained: true, applied: false, wanted: 0, kernelWeight: 100, afterMs: 5000)
        XCTAssertEqual(late.rendered(), "drain of gums/fg5x2 recorded; the kernel still holds weight 100 (wanted 0) after 5000 ms — see /status")
        let absent = DrainResult(service: "gums", member: "fg5x2", drained: false, applied: false, wanted: 100, kernelWeight: nil, afterMs: 5000)
        XCTAssertTrue(absent.rendered().contains("still holds weight none (wanted 100)"), absent.rendered())

        let json = try JSONEncoder().encode(done)
        let keys = try XCTUnwrap(JSONSerialization.jsonObject(with: json) as? [String: Any]).keys.sorted()
        XCTAssertEqual(keys, ["afterMs", "applied", "drained", "kernelWeight", "member", "service", "wanted"])
        XCTAssertEqual(try JSONDecoder().decode(DrainResult.self, from: json), done)
    }

    func testProblemCodesAreStableAndCarryTheirHTTPStatus() throws {
        let p = APIProblem(.unknownMember, "no member x in service gums")
        XCTAssertEqual(String(decoding: try JSONEncoder().encode(p), as: UTF8.self).contains(#""code":"unknown_member""#), true)
        XCTAssertEqual([APIProblem.Code.drainDisabled, .unauthorized, .badRequest, .unknownMember].map(\.httpStatus), [403, 401, 400, 404])
        XCTAssertEqual(try JSONDecoder().decode(APIProblem.self, from: Data(#"{"code":"unauthorized","message":"m"}"#.utf8)),
                       APIProblem(.unauthorized, "m"))
    }

    func testHostsSectionRoundTripsAndReadsAsTandemctlPrintsIt() throws {
        XCTAssertEqual([APIProblem.Code.unknownHost, .hostPhase].map(\.httpStatus), [404, 409])
        let hosts = HostsReport(acting: true, mastership: "master of pair dir", hosts: [
            .init(name: "h1", libvirt: "xen+ssh://root@xen1/system", phase: "restored", connection: "lost: end of file from libvirtd",
                  fenceAgent: "fence_ipmilan", fenceState: "confirmed off: off succeeded and status reports off",
                  lastNote: .init(at: "2026-01-01T00:00:01.000Z", kind: "restored", message: "redundancy restored"),
                  lastRecovery: .init(firstSignalAt: "2026-01-01T00:00:00.000Z", confirmedBy: "fence agent", condemnedMs: 12,
                                      fencedMs: 240, restartsIssuedMs: 240, startedMs: 400, healthyMs: 610, inIPVSMs: 650,
                                      restoredMs: 650, moves: [.init(vm: "a1", from: "h1", to: "h3")], summary: "host h1: restored +650 ms")),
            .init(name: "h2", libvirt: "xen+ssh://root@xen2/system", phase: "up", connection: "connected"),
        ], ignored: ["h9"])
        var report = StatusReport(node: "d1", site: "s", topologyFile: "f", startedAt: "t", kernel: "dry-run", lastReconcile: nil,
                                  lastReload: nil, services: [])
        report.hosts = hosts
        XCTAssertEqual(try JSONDecoder().decode(StatusReport.self, from: JSONEncoder().encode(report)), report)
        XCTAssertEqual(hosts.rendered(), """
            hosts: acting (master of pair dir)
              h1  RESTORED  lost: end of file from libvirtd  fence: fence_ipmilan
                fence: confirmed off: off succeeded and status reports off
                2026-01-01T00:00:01.000Z [restored] redundancy restored
                last recovery: host h1: restored +650 ms
              h2  UP  connected  fence: none (tandemctl hosts confirm-off h2)
              not watched (no libvirt: key): h9

            """)
        XCTAssertTrue(report.rendered().hasSuffix("\n" + hosts.rendered()), report.rendered())
        XCTAssertEqual(ConfirmOffResult(host: "h1", phaseBefore: "awaiting operator", phase: "restoring", acting: true).rendered(),
                       "confirmed h1 off (was awaiting operator); now restoring")
    }

    func testMemberVerdictsForMonitoring() {
        let members = [
            StatusReport.Member(member: "a", address: "10.0.0.1:80", topologyWeight: 100, weight: 100, kernelWeight: 100, state: "up", drained: false, checks: 9),
            StatusReport.Member(member: "b", address: "10.0.0.2:80", topologyWeight: 100, weight: 0, kernelWeight: 0, state: "down", drained: false, checks: 9,
                                lastResult: "connection refused", lastTransition: "up → down", lastReason: "connection refused",
                                lastTransitionAt: "2026-01-01T00:00:00Z"),
            StatusReport.Member(member: "c", address: "10.0.0.3:80", topologyWeight: 50, weight: 0, kernelWeight: 0, state: "up", drained: true, checks: 9),
            StatusReport.Member(member: "d", address: "10.0.0.4:80", topologyWeight: 50, weight: 0, kernelWeight: nil, state: "unknown", drained: false, checks: 0),
        ]
        let report = StatusReport(node: "d1", site: "s", topologyFile: "t.yaml", startedAt: "x", kernel: "dry-run", lastReconcile: nil, lastReload: nil,
                                  services: [.init(name: "gums", address: "10.9.0.1:80", scheduler: "wlc", check: "tcp", lastMemberPolicy: "keep_last", members: members)])
        XCTAssertEqual(report.verdict(for: "gums/a"), MemberVerdict(ref: "gums/a", up: true, line: "gums/a UP weight 100/100 (kernel 100)"))
        XCTAssertEqual(report.verdict(for: "gums/b"),
                       MemberVerdict(ref: "gums/b", up: false, line: "gums/b DOWN weight 0/100 (kernel 0) since 2026-01-01T00:00:00Z: up → down (connection refused)"))
        XCTAssertEqual(report.verdict(for: "gums/c"), MemberVerdict(ref: "gums/c", up: true, line: "gums/c UP DRAINED weight 0/50 (kernel 0)"),
                       "a drained member that is healthy is not an alarm")
        XCTAssertEqual(report.verdict(for: "gums/d"), MemberVerdict(ref: "gums/d", up: false, line: "gums/d UNKNOWN weight 0/50 (not in kernel)"),
                       "not checked yet is not up")
        XCTAssertEqual(report.verdict(for: "gums/z"),
                       MemberVerdict(ref: "gums/z", up: false, line: "gums/z: service gums has no member z (members: a, b, c, d)"))
        XCTAssertEqual(report.verdict(for: "voms/a"),
                       MemberVerdict(ref: "voms/a", up: false, line: "voms/a: tandemd on d1 has no service voms (services: gums)"))
    }

    func testOwnershipRecordLockPathAndRefusal() {
        XCTAssertEqual(TableOwnership.lockPath(stateDirectory: "/run/tandem", networkNamespace: 4026531840), "/run/tandem/ipvs-netns-4026531840.lock")
        XCTAssertEqual(TableOwnership.lockPath(stateDirectory: "/run/tandem/", networkNamespace: 7), "/run/tandem/ipvs-netns-7.lock")
        let owner = TableOwnership.Owner(pid: 812, node: "d1", statusURL: "http://127.0.0.1:9595")
        var record = owner.record
        XCTAssertEqual(record, ["program": "tandemd", "node": "d1", "status": "http://127.0.0.1:9595"])
        record["pid"] = "812"  // the lock adds it
        XCTAssertEqual(TableOwnership.Owner(record: record), owner)
        XCTAssertEqual(TableOwnership.Owner(record: [:]).description, "tandemd")
        let drain = TableOwnership.refusal(owner: owner, lockPath: "/run/tandem/ipvs-netns-7.lock", command: "drain")
        XCTAssertEqual(drain, "tandemd (pid 812, node d1, status http://127.0.0.1:9595) owns this IPVS table (lock /run/tandem/ipvs-netns-7.lock); "
            + "its next repair pass would undo a direct write. Instead, use `tandemctl drain SERVICE MEMBER --url http://127.0.0.1:9595 "
            + "--token-file FILE`, which asks tandemd, or stop tandemd first. Nothing was written.")
        XCTAssertTrue(TableOwnership.refusal(owner: owner, lockPath: "L", command: "apply").contains("reload tandemd (kill -HUP 812)"))
        XCTAssertEqual(DaemonEndpoint.url(host: "::1", port: 9595), "http://[::1]:9595")
        XCTAssertEqual(DaemonEndpoint.url(host: "127.0.0.1", port: 9595), DaemonEndpoint.defaultURL)
    }
}
