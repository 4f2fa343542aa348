import Foundation
import HostLab
import Hosts
import Hypervisor
import Logging
import TestSupport
import XCTest

/// The libvirt edge against a real libvirtd (the lab's LXC hosts): what it writes, virsh reads
/// back; what virsh writes, it reads; its errors keep libvirt's own; a crashed host is reported by
/// the close callback, a hung one by keepalive.
final class HypervisorEdgeTests: XCTestCase {
    let logger = Logger(label: "tandem.test.hypervisor")

    func testWhatTheEdgeDefinesAndStartsVirshSeesAndTheReverse() async throws {
        let lab = try LabHosts.up(1, label: "edge")
        defer { lab.down() }
        let c = try await HypervisorConnection.open(uri: lab.uri("h1"), logger: logger) { _ in }
        let e1 = try lab.domain("e1", address: "10.79.0.31", mac: "52:54:00:79:00:31")
        let name = try await c.define(xml: e1.xml)
        XCTAssertEqual(name, "e1")
        XCTAssertEqual(lab.defined(on: "h1"), ["e1"])
        XCTAssertEqual(lab.running(on: "h1"), [])
        let listed = try await c.listAllDomains()
        XCTAssertEqual(listed, [DomainStatus(name: "e1", state: .shutOff, persistent: true, autostart: false)])
        try await c.start(domain: "e1")
        XCTAssertEqual(lab.running(on: "h1"), ["e1"])
        let state = try await c.state(of: "e1")
        XCTAssertEqual(state, .running)

        // virsh defines and starts e2; the edge reads it.
        let e2 = try lab.domain("e2", address: "10.79.0.32", mac: "52:54:00:79:00:32")
        try lab.virshDefine("h1", e2)
        XCTAssertEqual(lab.virsh("h1", "autostart", "e2").status, 0)
        XCTAssertEqual(lab.virsh("h1", "start", "e2").status, 0)
        let both = try await c.listAllDomains()
        XCTAssertEqual(both, [DomainStatus(name: "e1", state: .running, persistent: true, autostart: false),
                              DomainStatus(name: "e2", state: .running, persistent: true, autostart: true)])

        // Redefining turns autostart off: a host that boots must not start a copy by itself.
        try await c.destroy(domain: "e2")
        _ = try await c.define(xml: e2.xml)
        XCTAssertTrue(lab.virsh("h1", "dominfo", "e2").output.contains("Autostart:      disable"),
                      lab.virsh("h1", "dominfo", "e2").output)

        try await c.destroy(domain: "e1")
        XCTAssertEqual(lab.running(on: "h1"), [])
        try await c.undefine(domain: "e1")
        try await c.undefine(domain: "e2")
        XCTAssertEqual(lab.defined(on: "h1"), [])
        await c.close()
    }

    func testErrorsKeepLibvirtsMessageNumberAndDomain() async throws {
        let lab = try LabHosts.up(1, label: "errors")
        defer { lab.down() }
        let c = try await HypervisorConnection.open(uri: lab.uri("h1"), logger: logger) { _ in }
        do {
            try await c.start(domain: "nosuch")
            XCTFail("starting an unknown domain succeeded")
        } catch {
            XCTAssertEqual(error.code, .noDomain)
            XCTAssertEqual(error.function, "virDomainLookupByName")
            XCTAssertEqual(error.errorNumber, 42, "VIR_ERR_NO_DOMAIN")
            XCTAssertNotEqual(error.errorDomain, 0)
            XCTAssertTrue(error.message.contains("nosuch"), error.message)
            XCTAssertTrue(error.description.contains(lab.uri("h1")), error.description)
        }
        do {
            _ = try await c.define(xml: "<domain type='lxc'><name>broken")
            XCTFail("malformed XML was accepted")
        } catch {
            XCTAssertEqual(error.code, .definition, error.description)
            XCTAssertEqual(error.function, "virDomainDefineXML")
        }
        let e3 = try lab.domain("e3", address: "10.79.0.33", mac: "52:54:00:79:00:33")
        _ = try await c.define(xml: e3.xml)
        try await c.start(domain: "e3")
        do {
            try await c.start(domain: "e3")
            XCTFail("starting a running domain succeeded")
        } catch {
            XCTAssertEqual(error.code, .operationInvalid, error.description)
            XCTAssertEqual(error.function, "virDomainCreate")
            XCTAssertEqual(error.errorNumber, 55, "VIR_ERR_OPERATION_INVALID")
        }
        try await c.destroy(domain: "e3")
        await c.close()
        do {
            try await c.start(domain: "e3")
            XCTFail("a call on a closed connection succeeded")
        } catch {
            XCTAssertEqual(error.code, .notConnected)
        }
        do {
            _ = try await HypervisorConnection.open(uri: "lxc:///system?socket=\(lab.stateDir)/nohost/libvirt-sock", logger: logger) { _ in }
            XCTFail("a connection to a missing socket opened")
        } catch let e as LibvirtError {
            XCTAssertEqual(e.code, .connection, e.description)
            XCTAssertEqual(e.function, "virConnectOpen")
            XCTAssertTrue(e.message.contains("nohost/libvirt-sock"), e.message)
        }
    }

