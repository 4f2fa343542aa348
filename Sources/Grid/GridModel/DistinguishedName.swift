/// A certificate subject in the OpenSSL "one-line" slash form that grid middleware (VOMS, GUMS, SAZ) uses:
/// `/DC=org/DC=example/OU=People/CN=Jane Doe 12345`.
///
/// Accepted format (documented in docs/gridservices.md):
/// - starts with `/`, at most ``maxLength`` UTF-8 bytes, no control characters;
/// - a sequence of `KEY=VALUE` attributes separated by `/`; KEY is one of ``knownKeys`` (case-sensitive,
///   as OpenSSL prints them);
/// - a `/` followed by text that does not look like `KEY=` (no `=`, or text before `=` that is not an
///   attribute-type name) belongs to the previous value, so host and service subjects such as
///   `/DC=org/OU=Services/CN=http/fg5x1.fnal.gov` parse as one CN; `/XX=...` with an unknown type is an error;
/// - every value is non-empty and has no leading or trailing blank;
/// - at least one `CN` attribute.
///
/// The subject is kept exactly as given: grid services compare subjects byte for byte.
public struct DistinguishedName: Sendable, Hashable, CustomStringConvertible {
    /// One `KEY=VALUE` attribute of a subject.
    public struct Attribute: Sendable, Hashable {
        /// The attribute type, e.g. `CN`.
        public var key: String
        /// The attribute value, e.g. `Jane Doe 12345`.
        public var value: String
    }

    /// The longest subject accepted, in UTF-8 bytes.
    public static let maxLength = 512

    /// Attribute types accepted in a subject.
    public static let knownKeys: Set<String> = [
        "DC", "C", "ST", "L", "O", "OU", "CN", "UID", "emailAddress", "E", "serialNumber", "SN", "GN", "title",
    ]

