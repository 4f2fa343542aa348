// Gratuitous ARP (IPv4) and unsolicited neighbour advertisements (IPv6) for VIPs we just took.
#if canImport(Glibc)
import Glibc
#endif
import Topology
import Net
import Syscall

/// Tells the link that the VIPs moved: switches relearn the port, neighbours update their caches.
public final class Announcer {
    private let packetFD: Int32
    private let icmp6FD: Int32
    private let ifindex: Int32
    /// The interface's hardware address, learned from the bound packet socket.
    public let mac: [UInt8]

    /// Opens an AF_PACKET socket for ARP and an ICMPv6 raw socket for NA on `interface`.
    public init(interface: String) throws(SystemCallError) {
        ifindex = try interfaceIndex(interface)
        let ethPArp = UInt16(0x0806)
        packetFD = try syscall("socket", "AF_PACKET SOCK_DGRAM ETH_P_ARP") {
            socket(AF_PACKET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), Int32(ethPArp.bigEndian))
        }
        let sll = Self.sockaddrLL(protocol: ethPArp, ifindex: ifindex, halen: 0, addr: [])
        let pfd = packetFD
        do {
            try syscall("bind", "AF_PACKET \(interface)") {
                sll.withUnsafeBytes { bind(pfd, $0.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t($0.count)) }
            }
            // getsockname on a bound packet socket reports the interface's hardware address: no ioctl needed.
            var bound = [UInt8](repeating: 0, count: 20)
            var len = socklen_t(20)
            try syscall("getsockname", "AF_PACKET \(interface)") {
                bound.withUnsafeMutableBytes { getsockname(pfd, $0.baseAddress!.assumingMemoryBound(to: sockaddr.self), &len) }
            }
            mac = Array(bound[12..<12 + min(8, Int(bound[11]))])
            icmp6FD = try syscall("socket", "ICMPv6 raw") { socket(AF_INET6, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), Int32(IPPROTO_ICMPV6)) }
        } catch let e {
            close(pfd); throw e
        }
        do {
            // RFC 4861 §7.1.2: receivers drop NAs whose hop limit is not 255.
            try setOption(icmp6FD, Int32(IPPROTO_IPV6), IPV6_MULTICAST_HOPS, Int32(255), "IPV6_MULTICAST_HOPS")
            try setOption(icmp6FD, Int32(IPPROTO_IPV6), IPV6_MULTICAST_IF, UInt32(ifindex), "IPV6_MULTICAST_IF")
        } catch {
            close(pfd); close(icmp6FD); throw error
        }
    }

    deinit { close(packetFD); close(icmp6FD) }

    /// Packets per announcement: keepalived's default burst (`vrrp_garp_master_repeat 5`, no
    /// interval), so one lost or late frame does not leave a neighbour on the old master's MAC.
    public static let burst = 5

    /// Announces each address in the way its family needs, ``burst`` times back to back.
    public func announce(_ addresses: [IPAddress]) throws(SystemCallError) {
        for _ in 0..<Self.burst {
            for a in addresses {
                switch a.family {
                case .v4: try gratuitousARP(a)
                case .v6: try unsolicitedNA(a)
                }
            }
        }
    }

    /// Broadcasts an ARP request for `address` from `address` (RFC 5227 §3 "ARP Announcement", what
    /// keepalived and Linux send), so every host updates its entry for the VIP to our MAC.
    func gratuitousARP(_ address: IPAddress) throws(SystemCallError) {
        var arp: [UInt8] = [0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01]  // Ethernet, IPv4, request
        arp += mac + address.bytes + [UInt8](repeating: 0xFF, count: 6) + address.bytes
        let to = Self.sockaddrLL(protocol: 0x0806, ifindex: ifindex, halen: 6, addr: [UInt8](repeating: 0xFF, count: 6))
        let fd = packetFD
        _ = try syscall("sendto", "gratuitous ARP for \(address)") {
            arp.withUnsafeBytes { b in to.withUnsafeBytes {
                sendto(fd, b.baseAddress, b.count, 0, $0.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t($0.count)) } }
        }
    }

    /// struct sockaddr_ll (linux/if_packet.h), which Glibc's module does not export: family, protocol
    /// (network order), ifindex, hatype, pkttype, halen, addr[8] — 20 bytes.
    static func sockaddrLL(protocol p: UInt16, ifindex: Int32, halen: UInt8, addr: [UInt8]) -> [UInt8] {
        var b = withUnsafeBytes(of: UInt16(AF_PACKET)) { Array($0) }
        b += withUnsafeBytes(of: p.bigEndian) { Array($0) }
        b += withUnsafeBytes(of: ifindex) { Array($0) }
        b += [0, 0, 0, halen]
        b += addr + [UInt8](repeating: 0, count: 8 - addr.count)
        return b
    }

    /// Sends an unsolicited NA for `address` to all-nodes ff02::1 with the Override flag and our MAC as
    /// target link-layer address (RFC 4861 §7.2.6). The kernel fills in the ICMPv6 checksum.
    func unsolicitedNA(_ address: IPAddress) throws(SystemCallError) {
        var na: [UInt8] = [136, 0, 0, 0, 0x20, 0, 0, 0]  // type NA, code 0, checksum, flags: Override
        na += address.bytes
        na += [2, 1] + mac  // option 2: target link-layer address, length 1 (8 bytes)
        let fd = icmp6FD, idx = ifindex
        _ = try syscall("sendto", "unsolicited NA for \(address)") {
            na.withUnsafeBytes { b in SockAddr.with(IPAddress("ff02::1")!, ifindex: idx) { sendto(fd, b.baseAddress, b.count, 0, $0, $1) } }
        }
    }
}
