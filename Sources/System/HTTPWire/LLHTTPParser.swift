import CNIOLLHTTP

/// llhttp, the HTTP/1.x parser of Node.js that swift-nio links as `CNIOLLHTTP` (NIOHTTP1's decoder is
/// built on it), driven directly: no channel, no message boxing, no allocation unless a caller asks for
/// header or body spans. The only code in Tandem that calls llhttp: HTTPWire's response parser and
/// gridsvc's request parser (`GridHTTPRequestParser`) are built on it.
///
/// llhttp reads each byte once and resumes across calls (`c_nio_llhttp_execute` keeps its state between
/// buffers), so a caller never hands it a byte twice. This wrapper records what its callbacks report as
/// byte ranges in the caller's buffer (offsets from the buffer's start, the same start across calls:
/// the caller keeps the bytes it still needs and passes them again from that start) and pauses llhttp
/// at the three points where a caller has something to decide:
/// - after the head (``Stop/headComplete``): framing, limits, what to answer;
/// - after the last chunk's size line of a chunked body (``Stop/trailersNext``): the trailer section
///   has its own budget;
/// - after the message (``Stop/messageComplete``): one message at a time, pipelined bytes stay unread.
///
/// Strict by default (llhttp's lenient flags off): bare CR, obs-fold, whitespace before a colon,
/// invalid or duplicate `Content-Length`, `Transfer-Encoding` with `Content-Length` and malformed chunk
/// lines are refused by llhttp itself. On top of llhttp it refuses an HTTP major version other than 1
/// (``LLHTTPError/Kind/unsupportedVersion(major:minor:)``), a body over ``maxBodyBytes`` and a chunk
/// extension with `=` and no value (RFC 9112 section 7.1.1; llhttp takes it).
public struct LLHTTPParser {
    /// What the parser reads.
    public enum Kind: Sendable {
        /// Requests (a server's side).
        case request
        /// Responses (a client's side).
        case response
    }

    /// Where the message being parsed stands.
    public enum Phase: Sendable, Equatable {
        /// Between messages: no byte of the next one read yet (llhttp skips CR and LF here).
        case idle
        /// The start line and header section.
        case head
        /// The body (after the head; for a chunked body, up to its last chunk's size line).
        case body
        /// A chunked body's trailer section.
        case trailers
    }

    /// Why ``execute(_:from:to:)`` returned.
    public enum Stop: Sendable, Equatable {
        /// Every byte given was read; more are needed.
        case needMore
        /// Paused after the head: its fields, ``status``, ``contentLength`` and the framing flags can be read.
        case headComplete
        /// Paused after the last chunk's size line: the trailer section comes next.
        case trailersNext
        /// Paused after the whole message; the next one starts at the returned position.
        case messageComplete
        /// Not a message this parser takes: nothing more is parsed.
        case failed(LLHTTPError)
    }

    /// One header field: where its name and value are (the value without leading whitespace; llhttp
    /// keeps trailing whitespace, see ``trimmed(_:in:)``).
    public struct Field: Sendable, Equatable {
        /// The name's bytes.
        public var name: Range<Int>
        /// The value's bytes.
        public var value: Range<Int>
    }

    /// Why a pause happened (set by the callback that paused).
    private enum Pause { case none, headComplete, trailersNext, messageComplete }

    /// llhttp's state. Its `data` points at this struct during ``execute(_:from:to:)``; nothing else of
    /// it points into Swift memory between calls, so the struct may be copied and moved freely.
    private var state = llhttp_t()
    private let kind: Kind
    private var pause = Pause.none
    /// The caller's buffer during ``execute(_:from:to:)``: callbacks turn llhttp's pointers into offsets.
    private var base: UnsafeRawPointer?
    /// A refusal of this wrapper's own, set by the callback that returned -1.
    private var refusal: (kind: LLHTTPError.Kind, reason: String)?

