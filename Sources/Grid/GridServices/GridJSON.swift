/// A small JSON reader and writer for the grid services' fixed request and answer shapes.
///
/// Foundation's `JSONDecoder`/`JSONEncoder` cost tens of microseconds per call on Linux, more than the rest
/// of a cached GUMS answer; these flat shapes (strings, an optional array of strings, an integer) need
/// neither. The reader is a complete RFC 8259 parser (any value may appear, unknown fields are skipped,
/// nesting is bounded), so a body the services do not understand is reported, never misread.
public enum GridJSON {
    /// A parsed JSON value. Objects keep their members in order (the last duplicate wins on lookup).
    /// Not `indirect`: arrays already hold their elements out of line, and a boxed case would cost one
    /// allocation per value parsed.
    public enum Value: Sendable, Equatable {
        /// A string.
        case string(String)
        /// A number, kept as its text.
        case number(String)
        /// `true` / `false`.
        case bool(Bool)
        /// `null`.
        case null
        /// An array.
        case array([Value])
        /// An object's members in order.
        case object([(String, Value)])

        public static func == (a: Value, b: Value) -> Bool {
            switch (a, b) {
            case (.string(let x), .string(let y)): return x == y
            case (.number(let x), .number(let y)): return x == y
            case (.bool(let x), .bool(let y)): return x == y
            case (.null, .null): return true
            case (.array(let x), .array(let y)): return x == y
            case (.object(let x), .object(let y)): return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
            default: return false
            }
        }

        /// The JSON type name, for error messages.
        public var typeName: String {
            switch self {
            case .string: "string"
            case .number: "number"
            case .bool: "boolean"
            case .null: "null"
            case .array: "array"
            case .object: "object"
            }
        }
    }

    /// Why a body is not JSON: what and at which byte.
    public struct SyntaxError: Error, Sendable, Equatable, CustomStringConvertible {
        /// Byte offset in the body.
        public var offset: Int
        /// What was wrong.
        public var detail: String
        /// "invalid JSON at byte N: detail".
        public var description: String { "invalid JSON at byte \(offset): \(detail)" }
    }

    /// Deepest nesting accepted (a body is at most a few KiB; this only stops stack exhaustion).
    public static let maxDepth = 32

    /// Parses one JSON text (whitespace around it allowed, nothing else after it).
    public static func parse(_ bytes: UnsafeRawBufferPointer) throws(SyntaxError) -> Value {
        var r = Reader(bytes: bytes)
        r.skipSpace()
        let v = try r.value(depth: 0)
        r.skipSpace()
        guard r.pos == bytes.count else { throw SyntaxError(offset: r.pos, detail: "unexpected data after the JSON value") }
        return v
    }

    /// Parses one JSON text from bytes.
    public static func parse(_ bytes: [UInt8]) throws(SyntaxError) -> Value {
        let r: Result<Value, SyntaxError> = bytes.withUnsafeBytes { b in Result { () throws(SyntaxError) -> Value in try parse(b) } }
        return try r.get()
    }

    private struct Reader {
        let bytes: UnsafeRawBufferPointer
        var pos = 0

        mutating func skipSpace() {
            while pos < bytes.count {
                switch bytes[pos] {
                case 0x20, 0x09, 0x0A, 0x0D: pos += 1
                default: return
                }
            }
        }

        func fail(_ detail: String) -> SyntaxError { SyntaxError(offset: pos, detail: detail) }

