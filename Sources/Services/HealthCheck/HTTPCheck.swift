import Cryptography
#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import NIOPosix
import Topology
import Health
import HTTPWire
import Net

/// HTTP/1.1 check: sends one request and compares the status and, optionally, whether the body
/// contains a text or has a SHA-256 digest.
///
/// Runs on SwiftNIO's shared event loops with a raw byte handler that reads answers with HTTPWire's
/// parser (the one response parser; measured against NIOHTTP1's decoder in docs/health-checks.md). The
/// whole exchange — connect (if needed), request, response — must fit in `timeout`. Bodies are read
/// up to 1 MiB. `https` runs the same exchange through ``TLSClientHandler`` (system OpenSSL, client
/// handshake only, no certificate verification, as keepalived's `SSL_GET`).
///
/// **Keep-alive and the connection watch.** The connection is kept open after a response that
/// allows it (HTTP/1.1, framed by `Content-Length` or chunked, no `Connection: close`) and the next
/// check is sent on it: no connect, no accept, no `TIME_WAIT` per check — what makes thousands of
/// checks per second on one core possible. If the member closed that idle connection in between, the
/// check retries once on a new connection within the same deadline, so a stale keep-alive is never a
/// failure. Between checks the idle connection is the watch (``ConnectionWatching``): when the member's
/// process dies its kernel closes it and ``HealthMonitor`` checks at once. Servers that close after
/// every response get a fresh connection per check and no watch.
public final class HTTPChecker: HealthChecker, ConnectionWatching {
    /// Member address.
    public let address: IPAddress
    /// Member port.
    public let port: UInt16
    /// What to send and expect.
    public let spec: HTTPCheck
    /// The request bytes, built once.
    private let request: [UInt8]
    private let held = HeldConnection()

    /// Creates an HTTP check of `address:port`.
    public init(address: IPAddress, port: UInt16, check: HTTPCheck) {
        self.address = address; self.port = port; self.spec = check
        request = Array(Self.requestText(address: address, port: port, spec: check).utf8)
    }

    /// The request sent.
    static func requestText(address: IPAddress, port: UInt16, spec: HTTPCheck) -> String {
        let host = address.family == .v6 ? "[\(address)]:\(port)" : "\(address):\(port)"
        return "\(spec.method) \(spec.path) HTTP/1.1\r\nHost: \(host)\r\nUser-Agent: tandemd-check\r\nAccept: */*\r\n\r\n"
    }

    /// The request bytes sent, as text.
    var requestText: String { String(decoding: request, as: UTF8.self) }

    /// Runs the exchange and judges the response.
    public func check(timeout: Duration) async -> CheckOutcome {
        let scheme = spec.scheme.lowercased()
        guard scheme == "http" || scheme == "https" else {
            return .failure(reason: "scheme \(spec.scheme) is not supported (http or https)", immediate: false)
        }
        let tls = scheme == "https"
        let headRequest = spec.method.uppercased() == "HEAD"
        #if !canImport(CTandemOpenSSL)
        if tls { return .failure(reason: "https needs the CTandemOpenSSL target (libssl-dev); this build has none", immediate: false) }
        #endif
        let deadline = NIODeadline.now() + TimeAmount(timeout)
        if let ch = held.take() {
            if ch.isActive {
                do {
                    return finish(try await exchange(on: ch, deadline: deadline), on: ch)
                } catch HTTPExchangeError.closedBeforeResponse(_) {
                    // The member closed the idle keep-alive connection: retry on a new one below.
                } catch {
                    ch.close(promise: nil)
                    return ProbeSocket.outcome(of: error)
                }
            }
            ch.close(promise: nil)
        }
        let remaining = deadline - NIODeadline.now()
        guard remaining.nanoseconds > 0 else { return .timedOut }
        do {
            let ch = try await ProbeSocket.bootstrap(timeout: Duration(remaining))
                .channelInitializer { ch in
                    ch.eventLoop.makeCompletedFuture {
                        #if canImport(CTandemOpenSSL)
                        if tls { try ch.pipeline.syncOperations.addHandler(TLSClientHandler()) }
                        #endif
                        try ch.pipeline.syncOperations.addHandler(HTTPProbeHandler(headRequest: headRequest))
                    }.flatMap { ProbeSocket.setResetOnClose(ch) }
                }
                .connect(to: ProbeSocket.socketAddress(address, port: port)).get()
            do {
                return finish(try await exchange(on: ch, deadline: deadline), on: ch)
            } catch {
                ch.close(promise: nil)
                throw error
            }
        } catch HTTPExchangeError.closedBeforeResponse(let underlying) {
            // On a fresh connection a reset still counts at once; a plain close does not.
            if let underlying { return ProbeSocket.outcome(of: underlying) }
            return .failure(reason: "connection closed without a response", immediate: false)
        } catch {
            return ProbeSocket.outcome(of: error)
        }
    }

    /// Keeps the connection when the response allows it, then judges.
    private func finish(_ r: HTTPProbeResponse, on ch: any Channel) -> CheckOutcome {
        if r.reusable { held.replace(with: ch) } else { ch.close(promise: nil) }
        return judge(r)
    }

    /// Sends the request on `ch` and waits for the response or the deadline, on the channel's loop.
    private func exchange(on ch: any Channel, deadline: NIODeadline) async throws -> HTTPProbeResponse {
        let loop = ch.eventLoop
        let promise = loop.makePromise(of: HTTPProbeResponse.self)
        let request = self.request
        loop.execute {
            do {
                let handler = try ch.pipeline.syncOperations.handler(type: HTTPProbeHandler.self)
                handler.send(request, promise: promise, deadline: deadline)
            } catch {
                promise.fail(error)
            }
        }
        return try await promise.futureResult.get()
    }