    /// Records the request target and ``fields`` (off by default: the response parser reads the framing
    /// from llhttp's flags, and llhttp then calls no callback per field).
    public let recordsFields: Bool
    /// Record ``bodySpans`` (off by default: a body in one piece is ``body``).
    public var recordsBodySpans = false
    /// The most body bytes (de-chunked) a message may have; beyond, ``LLHTTPError/Kind/bodyTooLarge``.
    public var maxBodyBytes: Int
    /// The request was `HEAD`: the final response has no body whatever its headers say (RFC 9112 section 6.3).
    public var answersHEAD = false

    /// Where the current message stands.
    public private(set) var phase = Phase.idle
    /// The request target's bytes.
    public private(set) var target: Range<Int>?
    /// An HTTP version was read (a request line without one is HTTP/0.9, which llhttp takes).
    public private(set) var sawVersion = false
    /// The header fields read so far (with ``recordsFields``; trailer fields are not recorded).
    public private(set) var fields: [Field] = []
    /// A field whose value has not ended yet when the input ran out (with ``recordsFields``).
    public var partialField: Field? {
        guard let name = fieldName else { return nil }
        return Field(name: name, value: fieldValue ?? name.upperBound..<name.upperBound)
    }
    private var fieldName: Range<Int>?
    private var fieldValue: Range<Int>?
    /// Body bytes read so far (de-chunked).
    public private(set) var bodyCount = 0
    /// From the first body byte to the last read so far: the whole body when it came in one piece
    /// (`Content-Length`, or until the close).
    public private(set) var body: Range<Int>?
    /// Each piece of body data (with ``recordsBodySpans``): a chunked body's data without its framing.
    public private(set) var bodySpans: [Range<Int>] = []
    /// Forgets the ``bodySpans`` recorded so far (a caller that copied their bytes out and dropped them).
    public mutating func forgetBodySpans() { bodySpans.removeAll(keepingCapacity: true) }

    /// Bytes of the chunk extension value being read.
    private var extensionValueBytes = 0

    /// A parser of `kind` messages with lenient flags for what Tandem accepts beyond llhttp's strict mode.
    ///
    /// Requests: any `HTTP/1.x` (RFC 9110 section 2.5 serves a higher minor version as the highest known;
    /// llhttp takes only 1.0 and 1.1), and `Transfer-Encoding` codings other than a final `chunked` get as
    /// far as the head (the caller answers 501 rather than llhttp's 400). Responses: a bare LF ends the
    /// status line, a field line and chunk data (RFC 9112 section 2.2; a member's sloppy server still
    /// answers), and `Transfer-Encoding` with `Content-Length` frames by the coding (section 6.3; the
    /// caller closes the connection after such a response).
    public init(_ kind: Kind, recordsFields: Bool = false, maxBodyBytes: Int = .max) {
        self.kind = kind
        self.recordsFields = recordsFields
        self.maxBodyBytes = maxBodyBytes
        c_nio_llhttp_init(&state, kind == .request ? HTTP_REQUEST : HTTP_RESPONSE, recordsFields ? recordingSettings : framingSettings)
        switch kind {
        case .request:
            c_nio_llhttp_set_lenient_version(&state, 1)
            c_nio_llhttp_set_lenient_transfer_encoding(&state, 1)
        case .response:
            c_nio_llhttp_set_lenient_optional_cr_before_lf(&state, 1)
            c_nio_llhttp_set_lenient_chunked_length(&state, 1)
        }
    }

    // MARK: what was read

