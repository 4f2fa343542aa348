import NIOCore

/// HTTP/1.1 on the wire for gridsvc, without NIOHTTP1: a byte-level request parser and a response
/// encoder. Pure (no I/O): ``GridHTTPHandler`` feeds it the bytes a connection received and writes what it
/// encodes.
///
/// Why not NIOHTTP1: its decoder (llhttp callbacks, an `HTTPHeaders` array of strings per request), the
/// pipelining handler and the response encoder (head, body and end as three writes, headers re-encoded
/// per answer) cost more CPU per call than the whole GUMS service logic. The services need only the
/// method, path, `Content-Type`, `Content-Length`, keep-alive and a bounded body; everything else in a
/// request head is skipped, never interpreted.
///
/// Accepted: `METHOD SP target SP HTTP/1.0|HTTP/1.1 CRLF`, header lines `name: value` (bare LF line ends
/// accepted too), a body framed by `Content-Length` or `Transfer-Encoding: chunked`. Keep-alive follows
/// RFC 9112: HTTP/1.1 unless `Connection: close`, HTTP/1.0 only with `Connection: keep-alive`.
public enum GridHTTPWire {
    /// The largest request head (request line and headers) accepted; beyond it the answer is 431.
    public static let maxHeadBytes = 16 * 1024

