import Syscall
#if canImport(Glibc)
import Glibc
#endif
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

/// The answer of a responder: ready now (answered on the event loop, no task hop), or work to do off the
/// event loop (database calls).
public enum GridHTTPReply: Sendable {
    /// The response is ready.
    case now(GridHTTPResponse)
    /// Run this off the event loop; its result is the response.
    case later(@Sendable () async -> GridHTTPResponse)
}

/// Answers requests. ``respond(_:)`` runs on an event loop thread and must not block: anything that waits
/// goes into ``GridHTTPReply/later(_:)``.
public protocol GridHTTPResponder: Sendable {
    /// Answers one request.
    func respond(_ request: GridHTTPRequest) -> GridHTTPReply
}

/// A fixed JSON answer on every path (`gridsvc static`): the baseline that shows what the HTTP stack and
/// the stress client cost without any service logic.
public struct StaticJSONResponder: GridHTTPResponder {
    private let body: [UInt8]
    /// Answers `body` with 200 to every request.
    public init(body: String = "{\"ok\":true}") { self.body = Array(body.utf8) }
    /// Always 200 with the fixed body.
    public func respond(_ request: GridHTTPRequest) -> GridHTTPReply {
        .now(GridHTTPResponse(status: 200, contentType: "application/json", body: body))
    }
}

/// The HTTP/1.1 server of gridsvc: SwiftNIO with keep-alive and pipelining, one event loop per allowed
/// CPU. Requests the responder answers at once (GUMS cache hits, SAZ snapshot decisions, errors) are
/// answered on the event loop without any task or thread hop; the rest run as tasks and are written back
/// on the connection's event loop.
///
/// A ServiceLifecycle service: ``run()`` binds, calls `onRunning` with the bound port, runs the
/// `background` services alongside, and returns after cancellation or graceful shutdown.
public struct GridHTTPServer: Service {
    let host: String
    let port: Int
    let threads: Int
    let limits: GridHTTPLimits
    let timeouts: GridHTTPTimeouts
    let stats: GridHTTPConnectionStats?
    let responder: any GridHTTPResponder
    let background: [any Service]
    let beforeStart: @Sendable () async -> Void
    let onRunning: @Sendable (Int) async -> Void
    let logger: Logger

    /// Creates the server (nothing binds until ``run()``). `threads` 0 means ``allowedCPUCount()``.
    /// Every connection keeps `limits` and `timeouts`; `stats`, if given, counts what connections did.
    public init(host: String, port: Int, threads: Int = 0, limits: GridHTTPLimits, timeouts: GridHTTPTimeouts = GridHTTPTimeouts(),
                stats: GridHTTPConnectionStats? = nil, responder: any GridHTTPResponder,
                background: [any Service] = [], logger: Logger,
                beforeStart: @escaping @Sendable () async -> Void = {},
                onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) {
        self.host = host
        self.port = port
        self.threads = threads > 0 ? threads : allowedCPUCount()
        self.limits = limits
        self.timeouts = timeouts
        self.stats = stats
        self.responder = responder
        self.background = background
        self.beforeStart = beforeStart
        self.onRunning = onRunning
        self.logger = logger
    }

    /// Serves until cancelled or gracefully shut down.
    public func run() async throws {
        await beforeStart()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        let responder = self.responder, limits = self.limits, timeouts = self.timeouts, stats = self.stats
        let channel: Channel
        do {
            channel = try await ServerBootstrap(group: group)
                .serverChannelOption(ChannelOptions.backlog, value: 1024)
                .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
                .childChannelOption(ChannelOptions.maxMessagesPerRead, value: 16)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(GridHTTPHandler(responder: responder, limits: limits, timeouts: timeouts, stats: stats))
                    }
                }
                .bind(host: host, port: port).get()
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
        await onRunning(channel.localAddress?.port ?? port)
        let background = self.background
        do {
            try await cancelWhenGracefulShutdown {
                try await withThrowingTaskGroup(of: Void.self) { tasks in
                    for s in background { tasks.addTask { try await s.run() } }
                    tasks.addTask {
                        try await withTaskCancellationHandler {
                            try await channel.closeFuture.get()
                        } onCancel: {
                            channel.close(promise: nil)
                        }
                    }
                    // The first to finish (the listener closing, or a failing background service) ends the server.
                    defer { tasks.cancelAll() }
                    _ = try await tasks.next()
                }
            }
        } catch is CancellationError {
        } catch {
            try? await channel.close()
            try? await group.shutdownGracefully()
            throw error
        }
        try? await channel.close()
        try? await group.shutdownGracefully()
    }
}

/// Counters a test (or an operator's probe) can read from a running server: what connections kept
/// buffered and how they ended. Updated only when given to ``GridHTTPServer``.
public final class GridHTTPConnectionStats: Sendable {
    private let retained = Atomic<Int>(0)
    private let timeoutsSent = Atomic<Int>(0)
    private let closedIdle = Atomic<Int>(0)
    private let refusedRequests = Atomic<Int>(0)

