// The Fault state against a real interface: tandem-vrrp alone in a network namespace this test
// creates, on one end of a veth pair. Its link goes down (administratively, then by losing carrier):
// within a second it reports `fault` and the VIP is gone from the interface (`ip -o addr`), and it
// never holds the VIP while the link is down; back up, it returns through backup and, alone, becomes
// master after Master_Down_Interval. Needs root and iproute2; a missing one fails the test.
import Foundation
import TestSupport
import XCTest

final class InterfaceFaultTests: XCTestCase {
    private let vip = "10.99.0.100"
    private var ns = ""
    private var dir: URL!
    private var daemon: Process?

    override func setUpWithError() throws {
        guard getuid() == 0 else { throw missingPrerequisite("needs root (network namespaces, raw sockets)") }
        guard FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip") || FileManager.default.isExecutableFile(atPath: "/sbin/ip")
            || FileManager.default.isExecutableFile(atPath: "/usr/bin/ip") else {
            throw missingPrerequisite("ip not found (Debian package iproute2)")
        }
        ns = "tandem-fault-\(getpid())-\(UInt16.random(in: 0...UInt16.max))"
        dir = FileManager.default.temporaryDirectory.appendingPathComponent(ns)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try ip("netns", "add", ns)
        try ip("-n", ns, "link", "set", "lo", "up")
        try ip("-n", ns, "link", "add", "v0", "type", "veth", "peer", "name", "v1")
        try ip("-n", ns, "link", "set", "v1", "up")
        try ip("-n", ns, "link", "set", "v0", "up")
        try ip("-n", ns, "addr", "add", "10.99.0.1/24", "dev", "v0")
        try topology().write(to: dir.appendingPathComponent("topology.yaml"), atomically: true, encoding: .utf8)
    }

    override func tearDown() {
        if let d = daemon, d.isRunning {
            d.terminate()
            let deadline = Date().addingTimeInterval(5)
            while d.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
            if d.isRunning { kill(d.processIdentifier, SIGKILL); d.waitUntilExit() }
        }
        if !ns.isEmpty { _ = try? run(["ip", "netns", "del", ns]) }
        if let dir { try? FileManager.default.removeItem(at: dir) }
    }

    func testAdministrativelyDownLinkPutsTheMasterInFaultWithoutItsVIPUntilItIsUp() throws {
        try startAlone()
        try ip("-n", ns, "link", "set", "v0", "down")
        try expectFaultAndNoVIP(cause: "administratively down")
        try ip("-n", ns, "link", "set", "v0", "up")
        try expectBackupThenMasterAlone()
    }

    func testLostCarrierPutsTheMasterInFaultWithoutItsVIPUntilItReturns() throws {
        try startAlone()
        // The veth peer down: v0 stays administratively up but loses its carrier (NO-CARRIER).
        try ip("-n", ns, "link", "set", "v1", "down")
        try expectFaultAndNoVIP(cause: "no carrier")
        try ip("-n", ns, "link", "set", "v1", "up")
        try expectBackupThenMasterAlone()
    }

    func testInterfaceDownAtStartStartsInFault() throws {
        try ip("-n", ns, "link", "set", "v0", "down")
        try launch()
        let s = try waitForStatus(within: 5) { $0.state == "fault" }
        XCTAssertEqual(s.linksDown, ["v0: administratively down"])
        // Down for 1.5 s (more than Master_Down_Interval, 0.34 s): never master, never the VIP.
        try assertNeverMasterNorVIP(for: 1.5)
        try ip("-n", ns, "link", "set", "v0", "up")
        try expectBackupThenMasterAlone()
    }

    // MARK: - Steps

    /// tandem-vrrp alone (priority 150, 100 ms adverts) becomes master and puts the VIP on v0.
    private func startAlone() throws {
        try launch()
        _ = try waitForStatus(within: 5) { $0.state == "master" && $0.vipsHeld }
        let addrs = try addresses()
        XCTAssertTrue(addrs.contains(" \(vip)/"), "master but \(vip) not on v0: \(addrs)")
    }

    /// Within 1 s of the link going down: state fault, the VIP off v0, the reason naming v0 and `cause`;
    /// and for a further second (the link still down) never master and never the VIP.
    private func expectFaultAndNoVIP(cause: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let t0 = Date()
        let s = try waitForStatus(within: 1) { $0.state == "fault" }
        let deadline = t0.addingTimeInterval(1)
        while try vipOnInterface() && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        let addrs = try addresses()
        XCTAssertFalse(addrs.contains(" \(vip)/"), "fault but \(vip) still on v0 1 s after the link went: \(addrs)", file: file, line: line)
        print("fault reported \(Int(Date().timeIntervalSince(t0) * 1000)) ms after the link went down")
        XCTAssertEqual(s.linksDown, ["v0: \(cause)"], file: file, line: line)
        XCTAssertEqual(s.lastTo, "fault", file: file, line: line)
        XCTAssertEqual(s.lastReason, "interface v0 down (\(cause))", file: file, line: line)
        XCTAssertFalse(s.vipsHeld, file: file, line: line)
        try assertNeverMasterNorVIP(for: 1, file: file, line: line)
    }

    /// Back up: backup first (Master_Down_Timer as at startup), then master, alone, with the VIP again.
    private func expectBackupThenMasterAlone(file: StaticString = #filePath, line: UInt = #line) throws {
        let s = try waitForStatus(within: 5) { $0.state == "master" && $0.vipsHeld }
        XCTAssertEqual(s.linksDown, [], file: file, line: line)
        // The path it took out of fault, from the status file's recent transitions.
        let tail = s.recent.suffix(2).map { "\($0.from)->\($0.to):\($0.code)" }
        XCTAssertEqual(tail, ["fault->backup:interface_up", "backup->master:master_down"], file: file, line: line)
        XCTAssertTrue(try vipOnInterface(), "master again but \(vip) not on v0", file: file, line: line)
    }