    /// Status code of a response (after ``Stop/headComplete``).
    public var status: Int { Int(state.status_code) }
    /// `x` of `HTTP/x.y`.
    public var httpMajor: Int { Int(state.http_major) }
    /// `y` of `HTTP/x.y`.
    public var httpMinor: Int { Int(state.http_minor) }
    /// A request's method as llhttp names it (`GET`, `POST`, ...: llhttp knows the registered methods).
    public var method: String {
        // The methods a grid client sends are literals: no C string measured and copied per request.
        switch UInt32(state.method) {
        case HTTP_GET.rawValue: return "GET"
        case HTTP_POST.rawValue: return "POST"
        case HTTP_HEAD.rawValue: return "HEAD"
        case let other: return String(cString: c_nio_llhttp_method_name(llhttp_method_t(other)))
        }
    }
    /// The request's method is `HEAD`.
    public var isHEAD: Bool { state.method == UInt8(HTTP_HEAD.rawValue) }
    /// `Content-Length`, if sent (read it at ``Stop/headComplete``: llhttp counts it down as the body arrives).
    public var contentLength: Int? { has(F_CONTENT_LENGTH) ? Int(clamping: state.content_length) : nil }
    /// A `Transfer-Encoding` field was sent.
    public var transferEncoded: Bool { has(F_TRANSFER_ENCODING) }
    /// The final transfer coding is `chunked`: the body is framed by chunks.
    public var chunked: Bool { has(F_CHUNKED) }
    /// `Connection: close` was sent.
    public var connectionClose: Bool { has(F_CONNECTION_CLOSE) }
    /// `Connection: keep-alive` was sent.
    public var connectionKeepAlive: Bool { has(F_CONNECTION_KEEP_ALIVE) }

    private func has(_ flag: llhttp_flags) -> Bool { state.flags & UInt16(truncatingIfNeeded: flag.rawValue) != 0 }

    /// `range` of `buffer` without trailing spaces and tabs (llhttp drops only the leading ones).
    public static func trimmed(_ range: Range<Int>, in buffer: UnsafeRawBufferPointer) -> Range<Int> {
        var end = range.upperBound
        while end > range.lowerBound, buffer[end - 1] == 0x20 || buffer[end - 1] == 0x09 { end -= 1 }
        return range.lowerBound..<end
    }

    // MARK: parsing

    /// Reads `buffer[from..<to]` (the bytes after those already read, in the same coordinates as before)
    /// until they run out, a pause point, or an error. Returns why it stopped and the offset of the first
    /// byte not read: after a pause, the next call starts there.
    public mutating func execute(_ buffer: UnsafeRawBufferPointer, from: Int, to: Int) -> (stop: Stop, position: Int) {
        precondition(0 <= from && from <= to && to <= buffer.count, "execute range \(from)..<\(to) outside a buffer of \(buffer.count)")
        return withUnsafeMutablePointer(to: &self) { me in
            let base = buffer.baseAddress ?? UnsafeRawPointer(emptyInput)
            me.pointee.base = base
            defer { me.pointee.base = nil }
            let ll = Self.llhttp(me)
            ll.pointee.data = UnsafeMutableRawPointer(me)
            if me.pointee.pause != .none {
                me.pointee.pause = .none
                c_nio_llhttp_resume(ll)
            }
            let errno = c_nio_llhttp_execute_swift(ll, base + from, to - from)
            return me.pointee.settle(errno, ll, base: base, end: to)
        }
    }

    /// Tells the parser that the input ended (the peer closed). A body without a length ends here
    /// (``Stop/messageComplete``); ``Stop/needMore`` means no message had begun; a message cut short is
    /// ``LLHTTPError/Kind/truncated``.
    public mutating func finish() -> Stop {
        withUnsafeMutablePointer(to: &self) { me in
            let ll = Self.llhttp(me)
            ll.pointee.data = UnsafeMutableRawPointer(me)
            if me.pointee.pause != .none {
                me.pointee.pause = .none
                c_nio_llhttp_resume(ll)
            }
            let phase = me.pointee.phase
            switch c_nio_llhttp_finish(ll) {
            case HPE_OK:
                return .needMore
            case HPE_PAUSED where me.pointee.pause == .messageComplete:
                return .messageComplete
            case let errno:
                return .failed(LLHTTPError(kind: .truncated, phase: phase, offset: -1,
                                           name: String(cString: c_nio_llhttp_errno_name(errno)),
                                           reason: "the input ended inside the message"))
            }
        }
    }

    private static func llhttp(_ me: UnsafeMutablePointer<LLHTTPParser>) -> UnsafeMutablePointer<llhttp_t> {
        (UnsafeMutableRawPointer(me) + MemoryLayout<LLHTTPParser>.offset(of: \LLHTTPParser.state)!).assumingMemoryBound(to: llhttp_t.self)
    }

