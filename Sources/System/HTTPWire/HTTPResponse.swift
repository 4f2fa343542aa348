/// The one HTTP/1.x response parser in Tandem: the HTTP health checks, the stress client and the tests'
/// clients read answers with it.
///
/// Built on llhttp (``LLHTTPParser``, the C parser NIOHTTP1 links), called directly: no channel, no
/// allocation until a caller asks for a chunked body. It keeps no state between calls: it says whether
/// the bytes received so far hold a whole response, need more, or cannot be one, and a caller that
/// receives more bytes parses again from the start (answers here are a few hundred bytes).
///
/// Framing follows RFC 9112 section 6.3 as llhttp reads it: no body after `HEAD` or for 1xx, 204 and
/// 304; a final `chunked` transfer coding frames by chunks; any other transfer coding, or neither that
/// nor `Content-Length`, reads until the server closes. Interim 1xx answers (other than 101) are skipped
/// (RFC 9110 section 15.2). Keep-alive follows RFC 9112 section 9.3: HTTP/1.1 unless `Connection: close`,
/// HTTP/1.0 only with `Connection: keep-alive`, and only for a self-delimited body. A bare LF ends the
/// status line, a field line or chunk data (RFC 9112 section 2.2), not a chunk-size line (llhttp refuses
/// that one). llhttp refuses duplicate `Content-Length` fields, even equal ones.
///
/// Once hand-written and measured against NIOHTTP1's `HTTPResponseDecoder` in an EmbeddedChannel (about
/// 3 µs of CPU per answer there, 0.1–0.2 µs by hand); llhttp called directly costs neither the channel nor
/// the boxing. See `tandem-bench-health parse` and docs/health-checks.md.
public enum HTTPResponseParser {
    /// Limits on what one response may use.
    public struct Limits: Sendable, Equatable {
        /// Largest status line plus header section, in bytes (and largest trailer section).
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
        var http = LLHTTPParser(.response, maxBodyBytes: limits.maxBodyBytes)
        http.answersHEAD = headRequest
        // `at`: the first byte llhttp has not read; `start`: where the answer being read began (after any
        // interim ones); `trailers`: where a chunked body's trailer section begins.
        var at = 0, start = 0, trailers = 0
        var head: HTTPResponseHead?
        while true {
            // The head and the trailer section are read no further than their limit.
            let limitFrom: Int? = switch http.phase {
            case .idle, .head: start
            case .trailers: trailers
            case .body: nil
            }
            let end = limitFrom.map { min(bytes.count, $0 + limits.maxHeadBytes) } ?? bytes.count
            let (stop, position) = http.execute(bytes, from: at, to: end)
            at = position
            switch stop {
            case .needMore:
                if let from = limitFrom, at - from >= limits.maxHeadBytes { return .invalid(.headTooLarge(limit: limits.maxHeadBytes)) }
                guard eof else { return .incomplete }
                switch http.finish() {
                case .messageComplete:
                    // Read until the server closed.
                    guard let head else { return .invalid(.truncatedHead) }
                    return .complete(response(head, at: start, bodyCount: http.bodyCount, trailers: trailers, end: bytes.count, headRequest: headRequest))
                case .needMore:
                    return .invalid(bytes.count == 0 ? .closedBeforeResponse : .truncatedHead)
                case .failed(let e):
                    return .invalid(HTTPResponseError(e, chunked: head?.chunked ?? false, limits: limits))
                case .headComplete, .trailersNext:
                    return .invalid(.truncatedHead)
                }
            case .headComplete:
                let h = HTTPResponseHead(http, length: at - start)
                // Refused from the header, before the body comes.
                if let n = h.contentLength, n > limits.maxBodyBytes, framing(h, headRequest: headRequest) == .length {
                    return .invalid(.bodyTooLarge(limit: limits.maxBodyBytes))
                }
                head = h
            case .trailersNext:
                trailers = at
            case .messageComplete:
                guard let h = head else { return .invalid(.truncatedHead) }
                // RFC 9110 section 15.2: a client parses any number of interim answers before the final one.
                if (100..<200).contains(h.status) && h.status != 101 {
                    start = at
                    head = nil
                    continue
                }
                return .complete(response(h, at: start, bodyCount: http.bodyCount, trailers: trailers, end: at, headRequest: headRequest))
            case .failed(let e):
                return .invalid(HTTPResponseError(e, chunked: head?.chunked ?? false, limits: limits))
            }
        }
    }

    /// ``parse(_:eof:headRequest:limits:)`` on the first `count` bytes of an array (all of it by default).
    public static func parse(_ bytes: [UInt8], count: Int? = nil, eof: Bool, headRequest: Bool = false,
                             limits: Limits = .init()) -> Outcome {
        bytes.withUnsafeBytes { b in
            parse(UnsafeRawBufferPointer(rebasing: b[0..<(count ?? b.count)]), eof: eof, headRequest: headRequest, limits: limits)
        }
    }

    /// How a response's body is framed (RFC 9112 section 6.3).
    private static func framing(_ head: HTTPResponseHead, headRequest: Bool) -> HTTPResponse.Framing {
        if headRequest || head.status == 101 || head.status == 204 || head.status == 304 { return .none }
        if head.chunked { return .chunked }
        if !head.transferEncoded && head.contentLength != nil { return .length }
        return .close
    }

