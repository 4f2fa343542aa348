import Reconcile
import Topology
import XCTest
import IPVSModel
import Net

func ia(_ s: String) -> IPAddress { IPAddress(s)! }

/// Pure planning: no kernel, just states in and operations out.
final class PlanTests: XCTestCase {
    let web = ServiceKey.address(.tcp, ia("10.0.0.1"), port: 80)
    let dns = ServiceKey.address(.udp, ia("fd00::53"), port: 53)
    let manual = ServiceKey.address(.tcp, ia("10.0.0.99"), port: 22)

    func state(_ entries: [(IPVSService, [IPVSDestination])]) -> IPVSState {
        var s = IPVSState()
        for (svc, ds) in entries {
            s.services[svc.key] = ServiceState(service: svc, destinations: Dictionary(uniqueKeysWithValues: ds.map { ($0.key, $0) }))
        }
        return s
    }

    var desiredState: IPVSState {
        state([
            (IPVSService(key: web, scheduler: "wrr"), [
                IPVSDestination(address: ia("10.0.1.1"), port: 80, weight: 10),
                IPVSDestination(address: ia("10.0.1.2"), port: 80, weight: 10),
            ]),
            (IPVSService(key: dns, scheduler: "mh", flags: [.schedFlag2], persistence: Persistence(timeout: 60, netmask: 64)), [
                IPVSDestination(address: ia("fd00::1"), port: 53, forwarding: .directRoute, weight: 1),
            ]),
        ])
    }

    func testFromEmptyCreatesEachServiceBeforeItsDestinations() {
        let ops = plan(desired: desiredState, observed: IPVSState())
        XCTAssertEqual(ops, [
            .addService(IPVSService(key: web, scheduler: "wrr")),
            .addDestination(web, IPVSDestination(address: ia("10.0.1.1"), port: 80, weight: 10)),
            .addDestination(web, IPVSDestination(address: ia("10.0.1.2"), port: 80, weight: 10)),
            .addService(IPVSService(key: dns, scheduler: "mh", flags: [.schedFlag2], persistence: Persistence(timeout: 60, netmask: 64))),
            .addDestination(dns, IPVSDestination(address: ia("fd00::1"), port: 53, forwarding: .directRoute, weight: 1)),
        ])
    }

    func testSecondPassIsEmpty() {
        XCTAssertEqual(plan(desired: desiredState, observed: desiredState), [])
    }

    func testPartlyWrongTableGetsMinimalInPlaceEditsDeletesFirst() {
        let observed = state([
            (IPVSService(key: web, scheduler: "rr"), [ // wrong scheduler
                IPVSDestination(address: ia("10.0.1.1"), port: 80, weight: 3), // wrong weight
                IPVSDestination(address: ia("10.0.1.2"), port: 8080, weight: 10), // wrong port: delete + add
                IPVSDestination(address: ia("10.0.1.9"), port: 80, weight: 1), // extra
            ]),
            (IPVSService(key: dns, scheduler: "mh", flags: [.schedFlag2], persistence: Persistence(timeout: 60, netmask: 64)), [
                IPVSDestination(address: ia("fd00::1"), port: 53, forwarding: .tunnel, weight: 1), // wrong forwarding: edit
            ]),
        ])
        XCTAssertEqual(plan(desired: desiredState, observed: observed), [
            .editService(IPVSService(key: web, scheduler: "wrr")),
            .deleteDestination(web, DestinationKey(address: ia("10.0.1.2"), port: 8080)),
            .deleteDestination(web, DestinationKey(address: ia("10.0.1.9"), port: 80)),
            .editDestination(web, IPVSDestination(address: ia("10.0.1.1"), port: 80, weight: 10)),
            .addDestination(web, IPVSDestination(address: ia("10.0.1.2"), port: 80, weight: 10)),
            .editDestination(dns, IPVSDestination(address: ia("fd00::1"), port: 53, forwarding: .directRoute, weight: 1)),
        ])
    }

    func testPersistenceAndFlagChangesAreServiceEdits() {
        var observed = desiredState
        observed.services[dns]!.service.persistence = nil
        observed.services[web]!.service.flags = [.onePacket]
        let ops = plan(desired: desiredState, observed: observed)
        XCTAssertEqual(ops, [.editService(desiredState.services[web]!.service), .editService(desiredState.services[dns]!.service)])
    }

    func testServicesTheTopologyDoesNotOwnAreNeverTouched() {
        var observed = IPVSState()
        observed.services[manual] = ServiceState(service: IPVSService(key: manual, scheduler: "rr"),
                                                 destinations: [DestinationKey(address: ia("10.0.5.5"), port: 22): IPVSDestination(address: ia("10.0.5.5"), port: 22)])
        let ops = plan(desired: desiredState, observed: observed)
        XCTAssertFalse(ops.contains { $0.serviceKey == manual }, "\(ops)")
        XCTAssertEqual(ops.count, 5)
        // Even an empty desired state never deletes anything: no flush.
        XCTAssertEqual(plan(desired: IPVSState(), observed: observed), [])
    }

    func testTunnelSettingsMatterOnlyForTunnels() {
        var observed = desiredState
        observed.services[web]!.destinations[DestinationKey(address: ia("10.0.1.1"), port: 80)]!.tunnelPort = 99
        XCTAssertEqual(plan(desired: desiredState, observed: observed), [])
        var want = desiredState
        want.services[dns]!.destinations[DestinationKey(address: ia("fd00::1"), port: 53)]!.forwarding = .tunnel
        want.services[dns]!.destinations[DestinationKey(address: ia("fd00::1"), port: 53)]!.tunnelType = .gue
        want.services[dns]!.destinations[DestinationKey(address: ia("fd00::1"), port: 53)]!.tunnelPort = 6080
        XCTAssertEqual(plan(desired: want, observed: desiredState).count, 1)
    }
}

