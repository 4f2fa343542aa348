import Hosts
import XCTest

/// `tandemctl hosts status`'s comparison as lines: plan + what each host lists → differences.
final class InventoryTests: XCTestCase {
    static let plan = ["a1": "h1", "a2": "h2", "b1": "h1", "b2": "h3"]
    static let order = ["h1", "h2", "h3"]

    func compare(_ observed: [String: HostObservation]) -> HostInventory {
        HostInventory.compare(plan: Self.plan, hostOrder: Self.order, observed: observed)
    }

    func testEveryVMOnceWhereThePlanPutsItMatches() {
        let r = compare(["h1": .domains([.init(name: "b1", state: .running), .init(name: "a1", state: .blocked)]),
                         "h2": .domains([.init(name: "a2", state: .running)]),
                         "h3": .domains([.init(name: "b2", state: .paused)])])
        XCTAssertEqual(r.differences, [])
        XCTAssertTrue(r.matchesPlan)
        XCTAssertEqual(r.hosts.map(\.connection), ["ok", "ok", "ok"])
        XCTAssertEqual(r.hosts[0].domains.map(\.name), ["a1", "b1"], "sorted by name")
        XCTAssertTrue(r.render().hasSuffix("every VM runs once, where the plan puts it"), r.render())
    }

    func testMissingStoppedElsewhereAndTwiceAreEachNamed() {
        let r = compare(["h1": .domains([.init(name: "a1", state: .shutOff), .init(name: "a2", state: .running),
                                         .init(name: "stray", state: .running)]),
                         "h2": .domains([.init(name: "b2", state: .running)]),
                         "h3": .domains([.init(name: "b2", state: .running), .init(name: "b1", state: .crashed)])])
        XCTAssertEqual(r.differences, [
            .notRunning(vm: "a1", host: "h1", state: .shutOff),
            .elsewhere(vm: "a2", plannedHost: "h2", runningOn: "h1"),
            .missing(vm: "b1", plannedHost: "h1"),          // crashed on h3 is not its planned host
            .runningTwice(vm: "b2", hosts: ["h2", "h3"]),
        ])
        XCTAssertFalse(r.matchesPlan)
        let text = r.render()
        XCTAssertTrue(text.contains("  stray  running  (not in the topology)"), text)
        XCTAssertTrue(text.contains("b2: runs on 2 hosts at once (h2, h3)"), text)
        XCTAssertTrue(text.contains("4 differences from the plan:"), text)
    }

    func testAHostThatCannotBeLookedAtIsADifferenceNamingItsUnverifiedVMs() {
        let r = compare(["h1": .unreachable("lxc:///: timed out"),
                         "h2": .domains([.init(name: "a2", state: .running), .init(name: "b1", state: .running)])])
        // a1 and b2 are not judged "missing": their hosts were not looked at.
        XCTAssertEqual(r.differences, [
            .elsewhere(vm: "b1", plannedHost: "h1", runningOn: "h2"),
            .unknownHost(host: "h1", reason: "unreachable: lxc:///: timed out", plannedVMs: ["a1"]),
            .unknownHost(host: "h3", reason: "no libvirt URI", plannedVMs: ["b2"]),
        ])
        XCTAssertEqual(r.hosts.map(\.connection), ["unreachable: lxc:///: timed out", "ok", "no libvirt URI"])
    }

    func testTheReportRoundTripsThroughJSON() throws {
        let r = compare(["h1": .domains([.init(name: "a1", state: .shutOff)]), "h2": .unreachable("x")])
        let back = try JSONDecoder().decode(HostInventory.self, from: JSONEncoder().encode(r))
        XCTAssertEqual(back, r)
    }
}
