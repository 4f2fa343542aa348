import CLibNL

/// A generic netlink request under construction.
///
/// The bytes are written in Swift into one buffer the message owns, laid out exactly as libnl
/// 3.7's `genlmsg_put`, `nla_put` and `nla_nest_start`/`nla_nest_end` lay them out (IPVSTests
/// compares against bytes libnl produced): `nlmsghdr`, `genlmsghdr`, then attributes, each padded
/// to 4 bytes, nests flagged `NLA_F_NESTED`, an empty nest dropped. One allocation per message
/// instead of a libnl `nl_msg` plus a temporary array per attribute, which was most of the cost of
/// encoding a 60,000-operation batch. Not thread-safe: one owner builds and sends it.
public final class NetlinkMessage {
    /// The message so far, `nlmsghdr` onwards; `nlmsg_len` is kept current. Bytes `0..<count` are
    /// initialized, `count..<capacity` are not.
    ///
    /// Exclusivity is not checked at run time: a message has one owner on one thread (the type is
    /// not `Sendable`) and no access overlaps another (a nest's body runs between accesses). The
    /// run-time checks cost about a quarter of the encoding time of a large batch.
    @exclusivity(unchecked) private var base: UnsafeMutableRawPointer
    @exclusivity(unchecked) private var count: Int
    @exclusivity(unchecked) private var capacity: Int

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

