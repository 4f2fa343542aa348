#if canImport(Glibc)
import Glibc
#endif
import NIOCore

/// What one connection's requests may spend: every byte a client sends counts against one of these
/// (issue 17: empty lines before a request and chunked trailers were counted against nothing, and one
/// connection could make the server buffer and re-scan 20 MB).
public struct GridHTTPLimits: Sendable, Equatable {
    /// Request line and header fields through the empty line that ends them; beyond, 431 and close.
    public var maxHeadBytes: Int
    /// Request content: a `Content-Length` body, or the decoded data of a chunked one; beyond, the request
    /// is handed on marked ``GridHTTPRequest/bodyTooLarge`` (the services answer 413).
    public var maxBodyBytes: Int
    /// Empty lines before a request line. RFC 9112 section 2.2 asks a server to ignore at least one (some
    /// clients send a CRLF after a POST body); beyond, 400 and close.
    public var maxEmptyLineBytes: Int
    /// A chunked body's trailer section (field lines after the last chunk, RFC 9112 section 7.1.2);
    /// beyond, 431 and close.
    public var maxTrailerBytes: Int
    /// A chunked body's framing: the chunk-size lines with their extensions and the CRLF after each
    /// chunk's data; beyond, the request is too large (413) and the connection closes.
    public var maxChunkFramingBytes: Int
    /// How much of a `Content-Length` body over ``maxBodyBytes`` is read and dropped so that the
    /// connection stays usable after the 413; a larger body closes the connection after the answer.
    public var maxDiscardBytes: Int

    /// Creates limits; the defaults suit bodies of a few KiB (the grid services' JSON requests).
    public init(maxHeadBytes: Int = 16 * 1024, maxBodyBytes: Int = 16 * 1024, maxEmptyLineBytes: Int = 64,
                maxTrailerBytes: Int = 4 * 1024, maxChunkFramingBytes: Int = 16 * 1024, maxDiscardBytes: Int = 1 << 20) {
        self.maxHeadBytes = maxHeadBytes
        self.maxBodyBytes = maxBodyBytes
        self.maxEmptyLineBytes = maxEmptyLineBytes
        self.maxTrailerBytes = maxTrailerBytes
        self.maxChunkFramingBytes = maxChunkFramingBytes
        self.maxDiscardBytes = maxDiscardBytes
    }

    /// The most bytes a parser holds while it waits for more input (``GridHTTPRequestParser/bufferedBytes``
    /// after ``GridHTTPRequestParser/next()`` answered `incomplete` or `awaitingBody`): a head short of
    /// its end, or a body with a partial framing or trailer line behind it.
    public var maxBufferedBytes: Int {
        max(maxHeadBytes, maxBodyBytes + max(maxChunkFramingBytes, maxTrailerBytes) + 2)
    }
}

