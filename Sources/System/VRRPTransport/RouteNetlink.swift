// The hand-rolled rtnetlink both VRRPTransport users share: a NETLINK_ROUTE socket, message framing,
// attribute encoding and the walk over a received buffer. AddressNetlink (RTM_NEWADDR / RTM_DELADDR)
// and LinkWatch (RTM_GETLINK, RTMGRP_LINK notifications) build on it.
//
// Hand-rolled rather than libnl-route-3: a few message types with a few attributes each, and it keeps
// this module free of a system-library target (the libnl targets belong to the kernel area).
#if canImport(Glibc)
import Glibc
#endif
import Syscall

/// The uapi constants we need; Glibc's module does not include <linux/netlink.h> / <linux/rtnetlink.h>.
/// Values are ABI-stable (linux/netlink.h, linux/rtnetlink.h, linux/if_addr.h, linux/if_link.h, linux/if.h).
enum NL {
    static let NETLINK_ROUTE: Int32 = 0
    static let NLMSG_ERROR: UInt16 = 2
    static let NLMSG_DONE: UInt16 = 3
    static let NLM_F_REQUEST: UInt16 = 0x1
    static let NLM_F_ACK: UInt16 = 0x4
    static let NLM_F_REPLACE: UInt16 = 0x100
    static let NLM_F_CREATE: UInt16 = 0x400
    static let RTM_NEWLINK: UInt16 = 16
    static let RTM_DELLINK: UInt16 = 17
    static let RTM_GETLINK: UInt16 = 18
    static let RTM_NEWADDR: UInt16 = 20
    static let RTM_DELADDR: UInt16 = 21
    static let IFA_ADDRESS: UInt16 = 1
    static let IFA_LOCAL: UInt16 = 2
    static let IFLA_IFNAME: UInt16 = 3
    /// The multicast group of link changes (`RTMGRP_LINK`, a bit mask in `sockaddr_nl.nl_groups`).
    static let RTMGRP_LINK: UInt32 = 1
    static let IFF_UP: UInt32 = 0x1
    static let IFF_LOWER_UP: UInt32 = 0x10000
    /// `sizeof(struct nlmsghdr)`.
    static let headerSize = 16
}

/// One message out of a received buffer: its header fields and its payload (after `nlmsghdr`).
struct RouteNetlinkMessage {
    /// `nlmsg_type`.
    var type: UInt16
    /// `nlmsg_seq`.
    var sequence: UInt32
    /// Everything after the 16-byte header.
    var payload: ArraySlice<UInt8>

    /// For `NLMSG_ERROR`: the (negative) errno, 0 for an ack.
    var error: Int32? {
        guard type == NL.NLMSG_ERROR, payload.count >= 4 else { return nil }
        return Int32(bitPattern: payload.littleEndianUInt32(at: 0))
    }

    /// The attributes (`struct rtattr`: u16 length, u16 type, value) after a fixed header of `skip` bytes.
    func attributes(after skip: Int) -> [(type: UInt16, value: ArraySlice<UInt8>)] {
        var out: [(UInt16, ArraySlice<UInt8>)] = []
        var off = payload.startIndex + skip
        while off + 4 <= payload.endIndex {
            let len = Int(UInt16(payload[off]) | UInt16(payload[off + 1]) << 8)
            let type = UInt16(payload[off + 2]) | UInt16(payload[off + 3]) << 8
            guard len >= 4, off + len <= payload.endIndex else { break }
            out.append((type & 0x3FFF, payload[(off + 4)..<(off + len)]))  // drop NLA_F_NESTED / NET_BYTEORDER
            off += (len + 3) & ~3
        }
        return out
    }
}

extension ArraySlice<UInt8> {
    /// A little-endian (host order on every Linux target we build for) u32 at `offset` from the start.
    func littleEndianUInt32(at offset: Int) -> UInt32 {
        let i = startIndex + offset
        return UInt32(self[i]) | UInt32(self[i + 1]) << 8 | UInt32(self[i + 2]) << 16 | UInt32(self[i + 3]) << 24
    }
}