        mutating func value(depth: Int) throws(SyntaxError) -> Value {
            guard depth < GridJSON.maxDepth else { throw fail("nested deeper than \(GridJSON.maxDepth) levels") }
            guard pos < bytes.count else { throw fail("unexpected end of input") }
            switch bytes[pos] {
            case UInt8(ascii: "{"):
                pos += 1
                var members: [(String, Value)] = []
                members.reserveCapacity(4)
                skipSpace()
                if pos < bytes.count, bytes[pos] == UInt8(ascii: "}") { pos += 1; return .object(members) }
                while true {
                    skipSpace()
                    guard pos < bytes.count, bytes[pos] == UInt8(ascii: "\"") else { throw fail("expected a member name in quotes") }
                    let key = try string()
                    skipSpace()
                    guard pos < bytes.count, bytes[pos] == UInt8(ascii: ":") else { throw fail("expected ':' after a member name") }
                    pos += 1
                    skipSpace()
                    members.append((key, try value(depth: depth + 1)))
                    skipSpace()
                    guard pos < bytes.count else { throw fail("unterminated object") }
                    if bytes[pos] == UInt8(ascii: ",") { pos += 1; continue }
                    if bytes[pos] == UInt8(ascii: "}") { pos += 1; return .object(members) }
                    throw fail("expected ',' or '}' in an object")
                }
            case UInt8(ascii: "["):
                pos += 1
                var items: [Value] = []
                items.reserveCapacity(4)
                skipSpace()
                if pos < bytes.count, bytes[pos] == UInt8(ascii: "]") { pos += 1; return .array(items) }
                while true {
                    skipSpace()
                    items.append(try value(depth: depth + 1))
                    skipSpace()
                    guard pos < bytes.count else { throw fail("unterminated array") }
                    if bytes[pos] == UInt8(ascii: ",") { pos += 1; continue }
                    if bytes[pos] == UInt8(ascii: "]") { pos += 1; return .array(items) }
                    throw fail("expected ',' or ']' in an array")
                }
            case UInt8(ascii: "\""):
                return .string(try string())
            case UInt8(ascii: "t"): try literal("true"); return .bool(true)
            case UInt8(ascii: "f"): try literal("false"); return .bool(false)
            case UInt8(ascii: "n"): try literal("null"); return .null
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                return .number(try number())
            default:
                throw fail("unexpected character")
            }
        }

        mutating func literal(_ word: StaticString) throws(SyntaxError) {
            let n = word.utf8CodeUnitCount
            guard pos + n <= bytes.count else { throw fail("unexpected end of input") }
            for i in 0..<n where bytes[pos + i] != word.utf8Start[i] { throw fail("invalid literal") }
            pos += n
        }