    /// Starts a message for generic netlink family `family` (what `genlmsg_put` writes; port and
    /// sequence stay 0 until it is sent).
    public init(family: Int32, command: UInt8, version: UInt8, flags: Flags = [.request]) throws(NetlinkError) {
        guard let type = UInt16(exactly: family) else {
            throw NetlinkError(code: .libnl, operation: "genlmsg_put", libnlCode: NLE_INVAL,
                               message: "generic netlink family id \(family) does not fit nlmsg_type")
        }
        capacity = Self.initialCapacity
        base = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 8)
        count = 0
        let h = append(Self.headerLength)                                              // zeroed: seq, pid, reserved
        h.storeBytes(of: UInt32(Self.headerLength).littleEndian, as: UInt32.self)       // nlmsg_len
        h.storeBytes(of: type.littleEndian, toByteOffset: 4, as: UInt16.self)           // nlmsg_type
        h.storeBytes(of: flags.union(.request).rawValue.littleEndian, toByteOffset: 6, as: UInt16.self)
        h.storeBytes(of: command, toByteOffset: 16, as: UInt8.self)                     // genlmsghdr.cmd
        h.storeBytes(of: version, toByteOffset: 17, as: UInt8.self)                     // genlmsghdr.version
    }

    deinit { base.deallocate() }

    /// Appends an attribute with raw payload bytes (`nla_put`).
    public func put(_ type: UInt16, bytes: [UInt8]) throws(NetlinkError) {
        try put(type, count: bytes.count) { p in bytes.withUnsafeBytes { p.copyMemory(from: $0.baseAddress!, byteCount: $0.count) } }
    }
    /// Appends an attribute whose payload is the bytes of `raw` (`nla_put`, no intermediate array).
    public func put(_ type: UInt16, raw: UnsafeRawBufferPointer) throws(NetlinkError) {
        try put(type, count: raw.count) { $0.copyMemory(from: raw.baseAddress!, byteCount: raw.count) }
    }
    /// Appends a `u8` attribute.
    public func put(_ type: UInt16, u8 v: UInt8) throws(NetlinkError) { try putInteger(type, v) }
    /// Appends a host-order `u16` attribute.
    public func put(_ type: UInt16, u16 v: UInt16) throws(NetlinkError) { try putInteger(type, v) }
    /// Appends a host-order `u32` attribute.
    public func put(_ type: UInt16, u32 v: UInt32) throws(NetlinkError) { try putInteger(type, v) }
    /// Appends a host-order `u64` attribute.
    public func put(_ type: UInt16, u64 v: UInt64) throws(NetlinkError) { try putInteger(type, v) }
    /// Appends a network-order `__be16` attribute from a host-order value.
    public func put(_ type: UInt16, be16 v: UInt16) throws(NetlinkError) { try putInteger(type, v.bigEndian) }
    /// Appends a network-order `__be32` attribute from a host-order value.
    public func put(_ type: UInt16, be32 v: UInt32) throws(NetlinkError) { try putInteger(type, v.bigEndian) }
    /// Appends a NUL-terminated string attribute (`nla_put_string`).
    public func put(_ type: UInt16, string: String) throws(NetlinkError) {
        // The NUL is the first of the zeroed bytes `put` reserves.
        try put(type, count: string.utf8.count + 1) { p in
            var text = string
            text.withUTF8 { if let b = $0.baseAddress { p.copyMemory(from: b, byteCount: $0.count) } }
        }
    }

    /// Appends a nested attribute whose contents `body` writes (`nla_nest_start` / `nla_nest_end`,
    /// including libnl's rule that an empty nest is dropped: the kernel rejects empty nests).
    public func nest(_ type: UInt16, _ body: (NetlinkMessage) throws(NetlinkError) -> Void) throws(NetlinkError) {
        let start = count
        let h = append(4)
        h.storeBytes(of: type | Self.nestedFlag, toByteOffset: 2, as: UInt16.self)
        try body(self)
        let len = count - start
        if len == 4 {
            count = start
        } else {
            guard let l = UInt16(exactly: len) else {
                count = start
                throw Self.tooLarge(type, len)
            }
            base.storeBytes(of: l.littleEndian, toByteOffset: start, as: UInt16.self)
        }
        updateLength()
    }

    /// The whole message as sent on the wire (`nlmsghdr` onwards).
    public var bytes: [UInt8] { withBytes { Array($0) } }

    /// The attributes after the genl header, parsed back (for tests and logging).
    public func parsedAttributes() throws(NetlinkError) -> Attributes {
        try Attributes(bytes: withBytes { Array($0[NetlinkMessage.headerLength...]) })
    }

    /// `nlmsg_flags` of the header.
    var flags: UInt16 {
        get { UInt16(littleEndian: base.loadUnaligned(fromByteOffset: 6, as: UInt16.self)) }
        set { base.storeBytes(of: newValue.littleEndian, toByteOffset: 6, as: UInt16.self) }
    }
    /// `nlmsg_seq` of the header.
    var sequence: UInt32 {
        get { UInt32(littleEndian: base.loadUnaligned(fromByteOffset: 8, as: UInt32.self)) }
        set { base.storeBytes(of: newValue.littleEndian, toByteOffset: 8, as: UInt32.self) }
    }
    /// Length of the whole message (a multiple of 4).
    var length: Int { count }
    /// Calls `body` with the message's bytes, valid only during the call.
    func withBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        body(UnsafeRawBufferPointer(start: base, count: count))
    }

    /// `NLMSG_HDRLEN + GENL_HDRLEN` (16 + 4): macros Swift cannot import, fixed by the ABI.
    static let headerLength = 20
    /// `NLA_F_NESTED`, which libnl 3.7's `nla_nest_start` sets.
    static let nestedFlag: UInt16 = 0x8000
    /// Enough for any IPVS request (a destination is 140 bytes), so building one never reallocates.
    static let initialCapacity = 256

    /// Appends `n` zeroed bytes (growing the buffer if needed) and returns where they start.
    private func append(_ n: Int) -> UnsafeMutableRawPointer {
        if count + n > capacity {
            var c = capacity * 2
            while c < count + n { c *= 2 }
            let b = UnsafeMutableRawPointer.allocate(byteCount: c, alignment: 8)
            b.copyMemory(from: base, byteCount: count)
            base.deallocate()
            base = b
            capacity = c
        }
        let p = base + count
        p.initializeMemory(as: UInt8.self, repeating: 0, count: n)
        count += n
        return p
    }

    /// Appends an attribute header and `count` zeroed bytes padded to 4, lets `payload` fill the
    /// first `count` of them (only if `count > 0`), and updates `nlmsg_len`.
    @inline(__always)
    private func put(_ type: UInt16, count payloadCount: Int, _ payload: (UnsafeMutableRawPointer) -> Void) throws(NetlinkError) {
        guard payloadCount <= Int(UInt16.max) - 4 else { throw Self.tooLarge(type, payloadCount + 4) }
        let p = append(4 + (payloadCount + 3) & ~3)
        p.storeBytes(of: UInt16(4 + payloadCount).littleEndian, as: UInt16.self)
        p.storeBytes(of: type.littleEndian, toByteOffset: 2, as: UInt16.self)
        if payloadCount > 0 { payload(p + 4) }
        updateLength()
    }

    @inline(__always)
    private func putInteger<T: FixedWidthInteger>(_ type: UInt16, _ v: T) throws(NetlinkError) {
        try put(type, count: MemoryLayout<T>.size) { $0.storeBytes(of: v.littleEndian, as: T.self) }
    }

    private func updateLength() {
        base.storeBytes(of: UInt32(count).littleEndian, as: UInt32.self)
    }

    private static func tooLarge(_ type: UInt16, _ len: Int) -> NetlinkError {
        NetlinkError(code: .libnl, operation: "nla_put", libnlCode: NLE_MSGSIZE,
                     message: "attribute \(type) of \(len) bytes exceeds the 65,535-byte netlink attribute limit")
    }
}
