// Raw IP protocol 112 sockets (VRRP) and the UDP socket of the fast detector.
#if canImport(Glibc)
import Glibc
#endif
import Topology
import VRRP
import Net
import Syscall

/// Conversions between `IPAddress` and the C socket address structs.
enum SockAddr {
    /// Calls `body` with a `sockaddr` for `address:port` (scope `ifindex` for IPv6 link-local).
    static func with<R>(_ address: IPAddress, port: UInt16 = 0, ifindex: Int32 = 0,
                        _ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        switch address.family {
        case .v4:
            var sa = sockaddr_in()
            sa.sin_family = sa_family_t(AF_INET)
            sa.sin_port = port.bigEndian
            withUnsafeMutableBytes(of: &sa.sin_addr) { $0.copyBytes(from: address.bytes) }
            return withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        case .v6:
            var sa = sockaddr_in6()
            sa.sin6_family = sa_family_t(AF_INET6)
            sa.sin6_port = port.bigEndian
            sa.sin6_scope_id = UInt32(ifindex)
            withUnsafeMutableBytes(of: &sa.sin6_addr) { $0.copyBytes(from: address.bytes) }
            return withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in6>.size)) } }
        }
    }

    /// The address in a `sockaddr_storage` filled by `recvmsg`.
    static func address(_ ss: sockaddr_storage) -> IPAddress? {
        var ss = ss
        switch Int32(ss.ss_family) {
        case AF_INET:
            return withUnsafeBytes(of: &ss) { IPAddress(bytes: Array($0[4..<8])) }
        case AF_INET6:
            return withUnsafeBytes(of: &ss) { IPAddress(bytes: Array($0[8..<24])) }
        default: return nil
        }
    }
}

/// `setsockopt` with a plain value, through the one wrapper.
func setOption<T>(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: T, _ what: String) throws(SystemCallError) {
    let v = value
    try syscall("setsockopt", what) { withUnsafeBytes(of: v) { setsockopt(fd, level, name, $0.baseAddress, socklen_t($0.count)) } }
}

/// One received datagram with what the IP header said about it.
public struct ReceivedDatagram: Sendable {
    /// The payload (for raw IPv4 sockets, the IP header is already stripped).
    public var payload: [UInt8]
    /// IP source address.
    public var source: IPAddress
    /// IP destination address (multicast group or our unicast address): the checksum needs it.
    public var destination: IPAddress
    /// TTL / hop limit as received; `nil` if the kernel did not say.
    public var ttl: UInt8?
}

/// A raw socket for IP protocol 112 bound to one interface: joins 224.0.0.18 / ff02::12, sends with
/// TTL / hop limit 255, and reports the received TTL so the caller can apply RFC 5798 §7.1.
public final class VRRPSocket {
    /// The file descriptor, for `poll`.
    public let fd: Int32
    /// Address family.
    public let family: AddressFamily
    let ifindex: Int32
    /// Our source address on the link (IPv4 primary, or IPv6 link-local).
    public let localAddress: IPAddress

