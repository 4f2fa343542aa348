import Foundation
import Glibc
import XCTest
import Yams
@testable import Topology

/// Issue 17, loader items: every defect found with hostile files has a test here that fails
/// without its fix (a crash, a hang cut off by ``bounded(_:unblock:_:)``, a file accepted, or a
/// message without its position).
final class HostileInputTests: XCTestCase {
    // MARK: 1. Numbers and durations: range-checked, never a trap

    func testHugeDurationsAreRangeErrorsNamingTheRangeNotTraps() {
        // Each of these trapped in `Int(Double)` ("Double value cannot be converted to Int", exit 132).
        for value in ["1e300s", "9e18s", "-1e300s", "1e20", "9.3e15ms", "1e400s", "-9e18ms"] {
            let t = edited("interval: 1s", "interval: \(value)")
            assertDiagnostic(in: t, .badValue, at: value,
                             mentions: "duration \(value) is out of range (services[0].check.interval) — use from 10ms to 3600s")
        }
        assertDiagnostic(in: edited("timeout: 500ms", "timeout: 1e17"), .badValue, at: "1e17", mentions: "use from 1ms to 3600s")
        let advert = edited("  interface: eth0", "  interface: eth0\n  advert_interval: 1e300s")
        assertDiagnostic(in: advert, .badValue, at: "1e300s", mentions: "(directors.advert_interval) — use from 10ms to 40950ms")
        let persistence = edited("    forwarding: nat\n", "    forwarding: nat\n    persistence: {timeout: 9e18s}\n")
        assertDiagnostic(in: persistence, .badValue, at: "9e18s", mentions: "use from 1s to 31536000s")
        let passive = edited("rise: 2, fall: 3}", "rise: 2, fall: 3}\n    passive: {window: -1e300ms}")
        assertDiagnostic(in: passive, .badValue, at: "-1e300ms", mentions: "use from 50ms to 10s")
    }

    func testNumbersThatAreNotDecimalAreTypeErrors() {
        // Double("nan"), Double("inf") and hex floats parse in Swift; none of them is a duration.
        for value in ["nan", "inf", ".inf", "0x1p4s", "1_000ms", "1e", "--1s", "1.2.3s"] {
            assertDiagnostic(in: edited("interval: 1s", "interval: \(value)"), .typeMismatch, at: value, mentions: "expected a duration, found '\(value)'")
        }
    }

    func testEveryNumberIsRangeCheckedBeforeItBecomesAnInt() {
        let huge = "99999999999999999999"
        assertDiagnostic(in: edited("cpus: 4, memory: 8GiB, labels: {rack: r1}", "cpus: \(huge), memory: 8GiB, labels: {rack: r1}"),
                         .badValue, at: huge, mentions: "\(huge) is out of range (hosts[0].cpus) — use a value from 1 to 4096")
        assertDiagnostic(in: edited("{vm: g1, port: 8443}", "{vm: g1, port: 8443, weight: \(huge)}"), .badValue, at: huge,
                         mentions: "use a value from 0 to 65535")
        assertDiagnostic(in: edited("port: 8443\n    scheduler", "port: \(huge)\n    scheduler"), .badPort, at: huge,
                         mentions: "port \(huge) is out of range (services[0].port) — use a port from 1 to 65535")
        assertDiagnostic(in: edited("vrid: 7", "vrid: -\(huge)"), .badValue, at: "-\(huge)", mentions: "use a value from 1 to 255")
        assertDiagnostic(in: edited("{d1: 150,", "{d1: \(huge),"), .badValue, at: huge,
                         mentions: "use a value from 1 to 254; 255 is reserved for the address owner (RFC 5798 §5.2.4)")
        assertDiagnostic(in: edited("cpus: 4, memory: 8GiB, labels: {rack: r1}", "cpus: 4, memory: 1e300GiB, labels: {rack: r1}"),
                         .badValue, at: "1e300GiB", mentions: "memory size 1e300GiB is out of range (hosts[0].memory)")
        let mask = edited("    forwarding: nat\n", "    forwarding: nat\n    persistence: {timeout: 300s, netmask: /\(huge)}\n")
        assertDiagnostic(in: mask, .badCIDR, at: "/\(huge)", mentions: "use a value from 0 to 32")
        let fwmark = edited("    port: 8443\n    scheduler", "    protocol: fwmark\n    fwmark: \(huge)\n    scheduler")
        assertDiagnostic(in: fwmark, .badValue, at: huge, mentions: "use a value from 1 to 4294967295")
    }

    // MARK: 2. Empty lists never drop an entry; nothing vanishes without a diagnostic

