/// Parsed netlink attributes (TLVs) of one message or one nest, by attribute type.
///
/// Parsing is pure Swift over a copied byte buffer so callers never hold pointers into libnl's
/// receive buffer; a missing attribute is `nil` rather than the crash `nla_get_*` gives in C.
public struct Attributes: Sendable, Equatable {
    /// The raw attribute stream (headers included).
    public let bytes: [UInt8]
    private var index: [UInt16: Range<Int>] = [:]

    /// `NLA_TYPE_MASK`: strips `NLA_F_NESTED` and `NLA_F_NET_BYTEORDER`.
    static let typeMask: UInt16 = 0x3fff

    /// Parses a stream of netlink attributes. Throws `.malformedReply` if a length runs past the end.
    public init(bytes: [UInt8]) throws(NetlinkError) {
        self.bytes = bytes
        var off = 0
        while off + 4 <= bytes.count {
            let len = Int(UInt16(bytes[off]) | UInt16(bytes[off + 1]) << 8)
            let type = (UInt16(bytes[off + 2]) | UInt16(bytes[off + 3]) << 8) & Attributes.typeMask
            guard len >= 4, off + len <= bytes.count else {
                throw NetlinkError(code: .malformedReply, operation: "nla_parse",
                                   message: "attribute \(type) length \(len) runs past the message (\(bytes.count - off) bytes left)")
            }
            index[type] = (off + 4)..<(off + len)
            off += (len + 3) & ~3
        }
    }

    /// Attribute types present, sorted.
    public var types: [UInt16] { index.keys.sorted() }

    /// The payload of attribute `type`, if present.
    public func payload(_ type: UInt16) -> ArraySlice<UInt8>? {
        guard let r = index[type] else { return nil }
        return bytes[r]
    }

    private func integer<T: FixedWidthInteger>(_ type: UInt16, as: T.Type) -> T? {
        guard let p = payload(type), p.count >= MemoryLayout<T>.size else { return nil }
        var v: T = 0
        for (i, b) in p.prefix(MemoryLayout<T>.size).enumerated() { v |= T(b) << (8 * i) }
        return v // little-endian host order (x86_64, aarch64)
    }

    /// A `u8` attribute.
    public func u8(_ type: UInt16) -> UInt8? { integer(type, as: UInt8.self) }
    /// A host-order `u16` attribute.
    public func u16(_ type: UInt16) -> UInt16? { integer(type, as: UInt16.self) }
    /// A host-order `u32` attribute.
    public func u32(_ type: UInt16) -> UInt32? { integer(type, as: UInt32.self) }
    /// A host-order `u64` attribute.
    public func u64(_ type: UInt16) -> UInt64? { integer(type, as: UInt64.self) }
    /// A network-order (`__be16`) attribute, returned in host order.
    public func be16(_ type: UInt16) -> UInt16? { u16(type).map { UInt16(bigEndian: $0) } }
    /// A network-order (`__be32`) attribute, returned in host order.
    public func be32(_ type: UInt16) -> UInt32? { u32(type).map { UInt32(bigEndian: $0) } }
    /// A NUL-terminated string attribute.
    public func string(_ type: UInt16) -> String? {
        guard let p = payload(type) else { return nil }
        let chars = p.prefix { $0 != 0 }
        return String(decoding: chars, as: UTF8.self)
    }
    /// A nested attribute set.
    public func nested(_ type: UInt16) throws(NetlinkError) -> Attributes? {
        guard let p = payload(type) else { return nil }
        return try Attributes(bytes: Array(p))
    }
}

/// One generic netlink message received from the kernel: its command and top-level attributes.
public struct GenericMessage: Sendable, Equatable {
    /// The genl command byte of the message.
    public var command: UInt8
    /// Attributes after the genl header.
    public var attributes: Attributes
    /// Creates a message value.
    public init(command: UInt8, attributes: Attributes) { self.command = command; self.attributes = attributes }
}
