import Foundation
import NIOCore
import NIOPosix
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A loopback listener made with plain sockets; `acceptConnections: false` plus a filled backlog
/// gives a silent peer whose SYNs the kernel drops.
final class RawListener {
    let fd: Int32
    let port: UInt16

    init(backlog: Int32) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        guard fd >= 0 else { throw POSIXFailure(call: "socket", errno: errno) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_addr.s_addr = inet_addr("127.0.0.1")
        a.sin_port = 0
        let rc = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard rc == 0 else { throw POSIXFailure(call: "bind", errno: errno) }
        guard listen(fd, backlog) == 0 else { throw POSIXFailure(call: "listen", errno: errno) }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        port = UInt16(bigEndian: a.sin_port)
    }


    /// Opens non-blocking connections that are never accepted, until the accept queue is full.
    func fillBacklog(connections n: Int) -> [Int32] {
        (0..<n).map { _ in
            let c = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
            var a = sockaddr_in()
            a.sin_family = sa_family_t(AF_INET)
            a.sin_addr.s_addr = inet_addr("127.0.0.1")
            a.sin_port = port.bigEndian
            _ = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(c, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            return c
        }
    }

    func close() { _ = Glibc.close(fd) }
}

struct POSIXFailure: Error, CustomStringConvertible {
    var call: String
    var errno: Int32
    var description: String { "\(call) failed: errno \(errno)" }
}

/// A port that had a listener a moment ago and has none now: connecting is refused.
func closedPort() throws -> UInt16 {
    let l = try RawListener(backlog: 1)
    l.close()
    return l.port
}

/// A tiny HTTP/1.1 server on 127.0.0.1 (SwiftNIO), answering by path:
/// `/ok` 200 "tandem healthy", `/down` 503, `/chunked` 200 chunked "tandem " + "healthy".
/// With `keepAlive` it answers every request on a connection and keeps it open; otherwise it closes
/// after one response. It counts the connections it accepted and can drop them all (a crash, as
/// the clients see it).
final class TinyHTTPServer: Sendable {
    let channel: any Channel
    var port: UInt16 { UInt16(channel.localAddress!.port!) }
    private final class Children: Sendable { let list = Mutex<[any Channel]>([]) }
    private let children = Children()

    static let okBody = "tandem healthy"

    init(keepAlive: Bool = false) async throws {
        let children = self.children
        channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { ch in
                children.list.withLock { $0.append(ch) }
                return ch.eventLoop.makeCompletedFuture { try ch.pipeline.syncOperations.addHandler(TinyHTTPHandler(keepAlive: keepAlive)) }
            }
            .bind(host: "127.0.0.1", port: 0).get()
    }

    /// Connections accepted so far.
    var accepted: Int { children.list.withLock { $0.count } }

    /// Closes every accepted connection, as the kernel does when the serving process dies.
    func dropConnections() async {
        for ch in children.list.withLock({ $0 }) { try? await ch.close() }
    }

    func stop() async { await dropConnections(); try? await channel.close() }
}

final class TinyHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    private let keepAlive: Bool
    private var text = ""

    init(keepAlive: Bool) { self.keepAlive = keepAlive }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var b = unwrapInboundIn(data)
        text += b.readString(length: b.readableBytes) ?? ""
        guard let end = text.range(of: "\r\n\r\n") else { return }
        let path = text.split(separator: " ").dropFirst().first.map(String.init) ?? "/"
        text = String(text[end.upperBound...])
        let response: String
        switch path {
        case "/ok":
            response = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: \(TinyHTTPServer.okBody.utf8.count)\r\n\r\n\(TinyHTTPServer.okBody)"
        case "/chunked":
            response = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n7\r\ntandem \r\n7\r\nhealthy\r\n0\r\n\r\n"
        default:
            response = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\ndown"
        }
        // A server that closes after one response says so, as real ones do.
        let sent = keepAlive ? response : response.replacingFirstLineEnd(with: "\r\nConnection: close\r\n")
        var out = context.channel.allocator.buffer(capacity: sent.utf8.count)
        out.writeString(sent)
        context.writeAndFlush(wrapOutboundOut(out), promise: nil)
        if !keepAlive { context.close(mode: .output, promise: nil) }
    }
}

extension String {
    /// The string with its first CRLF replaced by `replacement`.
    fileprivate func replacingFirstLineEnd(with replacement: String) -> String {
        guard let r = range(of: "\r\n") else { return self }
        return replacingCharacters(in: r, with: replacement)
    }
}
