/// The one HTTP/1.x response parser in Tandem: the HTTP health checks, the stress client and the tests'
/// clients read answers with it.
///
/// Byte-level and allocation-free until a caller asks for a body: it walks the bytes received so far
/// once, from the status line to the end of the message, and says whether they hold a whole response,
/// need more, or cannot be one. It keeps no state between calls, so a caller that receives more bytes
/// parses again from the start (answers here are a few hundred bytes).
///
/// Framing follows RFC 9112 section 6.3: no body after `HEAD` or for 1xx, 204 and 304; a final
/// `chunked` transfer coding frames by chunks; any other transfer coding, or neither that nor
/// `Content-Length`, reads until the server closes. Interim 1xx answers (other than 101) are skipped
/// (RFC 9110 section 15.2). Keep-alive follows RFC 9112 section 9.3: HTTP/1.1 unless
/// `Connection: close`, HTTP/1.0 only with `Connection: keep-alive`, and only for a self-delimited body.
/// Bare LF line ends are accepted (RFC 9112 section 2.2).
///
/// Chosen over NIOHTTP1's `HTTPResponseDecoder` (llhttp) by measurement: about 3 µs of CPU per answer
/// there against 0.1–0.2 µs here, which the stress client (about 10 µs per call in all) cannot afford.
/// See `tandem-bench-health parse` and docs/health-checks.md.
public enum HTTPResponseParser {
    /// Limits on what one response may use.
    public struct Limits: Sendable, Equatable {
        /// Largest status line plus header section, in bytes.
        public var maxHeadBytes: Int
        /// Largest body (after de-chunking), in bytes.
        public var maxBodyBytes: Int
        /// Creates limits; the defaults are the health checks' (64 KiB head, 1 MiB body).
        public init(maxHeadBytes: Int = 64 * 1024, maxBodyBytes: Int = 1 << 20) {
            self.maxHeadBytes = maxHeadBytes
            self.maxBodyBytes = maxBodyBytes
        }
    }

    /// What the bytes received so far hold.
    public enum Outcome: Sendable, Equatable {
        /// Not a whole response yet: receive more and parse again.
        case incomplete
        /// One whole response (the first in the bytes).
        case complete(HTTPResponse)
        /// Not an HTTP/1.x response, or over a limit: close the connection.
        case invalid(HTTPResponseError)
    }

    /// Parses the response at the start of `bytes`. `eof`: the peer closed, no more bytes will come
    /// (a body without length then ends here). `headRequest`: the request was `HEAD`, so no body follows.
    public static func parse(_ bytes: UnsafeRawBufferPointer, eof: Bool, headRequest: Bool = false,
                             limits: Limits = .init()) -> Outcome {
        let p = bytes.bindMemory(to: UInt8.self)
        var start = 0
        while true {
            let head: HTTPResponseHead
            switch parseHead(p, from: start, limit: limits.maxHeadBytes) {
            case .incomplete:
                if !eof { return .incomplete }
                return .invalid(p.count == 0 ? .closedBeforeResponse : .truncatedHead)
            case .invalid(let e): return .invalid(e)
            case .head(let h): head = h
            }
            let bodyStart = start + head.length
            // RFC 9110 section 15.2: a client parses any number of interim answers before the final one.
            if (100..<200).contains(head.status) && head.status != 101 {
                start = bodyStart
                continue
            }
            return frame(p, head: head, start: start, bodyStart: bodyStart, eof: eof, headRequest: headRequest, limits: limits)
        }
    }

    /// ``parse(_:eof:headRequest:limits:)`` on the first `count` bytes of an array (all of it by default).
    public static func parse(_ bytes: [UInt8], count: Int? = nil, eof: Bool, headRequest: Bool = false,
                             limits: Limits = .init()) -> Outcome {
        bytes.withUnsafeBytes { b in
            parse(UnsafeRawBufferPointer(rebasing: b[0..<(count ?? b.count)]), eof: eof, headRequest: headRequest, limits: limits)
        }
    }