    private func assertNeverMasterNorVIP(for seconds: Double, file: StaticString = #filePath, line: UInt = #line) throws {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            let s = try status()
            XCTAssertEqual(s?.state, "fault", "left fault while the link was down", file: file, line: line)
            XCTAssertFalse(try vipOnInterface(), "\(vip) on v0 while the link is down", file: file, line: line)
            if s?.state != "fault" { return }
            Thread.sleep(forTimeInterval: 0.05)
        }
    }

    // MARK: - The daemon and its status file

    private struct Status {
        var state: String
        var vipsHeld: Bool
        var linksDown: [String]
        var recent: [(from: String, to: String, code: String, reason: String)]
        var lastTo: String? { recent.last?.to }
        var lastReason: String? { recent.last?.reason }
    }

    private func launch() throws {
        guard let bin = Self.binary() else {
            throw missingPrerequisite("tandem-vrrp binary not found next to the test bundle; build it or set TANDEM_VRRP")
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["ip", "netns", "exec", ns, bin, "--topology", dir.appendingPathComponent("topology.yaml").path,
                       "--node", "da", "--interface", "v0", "--status-file", dir.appendingPathComponent("status.json").path,
                       "--priority", "150", "--advert-interval-ms", "100"]
        let log = dir.appendingPathComponent("tandem-vrrp.log")
        guard FileManager.default.createFile(atPath: log.path, contents: nil) else { throw missingPrerequisite("cannot create \(log.path)") }
        let h = try FileHandle(forWritingTo: log)
        p.standardOutput = h
        p.standardError = h
        try p.run()
        daemon = p
    }

    private func status() throws -> Status? {
        guard let data = FileManager.default.contents(atPath: dir.appendingPathComponent("status.json").path), !data.isEmpty,
              let o = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
        let recent = (o["recent"] as? [[String: Any]] ?? []).map {
            (from: $0["from"] as? String ?? "", to: $0["to"] as? String ?? "", code: $0["reason_code"] as? String ?? "",
             reason: $0["reason"] as? String ?? "")
        }
        return Status(state: o["state"] as? String ?? "", vipsHeld: o["vips_held"] as? Bool ?? false,
                      linksDown: o["links_down"] as? [String] ?? ["(no links_down key)"], recent: recent)
    }

    /// Polls the status file every 10 ms until `done` holds; fails naming the last status and the log.
    private func waitForStatus(within seconds: Double, _ done: (Status) -> Bool) throws -> Status {
        let deadline = Date().addingTimeInterval(seconds)
        var last: Status?
        while Date() < deadline {
            if let s = try status() { last = s; if done(s) { return s } }
            if let d = daemon, !d.isRunning { break }
            Thread.sleep(forTimeInterval: 0.01)
        }
        let log = (try? String(contentsOf: dir.appendingPathComponent("tandem-vrrp.log"), encoding: .utf8)) ?? ""
        struct Timeout: Error, CustomStringConvertible { var description: String }
        throw Timeout(description: "status not reached within \(seconds) s; last state \(last?.state ?? "none"), "
                      + "links_down \(last?.linksDown ?? []); tandem-vrrp log:\n\(log.suffix(3000))")
    }

    // MARK: - ip

    private func addresses() throws -> String { try run(["ip", "-n", ns, "-o", "addr", "show", "dev", "v0"]).output }
    private func vipOnInterface() throws -> Bool { try addresses().contains(" \(vip)/") }

    private func ip(_ args: String...) throws {
        let r = try run(["ip"] + args)
        if r.status != 0 {
            struct IPFailed: Error, CustomStringConvertible { var description: String }
            throw IPFailed(description: "ip \(args.joined(separator: " ")) exited \(r.status): \(r.output)")
        }
    }

    private func run(_ args: [String]) throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = args
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// The tandem-vrrp in the build products (``BuildProducts``), or $TANDEM_VRRP.
    private static func binary() -> String? {
        ProcessInfo.processInfo.environment["TANDEM_VRRP"] ?? BuildProducts.path("tandem-vrrp")?.path
    }

    /// A pair of directors (da here, db never started), one service on the VIP.
    private func topology() -> String {
        """
        site: fault-lab
        hosts:
          - {name: h1, address: 192.0.2.1, cpus: 2, memory: 4GiB}
          - {name: h2, address: 192.0.2.2, cpus: 2, memory: 4GiB}
        vms:
          - {name: da, role: director, vcpus: 1, memory: 1GiB, addresses: [10.99.0.1/24]}
          - {name: db, role: director, vcpus: 1, memory: 1GiB, addresses: [10.99.0.2/24]}
          - {name: w1, role: gums, vcpus: 1, memory: 1GiB, addresses: [10.99.0.11/24]}
        services:
          - name: web
            vip: \(vip)
            port: 80
            members: [{vm: w1, port: 80}]
            check: {kind: tcp, interval: 1s, timeout: 500ms}
        directors:
          members: [da, db]
          vrid: 51
          priorities: {da: 150, db: 100}
          advert_interval: 100ms
          interface: eth0

        """
    }
}

/// A missing prerequisite: thrown, so the test fails and names it (never a skip).
private func missingPrerequisite(_ what: String) -> Error {
    struct Missing: Error, CustomStringConvertible { var description: String }
    return Missing(description: "InterfaceFaultTests: \(what)")
}
