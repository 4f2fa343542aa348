import Foundation
import XCTest
@testable import Topology
import Net
import TopologyFiles

final class LoaderTests: XCTestCase {
    func testBaseSiteIsValidAndResolvesEverything() throws {
        let doc = try TopologyLoader.parse(data: Data(baseSite.utf8), file: "site.yaml")
        let t = doc.topology
        XCTAssertEqual(t.hosts.map(\.name), ["h1", "h2"])
        XCTAssertEqual(t.hosts[0].memoryMiB, 8192)
        XCTAssertEqual(t.hosts[1].labels, ["rack": "r2"])
        XCTAssertEqual(t.vms.count, 4)
        let gums = try XCTUnwrap(t.service(named: "gums"))
        XCTAssertEqual(gums.vip, IPAddress("10.0.9.1"))
        XCTAssertEqual(gums.check.intervalMs, 1000)
        XCTAssertEqual(gums.check.timeoutMs, 500)
        XCTAssertEqual(gums.check.fall, 3)
        XCTAssertEqual(gums.check.kind, .http(HTTPCheck(path: "/healthz")))
        XCTAssertEqual(t.address(of: gums.members[1], in: gums), IPAddress("10.0.1.2"))
        XCTAssertEqual(t.directors?.priorities, ["d1": 150, "d2": 100])
        XCTAssertEqual(t.directors?.advertIntervalMs, 1000, "advert interval defaults to 1 s")
        XCTAssertEqual(t.antiAffinityGroups.map(\.name), ["director pair directors", "service gums"])
        XCTAssertEqual(doc.locations["services[0].members[1].vm"]?.line, 18)
    }

    func testShippedFermiGridTopologyIsValid() throws {
        let t = try TopologyLoader.load(path: repoRoot.appendingPathComponent("topology/fermigrid-ha.yaml").path)
        XCTAssertEqual(t.hosts.map(\.name), ["fermigrid5", "fermigrid6"])
        XCTAssertEqual(t.vms.map(\.name).sorted(), (0...5).flatMap { ["fg5x\($0)", "fg6x\($0)"] }.sorted())
        XCTAssertEqual(Set(t.services.map(\.name)), ["voms", "voms-v6", "gums", "saz-gatekeeper", "mysql", "saz-cms"])
        XCTAssertEqual(Set(t.services.map(\.vip)).count, t.services.count, "a VIP per service")
        XCTAssertEqual(t.service(named: "voms-v6")?.vip.family, .v6)
        XCTAssertEqual(t.database?.members, ["fg5x4", "fg6x4"])
        // Every pair of the report is an anti-affinity group.
        XCTAssertEqual(t.antiAffinityGroups.count, 1 + 6 + 1)
    }

    func testShippedLargerSiteIsValid() throws {
        let t = try TopologyLoader.load(path: repoRoot.appendingPathComponent("topology/multi-community.yaml").path)
        XCTAssertGreaterThanOrEqual(t.hosts.count, 3)
        XCTAssertGreaterThanOrEqual(t.services.filter { $0.name.hasPrefix("saz-") }.count, 3, "several SAZ pairs, one per community")
        XCTAssertEqual(t.placement.spread, ["rack"])
        XCTAssertEqual(t.service(named: "saz-campus")?.schedulerFlags, [.mhFallback])
    }

    func testEveryErrorIsReportedNotJustTheFirst() {
        var text = edited("cpus: 4, memory: 8GiB, labels: {rack: r1}", "cpus: four, memory: 8GiB, labels: {rack: r1}")
        text = text.replacingOccurrences(of: "scheduler: wlc", with: "scheduler: wlcc")
        text = text.replacingOccurrences(of: "vrid: 7", with: "vrid: 700")
        let diags = diagnostics(text)
        XCTAssertEqual(Set(diags.map(\.code)), [.typeMismatch, .unknownScheduler, .badValue], diags.map(\.description).joined(separator: "\n"))
        XCTAssertEqual(diags.map(\.location.line), [3, 14, 22], "sorted in file order")
    }

