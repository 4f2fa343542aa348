import Foundation
import Net
import XCTest

final class IPAddressTests: XCTestCase {
    func testIPv4ParsesAndPrints() {
        XCTAssertEqual(IPAddress("192.0.2.10")?.bytes, [192, 0, 2, 10])
        XCTAssertEqual(IPAddress("192.0.2.10")?.description, "192.0.2.10")
        for bad in ["256.0.0.1", "1.2.3", "1.2.3.4.5", "01.2.3.4", "1..2.3", "", "a.b.c.d", " 1.2.3.4"] {
            XCTAssertNil(IPAddress(bad), bad)
        }
    }

    func testIPv6ParsesAndPrintsCanonically() {
        XCTAssertEqual(IPAddress("2001:DB8:0:0:0:0:0:1")?.description, "2001:db8::1")
        XCTAssertEqual(IPAddress("::1")?.bytes, [UInt8](repeating: 0, count: 15) + [1])
        XCTAssertEqual(IPAddress("::")?.description, "::")
        XCTAssertEqual(IPAddress("::ffff:192.0.2.1")?.description, "::ffff:c000:201")
        XCTAssertEqual(IPAddress("2001:db8:0:1:0:0:0:1")?.description, "2001:db8:0:1::1", "longest zero run compressed")
        XCTAssertEqual(IPAddress("2001:db8:1:0:1:0:1:0")?.description, "2001:db8:1:0:1:0:1:0", "no single-group compression")
        for bad in ["::1::2", "2001:db8:::1", "12345::", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", "::g", "1.2.3.4::"] {
            XCTAssertNil(IPAddress(bad), bad)
        }
    }

    func testOrderingPutsIPv4First() {
        let a = [IPAddress("2001:db8::1")!, IPAddress("10.0.0.2")!, IPAddress("10.0.0.1")!].sorted()
        XCTAssertEqual(a.map(\.description), ["10.0.0.1", "10.0.0.2", "2001:db8::1"])
    }

    func testInterfaceAddressPrefix() {
        XCTAssertEqual(try InterfaceAddress.parse("10.0.0.1/24").get().prefixLength, 24)
        XCTAssertEqual(InterfaceAddress.parse("10.0.0.1/33"), .failure(.badPrefix("33", family: .v4)))
        XCTAssertEqual(InterfaceAddress.parse("2001:db8::1/-1"), .failure(.badPrefix("-1", family: .v6)))
        XCTAssertEqual(InterfaceAddress.parse("10.0.0.x/8"), .failure(.badAddress("10.0.0.x")))
    }

    func testWireBytesAndIntegerFormsRoundTrip() {
        let v4 = IPAddress(ipv4: 0xC000_020A)
        XCTAssertEqual(v4.description, "192.0.2.10")
        XCTAssertEqual(v4.ipv4Value, 0xC000_020A)
        XCTAssertEqual(IPAddress(bytes: v4.bytes), v4)
        XCTAssertNil(IPAddress("::1")?.ipv4Value)
        XCTAssertNil(IPAddress(bytes: [1, 2, 3]), "neither 4 nor 16 bytes")
        let v6 = IPAddress("2001:db8::1")!
        XCTAssertEqual(v6.withWireBytes { IPAddress(networkBytes: UnsafeRawBufferPointer(rebasing: $0.prefix(16))) }, v6)
        XCTAssertEqual(v6.withPort(80), "[2001:db8::1]:80")
        XCTAssertEqual(v4.withPort(80), "192.0.2.10:80")
    }

    func testCodableAsItsText() throws {
        let a = [IPAddress("10.0.0.1")!, IPAddress("2001:db8::1")!]
        let json = try JSONEncoder().encode(a)
        XCTAssertEqual(String(decoding: json, as: UTF8.self), #"["10.0.0.1","2001:db8::1"]"#)
        XCTAssertEqual(try JSONDecoder().decode([IPAddress].self, from: json), a)
        XCTAssertThrowsError(try JSONDecoder().decode([IPAddress].self, from: Data(#"["10.0.0.256"]"#.utf8)))
    }
}
