import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A minimal keep-alive HTTP/1.1 server on 127.0.0.1 that answers every request `200 {"ok":true}`;
/// one thread per connection. Test-only peer for the stress runner.
final class TinyHTTPServer: @unchecked Sendable {
    // @unchecked: `fd` and `port` are set once in init; `stopped` is only read racily as a stop hint
    // after close(fd) already makes accept() fail.
    let port: Int
    private let fd: Int32
    private var stopped = false

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard rc == 0, listen(fd, 128) == 0 else { throw POSIXError(.EADDRINUSE) }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        port = Int(UInt16(bigEndian: addr.sin_port))
        let listener = fd
        Thread {
            while true {
                let c = accept(listener, nil, nil)
                if c < 0 { return }
                Thread { TinyHTTPServer.serve(c) }.start()
            }
        }.start()
    }

    static func unusedPort() throws -> Int {
        let s = try TinyHTTPServer()
        let p = s.port
        s.stop()
        return p
    }

    private static func serve(_ c: Int32) {
        var buf = [UInt8](repeating: 0, count: 8192)
        var pending: [UInt8] = []
        let response = Array("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"ok\":true}".utf8)
        while true {
            let n = buf.withUnsafeMutableBytes { recv(c, $0.baseAddress!, $0.count, 0) }
            if n <= 0 { close(c); return }
            pending += buf[0..<n]
            while let end = find(pending) {
                pending.removeFirst(end + 4)
                _ = response.withUnsafeBytes { send(c, $0.baseAddress!, $0.count, Int32(MSG_NOSIGNAL)) }
            }
        }
    }

    private static func find(_ b: [UInt8]) -> Int? {
        guard b.count >= 4 else { return nil }
        for i in 0...(b.count - 4) where b[i] == 13 && b[i + 1] == 10 && b[i + 2] == 13 && b[i + 3] == 10 { return i }
        return nil
    }

    func stop() {
        stopped = true
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
    }
}