    /// What one status line and header section hold.
    public enum HeadOutcome: Sendable, Equatable {
        /// The empty line that ends the head has not arrived yet.
        case incomplete
        /// The head (an interim 1xx one too: callers that want to see `100 Continue` use this).
        case head(HTTPResponseHead)
        /// Not an HTTP/1.x response head.
        case invalid(HTTPResponseError)
    }

    /// Parses only the status line and headers at the start of `bytes`.
    public static func parseHead(_ bytes: UnsafeRawBufferPointer, limits: Limits = .init()) -> HeadOutcome {
        parseHead(bytes.bindMemory(to: UInt8.self), from: 0, limit: limits.maxHeadBytes)
    }

    /// The value of the first header called `name` (any case), trimmed, in the head at the start of
    /// `bytes`; nil when there is none. For the headers the framing does not read (`Retry-After`,
    /// `Content-Type`).
    public static func headerValue(_ name: String, in bytes: UnsafeRawBufferPointer) -> String? {
        let p = bytes.bindMemory(to: UInt8.self)
        let want = Array(name.lowercased().utf8)
        guard var i = lineEnd(p, from: 0, p.count).map({ $0 + 1 }) else { return nil }
        // The head may come without its final empty line (a head kept as text): the bytes end the last line.
        while i < p.count {
            let nl = lineEnd(p, from: i, p.count) ?? p.count
            let stop = nl > i && p[nl - 1] == cr ? nl - 1 : nl
            if stop == i { return nil }
            var colon = i
            while colon < stop && p[colon] != colonByte { colon += 1 }
            if colon - i == want.count, (0..<want.count).allSatisfy({ k in
                let c = p[i + k]
                return (c &- 0x41 < 26 ? c | 0x20 : c) == want[k]
            }) {
                let (vs, ve) = trimmed(p, colon + 1, stop)
                return String(decoding: UnsafeBufferPointer(rebasing: p[vs..<ve]), as: UTF8.self)
            }
            i = nl + 1
        }
        return nil
    }

    /// ``headerValue(_:in:)`` in a head given as text or bytes.
    public static func headerValue<Bytes: Collection<UInt8>>(_ name: String, in head: Bytes) -> String? {
        Array(head).withUnsafeBytes { headerValue(name, in: $0) }
    }

    // MARK: the head

    private static func parseHead(_ p: UnsafeBufferPointer<UInt8>, from start: Int, limit: Int) -> HeadOutcome {
        let end = p.count
        // "HTTP/1.x SSS" then SP (and a reason) or the line end.
        guard let statusEnd = lineEnd(p, from: start, end) else {
            if end - start > limit { return .invalid(.headTooLarge(limit: limit)) }
            // Refuse what cannot become a status line at once, rather than waiting for a line end.
            return startsLikeStatusLine(p, start, end) ? .incomplete : .invalid(.badStatusLine)
        }
        let lineStop = statusEnd > start && p[statusEnd - 1] == cr ? statusEnd - 1 : statusEnd
        guard lineStop - start >= 12, startsLikeStatusLine(p, start, start + 8),
              isDigit(p[start + 7]), p[start + 8] == sp,
              isDigit(p[start + 9]), isDigit(p[start + 10]), isDigit(p[start + 11]),
              lineStop - start == 12 || p[start + 12] == sp else {
            return .invalid(.badStatusLine)
        }
        var head = HTTPResponseHead(status: Int(p[start + 9] &- zero) * 100 + Int(p[start + 10] &- zero) * 10 + Int(p[start + 11] &- zero),
                                    minorVersion: Int(p[start + 7] &- zero), length: 0)
        var i = statusEnd + 1
        while true {
            guard let nl = lineEnd(p, from: i, end) else {
                return end - start > limit ? .invalid(.headTooLarge(limit: limit)) : .incomplete
            }
            if nl - start >= limit { return .invalid(.headTooLarge(limit: limit)) }
            let stop = nl > i && p[nl - 1] == cr ? nl - 1 : nl
            if stop == i {
                head.length = nl + 1 - start
                return .head(head)
            }
            if let e = header(p, i, stop, into: &head) { return .invalid(e) }
            i = nl + 1
        }
    }