    /// Turns llhttp's return code into a stop and position.
    private mutating func settle(_ errno: llhttp_errno_t, _ ll: UnsafeMutablePointer<llhttp_t>, base: UnsafeRawPointer, end: Int) -> (stop: Stop, position: Int) {
        if errno == HPE_OK { return (.needMore, end) }
        let position = c_nio_llhttp_get_error_pos(ll).map { UnsafeRawPointer($0) - base } ?? end
        if errno == HPE_PAUSED {
            switch pause {
            case .headComplete: return (.headComplete, position)
            case .trailersNext: return (.trailersNext, position)
            case .messageComplete: return (.messageComplete, position)
            case .none: break
            }
        }
        let name = String(cString: c_nio_llhttp_errno_name(errno))
        if let (kind, reason) = refusal {
            return (.failed(LLHTTPError(kind: kind, phase: phase, offset: position, name: name, reason: reason)), position)
        }
        let reason = c_nio_llhttp_get_error_reason(ll).map { String(cString: $0) } ?? name
        return (.failed(LLHTTPError(kind: LLHTTPError.Kind(errno), phase: phase, offset: position, name: name, reason: reason)), position)
    }

    // MARK: callbacks (llhttp calls these during execute, with `data` pointing at this struct)

    fileprivate mutating func messageBegan() -> Int32 {
        phase = .head
        target = nil
        sawVersion = false
        fields.removeAll(keepingCapacity: true)
        fieldName = nil
        fieldValue = nil
        bodyCount = 0
        body = nil
        bodySpans.removeAll(keepingCapacity: true)
        extensionValueBytes = 0
        refusal = nil
        return 0
    }

    fileprivate func span(_ at: UnsafePointer<CChar>?, _ count: Int) -> Range<Int> {
        let start = at.map { UnsafeRawPointer($0) - base! } ?? 0
        return start..<(start + count)
    }

    fileprivate mutating func versionRead() -> Int32 {
        sawVersion = true
        // RFC 9110 section 6.2: the major version names the message syntax; only HTTP/1 is spoken here.
        guard state.http_major == 1 else {
            refusal = (.unsupportedVersion(major: Int(state.http_major), minor: Int(state.http_minor)),
                       "HTTP/\(state.http_major).\(state.http_minor) is not HTTP/1.x")
            return -1
        }
        return 0
    }

    /// llhttp reads a trailer section (its fields are not recorded).
    fileprivate var readingTrailers: Bool { has(F_TRAILING) }

    fileprivate mutating func fieldValueEnded() -> Int32 {
        if !readingTrailers, let name = fieldName {
            fields.append(Field(name: name, value: fieldValue ?? name.upperBound..<name.upperBound))
        }
        fieldName = nil
        fieldValue = nil
        return 0
    }

    fileprivate mutating func headEnded() -> Int32 {
        phase = .body
        switch kind {
        case .request:
            // No protocol switch is served: `Upgrade` and `CONNECT` requests are read as plain requests
            // (their answer says no), never as the start of another protocol.
            state.upgrade = 0
        case .response:
            if answersHEAD && state.status_code >= 200 { state.flags |= UInt16(truncatingIfNeeded: F_SKIPBODY.rawValue) }
        }
        pause = .headComplete
        return Int32(HPE_PAUSED.rawValue)
    }

    fileprivate mutating func bodyRead(_ range: Range<Int>) -> Int32 {
        bodyCount += range.count
        guard bodyCount <= maxBodyBytes else { return tooLarge() }
        body = (body?.lowerBound ?? range.lowerBound)..<range.upperBound
        if recordsBodySpans { bodySpans.append(range) }
        return 0
    }

    fileprivate mutating func chunkStarted() -> Int32 {
        let size = state.content_length
        if size == 0 {
            phase = .trailers
            pause = .trailersNext
            return Int32(HPE_PAUSED.rawValue)
        }
        // Refused when the size line says so, before the data comes.
        guard size <= UInt64(max(0, maxBodyBytes - bodyCount)) else { return tooLarge() }
        return 0
    }