        mutating func number() throws(SyntaxError) -> String {
            let start = pos
            func digits(_ r: inout Reader) -> Int {
                let s = r.pos
                while r.pos < r.bytes.count, (0x30...0x39).contains(r.bytes[r.pos]) { r.pos += 1 }
                return r.pos - s
            }
            if bytes[pos] == UInt8(ascii: "-") { pos += 1 }
            guard pos < bytes.count, (0x30...0x39).contains(bytes[pos]) else { throw fail("invalid number") }
            if bytes[pos] == UInt8(ascii: "0") { pos += 1 } else { _ = digits(&self) }
            if pos < bytes.count, bytes[pos] == UInt8(ascii: ".") {
                pos += 1
                guard digits(&self) > 0 else { throw fail("invalid number: no digits after '.'") }
            }
            if pos < bytes.count, bytes[pos] == UInt8(ascii: "e") || bytes[pos] == UInt8(ascii: "E") {
                pos += 1
                if pos < bytes.count, bytes[pos] == UInt8(ascii: "+") || bytes[pos] == UInt8(ascii: "-") { pos += 1 }
                guard digits(&self) > 0 else { throw fail("invalid number: no digits in the exponent") }
            }
            return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<pos]), as: UTF8.self)
        }

        /// A string starting at the opening quote; validates UTF-8 and escapes.
        mutating func string() throws(SyntaxError) -> String {
            pos += 1
            let start = pos
            // Fast path: no escapes. ASCII text needs no UTF-8 validation (and `String(validating:)` is a
            // generic call that looks its metadata up at run time, a measurable cost per request).
            var ascii = true
            while pos < bytes.count {
                let c = bytes[pos]
                if c == UInt8(ascii: "\"") {
                    let slice = UnsafeRawBufferPointer(rebasing: bytes[start..<pos])
                    let s: String
                    if ascii {
                        s = String(decoding: slice, as: UTF8.self)
                    } else {
                        guard let v = String(validating: slice, as: UTF8.self) else { throw SyntaxError(offset: start, detail: "string is not valid UTF-8") }
                        s = v
                    }
                    pos += 1
                    return s
                }
                if c >= 0x80 { ascii = false }
                if c == UInt8(ascii: "\\") { break }
                if c < 0x20 { throw fail("control character in a string") }
                pos += 1
            }
            guard pos < bytes.count else { throw fail("unterminated string") }
            // Slow path with escapes.
            var out = Array(UnsafeRawBufferPointer(rebasing: bytes[start..<pos]))
            while pos < bytes.count {
                let c = bytes[pos]
                if c == UInt8(ascii: "\"") {
                    guard let s = String(validating: out, as: UTF8.self) else { throw SyntaxError(offset: start, detail: "string is not valid UTF-8") }
                    pos += 1
                    return s
                }
                if c < 0x20 { throw fail("control character in a string") }
                if c != UInt8(ascii: "\\") { out.append(c); pos += 1; continue }
                pos += 1
                guard pos < bytes.count else { break }
                let e = bytes[pos]
                pos += 1
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if (0xD800...0xDBFF).contains(scalar) {
                        guard pos + 1 < bytes.count, bytes[pos] == UInt8(ascii: "\\"), bytes[pos + 1] == UInt8(ascii: "u") else {
                            throw fail("unpaired UTF-16 surrogate in \\u escape")
                        }
                        pos += 2
                        let low = try hex4()
                        guard (0xDC00...0xDFFF).contains(low) else { throw fail("unpaired UTF-16 surrogate in \\u escape") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00...0xDFFF).contains(scalar) {
                        throw fail("unpaired UTF-16 surrogate in \\u escape")
                    }
                    out.append(contentsOf: String(Character(Unicode.Scalar(scalar)!)).utf8)
                default:
                    throw fail("invalid escape '\\\(Character(Unicode.Scalar(e)))'")
                }
            }
            throw fail("unterminated string")
        }

        mutating func hex4() throws(SyntaxError) -> UInt32 {
            guard pos + 4 <= bytes.count else { throw fail("short \\u escape") }
            var v: UInt32 = 0
            for _ in 0..<4 {
                let c = bytes[pos]
                let d: UInt8
                switch c {
                case 0x30...0x39: d = c - 0x30
                case 0x41...0x46: d = c - 0x41 + 10
                case 0x61...0x66: d = c - 0x61 + 10
                default: throw fail("invalid hex digit in \\u escape")
                }
                v = v << 4 | UInt32(d)
                pos += 1
            }
            return v
        }
    }

    // MARK: writing

    /// Appends `s` as a JSON string literal (quotes included); escapes `"`, `\` and control characters, and
    /// leaves `/` and non-ASCII text as they are.
    public static func appendString(_ s: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var s = s
        s.withUTF8 { u in
            var runStart = 0
            for i in 0..<u.count {
                let c = u[i]
                guard c < 0x20 || c == UInt8(ascii: "\"") || c == UInt8(ascii: "\\") else { continue }
                out.append(contentsOf: UnsafeBufferPointer(rebasing: u[runStart..<i]))
                runStart = i + 1
                switch c {
                case UInt8(ascii: "\""): out.append(contentsOf: [0x5C, 0x22])
                case UInt8(ascii: "\\"): out.append(contentsOf: [0x5C, 0x5C])
                case 0x0A: out.append(contentsOf: [0x5C, UInt8(ascii: "n")])
                case 0x0D: out.append(contentsOf: [0x5C, UInt8(ascii: "r")])
                case 0x09: out.append(contentsOf: [0x5C, UInt8(ascii: "t")])
                default:
                    let hex = Array("0123456789abcdef".utf8)
                    out.append(contentsOf: [0x5C, UInt8(ascii: "u"), 0x30, 0x30, hex[Int(c >> 4)], hex[Int(c & 15)]])
                }
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: u[runStart..<u.count]))
        }
        out.append(UInt8(ascii: "\""))
    }

    /// Builds one flat JSON object: `{"k":v,...}` in the order written.
    public struct ObjectWriter {
        /// The bytes so far (call ``finish()`` to close the object).
        public private(set) var bytes: [UInt8]
        private var first = true

        /// Starts an object; `capacity` is a size hint.
        public init(capacity: Int = 256) {
            bytes = []
            bytes.reserveCapacity(capacity)
            bytes.append(UInt8(ascii: "{"))
        }

        private mutating func key(_ k: StaticString) {
            if !first { bytes.append(UInt8(ascii: ",")) }
            first = false
            bytes.append(UInt8(ascii: "\""))
            bytes.append(contentsOf: UnsafeBufferPointer(start: k.utf8Start, count: k.utf8CodeUnitCount))
            bytes.append(contentsOf: [UInt8(ascii: "\""), UInt8(ascii: ":")])
        }

        /// `"k":"v"`.
        public mutating func string(_ k: StaticString, _ v: String) {
            key(k)
            GridJSON.appendString(v, to: &bytes)
        }

        /// `"k":n`.
        public mutating func int(_ k: StaticString, _ v: Int) {
            key(k)
            bytes.append(contentsOf: String(v).utf8)
        }

        /// `"k":["a","b"]`.
        public mutating func strings(_ k: StaticString, _ v: [String]) {
            key(k)
            bytes.append(UInt8(ascii: "["))
            for (i, s) in v.enumerated() {
                if i > 0 { bytes.append(UInt8(ascii: ",")) }
                GridJSON.appendString(s, to: &bytes)
            }
            bytes.append(UInt8(ascii: "]"))
        }

        /// Closes the object and returns its bytes.
        public mutating func finish() -> [UInt8] {
            bytes.append(UInt8(ascii: "}"))
            return bytes
        }
    }
}

