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

/// A minimal blocking HTTP/1.1 client connection with keep-alive, for one worker thread.
///
/// Deliberately plain POSIX sockets: each stress worker owns one connection on its own thread, sends a
/// prebuilt request and parses only the status line, `Content-Length` and `Connection: close`. That keeps the
/// client's cost per call to two syscalls and a short scan, far below the server's.
public final class HTTPConnection {
    private let host: String
    private let port: Int
    private let timeoutMillis: Int
    private var fd: Int32 = -1
    private var buffer = [UInt8](repeating: 0, count: 64 * 1024)
    private var filled = 0

    /// A connection to `host:port` (IPv4 literal or `localhost`); connects lazily.
    public init(host: String, port: Int, timeoutMillis: Int) {
        self.host = host == "localhost" ? "127.0.0.1" : host
        self.port = port
        self.timeoutMillis = timeoutMillis
    }

    deinit { close() }

    /// Closes the socket (the next request reconnects).
    public func close() {
        if fd >= 0 { _ = Glibc.close(fd) }
        fd = -1
        filled = 0
    }

    private func connect() throws(CallFailure) {
        let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
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
    }

    /// Sends `request` (complete bytes) and reads one response; returns the status and body.
    /// Reconnects once if a kept-alive connection turned out to be closed before any byte came back.
    public func roundTrip(_ request: [UInt8]) throws(CallFailure) -> (status: Int, body: ArraySlice<UInt8>) {
        let r = try roundTripWithHead(request)
        return (r.status, r.body)
    }

    /// Like ``roundTrip(_:)`` but also returns the response head (status line and headers) as text.
    public func roundTripWithHead(_ request: [UInt8]) throws(CallFailure) -> (status: Int, head: String, body: ArraySlice<UInt8>) {
        let reused = fd >= 0
        do {
            return try attempt(request)
        } catch .closed where reused {
            close()
            return try attempt(request)
        }
    }

    private func attempt(_ request: [UInt8]) throws(CallFailure) -> (status: Int, head: String, body: ArraySlice<UInt8>) {
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
        // Read the head.
        var headEnd = -1
        while true {
            if filled >= 4, let i = Self.find(buffer, filled) { headEnd = i; break }
            try fill()
        }
        guard let (status, contentLength, closeAfter) = Self.parseHead(buffer, headEnd) else {
            close()
            throw .protocolError("unparseable response head")
        }
        let bodyStart = headEnd + 4
        let total = bodyStart + contentLength
        while filled < total { try fill() }
        let body = buffer[bodyStart..<total]
        let head = String(decoding: buffer[0..<headEnd], as: UTF8.self)
        // Keep any pipelined surplus (none expected).
        if filled > total {
            buffer.replaceSubrange(0..<(filled - total), with: buffer[total..<filled])
        }
        filled -= total
        if closeAfter { close() }
        return (status, head, body)
    }

    private func fill() throws(CallFailure) {
        if filled == buffer.count { buffer.append(contentsOf: [UInt8](repeating: 0, count: buffer.count)) }
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + filled, $0.count - filled, 0) }
            if n > 0 { filled += n; return }
            let e = errno
            if n < 0 && e == EINTR { continue }
            close()
            throw (n < 0 && (e == EAGAIN || e == EWOULDBLOCK)) ? .timeout : .closed
        }
    }

    private static func find(_ b: [UInt8], _ n: Int) -> Int? {
        var i = 0
        while i + 3 < n {
            if b[i] == 13 && b[i + 1] == 10 && b[i + 2] == 13 && b[i + 3] == 10 { return i }
            i += 1
        }
        return nil
    }

    /// Parses "HTTP/1.1 200 OK" and the headers up to `end`: status, Content-Length (0 if absent), close.
    static func parseHead(_ b: [UInt8], _ end: Int) -> (Int, Int, Bool)? {
        let head = String(decoding: b[0..<end], as: UTF8.self)
        var lines = head.split(separator: "\r\n", omittingEmptySubsequences: false)
        guard !lines.isEmpty else { return nil }
        let statusLine = lines.removeFirst().split(separator: " ")
        guard statusLine.count >= 2, statusLine[0].hasPrefix("HTTP/1."), let status = Int(statusLine[1]) else { return nil }
        var length = 0
        var close = statusLine[0] == "HTTP/1.0"
        for l in lines {
            guard let colon = l.firstIndex(of: ":") else { continue }
            let name = l[..<colon].lowercased()
            let value = l[l.index(after: colon)...].trimmingPrefixSpaces()
            if name == "content-length" { length = Int(value) ?? 0 }
            else if name == "connection" { close = value.lowercased() == "close" }
            else if name == "transfer-encoding" { return nil }  // the services never chunk; refuse rather than misparse
        }
        return (status, length, close)
    }
}

extension Substring {
    fileprivate func trimmingPrefixSpaces() -> String {
        String(self.drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed())
    }
}
