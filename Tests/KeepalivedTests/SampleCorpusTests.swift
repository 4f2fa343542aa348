import Foundation
import Keepalived
import Net
import Topology
import XCTest

/// The import on keepalived's own sample configurations: keepalived 2.2.7's `doc/samples`, as the
/// Debian package `keepalived` installs them (byte for byte upstream's doc/samples at acassen/keepalived
/// 9cbce3e2, see Fixtures/README.md). Every sample becomes a topology that validates, and every
/// statement in it is mapped or reported with its line.
final class SampleCorpusTests: XCTestCase {
    static let samplesDirectory = "/usr/share/doc/keepalived/samples"
    static let pair = KeepalivedImportOptions(directors: [KeepalivedDirector(name: "lb1", address: IPAddress("192.0.2.250")!),
                                                          KeepalivedDirector(name: "lb2", address: IPAddress("192.0.2.251")!)])

    /// The sample files, or a failure naming the package that installs them.
    func samples(file: StaticString = #filePath, line: UInt = #line) -> [String] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: Self.samplesDirectory)) ?? [])
            .filter { $0.hasPrefix("keepalived.conf.") }.sorted()
        guard names.count >= 25 else {
            XCTFail("keepalived's sample configurations are missing from \(Self.samplesDirectory) (found \(names.count)): install the Debian package keepalived "
                    + "(scripts/lib/packages), without a dpkg path-exclude for /usr/share/doc", file: file, line: line)
            return []
        }
        return names.map { "\(Self.samplesDirectory)/\($0)" }
    }

    func testEverySampleImportsIntoAValidTopologyAndAccountsForEveryStatement() throws {
        var rows: [String] = []
        var mapped = Set<String>(), reported = Set<String>()
        var totals = (statements: 0, mapped: 0, reported: 0, services: 0, members: 0, pairs: 0, vs: 0, vsImported: 0, vrrp: 0)
        for path in samples() {
            // keepalived.conf.conditional_conf is written for `keepalived -i high` or `-i low`.
            let configID = path.hasSuffix("conditional_conf") ? "high" : nil
            for options in [KeepalivedImportOptions(), Self.pair] {
                let (r, t) = try importTopology(path, options: options, configID: configID)
                let config = try reader(configID: configID).read(path)
                XCTAssertEqual(r.mappedCount + r.reportedCount, r.statementCount, "\(path): every statement is mapped or reported")
                XCTAssertEqual(t.services.count, r.services)
                // Each virtual_server and vrrp_instance became part of the topology, or is reported at its line.
                for s in config.statements where ["virtual_server", "vrrp_instance"].contains(s.keyword) {
                    let noted = r.notes.contains { $0.location == s.location && $0.keyword == s.keyword }
                    let used = s.keyword == "virtual_server" ? r.yaml.contains("# \(s.location)\n") : r.directorPair
                    XCTAssertTrue(noted || used, "\(s.location) \(s.keyword): neither imported nor reported\n\(r.yaml)")
                }
                for n in r.notes {
                    XCTAssertTrue(n.location.file == path && n.location.line >= 1, "\(n) must name its file and line")
                    XCTAssertFalse(n.instead.isEmpty, "\(n) must say what Tandem does instead")
                }
                // With both machines named, the chosen instance becomes the pair: the fuller account.
                guard !options.directors.isEmpty else { continue }
                if config.statements.contains(where: { $0.keyword == "vrrp_instance" }) {
                    XCTAssertNotNil(t.directors, "\(path): --director names both machines, so the pair is written")
                }
                totals.pairs += t.directors == nil ? 0 : 1
                totals.statements += r.statementCount; totals.mapped += r.mappedCount; totals.reported += r.reportedCount
                totals.services += r.services; totals.members += r.members
                totals.vs += config.statements.filter { $0.keyword == "virtual_server" }.count
                totals.vsImported += config.statements.filter { s in s.keyword == "virtual_server" && r.yaml.contains("# \(s.location)\n") }.count
                totals.vrrp += config.statements.filter { $0.keyword == "vrrp_instance" }.count
                mapped.formUnion(r.mappedKeywords); reported.formUnion(r.reportedKeywords)
                rows.append("\((path as NSString).lastPathComponent): \(r.statementCount) statements, \(r.mappedCount) mapped, \(r.reportedCount) reported; "
                            + "\(r.services) services, \(r.members) members")
            }
        }
        let onlyReported = reported.subtracting(mapped)
        print("SampleCorpusTests: \(rows.count) samples\n  " + rows.joined(separator: "\n  "))
        print("SampleCorpusTests: totals: \(totals.statements) statements, \(totals.mapped) mapped, \(totals.reported) reported; "
              + "\(totals.vsImported) of \(totals.vs) virtual_server imported as \(totals.services) services with \(totals.members) members; "
              + "\(totals.vrrp) vrrp_instance, a pair written for \(totals.pairs) samples (all with --director lb1=…, lb2=…)")
        print("SampleCorpusTests: \(mapped.count) distinct keywords mapped: \(mapped.sorted().joined(separator: " "))")
        print("SampleCorpusTests: \(onlyReported.count) distinct keywords only reported: \(onlyReported.sorted().joined(separator: " "))")
        XCTAssertEqual(rows.count, 25)
    }