/// `desired(topology, weights)` against the real topology model.
final class DesiredTests: XCTestCase {
    static func addr(_ s: String) -> IPAddress { IPAddress(s)! }

    static var topology: Topology {
        let vms = [
            DomU(name: "a", role: .voms, vcpus: 1, memoryMiB: 512, addresses: [InterfaceAddress(address: addr("10.1.0.1")), InterfaceAddress(address: addr("fd00::a"))]),
            DomU(name: "b", role: .voms, vcpus: 1, memoryMiB: 512, addresses: [InterfaceAddress(address: addr("10.1.0.2")), InterfaceAddress(address: addr("fd00::b"))]),
        ]
        let check = HealthCheckSpec(kind: .tcp)
        let services = [
            VirtualService(name: "voms", vip: addr("10.0.0.11"), port: 8443, scheduler: .wlc,
                           persistence: Persistence(timeoutSeconds: 300, netmask: 0xffff_ff00),
                           members: [ServiceMember(vm: "a", port: 8443, weight: 100), ServiceMember(vm: "b", port: 8443, weight: 50)], check: check),
            VirtualService(name: "voms6", vip: addr("fd00::11"), port: 8443, proto: .udp, scheduler: .mh, schedulerFlags: [.mhPort],
                           forwarding: .dr, members: [ServiceMember(vm: "a", port: 8443)], check: check),
            VirtualService(name: "marked", vip: addr("10.0.0.12"), port: 0, proto: .fwmark, fwmark: 12, scheduler: .fo,
                           forwarding: .tun, members: [ServiceMember(vm: "b", port: 0, address: addr("10.9.9.9"))], check: check),
        ]
        return Topology(site: "t", hosts: [], vms: vms, services: services)
    }

    func testDesiredMapsEveryServiceFieldAndMemberAddress() {
        let d = desired(Self.topology)
        let voms = ServiceKey.address(.tcp, ia("10.0.0.11"), port: 8443)
        let voms6 = ServiceKey.address(.udp, ia("fd00::11"), port: 8443)
        let marked = ServiceKey.fwmark(12, family: .v4)
        XCTAssertEqual(Set(d.services.keys), [voms, voms6, marked])
        XCTAssertEqual(d.services[voms]!.service, IPVSService(key: voms, scheduler: "wlc", persistence: Persistence(timeout: 300, netmask: 0xffff_ff00)))
        XCTAssertEqual(d.services[voms]!.destinations.values.sorted { $0.key < $1.key }, [
            IPVSDestination(address: ia("10.1.0.1"), port: 8443, forwarding: .masquerade, weight: 100),
            IPVSDestination(address: ia("10.1.0.2"), port: 8443, forwarding: .masquerade, weight: 50),
        ])
        XCTAssertEqual(d.services[voms6]!.service, IPVSService(key: voms6, scheduler: "mh", flags: [.schedFlag2]))
        XCTAssertEqual(Array(d.services[voms6]!.destinations.values), [IPVSDestination(address: ia("fd00::a"), port: 8443, forwarding: .directRoute, weight: 1)])
        XCTAssertEqual(Array(d.services[marked]!.destinations.values), [IPVSDestination(address: ia("10.9.9.9"), port: 0, forwarding: .tunnel, weight: 1)])
    }

    func testWeightOverrideDrainsOneMemberOnly() {
        let d = desired(Self.topology, weights: [MemberRef(service: "voms", member: "b"): 0])
        let voms = ServiceKey.address(.tcp, ia("10.0.0.11"), port: 8443)
        let ops = plan(desired: d, observed: desired(Self.topology))
        XCTAssertEqual(ops, [.editDestination(voms, IPVSDestination(address: ia("10.1.0.2"), port: 8443, weight: 0))])
        XCTAssertEqual(d.services[voms]!.destinations[DestinationKey(address: ia("10.1.0.1"), port: 8443)]!.weight, 100)
    }

    func testDrainAndUndrainAreSingleWeightEdits() throws {
        let t = Self.topology
        let current = desired(t)
        let voms = ServiceKey.address(.tcp, ia("10.0.0.11"), port: 8443)
        var asked: [ServiceKey] = []
        let drain = try memberWeightOperation(topology: t, service: "voms", member: "b", drain: true,
                                              observe: { (k: ServiceKey) throws -> IPVSState in asked.append(k); return current })
        XCTAssertEqual(drain, .editDestination(voms, IPVSDestination(address: ia("10.1.0.2"), port: 8443, weight: 0)))
        XCTAssertEqual(asked, [voms])
        XCTAssertNil(try memberWeightOperation(topology: t, service: "voms", member: "b", drain: false,
                                               observe: { (_: ServiceKey) throws -> IPVSState in current }))
        XCTAssertThrowsError(try memberWeightOperation(topology: t, service: "nope", member: "b", drain: true,
                                                       observe: { (_: ServiceKey) throws -> IPVSState in current })) { e in
            XCTAssertEqual((e as? MemberWeightError)?.code, .unknownService)
        }
        XCTAssertThrowsError(try memberWeightOperation(topology: t, service: "voms", member: "b", drain: true,
                                                       observe: { (_: ServiceKey) throws -> IPVSState in IPVSState() })) { e in
            XCTAssertEqual((e as? MemberWeightError)?.code, .notInKernel)
        }
    }
}