    /// Opens, binds to `interface`, sets TTL/hop limit 255 and joins the VRRP group.
    public init(interface: String, localAddress: IPAddress) throws(SystemCallError) {
        family = localAddress.family
        self.localAddress = localAddress
        ifindex = try interfaceIndex(interface)
        let af = family == .v4 ? AF_INET : AF_INET6
        fd = try syscall("socket", "SOCK_RAW proto 112") { socket(af, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), Int32(VRRPPacket.ipProtocol)) }
        do {
            try syscall("setsockopt", "SO_BINDTODEVICE \(interface)") {
                interface.withCString { setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, $0, socklen_t(strlen($0) + 1)) }
            }
            // No bind(2): a raw socket bound to an address only receives packets *to* that address,
            // which would filter out the multicast group. The source is set per packet instead
            // (our own IPv4 header; IPV6_PKTINFO), so a VIP on the same interface is never used as source.
            switch family {
            case .v4:
                try setOption(fd, Int32(IPPROTO_IP), IP_HDRINCL, Int32(1), "IP_HDRINCL")
                try setOption(fd, Int32(IPPROTO_IP), IP_MULTICAST_TTL, UInt8(255), "IP_MULTICAST_TTL")
                try setOption(fd, Int32(IPPROTO_IP), IP_TTL, Int32(255), "IP_TTL")
                try setOption(fd, Int32(IPPROTO_IP), IP_MULTICAST_LOOP, UInt8(0), "IP_MULTICAST_LOOP")
                var mreq = ip_mreqn()
                withUnsafeMutableBytes(of: &mreq.imr_multiaddr) { $0.copyBytes(from: VRRPPacket.ipv4Group.bytes) }
                mreq.imr_ifindex = ifindex
                try setOption(fd, Int32(IPPROTO_IP), IP_MULTICAST_IF, mreq, "IP_MULTICAST_IF")
                try setOption(fd, Int32(IPPROTO_IP), IP_ADD_MEMBERSHIP, mreq, "IP_ADD_MEMBERSHIP 224.0.0.18 on \(interface)")
            case .v6:
                try setOption(fd, Int32(IPPROTO_IPV6), IPV6_MULTICAST_HOPS, Int32(255), "IPV6_MULTICAST_HOPS")
                try setOption(fd, Int32(IPPROTO_IPV6), IPV6_UNICAST_HOPS, Int32(255), "IPV6_UNICAST_HOPS")
                try setOption(fd, Int32(IPPROTO_IPV6), IPV6_MULTICAST_LOOP, UInt32(0), "IPV6_MULTICAST_LOOP")
                try setOption(fd, Int32(IPPROTO_IPV6), IPV6_MULTICAST_IF, UInt32(ifindex), "IPV6_MULTICAST_IF")
                try setOption(fd, Int32(IPPROTO_IPV6), IPV6_RECVHOPLIMIT, Int32(1), "IPV6_RECVHOPLIMIT")
                try setOption(fd, Int32(IPPROTO_IPV6), IPV6_RECVPKTINFO, Int32(1), "IPV6_RECVPKTINFO")
                var mreq = ipv6_mreq()
                withUnsafeMutableBytes(of: &mreq.ipv6mr_multiaddr) { $0.copyBytes(from: VRRPPacket.ipv6Group.bytes) }
                mreq.ipv6mr_interface = UInt32(ifindex)
                try setOption(fd, Int32(IPPROTO_IPV6), IPV6_JOIN_GROUP, mreq, "IPV6_JOIN_GROUP ff02::12 on \(interface)")
            }
        } catch {
            close(fd)
            throw error
        }
    }

    deinit { close(fd) }

    /// Sends an encoded message to `destination` (the group, or a unicast peer) from ``localAddress``
    /// with TTL / hop limit 255.
    public func send(_ bytes: [UInt8], to destination: IPAddress) throws(SystemCallError) {
        let s = fd, idx = ifindex
        switch family {
        case .v4:
            // Our own IPv4 header (IP_HDRINCL), as keepalived does: version/IHL, TOS 0xC0 (network
            // control, like keepalived), total length, id 0 (kernel fills), DF clear, TTL 255, proto 112,
            // checksum 0 (kernel fills), source, destination.
            let total = 20 + bytes.count
            let header: [UInt8] = [0x45, 0xC0, UInt8(total >> 8), UInt8(total & 0xFF), 0, 0, 0, 0,
                                   VRRPPacket.requiredTTL, VRRPPacket.ipProtocol, 0, 0] + localAddress.bytes + destination.bytes
            let packet = header + bytes
            _ = try syscall("sendto", "VRRP to \(destination)") {
                packet.withUnsafeBytes { b in SockAddr.with(destination) { sendto(s, b.baseAddress, b.count, 0, $0, $1) } }
            }
        case .v6:
            // sendmsg with an IPV6_PKTINFO control message choosing the source address and interface.
            // cmsghdr { size_t len; int level; int type } + in6_pktinfo { in6_addr; u32 ifindex }.
            let hdr = MemoryLayout<Int>.size + 8
            var control = withUnsafeBytes(of: hdr + 20) { Array($0) }
            control += withUnsafeBytes(of: Int32(IPPROTO_IPV6)) { Array($0) } + withUnsafeBytes(of: Int32(IPV6_PKTINFO)) { Array($0) }
            control += localAddress.bytes + withUnsafeBytes(of: UInt32(idx)) { Array($0) }
            while control.count % MemoryLayout<Int>.size != 0 { control.append(0) }
            let n: Int = bytes.withUnsafeBytes { b in
                control.withUnsafeBytes { c in
                    SockAddr.with(destination, ifindex: idx) { sa, salen in
                        var iov = iovec(iov_base: UnsafeMutableRawPointer(mutating: b.baseAddress), iov_len: b.count)
                        return withUnsafeMutablePointer(to: &iov) { iovp in
                            var msg = msghdr()
                            msg.msg_name = UnsafeMutableRawPointer(mutating: sa)
                            msg.msg_namelen = salen
                            msg.msg_iov = iovp
                            msg.msg_iovlen = 1
                            msg.msg_control = UnsafeMutableRawPointer(mutating: c.baseAddress)
                            msg.msg_controllen = c.count
                            return sendmsg(s, &msg, 0)
                        }
                    }
                }
            }
            if n < 0 { throw SystemCallError(function: "sendmsg", context: "VRRP to \(destination)", errno: errno) }
        }
    }

    /// Receives one datagram (call when `poll` says readable). IPv4 raw sockets deliver the IP header,
    /// which gives TTL and destination directly; IPv6 delivers them as IPV6_HOPLIMIT / IPV6_PKTINFO.
    public func receive() throws(SystemCallError) -> ReceivedDatagram? {
        // Raw buffers rather than nested withUnsafe… closures: recvmsg needs four pointers at once.
        let bufSize = 2048, controlSize = 256
        let b = UnsafeMutableRawPointer.allocate(byteCount: bufSize, alignment: 8)
        let c = UnsafeMutableRawPointer.allocate(byteCount: controlSize, alignment: 8)
        let f = UnsafeMutablePointer<sockaddr_storage>.allocate(capacity: 1)
        let iov = UnsafeMutablePointer<iovec>.allocate(capacity: 1)
        defer { b.deallocate(); c.deallocate(); f.deallocate(); iov.deallocate() }
        f.initialize(to: sockaddr_storage())
        iov.initialize(to: iovec(iov_base: b, iov_len: bufSize))
        var msg = msghdr()
        msg.msg_name = UnsafeMutableRawPointer(f)
        msg.msg_namelen = socklen_t(MemoryLayout<sockaddr_storage>.size)
        msg.msg_iov = iov
        msg.msg_iovlen = 1
        msg.msg_control = c
        msg.msg_controllen = controlSize
        let s = fd
        let n = recvmsg(s, &msg, Int32(MSG_DONTWAIT))
        if n < 0 {
            if errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR { return nil }
            throw SystemCallError(function: "recvmsg", context: "VRRP", errno: errno)
        }
        let buf = Array(UnsafeRawBufferPointer(start: b, count: n))
        let controlLen = min(Int(msg.msg_controllen), controlSize)
        let control = Array(UnsafeRawBufferPointer(start: c, count: controlLen))
        let from = f.pointee
        guard let source = SockAddr.address(from) else { return nil }
        switch family {
        case .v4:
            // IPv4 header: IHL in the low nibble of byte 0, TTL at 8, destination at 16..<20.
            guard n >= 20 else { return nil }
            let ihl = Int(buf[0] & 0x0F) * 4
            guard ihl >= 20, n >= ihl, let dst = IPAddress(bytes: Array(buf[16..<20])) else { return nil }
            return ReceivedDatagram(payload: Array(buf[ihl..<n]), source: source, destination: dst, ttl: buf[8])
        case .v6:
            var ttl: UInt8? = nil
            var dst: IPAddress? = nil
            // Walk the cmsghdr list by hand (CMSG_* macros do not import): { size_t len; int level; int type; data }.
            var off = 0
            let hdr = MemoryLayout<Int>.size + 8
            while off + hdr <= controlLen {
                let len = control.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: off, as: Int.self) }
                let level = control.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: off + MemoryLayout<Int>.size, as: Int32.self) }
                let type = control.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: off + MemoryLayout<Int>.size + 4, as: Int32.self) }
                guard len >= hdr, off + len <= controlLen else { break }
                let data = off + hdr
                if level == Int32(IPPROTO_IPV6) && type == IPV6_HOPLIMIT && len >= hdr + 4 {
                    ttl = UInt8(clamping: control.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: data, as: Int32.self) })
                } else if level == Int32(IPPROTO_IPV6) && type == IPV6_PKTINFO && len >= hdr + 16 {
                    dst = IPAddress(bytes: Array(control[data..<data + 16]))
                }
                off += (len + MemoryLayout<Int>.size - 1) & ~(MemoryLayout<Int>.size - 1)
            }
            return ReceivedDatagram(payload: Array(buf[0..<n]), source: source, destination: dst ?? VRRPPacket.ipv6Group, ttl: ttl)
        }
    }
}