    /// `[A-Za-z][A-Za-z0-9.]*`: text before `=` that can only be meant as an attribute type.
    static func looksLikeKey(_ s: String) -> Bool {
        guard let f = s.unicodeScalars.first, f.properties.isAlphabetic, f.isASCII else { return false }
        return s.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == ".") }
    }

    /// The subject exactly as given.
    public let text: String

    /// The parsed attributes, in order (computed from ``text`` on demand: the request path only needs the
    /// validation, so it does not pay for an array of strings per request).
    public var attributes: [Attribute] { (try? Self.parseAttributes(text)) ?? [] }

    /// The string form, identical to ``text``.
    public var description: String { text }

    /// The first `CN` value (there is always one).
    public var commonName: String { attributes.first { $0.key == "CN" }!.value }

    /// Parses and validates a subject; throws ``DNError`` saying what is wrong and where.
    ///
    /// A byte-level check accepts the common case (printable ASCII, every rule met) without allocating;
    /// anything else goes through ``parseAttributes(_:)``, which gives the precise error. The fast check only
    /// ever accepts subjects that the full parse accepts too.
    public init(_ text: String) throws(DNError) {
        var t = text
        let fast = t.withUTF8 { Self.isPlainValid($0) }
        if !fast { _ = try Self.parseAttributes(text) }
        self.text = text
    }

    /// The subject's attributes; throws the first problem found.
    static func parseAttributes(_ text: String) throws(DNError) -> [Attribute] {
        let utf8 = text.utf8
        guard !utf8.isEmpty else { throw DNError(code: .empty, offset: 0, detail: "the subject is empty") }
        guard utf8.count <= Self.maxLength else {
            throw DNError(code: .tooLong, offset: Self.maxLength,
                          detail: "the subject is \(utf8.count) bytes, more than the \(Self.maxLength) allowed")
        }
        guard utf8.first == UInt8(ascii: "/") else {
            throw DNError(code: .missingLeadingSlash, offset: 0,
                          detail: "a subject starts with '/', e.g. /DC=org/DC=example/CN=Jane Doe")
        }
        // Control characters (U+0000-U+001F, U+007F) are single bytes in UTF-8 and never part of a
        // multi-byte sequence, so a byte scan finds them and their byte offset.
        var offset = 0
        for byte in utf8 {
            if byte < 0x20 || byte == 0x7F {
                throw DNError(code: .controlCharacter, offset: offset,
                              detail: "control character U+\(String(byte, radix: 16, uppercase: true))")
            }
            offset += 1
        }
        // Split on '/', then glue segments that are not "KEY=" onto the previous value.
        var attrs: [Attribute] = []
        var position = 1
        for segment in text.utf8.dropFirst().split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false) {
            let segText = String(decoding: segment, as: UTF8.self)
            defer { position += segment.count + 1 }
            let eq = segText.firstIndex(of: "=")
            let key = eq.map { String(segText[..<$0]) }
            if let eq, let key, Self.knownKeys.contains(key) {
                attrs.append(Attribute(key: key, value: String(segText[segText.index(after: eq)...])))
            } else if let key, Self.looksLikeKey(key) {
                throw DNError(code: .unknownAttribute, offset: position,
                              detail: "'\(key)' is not a known attribute type (use one of \(Self.knownKeys.sorted().joined(separator: ", ")))")
            } else if !attrs.isEmpty, !segText.isEmpty {
                attrs[attrs.count - 1].value += "/" + segText
            } else if segText.isEmpty {
                throw DNError(code: .emptyAttribute, offset: position, detail: "empty attribute ('//' or a trailing '/')")
            } else {
                let key = segText.split(separator: "=", maxSplits: 1).first.map(String.init) ?? segText
                throw DNError(code: .unknownAttribute, offset: position,
                              detail: "'\(key)' is not a known attribute type (use one of \(Self.knownKeys.sorted().joined(separator: ", ")))")
            }
        }
        for attr in attrs {
            if attr.value.isEmpty {
                throw DNError(code: .emptyValue, offset: 0, detail: "attribute \(attr.key) has an empty value")
            }
            if attr.value.first == " " || attr.value.last == " " {
                throw DNError(code: .blankPadding, offset: 0, detail: "attribute \(attr.key) value has a leading or trailing blank")
            }
        }
        guard attrs.contains(where: { $0.key == "CN" }) else {
            throw DNError(code: .missingCommonName, offset: 0, detail: "the subject has no CN attribute")
        }
        return attrs
    }

    /// ``knownKeys`` as bytes, for the byte-level check.
    private static let knownKeyBytes: [[UInt8]] = knownKeys.map { Array($0.utf8) }

    /// Whether `u[start..<end]` is one of ``knownKeys``; sets `isCN` when it is `CN`.
    private static func isKnownKey(_ u: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int, isCN: inout Bool) -> Bool {
        let n = end - start
        if n == 2, u[start] == UInt8(ascii: "C"), u[start + 1] == UInt8(ascii: "N") { isCN = true; return true }
        isCN = false
        for k in knownKeyBytes where k.count == n {
            var same = true
            for i in 0..<n where u[start + i] != k[i] { same = false; break }
            if same { return true }
        }
        return false
    }

    /// The byte-level check: true only for a subject of printable ASCII that meets every rule of the type
    /// (the same rules as ``parseAttributes(_:)``); false means "let the full parse decide".
    static func isPlainValid(_ u: UnsafeBufferPointer<UInt8>) -> Bool {
        let n = u.count
        guard n >= 1, n <= maxLength, u[0] == UInt8(ascii: "/") else { return false }
        for c in u where c < 0x20 || c >= 0x7F { return false }
        var attrs = 0
        var hasCN = false
        var valueStart = 0, valueEnd = 0
        func valueOK() -> Bool {
            valueEnd > valueStart && u[valueStart] != 0x20 && u[valueEnd - 1] != 0x20
        }
        var segStart = 1
        while segStart <= n {
            var segEnd = segStart
            var eq = -1
            while segEnd < n, u[segEnd] != UInt8(ascii: "/") {
                if eq < 0, u[segEnd] == UInt8(ascii: "=") { eq = segEnd }
                segEnd += 1
            }
            var isCN = false
            if eq >= 0, isKnownKey(u, segStart, eq, isCN: &isCN) {
                if attrs > 0, !valueOK() { return false }
                attrs += 1
                if isCN { hasCN = true }
                valueStart = eq + 1
                valueEnd = segEnd
            } else if eq >= 0, eq > segStart, (u[segStart] | 0x20) >= UInt8(ascii: "a"), (u[segStart] | 0x20) <= UInt8(ascii: "z"),
                      (segStart..<eq).allSatisfy({ i in
                          let c = u[i]
                          return ((c | 0x20) >= UInt8(ascii: "a") && (c | 0x20) <= UInt8(ascii: "z")) || (c >= 0x30 && c <= 0x39) || c == UInt8(ascii: ".")
                      }) {
                return false  // an unknown attribute type: an error
            } else if attrs > 0, segEnd > segStart {
                valueEnd = segEnd  // glued onto the previous value
            } else {
                return false
            }
            segStart = segEnd + 1
        }
        return attrs > 0 && valueOK() && hasCN
    }
}

