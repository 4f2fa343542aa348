import Foundation
import XCTest
@testable import Topology

/// `hosts[].fence`, `vms[].domain` and `domain_templates`: read into the model, and every mistake
/// refused at its line and column with the key path and what to do.
final class HostFenceDomainTests: XCTestCase {
    /// ``baseSite`` with a fence device on h1, templates, and a domain for each gums VM.
    static let site = baseSite
        .replacingOccurrences(of: "  - {name: h1, address: 192.0.2.1, cpus: 4, memory: 8GiB, labels: {rack: r1}}", with: """
              - name: h1
                address: 192.0.2.1
                cpus: 4
                memory: 8GiB
                labels: {rack: r1}
                fence:
                  agent: fence_ipmilan
                  options: {ip: 192.0.2.101, username: admin, lanplus: 1}
                  secret_files: {passwd: /etc/tandem/secrets/fence-h1}
            """.replacingOccurrences(of: "            ", with: ""))
        .replacingOccurrences(of: "vms:\n", with: "domain_templates: {gums: /etc/tandem/domains/gums.xml, other: /etc/tandem/domains/other.xml}\nvms:\n")
        .replacingOccurrences(of: "addresses: [10.0.1.1/24, \"2001:db8::1/64\"]}",
                              with: "addresses: [10.0.1.1/24, \"2001:db8::1/64\"], domain: {template: gums, values: {port: \"8443\"}}}")
        .replacingOccurrences(of: "addresses: [10.0.1.2/24, \"2001:db8::2/64\"]}",
                              with: "addresses: [10.0.1.2/24, \"2001:db8::2/64\"], domain: {xml_file: /etc/tandem/domains/g2.xml}}")

    func load(_ text: String) throws -> Topology { try TopologyLoader.parse(data: Data(text.utf8), file: "site.yaml").topology }

    func replaced(_ old: String, _ new: String, file: StaticString = #filePath, line: UInt = #line) -> String {
        XCTAssertTrue(Self.site.contains(old), "test edit target not found: \(old)", file: file, line: line)
        return Self.site.replacingOccurrences(of: old, with: new)
    }

    func testFenceDomainAndTemplatesAreReadWithTheirDefaults() throws {
        let t = try load(Self.site)
        let fence = try XCTUnwrap(t.host(named: "h1")?.fence)
        XCTAssertEqual(fence, HostFence(agent: "fence_ipmilan", options: ["ip": "192.0.2.101", "username": "admin", "lanplus": "1"],
                                        secretFiles: ["passwd": "/etc/tandem/secrets/fence-h1"], timeoutSeconds: 30, attempts: 3))
        XCTAssertNil(t.host(named: "h2")?.fence)
        XCTAssertEqual(t.domainTemplates, ["gums": "/etc/tandem/domains/gums.xml", "other": "/etc/tandem/domains/other.xml"])
        XCTAssertEqual(t.vm(named: "g1")?.domain, VMDomain(source: .template("gums"), values: ["port": "8443"]))
        XCTAssertEqual(t.vm(named: "g2")?.domain, VMDomain(source: .xmlFile("/etc/tandem/domains/g2.xml")))
        XCTAssertNil(t.vm(named: "d1")?.domain)
    }

    func testFenceTimeoutAndAttemptsAreReadAndBounded() throws {
        let t = try load(replaced("      agent: fence_ipmilan\n", "      agent: /usr/sbin/fence_ipmilan\n      timeout: 2500ms\n      attempts: 10\n"))
        XCTAssertEqual(t.host(named: "h1")?.fence?.timeoutSeconds, 2.5)
        XCTAssertEqual(t.host(named: "h1")?.fence?.attempts, 10)
        XCTAssertEqual(t.host(named: "h1")?.fence?.agent, "/usr/sbin/fence_ipmilan")

        var text = replaced("      agent: fence_ipmilan\n", "      agent: fence_ipmilan\n      attempts: 11\n")
        var at = locate("11", in: text)
        assertDiagnostic(diagnostics(text), .badValue, line: at.line, column: at.column, mentions: "(hosts[0].fence.attempts) — use a value from 1 to 10")
        text = replaced("      agent: fence_ipmilan\n", "      agent: fence_ipmilan\n      timeout: 0s\n")
        at = locate("0s", in: text)
        assertDiagnostic(diagnostics(text), .badValue, line: at.line, column: at.column, mentions: "hosts[0].fence.timeout")
    }