    private mutating func tooLarge() -> Int32 {
        refusal = (.bodyTooLarge, "the body is over \(maxBodyBytes) bytes")
        return -1
    }

    fileprivate mutating func extensionValueEnded() -> Int32 {
        defer { extensionValueBytes = 0 }
        // chunk-ext-val = token / quoted-string (RFC 9112 section 7.1.1): never empty.
        guard extensionValueBytes > 0 else {
            refusal = (.syntax, "a chunk extension with '=' and no value (RFC 9112 section 7.1.1)")
            return -1
        }
        return 0
    }

    fileprivate mutating func messageEnded() -> Int32 {
        phase = .idle
        pause = .messageComplete
        return Int32(HPE_PAUSED.rawValue)
    }

    fileprivate mutating func extensionValueRead(_ count: Int) -> Int32 {
        extensionValueBytes += count
        return 0
    }

    fileprivate mutating func targetRead(_ range: Range<Int>) -> Int32 {
        target = (target?.lowerBound ?? range.lowerBound)..<range.upperBound
        return 0
    }

    fileprivate mutating func fieldNameRead(_ range: Range<Int>) -> Int32 {
        fieldName = (fieldName?.lowerBound ?? range.lowerBound)..<range.upperBound
        return 0
    }

    fileprivate mutating func fieldValueRead(_ range: Range<Int>) -> Int32 {
        fieldValue = (fieldValue?.lowerBound ?? range.lowerBound)..<range.upperBound
        return 0
    }
}

/// Why llhttp (or ``LLHTTPParser`` on top of it) refused a message: what, where, and llhttp's own words.
public struct LLHTTPError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What was wrong, grouped from llhttp's error codes.
    public enum Kind: Sendable, Equatable {
        /// Not a method llhttp knows (`HPE_INVALID_METHOD`): garbage, or another protocol.
        case method
        /// A malformed request target (`HPE_INVALID_URL`).
        case target
        /// Not `HTTP/d.d` where the version belongs (`HPE_INVALID_CONSTANT`, `HPE_INVALID_VERSION`).
        case version
        /// A version whose major number is not 1.
        case unsupportedVersion(major: Int, minor: Int)
        /// A malformed status code (`HPE_INVALID_STATUS`).
        case status
        /// A malformed field line or field value (`HPE_INVALID_HEADER_TOKEN`).
        case field
        /// A malformed or conflicting `Content-Length` (`HPE_INVALID_CONTENT_LENGTH`, `HPE_UNEXPECTED_CONTENT_LENGTH`).
        case contentLength
        /// `Transfer-Encoding` that cannot frame the message (`HPE_INVALID_TRANSFER_ENCODING`), e.g. with `Content-Length`.
        case transferEncoding
        /// A malformed chunk size (`HPE_INVALID_CHUNK_SIZE`).
        case chunkSize
        /// A missing CR or LF, a bare CR, stray whitespace or a malformed chunk extension
        /// (`HPE_STRICT`, `HPE_CR_EXPECTED`, `HPE_LF_EXPECTED`, `HPE_UNEXPECTED_SPACE`).
        case syntax
        /// The body is over ``LLHTTPParser/maxBodyBytes``.
        case bodyTooLarge
        /// The input ended inside a message (`HPE_INVALID_EOF_STATE`).
        case truncated
        /// Anything else llhttp refuses (an upgrade to HTTP/2, an internal error).
        case other

        init(_ errno: llhttp_errno_t) {
            switch errno {
            case HPE_INVALID_METHOD: self = .method
            case HPE_INVALID_URL: self = .target
            case HPE_INVALID_CONSTANT, HPE_INVALID_VERSION: self = .version
            case HPE_INVALID_STATUS: self = .status
            case HPE_INVALID_HEADER_TOKEN: self = .field
            case HPE_INVALID_CONTENT_LENGTH, HPE_UNEXPECTED_CONTENT_LENGTH: self = .contentLength
            case HPE_INVALID_TRANSFER_ENCODING: self = .transferEncoding
            case HPE_INVALID_CHUNK_SIZE: self = .chunkSize
            case HPE_STRICT, HPE_CR_EXPECTED, HPE_LF_EXPECTED, HPE_UNEXPECTED_SPACE: self = .syntax
            case HPE_INVALID_EOF_STATE: self = .truncated
            default: self = .other
            }
        }
    }

    /// What was wrong.
    public var kind: Kind
    /// In which part of the message.
    public var phase: LLHTTPParser.Phase
    /// Offset of the byte refused in the caller's buffer (-1 for the end of the input).
    public var offset: Int
    /// llhttp's error code name, e.g. `HPE_INVALID_CHUNK_SIZE` (`HPE_CB_*` for a refusal of the wrapper's).
    public var name: String
    /// llhttp's (or the wrapper's) words, e.g. "Invalid character in chunk size".
    public var reason: String

    /// Creates an error.
    public init(kind: Kind, phase: LLHTTPParser.Phase, offset: Int, name: String, reason: String) {
        self.kind = kind
        self.phase = phase
        self.offset = offset
        self.name = name
        self.reason = reason
    }

    public var description: String {
        offset >= 0 ? "\(reason) (\(name) at byte \(offset))" : "\(reason) (\(name))"
    }
}

