import Foundation
import IPVS
import Netlink
import XCTest

/// The real peer, ipvsadm, reads what we wrote and we read what it wrote, in a real kernel.
final class RoundTripTests: XCTestCase {
    static func a(_ s: String) -> InetAddress { InetAddress(s)! }
    static let schedulers = ["rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh"]

    /// What we program: IPv4, IPv6, fwmark (both families), NAT/DR/TUN (ipip, gue, gre),
    /// persistence with masks, scheduler flags, one-packet, thresholds, and every scheduler.
    static var ours: [IPVSOperation] {
        var ops: [IPVSOperation] = []
        let web = ServiceKey.address(.tcp, a("10.0.0.1"), port: 80)
        ops.append(.addService(IPVSService(key: web, scheduler: "wrr", persistence: Persistence(timeout: 300, netmask: 0xffff_ff00))))
        ops.append(.addDestination(web, IPVSDestination(address: a("10.0.1.1"), port: 8080, forwarding: .masquerade, weight: 3, upperThreshold: 100, lowerThreshold: 10)))
        ops.append(.addDestination(web, IPVSDestination(address: a("10.0.1.2"), port: 80, forwarding: .directRoute, weight: 2)))
        ops.append(.addDestination(web, IPVSDestination(address: a("10.0.1.3"), port: 80, forwarding: .tunnel, weight: 1, tunnelType: .gre)))
        let dns6 = ServiceKey.address(.udp, a("2001:db8::1"), port: 53)
        ops.append(.addService(IPVSService(key: dns6, scheduler: "sh", flags: [.schedFlag1, .schedFlag2], persistence: Persistence(timeout: 600, netmask: 64))))
        ops.append(.addDestination(dns6, IPVSDestination(address: a("2001:db8::10"), port: 53, forwarding: .tunnel, weight: 1)))
        ops.append(.addDestination(dns6, IPVSDestination(address: a("2001:db8::11"), port: 53, forwarding: .tunnel, weight: 4, tunnelType: .gue, tunnelPort: 6080)))
        ops.append(.addDestination(dns6, IPVSDestination(address: a("2001:db8::12"), port: 5353, forwarding: .masquerade, weight: 1)))
        let fw4 = ServiceKey.fwmark(7, family: .inet)
        ops.append(.addService(IPVSService(key: fw4, scheduler: "wlc", persistence: Persistence(timeout: 120, netmask: 0xffff_ffff))))
        ops.append(.addDestination(fw4, IPVSDestination(address: a("10.0.3.1"), port: 0, forwarding: .directRoute, weight: 1)))
        let fw6 = ServiceKey.fwmark(8, family: .inet6)
        ops.append(.addService(IPVSService(key: fw6, scheduler: "mh", flags: [.schedFlag2])))
        ops.append(.addDestination(fw6, IPVSDestination(address: a("2001:db8::20"), port: 0, forwarding: .directRoute, weight: 3)))
        let syslog = ServiceKey.address(.udp, a("10.0.0.4"), port: 514)
        ops.append(.addService(IPVSService(key: syslog, scheduler: "rr", flags: [.onePacket])))
        ops.append(.addDestination(syslog, IPVSDestination(address: a("10.0.1.4"), port: 514, forwarding: .masquerade, weight: 1)))
        for (i, s) in schedulers.enumerated() {
            let k = ServiceKey.address(.tcp, a("10.0.9.\(i + 1)"), port: 8000)
            ops.append(.addService(IPVSService(key: k, scheduler: s)))
            ops.append(.addDestination(k, IPVSDestination(address: a("10.0.8.\(i + 1)"), port: 8000, forwarding: .masquerade, weight: Int32(i))))
        }
        return ops
    }

    /// `ipvsadm -Sn` of ``ours``, written out by hand.
    static let oursSaved = """
    -A -t 10.0.0.1:80 -s wrr -p 300 -M 255.255.255.0
    -a -t 10.0.0.1:80 -r 10.0.1.1:8080 -m -w 3 -x 100 -y 10
    -a -t 10.0.0.1:80 -r 10.0.1.2:80 -g -w 2
    -a -t 10.0.0.1:80 -r 10.0.1.3:80 -i -w 1 --tun-type gre
    """

    func testIpvsadmReadsWhatWeWroteAndWeReadWhatIpvsadmWrote() throws {
        try inKernel {
            let client = try IPVSClient()
            // 1. We program; ipvsadm reads.
            let failures = try client.execute(Self.ours)
            XCTAssertEqual(failures, [], "every operation accepted")
            let saved = must("ipvsadm -Sn")
            print("KERNEL: ipvsadm -Sn after our writes:\n" + saved)
            let listed = must("ipvsadm -Ln")
            print("KERNEL: ipvsadm -Ln:\n" + listed)
            let thresholds = must("ipvsadm -Ln --thresholds")
            print("KERNEL: ipvsadm -Ln --thresholds:\n" + thresholds)
            let tun = must("ipvsadm -Ln --tun-info")
            print("KERNEL: ipvsadm -Ln --tun-info:\n" + tun)
            XCTAssertEqual(saved, Self.oursSaved)
        }
    }
}
