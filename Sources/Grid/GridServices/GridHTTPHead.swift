import HTTPWire

/// A complete request head as gridsvc reads it: the request line and fields llhttp has parsed and
/// checked (``LLHTTPParser``), interpreted here (RFC 9112 sections 3, 6 and 7, RFC 9110 section 10.1.1),
/// and the status and message for what llhttp refused. Used by ``GridHTTPRequestParser``.
struct GridHTTPHead {
    /// Why a head (or a body's framing) is refused: the status to answer and what was wrong.
    struct Refusal: Error, Equatable {
        var status: Int
        var message: String
    }

    var request: GridHTTPRequest
    var keepAlive: Bool
    var isHead: Bool
    var chunked: Bool
    var expectContinue: Bool

    private static let sp: UInt8 = 0x20, htab: UInt8 = 0x09

    // Field names compared case-insensitively (ASCII letters folded with 0x20).
    private static let hContentType = Array("content-type".utf8)
    private static let hTransferEncoding = Array("transfer-encoding".utf8)
    private static let hExpect = Array("expect".utf8)
    private static let hContinue = Array("100-continue".utf8)
    private static let hChunked = Array("chunked".utf8)
    private static let applicationJSON = Array("application/json".utf8)

    private static func equalsFolded(_ raw: UnsafeRawBufferPointer, _ range: Range<Int>, _ lower: [UInt8]) -> Bool {
        guard range.count == lower.count else { return false }
        for i in 0..<lower.count where raw[range.lowerBound + i] | 0x20 != lower[i] { return false }
        return true
    }

    /// Calls `each` with the bounds of every non-empty element of the comma-separated list in `range`,
    /// OWS trimmed (RFC 9110 section 5.6.1: empty elements are ignored). Stops early when `each` returns
    /// a refusal.
    private static func forEachElement(_ raw: UnsafeRawBufferPointer, _ range: Range<Int>,
                                       _ each: (Range<Int>) -> Refusal?) -> Refusal? {
        var i = range.lowerBound
        let end = range.upperBound
        while i < end {
            while i < end, raw[i] == sp || raw[i] == htab || raw[i] == UInt8(ascii: ",") { i += 1 }
            var j = i
            while j < end, raw[j] != UInt8(ascii: ",") { j += 1 }
            var k = j
            while k > i, raw[k - 1] == sp || raw[k - 1] == htab { k -= 1 }
            if k > i, let refusal = each(i..<k) { return refusal }
            i = j
        }
        return nil
    }

    /// A short, printable rendering of bytes for an error message.
    private static func shown(_ raw: UnsafeRawBufferPointer, _ range: Range<Int>) -> String {
        var out = ""
        for i in range.prefix(40) {
            let c = raw[i]
            out += c >= 0x20 && c < 0x7F ? String(UnicodeScalar(c)) : "\\x" + String(c, radix: 16, uppercase: true)
        }
        return range.count > 40 ? out + "..." : out
    }

    private static func refuse(_ status: Int, _ message: String) -> Result<GridHTTPHead, Refusal> {
        .failure(Refusal(status: status, message: message))
    }