    func testInhibitSampleKeepsItsServerCheckAndComment() throws {
        let (r, t) = try importTopology("\(Self.samplesDirectory)/keepalived.conf.inhibit")
        let s = try XCTUnwrap(t.services.first)
        XCTAssertEqual(s.vip.description, "10.10.10.2")
        XCTAssertEqual(s.port, 1358)
        XCTAssertEqual(s.scheduler, .rr)
        XCTAssertEqual(s.forwarding, .nat)
        XCTAssertEqual(s.persistence?.timeoutSeconds, 50)
        XCTAssertEqual(s.members.map { "\($0.name) \($0.weight)" }, ["192.168.200.2:1358 1"])
        XCTAssertEqual(s.check, HealthCheckSpec(kind: .http(HTTPCheck(path: "/testurl3/test.jsp")), intervalMs: 6000, timeoutMs: 3000, rise: 1, fall: 4),
                       "delay_loop 6, connect_timeout 3, retry 3: the first failure and three retries")
        XCTAssertTrue(r.yaml.contains("# set weight to 0 instead of removing service"), "the inline comment is kept:\n\(r.yaml)")
        XCTAssertTrue(r.notes.contains { $0.keyword == "digest" && $0.instead.contains("MD5") }, "\(r.notes)")
        XCTAssertTrue(r.notes.contains { $0.keyword == "notification_email" }, "\(r.notes)")
    }

    func testVirtualServerGroupBecomesOneServicePerEntry() throws {
        let (_, t) = try importTopology("\(Self.samplesDirectory)/keepalived.conf.virtual_server_group")
        let names = t.services.map(\.name)
        XCTAssertEqual(names.prefix(4), ["VSG_1-10.0.0.1-8080", "VSG_1-10.0.0.2-80", "VSG_1-192.168.200.1-1358", "VSG_1-192.168.200.3-80"])
        XCTAssertEqual(t.services.filter { $0.name.hasPrefix("VSG_1-192.168.200.") && $0.port == 80 }.count, 8, "192.168.200.3-10 is eight addresses")
        XCTAssertTrue(t.services.allSatisfy { $0.members.count == 2 && $0.persistence?.timeoutSeconds == 50 })
    }

    func testQuorumSampleSaysWhatTandemDoesInstead() throws {
        let (r, t) = try importTopology("\(Self.samplesDirectory)/keepalived.conf.quorum")
        XCTAssertEqual(t.services.first?.members.count, 10)
        for k in ["quorum", "hysteresis", "quorum_up", "quorum_down", "alpha", "omega"] {
            XCTAssertTrue(r.notes.contains { $0.keyword == k }, "\(k) must be reported: \(r.notes)")
        }
        XCTAssertTrue(r.yaml.contains("# Sample configuration for quorum/hysteresis setup."), "the comment block is kept")
    }

    func testVRRPSampleBecomesAPairWhenTheMachinesAreNamed() throws {
        let plain = try importTopology("\(Self.samplesDirectory)/keepalived.conf.vrrp")
        XCTAssertNil(plain.topology.directors)
        XCTAssertTrue(plain.result.yaml.contains("# directors:"), "the pair is written as a commented block")
        XCTAssertTrue(plain.result.notes.contains { $0.keyword == "vrrp_instance" && $0.instead.contains("--director NAME=ADDRESS") })
        let named = try importTopology("\(Self.samplesDirectory)/keepalived.conf.vrrp", options: Self.pair)
        let d = try XCTUnwrap(named.topology.directors)
        XCTAssertEqual(d.members, ["lb1", "lb2"])
        XCTAssertEqual(d.vrid, 51)
        XCTAssertEqual(d.priorities, ["lb1": 100])
        XCTAssertEqual(d.advertIntervalMs, 1000)
        XCTAssertEqual(d.interface, "eth0")
        XCTAssertEqual(named.topology.machines.map(\.name), ["lb1", "lb2"])
        XCTAssertTrue(named.result.notes.contains { $0.keyword == "authentication" && $0.instead.contains("key_file") })
        XCTAssertTrue(named.result.notes.contains { $0.keyword == "192.168.200.16" && $0.instead.contains("no imported service has") })
        XCTAssertTrue(named.result.yaml.contains("# optional label. should be of the form \"realdev:sometext\" for"), "comments inside the instance are kept")
    }

    func testConditionalSampleFollowsTheConfigID() throws {
        let path = "\(Self.samplesDirectory)/keepalived.conf.conditional_conf"
        let high = try importTopology(path, options: Self.pair, configID: "high")
        XCTAssertEqual(high.topology.directors?.priorities["lb1"], 170)
        let low = try importTopology(path, options: Self.pair, configID: "low")
        XCTAssertEqual(low.topology.directors?.priorities["lb1"], 85)
    }
}
