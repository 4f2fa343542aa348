#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why one request failed, as counted in the report's `errors` by ``kind``.
public enum CallFailure: Error, Sendable, Hashable {
    /// The server answered with a non-2xx status.
    case status(Int)
    /// connect() failed (refused, unreachable) with this errno.
    case connect(Int32)
    /// No complete answer within the timeout.
    case timeout
    /// The connection closed or reset mid-request.
    case closed
    /// The answer was not parseable HTTP/1.1.
    case protocolError(String)

    /// Short stable name: `http_503`, `connect_refused`, `timeout`, `closed`, `protocol`.
    public var kind: String {
        switch self {
        case .status(let s): return "http_\(s)"
        case .connect(let e): return e == ECONNREFUSED ? "connect_refused" : "connect_errno_\(e)"
        case .timeout: return "timeout"
        case .closed: return "closed"
        case .protocolError: return "protocol"
        }
    }
}

/// A minimal blocking HTTP/1.1 client connection with keep-alive, for one thread: a stress worker,
/// a drill's poller of a director's `/status`, a drill's long-lived connection.
///
/// Deliberately plain POSIX sockets: each user owns one connection on its own thread, sends a
/// prebuilt request and reads the answer with ``HTTPResponseParser`` (no strings, no allocation
/// unless the body is chunked). That keeps the client's cost per call to two syscalls and a short scan,
/// far below the server's.
public final class HTTPConnection {
    private let host: String
    private let port: Int
    private let timeoutMillis: Int
    private let reconnects: Bool
    private var fd: Int32 = -1
    private var buffer = [UInt8](repeating: 0, count: 64 * 1024)
    /// A socket was opened once (a connection that may not reconnect then stays closed).
    private var everConnected = false
    private var filled = 0

    /// A connection to `host:port` (IPv4 literal or `localhost`); connects lazily. With `reconnects`
    /// false a closed connection is an error, never silently replaced: a long-lived connection must
    /// show that it broke.
    public init(host: String, port: Int, timeoutMillis: Int, reconnects: Bool = true) {
        self.host = host == "localhost" ? "127.0.0.1" : host
        self.port = port
        self.timeoutMillis = timeoutMillis
        self.reconnects = reconnects
    }

    /// Whether a socket is open now.
    public var isOpen: Bool { fd >= 0 }

    /// Connects now (``roundTrip(_:)`` would connect lazily).
    public func open() throws(CallFailure) { if fd < 0 { try connect() } }

    deinit { close() }

    /// Closes the socket (the next request reconnects).
    public func close() {
        if fd >= 0 { _ = Glibc.close(fd) }
        fd = -1
        filled = 0
    }

    private func connect() throws(CallFailure) {
        let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard s >= 0 else { throw .connect(errno) }
        var one: Int32 = 1
        setsockopt(s, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        var tv = timeval(tv_sec: timeoutMillis / 1000, tv_usec: (timeoutMillis % 1000) * 1000)
        setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, host, &addr.sin_addr) == 1 else {
            _ = Glibc.close(s)
            throw .protocolError("'\(host)' is not an IPv4 address")
        }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(s, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if rc != 0 {
            let e = errno
            _ = Glibc.close(s)
            throw e == EINPROGRESS || e == EAGAIN || e == ETIMEDOUT ? .timeout : .connect(e)
        }
        fd = s
        filled = 0
        everConnected = true
    }

    /// Sends `request` (complete bytes) and reads one response; returns the status and body.
    /// Reconnects once if a kept-alive connection turned out to be closed before any byte came back.
    public func roundTrip(_ request: [UInt8]) throws(CallFailure) -> (status: Int, body: ArraySlice<UInt8>) {
        let r = try roundTrip(request, wantHead: false)
        return (r.status, r.body)
    }

    /// Like ``roundTrip(_:)`` but also returns the response head (status line and headers) as text.
    public func roundTripWithHead(_ request: [UInt8]) throws(CallFailure) -> (status: Int, head: String, body: ArraySlice<UInt8>) {
        try roundTrip(request, wantHead: true)
    }

    private func roundTrip(_ request: [UInt8], wantHead: Bool) throws(CallFailure) -> (status: Int, head: String, body: ArraySlice<UInt8>) {
        let reused = fd >= 0
        if !reconnects && !reused && everConnected { throw .closed }
        do {
            return try attempt(request, wantHead: wantHead)
        } catch .closed where reused && reconnects {
            close()
            return try attempt(request, wantHead: wantHead)
        }
    }

    private func attempt(_ request: [UInt8], wantHead: Bool) throws(CallFailure) -> (status: Int, head: String, body: ArraySlice<UInt8>) {
        if fd < 0 { try connect() }
        var sent = 0
        while sent < request.count {
            let n = request.withUnsafeBytes { send(fd, $0.baseAddress! + sent, request.count - sent, Int32(MSG_NOSIGNAL)) }
            if n <= 0 {
                let e = errno
                if n < 0 && e == EINTR { continue }
                close()
                throw (e == EAGAIN || e == EWOULDBLOCK) ? .timeout : .closed
            }
            sent += n
        }
        let headRequest = request.starts(with: Self.headMethod)
        var eof = false
        while true {
            switch HTTPResponseParser.parse(buffer, count: filled, eof: eof, headRequest: headRequest, limits: Self.limits) {
            case .incomplete:
                eof = try !fill()
            case .invalid(let e):
                close()
                // A connection that ends mid-answer is `closed`, as before any byte.
                if eof, e != .badStatusLine { throw .closed }
                throw .protocolError(e.description)
            case .complete(let r):
                let body = r.framing == .chunked ? ArraySlice(r.body(in: buffer)) : buffer[r.body]
                let head = wantHead ? String(decoding: buffer[r.headRange], as: UTF8.self) : ""
                // Keep any pipelined surplus (none expected).
                if filled > r.length {
                    buffer.replaceSubrange(0..<(filled - r.length), with: buffer[r.length..<filled])
                }
                filled -= r.length
                if !r.reusable { close() }
                return (r.status, head, body)
            }
        }
    }

    private static let headMethod = Array("HEAD ".utf8)

    /// What one answer may use. The services' answers are small; the bound only stops a runaway peer.
    public static let limits = HTTPResponseParser.Limits(maxHeadBytes: 64 * 1024, maxBodyBytes: 64 << 20)

    /// Reads more bytes; false when the peer closed (EOF).
    private func fill() throws(CallFailure) -> Bool {
        if filled == buffer.count { buffer.append(contentsOf: [UInt8](repeating: 0, count: buffer.count)) }
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + filled, $0.count - filled, 0) }
            if n > 0 { filled += n; return true }
            if n == 0 { return false }
            let e = errno
            if e == EINTR { continue }
            close()
            throw (e == EAGAIN || e == EWOULDBLOCK) ? .timeout : .closed
        }
    }
}