    /// Applies one header line `p[from..<to]` (without its line end) to `head`.
    private static func header(_ p: UnsafeBufferPointer<UInt8>, _ from: Int, _ to: Int, into head: inout HTTPResponseHead) -> HTTPResponseError? {
        // An obsolete folded continuation line (RFC 9112 section 5.2) carries nothing we read.
        if p[from] == sp || p[from] == tab { return nil }
        var colon = from
        while colon < to && p[colon] != colonByte { colon += 1 }
        guard colon < to, colon > from else { return .badHeaderLine }
        let (vs, ve) = trimmed(p, colon + 1, to)
        switch colon - from {
        case 14 where equalsLowercase(p, from, colon, "content-length"):
            guard ve > vs, ve - vs <= 15 else { return .badContentLength }
            var n = 0
            for j in vs..<ve {
                guard isDigit(p[j]) else { return .badContentLength }
                n = n * 10 + Int(p[j] &- zero)
            }
            if let old = head.contentLength, old != n { return .badContentLength }
            head.contentLength = n
        case 17 where equalsLowercase(p, from, colon, "transfer-encoding"):
            head.transferEncoded = true
            // Only the final coding decides the framing (RFC 9112 section 6.3).
            head.chunked = lastToken(p, vs, ve, is: "chunked")
        case 10 where equalsLowercase(p, from, colon, "connection"):
            forEachToken(p, vs, ve) { a, b in
                if equalsLowercase(p, a, b, "close") { head.connectionClose = true }
                if equalsLowercase(p, a, b, "keep-alive") { head.connectionKeepAlive = true }
            }
        default:
            break
        }
        return nil
    }

    // MARK: the body

    private static func frame(_ p: UnsafeBufferPointer<UInt8>, head: HTTPResponseHead, start: Int, bodyStart: Int, eof: Bool,
                              headRequest: Bool, limits: Limits) -> Outcome {
        var r = HTTPResponse(head: head, framing: .none, body: bodyStart..<bodyStart, bodyCount: 0, length: bodyStart)
        let available = p.count - bodyStart
        if headRequest || head.status == 101 || head.status == 204 || head.status == 304 {
            return .complete(r)
        }
        if head.transferEncoded && head.chunked {
            return chunked(p, r, eof: eof, limits: limits)
        }
        if !head.transferEncoded, let n = head.contentLength {
            guard n <= limits.maxBodyBytes else { return .invalid(.bodyTooLarge(limit: limits.maxBodyBytes)) }
            guard available >= n else { return eof ? .invalid(.truncatedBody) : .incomplete }
            r.framing = .length
            r.body = bodyStart..<(bodyStart + n)
            r.bodyCount = n
            r.length = bodyStart + n
            return .complete(r)
        }
        // Read until the server closes.
        guard available <= limits.maxBodyBytes else { return .invalid(.bodyTooLarge(limit: limits.maxBodyBytes)) }
        guard eof else { return .incomplete }
        r.framing = .close
        r.body = bodyStart..<p.count
        r.bodyCount = available
        r.length = p.count
        return .complete(r)
    }

