import HTTPWire
import NIOCore

/// What one connection's requests may spend: every byte a client sends counts against one of these
/// (found by the hostile-input probes: empty lines before a request and chunked trailers were counted against nothing, and one
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

    /// The most bytes a parser may hold while it waits for more input (``GridHTTPRequestParser/bufferedBytes``
    /// after ``GridHTTPRequestParser/next()`` answered `incomplete` or `awaitingBody`): a head short of
    /// its end, or a body short of its end. (The parser on llhttp holds at most a head or a body: llhttp
    /// reads chunk framing and trailers as they come and keeps none of them.)
    public var maxBufferedBytes: Int {
        max(maxHeadBytes, maxBodyBytes + max(maxChunkFramingBytes, maxTrailerBytes) + 2)
    }
}

/// The request parser of one connection (RFC 9112), built on llhttp (HTTPWire's ``LLHTTPParser``, the C
/// parser NIOHTTP1 links): llhttp reads every byte once and resumes where it stopped however the client
/// splits its input. This type keeps only the bytes it still needs (a head until it is complete, a
/// `Content-Length` body until it is all in; chunk framing and trailers are dropped as llhttp reads
/// them), counts what llhttp does not (empty lines before a request, head, chunk framing and trailer
/// bytes, each against its budget in ``GridHTTPLimits``), and turns a complete head into a
/// ``GridHTTPRequest`` (``GridHTTPHead``). Pure: no I/O, no clock.
///
/// Accepted: `METHOD SP target SP HTTP/1.x` with a method llhttp knows, and field lines `name: value`,
/// each ended by CRLF (llhttp's strict mode: a bare LF is refused); a body framed by `Content-Length` or,
/// in HTTP/1.1, `Transfer-Encoding: chunked`. Keep-alive follows RFC 9112 section 9.3: HTTP/1.1 unless
/// `Connection: close`, HTTP/1.0 only with `Connection: keep-alive`. Only the fields the services use
/// are interpreted (`Content-Length`, `Content-Type`, `Transfer-Encoding`, `Connection`, `Expect`);
/// llhttp checks the syntax of every other field line.
///
/// Refused (``Outcome/invalid(status:message:)``; the caller answers and closes), RFC 9112 sections named:
/// - 400, by llhttp: a malformed request line (3) or field line (5), an unknown method, whitespace
///   before a field's colon (5.1), obs-fold (5.2), a bare CR, bare LF or another control character
///   (2.2, RFC 9110 section 5.5), an invalid or duplicate `Content-Length` (6.3), `Transfer-Encoding`
///   with `Content-Length` (6.1), a malformed chunk-size line such as `5zzz`, `0x5` or `5 ;a` or chunk
///   data not followed by CRLF (7.1);
/// - 400, here: a request line without a version (HTTP/0.9), `Transfer-Encoding` in HTTP/1.0 (6.1: the
///   framing is faulty), `chunked` twice (7), a chunk extension with `=` and no value (7.1.1), more
///   empty lines before the request line than ``GridHTTPLimits/maxEmptyLineBytes`` (2.2);
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
        /// Before a request: empty lines are skipped (within their budget) until its first byte.
        case start
        /// The request line and fields.
        case head
        /// A `Content-Length` body.
        case body
        /// A chunked body, up to its last chunk's size line.
        case chunkedBody
        /// A chunked body's trailer section.
        case trailers
        /// The request was handed on; its oversized body is read by llhttp and dropped.
        case discarding
        /// Nothing more is parsed.
        case failed
    }

    /// The limits this parser enforces.
    public let limits: GridHTTPLimits
    /// Received bytes not used yet. llhttp's offsets count from its reader index.
    private var input = ByteBuffer()
    private var http: LLHTTPParser
    private var step = Step.start
    /// How many bytes at the front of `input` llhttp has read.
    private var read = 0
    /// `start`: empty-line bytes skipped. `chunkedBody`: framing bytes read. `trailers`: trailer bytes read.
    private var count = 0
    /// Bytes looked at so far (llhttp reads each once; a complete head is looked at once more), for the
    /// test that parsing costs O(bytes received).
    private(set) var examined = 0
    /// The decoded data of a chunked body.
    private var body = ByteBuffer()
    /// The request whose head is complete and whose body is being read.
    private var pending: Parsed?
    private var expectContinue = false

    /// A parser for one connection.
    public init(limits: GridHTTPLimits) {
        self.limits = limits
        self.http = LLHTTPParser(.request, recordsFields: true, maxBodyBytes: limits.maxBodyBytes)
    }

    /// Bytes held: received and not used, plus a chunked body's decoded data so far.
    public var bufferedBytes: Int { input.readableBytes + body.readableBytes }

    /// Where the connection stands (for the head, body and idle timeouts).
    public var phase: Phase {
        switch step {
        case .start: return input.readableBytes == 0 && count == 0 ? .idle : .head
        case .head: return .head
        case .body, .chunkedBody, .trailers: return .body
        case .discarding: return .discarding
        case .failed: return .failed
        }
    }

    /// Adds received bytes.
    public mutating func append(_ bytes: ByteBuffer) {
        if step == .failed || bytes.readableBytes == 0 { return }
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
                // llhttp reads no further than the head's budget.
                switch run(to: min(input.readableBytes, limits.maxHeadBytes)) {
                case .headComplete:
                    if let outcome = headComplete() { return outcome }
                case .needMore:
                    if read >= limits.maxHeadBytes {
                        return fail(431, "the request head is longer than \(limits.maxHeadBytes) bytes")
                    }
                    return .incomplete
                case .failed(let e):
                    return fail(e)
                case let stop:
                    preconditionFailure("llhttp stopped at \(stop) inside a request head")
                }
            case .body:
                switch run(to: input.readableBytes) {
                case .needMore:
                    return waitForBody()
                case .messageComplete:
                    if let b = http.body { pending!.request.body = input.getSlice(at: input.readerIndex + b.lowerBound, length: b.count)! }
                    consume(read)
                    return finish()
                case .failed(let e):
                    return fail(e)
                case let stop:
                    preconditionFailure("llhttp stopped at \(stop) inside a Content-Length body")
                }
            case .chunkedBody:
                // Enough for what both budgets still allow, and one byte more: reading all of it means
                // one is over.
                let stop = run(to: min(input.readableBytes, limits.maxChunkFramingBytes - count + limits.maxBodyBytes - body.readableBytes + 1))
                count += read - takeChunkData()
                consume(read)
                if case .failed(let e) = stop {
                    return e.kind == .bodyTooLarge ? chunkedTooLarge() : fail(e)
                }
                if count > limits.maxChunkFramingBytes { return chunkedTooLarge() }
                switch stop {
                case .needMore: return waitForBody()
                case .trailersNext: step = .trailers; count = 0
                case let stop: preconditionFailure("llhttp stopped at \(stop) inside chunked data")
                }
            case .trailers:
                let stop = run(to: min(input.readableBytes, limits.maxTrailerBytes - count))
                count += read
                consume(read)
                switch stop {
                case .needMore:
                    if count >= limits.maxTrailerBytes {
                        return fail(431, "the trailer section is longer than \(limits.maxTrailerBytes) bytes")
                    }
                    return waitForBody()
                case .messageComplete:
                    pending!.request.body = body
                    return finish()
                case .failed(let e):
                    return fail(e)
                case let stop:
                    preconditionFailure("llhttp stopped at \(stop) inside a trailer section")
                }
            case .discarding:
                let stop = run(to: input.readableBytes)
                consume(read)
                switch stop {
                case .needMore:
                    return .incomplete
                case .messageComplete:
                    http.maxBodyBytes = limits.maxBodyBytes
                    step = .start
                    count = 0
                case let stop:
                    // A Content-Length body is any bytes: llhttp cannot refuse one.
                    preconditionFailure("llhttp stopped at \(stop) inside a dropped body")
                }
            }
        }
    }

    // MARK: steps

    /// Lets llhttp read `input` from where it stopped up to `end` (offsets from the reader index).
    private mutating func run(to end: Int) -> LLHTTPParser.Stop {
        let from = read
        // A copy of the buffer (a reference, no bytes copied), so that the closure may change `http`.
        let bytes = input
        let (stop, position) = bytes.withUnsafeReadableBytes { http.execute($0, from: from, to: max(from, end)) }
        examined += position - from
        read = position
        return stop
    }

    /// Drops `n` bytes llhttp has read from the front of the input.
    private mutating func consume(_ n: Int) {
        input.moveReaderIndex(forwardBy: n)
        read -= n
    }

    /// Copies the chunk data llhttp found in the bytes it read into `body`; returns how many bytes it was.
    private mutating func takeChunkData() -> Int {
        var data = 0
        let bytes = input
        bytes.withUnsafeReadableBytes { raw in
            for span in http.bodySpans {
                body.writeBytes(UnsafeRawBufferPointer(rebasing: raw[span]))
                data += span.count
            }
        }
        http.forgetBodySpans()
        return data
    }

    private mutating func fail(_ status: Int, _ message: String) -> Outcome {
        step = .failed
        input = ByteBuffer()
        body = ByteBuffer()
        pending = nil
        return .invalid(status: status, message: message)
    }

    /// What llhttp refused, as the status and message the client gets.
    private mutating func fail(_ e: LLHTTPError) -> Outcome {
        let refusal = GridHTTPHead.refusal(e)
        return fail(refusal.status, refusal.message)
    }

    /// The request is complete: hand it on and start on the next.
    private mutating func finish() -> Outcome {
        let done = pending!
        pending = nil
        body = ByteBuffer()
        count = 0
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

    /// Skips the empty lines (CRLF or LF) before a request line, within their budget. Nil to go on.
    /// Done here rather than by llhttp, which skips any CR and LF there without counting them.
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
                return nil
            }
            if count > limits.maxEmptyLineBytes {
                return fail(400, "more than \(limits.maxEmptyLineBytes) bytes of empty lines before the request line")
            }
        }
        return nil
    }

    /// The head llhttp has just read (the first `read` bytes of the input): interprets it, drops it and
    /// moves on to its body. Nil to go on; else the outcome to return.
    private mutating func headComplete() -> Outcome? {
        let headLength = read
        let head = input.withUnsafeReadableBytes { raw in GridHTTPHead.interpret(http, UnsafeRawBufferPointer(rebasing: raw[0..<headLength])) }
        examined += headLength
        consume(headLength)
        let h: GridHTTPHead
        switch head {
        case .failure(let refusal): return fail(refusal.status, refusal.message)
        case .success(let parsed): h = parsed
        }
        var parsed = Parsed(request: h.request, keepAlive: h.keepAlive, isHead: h.isHead)
        expectContinue = h.expectContinue
        count = 0
        http.recordsBodySpans = h.chunked
        if h.chunked {
            pending = parsed
            body = ByteBuffer()
            step = .chunkedBody
            return nil
        }
        let length = h.request.contentLength ?? 0
        if length > limits.maxBodyBytes {
            parsed.request.bodyTooLarge = true
            if h.expectContinue || length > limits.maxBodyBytes + limits.maxDiscardBytes {
                // Refused before the client sent it (the client may send it anyway), or too large to read
                // and drop: the connection cannot be framed afterwards and closes after the answer.
                parsed.keepAlive = false
            }
            if parsed.keepAlive {
                // llhttp reads the body to its end (no limit while it is dropped).
                http.maxBodyBytes = .max
                step = .discarding
            } else {
                step = .failed
                input = ByteBuffer()
            }
            return .request(parsed)
        }
        pending = parsed
        step = .body
        return nil
    }
}