    /// Creates zeroed counters.
    public init() {}

    /// The most bytes any connection's parser held while waiting for more input.
    public var maxRetainedBytes: Int { retained.load(ordering: .relaxed) }
    /// Connections answered 408 (a head or body not complete in time) and closed.
    public var timeouts: Int { timeoutsSent.load(ordering: .relaxed) }
    /// Connections closed without an answer: idle, an oversized body not sent in time, answers not read.
    public var idleCloses: Int { closedIdle.load(ordering: .relaxed) }
    /// Requests refused as unreadable (400, 417, 431, 501, 505) before the responder saw them.
    public var refused: Int { refusedRequests.load(ordering: .relaxed) }

    func retain(_ bytes: Int) { _ = retained.max(bytes, ordering: .relaxed) }
    func timedOut() { timeoutsSent.add(1, ordering: .relaxed) }
    func closedWhileIdle() { closedIdle.add(1, ordering: .relaxed) }
    func refusedOne() { refusedRequests.add(1, ordering: .relaxed) }
}

/// One connection: feeds the received bytes to its ``GridHTTPRequestParser`` (which keeps what it has
/// not used and resumes there), hands each request to the responder and writes each answer as one
/// pre-encoded buffer. Answers ready at once are written without a flush and flushed once per read burst
/// (pipelined requests share one `writev`); while a ``GridHTTPReply/later(_:)`` answer is pending, further
/// requests wait in the parser and reading stops, so answers leave in request order and a pipelining
/// client cannot make the buffer grow without bound. The same holds for the output: while the channel is
/// not writable (a client that pipelines and does not read its answers, past the write-buffer high-water
/// mark), parsing and reading stop until it is. A request with `Expect: 100-continue` gets
/// `100 Continue` once its head is in and its body is not. One timer enforces ``GridHTTPTimeouts``
/// (``ConnectionDeadline`` decides what it does).
final class GridHTTPHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let responder: any GridHTTPResponder
    private let stats: GridHTTPConnectionStats?
    private var parser: GridHTTPRequestParser
    private var deadline: ConnectionDeadline
    /// The armed timer and when it fires.
    private var timer: Scheduled<Void>?
    private var timerAt: NIODeadline?
    /// A request was completed since the deadline was last updated.
    private var completed = false
    /// A `later` answer is being computed.
    private var waiting = false
    /// The connection closes after the answer being written.
    private var closing = false
    /// The last answer is out and the output half-closed; what the client still sends is read and
    /// dropped until it closes too, ``lingerBytes`` arrived, or ``lingerTime`` passed.
    private var lingering = false
    private var lingered = 0
    /// How much a lingering connection reads and drops before it closes anyway.
    static let lingerBytes = 64 * 1024
    /// How long a lingering connection waits for the client to close.
    static let lingerTime = TimeAmount.seconds(2)
    /// A `read` was held back while waiting.
    private var readHeld = false
    /// Written since the last flush.
    private var unflushed = false

    init(responder: any GridHTTPResponder, limits: GridHTTPLimits, timeouts: GridHTTPTimeouts, stats: GridHTTPConnectionStats?) {
        self.responder = responder
        self.stats = stats
        self.parser = GridHTTPRequestParser(limits: limits)
        self.deadline = ConnectionDeadline(timeouts: timeouts, now: .now())
    }

    func handlerAdded(context: ChannelHandlerContext) {
        arm(context: context)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if closing {
            if lingering {
                lingered += unwrapInboundIn(data).readableBytes
                if lingered > Self.lingerBytes { context.close(promise: nil) }
            }
            return
        }
        parser.append(unwrapInboundIn(data))
        process(context: context)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        flushIfNeeded(context: context)
        updateDeadline(context: context)
        context.fireChannelReadComplete()
    }

    func read(context: ChannelHandlerContext) {
        if lingering { context.read(); return }
        // Hold reading while an answer is pending (the pipelined requests already read wait in the
        // parser) or while answers already written wait for the client to read them.
        if waiting || closing || !context.channel.isWritable { readHeld = true; return }
        context.read()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            process(context: context)
            flushIfNeeded(context: context)
            if !waiting, !closing, readHeld, context.channel.isWritable {
                readHeld = false
                context.read()
            }
        }
        updateDeadline(context: context)
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private func flushIfNeeded(context: ChannelHandlerContext) {
        if unflushed {
            unflushed = false
            context.flush()
        }
    }

    // MARK: timeouts

    /// Tells the deadline what the connection waits for now, and arms the timer if it must fire sooner.
    private func updateDeadline(context: ChannelHandlerContext) {
        if closing { return }
        let state: ConnectionDeadline.State
        if waiting {
            state = .busy
        } else if !context.channel.isWritable {
            state = .blockedOutput
        } else {
            switch parser.phase {
            case .idle, .failed: state = .idle
            case .head: state = .head
            case .body: state = .body
            case .discarding: state = .discarding
            }
        }
        deadline.enter(state, now: .now(), newRequest: completed)
        completed = false
        arm(context: context)
    }

    /// Arms the timer for the current deadline unless it already fires no later than that (a later
    /// deadline is re-armed when the timer fires: no timer churn per request).
    private func arm(context: ChannelHandlerContext) {
        guard let at = deadline.deadline else { return }
        if let current = timerAt, current <= at { return }
        schedule(at: at, context: context)
    }

    private func schedule(at: NIODeadline, context: ChannelHandlerContext) {
        timer?.cancel()
        timerAt = at
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: at) {
            let (handler, context) = bound.value
            handler.timerFired(context: context)
        }
    }

    private func timerFired(context: ChannelHandlerContext) {
        timer = nil
        timerAt = nil
        if closing { return }
        switch deadline.fired(now: .now()) {
        case .wait(let until):
            if let until { schedule(at: until, context: context) }
        case .close:
            stats?.closedWhileIdle()
            closing = true
            context.close(promise: nil)
        case .timeout(let message):
            stats?.timedOut()
            write(context: context, GridHTTPWire.errorResponse(status: 408, message: message), keepAlive: false, isHead: false)
        }
    }

    // MARK: requests

    /// Answers every complete request the parser has, in order, until one is `later`, the output is
    /// blocked, or the parser needs more bytes.
    private func process(context: ChannelHandlerContext) {
        while !waiting, !closing {
            if !context.channel.isWritable {
                // The client is not reading its answers: stop here (flushing what is written, so the
                // channel can drain) and go on from `channelWritabilityChanged`.
                flushIfNeeded(context: context)
                return
            }
            switch parser.next() {
            case .incomplete:
                stats?.retain(parser.bufferedBytes)
                return
            case .awaitingBody:
                stats?.retain(parser.bufferedBytes)
                var out = context.channel.allocator.buffer(capacity: GridHTTPWire.continueResponse.count)
                out.writeBytes(GridHTTPWire.continueResponse)
                context.write(wrapOutboundOut(out), promise: nil)
                unflushed = true
                return
            case .invalid(let status, let message):
                stats?.refusedOne()
                write(context: context, GridHTTPWire.errorResponse(status: status, message: message), keepAlive: false, isHead: false)
                return
            case .request(let parsed):
                completed = true
                let keepAlive = parsed.keepAlive, isHead = parsed.isHead
                switch responder.respond(parsed.request) {
                case .now(let r):
                    write(context: context, r, keepAlive: keepAlive, isHead: isHead)
                case .later(let work):
                    waiting = true
                    let promise = context.eventLoop.makePromise(of: GridHTTPResponse.self)
                    promise.completeWithTask(work)
                    let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
                    promise.futureResult.whenSuccess { r in
                        let (handler, context) = bound.value
                        handler.waiting = false
                        handler.write(context: context, r, keepAlive: keepAlive, isHead: isHead)
                        handler.process(context: context)
                        handler.flushIfNeeded(context: context)
                        if !handler.waiting, !handler.closing, handler.readHeld, context.channel.isWritable {
                            handler.readHeld = false
                            context.read()
                        }
                        handler.updateDeadline(context: context)
                    }
                }
            }
        }
    }

    private func write(context: ChannelHandlerContext, _ r: GridHTTPResponse, keepAlive: Bool, isHead: Bool) {
        var out = context.channel.allocator.buffer(capacity: GridHTTPWire.encodedSizeBound(r))
        GridHTTPWire.encode(r, keepAlive: keepAlive, isHead: isHead, into: &out)
        if keepAlive {
            context.write(wrapOutboundOut(out), promise: nil)
            unflushed = true
        } else {
            closing = true
            unflushed = false
            timer?.cancel()
            timer = nil
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            context.writeAndFlush(wrapOutboundOut(out)).whenComplete { _ in
                let (handler, context) = bound.value
                handler.linger(context: context)
            }
        }
    }

    /// Closes after the last answer without losing it: a full close while the client's bytes are still
    /// unread makes the kernel send a reset, which can destroy the answer before the client reads it
    /// (a 408 to a slow client, a 400 to one that pipelines). So the output is half-closed first and the
    /// input read and dropped until the client closes, within ``lingerBytes`` and ``lingerTime``
    /// (RFC 9112 section 9.6).
    private func linger(context: ChannelHandlerContext) {
        guard context.channel.isActive else { return }
        lingering = true
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.close(mode: .output).whenFailure { _ in bound.value.close(promise: nil) }
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: Self.lingerTime) {
            bound.value.close(promise: nil)
        }
        if readHeld {
            readHeld = false
            context.read()
        }
    }
}
