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
        let r = try roundTrip(request, wantHead: false)
        return (r.status, r.body)
    }

    /// Like ``roundTrip(_:)`` but also returns the response head (status line and headers) as text.
    public func roundTripWithHead(_ request: [UInt8]) throws(CallFailure) -> (status: Int, head: String, body: ArraySlice<UInt8>) {
        try roundTrip(request, wantHead: true)
    }

    private func roundTrip(_ request: [UInt8], wantHead: Bool) throws(CallFailure) -> (status: Int, head: String, body: ArraySlice<UInt8>) {
        let reused = fd >= 0
        do {
            return try attempt(request, wantHead: wantHead)
        } catch .closed where reused {
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
        // Read the head.
        var headEnd = -1
        var scanned = 0
        while true {
            if filled >= 4, let i = Self.find(buffer, from: scanned, filled) { headEnd = i; break }
            scanned = max(0, filled - 3)
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
        let head = wantHead ? String(decoding: buffer[0..<headEnd], as: UTF8.self) : ""
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

    private static func find(_ b: [UInt8], from start: Int, _ n: Int) -> Int? {
        b.withUnsafeBufferPointer { p in
            var i = start
            while i + 3 < n {
                if p[i + 3] != 10 { i += p[i + 3] == 13 ? 1 : 4; continue }
                if p[i] == 13 && p[i + 1] == 10 && p[i + 2] == 13 { return i }
                i += 1
            }
            return nil
        }
    }

    /// Parses "HTTP/1.1 200 OK" and the headers up to `end`: status, Content-Length (0 if absent), close.
    /// Byte-level: no strings are built (this runs once per call on the client's core).
    static func parseHead(_ b: [UInt8], _ end: Int) -> (Int, Int, Bool)? {
        b.withUnsafeBufferPointer { p -> (Int, Int, Bool)? in
            let end = min(end, p.count)
            // "HTTP/1.x SSS"
            guard end >= 12, p[0] == 0x48, p[1] == 0x54, p[2] == 0x54, p[3] == 0x50, p[4] == 0x2F, p[5] == 0x31, p[6] == 0x2E,
                  p[8] == 0x20 else { return nil }
            var status = 0
            for i in 9..<12 {
                guard p[i] >= 0x30 && p[i] <= 0x39 else { return nil }
                status = status * 10 + Int(p[i] - 0x30)
            }
            guard end == 12 || p[12] == 0x20 || p[12] == 13 else { return nil }
            var length = 0
            var close = p[7] == 0x30  // HTTP/1.0
            // Each header line: NAME ':' value CRLF.
            var i = 12
            while i < end && p[i] != 10 { i += 1 }
            i += 1
            while i < end {
                var lineEnd = i
                while lineEnd < end && p[lineEnd] != 13 && p[lineEnd] != 10 { lineEnd += 1 }
                var colon = i
                while colon < lineEnd && p[colon] != 0x3A { colon += 1 }
                if colon < lineEnd {
                    var v = colon + 1
                    while v < lineEnd && (p[v] == 0x20 || p[v] == 0x09) { v += 1 }
                    var ve = lineEnd
                    while ve > v && (p[ve - 1] == 0x20 || p[ve - 1] == 0x09) { ve -= 1 }
                    if Self.nameIs(p, i, colon, "content-length") {
                        var n = 0
                        for j in v..<ve {
                            guard p[j] >= 0x30 && p[j] <= 0x39 else { n = 0; break }
                            n = n * 10 + Int(p[j] - 0x30)
                        }
                        length = n
                    } else if Self.nameIs(p, i, colon, "connection") {
                        close = Self.nameIs(p, v, ve, "close")
                    } else if Self.nameIs(p, i, colon, "transfer-encoding") {
                        return nil  // the services never chunk; refuse rather than misparse
                    }
                }
                i = lineEnd
                while i < end && (p[i] == 13 || p[i] == 10) { i += 1 }
            }
            return (status, length, close)
        }
    }

    /// Whether bytes `from..<to` equal the lowercase ASCII `name`, ignoring case.
    private static func nameIs(_ p: UnsafeBufferPointer<UInt8>, _ from: Int, _ to: Int, _ name: StaticString) -> Bool {
        guard to - from == name.utf8CodeUnitCount else { return false }
        let n = name.utf8Start
        for k in 0..<(to - from) {
            var c = p[from + k]
            if c >= 0x41 && c <= 0x5A { c += 0x20 }
            if c != n[k] { return false }
        }
        return true
    }
}
