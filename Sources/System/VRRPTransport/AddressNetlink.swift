// VIP ownership through rtnetlink: RTM_NEWADDR / RTM_DELADDR on a plain NETLINK_ROUTE socket.
//
// Hand-rolled rather than libnl-route-3: two message types with two attributes each, and it keeps this
// module free of a system-library target (the libnl targets belong to the kernel area).
#if canImport(Glibc)
import Glibc
#endif
import Topology
import Net
import Syscall

/// The uapi constants we need; Glibc's module does not include <linux/netlink.h> / <linux/rtnetlink.h>.
/// Values are ABI-stable (linux/netlink.h, linux/rtnetlink.h, linux/if_addr.h).
private enum NL {
    static let NETLINK_ROUTE: Int32 = 0
    static let NLMSG_ERROR: UInt16 = 2
    static let NLM_F_REQUEST: UInt16 = 0x1
    static let NLM_F_ACK: UInt16 = 0x4
    static let NLM_F_REPLACE: UInt16 = 0x100
    static let NLM_F_CREATE: UInt16 = 0x400
    static let RTM_NEWADDR: UInt16 = 20
    static let RTM_DELADDR: UInt16 = 21
    static let IFA_ADDRESS: UInt16 = 1
    static let IFA_LOCAL: UInt16 = 2
}

/// Adds and removes addresses on one interface, as `ip addr add/del ADDR/32 dev IF` would, without `ip`.
public final class AddressNetlink {
    private let fd: Int32
    private let ifindex: Int32
    private let interface: String
    private var seq: UInt32 = 1

    /// Opens a NETLINK_ROUTE socket for `interface`.
    public init(interface: String) throws(SystemCallError) {
        self.interface = interface
        ifindex = try interfaceIndex(interface)
        fd = try syscall("socket", "AF_NETLINK NETLINK_ROUTE") { socket(AF_NETLINK, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), NL.NETLINK_ROUTE) }
        // struct sockaddr_nl { u16 family; u16 pad; u32 pid (0: kernel assigns); u32 groups }
        let sa: [UInt8] = withUnsafeBytes(of: UInt16(AF_NETLINK)) { Array($0) } + [UInt8](repeating: 0, count: 10)
        let s = fd
        try syscall("bind", "netlink") { sa.withUnsafeBytes { bind(s, $0.baseAddress!.assumingMemoryBound(to: sockaddr.self), 12) } }
    }

    deinit { close(fd) }

    /// Adds `address` as a host address (/32 or /128). Already present is success: takeover must be idempotent.
    public func add(_ address: IPAddress) throws(SystemCallError) {
        try request(type: NL.RTM_NEWADDR, flags: NL.NLM_F_CREATE | NL.NLM_F_REPLACE, address: address)
    }

    /// Removes `address`. Already absent is success.
    public func remove(_ address: IPAddress) throws(SystemCallError) {
        do { try request(type: NL.RTM_DELADDR, flags: 0, address: address) } catch {
            guard error.errno == EADDRNOTAVAIL || error.errno == ENOENT else { throw error }
        }
    }

    private func request(type: UInt16, flags: UInt16, address: IPAddress) throws(SystemCallError) {
        seq &+= 1
        let family: UInt8 = address.family == .v4 ? UInt8(AF_INET) : UInt8(AF_INET6)
        // struct ifaddrmsg { family, prefixlen, flags, scope, index }; IFA_F_NODAD (0x02) so an IPv6 VIP
        // is usable at once instead of after duplicate address detection.
        var body: [UInt8] = [family, UInt8(address.family.bitWidth), address.family == .v6 ? 0x02 : 0, 0]
        body += withUnsafeBytes(of: UInt32(bitPattern: ifindex).littleEndian) { Array($0) }
        for attr in [NL.IFA_LOCAL, NL.IFA_ADDRESS] {
            let len = UInt16(4 + address.bytes.count)
            body += withUnsafeBytes(of: len.littleEndian) { Array($0) } + withUnsafeBytes(of: attr.littleEndian) { Array($0) }
            body += address.bytes
            while body.count % 4 != 0 { body.append(0) }
        }
        let total = UInt32(16 + body.count)
        var msg: [UInt8] = []
        msg += withUnsafeBytes(of: total.littleEndian) { Array($0) }
        msg += withUnsafeBytes(of: type.littleEndian) { Array($0) }
        msg += withUnsafeBytes(of: (NL.NLM_F_REQUEST | NL.NLM_F_ACK | flags).littleEndian) { Array($0) }
        msg += withUnsafeBytes(of: seq.littleEndian) { Array($0) }
        msg += [0, 0, 0, 0]
        msg += body
        let what = "\(type == NL.RTM_NEWADDR ? "RTM_NEWADDR" : "RTM_DELADDR") \(address) dev \(interface)"
        let s = fd
        _ = try syscall("send", what) { msg.withUnsafeBytes { send(s, $0.baseAddress, $0.count, 0) } }
        // Read until the ack (NLMSG_ERROR) for our sequence number; bounded.
        var buf = [UInt8](repeating: 0, count: 8192)
        for _ in 0..<16 {
            let n = try syscall("recv", what) { buf.withUnsafeMutableBytes { recv(s, $0.baseAddress, $0.count, 0) } }
            var off = 0
            while off + 16 <= n {
                let len = Int(UInt32(buf[off]) | UInt32(buf[off + 1]) << 8 | UInt32(buf[off + 2]) << 16 | UInt32(buf[off + 3]) << 24)
                let mtype = UInt16(buf[off + 4]) | UInt16(buf[off + 5]) << 8
                let mseq = UInt32(buf[off + 8]) | UInt32(buf[off + 9]) << 8 | UInt32(buf[off + 10]) << 16 | UInt32(buf[off + 11]) << 24
                if mtype == NL.NLMSG_ERROR && mseq == seq && off + 20 <= n {
                    let err = Int32(bitPattern: UInt32(buf[off + 16]) | UInt32(buf[off + 17]) << 8 | UInt32(buf[off + 18]) << 16 | UInt32(buf[off + 19]) << 24)
                    if err == 0 { return }
                    throw SystemCallError(function: "rtnetlink", context: what, errno: -err)
                }
                guard len >= 16 else { break }
                off += (len + 3) & ~3
            }
        }
        throw SystemCallError(function: "rtnetlink", context: "\(what): no ack", errno: ETIMEDOUT)
    }
}