/// Typed access to the members of a request body, with the services' error codes: `missing_field` and
/// `bad_field` (400) name the field and what was expected.
public struct GridJSONObject: Sendable {
    /// Members in order.
    public let members: [(String, GridJSON.Value)]

    /// Parses a request body; anything but a JSON object is `malformed_json` (400).
    public init(body: UnsafeRawBufferPointer) throws(GridError) {
        let v: GridJSON.Value
        do { v = try GridJSON.parse(body) } catch {
            throw GridError(code: "malformed_json", status: 400,
                            message: "the body is not a JSON object of the expected shape (\(error)); send e.g. {\"dn\": \"/DC=org/CN=Jane Doe\"}")
        }
        guard case .object(let m) = v else {
            throw GridError(code: "malformed_json", status: 400,
                            message: "the body is a JSON \(v.typeName), not a JSON object of the expected shape")
        }
        members = m
    }

    /// The member named `key` (the last one if repeated).
    public subscript(key: String) -> GridJSON.Value? {
        members.last { $0.0 == key }?.1
    }

    /// A required string field.
    public func string(_ key: String) throws(GridError) -> String {
        guard let v = self[key] else {
            throw GridError(code: "missing_field", status: 400, message: "missing field '\(key)' in the JSON body")
        }
        guard case .string(let s) = v else { throw Self.badType(key, v, "a string") }
        return s
    }

    /// An optional string field (absent or null → nil).
    public func optionalString(_ key: String) throws(GridError) -> String? {
        guard let v = self[key] else { return nil }
        switch v {
        case .null: return nil
        case .string(let s): return s
        default: throw Self.badType(key, v, "a string or null")
        }
    }

    /// An optional array of strings (absent or null → nil).
    public func optionalStrings(_ key: String) throws(GridError) -> [String]? {
        guard let v = self[key] else { return nil }
        switch v {
        case .null: return nil
        case .array(let items):
            var out: [String] = []
            out.reserveCapacity(items.count)
            for (i, item) in items.enumerated() {
                guard case .string(let s) = item else { throw Self.badType("\(key).\(i)", item, "a string") }
                out.append(s)
            }
            return out
        default: throw Self.badType(key, v, "an array of strings or null")
        }
    }

    private static func badType(_ key: String, _ v: GridJSON.Value, _ expected: String) -> GridError {
        GridError(code: "bad_field", status: 400, message: "field '\(key)' has the wrong type or is null: expected \(expected), found \(v.typeName)")
    }
}
