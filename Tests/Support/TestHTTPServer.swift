import Foundation
import Synchronization
import Syscall
#if canImport(Glibc)
import Glibc
#endif

/// A listening TCP socket on 127.0.0.1 with a kernel-chosen port. Alone (nothing accepts) it is a
/// silent peer: once ``fillBacklog(connections:)`` fills its accept queue, the kernel drops new SYNs.
public final class LoopbackListener: Sendable {
    /// The listening socket.
    public let fd: Int32
    /// The port the kernel chose.
    public let port: UInt16

    /// Binds 127.0.0.1:0 and listens with `backlog`.
    public init(backlog: Int32) throws(SystemCallError) {
        let fd = try syscall("socket") { socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
        do {
            var one: Int32 = 1
            try syscall("setsockopt", "SO_REUSEADDR") { setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size)) }
            var a = Self.loopback(port: 0)
            try syscall("bind", "127.0.0.1:0") {
                withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            }
            try syscall("listen") { listen(fd, backlog) }
            var len = socklen_t(MemoryLayout<sockaddr_in>.size)
            try syscall("getsockname") {
                withUnsafeMutablePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
            }
            self.fd = fd
            self.port = UInt16(bigEndian: a.sin_port)
        } catch {
            Glibc.close(fd)
            throw error
        }
    }

    /// Opens `n` non-blocking connections that are never accepted, until the accept queue is full.
    public func fillBacklog(connections n: Int) -> [Int32] {
        (0..<n).map { _ in
            let c = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            var a = Self.loopback(port: port)
            _ = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(c, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            return c
        }
    }

    /// Stops listening: a blocked `accept` returns, new connects are refused.
    public func close() {
        shutdown(fd, Int32(SHUT_RDWR))
        Glibc.close(fd)
    }

    /// A port that had a listener a moment ago and has none now: connecting to it is refused.
    public static func unusedPort() throws(SystemCallError) -> UInt16 {
        let l = try LoopbackListener(backlog: 1)
        l.close()
        return l.port
    }

    static func loopback(port: UInt16) -> sockaddr_in {
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_addr.s_addr = inet_addr("127.0.0.1")
        a.sin_port = port.bigEndian
        return a
    }
}

/// The one test HTTP/1.1 server: on 127.0.0.1, a thread per connection, answering each request by its
/// path from fixed routes. With `keepAlive` it answers every request on a connection and keeps it open;
/// otherwise it says `Connection: close` and closes after one answer, as HTTP/1.0-style servers do. It
/// records the request lines it was asked and the connections it accepted, and can drop every open
/// connection at once (what its clients see when the serving process dies).
public final class TestHTTPServer: Sendable {
    /// One answer.
    public struct Response: Sendable {
        /// Status code.
        public var status: Int
        /// `Content-Type`.
        public var contentType: String
        /// The body, as one part, or as the chunks it is sent in when ``chunked``.
        public var parts: [String]
        /// Sent with `Transfer-Encoding: chunked`, one chunk per part.
        public var chunked: Bool
        /// Sent as it is instead of an HTTP answer (another protocol, a malformed answer).
        public var raw: String? = nil

        /// A body sent with `Content-Length`.
        public static func text(_ body: String, status: Int = 200, contentType: String = "text/plain") -> Response {
            Response(status: status, contentType: contentType, parts: [body], chunked: false)
        }

        /// A body sent as these chunks.
        public static func chunks(_ parts: [String], status: Int = 200, contentType: String = "text/plain") -> Response {
            Response(status: status, contentType: contentType, parts: parts, chunked: true)
        }

        /// These bytes, whatever the request: a peer that is not an HTTP server, or a broken one.
        public static func raw(_ bytes: String) -> Response {
            Response(status: 0, contentType: "", parts: [], chunked: false, raw: bytes)
        }

        /// The bytes on the wire; no body after `HEAD`.
        func bytes(keepAlive: Bool, head: Bool) -> [UInt8] {
            if let raw { return Array(raw.utf8) }
            var text = "HTTP/1.1 \(status) \(Self.reasons[status] ?? "Status \(status)")\r\nContent-Type: \(contentType)\r\n"
            if !keepAlive { text += "Connection: close\r\n" }
            if chunked {
                text += "Transfer-Encoding: chunked\r\n\r\n"
                if !head {
                    for p in parts where !p.isEmpty { text += String(p.utf8.count, radix: 16) + "\r\n" + p + "\r\n" }
                    text += "0\r\n\r\n"
                }
            } else {
                let body = parts.joined()
                text += "Content-Length: \(body.utf8.count)\r\n\r\n" + (head ? "" : body)
            }
            return Array(text.utf8)
        }