    /// The interim answer to `Expect: 100-continue`.
    public static let continueResponse: [UInt8] = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)

    /// One parsed request and how to continue on the connection.
    public struct Parsed: Sendable {
        /// The request for the responder.
        public var request: GridHTTPRequest
        /// Keep the connection open after answering.
        public var keepAlive: Bool
        /// `HEAD`: answer with the headers only.
        public var isHead: Bool
        /// Bytes of the input this request used.
        public var consumed: Int
        /// Body bytes still to come that belong to this request and must be read and dropped (a body over
        /// the limit announced by `Content-Length`).
        public var skip: Int
    }

    /// The outcome of ``parse(_:maxBody:)``.
    public enum Outcome: Sendable {
        /// More bytes are needed.
        case incomplete
        /// The head is complete and asks `Expect: 100-continue`; its body has not all arrived. The caller
        /// sends ``continueResponse`` once for this request and keeps reading (RFC 9110 section 10.1.1).
        case awaitingBody
        /// One complete request.
        case request(Parsed)
        /// Not HTTP/1.x that this server takes: answer `status` with `message` and close the connection.
        case invalid(status: Int, message: String)
    }

    /// Parses the request at the front of `bytes`. Bodies over `maxBody` are not kept: the request comes
    /// back with ``GridHTTPRequest/bodyTooLarge`` set (and, for `Content-Length`, the rest to ``Parsed/skip``).
    public static func parse(_ bytes: ByteBuffer, maxBody: Int) -> Outcome {
        bytes.withUnsafeReadableBytes { raw in parse(raw, buffer: bytes, maxBody: maxBody) }
    }

    // Header names compared case-insensitively (ASCII letters folded with 0x20).
    private static let hContentLength = Array("content-length".utf8)
    private static let hContentType = Array("content-type".utf8)
    private static let hConnection = Array("connection".utf8)
    private static let hTransferEncoding = Array("transfer-encoding".utf8)
    private static let hExpect = Array("expect".utf8)
    private static let hContinue = Array("100-continue".utf8)

    private static func equalsFolded(_ raw: UnsafeRawBufferPointer, _ start: Int, _ end: Int, _ lower: [UInt8]) -> Bool {
        guard end - start == lower.count else { return false }
        for i in 0..<lower.count where raw[start + i] | 0x20 != lower[i] { return false }
        return true
    }

    /// Whether the comma-separated list `raw[start..<end]` contains `token` (case-insensitive).
    private static func listContains(_ raw: UnsafeRawBufferPointer, _ start: Int, _ end: Int, _ token: String) -> Bool {
        let t = Array(token.utf8)
        var i = start
        while i < end {
            while i < end, raw[i] == 0x20 || raw[i] == 0x09 || raw[i] == UInt8(ascii: ",") { i += 1 }
            var j = i
            while j < end, raw[j] != UInt8(ascii: ",") { j += 1 }
            var k = j
            while k > i, raw[k - 1] == 0x20 || raw[k - 1] == 0x09 { k -= 1 }
            if equalsFolded(raw, i, k, t) { return true }
            i = j
        }
        return false
    }

    private static func isTokenByte(_ c: UInt8) -> Bool {
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

    /// A string for bytes, reusing literals for the common values (no allocation for them).
    private static func text(_ raw: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> String {
        let n = end - start
        if n == 4, raw[start] == UInt8(ascii: "P"), raw[start + 1] == UInt8(ascii: "O"), raw[start + 2] == UInt8(ascii: "S"), raw[start + 3] == UInt8(ascii: "T") { return "POST" }
        if n == 3, raw[start] == UInt8(ascii: "G"), raw[start + 1] == UInt8(ascii: "E"), raw[start + 2] == UInt8(ascii: "T") { return "GET" }
        return String(decoding: UnsafeRawBufferPointer(rebasing: raw[start..<end]), as: UTF8.self)
    }

    private static let applicationJSON = Array("application/json".utf8)

    private static func parse(_ raw: UnsafeRawBufferPointer, buffer: ByteBuffer, maxBody: Int) -> Outcome {
        let n = raw.count
        // Tolerate empty lines before a request (RFC 9112 section 2.2).
        var p = 0
        while p < n, raw[p] == 0x0D || raw[p] == 0x0A { p += 1 }
        guard p < n else { return .incomplete }

        // Find the end of the head: an empty line.
        var lineStarts = p
        var headEnd = -1  // index just past the empty line
        var i = p
        let limit = min(n, p + maxHeadBytes)
        while i < limit {
            if raw[i] == 0x0A {
                let lineLen = i - lineStarts
                if lineLen == 0 || (lineLen == 1 && raw[lineStarts] == 0x0D) {
                    if lineStarts != p { headEnd = i + 1; break }
                }
                lineStarts = i + 1
            }
            i += 1
        }
        if headEnd < 0 {
            if n - p >= maxHeadBytes {
                return .invalid(status: 431, message: "the request head is longer than \(maxHeadBytes) bytes")
            }
            return .incomplete
        }

        // Request line.
        var lineEnd = p
        while raw[lineEnd] != 0x0A { lineEnd += 1 }
        var le = lineEnd
        if le > p, raw[le - 1] == 0x0D { le -= 1 }
        var m = p
        while m < le, isTokenByte(raw[m]) { m += 1 }
        guard m > p, m < le, raw[m] == 0x20 else {
            return .invalid(status: 400, message: "malformed request line (expected 'METHOD /path HTTP/1.1')")
        }
        let targetStart = m + 1
        var t = targetStart
        while t < le, raw[t] != 0x20 { t += 1 }
        guard t > targetStart, t + 9 == le else {
            return .invalid(status: 400, message: "malformed request line (expected 'METHOD /path HTTP/1.1')")
        }
        let v = t + 1
        guard raw[v] == UInt8(ascii: "H"), raw[v + 1] == UInt8(ascii: "T"), raw[v + 2] == UInt8(ascii: "T"), raw[v + 3] == UInt8(ascii: "P"),
              raw[v + 4] == UInt8(ascii: "/"), raw[v + 5] == UInt8(ascii: "1"), raw[v + 6] == UInt8(ascii: "."),
              raw[v + 7] == UInt8(ascii: "0") || raw[v + 7] == UInt8(ascii: "1") else {
            return .invalid(status: 505, message: "only HTTP/1.0 and HTTP/1.1 are served")
        }
        let http11 = raw[v + 7] == UInt8(ascii: "1")
        var pathEnd = targetStart
        while pathEnd < t, raw[pathEnd] != UInt8(ascii: "?") { pathEnd += 1 }
        for k in targetStart..<t where raw[k] < 0x21 || raw[k] == 0x7F {
            return .invalid(status: 400, message: "control character in the request target")
        }

        // Headers.
        var contentLength: Int?
        var contentType: String?
        var close = !http11
        var chunked = false
        var expectContinue = false
        var line = lineEnd + 1
        while line < headEnd {
            var e = line
            while raw[e] != 0x0A { e += 1 }
            let next = e + 1
            if e > line, raw[e - 1] == 0x0D { e -= 1 }
            if e == line { break }  // the empty line
            guard raw[line] != 0x20, raw[line] != 0x09 else {
                return .invalid(status: 400, message: "obsolete header line folding is not accepted")
            }
            var c = line
            while c < e, raw[c] != UInt8(ascii: ":") {
                guard isTokenByte(raw[c]) else { return .invalid(status: 400, message: "malformed header line (expected 'Name: value')") }
                c += 1
            }
            guard c < e, c > line else { return .invalid(status: 400, message: "malformed header line (expected 'Name: value')") }
            var vs = c + 1
            while vs < e, raw[vs] == 0x20 || raw[vs] == 0x09 { vs += 1 }
            var ve = e
            while ve > vs, raw[ve - 1] == 0x20 || raw[ve - 1] == 0x09 { ve -= 1 }
            switch c - line {
            case 14 where equalsFolded(raw, line, c, hContentLength):
                var value = 0
                guard ve > vs, ve - vs <= 15 else { return .invalid(status: 400, message: "invalid Content-Length") }
                for k in vs..<ve {
                    let d = raw[k]
                    guard d >= 0x30, d <= 0x39 else { return .invalid(status: 400, message: "invalid Content-Length") }
                    value = value * 10 + Int(d - 0x30)
                }
                if let old = contentLength, old != value { return .invalid(status: 400, message: "conflicting Content-Length headers") }
                contentLength = value
            case 12 where equalsFolded(raw, line, c, hContentType):
                if ve - vs == applicationJSON.count, UnsafeRawBufferPointer(rebasing: raw[vs..<ve]).elementsEqual(applicationJSON) {
                    contentType = "application/json"
                } else {
                    contentType = String(decoding: UnsafeRawBufferPointer(rebasing: raw[vs..<ve]), as: UTF8.self)
                }
            case 10 where equalsFolded(raw, line, c, hConnection):
                if listContains(raw, vs, ve, "close") { close = true } else if listContains(raw, vs, ve, "keep-alive") { close = false }
            case 17 where equalsFolded(raw, line, c, hTransferEncoding):
                guard listContains(raw, vs, ve, "chunked") else {
                    return .invalid(status: 501, message: "only the chunked transfer coding is accepted")
                }
                chunked = true
            case 6 where equalsFolded(raw, line, c, hExpect):
                // RFC 9110 section 10.1.1: 100-continue is the only expectation defined; an HTTP/1.0
                // request's Expect is ignored. Anything else cannot be met.
                guard http11 else { break }
                guard ve - vs == 12, equalsFolded(raw, vs, ve, hContinue) else {
                    return .invalid(status: 417, message: "the only expectation served is 'Expect: 100-continue'")
                }
                expectContinue = true
            default:
                break
            }
            line = next
        }
        if chunked, contentLength != nil {
            return .invalid(status: 400, message: "both Transfer-Encoding and Content-Length given")
        }

        let method = text(raw, p, m)
        let path = String(decoding: UnsafeRawBufferPointer(rebasing: raw[targetStart..<pathEnd]), as: UTF8.self)
        let isHead = m - p == 4 && raw[p] == UInt8(ascii: "H") && raw[p + 1] == UInt8(ascii: "E") && raw[p + 2] == UInt8(ascii: "A") && raw[p + 3] == UInt8(ascii: "D")
        var request = GridHTTPRequest(method: method, path: path, contentType: contentType, contentLength: contentLength)

        if expectContinue {
            // A body over the limit is refused before the client sends it; the client may or may not send
            // it anyway, so the connection cannot be framed afterwards and closes.
            if let length = contentLength, length > maxBody {
                request.bodyTooLarge = true
                return .request(Parsed(request: request, keepAlive: false, isHead: isHead, consumed: n, skip: 0))
            }
        }

        if chunked {
            // Decoded in one pass once complete; a body that grows past the limit is cut off (the caller
            // answers and closes, as the rest of the connection cannot be framed without reading it all).
            var q = headEnd
            var body: [UInt8] = []
            while true {
                var s = q
                while s < n, raw[s] != 0x0A { s += 1 }
                guard s < n else {
                    if n - headEnd > 2 * maxBody + 4096 { return tooLargeChunked(request, keepAlive: false, isHead: isHead, consumed: n) }
                    return expectContinue ? .awaitingBody : .incomplete
                }
                var size = 0
                var k = q
                var digits = 0
                while k < s {
                    let d = raw[k]
                    let h: Int
                    switch d {
                    case 0x30...0x39: h = Int(d - 0x30)
                    case 0x41...0x46: h = Int(d - 0x41 + 10)
                    case 0x61...0x66: h = Int(d - 0x61 + 10)
                    default: h = -1
                    }
                    if h < 0 { break }
                    size = size * 16 + h
                    digits += 1
                    guard digits <= 8 else { return .invalid(status: 400, message: "chunk size too large") }
                    k += 1
                }
                guard digits > 0 else { return .invalid(status: 400, message: "malformed chunk size line") }
                q = s + 1
                if size == 0 {
                    // Trailer lines up to an empty line.
                    while true {
                        var e = q
                        while e < n, raw[e] != 0x0A { e += 1 }
                        guard e < n else { return expectContinue ? .awaitingBody : .incomplete }
                        let empty = e == q || (e == q + 1 && raw[q] == 0x0D)
                        q = e + 1
                        if empty { break }
                    }
                    if body.count > maxBody {
                        request.bodyTooLarge = true
                    } else {
                        request.body = ByteBuffer(bytes: body)
                    }
                    return .request(Parsed(request: request, keepAlive: !close, isHead: isHead, consumed: q, skip: 0))
                }
                guard q + size <= n else {
                    if n - headEnd > 2 * maxBody + 4096 { return tooLargeChunked(request, keepAlive: false, isHead: isHead, consumed: n) }
                    return expectContinue ? .awaitingBody : .incomplete
                }
                if body.count <= maxBody { body.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[q..<(q + size)])) }
                q += size
                // CRLF after the chunk data.
                guard q < n else { return expectContinue ? .awaitingBody : .incomplete }
                if raw[q] == 0x0D { q += 1; guard q < n else { return expectContinue ? .awaitingBody : .incomplete } }
                guard raw[q] == 0x0A else { return .invalid(status: 400, message: "missing line end after chunk data") }
                q += 1
            }
        }

        let length = contentLength ?? 0
        if length > maxBody {
            // Read and drop the body: the request is answered (413) and the connection stays usable.
            request.bodyTooLarge = true
            let here = min(length, n - headEnd)
            return .request(Parsed(request: request, keepAlive: !close, isHead: isHead, consumed: headEnd + here, skip: length - here))
        }
        guard n - headEnd >= length else { return expectContinue ? .awaitingBody : .incomplete }
        if length > 0, let slice = buffer.getSlice(at: buffer.readerIndex + headEnd, length: length) {
            request.body = slice
        }
        return .request(Parsed(request: request, keepAlive: !close, isHead: isHead, consumed: headEnd + length, skip: 0))
    }

    private static func tooLargeChunked(_ r: GridHTTPRequest, keepAlive: Bool, isHead: Bool, consumed: Int) -> Outcome {
        var r = r
        r.bodyTooLarge = true
        return .request(Parsed(request: r, keepAlive: keepAlive, isHead: isHead, consumed: consumed, skip: 0))
    }

    // MARK: responses

    private static let statusLines: [Int: [UInt8]] = {
        let reasons: [(Int, String)] = [
            (100, "Continue"), (200, "OK"), (201, "Created"), (202, "Accepted"), (204, "No Content"),
            (400, "Bad Request"), (401, "Unauthorized"), (403, "Forbidden"), (404, "Not Found"),
            (405, "Method Not Allowed"), (408, "Request Timeout"), (409, "Conflict"), (411, "Length Required"),
            (413, "Content Too Large"), (415, "Unsupported Media Type"), (429, "Too Many Requests"),
            (431, "Request Header Fields Too Large"), (500, "Internal Server Error"), (501, "Not Implemented"),
            (502, "Bad Gateway"), (503, "Service Unavailable"), (504, "Gateway Timeout"), (505, "HTTP Version Not Supported"),
        ]
        var out: [Int: [UInt8]] = [:]
        for (code, reason) in reasons { out[code] = Array("HTTP/1.1 \(code) \(reason)\r\n".utf8) }
        return out
    }()

    /// The fixed start of the commonest answer: 200 with a JSON body.
    private static let okJSONPrefix = Array("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ".utf8)

    /// Bytes of the encoded answer (an upper bound, for the buffer size).
    static func encodedSizeBound(_ r: GridHTTPResponse) -> Int {
        var n = 96 + r.contentType.utf8.count + r.body.count
        for (k, v) in r.headers { n += k.utf8.count + v.utf8.count + 4 }
        return n
    }

    /// Appends `r` as one HTTP/1.1 answer (status line, `Content-Type`, `Content-Length`, the extra
    /// headers, `Connection: close` unless `keepAlive`, and the body unless `isHead`).
    public static func encode(_ r: GridHTTPResponse, keepAlive: Bool, isHead: Bool, into out: inout ByteBuffer) {
        if r.status == 200, r.contentType == "application/json" {
            out.writeBytes(okJSONPrefix)
        } else {
            if let line = statusLines[r.status] {
                out.writeBytes(line)
            } else {
                out.writeString("HTTP/1.1 \(r.status) Status \(r.status)\r\n")
            }
            out.writeStaticString("Content-Type: ")
            out.writeString(r.contentType)
            out.writeStaticString("\r\nContent-Length: ")
        }
        writeDecimal(r.body.count, into: &out)
        out.writeStaticString("\r\n")
        for (name, value) in r.headers {
            out.writeString(name)
            out.writeStaticString(": ")
            out.writeString(value)
            out.writeStaticString("\r\n")
        }
        if !keepAlive { out.writeStaticString("Connection: close\r\n") }
        out.writeStaticString("\r\n")
        if !isHead { out.writeBytes(r.body) }
    }

    private static func writeDecimal(_ v: Int, into out: inout ByteBuffer) {
        if v < 10 { out.writeInteger(UInt8(0x30 + v)); return }
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var x = v
        var n = 0
        withUnsafeMutableBytes(of: &digits) { d in
            while x > 0 { d[19 - n] = UInt8(0x30 + x % 10); x /= 10; n += 1 }
            out.writeBytes(UnsafeRawBufferPointer(rebasing: d[(20 - n)...]))
        }
    }

    /// The answer to a request this server cannot read (``Outcome/invalid(status:message:)``): a JSON error
    /// body, and the connection is closed after it.
    public static func errorResponse(status: Int, message: String) -> GridHTTPResponse {
        var w = GridJSON.ObjectWriter(capacity: 64 + message.utf8.count)
        w.string("error", "bad_request")
        w.string("message", message)
        return GridHTTPResponse(status: status, contentType: "application/json", body: w.finish())
    }
}