    func testAnInlineSecretIsRefusedWithAHintToUseASecretFile() {
        let text = replaced("username: admin,", "username: admin, password: hunter2,")
        let at = locate("password", in: text)
        let d = assertDiagnostic(diagnostics(text), .badValue, line: at.line, column: at.column + 10, mentions: "holds a secret")
        XCTAssertTrue(d?.description.contains("(hosts[0].fence.options.password)") == true, d?.description ?? "")
        XCTAssertTrue(d?.description.contains("secret_files: {password: /etc/tandem/secrets/fence-password}") == true, d?.description ?? "")
        XCTAssertFalse(d?.description.contains("hunter2") == true, "the secret itself must not be echoed: \(d?.description ?? "")")
        for key in ["passwd", "passwd_script", "snmp_priv_passwd", "PASSWORD"] {
            let diags = diagnostics(replaced("username: admin,", "username: admin, \(key): x,"))
            XCTAssertEqual(diags.map(\.code), [.badValue], "\(key): \(diags)")
        }
    }

    func testAMissingAgentAndABadAgentAreRefused() {
        var text = replaced("      agent: fence_ipmilan\n", "")
        let diags = diagnostics(text)
        XCTAssertTrue(diags.contains { $0.code == .missingKey && $0.keyPath == "hosts[0].fence.agent" && $0.hint.contains("fence_ipmilan") }, "\(diags)")
        text = replaced("agent: fence_ipmilan", "agent: \"fence_ipmilan -o off\"")
        let at = locate("\"fence_ipmilan -o off\"", in: text)
        assertDiagnostic(diagnostics(text), .badValue, line: at.line, column: at.column, mentions: "neither a program name nor an absolute path")
        XCTAssertEqual(diagnostics(replaced("agent: fence_ipmilan", "agent: bin/fence_ipmilan")).map(\.code), [.badValue])
    }

    /// The options become `key=value` lines on the agent's stdin: nothing may smuggle in another line.
    func testHostileFenceOptionsCannotInjectAnotherOptionLine() {
        var text = replaced("username: admin,", "username: \"admin\\naction=on\",")
        var diags = diagnostics(text)
        XCTAssertEqual(diags.map(\.code), [.badValue], "\(diags)")
        XCTAssertTrue(diags.first?.description.contains("line break") == true, "\(diags)")
        XCTAssertTrue(diags.first?.keyPath == "hosts[0].fence.options.username", "\(diags)")

        text = replaced("username: admin,", "\"user=root\": admin,")
        diags = diagnostics(text)
        XCTAssertEqual(diags.map(\.code), [.badValue], "\(diags)")
        XCTAssertTrue(diags.first?.description.contains("not a fence-agent option name") == true, "\(diags)")

        text = replaced("username: admin,", "action: reboot,")
        diags = diagnostics(text)
        XCTAssertEqual(diags.map(\.code), [.badValue], "\(diags)")
        XCTAssertTrue(diags.first?.hint.contains("remove `action:`") == true, "\(diags)")

        text = replaced("lanplus: 1}", "lanplus: 1, passwd_file: x}").replacingOccurrences(of: "passwd_file: x", with: "ip2: [a, b]")
        XCTAssertEqual(diagnostics(text).map(\.code), [.typeMismatch])
    }

    func testASecretFileMustBeAnAbsolutePathAndNotAlsoAnOption() {
        var text = replaced("passwd: /etc/tandem/secrets/fence-h1", "passwd: fence-h1.pw")
        let at = locate("fence-h1.pw", in: text)
        assertDiagnostic(diagnostics(text), .badValue, line: at.line, column: at.column, mentions: "is not an absolute path (hosts[0].fence.secret_files.passwd)")
        text = replaced("secret_files: {passwd: /etc/tandem/secrets/fence-h1}", "secret_files: {ip: /etc/tandem/secrets/ip}")
        let diags = diagnostics(text)
        XCTAssertEqual(diags.map(\.keyPath), ["hosts[0].fence.secret_files.ip"], "\(diags)")
        XCTAssertTrue(diags.first?.hint == "keep it in secret_files only", "\(diags)")
    }