    func testAnEmptyListWhereOneIsRequiredIsAnErrorAtTheList() {
        let check = "check: {kind: http, path: /healthz, interval: 1s, timeout: 500ms, rise: 2, fall: 3}"
        let directors = "directors:\n  members: [d1, d2]\n  vrid: 7\n  priorities: {d1: 150, d2: 100}\n  interface: eth0"
        let cases: [(old: String, new: String, keyPath: String)] = [
            // This one made the service vanish while validate said ok.
            (check, "check: {kind: exec, command: []}", "services[0].check.command"),
            // This one dropped the director pair.
            ("  interface: eth0", "  interface: eth0\n  fence_command: []", "directors.fence_command"),
            // An explicit empty list of a pair's services would have meant "every service".
            ("  interface: eth0", "  interface: eth0\n  services: []", "directors.services"),
            (directors, "directors: []", "directors"),
            ("    members:\n      - {vm: g1, port: 8443}\n      - {vm: g2, port: 8443}\n", "    members: []\n", "services[0].members"),
            ("addresses: [10.0.0.2/24]", "addresses: []", "vms[1].addresses"),
            ("directors:\n", "database:\n  ring: []\ndirectors:\n", "database.ring"),
            ("directors:\n", "anti_affinity:\n  - {name: spread, members: []}\ndirectors:\n", "anti_affinity[0].members"),
            ("hosts:\n  - {name: h1, address: 192.0.2.1, cpus: 4, memory: 8GiB, labels: {rack: r1}}\n  - {name: h2, address: 192.0.2.2, cpus: 4, memory: 8GiB, labels: {rack: r2}}\n",
             "hosts: []\n", "hosts"),
        ]
        for c in cases {
            let t = edited(c.old, c.new)
            let d = assertDiagnostic(in: t, .emptyList, at: "[]", mentions: "is an empty list")
            XCTAssertEqual(d?.keyPath, c.keyPath)
            XCTAssertEqual(diagnostics(t).count, 1, "one mistake, one message: \(diagnostics(t).map(\.description))")
        }
        // Optional lists whose empty form means their default stay accepted.
        XCTAssertEqual(diagnostics(edited("    scheduler: wlc\n", "    scheduler: wlc\n    scheduler_flags: []\n")), [])
        XCTAssertEqual(diagnostics("placement: {spread: []}\n" + baseSite), [])
    }

    func testADirectorPairNeedsExactlyTwoMembers() {
        assertDiagnostic(in: edited("members: [d1, d2]", "members: [d1]"), .badValue, at: "[d1]", mentions: "'members' needs exactly 2 items, found 1")
    }

    func testAnEntryThatYieldsNothingWithoutAReasonIsReportedNotDropped() {
        let r = YAMLReader(file: "x.yaml")
        let node = Node("x")
        let v: Int? = r.entry("services[3]", node) { nil }
        XCTAssertNil(v)
        XCTAssertEqual(r.diagnostics.map(\.code), [.internalError])
        XCTAssertEqual(r.diagnostics.first?.keyPath, "services[3]")
        // A reader that said why adds nothing more.
        let r2 = YAMLReader(file: "x.yaml")
        let w: Int? = r2.entry("hosts[0]", node) { r2.error(.badValue, at: "hosts[0]", "bad", hint: "fix it"); return nil }
        XCTAssertNil(w)
        XCTAssertEqual(r2.diagnostics.map(\.code), [.badValue])
    }

    // MARK: 3. Aliases: never as keys, never past the node limit; nesting bounded

    /// `? *aN` where each anchor lists the one before ten times: hashing that key expands 10^N nodes.
    func aliasKeyBomb(depth: Int) -> String {
        var lines = ["a0: &a0 [x, y]"]
        for i in 1...depth { lines.append("a\(i): &a\(i) [" + Array(repeating: "*a\(i - 1)", count: 10).joined(separator: ", ") + "]") }
        return baseSite + "\n" + (lines + ["m:", "  ? *a\(depth)", "  : v"]).joined(separator: "\n") + "\n"
    }

    /// Aliases as values: `anti_affinity: *lN` stands for 10^N nodes.
    func billionLaughs(depth: Int) -> String {
        var lines = ["bomb0: &l0 [lol]"]
        for i in 1...depth { lines.append("bomb\(i): &l\(i) [" + Array(repeating: "*l\(i - 1)", count: 10).joined(separator: ", ") + "]") }
        return baseSite + "\n" + (lines + ["anti_affinity: *l\(depth)"]).joined(separator: "\n") + "\n"
    }

