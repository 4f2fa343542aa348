/// A complete request head, parsed at byte level (RFC 9112 sections 3 and 5), and the line checks the
/// chunked framing shares with it. Used by ``GridHTTPRequestParser``, which finds the head's end first.
struct GridHTTPHead {
    /// Why a head (or a framing line) is refused: the status to answer and what was wrong.
    struct Refusal: Error, Equatable {
        var status: Int
        var message: String
    }

    var request: GridHTTPRequest
    var keepAlive: Bool
    var isHead: Bool
    var chunked: Bool
    var expectContinue: Bool

    private static let cr: UInt8 = 0x0D, lf: UInt8 = 0x0A, sp: UInt8 = 0x20, htab: UInt8 = 0x09

    // Field names compared case-insensitively (ASCII letters folded with 0x20).
    private static let hContentLength = Array("content-length".utf8)
    private static let hContentType = Array("content-type".utf8)
    private static let hConnection = Array("connection".utf8)
    private static let hTransferEncoding = Array("transfer-encoding".utf8)
    private static let hExpect = Array("expect".utf8)
    private static let hContinue = Array("100-continue".utf8)
    private static let hChunked = Array("chunked".utf8)
    private static let hClose = Array("close".utf8)
    private static let hKeepAlive = Array("keep-alive".utf8)
    private static let applicationJSON = Array("application/json".utf8)

    private static func equalsFolded(_ raw: UnsafeRawBufferPointer, _ start: Int, _ end: Int, _ lower: [UInt8]) -> Bool {
        guard end - start == lower.count else { return false }
        for i in 0..<lower.count where raw[start + i] | 0x20 != lower[i] { return false }
        return true
    }

    /// Calls `each` with the bounds of every non-empty element of the comma-separated list
    /// `raw[start..<end]`, OWS trimmed (RFC 9110 section 5.6.1: empty elements are ignored). Stops early
    /// when `each` returns a refusal.
    private static func forEachElement(_ raw: UnsafeRawBufferPointer, _ start: Int, _ end: Int,
                                       _ each: (Int, Int) -> Refusal?) -> Refusal? {
        var i = start
        while i < end {
            while i < end, raw[i] == sp || raw[i] == htab || raw[i] == UInt8(ascii: ",") { i += 1 }
            var j = i
            while j < end, raw[j] != UInt8(ascii: ",") { j += 1 }
            var k = j
            while k > i, raw[k - 1] == sp || raw[k - 1] == htab { k -= 1 }
            if k > i, let refusal = each(i, k) { return refusal }
            i = j
        }
        return nil
    }

    private static func listContains(_ raw: UnsafeRawBufferPointer, _ start: Int, _ end: Int, _ token: [UInt8]) -> Bool {
        var found = false
        _ = forEachElement(raw, start, end) { i, k in
            if equalsFolded(raw, i, k, token) { found = true }
            return nil
        }
        return found
    }

    /// `tchar` of RFC 9110 section 5.6.2.
    static func isTokenByte(_ c: UInt8) -> Bool {
        switch c {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"), UInt8(ascii: "'"),
             UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "^"), UInt8(ascii: "_"),
             UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }

