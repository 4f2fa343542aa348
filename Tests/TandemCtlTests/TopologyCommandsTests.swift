import Foundation
import TestSupport
import XCTest

/// Issue 16 through the built tandemctl: a load-balancer-only site validates with a note and has
/// nothing to place; `schema` writes the published schema; `import keepalived` and `export keepalived`
/// as an operator runs them, with their exit statuses.
final class TopologyCommandsTests: XCTestCase {
    var work = ""
    let root = RealRing.repoRoot

    override func setUpWithError() throws {
        work = NSTemporaryDirectory() + "tandemctl-topology-\(getpid())-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: work) }

    func ctl(_ args: String..., file: StaticString = #filePath, line: UInt = #line) throws -> (status: Int32, output: String) {
        let binary = try XCTUnwrap(BuildProducts.path("tandemctl"), "tandemctl not built beside the tests (\(BuildProducts.directory.path)): swift build --product tandemctl",
                                   file: file, line: line)
        return RealRing.runProcess([binary.path] + args, timeout: 30, what: "tandemctl \(args.joined(separator: " "))")
    }

    func testLoadBalancerOnlySiteValidatesWithANoteAndHasNothingToPlace() throws {
        let v = try ctl("validate", "\(root)/topology/lb-only.yaml")
        XCTAssertEqual(v.status, 0, v.output)
        XCTAssertTrue(v.output.contains("0 hosts, 0 VMs, 2 machines, 2 services, 1 director pair"), v.output)
        XCTAssertTrue(v.output.contains("note: no hosts or VMs: placement, anti-affinity and capacity checks do not apply"), v.output)
        let p = try ctl("plan", "\(root)/topology/lb-only.yaml")
        XCTAssertEqual(p.status, 0, p.output)
        XCTAssertTrue(p.output.contains("site lb-only has nothing to place"), p.output)
        let j = try ctl("plan", "--json", "\(root)/topology/lb-only.yaml")
        XCTAssertEqual(j.status, 0, j.output)
        XCTAssertTrue(j.output.contains("\"reason\""), j.output)
        let w = try ctl("plan", "\(root)/topology/lb-only.yaml", "--without", "h1")
        XCTAssertEqual(w.status, 1, w.output)
        XCTAssertTrue(w.output.contains("--without: site lb-only has nothing to place"), w.output)
    }

    func testSchemaCommandWritesThePublishedSchema() throws {
        let out = work + "/schema.json"
        let r = try ctl("schema", "--output", out)
        XCTAssertEqual(r.status, 0, r.output)
        XCTAssertEqual(try String(contentsOfFile: out, encoding: .utf8), try String(contentsOfFile: "\(root)/docs/topology.schema.json", encoding: .utf8))
    }

    func testImportKeepalivedWritesAValidTopologyAndNamesEveryLineItCouldNotMap() throws {
        let sample = "/usr/share/doc/keepalived/samples/keepalived.conf.SSL_GET"
        guard FileManager.default.fileExists(atPath: sample) else {
            return XCTFail("\(sample) is missing: install the Debian package keepalived (scripts/lib/packages)")
        }
        let out = work + "/imported.yaml"
        let r = try ctl("import", "keepalived", sample, "--director", "lb1=192.0.2.11", "--director", "lb2=192.0.2.12", "--output", out)
        XCTAssertEqual(r.status, 0, r.output)
        XCTAssertTrue(r.output.contains("\(sample):19: authentication: VRRPv3 (RFC 5798) has no authentication"), r.output)
        XCTAssertTrue(r.output.contains("\(sample):42: digest: keepalived compares an MD5"), r.output)
        XCTAssertTrue(r.output.contains("2 services, 2 members, a director pair"), r.output)
        let v = try ctl("validate", out)
        XCTAssertEqual(v.status, 0, v.output)
        XCTAssertTrue(v.output.contains("2 machines, 2 services, 1 director pair"), v.output)

        let missing = try ctl("import", "keepalived", work + "/nonexistent.conf")
        XCTAssertEqual(missing.status, 1, missing.output)
        XCTAssertTrue(missing.output.contains("nonexistent.conf: cannot read"), missing.output)
        let usage = try ctl("import", "keepalived", sample, "--director", "lb1")
        XCTAssertEqual(usage.status, 2, usage.output)
    }

    func testExportKeepalivedForADirectorAndRefusesAnyOtherNode() throws {
        let out = work + "/da.conf"
        let r = try ctl("export", "keepalived", "\(root)/topology/drill.yaml", "--node", "da", "--sync-interface", "none", "--output", out)
        XCTAssertEqual(r.status, 0, r.output)
        XCTAssertTrue(r.output.contains("service web: last_member: keep has no keepalived equivalent"), "differences go to standard error: \(r.output)")
        let text = try String(contentsOfFile: out, encoding: .utf8)
        XCTAssertTrue(text.contains("virtual_router_id 51") && text.contains("priority 150") && text.contains("advert_int 0.1"), text)
        XCTAssertFalse(text.contains("lvs_sync_daemon"), "--sync-interface none: \(text)")
        let refused = try ctl("export", "keepalived", "\(root)/topology/drill.yaml", "--node", "w1")
        XCTAssertEqual(refused.status, 1, refused.output)
        XCTAssertTrue(refused.output.contains("w1 is not a member of a director pair; members: da, db"), refused.output)
    }
}