    private static func chunked(_ p: UnsafeBufferPointer<UInt8>, _ response: HTTPResponse, eof: Bool, limits: Limits) -> Outcome {
        var r = response
        r.framing = .chunked
        var i = r.body.lowerBound
        var total = 0
        let more: Outcome = eof ? .invalid(.truncatedChunk) : .incomplete
        while true {
            guard let nl = lineEnd(p, from: i, p.count) else { return more }
            // chunk-size [; extensions] line end
            var j = i, size = 0
            while j < nl, let d = hexValue(p[j]) {
                guard j - i < 15 else { return .invalid(.badChunk) }
                size = size * 16 + d
                j += 1
            }
            guard j > i else { return .invalid(.badChunk) }
            let dataStart = nl + 1
            if size == 0 {
                // Trailer section: header lines up to an empty line, nothing we read.
                var t = dataStart
                while true {
                    guard let tl = lineEnd(p, from: t, p.count) else { return more }
                    if tl == t || (tl == t + 1 && p[t] == cr) {
                        r.body = r.body.lowerBound..<i
                        r.bodyCount = total
                        r.length = tl + 1
                        return .complete(r)
                    }
                    if tl - t > limits.maxHeadBytes { return .invalid(.headTooLarge(limit: limits.maxHeadBytes)) }
                    t = tl + 1
                }
            }
            total += size
            guard total <= limits.maxBodyBytes else { return .invalid(.bodyTooLarge(limit: limits.maxBodyBytes)) }
            let dataEnd = dataStart + size
            guard p.count > dataEnd else { return more }
            // The data ends with CRLF (or a bare LF).
            if p[dataEnd] == lf {
                i = dataEnd + 1
            } else if p[dataEnd] == cr {
                guard p.count > dataEnd + 1 else { return more }
                guard p[dataEnd + 1] == lf else { return .invalid(.badChunk) }
                i = dataEnd + 2
            } else {
                return .invalid(.badChunk)
            }
        }
    }

    /// Appends the de-chunked data of `encoded` (chunks up to, not including, the last one) to `out`.
    static func dechunk(_ p: UnsafeBufferPointer<UInt8>, _ encoded: Range<Int>, into out: inout [UInt8]) {
        var i = encoded.lowerBound
        while i < encoded.upperBound, let nl = lineEnd(p, from: i, encoded.upperBound) {
            var j = i, size = 0
            while j < nl, let d = hexValue(p[j]) { size = size * 16 + d; j += 1 }
            let dataStart = nl + 1
            out.append(contentsOf: UnsafeBufferPointer(rebasing: p[dataStart..<(dataStart + size)]))
            i = dataStart + size + (p[dataStart + size] == cr ? 2 : 1)
        }
    }

    // MARK: bytes

    private static let cr: UInt8 = 13, lf: UInt8 = 10, sp: UInt8 = 0x20, tab: UInt8 = 0x09, zero: UInt8 = 0x30
    private static let colonByte: UInt8 = 0x3A

    @inline(__always) private static func isDigit(_ c: UInt8) -> Bool { c &- zero < 10 }

    @inline(__always) private static func hexValue(_ c: UInt8) -> Int? {
        if c &- 0x30 < 10 { return Int(c &- 0x30) }
        let l = c | 0x20
        if l &- 0x61 < 6 { return Int(l &- 0x61) + 10 }
        return nil
    }

    /// Index of the next LF at or after `from`, before `end`.
    @inline(__always) static func lineEnd(_ p: UnsafeBufferPointer<UInt8>, from: Int, _ end: Int) -> Int? {
        var i = from
        while i < end {
            if p[i] == lf { return i }
            i += 1
        }
        return nil
    }

    /// Whether `p[from..<to]` is a prefix of `HTTP/1.` (or begins with all of it).
    private static func startsLikeStatusLine(_ p: UnsafeBufferPointer<UInt8>, _ from: Int, _ to: Int) -> Bool {
        let prefix: StaticString = "HTTP/1."
        let n = min(to - from, prefix.utf8CodeUnitCount)
        let s = prefix.utf8Start
        for k in 0..<n where p[from + k] != s[k] { return false }
        return true
    }

    /// Whether bytes `from..<to` equal the lowercase ASCII `name`, ignoring case.
    @inline(__always) static func equalsLowercase(_ p: UnsafeBufferPointer<UInt8>, _ from: Int, _ to: Int, _ name: StaticString) -> Bool {
        guard to - from == name.utf8CodeUnitCount else { return false }
        let n = name.utf8Start
        for k in 0..<(to - from) {
            var c = p[from + k]
            if c &- 0x41 < 26 { c |= 0x20 }
            if c != n[k] { return false }
        }
        return true
    }