    /// A string for bytes, reusing literals for the common methods (no allocation for them).
    private static func text(_ raw: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> String {
        let n = end - start
        if n == 4, raw[start] == UInt8(ascii: "P"), raw[start + 1] == UInt8(ascii: "O"), raw[start + 2] == UInt8(ascii: "S"), raw[start + 3] == UInt8(ascii: "T") { return "POST" }
        if n == 3, raw[start] == UInt8(ascii: "G"), raw[start + 1] == UInt8(ascii: "E"), raw[start + 2] == UInt8(ascii: "T") { return "GET" }
        return String(decoding: UnsafeRawBufferPointer(rebasing: raw[start..<end]), as: UTF8.self)
    }

    /// A short, printable rendering of bytes for an error message.
    private static func shown(_ raw: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> String {
        var out = ""
        for i in start..<min(end, start + 40) {
            let c = raw[i]
            out += c >= 0x20 && c < 0x7F ? String(UnicodeScalar(c)) : "\\x" + String(c, radix: 16, uppercase: true)
        }
        return end - start > 40 ? out + "..." : out
    }

    /// The end of the line starting at `start` (index of its LF; `raw` ends in an LF).
    private static func lineFeed(_ raw: UnsafeRawBufferPointer, from start: Int) -> Int {
        var i = start
        while raw[i] != lf { i += 1 }
        return i
    }

    /// Checks one field line `raw[start..<end]` (line end excluded): `field-name ":" OWS field-value OWS`
    /// (RFC 9112 section 5). Returns the name's end and the value's bounds.
    static func fieldLine(_ raw: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> Result<(nameEnd: Int, value: Range<Int>), Refusal> {
        if raw[start] == sp || raw[start] == htab {
            return .failure(Refusal(status: 400, message: "obsolete line folding (a field line starting with whitespace) is not accepted (RFC 9112 section 5.2)"))
        }
        var c = start
        while c < end, raw[c] != UInt8(ascii: ":") {
            let b = raw[c]
            guard isTokenByte(b) else {
                if b == sp || b == htab {
                    return .failure(Refusal(status: 400, message: "whitespace between a field name and its colon in '\(shown(raw, start, end))' (RFC 9112 section 5.1)"))
                }
                if b == cr { return .failure(Refusal(status: 400, message: "bare CR in the field line '\(shown(raw, start, end))' (RFC 9112 section 2.2)")) }
                return .failure(Refusal(status: 400, message: "malformed field line '\(shown(raw, start, end))' (expected 'Name: value')"))
            }
            c += 1
        }
        guard c < end, c > start else {
            return .failure(Refusal(status: 400, message: "malformed field line '\(shown(raw, start, end))' (expected 'Name: value')"))
        }
        // field-value = *( VCHAR / obs-text / SP / HTAB ) (RFC 9110 section 5.5): CR, LF, NUL and the
        // other controls are refused, never passed on.
        for k in (c + 1)..<end {
            let b = raw[k]
            if b < 0x20 && b != htab || b == 0x7F {
                let what = b == cr ? "bare CR" : "control character 0x\(String(b, radix: 16, uppercase: true))"
                return .failure(Refusal(status: 400, message: "\(what) in the value of field '\(shown(raw, start, c))' (RFC 9112 section 2.2, RFC 9110 section 5.5)"))
            }
        }
        var vs = c + 1
        while vs < end, raw[vs] == sp || raw[vs] == htab { vs += 1 }
        var ve = end
        while ve > vs, raw[ve - 1] == sp || raw[ve - 1] == htab { ve -= 1 }
        return .success((c, vs..<ve))
    }

    /// Checks a trailer field line (its fields are not used).
    static func checkFieldLine(_ raw: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> Refusal? {
        if case .failure(let refusal) = fieldLine(raw, start, end) { return refusal }
        return nil
    }

    private static func refuse(_ status: Int, _ message: String) -> Result<GridHTTPHead, Refusal> {
        .failure(Refusal(status: status, message: message))
    }

    /// Parses a complete head: `raw` runs from the request line through the empty line that ends the head.
    static func parse(_ raw: UnsafeRawBufferPointer) -> Result<GridHTTPHead, Refusal> {
        // Request line (RFC 9112 section 3): method SP request-target SP HTTP-version.
        let lineEnd = lineFeed(raw, from: 0)
        var le = lineEnd
        if le > 0, raw[le - 1] == cr { le -= 1 }
        // Built only when refused: the common path allocates no message.
        func malformed() -> Result<GridHTTPHead, Refusal> {
            refuse(400, "malformed request line '\(shown(raw, 0, le))' (expected 'METHOD /path HTTP/1.1')")
        }
        var m = 0
        while m < le, isTokenByte(raw[m]) { m += 1 }
        guard m > 0, m < le, raw[m] == sp else { return malformed() }
        let targetStart = m + 1
        var t = targetStart
        while t < le, raw[t] != sp {
            guard raw[t] > sp, raw[t] != 0x7F else {
                return refuse(400, raw[t] == cr ? "bare CR in the request line (RFC 9112 section 2.2)" : "control character in the request target")
            }
            t += 1
        }
        guard t > targetStart, t < le else { return malformed() }
        // HTTP-version = "HTTP/" DIGIT "." DIGIT (RFC 9112 section 2.3).
        let v = t + 1
        guard le - v == 8, raw[v] == UInt8(ascii: "H"), raw[v + 1] == UInt8(ascii: "T"), raw[v + 2] == UInt8(ascii: "T"),
              raw[v + 3] == UInt8(ascii: "P"), raw[v + 4] == UInt8(ascii: "/"), raw[v + 6] == UInt8(ascii: "."),
              (0x30...0x39).contains(raw[v + 5]), (0x30...0x39).contains(raw[v + 7]) else {
            return malformed()
        }
        guard raw[v + 5] == UInt8(ascii: "1") else {
            return refuse(505, "HTTP/\(shown(raw, v + 5, v + 8)) is not served; use HTTP/1.1")
        }
        // A higher minor version is served as 1.1 (RFC 9110 section 2.5).
        let http11 = raw[v + 7] != UInt8(ascii: "0")
        var pathEnd = targetStart
        while pathEnd < t, raw[pathEnd] != UInt8(ascii: "?") { pathEnd += 1 }

        // Field lines.
        var contentLength: Int?
        var contentType: String?
        var close = !http11
        var chunkedCount = 0
        var transferEncoding = false
        var unknownCoding: String?
        var expectContinue = false
        var line = lineEnd + 1
        while line < raw.count {
            let next = lineFeed(raw, from: line)
            var e = next
            if e > line, raw[e - 1] == cr { e -= 1 }
            if e == line { break }  // the empty line
            let c: Int, vs: Int, ve: Int
            switch fieldLine(raw, line, e) {
            case .failure(let refusal): return .failure(refusal)
            case .success(let f): (c, vs, ve) = (f.nameEnd, f.value.lowerBound, f.value.upperBound)
            }
            switch c - line {
            case 14 where equalsFolded(raw, line, c, hContentLength):
                // RFC 9112 section 6.3: an invalid or conflicting length is an unrecoverable framing error.
                var value = 0
                guard ve > vs, ve - vs <= 15 else { return refuse(400, "invalid Content-Length '\(shown(raw, vs, ve))' (expected decimal digits)") }
                for k in vs..<ve {
                    let d = raw[k]
                    guard d >= 0x30, d <= 0x39 else { return refuse(400, "invalid Content-Length '\(shown(raw, vs, ve))' (expected decimal digits)") }
                    value = value * 10 + Int(d - 0x30)
                }
                if let old = contentLength, old != value { return refuse(400, "conflicting Content-Length fields (\(old) and \(value))") }
                contentLength = value
            case 12 where equalsFolded(raw, line, c, hContentType):
                if ve - vs == applicationJSON.count, UnsafeRawBufferPointer(rebasing: raw[vs..<ve]).elementsEqual(applicationJSON) {
                    contentType = "application/json"
                } else {
                    contentType = String(decoding: UnsafeRawBufferPointer(rebasing: raw[vs..<ve]), as: UTF8.self)
                }
            case 10 where equalsFolded(raw, line, c, hConnection):
                if listContains(raw, vs, ve, hClose) { close = true } else if listContains(raw, vs, ve, hKeepAlive) { close = false }
            case 17 where equalsFolded(raw, line, c, hTransferEncoding):
                // RFC 9112 section 6.1: the codings of every Transfer-Encoding line, in order; chunked
                // must be the last and appear once (section 7); no other coding is implemented here.
                transferEncoding = true
                if let refusal = forEachElement(raw, vs, ve, { i, k in
                    if chunkedCount > 0 {
                        if equalsFolded(raw, i, k, hChunked) {
                            return Refusal(status: 400, message: "the chunked transfer coding is applied more than once (RFC 9112 section 7)")
                        }
                    }
                    if equalsFolded(raw, i, k, hChunked) {
                        chunkedCount += 1
                    } else if unknownCoding == nil {
                        unknownCoding = shown(raw, i, k)
                    }
                    return nil
                }) {
                    return .failure(refusal)
                }
            case 6 where equalsFolded(raw, line, c, hExpect):
                // RFC 9110 section 10.1.1: 100-continue is the only expectation defined; an HTTP/1.0
                // request's Expect is ignored. Anything else cannot be met.
                guard http11 else { break }
                guard ve - vs == 12, equalsFolded(raw, vs, ve, hContinue) else {
                    return refuse(417, "the only expectation served is 'Expect: 100-continue'")
                }
                expectContinue = true
            default:
                break
            }
            line = next + 1
        }
        if transferEncoding {
            // RFC 9112 section 6.1: HTTP/1.0 predates Transfer-Encoding, so the framing is faulty; with
            // Content-Length as well it may be a smuggling attempt: both refused, the connection closed.
            guard http11 else { return refuse(400, "Transfer-Encoding in an HTTP/1.0 request (RFC 9112 section 6.1); send HTTP/1.1 or Content-Length") }
            guard contentLength == nil else { return refuse(400, "both Transfer-Encoding and Content-Length given (RFC 9112 section 6.1)") }
            if let coding = unknownCoding {
                return refuse(501, "transfer coding '\(coding)' is not implemented; only 'chunked' is accepted")
            }
            guard chunkedCount == 1 else { return refuse(400, "Transfer-Encoding names no coding") }
        }

        let method = text(raw, 0, m)
        let path = String(decoding: UnsafeRawBufferPointer(rebasing: raw[targetStart..<pathEnd]), as: UTF8.self)
        let isHead = m == 4 && raw[0] == UInt8(ascii: "H") && raw[1] == UInt8(ascii: "E") && raw[2] == UInt8(ascii: "A") && raw[3] == UInt8(ascii: "D")
        return .success(GridHTTPHead(
            request: GridHTTPRequest(method: method, path: path, contentType: contentType, contentLength: contentLength),
            keepAlive: !close, isHead: isHead, chunked: chunkedCount == 1, expectContinue: expectContinue))
    }

    private static func hexValue(_ c: UInt8) -> Int? {
        switch c {
        case 0x30...0x39: return Int(c - 0x30)
        case 0x41...0x46: return Int(c - 0x41 + 10)
        case 0x61...0x66: return Int(c - 0x61 + 10)
        default: return nil
        }
    }

    /// Reads a chunk-size line `raw` (its LF excluded; `lineLength` counts it):
    /// `chunk-size *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] ) CRLF` (RFC 9112 section 7.1.1).
    static func chunkSize(_ raw: UnsafeRawBufferPointer, lineLength: Int) -> ChunkLine {
        guard let last = raw.last, last == cr else { return .malformed("the line does not end in CRLF") }
        let end = raw.count - 1
        var i = 0, size = 0
        while i < end, let h = hexValue(raw[i]) {
            // Beyond 2^40 the size only needs to stay over every limit.
            if size < 1 << 40 { size = size * 16 + h }
            i += 1
        }
        guard i > 0 else { return .malformed("'\(shown(raw, 0, end))' does not start with a hexadecimal size") }
        func skipBWS() { while i < end, raw[i] == sp || raw[i] == htab { i += 1 } }
        func token() -> Bool {
            let s = i
            while i < end, isTokenByte(raw[i]) { i += 1 }
            return i > s
        }
        while i < end {
            skipBWS()
            guard i < end, raw[i] == UInt8(ascii: ";") else {
                return .malformed("'\(shown(raw, i, end))' after the chunk size '\(shown(raw, 0, min(i, end)))'")
            }
            i += 1
            skipBWS()
            guard token() else { return .malformed("a chunk extension without a name") }
            skipBWS()
            guard i < end, raw[i] == UInt8(ascii: "=") else { continue }
            i += 1
            skipBWS()
            if i < end, raw[i] == UInt8(ascii: "\"") {
                // quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE (RFC 9110 section 5.6.4)
                i += 1
                var closed = false
                while i < end {
                    let b = raw[i]
                    if b == UInt8(ascii: "\"") { closed = true; i += 1; break }
                    if b == UInt8(ascii: "\\") { i += 1; guard i < end else { break } }
                    let q = raw[i]
                    guard q == htab || q >= sp && q != 0x7F else { return .malformed("a control character in a chunk extension value") }
                    i += 1
                }
                guard closed else { return .malformed("an unterminated quoted chunk extension value") }
            } else {
                guard token() else { return .malformed("a chunk extension '=' without a value") }
            }
        }
        return .size(size, lineLength: lineLength)
    }
}