/// The request parser of one connection (RFC 9112): it holds the bytes received and not used yet, and
/// resumes where it stopped, so every byte is looked at a bounded number of times however the client
/// splits its input (the old parser re-scanned its whole buffer on every read). Pure: no I/O, no clock.
///
/// Accepted: `METHOD SP target SP HTTP/1.x` and field lines `name: value`, each ended by CRLF or a bare LF
/// (RFC 9112 section 2.2 allows a recipient to take LF alone); a body framed by `Content-Length` or, in
/// HTTP/1.1, `Transfer-Encoding: chunked` (chunk lines ended by CRLF only). Keep-alive follows RFC 9112
/// section 9.3: HTTP/1.1 unless `Connection: close`, HTTP/1.0 only with `Connection: keep-alive`. Only the
/// fields the services use are interpreted (`Content-Length`, `Content-Type`, `Transfer-Encoding`,
/// `Connection`, `Expect`); every other field line is checked for syntax and skipped.
///
/// Refused (``Outcome/invalid(status:message:)``; the caller answers and closes), RFC 9112 sections named:
/// - 400: a malformed request line (3) or field line (5), whitespace before a field's colon (5.1),
///   obs-fold (5.2), a bare CR or another control character in a field (2.2, RFC 9110 section 5.5),
///   an invalid or conflicting `Content-Length` (6.3), `Transfer-Encoding` with `Content-Length` (6.1),
///   `Transfer-Encoding` in HTTP/1.0 (6.1: the framing is faulty), `chunked` twice (7), a malformed
///   chunk-size line such as `5zzz` or `0x5` or chunk data not followed by CRLF (7.1), more empty lines
///   before the request line than ``GridHTTPLimits/maxEmptyLineBytes`` (2.2);
/// - 417: an expectation other than `100-continue` (RFC 9110 section 10.1.1);
/// - 431: a head or trailer section over its limit (RFC 6585 section 5);
/// - 501: a transfer coding other than `chunked`, e.g. `chunked, gzip` (6.1, RFC 9110 section 15.6.2);
/// - 505: an HTTP major version other than 1 (RFC 9110 section 15.6.6).
public struct GridHTTPRequestParser {
    /// One parsed request and how to continue on the connection.
    public struct Parsed: Sendable {
        /// The request for the responder.
        public var request: GridHTTPRequest
        /// Keep the connection open after answering.
        public var keepAlive: Bool
        /// `HEAD`: answer with the headers only.
        public var isHead: Bool
    }

    /// The outcome of ``next()``.
    public enum Outcome: Sendable {
        /// More bytes are needed.
        case incomplete
        /// The head is complete and asks `Expect: 100-continue`; its body has not all arrived. Returned
        /// once per request: the caller sends ``GridHTTPWire/continueResponse`` and keeps reading
        /// (RFC 9110 section 10.1.1).
        case awaitingBody
        /// One complete request.
        case request(Parsed)
        /// Not a request this server takes: answer `status` with `message` and close the connection.
        case invalid(status: Int, message: String)
    }

    /// Where the connection stands, for its timeouts.
    public enum Phase: Sendable, Equatable {
        /// Between requests: no byte of the next one has arrived.
        case idle
        /// Part of a request head (or the empty lines before it) has arrived.
        case head
        /// The head is complete; its body has not all arrived.
        case body
        /// The request was handed on; the rest of its oversized body is being read and dropped.
        case discarding
        /// Nothing more is parsed: the input was refused, or the last request closes the connection.
        case failed
    }

    private enum Step {
        case start, head, fixedBody, chunkSize, chunkData, chunkDataEnd, trailers, discarding, failed
    }

    /// The limits this parser enforces.
    public let limits: GridHTTPLimits
    /// Received bytes not used yet (offsets below are relative to its reader index).
    private var input = ByteBuffer()
    private var step = Step.start
    /// `start`: empty-line bytes skipped. `head`: bytes scanned for the end of the head.
    /// `chunkSize`/`chunkData`/`chunkDataEnd`: framing bytes used. `trailers`: trailer bytes used.
    private var count = 0
    /// `head`: where the line being scanned starts.
    private var lineStart = 0
    /// `chunkSize`/`trailers`: how far the line at the front was searched for its LF.
    private var lineScanned = 0
    /// Bytes looked at so far (searches and parses), for the test that parsing costs O(bytes received).
    private(set) var examined = 0
    /// `fixedBody`: body length. `chunkData`: bytes left in this chunk. `discarding`: bytes left to drop.
    private var remaining = 0
    /// The decoded data of a chunked body.
    private var body = ByteBuffer()
    /// The request whose head is complete and whose body is being read.
    private var pending: Parsed?
    private var expectContinue = false

    /// A parser for one connection.
    public init(limits: GridHTTPLimits) {
        self.limits = limits
    }

    /// Bytes held: received and not used, plus a chunked body's decoded data so far.
    public var bufferedBytes: Int { input.readableBytes + body.readableBytes }