    func testAnUnknownTemplateIsRefusedAtItsKeyNamingTheKnownOnes() {
        let text = replaced("domain: {template: gums,", "domain: {template: gumz,")
        let at = locate("gumz", in: text)
        let d = assertDiagnostic(diagnostics(text), .unknownReference, line: at.line, column: at.column,
                                 mentions: "unknown domain template 'gumz' (vms[2].domain.template)")
        XCTAssertTrue(d?.hint.contains("did you mean 'gums'?") == true, d?.hint ?? "")
        XCTAssertTrue(d?.hint.contains("known templates: gums, other") == true, d?.hint ?? "")
        // Without any templates the hint says so.
        let none = text.replacingOccurrences(of: "domain_templates: {gums: /etc/tandem/domains/gums.xml, other: /etc/tandem/domains/other.xml}\n", with: "")
        XCTAssertTrue(diagnostics(none).contains { $0.hint.contains("no templates are declared") }, "\(diagnostics(none))")
    }

    func testABadTemplatePathIsOneErrorNotOnePerVMNamingIt() {
        let text = replaced("gums: /etc/tandem/domains/gums.xml", "gums: domains/gums.xml")
        let diags = diagnostics(text)
        XCTAssertEqual(diags.count, 1, "\(diags)")
        let at = locate("domains/gums.xml", in: text)
        assertDiagnostic(diags, .badValue, line: at.line, column: at.column, mentions: "(domain_templates.gums) — write the full path")
    }

    func testADomainNeedsExactlyOneSource() {
        var diags = diagnostics(replaced("domain: {xml_file: /etc/tandem/domains/g2.xml}", "domain: {values: {a: b}}"))
        XCTAssertEqual(diags.map(\.code), [.missingKey], "\(diags)")
        XCTAssertTrue(diags.first?.hint.contains("template: NAME") == true, "\(diags)")
        diags = diagnostics(replaced("domain: {xml_file: /etc/tandem/domains/g2.xml}", "domain: {template: gums, xml_file: /etc/tandem/domains/g2.xml}"))
        XCTAssertEqual(diags.map(\.keyPath), ["vms[3].domain.template"], "\(diags)")
        diags = diagnostics(replaced("domain: {xml_file: /etc/tandem/domains/g2.xml}", "domain: {xml_file: /etc/tandem/domains/g2.xml, values: {a: b}}"))
        XCTAssertEqual(diags.map(\.keyPath), ["vms[3].domain.values"], "\(diags)")
        XCTAssertTrue(diags.first?.message.contains("would be ignored") == true, "\(diags)")
        diags = diagnostics(replaced("domain: {xml_file: /etc/tandem/domains/g2.xml}", "domain: {xml_file: g2.xml}"))
        XCTAssertEqual(diags.map(\.keyPath), ["vms[3].domain.xml_file"], "\(diags)")
        diags = diagnostics(replaced("domain: {xml_file: /etc/tandem/domains/g2.xml}", "domain: {xml: /etc/g2.xml}"))
        XCTAssertTrue(diags.contains { $0.code == .unknownKey && $0.hint.contains("xml_file") }, "\(diags)")
    }
}

extension HostFenceDomainTests {
    func testAValueMayNotRedefineWhatTandemFillsIn() {
        let text = replaced("values: {port: \"8443\"}", "values: {port: \"8443\", mac: \"02:00:00:00:00:01\"}")
        let diags = diagnostics(text)
        XCTAssertEqual(diags.map(\.keyPath), ["vms[2].domain.values.mac"], "\(diags)")
        XCTAssertTrue(diags.first?.message.contains("filled in by Tandem") == true, "\(diags)")
    }
}