    func testCrashedHostIsReportedByTheCloseCallbackAtOnce() async throws {
        let lab = try LabHosts.up(1, label: "crash")
        defer { lab.down() }
        let (events, sink) = AsyncStream.makeStream(of: (HostConnectionEvent, Double).self)
        let c = try await HypervisorConnection.open(uri: lab.uri("h1"), logger: logger) { sink.yield(($0, wallClockSeconds())) }
        let at = try lab.fault("crash", "h1")
        let lost = await first(events, within: .seconds(10)) { if case .connectionLost = $0.0 { true } else { false } }
        let (event, seen) = try XCTUnwrap(lost, "no connectionLost within 10 s of the crash")
        XCTAssertEqual(event, .connectionLost(reason: "end of file from libvirtd"))
        let ms = (seen - at) * 1000
        print("measure: crash → close callback \(formatted(ms)) ms")
        XCTAssertLessThan(ms, 1000, "the close callback took \(ms) ms")
        await c.close()
    }

    func testHungHostIsReportedByKeepalive() async throws {
        let lab = try LabHosts.up(1, label: "hang")
        defer { lab.down() }
        let (events, sink) = AsyncStream.makeStream(of: (HostConnectionEvent, Double).self)
        let c = try await HypervisorConnection.open(uri: lab.uri("h1"), keepAlive: KeepAlive(intervalSeconds: 1, count: 2), logger: logger) {
            sink.yield(($0, wallClockSeconds()))
        }
        let at = try lab.fault("hang", "h1")
        defer { lab.run("resume", "h1") }
        let lost = await first(events, within: .seconds(15)) { if case .connectionLost = $0.0 { true } else { false } }
        let (event, seen) = try XCTUnwrap(lost, "no connectionLost within 15 s of the hang")
        XCTAssertEqual(event, .connectionLost(reason: "keepalive: libvirtd stopped answering"))
        let s = seen - at
        print("measure: hang → keepalive close \(formatted(s * 1000)) ms (keepalive 1 s × 2)")
        XCTAssertGreaterThan(s, 0.9, "keepalive cannot fire before its first interval")
        XCTAssertLessThan(s, 6)
        await c.close()
    }

    func testLifecycleEventsOfEveryDomainArrive() async throws {
        let lab = try LabHosts.up(1, label: "events")
        defer { lab.down() }
        let (events, sink) = AsyncStream.makeStream(of: HostConnectionEvent.self)
        let c = try await HypervisorConnection.open(uri: lab.uri("h1"), logger: logger) { sink.yield($0) }
        // virsh does it, on its own connection: the events come from libvirtd.
        try lab.virshDefine("h1", try lab.domain("e4", address: "10.79.0.34", mac: "52:54:00:79:00:34"))
        XCTAssertEqual(lab.virsh("h1", "start", "e4").status, 0)
        XCTAssertEqual(lab.virsh("h1", "destroy", "e4").status, 0)
        XCTAssertEqual(lab.virsh("h1", "undefine", "e4").status, 0)
        let seen = await collect(events, count: 4, within: .seconds(10))
        XCTAssertEqual(seen, [.domain(name: "e4", .defined), .domain(name: "e4", .started),
                              .domain(name: "e4", .stopped), .domain(name: "e4", .undefined)])
        await c.close()
    }

    func testOpeningAConnectionToAHungLibvirtdGivesUpAtItsBound() async throws {
        let lab = try LabHosts.up(1, label: "open")
        defer { lab.down() }
        _ = try lab.fault("hang", "h1")
        defer { lab.run("resume", "h1") }
        let host = LibvirtHost(name: "h1", uri: lab.uri("h1"), openTimeout: .seconds(1), logger: logger)
        let started = ContinuousClock.now
        do {
            try await host.connect()
            XCTFail("connected to a hung libvirtd")
        } catch let e as LibvirtError {
            XCTAssertEqual(e.code, .timeout, e.description)
        }
        let took = ContinuousClock.now - started
        XCTAssertLessThan(took, .seconds(3), "connect() waited \(took)")
        // Once the host answers again, the same object connects.
        lab.run("resume", "h1")
        let reconnected = await eventually(timeout: .seconds(15)) { (try? await host.connect()) != nil }
        XCTAssertTrue(reconnected, "no connection after the host resumed")
        let domains = try await host.listDomains()
        XCTAssertEqual(domains, [])
        await host.close()
    }
}

func formatted(_ ms: Double) -> String { String(format: "%.1f", ms) }
