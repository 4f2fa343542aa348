import IPVS
import Netlink
import XCTest
import IPVSModel
import Net

/// Pure wire-format tests: no socket, no kernel.
final class CodecTests: XCTestCase {
    let family: Int32 = 42 // any family id: encoding does not need a socket

    func a(_ s: String) -> IPAddress { IPAddress(s)! }

    func testServiceKeyComparesIdentityOnly() {
        let k1 = ServiceKey.address(.tcp, a("10.0.0.1"), port: 80)
        let k2 = ServiceKey.address(.tcp, a("10.0.0.1"), port: 80)
        XCTAssertEqual(k1, k2)
        XCTAssertNotEqual(k1, .address(.udp, a("10.0.0.1"), port: 80))
        XCTAssertNotEqual(k1, .address(.tcp, a("10.0.0.1"), port: 81))
        XCTAssertNotEqual(ServiceKey.fwmark(7, family: .v4), .fwmark(7, family: .v6))
        XCTAssertEqual(ServiceKey.address(.tcp, a("fd00::1"), port: 80).family, .v6)
        let s1 = IPVSService(key: k1, scheduler: "rr"), s2 = IPVSService(key: k2, scheduler: "wlc")
        XCTAssertEqual(s1.key, s2.key)
        XCTAssertNotEqual(s1, s2)
    }

    func testAddressParsingAndPrinting() {
        XCTAssertEqual(a("10.1.2.3").bytes, [10, 1, 2, 3])
        XCTAssertEqual(a("fd00::1").description, "fd00::1")
        XCTAssertEqual(a("fd00::1").withPort(80), "[fd00::1]:80")
        XCTAssertNil(IPAddress("10.0.0.256"))
        XCTAssertEqual(DestinationKey(address: a("10.0.0.2"), port: 8080),
                       IPVSDestination(address: a("10.0.0.2"), port: 8080, weight: 5).key)
    }

    func testNewServiceEncodesEveryAttributeTheKernelRequires() throws {
        let svc = IPVSService(key: .address(.tcp, a("10.0.0.1"), port: 443), scheduler: "mh",
                              flags: [.schedFlag1, .schedFlag2], persistence: Persistence(timeout: 300, netmask: 0xffff_ff00))
        let m = try IPVSCodec.encode(.addService(svc), family: family)
        let bytes = m.bytes
        XCTAssertEqual(bytes[16], IPVSWire.Command.newService.value, "genl command byte")
        let top = try m.parsedAttributes()
        let nest = try XCTUnwrap(try top.nested(IPVSWire.CmdAttr.service))
        XCTAssertEqual(nest.u16(IPVSWire.ServiceAttr.af), 2)
        XCTAssertEqual(nest.u16(IPVSWire.ServiceAttr.protocol), 6)
        XCTAssertEqual(nest.payload(IPVSWire.ServiceAttr.addr).map(Array.init), [10, 0, 0, 1] + [UInt8](repeating: 0, count: 12))
        XCTAssertEqual(nest.be16(IPVSWire.ServiceAttr.port), 443)
        XCTAssertEqual(nest.string(IPVSWire.ServiceAttr.schedName), "mh")
        XCTAssertEqual(nest.u32(IPVSWire.ServiceAttr.timeout), 300)
        XCTAssertEqual(nest.be32(IPVSWire.ServiceAttr.netmask), 0xffff_ff00)
        let flags = try XCTUnwrap(nest.payload(IPVSWire.ServiceAttr.flags))
        XCTAssertEqual(Array(flags.prefix(4)), [0x19, 0, 0, 0], "persistent|sched1|sched2")
        // And it decodes back to the same service.
        let (decoded, _) = try IPVSCodec.decodeService(nest)
        XCTAssertEqual(decoded, svc)
    }

