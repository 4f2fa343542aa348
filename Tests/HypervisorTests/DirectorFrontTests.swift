import Foundation
import HostDrill
import HostLab
import TestSupport
import XCTest

/// A host crash with a director in front: the real tandemd with the UML kernel's IPVS, one NAT
/// service per pair, clients of the VIPs. The lost members must leave IPVS, the moved ones come
/// back at their weight, and the VIPs' clients lose only what was sent to a member that was gone.
final class DirectorFrontTests: XCTestCase {
    func testCrashBehindADirectorDrainsTheLostMembersAndPutsTheMovedOnesBackInIPVS() async throws {
        let tandemd = try XCTUnwrap(BuildProducts.path("tandemd"), "tandemd not built beside the tests: swift build --build-tests builds it")
        let settings = HostDrillSettings(vms: 2, maxSeconds: 20, ratePerPair: 20, repoRoot: RealRing.repoRoot,
                                         gridsvc: try LabHosts.builtGridsvc(), director: tandemd.path)
        let t = try await HostDrillRunner.trial(.crash, number: 1, settings: settings) { print($0) }
        let json = String(decoding: try JSONEncoder().encode(t), as: UTF8.self)
        print("measure: crash behind a director: restored \(t.restoredMs ?? -1) ms, out of IPVS \(t.outOfIPVSMs ?? -1) ms, "
              + "back in IPVS \(t.backInIPVSMs ?? -1) ms; VIP clients failed \(t.vipClients.map(\.failed)) of \(t.vipClients.map(\.sent))")
        XCTAssertTrue(t.pass, "\(t.verdict)\n\(json)")
        XCTAssertTrue(t.director)
        XCTAssertEqual(t.runningTwice, [])
        let out = try XCTUnwrap(t.outOfIPVSMs, "h1's members never left IPVS: \(json)")
        let back = try XCTUnwrap(t.backInIPVSMs, "the moved members never came back in IPVS: \(json)")
        XCTAssertGreaterThan(out, 0, "a member left IPVS before the fault: \(json)")
        XCTAssertGreaterThan(back, out, json)
        XCTAssertLessThan(back, 20_000, json)
        // Both affected services' clients ran through the whole trial; what they lost stopped once
        // the lost member was out of IPVS, and far from everything failed.
        XCTAssertEqual(t.vipClients.count, 2, json)
        for c in t.vipClients {
            XCTAssertGreaterThan(c.sent, 10, "\(c.vm): the VIP client hardly ran: \(json)")
            XCTAssertLessThan(c.failed * 4, c.sent, "\(c.vm): a quarter or more of its VIP's requests failed: \(json)")
            if let first = c.firstFailureMs { XCTAssertGreaterThan(first, -200, "\(c.vm) failed before the fault: \(json)") }
        }
    }
}