    /// `from..<to` without leading and trailing spaces and tabs (optional whitespace, RFC 9110 section 5.6.3).
    @inline(__always) private static func trimmed(_ p: UnsafeBufferPointer<UInt8>, _ from: Int, _ to: Int) -> (Int, Int) {
        var s = from, e = to
        while s < e && (p[s] == sp || p[s] == tab) { s += 1 }
        while e > s && (p[e - 1] == sp || p[e - 1] == tab) { e -= 1 }
        return (s, e)
    }

    /// Calls `body` with the bounds of each comma-separated token of `p[from..<to]`, trimmed.
    private static func forEachToken(_ p: UnsafeBufferPointer<UInt8>, _ from: Int, _ to: Int, _ body: (Int, Int) -> Void) {
        var a = from
        while a < to {
            var b = a
            while b < to && p[b] != 0x2C { b += 1 }
            let (s, e) = trimmed(p, a, b)
            if e > s { body(s, e) }
            a = b + 1
        }
    }

    private static func lastToken(_ p: UnsafeBufferPointer<UInt8>, _ from: Int, _ to: Int, is name: StaticString) -> Bool {
        var last: (Int, Int)?
        forEachToken(p, from, to) { a, b in last = (a, b) }
        guard let (a, b) = last else { return false }
        return equalsLowercase(p, a, b, name)
    }
}

/// A response's status line and the headers that frame it.
public struct HTTPResponseHead: Sendable, Equatable {
    /// Status code (three digits).
    public var status: Int
    /// `x` of `HTTP/1.x`.
    public var minorVersion: Int
    /// `Content-Length`, if sent.
    public var contentLength: Int? = nil
    /// A `Transfer-Encoding` header was sent.
    public var transferEncoded = false
    /// Its final coding is `chunked`.
    public var chunked = false
    /// `Connection: close` was sent.
    public var connectionClose = false
    /// `Connection: keep-alive` was sent (what makes an HTTP/1.0 connection persistent).
    public var connectionKeepAlive = false
    /// Bytes of the status line and header section, through the empty line.
    public var length: Int

    /// Creates a head.
    public init(status: Int, minorVersion: Int, contentLength: Int? = nil, transferEncoded: Bool = false, chunked: Bool = false,
                connectionClose: Bool = false, connectionKeepAlive: Bool = false, length: Int) {
        self.status = status
        self.minorVersion = minorVersion
        self.contentLength = contentLength
        self.transferEncoded = transferEncoded
        self.chunked = chunked
        self.connectionClose = connectionClose
        self.connectionKeepAlive = connectionKeepAlive
        self.length = length
    }

    /// The server lets the connection carry another request (RFC 9112 section 9.3).
    public var persistent: Bool {
        if connectionClose { return false }
        return minorVersion >= 1 || connectionKeepAlive
    }
}

/// One whole response: its head, where its body is, and how many bytes it used.
public struct HTTPResponse: Sendable, Equatable {
    /// How the body was framed.
    public enum Framing: Sendable, Equatable {
        /// No body (`HEAD`, 1xx, 204, 304).
        case none
        /// `Content-Length`.
        case length
        /// `Transfer-Encoding: chunked`.
        case chunked
        /// Until the server closed.
        case close
    }

    /// Status line and framing headers.
    public var head: HTTPResponseHead
    /// How the body was framed.
    public var framing: Framing
    /// Where the body is in the parsed bytes (for `chunked`, the chunks still encoded: see ``body(in:)``).
    public var body: Range<Int>
    /// Body length after de-chunking.
    public var bodyCount: Int
    /// Bytes this response used, from the start of the parsed bytes (interim 1xx answers included).
    public var length: Int

    /// Creates a response.
    public init(head: HTTPResponseHead, framing: Framing, body: Range<Int>, bodyCount: Int, length: Int) {
        self.head = head
        self.framing = framing
        self.body = body
        self.bodyCount = bodyCount
        self.length = length
    }