    /// Where the connection stands (for the head, body and idle timeouts).
    public var phase: Phase {
        switch step {
        case .start: return input.readableBytes == 0 && count == 0 ? .idle : .head
        case .head: return .head
        case .fixedBody, .chunkSize, .chunkData, .chunkDataEnd, .trailers: return .body
        case .discarding: return .discarding
        case .failed: return .failed
        }
    }

    /// Adds received bytes. Bytes of an oversized body being dropped are dropped here, unbuffered.
    public mutating func append(_ bytes: ByteBuffer) {
        var bytes = bytes
        if step == .failed { return }
        if step == .discarding, input.readableBytes == 0 {
            let n = min(remaining, bytes.readableBytes)
            bytes.moveReaderIndex(forwardBy: n)
            remaining -= n
            if remaining == 0 { step = .start; count = 0 }
        }
        guard bytes.readableBytes > 0 else { return }
        if input.readableBytes == 0 {
            input = bytes
        } else {
            // Drop the bytes already used once they outweigh the live ones: the copy is then paid for by
            // the bytes consumed, so a client that splits its input finely costs O(bytes), not O(bytes²).
            if input.readerIndex > input.readableBytes { input.discardReadBytes() }
            input.writeImmutableBuffer(bytes)
        }
    }

    /// The next request, or what is needed before it. After `invalid` (and after a request that does not
    /// keep the connection alive) nothing more is parsed.
    public mutating func next() -> Outcome {
        while true {
            switch step {
            case .failed:
                return .incomplete
            case .start:
                if let refused = skipEmptyLines() { return refused }
                // Still here: the input ran out, or ends in a CR whose LF has not come yet.
                if step == .start { return .incomplete }
            case .head:
                let headEnd = findHeadEnd()
                guard headEnd > 0 else {
                    if input.readableBytes >= limits.maxHeadBytes {
                        return fail(431, "the request head is longer than \(limits.maxHeadBytes) bytes")
                    }
                    return .incomplete
                }
                if let refused = parseHead(length: headEnd) { return refused }
            case .fixedBody:
                guard input.readableBytes >= remaining else { return waitForBody() }
                if remaining > 0 { pending!.request.body = input.readSlice(length: remaining)! }
                return finish()
            case .chunkSize:
                if let outcome = chunkSizeLine() { return outcome }
            case .chunkData:
                let n = min(remaining, input.readableBytes)
                if n > 0 {
                    var slice = input.readSlice(length: n)!
                    body.writeBuffer(&slice)
                    remaining -= n
                }
                guard remaining == 0 else { return waitForBody() }
                step = .chunkDataEnd
            case .chunkDataEnd:
                guard input.readableBytes >= 2 else {
                    if input.readableBytes == 1, input.getInteger(at: input.readerIndex, as: UInt8.self) != 0x0D { return missingChunkEnd() }
                    return waitForBody()
                }
                guard input.readableBytesView.starts(with: [0x0D, 0x0A]) else { return missingChunkEnd() }
                input.moveReaderIndex(forwardBy: 2)
                count += 2
                step = .chunkSize
            case .trailers:
                if let outcome = trailerLine() { return outcome }
            case .discarding:
                let n = min(remaining, input.readableBytes)
                input.moveReaderIndex(forwardBy: n)
                remaining -= n
                guard remaining == 0 else { return .incomplete }
                step = .start
                count = 0
            }
        }
    }

    // MARK: steps

    private mutating func fail(_ status: Int, _ message: String) -> Outcome {
        step = .failed
        input = ByteBuffer()
        body = ByteBuffer()
        pending = nil
        return .invalid(status: status, message: message)
    }

    /// The request is complete: hand it on and start on the next.
    private mutating func finish() -> Outcome {
        let done = pending!
        pending = nil
        body = ByteBuffer()
        count = 0
        lineScanned = 0
        step = done.keepAlive ? .start : .failed
        if !done.keepAlive { input = ByteBuffer() }
        return .request(done)
    }

