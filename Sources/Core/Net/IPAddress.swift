/// Address family of an ``IPAddress``. IPv4 and IPv6 are both first-class everywhere in Tandem.
public enum AddressFamily: String, Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    /// IPv4 (`AF_INET`).
    case v4 = "ipv4"
    /// IPv6 (`AF_INET6`).
    case v6 = "ipv6"

    /// Number of bits in an address of this family.
    public var bitWidth: Int { self == .v4 ? 32 : 128 }
    /// Address length in bytes.
    public var byteCount: Int { self == .v4 ? 4 : 16 }
    /// `ipv4` / `ipv6`.
    public var description: String { rawValue }
    /// Orders IPv4 first.
    public static func < (a: Self, b: Self) -> Bool { a == .v4 && b == .v6 }
}

/// An IPv4 or IPv6 address: the one address type of Tandem, from the topology file to the kernel.
///
/// Stored inline as two integers, so hashing, comparing and copying an address (which the
/// reconciler does for every destination of every service) never touches the heap; ``bytes``
/// builds the byte array on demand for callers that want one.
///
/// Parsing is strict on purpose: a topology file is the one place where a typo in an address can
/// silently point a VIP at the wrong network, so `10.0.0.256`, `1.2.3`, `010.0.0.1` or `::1::2` are
/// rejected.
public struct IPAddress: Sendable, Hashable, Comparable, CustomStringConvertible, Codable {
    /// Bytes 0–7 as a big-endian integer (an IPv4 address fills the top 32 bits).
    let high: UInt64
    /// Bytes 8–15 as a big-endian integer (0 for IPv4).
    let low: UInt64
    /// Family, from the byte count. (Declared last: the enclosing values pack into the 7 bytes after it.)
    public let family: AddressFamily

    /// 4 or 16 network-order bytes.
    public var bytes: [UInt8] { withWireBytes { Array($0.prefix(family.byteCount)) } }

    /// An address from 4 or 16 network-order bytes; `nil` for any other count.
    public init?(bytes: [UInt8]) {
        guard let a = bytes.withUnsafeBytes({ IPAddress(networkBytes: $0) }) else { return nil }
        self = a
    }

    /// An address from 4 or 16 network-order bytes in `raw`; `nil` for any other length.
    public init?(networkBytes raw: UnsafeRawBufferPointer) {
        switch raw.count {
        case 4:
            family = .v4
            high = UInt64(UInt32(bigEndian: raw.loadUnaligned(as: UInt32.self))) << 32
            low = 0
        case 16:
            family = .v6
            high = UInt64(bigEndian: raw.loadUnaligned(as: UInt64.self))
            low = UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        default:
            return nil
        }
    }

    /// An IPv4 address from its host-order value (`0x0a000001` is `10.0.0.1`).
    public init(ipv4 value: UInt32) {
        family = .v4; high = UInt64(value) << 32; low = 0
    }

    /// The host-order value of an IPv4 address (`nil` for IPv6).
    public var ipv4Value: UInt32? { family == .v4 ? UInt32(truncatingIfNeeded: high >> 32) : nil }

    /// Parses dotted-quad IPv4 or RFC 4291 text IPv6 (with `::` compression and an optional
    /// trailing dotted quad). Returns `nil` for anything else.
    public init?(_ text: String) {
        let b: [UInt8]?
        if text.utf8.contains(UInt8(ascii: ":")) { b = Self.parseV6(Substring(text)) } else { b = Self.parseV4(Substring(text)) }
        guard let b, let a = IPAddress(bytes: b) else { return nil }
        self = a
    }