/// Why a subject was rejected by ``DistinguishedName/init(_:)``.
public struct DNError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Stable machine-readable reason.
    public enum Code: String, Sendable {
        /// The subject is the empty string.
        case empty
        /// The subject is longer than ``DistinguishedName/maxLength``.
        case tooLong
        /// The subject does not start with `/`.
        case missingLeadingSlash
        /// A control character appears in the subject.
        case controlCharacter
        /// `//` or a trailing `/`.
        case emptyAttribute
        /// A `KEY=` with an attribute type not in ``DistinguishedName/knownKeys``.
        case unknownAttribute
        /// `KEY=` with nothing after it.
        case emptyValue
        /// A value starts or ends with a blank.
        case blankPadding
        /// No `CN=` attribute.
        case missingCommonName
    }
    /// The reason.
    public var code: Code
    /// Byte offset in the subject where the problem was found (0 when it concerns the whole subject).
    public var offset: Int
    /// A sentence for people.
    public var detail: String
    /// "malformed DN (code) at byte N: detail".
    public var description: String { "malformed DN (\(code.rawValue)) at byte \(offset): \(detail)" }
}

/// A VOMS Fully Qualified Attribute Name: `/vo[/group...][/Role=role][/Capability=cap]`.
///
/// Group and VO names are `[A-Za-z0-9_.-]+`; `Role=NULL` means "no role" and is normalised away so that
/// `/cms/Role=NULL/Capability=NULL` and `/cms` name the same FQAN.
public struct FQAN: Sendable, Hashable, CustomStringConvertible {
    /// VO name (first group component).
    public let vo: String
    /// Group path including the VO, e.g. `/cms/uscms`.
    public let group: String
    /// Role, or nil for none.
    public let role: String?
    /// ``description``, built once (it is the GUMS cache key and part of every answer).
    private let canonical: String

    /// Canonical text: group, then `/Role=role` if any.
    public var description: String { canonical }

    /// Parses an FQAN; throws ``FQANError`` naming the problem.
    ///
    /// The canonical form (`/vo/group…[/Role=r]` with `r` not `NULL`, no `Capability`) is recognised at
    /// byte level and reuses `text` for ``group`` when there is no role; anything else (normalisation or
    /// an error) goes through the full parse.
    public init(_ text: String) throws(FQANError) {
        var t = text
        if let (voEnd, groupEnd) = t.withUTF8({ Self.canonicalParts($0) }) {
            let u = text.utf8
            let vo = String(text[text.index(after: text.startIndex)..<u.index(u.startIndex, offsetBy: voEnd)])
            if groupEnd == u.count {
                self.init(vo: vo, group: text, role: nil, canonical: text)
            } else {
                let g = u.index(u.startIndex, offsetBy: groupEnd)
                self.init(vo: vo, group: String(text[..<g]), role: String(text[u.index(g, offsetBy: 6)...]), canonical: text)
            }
            return
        }
        try self.init(parsing: text)
    }