    func testIPv6AndFwmarkServicesRoundTripThroughTheCodec() throws {
        let services = [
            IPVSService(key: .address(.udp, a("2001:db8::53"), port: 53), scheduler: "sh", flags: [.schedFlag2],
                        persistence: Persistence(timeout: 60, netmask: 64)),
            IPVSService(key: .fwmark(99, family: .v4), scheduler: "fo"),
            IPVSService(key: .fwmark(100, family: .v6), scheduler: "lblcr", flags: [.onePacket]),
        ]
        for svc in services {
            let m = try IPVSCodec.encode(.editService(svc), family: family)
            XCTAssertEqual(m.bytes[16], IPVSWire.Command.setService.value)
            let nest = try XCTUnwrap(try m.parsedAttributes().nested(IPVSWire.CmdAttr.service))
            XCTAssertEqual(try IPVSCodec.decodeService(nest).0, svc)
        }
    }

    func testDestinationEncodingCarriesForwardingWeightThresholdsAndTunnel() throws {
        let key = ServiceKey.address(.tcp, a("10.0.0.1"), port: 80)
        let d = IPVSDestination(address: a("10.0.1.5"), port: 8080, forwarding: .tunnel, weight: 7,
                                upperThreshold: 100, lowerThreshold: 10, tunnelType: .gue, tunnelPort: 6080, tunnelFlags: 1)
        let m = try IPVSCodec.encode(.addDestination(key, d), family: family)
        let top = try m.parsedAttributes()
        XCTAssertNotNil(try top.nested(IPVSWire.CmdAttr.service))
        let nest = try XCTUnwrap(try top.nested(IPVSWire.CmdAttr.dest))
        XCTAssertEqual(nest.u32(IPVSWire.DestAttr.fwdMethod), 2)
        XCTAssertEqual(nest.u32(IPVSWire.DestAttr.weight), 7)
        XCTAssertEqual(nest.be16(IPVSWire.DestAttr.port), 8080)
        XCTAssertEqual(nest.be16(IPVSWire.DestAttr.tunPort), 6080)
        XCTAssertEqual(try IPVSCodec.decodeDestination(nest, serviceFamily: .v4).destination, d)
        // A delete carries only the identity.
        let del = try IPVSCodec.encode(.deleteDestination(key, d.key), family: family)
        let dn = try XCTUnwrap(try del.parsedAttributes().nested(IPVSWire.CmdAttr.dest))
        XCTAssertNil(dn.u32(IPVSWire.DestAttr.weight))
        XCTAssertEqual(dn.be16(IPVSWire.DestAttr.port), 8080)
    }

    func testMalformedAttributeStreamIsATypedError() {
        // Length 40 in a 8-byte buffer.
        XCTAssertThrowsError(try Attributes(bytes: [40, 0, 1, 0, 0, 0, 0, 0])) { e in
            XCTAssertEqual((e as? NetlinkError)?.code, .malformedReply)
        }
        XCTAssertThrowsError(try IPVSCodec.decodeService(try Attributes(bytes: []))) { e in
            XCTAssertEqual((e as? NetlinkError)?.code, .malformedReply)
        }
    }

    func testKernelErrorCarriesOperationAndErrno() {
        let e = NetlinkError.kernel("IPVS_CMD_NEW_SERVICE", errno: 17)
        XCTAssertEqual(e.code, .kernel)
        XCTAssertEqual(e.errno, 17)
        XCTAssertTrue(e.description.contains("IPVS_CMD_NEW_SERVICE"), e.description)
        XCTAssertTrue(e.description.contains("File exists"), e.description)
    }

    func testTableRendersLikeIpvsadm() {
        let svc = IPVSService(key: .address(.tcp, a("10.0.0.1"), port: 80), scheduler: "wrr",
                              persistence: Persistence(timeout: 300, netmask: 0xffffff00))
        let snap = ServiceSnapshot(service: svc, destinations: [DestinationSnapshot(destination: IPVSDestination(address: a("10.0.1.1"), port: 80, weight: 3))])
        let text = IPVSTable.render([snap], info: IPVSInfo(versionCode: 0x010201, connectionTableSize: 4096))
        XCTAssertTrue(text.contains("IP Virtual Server version 1.2.1 (size=4096)"))
        XCTAssertTrue(text.contains("TCP  10.0.0.1:80 wrr persistent 300 mask 255.255.255.0"), text)
        XCTAssertTrue(text.contains("  -> 10.0.1.1:80"), text)
    }

