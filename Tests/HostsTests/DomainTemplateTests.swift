import Hosts
import Net
import Topology
import XCTest

/// Filling in a domain template for a VM: values, escaping, the derived MAC, located errors.
final class DomainTemplateTests: XCTestCase {
    let vm = DomU(name: "g1", role: .gums, vcpus: 2, memoryMiB: 512,
                  addresses: [InterfaceAddress(address: IPAddress("10.0.1.1")!, prefixLength: 24)],
                  domain: VMDomain(source: .template("web"), values: ["port": "8443", "note": "a<b & 'c' \"d\""]))

    let template = """
        <domain type='lxc'>
          <name>{{name}}</name>
          <memory unit='KiB'>{{memory_kib}}</memory><currentMemory unit='MiB'>{{ memory_mib }}</currentMemory>
          <vcpu>{{vcpus}}</vcpu>
          <description>{{note}}</description>
          <interface><mac address='{{mac}}'/><ip address='{{address}}' prefix='{{prefix}}'/><port>{{port}}</port></interface>
        </domain>
        """

    func testEveryPlaceholderIsFilledInAndValuesAreEscaped() throws {
        let d = try DomainTemplate.render(template: template, path: "/t/web.xml", vm: vm)
        XCTAssertEqual(d.name, "g1")
        let mac = DomainTemplate.mac(forVM: "g1")
        XCTAssertEqual(d.xml, """
            <domain type='lxc'>
              <name>g1</name>
              <memory unit='KiB'>524288</memory><currentMemory unit='MiB'>512</currentMemory>
              <vcpu>2</vcpu>
              <description>a&lt;b &amp; &#39;c&#39; &quot;d&quot;</description>
              <interface><mac address='\(mac)'/><ip address='10.0.1.1' prefix='24'/><port>8443</port></interface>
            </domain>
            """)
    }

    func testTheMACIsLocallyAdministeredAndFollowsTheNameOnly() {
        let mac = DomainTemplate.mac(forVM: "g1")
        XCTAssertTrue(mac.hasPrefix("52:54:00:"), mac)
        XCTAssertEqual(mac.count, 17)
        XCTAssertTrue(mac.allSatisfy { $0 == ":" || $0.isHexDigit && !$0.isUppercase }, mac)
        XCTAssertEqual(mac, DomainTemplate.mac(forVM: "g1"), "the same on every call, host and run")
        // FNV-1a of "g1", low three bytes: computed independently here.
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in "g1".utf8 { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
        XCTAssertEqual(mac, String(format: "52:54:00:%02x:%02x:%02x", (h >> 16) & 0xff, (h >> 8) & 0xff, h & 0xff))
        let many = Set((0..<1000).map { DomainTemplate.mac(forVM: "vm\($0)") })
        XCTAssertGreaterThan(many.count, 990, "names spread over the 24 bits")
    }

    func testAnUnknownPlaceholderIsRefusedAtItsLineAndColumnWithTheKnownKeys() {
        let text = "<domain>\n  <name>{{name}}</name>\n  <x>{{bridge}}</x>\n</domain>"
        XCTAssertThrowsError(try DomainTemplate.render(template: text, path: "/t/web.xml", vm: vm)) { e in
            let e = e as! DomainTemplateError
            XCTAssertEqual(e.code, .unknownPlaceholder)
            XCTAssertEqual(e.line, 3); XCTAssertEqual(e.column, 6)
            XCTAssertTrue(e.description.hasPrefix("/t/web.xml:3:6: error: placeholder {{bridge}} has no value for VM g1"), e.description)
            XCTAssertTrue(e.hint.contains("address, mac, memory_kib, memory_mib, name, note, port, prefix, vcpus"), e.hint)
            XCTAssertTrue(e.hint.contains("domain.values"), e.hint)
        }
    }

    func testAnUnterminatedPlaceholderIsRefused() {
        let text = "<domain>\n  <name>{{name</name>\n</domain>"
        XCTAssertThrowsError(try DomainTemplate.render(template: text, path: "/t/web.xml", vm: vm)) { e in
            let e = e as! DomainTemplateError
            XCTAssertEqual(e.code, .unterminatedPlaceholder)
            XCTAssertEqual("\(e.line):\(e.column)", "2:9")
        }
    }

    func testTheRenderedNameMustBeTheVMs() {
        XCTAssertThrowsError(try DomainTemplate.render(template: "<domain><name>web</name></domain>", path: "/t/web.xml", vm: vm)) { e in
            let e = e as! DomainTemplateError
            XCTAssertEqual(e.code, .nameMismatch)
            XCTAssertTrue(e.hint.contains("<name>{{name}}</name>"), e.hint)
        }
        XCTAssertThrowsError(try DomainTemplate.render(template: "<domain type='lxc'/>", path: "/t/web.xml", vm: vm)) { e in
            XCTAssertEqual((e as! DomainTemplateError).code, .missingName)
        }
    }

    func testAnXMLFileIsUsedAsWrittenWhenItsNameIsTheVMs() throws {
        let xml = "<domain>\n  <name> g1 </name>{{kept}}\n</domain>"
        XCTAssertEqual(try DomainTemplate.definition(xml: xml, path: "/d/g1.xml", vm: vm), DomainDefinition(name: "g1", xml: xml))
        XCTAssertThrowsError(try DomainTemplate.definition(xml: "<domain>\n  <name>g2</name>\n</domain>", path: "/d/g1.xml", vm: vm)) { e in
            let e = e as! DomainTemplateError
            XCTAssertTrue(e.description.hasPrefix("/d/g1.xml:2:3: error: the domain's <name> is 'g2', not the VM's name 'g1'"), e.description)
        }
    }
}