    private mutating func waitForBody() -> Outcome {
        if expectContinue {
            expectContinue = false
            return .awaitingBody
        }
        return .incomplete
    }

    /// A chunked body grew past a limit: hand the request on marked too large and stop reading, since the
    /// rest of the connection cannot be framed without reading the whole body.
    private mutating func chunkedTooLarge() -> Outcome {
        pending!.request.bodyTooLarge = true
        pending!.keepAlive = false
        return finish()
    }

    private mutating func missingChunkEnd() -> Outcome {
        fail(400, "chunk data is not followed by CRLF (RFC 9112 section 7.1)")
    }

    /// Skips the empty lines (CRLF or LF) before a request line, within their budget. Nil to go on.
    private mutating func skipEmptyLines() -> Outcome? {
        while let b = input.getInteger(at: input.readerIndex, as: UInt8.self) {
            examined += 1
            if b == 0x0A {
                input.moveReaderIndex(forwardBy: 1)
                count += 1
            } else if b == 0x0D {
                guard input.readableBytes >= 2 else { break }
                guard input.getInteger(at: input.readerIndex + 1, as: UInt8.self) == 0x0A else {
                    return fail(400, "bare CR before the request line (RFC 9112 section 2.2)")
                }
                input.moveReaderIndex(forwardBy: 2)
                count += 2
            } else {
                step = .head
                count = 0
                lineStart = 0
                return nil
            }
            if count > limits.maxEmptyLineBytes {
                return fail(400, "more than \(limits.maxEmptyLineBytes) bytes of empty lines before the request line")
            }
        }
        return nil
    }

    /// The length of the head (through its empty line) once it is all in, else 0. Resumes where the last
    /// call stopped; looks at most ``GridHTTPLimits/maxHeadBytes`` bytes.
    private mutating func findHeadEnd() -> Int {
        let limit = min(input.readableBytes, limits.maxHeadBytes)
        var scanned = count, start = lineStart, end = 0
        input.withUnsafeReadableBytes { raw in
            guard let base = raw.baseAddress else { return }
            while scanned < limit, let hit = memchr(base + scanned, 0x0A, limit - scanned) {
                let at = base.distance(to: UnsafeRawPointer(hit))
                let length = at - start
                if start > 0, length == 0 || (length == 1 && raw[start] == 0x0D) {
                    end = at + 1
                    return
                }
                start = at + 1
                scanned = at + 1
            }
            scanned = limit
        }
        examined += (end > 0 ? end : scanned) - count
        count = scanned
        lineStart = start
        return end
    }

    /// Parses the complete head of `length` bytes at the front of the input and moves on to its body.
    /// Nil to go on; else the outcome to return.
    private mutating func parseHead(length headEnd: Int) -> Outcome? {
        let head = input.withUnsafeReadableBytes { raw in GridHTTPHead.parse(UnsafeRawBufferPointer(rebasing: raw[0..<headEnd])) }
        input.moveReaderIndex(forwardBy: headEnd)
        examined += headEnd
        let h: GridHTTPHead
        switch head {
        case .failure(let refusal): return fail(refusal.status, refusal.message)
        case .success(let parsed): h = parsed
        }
        var parsed = Parsed(request: h.request, keepAlive: h.keepAlive, isHead: h.isHead)
        expectContinue = h.expectContinue
        count = 0
        if h.chunked {
            pending = parsed
            body = ByteBuffer()
            step = .chunkSize
            return nil
        }
        let length = h.request.contentLength ?? 0
        if length > limits.maxBodyBytes {
            parsed.request.bodyTooLarge = true
            let excess = length - input.readableBytes
            if h.expectContinue || length > limits.maxBodyBytes + limits.maxDiscardBytes {
                // Refused before the client sent it (the client may send it anyway), or too large to read
                // and drop: the connection cannot be framed afterwards and closes after the answer.
                parsed.keepAlive = false
            }
            if !parsed.keepAlive {
                step = .failed
                input = ByteBuffer()
            } else if excess > 0 {
                input.moveReaderIndex(forwardBy: input.readableBytes)
                remaining = excess
                step = .discarding
            } else {
                input.moveReaderIndex(forwardBy: length)
                step = .start
            }
            return .request(parsed)
        }
        pending = parsed
        remaining = length
        step = .fixedBody
        return nil
    }

