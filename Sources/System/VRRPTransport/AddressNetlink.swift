// VIP ownership through rtnetlink: RTM_NEWADDR / RTM_DELADDR on a plain NETLINK_ROUTE socket
// (framing shared with LinkWatch in RouteNetlink.swift).
#if canImport(Glibc)
import Glibc
#endif
import Topology
import Net
import Syscall

/// Adds and removes addresses on one interface, as `ip addr add/del ADDR/32 dev IF` would, without `ip`.
public final class AddressNetlink {
    private let socket: RouteNetlinkSocket
    private let ifindex: Int32
    private let interface: String
    private var seq: UInt32 = 1

    /// Opens a NETLINK_ROUTE socket for `interface`.
    public init(interface: String) throws(SystemCallError) {
        self.interface = interface
        ifindex = try interfaceIndex(interface)
        socket = try RouteNetlinkSocket()
    }

    deinit { socket.close() }

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
        for attr in [NL.IFA_LOCAL, NL.IFA_ADDRESS] { body += RouteNetlinkSocket.attribute(attr, address.bytes) }
        let what = "\(type == NL.RTM_NEWADDR ? "RTM_NEWADDR" : "RTM_DELADDR") \(address) dev \(interface)"
        try socket.send(type: type, flags: NL.NLM_F_ACK | flags, sequence: seq, body: body, what: what)
        // Read until the ack (NLMSG_ERROR) for our sequence number; bounded.
        for _ in 0..<16 {
            for m in try socket.receive(what: what) ?? [] where m.sequence == seq {
                guard let err = m.error else { continue }
                if err == 0 { return }
                throw SystemCallError(function: "rtnetlink", context: what, errno: -err)
            }
        }
        throw SystemCallError(function: "rtnetlink", context: "\(what): no ack", errno: ETIMEDOUT)
    }
}