    func testAnAliasAsAMappingKeyIsRefusedBeforeItIsHashed() {
        // With no bound on the expanded size, the key alone is refused, at once and at its position:
        // before the fix, depth 7 took a minute and depth 9 did not finish.
        let unbounded = TopologyLimits(maxNodes: 1 << 40)
        for depth in [5, 7, 9] {
            let t = aliasKeyBomb(depth: depth)
            let start = ContinuousClock.now
            guard let outcome = parse(t, within: 10, limits: unbounded) else { continue }
            XCTAssertLessThan(ContinuousClock.now - start, .seconds(1), "depth \(depth): refused at once, not after hashing 10^\(depth) nodes")
            XCTAssertEqual(outcome.diagnostics.map(\.code), [.aliasKey], "depth \(depth)")
            let at = locate("? *a\(depth)", in: t)
            XCTAssertEqual(outcome.diagnostics.first.map { [$0.location.line, $0.location.column] }, [at.line, at.column + 2])
            XCTAssertTrue(outcome.diagnostics.first?.description.contains("the alias *a\(depth) is used as a mapping key") == true)
        }
        // Under the standard limits the deeper anchors are already too large; refused either way, at once.
        XCTAssertEqual(parse(aliasKeyBomb(depth: 5))?.diagnostics.map(\.code), [.aliasKey])
        XCTAssertEqual(parse(aliasKeyBomb(depth: 9), within: 10)?.diagnostics.map(\.code), [.tooLarge])
        // Inside a complex key, and a scalar alias as a plain key, too.
        XCTAssertEqual(parse(baseSite + "\nk: &k [a]\nm:\n  ? [x, *k]\n  : v\n")?.diagnostics.map(\.code), [.aliasKey])
        XCTAssertEqual(parse(baseSite + "\nk: &k word\nm:\n  *k : v\n")?.diagnostics.map(\.code), [.aliasKey])
    }

    func testAliasesThatExpandPastTheNodeLimitAreRefused() {
        let bomb = billionLaughs(depth: 9)
        let d = parse(bomb)?.diagnostics ?? []
        XCTAssertEqual(d.map(\.code), [.tooLarge])
        XCTAssertTrue(d.first?.message.contains("expands to more than 2000000 YAML nodes once its aliases are resolved") == true, "\(d)")
        // The bound is on the expanded size, not the file's: a small bomb under a small limit.
        let small = billionLaughs(depth: 3)
        XCTAssertEqual(parse(small, limits: TopologyLimits(maxNodes: 1000))?.diagnostics.map(\.code), [.tooLarge])
        XCTAssertFalse(parse(small)?.diagnostics.contains { $0.code == .tooLarge } ?? true)
    }

    func testNestingPastTheDepthLimitIsRefused() {
        let t = "site: " + String(repeating: "[", count: 500) + String(repeating: "]", count: 500) + "\n"
        let d = parse(t)?.diagnostics ?? []
        XCTAssertEqual(d.map(\.code), [.tooDeep])
        XCTAssertEqual(d.first?.location.line, 1)
        XCTAssertTrue(d.first?.message.contains("nested more than 64 deep") == true, "\(d)")
    }

    func testOrdinaryAliasesStillLoad() throws {
        let shared = edited("    check: {kind: http", "    check: &web {kind: http").replacingOccurrences(of: "directors:\n", with: """
          - name: gums2
            vip: 10.0.9.2
            port: 8443
            members: [{vm: g1, port: 9000}]
            check: *web
        directors:

        """)
        let t = try TopologyLoader.parse(data: Data(shared.utf8), file: "site.yaml").topology
        XCTAssertEqual(t.services.map(\.name), ["gums", "gums2"])
        XCTAssertEqual(t.services[1].check, t.services[0].check)
    }

    func testAFileOverTheSizeLimitIsRefusedBeforeItIsParsed() throws {
        let path = try temporaryFile(baseSite)
        let limits = TopologyLimits(maxFileBytes: 100)
        let d = load(path: path, limits: limits)?.diagnostics ?? []
        XCTAssertEqual(d.map(\.code), [.tooLarge])
        XCTAssertEqual(d.first?.message, "the file is \(baseSite.utf8.count) bytes; a topology file may hold at most 100 bytes")
        XCTAssertEqual(parse(baseSite, limits: limits)?.diagnostics.map(\.code), [.tooLarge])
    }

    // MARK: 6. Addresses and interfaces that cannot work