    /// The index of the LF ending the line at the front of the input, searching on from where the last
    /// call stopped and no further than `budget` bytes; nil if it is not (yet) there.
    private mutating func findLineFeed(within budget: Int) -> Int? {
        let window = min(input.readableBytes, budget)
        guard window > lineScanned else { return nil }
        let from = lineScanned
        let found: Int? = input.withUnsafeReadableBytes { raw in
            guard let base = raw.baseAddress, let hit = memchr(base + from, 0x0A, window - from) else { return nil }
            return base.distance(to: UnsafeRawPointer(hit))
        }
        examined += (found ?? window) - from
        lineScanned = found ?? window
        return found
    }

    /// One chunk-size line (RFC 9112 section 7.1): `1*HEXDIG *( BWS ";" BWS ext-name [ BWS "=" BWS ext-value ] ) CRLF`.
    /// Nil to go on; else the outcome to return.
    private mutating func chunkSizeLine() -> Outcome? {
        let budget = limits.maxChunkFramingBytes - count
        guard let lf = findLineFeed(within: budget) else {
            return input.readableBytes >= budget ? chunkedTooLarge() : waitForBody()
        }
        let line = input.withUnsafeReadableBytes { raw in
            GridHTTPHead.chunkSize(UnsafeRawBufferPointer(rebasing: raw[0..<lf]), lineLength: lf + 1)
        }
        examined += lf + 1
        switch line {
        case .malformed(let why):
            return fail(400, "malformed chunk-size line: \(why) (RFC 9112 section 7.1)")
        case .size(let size, let lineLength):
            input.moveReaderIndex(forwardBy: lineLength)
            lineScanned = 0
            count += lineLength
            if size == 0 {
                step = .trailers
                count = 0
                return nil
            }
            if size > limits.maxBodyBytes - body.readableBytes { return chunkedTooLarge() }
            remaining = size
            step = .chunkData
            return nil
        }
    }

    /// One trailer line, or the empty line that ends the trailer section (RFC 9112 section 7.1.2). The
    /// fields are checked and dropped. Nil to go on; else the outcome to return.
    private mutating func trailerLine() -> Outcome? {
        let budget = limits.maxTrailerBytes - count
        guard let lf = findLineFeed(within: budget) else {
            if input.readableBytes >= budget {
                return fail(431, "the trailer section is longer than \(limits.maxTrailerBytes) bytes")
            }
            return waitForBody()
        }
        examined += lf + 1
        let line: Result<Int, GridHTTPHead.Refusal> = input.withUnsafeReadableBytes { raw in
            var end = lf
            if end > 0, raw[end - 1] == 0x0D { end -= 1 }
            if end == 0 { return .success(-(lf + 1)) }  // the empty line
            if let refusal = GridHTTPHead.checkFieldLine(raw, 0, end) { return .failure(refusal) }
            return .success(lf + 1)
        }
        switch line {
        case .failure(let refusal):
            return fail(refusal.status, refusal.message)
        case .success(let n) where n < 0:
            input.moveReaderIndex(forwardBy: -n)
            lineScanned = 0
            pending!.request.body = body
            return finish()
        case .success(let n):
            input.moveReaderIndex(forwardBy: n)
            lineScanned = 0
            count += n
            return nil
        }
    }
}

/// A chunk-size line, read.
enum ChunkLine {
    case malformed(String)
    case size(Int, lineLength: Int)
}