        private static let reasons = [200: "OK", 400: "Bad Request", 404: "Not Found", 503: "Service Unavailable"]
    }

    /// The port it listens on.
    public var port: UInt16 { listener.port }

    private let listener: LoopbackListener
    private let routes: [String: Response]
    private let fallback: Response
    private let keepAlive: Bool
    private struct State {
        var open: Set<Int32> = []
        var accepted = 0
        var requests: [String] = []
    }
    private let state = Mutex(State())

    /// Starts serving: `routes` by path (the query string is part of the path), `fallback` for any other.
    public init(routes: [String: Response] = [:], fallback: Response, keepAlive: Bool = true) throws(SystemCallError) {
        listener = try LoopbackListener(backlog: 128)
        self.routes = routes
        self.fallback = fallback
        self.keepAlive = keepAlive
        let listening = listener.fd
        Thread { [self] in
            while true {
                let c = accept(listening, nil, nil)
                if c < 0 {
                    if errno == EINTR || errno == ECONNABORTED { continue }
                    return  // the listener was closed: stop()
                }
                state.withLock { $0.open.insert(c); $0.accepted += 1 }
                Thread { [self] in serve(c) }.start()
            }
        }.start()
    }

    /// Connections accepted so far.
    public var accepted: Int { state.withLock { $0.accepted } }

    /// Request lines received so far (`GET /ok HTTP/1.1`), in order.
    public var requestLines: [String] { state.withLock { $0.requests } }

    /// Closes every open connection (FIN to the client), as the kernel does when the serving process dies.
    public func dropConnections() {
        // Under the lock, so a connection's own thread cannot close the descriptor (and a new accept
        // reuse its number) in between.
        state.withLock { s in for c in s.open { shutdown(c, Int32(SHUT_RDWR)) } }
    }

    /// Stops accepting and drops every connection.
    public func stop() {
        listener.close()
        dropConnections()
    }

    private func serve(_ c: Int32) {
        defer {
            state.withLock { s in
                s.open.remove(c)
                Glibc.close(c)
            }
        }
        var pending: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 16 * 1024)
        var answering = true
        while true {
            while answering, let (method, path, length) = Self.nextRequest(pending) {
                pending.removeFirst(length)
                state.withLock { $0.requests.append("\(method) \(path)") }
                let response = (routes[path] ?? fallback).bytes(keepAlive: keepAlive, head: method == "HEAD")
                guard Self.sendAll(c, response) else { return }
                if !keepAlive {
                    // Half-close after the one answer, then read until the client closes too.
                    shutdown(c, Int32(SHUT_WR))
                    answering = false
                }
            }
            let n = buf.withUnsafeMutableBytes { recv(c, $0.baseAddress!, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            if answering { pending += buf[0..<n] }
        }
    }

    /// The request at the start of `bytes` once all of it (head and `Content-Length` body) is in:
    /// method, path and its length in bytes.
    static func nextRequest(_ bytes: [UInt8]) -> (method: String, path: String, length: Int)? {
        guard let end = bytes.firstRange(of: [13, 10, 13, 10]) else { return nil }
        let lines = String(decoding: bytes[..<end.lowerBound], as: UTF8.self).split(separator: "\r\n")
        let words = lines.first?.split(separator: " ") ?? []
        var length = 0
        for line in lines.dropFirst() {
            let nv = line.split(separator: ":", maxSplits: 1)
            if nv.count == 2, nv[0].lowercased() == "content-length" { length = Int(nv[1].trimmingCharacters(in: .whitespaces)) ?? 0 }
        }
        guard bytes.count >= end.upperBound + length else { return nil }
        return (words.first.map(String.init) ?? "", words.dropFirst().first.map(String.init) ?? "/", end.upperBound + length)
    }

    private static func sendAll(_ c: Int32, _ bytes: [UInt8]) -> Bool {
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBytes { send(c, $0.baseAddress!, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return false }
            off += n
        }
        return true
    }
}
