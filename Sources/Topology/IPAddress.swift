/// Address family of an ``IPAddress``. IPv4 and IPv6 are both first-class everywhere in Tandem.
public enum AddressFamily: String, Sendable, Hashable, Codable, CustomStringConvertible {
    case v4 = "ipv4"
    case v6 = "ipv6"

    /// Number of bits in an address of this family.
    public var bitWidth: Int { self == .v4 ? 32 : 128 }
    public var description: String { rawValue }
}

/// An IPv4 or IPv6 address, stored as network-order bytes.
///
/// Parsing is strict on purpose: a topology file is the one place where a typo in an address can
/// silently point a VIP at the wrong network, so `10.0.0.256`, `1.2.3`, or `::1::2` are rejected.
public struct IPAddress: Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    /// The family, derived from the byte count (4 → IPv4, 16 → IPv6).
    public let family: AddressFamily
    /// Network-order bytes: 4 for IPv4, 16 for IPv6.
    public let bytes: [UInt8]

    /// Creates an address from raw network-order bytes; `nil` unless there are 4 or 16 of them.
    public init?(bytes: [UInt8]) {
        switch bytes.count {
        case 4: family = .v4
        case 16: family = .v6
        default: return nil
        }
        self.bytes = bytes
    }

    /// Parses dotted-quad IPv4 or RFC 4291 text IPv6 (with `::` compression and an optional
    /// trailing dotted quad). Returns `nil` for anything else.
    public init?(_ text: String) {
        if text.contains(":") {
            guard let b = IPAddress.parseV6(Substring(text)) else { return nil }
            self.family = .v6
            self.bytes = b
        } else {
            guard let b = IPAddress.parseV4(Substring(text)) else { return nil }
            self.family = .v4
            self.bytes = b
        }
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
        let halves = text.components(separatedBy: "::")
        guard halves.count <= 2 else { return nil }
        func groups(_ s: String, final: Bool) -> [UInt8]? {
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
        if family == .v4 { return bytes.map(String.init).joined(separator: ".") }
        var words: [UInt16] = []
        for i in stride(from: 0, to: 16, by: 2) { words.append(UInt16(bytes[i]) << 8 | UInt16(bytes[i + 1])) }
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

    public static func < (a: IPAddress, b: IPAddress) -> Bool {
        if a.family != b.family { return a.family == .v4 }
        return a.bytes.lexicographicallyPrecedes(b.bytes)
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let a = IPAddress(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not an IP address: \(text)"))
        }
        self = a
    }

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

    public init(address: IPAddress, prefixLength: Int? = nil) {
        self.address = address
        self.prefixLength = prefixLength
    }

    /// Why a CIDR string was refused; the loader turns this into a located diagnostic.
    public enum ParseError: Error, Equatable, Sendable {
        case badAddress(String)
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

    public var description: String {
        prefixLength.map { "\(address)/\($0)" } ?? address.description
    }
}