// MARK: - llhttp's settings

/// A stand-in address for an empty buffer (llhttp never reads it: the length is 0).
private nonisolated(unsafe) let emptyInput = UnsafeMutableRawPointer.allocate(byteCount: 1, alignment: 1)

/// The parser behind llhttp's `data` pointer.
@inline(__always)
private func parser(_ ll: UnsafeMutablePointer<llhttp_t>?) -> UnsafeMutablePointer<LLHTTPParser> {
    ll!.pointee.data!.assumingMemoryBound(to: LLHTTPParser.self)
}

/// The callbacks every parser shares: with the target and field spans (``LLHTTPParser/recordsFields``),
/// or without (llhttp then makes no call per field). llhttp keeps a pointer to them in each parser, so
/// they live as long as the process: allocated once, written once during their lazy initialisation,
/// then only read (by C), which is what makes the unchecked globals safe.
private nonisolated(unsafe) let recordingSettings = makeSettings(recordingFields: true)
private nonisolated(unsafe) let framingSettings = makeSettings(recordingFields: false)

private func makeSettings(recordingFields: Bool) -> UnsafeMutablePointer<llhttp_settings_t> {
    let s = UnsafeMutablePointer<llhttp_settings_t>.allocate(capacity: 1)
    c_nio_llhttp_settings_init(s)
    s.pointee.on_message_begin = { parser($0).pointee.messageBegan() }
    s.pointee.on_version_complete = { parser($0).pointee.versionRead() }
    s.pointee.on_headers_complete = { parser($0).pointee.headEnded() }
    s.pointee.on_body = { ll, at, n in
        let p = parser(ll)
        return p.pointee.bodyRead(p.pointee.span(at, n))
    }
    s.pointee.on_chunk_header = { parser($0).pointee.chunkStarted() }
    s.pointee.on_chunk_extension_value = { ll, _, n in parser(ll).pointee.extensionValueRead(n) }
    s.pointee.on_chunk_extension_value_complete = { parser($0).pointee.extensionValueEnded() }
    s.pointee.on_message_complete = { parser($0).pointee.messageEnded() }
    guard recordingFields else { return s }
    s.pointee.on_url = { ll, at, n in
        let p = parser(ll)
        return p.pointee.targetRead(p.pointee.span(at, n))
    }
    s.pointee.on_header_field = { ll, at, n in
        let p = parser(ll)
        return p.pointee.readingTrailers ? 0 : p.pointee.fieldNameRead(p.pointee.span(at, n))
    }
    s.pointee.on_header_value = { ll, at, n in
        let p = parser(ll)
        return p.pointee.readingTrailers ? 0 : p.pointee.fieldValueRead(p.pointee.span(at, n))
    }
    s.pointee.on_header_value_complete = { parser($0).pointee.fieldValueEnded() }
    return s
}