    func testOperationsPrintPersistenceMasksLikeIpvsadm() {
        let v4 = IPVSService(key: .address(.tcp, a("10.0.0.1"), port: 80), scheduler: "rr",
                             persistence: Persistence(timeout: 300, netmask: 0xffffff00))
        XCTAssertEqual(IPVSOperation.addService(v4).description, "add-service TCP 10.0.0.1:80 rr persistent 300 mask 255.255.255.0")
        let v6 = IPVSService(key: .address(.tcp, a("2001:db8::1"), port: 443), scheduler: "rr",
                             persistence: Persistence(timeout: 60, netmask: 64))
        XCTAssertEqual(IPVSOperation.editService(v6).description, "edit-service TCP [2001:db8::1]:443 rr persistent 60 mask 64")
    }

    // MARK: Golden bytes and inline addresses

    /// The bytes libnl 3.7's `genlmsg_put`/`nla_put`/`nla_nest_*` produce for the same requests
    /// (the encoder used libnl until it moved to Swift for speed; these came from a C program
    /// against the system libnl): the Swift encoder must write exactly these.
    func testEncoderWritesTheBytesLibnlWrote() throws {
        let addService = try IPVSCodec.encode(.addService(IPVSService(
            key: .address(.tcp, a("10.0.0.1"), port: 443), scheduler: "mh", flags: [.schedFlag1, .schedFlag2],
            persistence: Persistence(timeout: 300, netmask: 0xffff_ff00))), family: family)
        XCTAssertEqual(addService.bytes, [
            0x68, 0x00, 0x00, 0x00, 0x2a, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x01, 0x01, 0x00, 0x00, 0x54, 0x00, 0x01, 0x80, 0x06, 0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00,
            0x06, 0x00, 0x02, 0x00, 0x06, 0x00, 0x00, 0x00, 0x14, 0x00, 0x03, 0x00, 0x0a, 0x00, 0x00, 0x01,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x06, 0x00, 0x04, 0x00,
            0x01, 0xbb, 0x00, 0x00, 0x07, 0x00, 0x06, 0x00, 0x6d, 0x68, 0x00, 0x00, 0x0c, 0x00, 0x07, 0x00,
            0x19, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0x08, 0x00, 0x08, 0x00, 0x2c, 0x01, 0x00, 0x00,
            0x08, 0x00, 0x09, 0x00, 0xff, 0xff, 0xff, 0x00,
        ])
        let addDestination = try IPVSCodec.encode(.addDestination(
            .address(.tcp, a("10.0.0.1"), port: 80),
            IPVSDestination(address: a("172.16.0.1"), port: 8080, weight: 3, upperThreshold: 100, lowerThreshold: 10)), family: family)
        XCTAssertEqual(addDestination.bytes, [
            0x8c, 0x00, 0x00, 0x00, 0x2a, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x05, 0x01, 0x00, 0x00, 0x30, 0x00, 0x01, 0x80, 0x06, 0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00,
            0x06, 0x00, 0x02, 0x00, 0x06, 0x00, 0x00, 0x00, 0x14, 0x00, 0x03, 0x00, 0x0a, 0x00, 0x00, 0x01,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x06, 0x00, 0x04, 0x00,
            0x00, 0x50, 0x00, 0x00, 0x48, 0x00, 0x02, 0x80, 0x06, 0x00, 0x0b, 0x00, 0x02, 0x00, 0x00, 0x00,
            0x14, 0x00, 0x01, 0x00, 0xac, 0x10, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x06, 0x00, 0x02, 0x00, 0x1f, 0x90, 0x00, 0x00, 0x08, 0x00, 0x03, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x04, 0x00, 0x03, 0x00, 0x00, 0x00, 0x08, 0x00, 0x05, 0x00,
            0x64, 0x00, 0x00, 0x00, 0x08, 0x00, 0x06, 0x00, 0x0a, 0x00, 0x00, 0x00,
        ])
        let deleteDestination = try IPVSCodec.encode(.deleteDestination(
            .fwmark(7, family: .v6), DestinationKey(address: a("fd00::5"), port: 0)), family: family)
        XCTAssertEqual(deleteDestination.bytes, [
            0x50, 0x00, 0x00, 0x00, 0x2a, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x07, 0x01, 0x00, 0x00, 0x14, 0x00, 0x01, 0x80, 0x06, 0x00, 0x01, 0x00, 0x0a, 0x00, 0x00, 0x00,
            0x08, 0x00, 0x05, 0x00, 0x07, 0x00, 0x00, 0x00, 0x28, 0x00, 0x02, 0x80, 0x06, 0x00, 0x0b, 0x00,
            0x0a, 0x00, 0x00, 0x00, 0x14, 0x00, 0x01, 0x00, 0xfd, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, 0x06, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00,
        ])
    }