    func testDiagnosticFormatIsFileLineColumnErrorWhatPathHint() throws {
        let d = try XCTUnwrap(diagnostics(edited("scheduler: wlc", "scheduler: wlcc"), file: "topology/x.yaml").first)
        XCTAssertEqual(d.description, "topology/x.yaml:14:16: error: unknown scheduler 'wlcc' (services[0].scheduler) — did you mean 'wlc'? valid: rr, wrr, lc, wlc, lblc, lblcr, dh, sh, sed, nq, fo, ovf, mh")
    }

    func testEmptyFileIsAClearError() {
        assertDiagnostic(diagnostics(""), .empty, line: 1, column: 1, mentions: "the file is empty")
        assertDiagnostic(diagnostics("   \n\n"), .empty, line: 1, column: 1, mentions: "empty")
    }

    func testCommentOnlyFileIsAClearError() {
        let path = repoRoot.appendingPathComponent("Tests/TopologyTests/Fixtures/comments-only.yaml").path
        XCTAssertThrowsError(try TopologyLoader.load(path: path)) { e in
            guard let d = (e as? TopologyDiagnostics)?.diagnostics.first else { return XCTFail("wrong error \(e)") }
            XCTAssertEqual(d.code, .empty)
            XCTAssertTrue(d.message.contains("no YAML document"))
        }
    }

    func testBinaryFileIsAClearError() {
        let path = repoRoot.appendingPathComponent("Tests/TopologyTests/Fixtures/binary.bin").path
        XCTAssertThrowsError(try TopologyLoader.load(path: path)) { e in
            let d = (e as? TopologyDiagnostics)?.diagnostics
            XCTAssertEqual(d?.map(\.code), [.binary])
            XCTAssertEqual(d?.first?.location.file, path)
        }
        XCTAssertEqual(diagnostics(String(decoding: [0xff, 0xfe, 0x41], as: UTF8.self) + "\u{0}").map(\.code), [.binary])
    }

    func testInvalidUTF8IsAClearError() {
        XCTAssertThrowsError(try TopologyLoader.parse(data: Data([0x73, 0x69, 0xff, 0xfe, 0x0a]), file: "x.yaml")) { e in
            XCTAssertEqual((e as? TopologyDiagnostics)?.diagnostics.map(\.code), [.binary])
        }
    }

    func testNotYAMLIsASyntaxErrorWithItsLine() throws {
        let path = repoRoot.appendingPathComponent("Tests/TopologyTests/Fixtures/broken.yaml").path
        XCTAssertThrowsError(try TopologyLoader.load(path: path)) { e in
            guard let d = (e as? TopologyDiagnostics)?.diagnostics.first else { return XCTFail("wrong error \(e)") }
            XCTAssertEqual(d.code, .syntax)
            XCTAssertGreaterThan(d.location.line, 1, "points into the file: \(d)")
            XCTAssertTrue(d.description.contains("not valid YAML"), d.description)
        }
        XCTAssertEqual(diagnostics("just some prose, not a topology").map(\.code), [.typeMismatch],
                       "a bare scalar is YAML, but not a mapping")
    }

    func testMissingFileIsUnreadable() {
        XCTAssertThrowsError(try TopologyLoader.load(path: "/nonexistent/site.yaml")) { e in
            XCTAssertEqual((e as? TopologyDiagnostics)?.diagnostics.map(\.code), [.unreadable])
        }
    }

    func testDurationsAndSizesAcceptCommonUnits() throws {
        let text = edited("interval: 1s, timeout: 500ms", "interval: 1.5s, timeout: 0.25")
            .replacingOccurrences(of: "memory: 8GiB, labels: {rack: r1}", with: "memory: 8192, labels: {rack: r1}")
        let t = try TopologyLoader.parse(data: Data(text.utf8), file: "x").topology
        XCTAssertEqual(t.services[0].check.intervalMs, 1500)
        XCTAssertEqual(t.services[0].check.timeoutMs, 250)
        XCTAssertEqual(t.hosts[0].memoryMiB, 8192)
    }
}