    /// Interprets the head llhttp has just read (paused at its end): `raw` holds it from its first byte,
    /// the offsets of `http`'s target and fields count from there.
    static func interpret(_ http: LLHTTPParser, _ raw: UnsafeRawBufferPointer) -> Result<GridHTTPHead, Refusal> {
        // llhttp takes a request line without a version as HTTP/0.9; RFC 9112 section 3 requires one.
        guard http.sawVersion, let target = http.target else {
            return refuse(400, "request line without an HTTP version (expected 'METHOD /path HTTP/1.1')")
        }
        // A higher minor version is served as 1.1 (RFC 9110 section 2.5); llhttp refused other majors.
        let http11 = http.httpMinor >= 1
        var contentType: String?
        var chunkedCount = 0
        var unknownCoding: String?
        var expectContinue = false
        for field in http.fields {
            let value = LLHTTPParser.trimmed(field.value, in: raw)
            switch field.name.count {
            case 12 where equalsFolded(raw, field.name, hContentType):
                if value.count == applicationJSON.count, UnsafeRawBufferPointer(rebasing: raw[value]).elementsEqual(applicationJSON) {
                    contentType = "application/json"
                } else {
                    contentType = String(decoding: UnsafeRawBufferPointer(rebasing: raw[value]), as: UTF8.self)
                }
            case 17 where equalsFolded(raw, field.name, hTransferEncoding):
                // RFC 9112 section 6.1: the codings of every Transfer-Encoding line, in order; chunked
                // must be the last and appear once (section 7); no other coding is implemented here.
                // (llhttp, lenient on this point, leaves the answer to us: 501 for a coding we lack.)
                if let refusal = forEachElement(raw, value, { coding in
                    if equalsFolded(raw, coding, hChunked) {
                        chunkedCount += 1
                        if chunkedCount > 1 {
                            return Refusal(status: 400, message: "the chunked transfer coding is applied more than once (RFC 9112 section 7)")
                        }
                    } else if unknownCoding == nil {
                        unknownCoding = shown(raw, coding)
                    }
                    return nil
                }) {
                    return .failure(refusal)
                }
            case 6 where equalsFolded(raw, field.name, hExpect):
                // RFC 9110 section 10.1.1: 100-continue is the only expectation defined; an HTTP/1.0
                // request's Expect is ignored. Anything else cannot be met.
                guard http11 else { break }
                guard equalsFolded(raw, value, hContinue) else {
                    return refuse(417, "the only expectation served is 'Expect: 100-continue'")
                }
                expectContinue = true
            default:
                break
            }
        }
        if http.transferEncoded {
            // RFC 9112 section 6.1: HTTP/1.0 predates Transfer-Encoding, so the framing is faulty; with
            // Content-Length as well it may be a smuggling attempt (llhttp refuses that itself).
            guard http11 else { return refuse(400, "Transfer-Encoding in an HTTP/1.0 request (RFC 9112 section 6.1); send HTTP/1.1 or Content-Length") }
            if let coding = unknownCoding {
                return refuse(501, "transfer coding '\(coding)' is not implemented; only 'chunked' is accepted")
            }
            guard chunkedCount == 1 else { return refuse(400, "Transfer-Encoding names no coding") }
        }

        let query = raw[target].firstIndex(of: UInt8(ascii: "?")) ?? target.upperBound
        let path = String(decoding: UnsafeRawBufferPointer(rebasing: raw[target.lowerBound..<query]), as: UTF8.self)
        return .success(GridHTTPHead(
            request: GridHTTPRequest(method: http.method, path: path, contentType: contentType, contentLength: http.contentLength),
            keepAlive: !http.connectionClose && (http11 || http.connectionKeepAlive), isHead: http.isHEAD,
            chunked: chunkedCount == 1, expectContinue: expectContinue))
    }

    /// The status and message for what llhttp refused: 505 for another HTTP major version, else 400,
    /// with llhttp's reason and where it stopped.
    static func refusal(_ e: LLHTTPError) -> Refusal {
        let location = e.phase == .head ? "at byte \(e.offset) of the request head" : "in the request body"
        let detail = "\(e.reason) (llhttp \(e.name) \(location))"
        switch e.kind {
        case .unsupportedVersion(let major, let minor):
            return Refusal(status: 505, message: "HTTP/\(major).\(minor) is not served; use HTTP/1.1")
        case .method:
            return Refusal(status: 400, message: "not an HTTP/1.1 request, or an unknown method: \(detail)")
        case .contentLength:
            return Refusal(status: 400, message: "invalid or conflicting Content-Length (RFC 9112 section 6.3): \(detail)")
        case .transferEncoding:
            return Refusal(status: 400, message: "Transfer-Encoding that cannot frame the body (RFC 9112 section 6.1): \(detail)")
        case .chunkSize:
            return Refusal(status: 400, message: "malformed chunk-size line (RFC 9112 section 7.1): \(detail)")
        default:
            return Refusal(status: 400, message: "malformed request: \(detail)")
        }
    }
}
