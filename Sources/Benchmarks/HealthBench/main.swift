// tandem-bench-health: HTTP check throughput and CPU cost.
//
//   tandem-bench-health serve PORT            a tiny NIO HTTP/1.1 server on 127.0.0.1:PORT (200 "ok")
//   tandem-bench-health check PORT SECONDS CONCURRENCY
//                                             runs HTTPChecker against it, prints checks/s and CPU
//
// scripts/bench-health runs the server in one process and the checker pinned to one core
// (taskset -c 0), so the CPU reported is the checker's alone.
import Foundation
import HealthCheck
import NIOCore
import NIOPosix
import Synchronization
import Topology

final class OKHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    private var seen: [UInt8] = []
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var b = unwrapInboundIn(data)
        seen += b.readBytes(length: b.readableBytes) ?? []
        guard seen.count >= 4, seen.suffix(4) == [13, 10, 13, 10] else { return }
        var out = context.channel.allocator.buffer(capacity: 64)
        out.writeString("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        context.writeAndFlush(wrapOutboundOut(out), promise: nil)
        context.close(mode: .output, promise: nil)
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
    let checker = HTTPChecker(address: IPAddress("127.0.0.1")!, port: UInt16(port), check: HTTPCheck(path: "/", bodyContains: "ok"))
    let counts = Counts()
    let clock = ContinuousClock()
    let cpu0 = cpuSeconds()
    let start = clock.now
    let end = start.advanced(by: .milliseconds(Int64(seconds * 1000)))
    await withTaskGroup(of: Void.self) { group in
        for _ in 0..<concurrency {
            group.addTask {
                // Bounded by the deadline.
                while clock.now < end {
                    if await checker.check(timeout: .seconds(1)) == .success { counts.ok.withLock { $0 += 1 } } else { counts.bad.withLock { $0 += 1 } }
                }
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
    print("usage: tandem-bench-health serve PORT | check PORT SECONDS CONCURRENCY"); exit(2)
}
switch args[1] {
case "serve":
    let ch = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
        .serverChannelOption(ChannelOptions.backlog, value: 4096)
        .childChannelInitializer { ch in ch.eventLoop.makeCompletedFuture { try ch.pipeline.syncOperations.addHandler(OKHandler()) } }
        .bind(host: "127.0.0.1", port: port).get()
    print("serving on 127.0.0.1:\(port)")
    try await ch.closeFuture.get()
case "check":
    let seconds = args.count > 3 ? Double(args[3]) ?? 5 : 5
    let concurrency = args.count > 4 ? Int(args[4]) ?? 64 : 64
    await runChecks(port: port, seconds: seconds, concurrency: concurrency)
default:
    print("usage: tandem-bench-health serve PORT | check PORT SECONDS CONCURRENCY"); exit(2)
}
