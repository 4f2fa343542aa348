import NIOCore
import NIOPosix
import Syscall
#if canImport(Glibc)
import Glibc
#endif

/// The benchmark's live backends: one process holding a listening TCP socket for every
/// (address, port) of the site's live members, accepting every connection and keeping it open until
/// the peer closes it, as a real service does (a TCP check is a connect; tandemd keeps its last
/// check's connection open as the watch, keepalived closes it). A line `close ADDRESS PORT` on the control FIFO closes that one socket, so
/// from then on the kernel refuses connections to it: that member has died.
struct BackendListener {
    let addresses: [String]
    let ports: ClosedRange<Int>
    let control: String

    func run() throws {
        raiseOpenFileLimit()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 128)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { $0.eventLoop.makeSucceededVoidFuture() }
        var channels: [String: any Channel] = [:]
        for a in addresses {
            for p in ports { channels["\(a) \(p)"] = try bootstrap.bind(host: a, port: p).wait() }
        }
        let ready = Array("listening on \(channels.count) sockets\n".utf8)
        _ = ready.withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
        // The control FIFO: blocking reads of whole lines.
        guard let f = fopen(control, "r+") else { throw ListenerError(description: "cannot open \(control)") }
        var line: UnsafeMutablePointer<CChar>?
        var cap = 0
        while getline(&line, &cap, f) > 0 {
            let w = String(cString: line!).split(whereSeparator: { $0 == " " || $0 == "\n" })
            if w.count == 3, w[0] == "close", let c = channels.removeValue(forKey: "\(w[1]) \(w[2])") {
                try? c.close().wait()
            }
        }
    }

    struct ListenerError: Error, CustomStringConvertible { var description: String }
}