    func testVIPsThatCannotWorkAreRefusedWithTheReason() {
        let cases: [(vip: String, what: String)] = [
            ("0.0.0.0", "is the unspecified address"), ("\"::\"", "is the unspecified address"),
            ("0.1.2.3", "0.0.0.0/8"), ("255.255.255.255", "the limited broadcast address"),
            ("127.0.0.1", "a loopback address"), ("127.1.2.3", "a loopback address"), ("\"::1\"", "the loopback address"),
            ("224.0.0.18", "the VRRP multicast group (RFC 5798 §5.1.1.2)"), ("239.1.2.3", "a multicast address"),
            ("\"ff02::12\"", "the VRRP multicast group (RFC 5798 §5.1.2.2)"), ("\"ff05::1\"", "a multicast address"),
            ("240.0.0.1", "reserved block 240.0.0.0/4"), ("\"::ffff:10.0.9.1\"", "an IPv4-mapped IPv6 address"),
        ]
        for c in cases {
            let t = edited("vip: 10.0.9.1", "vip: \(c.vip)")
            let d = assertDiagnostic(in: t, .unusableAddress, at: c.vip, mentions: c.what)
            XCTAssertEqual(d?.keyPath, "services[0].vip")
            XCTAssertTrue(d?.message.hasPrefix("VIP ") == true, "\(d.map { "\($0)" } ?? "")")
            XCTAssertEqual(diagnostics(t).count, 1, "\(diagnostics(t))")
        }
        XCTAssertEqual(diagnostics(edited("vip: 10.0.9.1", "vip: 192.0.2.200")), [])
    }

    func testAWitnessTheSplitBrainRuleCannotLearnFromIsRefused() {
        func witness(_ w: String) -> String { edited("  interface: eth0", "  interface: eth0\n  witness: \(w)") }
        assertDiagnostic(in: witness("10.0.9.1"), .unusableAddress, at: "10.0.9.1", occurrence: 2,
                         mentions: "witness 10.0.9.1 is the VIP of service gums: the director holding it answers for itself (directors.witness)")
        assertDiagnostic(in: witness("10.0.0.2"), .unusableAddress, at: "10.0.0.2", occurrence: 2,
                         mentions: "witness 10.0.0.2 is an address of director d2, a member of this pair")
        assertDiagnostic(in: witness("127.0.0.1"), .unusableAddress, at: "127.0.0.1", mentions: "witness 127.0.0.1 is a loopback address")
        assertDiagnostic(in: witness("224.0.0.18"), .unusableAddress, at: "224.0.0.18", mentions: "the VRRP multicast group")
        XCTAssertEqual(diagnostics(witness("192.0.2.254")), [])
    }

    func testInterfaceNamesFollowTheKernelsRules() {
        let bad: [(name: String, what: String)] = [
            ("abcdefghijklmnop", "interface name 'abcdefghijklmnop' is 16 bytes long"), ("eth0-with-long-name", "is 19 bytes long"),
            ("eth/0", "contains '/'"), ("\"eth 0\"", "contains a space"), ("\"eth\\t0\"", "a control or whitespace character"),
            ("\"\"", "an empty interface name"), ("\"eth0:1\"", "contains ':'"), ("\".\"", "'.' is not an interface name"),
            ("\"..\"", "'..' is not an interface name"), ("\"" + String(repeating: "\u{00e9}", count: 8) + "x\"", "is 17 bytes long"),
        ]
        for b in bad {
            let d = assertDiagnostic(in: edited("interface: eth0", "interface: \(b.name)"), .badInterface, at: b.name, mentions: b.what)
            XCTAssertTrue(d?.hint.contains("1 to 15 bytes") == true)
            XCTAssertEqual(d?.keyPath, "directors.interface")
        }
        for good in ["abcdefghijklmno", "bond0.100", "br-lan", "enp0s31f6", "wg+vpn", "eth0"] {
            XCTAssertEqual(diagnostics(edited("interface: eth0", "interface: \(good)")), [], good)
        }
    }

    // MARK: 9. Messages: what the path is, one error per mistake, in file order, hints once