    /// Calls `body` with the address as `union nf_inet_addr` and `in6_addr` carry it: 16
    /// network-order bytes, an IPv4 address in the first four and zeros after.
    public func withWireBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try Swift.withUnsafeBytes(of: (high.bigEndian, low.bigEndian), body)
    }

    private static func parseV4(_ text: Substring) -> [UInt8]? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var out: [UInt8] = []
        for p in parts {
            guard !p.isEmpty, p.count <= 3, p.allSatisfy({ $0.isASCII && $0.isNumber }),
                  let v = Int(p), v <= 255 else { return nil }
            // "010" is ambiguous (octal in inet_aton): refuse rather than guess.
            if p.count > 1 && p.first == "0" { return nil }
            out.append(UInt8(v))
        }
        return out
    }

    private static func parseV6(_ text: Substring) -> [UInt8]? {
        if text.isEmpty { return nil }
        let halves = text.split(separator: "::", omittingEmptySubsequences: false)
        guard halves.count <= 2 else { return nil }
        func groups(_ s: Substring, final: Bool) -> [UInt8]? {
            if s.isEmpty { return [] }
            var out: [UInt8] = []
            let fields = s.split(separator: ":", omittingEmptySubsequences: false)
            for (i, f) in fields.enumerated() {
                if f.contains(".") {
                    // An embedded IPv4 is allowed only as the final field.
                    guard final, i == fields.count - 1, let v4 = parseV4(f) else { return nil }
                    out += v4
                    continue
                }
                guard !f.isEmpty, f.count <= 4, let v = UInt16(f, radix: 16) else { return nil }
                out += [UInt8(v >> 8), UInt8(v & 0xff)]
            }
            return out
        }
        if halves.count == 1 {
            guard let g = groups(halves[0], final: true), g.count == 16 else { return nil }
            return g
        }
        guard let head = groups(halves[0], final: false), let tail = groups(halves[1], final: true),
              head.count + tail.count <= 14 else { return nil }
        return head + [UInt8](repeating: 0, count: 16 - head.count - tail.count) + tail
    }

    /// Canonical text: dotted quad, or RFC 5952 IPv6 (lower case, longest zero run compressed).
    public var description: String {
        if family == .v4 {
            let v = UInt32(truncatingIfNeeded: high >> 32)
            return "\(v >> 24).\((v >> 16) & 0xff).\((v >> 8) & 0xff).\(v & 0xff)"
        }
        var words: [UInt16] = []
        for i in 0..<4 { words.append(UInt16(truncatingIfNeeded: high >> (48 - 16 * i))) }
        for i in 0..<4 { words.append(UInt16(truncatingIfNeeded: low >> (48 - 16 * i))) }
        var bestStart = -1, bestLen = 0, curStart = -1, curLen = 0
        for (i, w) in words.enumerated() {
            if w == 0 {
                if curStart < 0 { curStart = i; curLen = 0 }
                curLen += 1
                if curLen > bestLen { bestStart = curStart; bestLen = curLen }
            } else { curStart = -1 }
        }
        if bestLen < 2 { return words.map { String($0, radix: 16) }.joined(separator: ":") }
        let head = words[..<bestStart].map { String($0, radix: 16) }.joined(separator: ":")
        let tail = words[(bestStart + bestLen)...].map { String($0, radix: 16) }.joined(separator: ":")
        return head + "::" + tail
    }

    /// `a:port` for IPv4, `[a]:port` for IPv6 (ipvsadm's and URLs' notation).
    public func withPort(_ port: UInt16) -> String {
        family == .v4 ? "\(self):\(port)" : "[\(self)]:\(port)"
    }

    /// Same family and bytes.
    public static func == (a: IPAddress, b: IPAddress) -> Bool {
        a.high == b.high && a.low == b.low && a.family == b.family
    }

    /// Hashes the family and bytes as three integers.
    public func hash(into h: inout Hasher) {
        h.combine(high)
        h.combine(low)
        h.combine(family == .v4)
    }

    /// Orders IPv4 before IPv6, then bytewise (the big-endian integers compare like the bytes).
    public static func < (a: IPAddress, b: IPAddress) -> Bool {
        if a.family != b.family { return a.family == .v4 }
        return a.high != b.high ? a.high < b.high : a.low < b.low
    }

    /// Decodes from the text form.
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let a = IPAddress(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not an IP address: \(text)"))
        }
        self = a
    }

    /// Encodes as the text form.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}

/// An interface address with its prefix length, as written `10.0.5.10/24` or `2001:db8::10/64`.
public struct InterfaceAddress: Hashable, Sendable, Codable, CustomStringConvertible {
    /// The address itself.
    public var address: IPAddress
    /// Prefix length; `nil` when the file gave a bare address.
    public var prefixLength: Int?

    /// Creates one.
    public init(address: IPAddress, prefixLength: Int? = nil) {
        self.address = address
        self.prefixLength = prefixLength
    }

    /// Why a CIDR string was refused; the loader turns this into a located diagnostic.
    public enum ParseError: Error, Equatable, Sendable {
        /// Not an address.
        case badAddress(String)
        /// A prefix that is not a number within the family's width.
        case badPrefix(String, family: AddressFamily)
    }

    /// Parses `ADDR` or `ADDR/PREFIX`, checking the prefix against the family's width.
    public static func parse(_ text: String) -> Result<InterfaceAddress, ParseError> {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let addr = IPAddress(String(parts[0])) else { return .failure(.badAddress(String(parts[0]))) }
        guard parts.count == 2 else { return .success(InterfaceAddress(address: addr)) }
        let p = parts[1]
        guard !p.isEmpty, p.allSatisfy({ $0.isASCII && $0.isNumber }), let n = Int(p),
              n <= addr.family.bitWidth else {
            return .failure(.badPrefix(String(p), family: addr.family))
        }
        return .success(InterfaceAddress(address: addr, prefixLength: n))
    }

    /// `ADDR` or `ADDR/PREFIX`.
    public var description: String {
        prefixLength.map { "\(address)/\($0)" } ?? address.description
    }
}
