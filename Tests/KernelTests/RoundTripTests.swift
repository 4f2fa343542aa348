import Foundation
import IPVS
import Netlink
import XCTest
import IPVSModel
import Net

/// The real peer, ipvsadm, reads what we wrote and we read what it wrote, in a real kernel.
final class RoundTripTests: XCTestCase {
    static func a(_ s: String) -> IPAddress { IPAddress(s)! }
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
        let fw4 = ServiceKey.fwmark(7, family: .v4)
        ops.append(.addService(IPVSService(key: fw4, scheduler: "wlc", persistence: Persistence(timeout: 120, netmask: 0xffff_ffff))))
        ops.append(.addDestination(fw4, IPVSDestination(address: a("10.0.3.1"), port: 0, forwarding: .directRoute, weight: 1)))
        let fw6 = ServiceKey.fwmark(8, family: .v6)
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

    /// `ipvsadm -Sn` of ``ours``, written out by hand (ipvsadm -S omits thresholds; see below).
    static let oursSaved = """
    -A -t 10.0.0.1:80 -s wrr -p 300 -M 255.255.255.0
    -a -t 10.0.0.1:80 -r 10.0.1.1:8080 -m -w 3
    -a -t 10.0.0.1:80 -r 10.0.1.2:80 -g -w 2
    -a -t 10.0.0.1:80 -r 10.0.1.3:80 -i -w 1 --tun-type gre --tun-nocsum

    """ + schedulers.enumerated().map { i, s in
        "-A -t 10.0.9.\(i + 1):8000 -s \(s)\n-a -t 10.0.9.\(i + 1):8000 -r 10.0.8.\(i + 1):8000 -m -w \(i)\n"
    }.joined() + """
    -A -u 10.0.0.4:514 -s rr -o
    -a -u 10.0.0.4:514 -r 10.0.1.4:514 -m -w 1
    -A -u [2001:db8::1]:53 -s sh -p 600 -M 64 -b sh-fallback,sh-port
    -a -u [2001:db8::1]:53 -r [2001:db8::10]:53 -i -w 1 --tun-type ipip
    -a -u [2001:db8::1]:53 -r [2001:db8::11]:53 -i -w 4 --tun-type gue --tun-port 6080 --tun-nocsum
    -a -u [2001:db8::1]:53 -r [2001:db8::12]:5353 -m -w 1
    -A -f 7 -s wlc -p 120
    -a -f 7 -r 10.0.3.1:0 -g -w 1
    -A -f 8 -6 -s mh -b mh-port
    -a -f 8 -6 -r [2001:db8::20]:0 -g -w 3

    """

    /// What ipvsadm programs (`ipvsadm -R`), and the state we must read back, written by hand.
    static let theirsRestore = """
    -A -t 192.168.5.1:443 -s lblcr -p 900 -M 255.255.0.0
    -a -t 192.168.5.1:443 -r 192.168.6.1:443 -g -w 5 -x 50 -y 5
    -a -t 192.168.5.1:443 -r 192.168.6.2:443 -i -w 0 --tun-type gue --tun-port 7000 --tun-csum
    -a -t 192.168.5.1:443 -r 192.168.6.3:8443 -m -w 2
    -A -u [fd00:5::1]:123 -s mh -b mh-fallback -o
    -a -u [fd00:5::1]:123 -r [fd00:6::1]:123 -m -w 1
    -A -f 42 -s dh -p 30
    -a -f 42 -r 192.168.7.1:0 -g -w 9
    -A -f 43 -6 -s sed -p 60 -M 48
    -a -f 43 -6 -r [fd00:7::1]:0 -i -w 1

    """ + schedulers.enumerated().map { i, s in
        "-A -t 192.168.9.\(i + 1):80 -s \(s)\n-a -t 192.168.9.\(i + 1):80 -r 192.168.8.\(i + 1):80 -m -w \(i + 1)\n"
    }.joined()

    static var theirsExpected: IPVSState {
        var st = IPVSState()
        func put(_ svc: IPVSService, _ dests: [IPVSDestination]) {
            st.services[svc.key] = ServiceState(service: svc, destinations: Dictionary(uniqueKeysWithValues: dests.map { ($0.key, $0) }))
        }
        put(IPVSService(key: .address(.tcp, a("192.168.5.1"), port: 443), scheduler: "lblcr", persistence: Persistence(timeout: 900, netmask: 0xffff_0000)), [
            IPVSDestination(address: a("192.168.6.1"), port: 443, forwarding: .directRoute, weight: 5, upperThreshold: 50, lowerThreshold: 5),
            IPVSDestination(address: a("192.168.6.2"), port: 443, forwarding: .tunnel, weight: 0, tunnelType: .gue, tunnelPort: 7000, tunnelFlags: 1),
            IPVSDestination(address: a("192.168.6.3"), port: 8443, forwarding: .masquerade, weight: 2),
        ])
        put(IPVSService(key: .address(.udp, a("fd00:5::1"), port: 123), scheduler: "mh", flags: [.schedFlag1, .onePacket]), [
            IPVSDestination(address: a("fd00:6::1"), port: 123, forwarding: .masquerade, weight: 1),
        ])
        put(IPVSService(key: .fwmark(42, family: .v4), scheduler: "dh", persistence: Persistence(timeout: 30, netmask: 0xffff_ffff)), [
            IPVSDestination(address: a("192.168.7.1"), port: 0, forwarding: .directRoute, weight: 9),
        ])
        put(IPVSService(key: .fwmark(43, family: .v6), scheduler: "sed", persistence: Persistence(timeout: 60, netmask: 48)), [
            IPVSDestination(address: a("fd00:7::1"), port: 0, forwarding: .tunnel, weight: 1),
        ])
        for (i, s) in schedulers.enumerated() {
            put(IPVSService(key: .address(.tcp, a("192.168.9.\(i + 1)"), port: 80), scheduler: s), [
                IPVSDestination(address: a("192.168.8.\(i + 1)"), port: 80, forwarding: .masquerade, weight: Int32(i + 1)),
            ])
        }
        return st
    }