    /// For a canonical FQAN, the end of its VO name and of its group path (the role, if any, follows
    /// `/Role=`); nil for anything the full parse must look at.
    static func canonicalParts(_ u: UnsafeBufferPointer<UInt8>) -> (Int, Int)? {
        let n = u.count
        guard n >= 2, n <= 255, u[0] == UInt8(ascii: "/") else { return nil }
        var voEnd = -1
        var start = 1
        while start <= n {
            var end = start
            var plain = true
            while end < n, u[end] != UInt8(ascii: "/") {
                let c = u[end]
                if !((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x5F || c == 0x2E || c == 0x2D) {
                    plain = false
                }
                end += 1
            }
            let len = end - start
            if plain {
                guard len >= 1, len <= 64 else { return nil }
                if voEnd < 0 { voEnd = end }
            } else {
                // Only a final `Role=name` (name not NULL) after at least one group.
                guard voEnd >= 0, end == n, len > 5, len <= 69,
                      u[start] == UInt8(ascii: "R"), u[start + 1] == UInt8(ascii: "o"), u[start + 2] == UInt8(ascii: "l"),
                      u[start + 3] == UInt8(ascii: "e"), u[start + 4] == UInt8(ascii: "=") else { return nil }
                for i in (start + 5)..<end {
                    let c = u[i]
                    guard (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x5F || c == 0x2E || c == 0x2D else { return nil }
                }
                if len == 9, u[start + 5] == UInt8(ascii: "N"), u[start + 6] == UInt8(ascii: "U"), u[start + 7] == UInt8(ascii: "L"), u[start + 8] == UInt8(ascii: "L") {
                    return nil
                }
                return (voEnd, start - 1)
            }
            start = end + 1
        }
        return voEnd >= 0 ? (voEnd, n) : nil
    }

    private init(vo: String, group: String, role: String?, canonical: String) {
        self.vo = vo
        self.group = group
        self.role = role
        self.canonical = canonical
    }

    /// The full parse: normalises `Role=NULL` and `Capability=NULL`, and names what is wrong.
    init(parsing text: String) throws(FQANError) {
        guard text.utf8.count <= 255 else { throw FQANError(fqan: String(text.prefix(64)), detail: "longer than 255 bytes") }
        guard text.first == "/" else { throw FQANError(fqan: text, detail: "an FQAN starts with '/', e.g. /cms/Role=production") }
        var groups: [Substring] = []
        var role: String?
        var sawRole = false
        for part in text.dropFirst().split(separator: "/", omittingEmptySubsequences: false) {
            if part.hasPrefix("Role=") {
                guard !sawRole else { throw FQANError(fqan: text, detail: "Role given twice") }
                sawRole = true
                let r = part.dropFirst(5)
                guard Self.isName(r) else { throw FQANError(fqan: text, detail: "role '\(r)' is not [A-Za-z0-9_.-]+") }
                role = r == "NULL" ? nil : String(r)
            } else if part.hasPrefix("Capability=") {
                let c = part.dropFirst(11)
                guard c == "NULL" else { throw FQANError(fqan: text, detail: "capabilities are deprecated; only Capability=NULL is accepted") }
            } else {
                guard !sawRole else { throw FQANError(fqan: text, detail: "group component '\(part)' after Role=") }
                guard Self.isName(part) else { throw FQANError(fqan: text, detail: "group component '\(part)' is not [A-Za-z0-9_.-]+") }
                groups.append(part)
            }
        }
        guard let first = groups.first else { throw FQANError(fqan: text, detail: "no VO name") }
        let group = "/" + groups.joined(separator: "/")
        self.vo = String(first)
        self.group = group
        self.role = role
        self.canonical = role.map { "\(group)/Role=\($0)" } ?? group
    }

    /// Builds an FQAN from parts already known to be valid.
    public init(group: String, role: String?) {
        self.group = group
        self.vo = String(group.dropFirst().split(separator: "/").first ?? "")
        self.role = role
        self.canonical = role.map { r in "\(group)/Role=\(r)" } ?? group
    }

    /// The FQANs this one falls back to, most specific first: itself, its group without the role, then each
    /// parent group up to the VO. GUMS looks mappings up in this order.
    public var fallbacks: [String] {
        var out = [description]
        if role != nil { out.append(group) }
        var comps = group.dropFirst().split(separator: "/")
        while comps.count > 1 {
            comps.removeLast()
            out.append("/" + comps.joined(separator: "/"))
        }
        return out
    }

    private static func isName(_ s: Substring) -> Bool {
        !s.isEmpty && s.count <= 64 && s.utf8.allSatisfy { c in
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x5F || c == 0x2E || c == 0x2D
        }
    }
}

/// Why an FQAN was rejected.
public struct FQANError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The rejected FQAN (cut to 64 characters if long).
    public var fqan: String
    /// What is wrong.
    public var detail: String
    /// "malformed FQAN 'x': detail".
    public var description: String { "malformed FQAN '\(fqan)': \(detail)" }
}
