// tandem-bench-health: HTTP check throughput and CPU cost.
//
//   tandem-bench-health serve PORT [close]    a tiny NIO HTTP/1.1 server on 127.0.0.1:PORT (200 "ok"),
//                                             keep-alive unless `close` (then one response per connection)
//   tandem-bench-health check PORT SECONDS CONCURRENCY
//                                             runs CONCURRENCY HTTPCheckers (one per simulated member,
//                                             each checking back to back) against it for SECONDS,
//                                             prints checks/s and CPU (getrusage) per 1,000 checks
//
// scripts/bench-health runs the server in one process and the checker pinned to one core
// (taskset -c 0), so the CPU reported is the checker's alone.
import Foundation
import HealthCheck
import NIOCore
import NIOPosix
import Synchronization
import Topology
import Net

/// Answers every request (a header block ending in an empty line) with 200 "ok"; with `close`, one
/// response per connection as HTTP/1.0-style servers do.
final class OKHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    private let closeEach: Bool
    private var seen: [UInt8] = []
    init(closeEach: Bool) { self.closeEach = closeEach }
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let b = unwrapInboundIn(data)
        seen.append(contentsOf: b.readableBytesView)
        var requests = 0
        var i = 0
        while i + 3 < seen.count {
            if seen[i] == 13 && seen[i + 1] == 10 && seen[i + 2] == 13 && seen[i + 3] == 10 {
                requests += 1
                seen.removeFirst(i + 4)
                i = 0
            } else {
                i += 1
            }
        }
        guard requests > 0 else { return }
        let one = closeEach ? "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
                            : "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
        var out = context.channel.allocator.buffer(capacity: 64 * requests)
        for _ in 0..<requests { out.writeString(one) }
        context.writeAndFlush(wrapOutboundOut(out), promise: nil)
        if closeEach { context.close(mode: .output, promise: nil) }
    }
    func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
}

func cpuSeconds() -> Double {
    var u = rusage()
    getrusage(RUSAGE_SELF.rawValue, &u)
    return Double(u.ru_utime.tv_sec) + Double(u.ru_utime.tv_usec) / 1e6 + Double(u.ru_stime.tv_sec) + Double(u.ru_stime.tv_usec) / 1e6
}

/// Check tallies shared by the check loops.
final class Counts: Sendable {
    let ok = Mutex(0)
    let bad = Mutex(0)
}

/// Runs `concurrency` check loops for `seconds` and prints the rate and CPU cost.
func runChecks(port: Int, seconds: Double, concurrency: Int) async {
    let counts = Counts()
    let clock = ContinuousClock()
    let cpu0 = cpuSeconds()
    let start = clock.now
    let end = start.advanced(by: .milliseconds(Int64(seconds * 1000)))
    await withTaskGroup(of: Void.self) { group in
        for _ in 0..<concurrency {
            // One checker per simulated member, as the monitor has: each keeps its own connection.
            let checker = HTTPChecker(address: IPAddress("127.0.0.1")!, port: UInt16(port), check: HTTPCheck(path: "/", bodyContains: "ok"))
            group.addTask {
                // Bounded by the deadline.
                while clock.now < end {
                    if await checker.check(timeout: .seconds(1)) == .success { counts.ok.withLock { $0 += 1 } } else { counts.bad.withLock { $0 += 1 } }
                }
                checker.shutdown()
            }
        }
    }
    let wall = start.duration(to: clock.now)
    let wallS = Double(wall.components.seconds) + Double(wall.components.attoseconds) / 1e18
    let cpu = cpuSeconds() - cpu0
    let n = counts.ok.withLock { $0 }, f = counts.bad.withLock { $0 }
    print(String(format: "checks=%d failed=%d wall=%.2fs rate=%.0f/s cpu=%.2fs cpu_per_1000=%.1fms cpu_util=%.0f%%",
                 n, f, wallS, Double(n) / wallS, cpu, cpu / Double(max(1, n)) * 1e6, cpu / wallS * 100))
}

let args = CommandLine.arguments
guard args.count >= 3, let port = Int(args[2]) else {
    print("usage: tandem-bench-health serve PORT [close] | check PORT SECONDS CONCURRENCY"); exit(2)
}
switch args[1] {
case "serve":
    let closeEach = args.count > 3 && args[3] == "close"
    let ch = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
        .serverChannelOption(ChannelOptions.backlog, value: 4096)
        .childChannelInitializer { ch in ch.eventLoop.makeCompletedFuture { try ch.pipeline.syncOperations.addHandler(OKHandler(closeEach: closeEach)) } }
        .bind(host: "127.0.0.1", port: port).get()
    print("serving on 127.0.0.1:\(port)")
    try await ch.closeFuture.get()
case "check":
    let seconds = args.count > 3 ? Double(args[3]) ?? 5 : 5
    let concurrency = args.count > 4 ? Int(args[4]) ?? 64 : 64
    await runChecks(port: port, seconds: seconds, concurrency: concurrency)
default:
    print("usage: tandem-bench-health serve PORT [close] | check PORT SECONDS CONCURRENCY"); exit(2)
}