    func testIpvsadmReadsWhatWeWroteAndWeReadWhatIpvsadmWrote() throws {
        try inKernel {
            let client = try IPVSClient()
            // 1. We program; ipvsadm reads exactly that.
            let failures = try client.execute(Self.ours)
            XCTAssertEqual(failures, [], "every operation accepted")
            XCTAssertEqual(must("ipvsadm -Sn"), Self.oursSaved)
            let thresholds = must("ipvsadm -Ln --thresholds")
            XCTAssertTrue(thresholds.contains("  -> 10.0.1.1:8080                100        10         0          0"), thresholds)
            let tun = must("ipvsadm -Ln --tun-info")
            XCTAssertTrue(tun.contains("  -> [2001:db8::11]:53            Tunnel  gue:6080:-c   4"), tun)
            XCTAssertTrue(tun.contains("  -> 10.0.1.3:80                  Tunnel  gre:-c        1"), tun)
            // Our renderer prints each service line exactly as ipvsadm -Ln does.
            let listed = must("ipvsadm -Ln")
            let theirLines = Set(listed.split(separator: "\n").dropFirst(3).filter { !$0.hasPrefix("  ->") }.map { String($0).trimmingCharacters(in: .whitespaces) })
            let ourLines = Set(try client.snapshot().map { IPVSTable.serviceLine($0.service) })
            XCTAssertEqual(ourLines, theirLines)
            // And we read back what we wrote.
            var wrote = IPVSState()
            for op in Self.ours {
                switch op {
                case .addService(let s): wrote.services[s.key] = ServiceState(service: s)
                case .addDestination(let k, let d): wrote.services[k]!.destinations[d.key] = d
                default: XCTFail("unexpected \(op)")
                }
            }
            XCTAssertEqual(try client.state(), wrote)

            // 2. ipvsadm programs; we read exactly that.
            must("ipvsadm -C")
            let restore = FileManager.default.temporaryDirectory.appendingPathComponent("restore.txt")
            try Self.theirsRestore.write(to: restore, atomically: true, encoding: .utf8)
            must("ipvsadm -R < \(restore.path)")
            let got = try client.state()
            XCTAssertEqual(Set(got.services.keys), Set(Self.theirsExpected.services.keys))
            for (k, want) in Self.theirsExpected.services {
                XCTAssertEqual(got.services[k], want, "\(k)")
            }
            XCTAssertEqual(got, Self.theirsExpected)
            print("KERNEL: round trip ok: \(wrote.services.count) services written, \(got.services.count) read")
        }
    }

    func testInfoTimeoutsAndSyncDaemonAgreeWithIpvsadm() throws {
        try inKernel {
            let client = try IPVSClient()
            let info = try client.info()
            XCTAssertEqual(info.version, "1.2.1")
            XCTAssertTrue(must("ipvsadm -Ln").hasPrefix("IP Virtual Server version \(info.version) (size=\(info.connectionTableSize))"))

            try client.setTimeouts(IPVSTimeouts(tcp: 1000, tcpFin: 60, udp: 200))
            XCTAssertEqual(must("ipvsadm -L --timeout"), "Timeout (tcp tcpfin udp): 1000 60 200\n")
            must("ipvsadm --set 800 50 100")
            XCTAssertEqual(try client.timeouts(), IPVSTimeouts(tcp: 800, tcpFin: 50, udp: 100))

            must("ip link add sync0 type dummy && ip link set sync0 multicast on up")
            try client.startDaemon(SyncDaemon(role: .master, interface: "sync0", syncID: 5))
            XCTAssertTrue(must("ipvsadm -L --daemon").hasPrefix("master sync daemon (mcast=sync0, syncid=5,"), must("ipvsadm -L --daemon"))
            must("ipvsadm --start-daemon backup --mcast-interface sync0 --syncid 6")
            let ds = try client.daemons().sorted { $0.role.rawValue < $1.role.rawValue }
            XCTAssertEqual(ds.map(\.role), [.backup, .master])
            XCTAssertEqual(ds.map(\.interface), ["sync0", "sync0"])
            XCTAssertEqual(ds.map(\.syncID), [6, 5])
            try client.stopDaemon(.master)
            try client.stopDaemon(.backup)
            XCTAssertEqual(try client.daemons(), [])
            XCTAssertEqual(must("ipvsadm -L --daemon"), "")
            // Stopping a daemon that is not running is a typed kernel error.
            XCTAssertThrowsError(try client.stopDaemon(.master)) { e in
                XCTAssertEqual((e as? NetlinkError)?.code, .kernel, "\(e)")
            }
        }
    }
}
