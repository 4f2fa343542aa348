// tandem-bench-health: HTTP check throughput and CPU cost.
//
//   tandem-bench-health serve PORT [close]    a tiny NIO HTTP/1.1 server on 127.0.0.1:PORT (200 "ok"),
//                                             keep-alive unless `close` (then one response per connection)
//   tandem-bench-health check PORT SECONDS CONCURRENCY
//                                             runs CONCURRENCY HTTPCheckers (one per simulated member,
//                                             each checking back to back) against it for SECONDS,
//                                             prints checks/s and CPU (getrusage) per 1,000 checks
//   tandem-bench-health parse N               parses N responses of each of three shapes with HTTPWire's
//                                             parser (llhttp called directly) and with NIOHTTP1's
//                                             HTTPResponseDecoder (llhttp behind a channel), prints ns of
//                                             CPU per response (the measurement behind the one parser,
//                                             docs/health-checks.md)
//
// scripts/bench-health runs the server in one process and the checker pinned to one core
// (taskset -c 0), so the CPU reported is the checker's alone.
import Foundation
import HealthCheck
import HTTPWire
import NIOCore
import NIOEmbedded
import NIOHTTP1
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
    let end = start.advanced(by: .seconds(seconds))
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
    let wallS = wall.inSeconds
    let cpu = cpuSeconds() - cpu0
    let n = counts.ok.withLock { $0 }, f = counts.bad.withLock { $0 }
    print(String(format: "checks=%d failed=%d wall=%.2fs rate=%.0f/s cpu=%.2fs cpu_per_1000=%.1fms cpu_util=%.0f%%",
                 n, f, wallS, Double(n) / wallS, cpu, cpu / Double(max(1, n)) * 1e6, cpu / wallS * 100))
}

/// Responses as members and gridsvc send them: a short keep-alive answer, python3 http.server's
/// (five headers), and a chunked one.
let parseShapes: [(name: String, bytes: [UInt8])] = [
    ("short", Array("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"ok\":true}".utf8)),
    ("python", Array(("HTTP/1.1 200 OK\r\nServer: BaseHTTP/0.6 Python/3.11.2\r\nDate: Sun, 22 Nov 2026 23:04:00 GMT\r\n"
                      + "Content-Type: text/plain; charset=utf-8\r\nContent-Length: 14\r\nCache-Control: no-store\r\n\r\ntandem healthy").utf8)),
    ("chunked", Array("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n7\r\ntandem \r\n7\r\nhealthy\r\n0\r\n\r\n".utf8)),
]

/// This thread's CPU time (CLOCK_THREAD_CPUTIME_ID): on a shared machine a tight loop's wall time
/// includes the time other processes ran; its CPU time does not.
func threadCPUTime() -> Duration {
    var ts = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return .seconds(ts.tv_sec) + .nanoseconds(ts.tv_nsec)
}

/// ns of CPU per response: `run(n)` parses `n` responses and returns the CPU time its parsing took and a
/// checksum; the best of three rounds counts.
func nanosPerResponse(_ n: Int, _ run: (Int) throws -> (Duration, Int)) rethrows -> (Double, Int) {
    var best = Double.infinity, check = 0
    for _ in 0..<3 {
        let (took, sum) = try run(n)
        best = min(best, Double(took.wholeNanoseconds) / Double(n))
        check = sum
    }
    return (best, check)
}

/// Parses `n` copies of `response` with HTTPWire, as a check does (status, body copied out).
func parseWithHTTPWire(_ response: [UInt8], _ n: Int) -> (Duration, Int) {
    var sum = 0
    let t0 = threadCPUTime()
    for _ in 0..<n {
        guard case .complete(let r) = HTTPResponseParser.parse(response, eof: false) else { return (.zero, -1) }
        sum &+= r.status &+ r.body(in: response).count &+ (r.reusable ? 1 : 0)
    }
    return (threadCPUTime() - t0, sum)
}

/// The same through NIOHTTP1's decoder (llhttp) in an EmbeddedChannel, as a pipeline would run it: one
/// inbound buffer per response, the parts read out, the body kept as the decoder's slice (no copy).
/// The request heads the decoder must see first are written outside the timed part.
func parseWithNIOHTTP1(_ response: [UInt8], _ n: Int) throws -> (Duration, Int) {
    let channel = EmbeddedChannel()
    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(HTTPResponseDecoder()))
    let request = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/")
    var input = channel.allocator.buffer(capacity: response.count)
    input.writeBytes(response)
    var sum = 0
    var timed: Duration = .zero
    let batch = 1000
    for first in stride(from: 0, to: n, by: batch) {
        for _ in first..<min(n, first + batch) { channel.write(HTTPClientRequestPart.head(request), promise: nil) }
        channel.flush()
        while try channel.readOutbound(as: HTTPClientRequestPart.self) != nil {}
        let t0 = threadCPUTime()
        for _ in first..<min(n, first + batch) {
            try channel.writeInbound(input)
            var status = 0, body = 0, ended = false
            while let part = try channel.readInbound(as: HTTPClientResponsePart.self) {
                switch part {
                case .head(let h): status = Int(h.status.code); sum &+= h.isKeepAlive ? 1 : 0
                case .body(let b): body += b.readableBytes
                case .end: ended = true
                }
            }
            guard ended else { return (.zero, -1) }
            sum &+= status &+ body
        }
        timed += threadCPUTime() - t0
    }
    _ = try channel.finish()
    return (timed, sum)
}

let args = CommandLine.arguments
if args.count >= 3, args[1] == "parse", let n = Int(args[2]) {
    print("parse: ns of CPU per response, best of 3 rounds of \(n)")
    for shape in parseShapes {
        let (wire, a) = nanosPerResponse(n) { parseWithHTTPWire(shape.bytes, $0) }
        let (nio, b) = try nanosPerResponse(n) { try parseWithNIOHTTP1(shape.bytes, $0) }
        print("  \(shape.name) (\(shape.bytes.count) B): HTTPWire \(formatFixed(wire, 0)) ns, NIOHTTP1 \(formatFixed(nio, 0)) ns, ratio \(formatFixed(nio / wire, 1))x (checksums \(a) \(b))")
    }
    exit(0)
}
guard args.count >= 3, let port = Int(args[2]) else {
    print("usage: tandem-bench-health serve PORT [close] | check PORT SECONDS CONCURRENCY | parse N"); exit(2)
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
