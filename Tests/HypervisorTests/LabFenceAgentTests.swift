import Fencing
import Foundation
import HostLab
import Hosts
import Logging
import Net
import Syscall
import TestSupport
import XCTest

/// scripts/lab/fence_tandemlab driven by the real runner against a real lab host: it speaks the
/// standard protocol, powers a host off for good (libvirtd, controllers and containers), answers
/// status truthfully, refuses a wrong password, and fails or hangs on request.
final class LabFenceAgentTests: XCTestCase {
    let runner = FenceAgentRunner(logger: Logger(label: "tandem.test.labfence"))

    func testTheLabAgentPowersAHostOffForGoodAndSaysSo() async throws {
        let lab = try LabHosts.up(2, label: "labfence")
        defer { lab.down() }
        try lab.virshDefine("h1", try lab.domain("f1", address: "10.79.0.41", mac: "52:54:00:79:00:41"))
        XCTAssertEqual(lab.virsh("h1", "start", "f1").status, 0)
        // f1's init, the gridsvc process: counted before the fence too, so a pattern that matches
        // nothing cannot pass the check after it.
        func gridsvcCount() async throws -> String {
            let ps = try await Subprocess.run(["/bin/sh", "-c", "ps -eo args | grep -c '[g]ridsvc static .*\"vm\":\"f1\"'"], timeout: .seconds(10))
            return String(decoding: ps.output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let started = try await eventually(timeout: .seconds(5)) { try await gridsvcCount() == "1" }
        XCTAssertTrue(started, "f1's gridsvc is not running 5 s after virsh start, or ps does not find it by its arguments")
        let device = lab.fenceDevice("h1")

        let monitor = await runner.run(.monitor, device: device, host: "h1")
        XCTAssertEqual(monitor.outcome, .succeeded, monitor.output)
        let list = await runner.run(.list, device: device, host: "h1")
        XCTAssertEqual(list.outcome, .succeeded)
        XCTAssertEqual(list.output, "h1,h1\nh2,h2\n")
        let on = await runner.run(.status, device: device, host: "h1")
        XCTAssertEqual(on.outcome, .power(.on), on.output)

        let off = await runner.run(.off, device: device, host: "h1")
        XCTAssertEqual(off.outcome, .succeeded, off.output)
        print("measure: fence_tandemlab off \(off.elapsed.humanReadable)")
        let status = await runner.run(.status, device: device, host: "h1")
        XCTAssertEqual(status.outcome, .power(.off), status.output)
        print("measure: fence_tandemlab status \(status.elapsed.humanReadable)")
        // Off means off: no process of the host is left, the container included (pitfall 1).
        let after = try await gridsvcCount()
        XCTAssertEqual(after, "0", "f1's gridsvc survived the fence")
        // The other host is untouched.
        let other = await runner.run(.status, device: lab.fenceDevice("h2"), host: "h2")
        XCTAssertEqual(other.outcome, .power(.on))

        let boot = await runner.run(.on, device: device, host: "h1")
        XCTAssertEqual(boot.outcome, .succeeded, boot.output)
        let back = await runner.run(.status, device: device, host: "h1")
        XCTAssertEqual(back.outcome, .power(.on))
        XCTAssertEqual(lab.defined(on: "h1"), ["f1"], "the definition survives the power cycle")
        XCTAssertEqual(lab.running(on: "h1"), [], "a domain does not start by itself after the boot")
    }

    func testTheLabAgentRefusesAWrongPasswordAndFailsOrHangsOnRequest() async throws {
        let lab = try LabHosts.up(1, label: "labfault")
        defer { lab.down() }
        var wrong = lab.fenceDevice("h1")
        let badSecret = lab.stateDir + "/wrong.password"
        try "not-the-password\n".write(toFile: badSecret, atomically: true, encoding: .utf8)
        chmod(badSecret, 0o600)
        wrong.secretFiles["passwd"] = badSecret
        let refused = await runner.run(.off, device: wrong, host: "h1")
        XCTAssertEqual(refused.outcome, .failed(reason: "off failed (exit status 1): fence_tandemlab: authentication failed (passwd does not match the lab's fence.password)"))
        let stillOn = await runner.run(.status, device: lab.fenceDevice("h1"), host: "h1")
        XCTAssertEqual(stillOn.outcome, .power(.on))

        lab.run("fence-fault", "h1", "fail")
        let failed = await runner.run(.off, device: lab.fenceDevice("h1"), host: "h1")
        guard case .failed(let reason) = failed.outcome else { return XCTFail("\(failed.outcome)") }
        XCTAssertTrue(reason.contains("unreachable"), reason)
        let unknown = await runner.run(.status, device: lab.fenceDevice("h1"), host: "h1")
        guard case .failed = unknown.outcome else { return XCTFail("status of an unreachable device: \(unknown.outcome)") }

        lab.run("fence-fault", "h1", "hang")
        let hung = await runner.run(.off, device: lab.fenceDevice("h1", timeout: .milliseconds(500)), host: "h1")
        XCTAssertEqual(hung.outcome, .timedOut(after: .milliseconds(500)))
        lab.run("fence-fault", "h1", "none")
        let alive = await runner.run(.status, device: lab.fenceDevice("h1"), host: "h1")
        XCTAssertEqual(alive.outcome, .power(.on), "a failed or hung fence must leave the host as it was")
    }

    func testTheLabAgentDescribesItselfAsTheMetadataSchemaAsks() async throws {
        let agent = RealRing.repoRoot + "/scripts/lab/fence_tandemlab"
        let run = try await Subprocess.run([agent, "-o", "metadata"], timeout: .seconds(10))
        XCTAssertEqual(run.termination, .exited(0))
        let xml = String(decoding: run.output, as: UTF8.self)
        XCTAssertTrue(xml.contains("<resource-agent name=\"fence_tandemlab\""), xml)
        for action in ["on", "off", "reboot", "status", "list", "monitor", "metadata"] {
            XCTAssertTrue(xml.contains("<action name=\"\(action)\""), "metadata lacks action \(action)")
        }
        // Well-formed XML, as Pacemaker's parser needs it.
        let parse = try await Subprocess.run(["/usr/bin/python3", "-c", "import sys, xml.etree.ElementTree as E; print(E.fromstring(sys.stdin.read()).tag)"],
                                             input: Array(xml.utf8), timeout: .seconds(10))
        XCTAssertEqual(String(decoding: parse.output, as: UTF8.self), "resource-agent\n")
    }
}