    /// Status code.
    public var status: Int { head.status }

    /// Where the final answer's status line and headers are in the parsed bytes (after any interim answers).
    public var headRange: Range<Int> { (body.lowerBound - head.length)..<body.lowerBound }

    /// The connection may carry the next request: the server allows it and the body ended by its own
    /// framing. (A response with both `Transfer-Encoding` and `Content-Length` may be an attempt to
    /// smuggle a request, RFC 9112 section 6.3: the connection closes after it. After `101 Switching
    /// Protocols` the connection no longer speaks HTTP/1.1.)
    public var reusable: Bool {
        head.persistent && framing != .close && head.status != 101 && !(head.transferEncoded && head.contentLength != nil)
    }

    /// The body, de-chunked, from the bytes this response was parsed from.
    public func body(in bytes: UnsafeRawBufferPointer) -> [UInt8] {
        let p = bytes.bindMemory(to: UInt8.self)
        guard framing == .chunked else { return Array(UnsafeBufferPointer(rebasing: p[body])) }
        var out: [UInt8] = []
        out.reserveCapacity(bodyCount)
        HTTPResponseParser.dechunk(p, body, into: &out)
        return out
    }

    /// ``body(in:)`` from an array.
    public func body(in bytes: [UInt8]) -> [UInt8] { bytes.withUnsafeBytes { body(in: $0) } }
}

/// Why bytes are not a response this parser accepts. ``code`` is stable; ``description`` is what a
/// health check reports as its failure reason.
public enum HTTPResponseError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The peer closed before sending any byte.
    case closedBeforeResponse
    /// The peer closed in the middle of the status line or headers.
    case truncatedHead
    /// The status line and headers exceed the limit.
    case headTooLarge(limit: Int)
    /// The first line is not `HTTP/1.x SSS ...` (another protocol on that port?).
    case badStatusLine
    /// A header line without a name and `:`.
    case badHeaderLine
    /// `Content-Length` is not a number, or two of them differ.
    case badContentLength
    /// A chunk size line or chunk end is malformed.
    case badChunk
    /// The peer closed in the middle of a chunked body.
    case truncatedChunk
    /// The peer closed before `Content-Length` bytes of body.
    case truncatedBody
    /// The body exceeds the limit.
    case bodyTooLarge(limit: Int)

    /// Stable short name: `closed_before_response`, `bad_status_line`, `body_too_large`, ...
    public var code: String {
        switch self {
        case .closedBeforeResponse: return "closed_before_response"
        case .truncatedHead: return "truncated_head"
        case .headTooLarge: return "head_too_large"
        case .badStatusLine: return "bad_status_line"
        case .badHeaderLine: return "bad_header_line"
        case .badContentLength: return "bad_content_length"
        case .badChunk: return "bad_chunk"
        case .truncatedChunk: return "truncated_chunk"
        case .truncatedBody: return "truncated_body"
        case .bodyTooLarge: return "body_too_large"
        }
    }

    public var description: String {
        switch self {
        case .closedBeforeResponse: return "connection closed without a response"
        case .truncatedHead: return "truncated response header"
        case .headTooLarge(let n): return "response header over \(Self.size(n))"
        case .badStatusLine: return "bad status line (not an HTTP/1.x response)"
        case .badHeaderLine: return "malformed response header line"
        case .badContentLength: return "invalid or conflicting Content-Length"
        case .badChunk: return "bad chunk size or chunk end"
        case .truncatedChunk: return "truncated chunk"
        case .truncatedBody: return "truncated body"
        case .bodyTooLarge(let n): return "body over \(Self.size(n))"
        }
    }

    private static func size(_ n: Int) -> String {
        if n >= 1 << 20 && n % (1 << 20) == 0 { return "\(n >> 20) MiB" }
        if n >= 1024 && n % 1024 == 0 { return "\(n >> 10) KiB" }
        return "\(n) bytes"
    }
}
