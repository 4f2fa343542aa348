import CLibNL

/// A generic netlink request under construction (wraps a libnl `struct nl_msg`).
///
/// Built with `genlmsg_put` and `nla_put`/`nla_nest_start`/`nla_nest_end`; not thread-safe, like
/// the libnl object it owns.
public final class NetlinkMessage {
    let msg: OpaquePointer

    /// `NLM_F_*` flags a request may carry.
    public struct Flags: OptionSet, Sendable {
        /// The raw `nlmsg_flags` bits.
        public let rawValue: UInt16
        /// Creates flags from raw bits.
        public init(rawValue: UInt16) { self.rawValue = rawValue }
        /// `NLM_F_REQUEST`.
        public static let request = Flags(rawValue: UInt16(NLM_F_REQUEST))
        /// `NLM_F_ACK`.
        public static let ack = Flags(rawValue: UInt16(NLM_F_ACK))
        /// `NLM_F_DUMP`.
        public static let dump = Flags(rawValue: UInt16(NLM_F_DUMP))
    }

    /// Starts a message for generic netlink family `family` (`genlmsg_put`).
    public init(family: Int32, command: UInt8, version: UInt8, flags: Flags = [.request]) throws(NetlinkError) {
        msg = LibNL.messageAlloc(size: 512)
        try LibNL.genlmsgPut(msg, family: family, flags: Int32(flags.union(.request).rawValue),
                             command: command, version: version)
    }

    deinit { LibNL.messageFree(msg) }

    /// Appends an attribute with raw payload bytes (`nla_put`).
    public func put(_ type: UInt16, bytes: [UInt8]) throws(NetlinkError) {
        try LibNL.nlaPut(msg, type, bytes)
    }
    /// Appends a `u8` attribute.
    public func put(_ type: UInt16, u8 v: UInt8) throws(NetlinkError) { try put(type, bytes: [v]) }
    /// Appends a host-order `u16` attribute.
    public func put(_ type: UInt16, u16 v: UInt16) throws(NetlinkError) { try put(type, bytes: Self.le(v)) }
    /// Appends a host-order `u32` attribute.
    public func put(_ type: UInt16, u32 v: UInt32) throws(NetlinkError) { try put(type, bytes: Self.le(v)) }
    /// Appends a host-order `u64` attribute.
    public func put(_ type: UInt16, u64 v: UInt64) throws(NetlinkError) { try put(type, bytes: Self.le(v)) }
    /// Appends a network-order `__be16` attribute from a host-order value.
    public func put(_ type: UInt16, be16 v: UInt16) throws(NetlinkError) { try put(type, bytes: Self.le(v.bigEndian)) }
    /// Appends a network-order `__be32` attribute from a host-order value.
    public func put(_ type: UInt16, be32 v: UInt32) throws(NetlinkError) { try put(type, bytes: Self.le(v.bigEndian)) }
    /// Appends a NUL-terminated string attribute.
    public func put(_ type: UInt16, string: String) throws(NetlinkError) { try put(type, bytes: Array(string.utf8) + [0]) }

    /// Appends a nested attribute whose contents `body` writes (`nla_nest_start` / `nla_nest_end`).
    public func nest(_ type: UInt16, _ body: (NetlinkMessage) throws(NetlinkError) -> Void) throws(NetlinkError) {
        let start = try LibNL.nestStart(msg, type)
        try body(self)
        try LibNL.nestEnd(msg, start)
    }

    /// The whole message as sent on the wire (`nlmsghdr` onwards).
    public var bytes: [UInt8] {
        let h = LibNL.header(msg)
        let len = Int(h.pointee.nlmsg_len)
        return Array(UnsafeRawBufferPointer(start: UnsafeRawPointer(h), count: len))
    }

    /// The attributes after the genl header, parsed back (for tests and logging).
    public func parsedAttributes() throws(NetlinkError) -> Attributes {
        let all = bytes
        return try Attributes(bytes: Array(all.dropFirst(NetlinkMessage.headerLength)))
    }

    /// `nlmsg_flags` of the header.
    var flags: UInt16 {
        get { LibNL.header(msg).pointee.nlmsg_flags }
        set { LibNL.header(msg).pointee.nlmsg_flags = newValue }
    }
    /// `nlmsg_seq` of the header.
    var sequence: UInt32 {
        get { LibNL.header(msg).pointee.nlmsg_seq }
        set { LibNL.header(msg).pointee.nlmsg_seq = newValue }
    }
    /// Length of the whole message.
    var length: Int { Int(LibNL.header(msg).pointee.nlmsg_len) }
    /// Raw header pointer, valid while `self` lives.
    var headerPointer: UnsafeMutablePointer<nlmsghdr> { LibNL.header(msg) }

    /// `NLMSG_HDRLEN + GENL_HDRLEN` (16 + 4): macros Swift cannot import, fixed by the ABI.
    static let headerLength = 20

    private static func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] {
        withUnsafeBytes(of: v.littleEndian) { Array($0) }
    }
}