/// A bound NETLINK_ROUTE socket with the framing both users need.
struct RouteNetlinkSocket {
    /// The descriptor (the owner closes it with ``close()``).
    let fd: Int32

    /// Opens and binds a NETLINK_ROUTE socket, subscribed to `groups` (`RTMGRP_*` bits; 0: none).
    init(groups: UInt32 = 0, nonBlocking: Bool = false) throws(SystemCallError) {
        let type = Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | (nonBlocking ? Int32(SOCK_NONBLOCK.rawValue) : 0)
        let s = try syscall("socket", "AF_NETLINK NETLINK_ROUTE") { socket(AF_NETLINK, type, NL.NETLINK_ROUTE) }
        // struct sockaddr_nl { u16 family; u16 pad; u32 pid (0: kernel assigns); u32 groups }
        let sa: [UInt8] = withUnsafeBytes(of: UInt16(AF_NETLINK)) { Array($0) } + [0, 0, 0, 0, 0, 0]
            + withUnsafeBytes(of: groups.littleEndian) { Array($0) }
        do {
            try syscall("bind", "netlink groups \(groups)") { sa.withUnsafeBytes { bind(s, $0.baseAddress!.assumingMemoryBound(to: sockaddr.self), 12) } }
        } catch {
            Glibc.close(s)
            throw error
        }
        fd = s
    }

    /// Closes the descriptor.
    func close() { _ = Glibc.close(fd) }

    /// Frames `body` (the fixed header and attributes) as one request and sends it.
    func send(type: UInt16, flags: UInt16, sequence: UInt32, body: [UInt8], what: String) throws(SystemCallError) {
        var msg: [UInt8] = []
        msg += withUnsafeBytes(of: UInt32(NL.headerSize + body.count).littleEndian) { Array($0) }
        msg += withUnsafeBytes(of: type.littleEndian) { Array($0) }
        msg += withUnsafeBytes(of: (NL.NLM_F_REQUEST | flags).littleEndian) { Array($0) }
        msg += withUnsafeBytes(of: sequence.littleEndian) { Array($0) }
        msg += [0, 0, 0, 0]
        msg += body
        let s = fd
        _ = try syscall("send", what) { msg.withUnsafeBytes { Glibc.send(s, $0.baseAddress, $0.count, 0) } }
    }

    /// Receives one datagram and splits it into messages; `nil` when a non-blocking socket has none.
    func receive(what: String) throws(SystemCallError) -> [RouteNetlinkMessage]? {
        var buf = [UInt8](repeating: 0, count: 16384)
        let s = fd
        let n: Int
        do {
            n = try syscall("recv", what) { buf.withUnsafeMutableBytes { recv(s, $0.baseAddress, $0.count, 0) } }
        } catch {
            if error.errno == EAGAIN || error.errno == EWOULDBLOCK { return nil }
            throw error
        }
        var out: [RouteNetlinkMessage] = []
        var off = 0
        while off + NL.headerSize <= n {
            let head = buf[off..<(off + NL.headerSize)]
            let len = Int(head.littleEndianUInt32(at: 0))
            guard len >= NL.headerSize, off + len <= n else { break }
            out.append(RouteNetlinkMessage(
                type: UInt16(head[off + 4]) | UInt16(head[off + 5]) << 8, sequence: head.littleEndianUInt32(at: 8),
                payload: buf[(off + NL.headerSize)..<(off + len)]))
            off += (len + 3) & ~3
        }
        return out
    }

    /// Encodes one attribute, padded to 4 bytes.
    static func attribute(_ type: UInt16, _ value: [UInt8]) -> [UInt8] {
        var a = withUnsafeBytes(of: UInt16(4 + value.count).littleEndian) { Array($0) } + withUnsafeBytes(of: type.littleEndian) { Array($0) }
        a += value
        while a.count % 4 != 0 { a.append(0) }
        return a
    }
}