    /// libnl drops an empty nest (the kernel rejects one) and pads every attribute to 4 bytes.
    func testMessageDropsEmptyNestsAndPadsAttributes() throws {
        let m = try NetlinkMessage(family: 33, command: 5, version: 1, flags: [.ack])
        try m.nest(1) { (m) throws(NetlinkError) in
            try m.put(2, u16: 0x0102)
            try m.put(3, string: "rr")
        }
        try m.nest(4) { (_) throws(NetlinkError) in }
        try m.put(5, u8: 7)
        XCTAssertEqual(m.bytes, [
            0x30, 0x00, 0x00, 0x00, 0x21, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x05, 0x01, 0x00, 0x00, 0x14, 0x00, 0x01, 0x80, 0x06, 0x00, 0x02, 0x00, 0x02, 0x01, 0x00, 0x00,
            0x07, 0x00, 0x03, 0x00, 0x72, 0x72, 0x00, 0x00, 0x05, 0x00, 0x05, 0x00, 0x07, 0x00, 0x00, 0x00,
        ])
    }

    func testOversizedAttributeIsATypedErrorAndLeavesTheMessageUsable() throws {
        let m = try NetlinkMessage(family: 33, command: 5, version: 1)
        XCTAssertThrowsError(try m.put(1, bytes: [UInt8](repeating: 0, count: 70_000))) { e in
            XCTAssertEqual((e as? NetlinkError)?.code, .libnl)
            XCTAssertTrue("\(e)".contains("65,535"), "\(e)")
        }
        XCTAssertEqual(m.bytes.count, 20, "nothing was appended")
        try m.put(1, u32: 9)
        XCTAssertEqual(try m.parsedAttributes().u32(1), 9)
    }

    func testInlineAddressesKeepByteSemantics() {
        let v4 = a("10.1.2.3"), v6 = a("2001:db8::102:304")
        XCTAssertEqual(v4.bytes, [10, 1, 2, 3])
        XCTAssertEqual(v6.bytes, [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 8) + [1, 2, 3, 4])
        XCTAssertEqual(IPAddress(bytes: v6.bytes), v6)
        XCTAssertEqual(IPAddress(ipv4: 0x0a01_0203), v4)
        XCTAssertNil(IPAddress(bytes: [1, 2, 3]))
        // Same low bytes, different family: different addresses, IPv4 first.
        let v4mapped = IPAddress(bytes: [10, 1, 2, 3] + [UInt8](repeating: 0, count: 12))!
        XCTAssertEqual(v4mapped.family, .v6)
        XCTAssertNotEqual(v4, v4mapped)
        XCTAssertEqual(Set([v4, v4mapped, a("10.1.2.3")]).count, 2)
        XCTAssertLessThan(a("255.255.255.255"), a("::"))
        // Bytewise order within a family, including across the 8-byte halves of IPv6.
        let sorted = ["10.0.0.2", "9.255.255.255", "10.0.0.10", "fd00::1:0", "fd00::ffff", "fd00:0:0:1::"].map(a).sorted()
        XCTAssertEqual(sorted.map(\.description), ["9.255.255.255", "10.0.0.2", "10.0.0.10", "fd00::ffff", "fd00::1:0", "fd00:0:0:1::"])
    }
}
