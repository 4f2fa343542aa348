import Digest
import NIOCore
import NIOPosix
import Topology

/// HTTP/1.1 check: sends one request (`Connection: close`) and compares the status and, optionally,
/// whether the body contains a text or has a SHA-256 digest.
///
/// Runs on SwiftNIO's shared event loops with a raw byte handler (no HTTP codec allocations), one
/// connection per check, closed with a reset. The whole exchange — connect, request, response — must
/// fit in `timeout`. Bodies are read up to 1 MiB. `https` is not implemented yet: such a check fails
/// with a reason saying so (see docs/health-checks.md).
public struct HTTPChecker: HealthChecker {
    /// Member address.
    public var address: IPAddress
    /// Member port.
    public var port: UInt16
    /// What to send and expect.
    public var spec: HTTPCheck

    /// Creates an HTTP check of `address:port`.
    public init(address: IPAddress, port: UInt16, check: HTTPCheck) {
        self.address = address; self.port = port; self.spec = check
    }

    /// The request bytes sent.
    var requestText: String {
        let host = address.family == .v6 ? "[\(address)]:\(port)" : "\(address):\(port)"
        return "\(spec.method) \(spec.path) HTTP/1.1\r\nHost: \(host)\r\nUser-Agent: tandemd-check\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    }

    /// Runs the exchange and judges the response.
    public func check(timeout: Duration) async -> CheckOutcome {
        guard spec.scheme.lowercased() == "http" else {
            return .failure(reason: "scheme \(spec.scheme) is not supported by this build (http only)", immediate: false)
        }
        let request = requestText
        let response: HTTPProbeResponse
        do {
            let deadline = NIODeadline.now() + .nanoseconds(ProbeSocket.nanoseconds(timeout))
            let loop = MultiThreadedEventLoopGroup.singleton.next()
            let promise = loop.makePromise(of: HTTPProbeResponse.self)
            let channel: any Channel
            do {
                channel = try await ProbeSocket.bootstrap(timeout: timeout)
                    .channelInitializer { ch in
                        ch.eventLoop.makeCompletedFuture {
                            try ch.pipeline.syncOperations.addHandler(HTTPProbeHandler(request: request, promise: promise))
                        }.flatMap { ProbeSocket.setResetOnClose(ch) }
                    }
                    .connect(to: ProbeSocket.socketAddress(address, port: port)).get()
            } catch {
                promise.fail(error)  // a promise must never be dropped uncompleted
                throw error
            }
            let timer = channel.eventLoop.scheduleTask(deadline: deadline) {
                promise.fail(ProbeTimeout())
                channel.close(promise: nil)
            }
            defer { timer.cancel() }
            response = try await promise.futureResult.get()
            channel.close(promise: nil)
        } catch {
            return ProbeSocket.outcome(of: error)
        }
        return judge(response)
    }

    /// Compares a response with the spec. Pure.
    func judge(_ r: HTTPProbeResponse) -> CheckOutcome {
        if r.status != spec.expectStatus {
            return .failure(reason: "HTTP status \(r.status), want \(spec.expectStatus)", immediate: false)
        }
        if let want = spec.bodyContains, !want.isEmpty {
            let wantBytes = Array(want.utf8)
            if !HTTPProbeResponse.contains(r.body, wantBytes) {
                return .failure(reason: "body does not contain \"\(want)\"", immediate: false)
            }
        }
        if let want = spec.bodySHA256 {
            let got = SHA256.hex(r.body)
            if got != want.lowercased() {
                return .failure(reason: "body sha256 \(got), want \(want.lowercased())", immediate: false)
            }
        }
        return .success
    }
}

/// A parsed response: status and (de-chunked) body.
struct HTTPProbeResponse: Sendable, Equatable {
    var status: Int
    var body: [UInt8]

    static let maxBytes = 1 << 20

    static func contains(_ hay: [UInt8], _ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty else { return true }
        guard hay.count >= needle.count else { return false }
        let first = needle[0]
        var i = 0
        let last = hay.count - needle.count
        while i <= last {
            if hay[i] == first && hay[i..<(i + needle.count)].elementsEqual(needle) { return true }
            i += 1
        }
        return false
    }

    enum ParseResult: Equatable { case incomplete, complete(HTTPProbeResponse), invalid(String) }