/// The fast detector's UDP socket: bound to our address and port on the interface.
public final class ProbeSocket {
    /// The file descriptor, for `poll`.
    public let fd: Int32
    let ifindex: Int32

    /// Opens and binds.
    public init(interface: String, localAddress: IPAddress, port: UInt16) throws(SystemCallError) {
        ifindex = try interfaceIndex(interface)
        let af = localAddress.family == .v4 ? AF_INET : AF_INET6
        fd = try syscall("socket", "UDP probe") { socket(af, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
        do {
            try setOption(fd, SOL_SOCKET, SO_REUSEADDR, Int32(1), "SO_REUSEADDR")
            // High priority so probes are not queued behind bulk traffic on a loaded director.
            try setOption(fd, SOL_SOCKET, SO_PRIORITY, Int32(6), "SO_PRIORITY")
            let s = fd, idx = ifindex
            try syscall("bind", "probe \(localAddress):\(port)") { SockAddr.with(localAddress, port: port, ifindex: idx) { bind(s, $0, $1) } }
        } catch {
            close(fd); throw error
        }
    }

    deinit { close(fd) }

    /// Sends one probe.
    public func send(_ bytes: [UInt8], to peer: IPAddress, port: UInt16) throws(SystemCallError) {
        let s = fd, idx = ifindex
        _ = try syscall("sendto", "probe to \(peer)") {
            bytes.withUnsafeBytes { b in SockAddr.with(peer, port: port, ifindex: idx) { sendto(s, b.baseAddress, b.count, 0, $0, $1) } }
        }
    }

    /// Receives one probe without blocking; `nil` when nothing is queued.
    public func receive() throws(SystemCallError) -> (bytes: [UInt8], from: IPAddress)? {
        var buf = [UInt8](repeating: 0, count: 512)
        var from = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let s = fd
        let n = buf.withUnsafeMutableBytes { b in
            withUnsafeMutablePointer(to: &from) { f in
                f.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(s, b.baseAddress, b.count, Int32(MSG_DONTWAIT), $0, &len) }
            }
        }
        if n < 0 {
            if errno == EAGAIN || errno == EWOULDBLOCK { return nil }
            throw SystemCallError(function: "recvfrom", context: "probe", errno: errno)
        }
        guard let a = SockAddr.address(from) else { return nil }
        return (Array(buf[0..<n]), a)
    }
}