    func testADirectoryIsRefusedAsADirectory() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tandem-topology-dir-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let d = load(path: dir)?.diagnostics ?? []
        XCTAssertEqual(d.map(\.code), [.notRegularFile])
        XCTAssertEqual(d.first?.description, "\(dir):1:1: error: the path is a directory, not a topology file — pass the topology's .yaml file, not the directory that holds it")
    }

    func testAFIFOIsRefusedWithoutWaitingForAWriter() throws {
        let fifo = FileManager.default.temporaryDirectory.appendingPathComponent("tandem-topology-fifo-\(UUID().uuidString)").path
        XCTAssertEqual(mkfifo(fifo, 0o600), 0, "mkfifo \(fifo): errno \(errno)")
        defer { unlink(fifo) }
        // Without the fix the loader blocks in open(2); a writer that opens and closes releases it.
        let d = load(path: fifo, unblock: { let fd = open(fifo, O_WRONLY | O_NONBLOCK); if fd >= 0 { close(fd) } })?.diagnostics ?? []
        XCTAssertEqual(d.map(\.code), [.notRegularFile])
        XCTAssertTrue(d.first?.message.contains("the path is a FIFO (named pipe), not a topology file") == true, "\(d)")
    }

    func testALinkToADeviceIsRefusedNamingTheDevice() throws {
        let link = FileManager.default.temporaryDirectory.appendingPathComponent("tandem-topology-zero-\(UUID().uuidString).yaml").path
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "/dev/zero")
        defer { unlink(link) }
        let d = load(path: link)?.diagnostics ?? []
        XCTAssertEqual(d.map(\.code), [.notRegularFile])
        XCTAssertEqual(d.first?.message, "the path is a character device, not a topology file (it resolves to /dev/zero)")
        XCTAssertFalse(d.description.contains("permission"))
        XCTAssertEqual(load(path: "/dev/null")?.diagnostics.map(\.code), [.notRegularFile])
    }

    func testAMissingFileSaysSoPlainly() {
        let d = load(path: "/nonexistent/site.yaml")?.diagnostics ?? []
        XCTAssertEqual(d.first?.description, "/nonexistent/site.yaml:1:1: error: cannot read the file (No such file or directory) — check the path: no file by that name exists")
    }

    func testOneBadHostFieldIsOneErrorNotTen() throws {
        var text = try String(contentsOfFile: repoRoot.appendingPathComponent("topology/fermigrid-ha.yaml").path, encoding: .utf8)
        text.replaceSubrange(try XCTUnwrap(text.range(of: "cpus: 8")), with: "cpus: eight")
        let d = diagnostics(text)
        XCTAssertEqual(d.map(\.code), [.typeMismatch], d.map(\.description).joined(separator: "\n"))
        XCTAssertEqual(d.first?.keyPath, "hosts[0].cpus")
    }

    func testASectionThatFailsWholeDoesNotCascadeIntoUnknownReferences() {
        let t = edited("""
        vms:
          - {name: d1, role: director, vcpus: 1, memory: 1GiB, addresses: [10.0.0.1/24]}
          - {name: d2, role: director, vcpus: 1, memory: 1GiB, addresses: [10.0.0.2/24]}
          - {name: g1, role: gums, vcpus: 1, memory: 1GiB, addresses: [10.0.1.1/24, "2001:db8::1/64"]}
          - {name: g2, role: gums, vcpus: 1, memory: 1GiB, addresses: [10.0.1.2/24, "2001:db8::2/64"]}
        """, "vms: five")
        XCTAssertEqual(diagnostics(t).map(\.code), [.typeMismatch], "\(diagnostics(t))")
        // A VM whose name cannot be read may be the one a service names: no "unknown VM" either.
        let unnamed = edited("{name: g2, role: gums", "{name: [g2], role: gums")
        XCTAssertEqual(diagnostics(unnamed).map(\.code), [.typeMismatch], "\(diagnostics(unnamed))")
    }

    func testValidKeysHintNamesEachKeyOnce() {
        let d = assertDiagnostic(in: "zzzzzz: 1\n" + baseSite, .unknownKey, at: "zzzzzz", mentions: "valid keys here:")
        let keys = d?.hint.components(separatedBy: "valid keys here: ").last?.components(separatedBy: ", ")
        XCTAssertEqual(keys, ["site", "placement", "hosts", "vms", "machines", "services", "directors", "database", "anti_affinity", "daemon", "domain_templates"])
    }

    func testDiagnosticsAreInFileOrderWithoutRepeats() {
        let a = Diagnostic(.badValue, at: SourceLocation(file: "f", line: 2, column: 1), keyPath: "a", "a", hint: "h")
        let b = Diagnostic(.badValue, at: SourceLocation(file: "f", line: 1, column: 9), keyPath: "b", "b", hint: "h")
        let c = Diagnostic(.badPort, at: SourceLocation(file: "f", line: 2, column: 1), keyPath: "c", "c", hint: "h")
        XCTAssertEqual(TopologyDiagnostics([a, c, b, a]).diagnostics, [b, a, c], "sorted by position; ties keep their order; repeats dropped")
    }

    func temporaryFile(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tandem-topology-\(UUID().uuidString).yaml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }
}