    /// Parses `bytes` received so far; `eof` when the peer closed. Handles Content-Length, chunked
    /// and close-delimited bodies.
    static func parse(_ bytes: [UInt8], eof: Bool) -> ParseResult {
        guard let headerEnd = find(bytes, [13, 10, 13, 10], from: 0) else {
            if bytes.count > 64 * 1024 { return .invalid("response header over 64 KiB") }
            return eof ? .invalid(bytes.isEmpty ? "connection closed without a response" : "truncated response header") : .incomplete
        }
        let head = String(decoding: bytes[0..<headerEnd], as: UTF8.self)
        var lines = head.split(separator: "\r\n", omittingEmptySubsequences: false)
        guard !lines.isEmpty else { return .invalid("empty status line") }
        let statusLine = lines.removeFirst().split(separator: " ", maxSplits: 2)
        guard statusLine.count >= 2, statusLine[0].hasPrefix("HTTP/1."), let status = Int(statusLine[1]) else {
            return .invalid("bad status line")
        }
        var contentLength: Int?
        var chunked = false
        for l in lines {
            guard let colon = l.firstIndex(of: ":") else { continue }
            let name = l[..<colon].lowercased()
            let value = l[l.index(after: colon)...].trimmingCharactersWhitespace()
            if name == "content-length" { contentLength = Int(value) }
            if name == "transfer-encoding" && value.lowercased().contains("chunked") { chunked = true }
        }
        let bodyStart = headerEnd + 4
        if status == 204 || status == 304 || (100..<200).contains(status) {
            return .complete(.init(status: status, body: []))
        }
        if chunked {
            var out: [UInt8] = []
            var i = bodyStart
            for _ in 0..<100_000 {
                guard let lineEnd = find(bytes, [13, 10], from: i) else { return eof ? .invalid("truncated chunk") : .incomplete }
                let sizeText = String(decoding: bytes[i..<lineEnd], as: UTF8.self).split(separator: ";").first ?? ""
                guard let size = Int(sizeText.trimmingCharactersWhitespace(), radix: 16) else { return .invalid("bad chunk size") }
                let dataStart = lineEnd + 2
                if size == 0 { return .complete(.init(status: status, body: out)) }
                guard bytes.count >= dataStart + size + 2 else { return eof ? .invalid("truncated chunk") : .incomplete }
                out += bytes[dataStart..<(dataStart + size)]
                if out.count > maxBytes { return .invalid("body over 1 MiB") }
                i = dataStart + size + 2
            }
            return .invalid("too many chunks")
        }
        if let n = contentLength {
            guard n <= maxBytes else { return .invalid("body over 1 MiB") }
            if bytes.count >= bodyStart + n { return .complete(.init(status: status, body: Array(bytes[bodyStart..<(bodyStart + n)]))) }
            return eof ? .invalid("truncated body") : .incomplete
        }
        if bytes.count - bodyStart > maxBytes { return .invalid("body over 1 MiB") }
        return eof ? .complete(.init(status: status, body: Array(bytes[bodyStart...]))) : .incomplete
    }

    static func find(_ hay: [UInt8], _ needle: [UInt8], from: Int) -> Int? {
        guard hay.count >= needle.count, from <= hay.count - needle.count else { return nil }
        var i = from
        while i <= hay.count - needle.count {
            if hay[i] == needle[0] && hay[i..<(i + needle.count)].elementsEqual(needle) { return i }
            i += 1
        }
        return nil
    }
}

extension Substring {
    fileprivate func trimmingCharactersWhitespace() -> String {
        var s = self
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return String(s)
    }
}

/// Writes the request on connect, collects bytes, fulfils the promise once a full response is in.
/// Lives on one event loop (NIO's threading rule), so its mutable state needs no lock.
final class HTTPProbeHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let request: String
    private let promise: EventLoopPromise<HTTPProbeResponse>
    private var received: [UInt8] = []
    private var done = false

    init(request: String, promise: EventLoopPromise<HTTPProbeResponse>) {
        self.request = request; self.promise = promise
    }

    func channelActive(context: ChannelHandlerContext) {
        var buf = context.channel.allocator.buffer(capacity: request.utf8.count)
        buf.writeString(request)
        context.writeAndFlush(wrapOutboundOut(buf), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !done else { return }
        var buf = unwrapInboundIn(data)
        if let bytes = buf.readBytes(length: buf.readableBytes) { received += bytes }
        settle(context: context, eof: false)
    }

    func channelInactive(context: ChannelHandlerContext) {
        settle(context: context, eof: true)
        if !done { done = true; promise.fail(ChannelError.eof) }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if !done { done = true; promise.fail(error) }
        context.close(promise: nil)
    }

    private func settle(context: ChannelHandlerContext, eof: Bool) {
        guard !done else { return }
        switch HTTPProbeResponse.parse(received, eof: eof) {
        case .incomplete: return
        case .complete(let r):
            done = true
            promise.succeed(r)
            context.close(promise: nil)
        case .invalid(let why):
            done = true
            promise.fail(HTTPProbeError(reason: why))
            context.close(promise: nil)
        }
    }
}

/// A response that is not HTTP/1.x as expected.
struct HTTPProbeError: Error, CustomStringConvertible {
    var reason: String
    var description: String { reason }
}