    /// The whole response whose head begins at `start` and which ends at `end`.
    private static func response(_ head: HTTPResponseHead, at start: Int, bodyCount: Int, trailers: Int, end: Int,
                                 headRequest: Bool) -> HTTPResponse {
        let bodyStart = start + head.length
        let framing = framing(head, headRequest: headRequest)
        let body: Range<Int> = switch framing {
        case .none: bodyStart..<bodyStart
        case .length, .close: bodyStart..<(bodyStart + bodyCount)
        case .chunked: bodyStart..<trailers
        }
        return HTTPResponse(head: head, framing: framing, body: body, bodyCount: framing == .none ? 0 : bodyCount, length: end)
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
        var http = LLHTTPParser(.response)
        let end = min(bytes.count, limits.maxHeadBytes)
        switch http.execute(bytes, from: 0, to: end) {
        case (.headComplete, let at):
            return .head(HTTPResponseHead(http, length: at))
        case (.failed(let e), _):
            return .invalid(HTTPResponseError(e, chunked: false, limits: limits))
        case (_, let at):
            return at >= limits.maxHeadBytes ? .invalid(.headTooLarge(limit: limits.maxHeadBytes)) : .incomplete
        }
    }

    /// The value of the first header called `name` (any case), trimmed, in the head at the start of
    /// `bytes`; nil when there is none. For the headers the framing does not read (`Retry-After`,
    /// `Content-Type`). The head may come without its final empty line (a head kept as text): the
    /// bytes then end the last field.
    public static func headerValue(_ name: String, in bytes: UnsafeRawBufferPointer) -> String? {
        var http = LLHTTPParser(.response, recordsFields: true)
        let (stop, _) = http.execute(bytes, from: 0, to: bytes.count)
        var fields = http.fields
        if stop == .needMore, let last = http.partialField { fields.append(last) }
        var name = name
        return name.withUTF8 { want in
            for f in fields where equalsIgnoringCase(UnsafeRawBufferPointer(rebasing: bytes[f.name]), want) {
                return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[LLHTTPParser.trimmed(f.value, in: bytes)]), as: UTF8.self)
            }
            return nil
        }
    }

    /// ``headerValue(_:in:)`` in a head given as text or bytes.
    public static func headerValue<Bytes: Collection<UInt8>>(_ name: String, in head: Bytes) -> String? {
        Array(head).withUnsafeBytes { headerValue(name, in: $0) }
    }

    /// Whether two byte strings are equal ignoring ASCII case.
    private static func equalsIgnoringCase(_ a: UnsafeRawBufferPointer, _ b: UnsafeBufferPointer<UInt8>) -> Bool {
        guard a.count == b.count else { return false }
        for i in 0..<a.count {
            let x = a[i], y = b[i]
            if x != y && (x | 0x20 != y | 0x20 || !(0x61...0x7A).contains(x | 0x20)) { return false }
        }
        return true
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

    /// The head llhttp has just read (at its head-complete pause).
    init(_ http: LLHTTPParser, length: Int) {
        self.init(status: http.status, minorVersion: http.httpMinor, contentLength: http.contentLength,
                  transferEncoded: http.transferEncoded, chunked: http.chunked, connectionClose: http.connectionClose,
                  connectionKeepAlive: http.connectionKeepAlive, length: length)
    }

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
    /// Where the body is in the parsed bytes (for `chunked`, the chunks still encoded, through the last
    /// chunk's size line: see ``body(in:)``).
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

    /// The body, de-chunked, from the bytes this response was parsed from. A chunked body is read
    /// again by llhttp, from the final answer's head to the response's end, and its data copied out.
    public func body(in bytes: UnsafeRawBufferPointer) -> [UInt8] {
        guard framing == .chunked else { return Array(UnsafeRawBufferPointer(rebasing: bytes[body])) }
        var http = LLHTTPParser(.response)
        http.recordsBodySpans = true
        var at = headRange.lowerBound
        reading: while true {
            let (stop, position) = http.execute(bytes, from: at, to: length)
            at = position
            switch stop {
            case .headComplete, .trailersNext: continue
            case .messageComplete, .needMore, .failed: break reading
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(bodyCount)
        for span in http.bodySpans { out.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[span])) }
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

    /// What llhttp's refusal means for a response: which part was wrong, or where the input ended.
    init(_ e: LLHTTPError, chunked: Bool, limits: HTTPResponseParser.Limits) {
        switch (e.kind, e.phase) {
        case (.bodyTooLarge, _): self = .bodyTooLarge(limit: limits.maxBodyBytes)
        case (.truncated, .idle): self = .closedBeforeResponse
        case (.truncated, .head): self = .truncatedHead
        case (.truncated, _): self = chunked ? .truncatedChunk : .truncatedBody
        case (.contentLength, _): self = .badContentLength
        case (.method, _), (.version, _), (.unsupportedVersion, _), (.status, _): self = .badStatusLine
        case (_, .idle), (_, .head): self = .badHeaderLine
        case (_, .body), (_, .trailers): self = .badChunk
        }
    }

    private static func size(_ n: Int) -> String {
        if n >= 1 << 20 && n % (1 << 20) == 0 { return "\(n >> 20) MiB" }
        if n >= 1024 && n % 1024 == 0 { return "\(n >> 10) KiB" }
        return "\(n) bytes"
    }
}