    /// Closes the held connection.
    public func shutdown() { held.replace(with: nil) }

    /// Returns `true` when the idle keep-alive connection closes, `false` at once when none is held.
    public func waitForHeldConnectionLoss() async -> Bool { await held.waitForLoss() }

    /// See ``ConnectionWatching/onHeldConnectionLoss(_:)``.
    public func onHeldConnectionLoss(_ fire: @escaping @Sendable () -> Void) -> (@Sendable () -> Void)? { held.onLoss(fire) }

    /// Compares a response with the spec. Pure.
    func judge(_ r: HTTPProbeResponse) -> CheckOutcome {
        if r.status != spec.expectStatus {
            return .failure(reason: "HTTP status \(r.status), want \(spec.expectStatus)", immediate: false)
        }
        if let want = spec.bodyContains, !want.isEmpty, r.body.firstRange(of: Array(want.utf8)) == nil {
            return .failure(reason: "body does not contain \"\(want)\"", immediate: false)
        }
        if let want = spec.bodySHA256 {
            let got: String
            do { got = try SHA256.hex(r.body) } catch { return .failure(reason: "body sha256 not computed: \(error)", immediate: false) }
            if got != want.lowercased() {
                return .failure(reason: "body sha256 \(got), want \(want.lowercased())", immediate: false)
            }
        }
        return .success
    }
}

/// A response as a check judges it: status, (de-chunked) body, and whether the connection may carry the
/// next check.
struct HTTPProbeResponse: Sendable, Equatable {
    var status: Int
    var body: [UInt8]
    /// The response allows keep-alive (HTTPWire's ``HTTPResponse/reusable``) and nothing came after it.
    var reusable = false

    /// The limits of a check's response: 64 KiB of head, 1 MiB of body.
    static let limits = HTTPResponseParser.Limits(maxHeadBytes: 64 * 1024, maxBodyBytes: 1 << 20)
}

/// Sends one request at a time on its connection and fulfils that request's promise once a full
/// response is in, the deadline passes, or the connection fails. Lives on one event loop (NIO's
/// threading rule), so its mutable state needs no lock. The connection outlives the exchange when the
/// response allows keep-alive.
final class HTTPProbeHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var context: ChannelHandlerContext?
    private var promise: EventLoopPromise<HTTPProbeResponse>?
    private var timer: Scheduled<Void>?
    private var received: [UInt8] = []
    /// The check sends `HEAD`: its answers carry no body whatever their `Content-Length` says.
    private let headRequest: Bool

    init(headRequest: Bool) { self.headRequest = headRequest }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        complete(.failure(ChannelError.ioOnClosedChannel))
    }

    /// Starts one exchange; must run on the channel's event loop.
    func send(_ request: [UInt8], promise: EventLoopPromise<HTTPProbeResponse>, deadline: NIODeadline) {
        guard let context, context.channel.isActive, self.promise == nil else {
            promise.fail(HTTPExchangeError.closedBeforeResponse(nil))
            return
        }
        self.promise = promise
        received.removeAll(keepingCapacity: true)
        timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [weak self] in
            guard let self else { return }
            self.complete(.failure(ProbeTimeout()))
            self.context?.close(promise: nil)
        }
        var buf = context.channel.allocator.buffer(capacity: request.count)
        buf.writeBytes(request)
        context.writeAndFlush(wrapOutboundOut(buf), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buf = unwrapInboundIn(data)
        guard promise != nil else {
            // Bytes nobody asked for: this connection cannot carry another check.
            context.close(promise: nil)
            return
        }
        received.append(contentsOf: buf.readableBytesView)
        settle(context: context, eof: false)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if promise != nil {
            if received.isEmpty {
                complete(.failure(HTTPExchangeError.closedBeforeResponse(nil)))
            } else {
                settle(context: context, eof: true)
                complete(.failure(ChannelError.eof))
            }
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if received.isEmpty, let e = error as? IOError, e.errnoCode == ECONNRESET {
            complete(.failure(HTTPExchangeError.closedBeforeResponse(error)))
        }
        complete(.failure(error))
        context.close(promise: nil)
    }

    private func complete(_ result: Result<HTTPProbeResponse, any Error>) {
        guard let p = promise else { return }
        promise = nil
        timer?.cancel(); timer = nil
        p.completeWith(result)
    }

    private func settle(context: ChannelHandlerContext, eof: Bool) {
        guard promise != nil else { return }
        switch HTTPResponseParser.parse(received, eof: eof, headRequest: headRequest, limits: HTTPProbeResponse.limits) {
        case .incomplete: return
        case .complete(let r):
            let reusable = r.reusable && r.length == received.count
            complete(.success(HTTPProbeResponse(status: r.status, body: r.body(in: received), reusable: reusable)))
            if !reusable { context.close(promise: nil) }
        case .invalid(let why):
            complete(.failure(why))
            context.close(promise: nil)
        }
    }
}

/// How an exchange on a connection ended without a response.
enum HTTPExchangeError: Error {
    /// The connection closed or reset before any response byte: on a reused keep-alive connection
    /// the member closed it while idle, and the check retries on a new connection.
    case closedBeforeResponse((any Error)?)
}
