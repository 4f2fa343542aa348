import NIOCore
import NIOPosix
import Synchronization
import Topology
import Health
import HTTPWire
import Net
#if canImport(Glibc)
import Glibc
#endif

/// TCP connect check: healthy when a connection opens within the timeout.
///
/// Non-blocking connect on SwiftNIO's shared event loops (never a blocking call on the cooperative
/// pool). A refused connection or a reset is the member's own kernel saying nothing listens: it is
/// reported `immediate` and drains at once, as is an unreachable host or network (no route, no
/// ARP/ND answer, an ICMP unreachable). A silent member costs `timeout`.
///
/// **Connection watch.** The connection a successful check opened is kept open, idle, until the next
/// check replaces it (closed with `SO_LINGER 0`, a reset, so no `TIME_WAIT` piles up). When the member's
/// process dies its kernel closes that socket (FIN or RST) and ``waitForHeldConnectionLoss()`` returns
/// at once, so ``HealthMonitor`` runs a confirming check immediately instead of at the next interval.
public final class TCPChecker: HealthChecker, ConnectionWatching {
    /// Member address.
    public let address: IPAddress
    /// Member port.
    public let port: UInt16
    private let held = HeldConnection()

    /// Creates a TCP check of `address:port`.
    public init(address: IPAddress, port: UInt16) { self.address = address; self.port = port }

    /// Connects; the new connection replaces the held one (the watch).
    public func check(timeout: Duration) async -> CheckOutcome {
        do {
            let channel = try await ProbeSocket.connect(address: address, port: port, timeout: timeout)
            held.replace(with: channel)
            return .success
        } catch {
            held.replace(with: nil)
            return ProbeSocket.outcome(of: error)
        }
    }

    /// Returns `true` when the held connection closes (at once if it closed since the last check),
    /// `false` at once when none is held.
    public func waitForHeldConnectionLoss() async -> Bool { await held.waitForLoss() }

    /// See ``ConnectionWatching/onHeldConnectionLoss(_:)``.
    public func onHeldConnectionLoss(_ fire: @escaping @Sendable () -> Void) -> (@Sendable () -> Void)? { held.onLoss(fire) }

    /// Closes the held connection.
    public func shutdown() { held.replace(with: nil) }

    /// True while a connection from the last check is held open (tests).
    var holdsConnectionForTesting: Bool { held.isHolding }
}

/// A checker that keeps a connection to its member open between checks and can tell when it closes.
///
/// The member's kernel closes the connection (FIN or RST) the moment the serving process dies, which
/// is the earliest sign of a crash there is. ``HealthMonitor`` races this against its interval sleep
/// and runs a confirming check at once; the check's outcome, not the closure itself, feeds rise/fall.
public protocol ConnectionWatching: Sendable {
    /// Suspends until the connection held from the last check closes and returns `true` — at once
    /// when it already closed after the check and no wait saw it (a crash between the check and
    /// this wait is not lost); returns `false` at once when no connection is held. Cancellation returns `false` and leaves the
    /// connection open.
    func waitForHeldConnectionLoss() async -> Bool
    /// The same without a task: calls `fire` when the held connection closes (at once, before
    /// returning, when it already closed unseen) and returns a function that withdraws the request;
    /// returns `nil` when no connection is held.
    func onHeldConnectionLoss(_ fire: @escaping @Sendable () -> Void) -> (@Sendable () -> Void)?
    /// Closes whatever connection is held (the monitor calls it when the check stops).
    func shutdown()
}

/// One idle connection to a member, replaced by each check; the watch waits on its close.
///
/// One close callback is registered per connection (not per wait), so a keep-alive connection that
/// lives for days does not collect a callback per check.
final class HeldConnection: Sendable {
    private struct State {
        var channel: (any Channel)?
        var registered: ObjectIdentifier?
        var nextWaiter: UInt64 = 0
        var waiters: [UInt64: CheckedContinuation<Bool, Never>] = [:]
        var callbacks: [UInt64: @Sendable () -> Void] = [:]
        /// A waiter cancelled before it parked (waits on one checker are sequential: one slot is enough).
        var cancelledEarly: UInt64?
        /// The connection held from the last check closed while nobody was waiting (e.g. the member
        /// died between the check and the monitor's next wait): the next wait reports it at once.
        var lostUnseen = false
    }
    private let state = Mutex(State())

    /// Holds `new` (or nothing), closing the connection held before.
    func replace(with new: (any Channel)?) {
        let (old, register): ((any Channel)?, Bool) = state.withLock { s in
            let o = s.channel
            s.channel = new
            s.lostUnseen = false
            guard let new else { return (o, false) }
            let id = ObjectIdentifier(new)
            if s.registered == id { return (o, false) }
            s.registered = id
            return (o, true)
        }
        if let old, old !== new { old.close(promise: nil) }
        if let new, register {
            let id = ObjectIdentifier(new)
            new.closeFuture.whenComplete { _ in self.closed(id) }
        }
    }

    /// True while a connection is held.
    var isHolding: Bool { state.withLock { $0.channel != nil } }

    /// Takes the held connection out (the caller now owns it), or nil.
    func take() -> (any Channel)? { state.withLock { s in let o = s.channel; s.channel = nil; return o } }

    private func closed(_ id: ObjectIdentifier) {
        let (waiters, callbacks): ([CheckedContinuation<Bool, Never>], [@Sendable () -> Void]) = state.withLock { s in
            if s.registered == id { s.registered = nil }
            guard let c = s.channel, ObjectIdentifier(c) == id else { return ([], []) }
            s.channel = nil
            let w = Array(s.waiters.values), f = Array(s.callbacks.values)
            s.waiters = [:]; s.callbacks = [:]
            if w.isEmpty && f.isEmpty { s.lostUnseen = true }
            return (w, f)
        }
        for w in waiters { w.resume(returning: true) }
        for f in callbacks { f() }
    }

    /// See ``ConnectionWatching/onHeldConnectionLoss(_:)``.
    func onLoss(_ fire: @escaping @Sendable () -> Void) -> (@Sendable () -> Void)? {
        enum Now { case lost, none, parked(UInt64) }
        let now: Now = state.withLock { s in
            if s.lostUnseen { s.lostUnseen = false; return .lost }
            guard s.channel != nil else { return .none }
            s.nextWaiter += 1
            s.callbacks[s.nextWaiter] = fire
            return .parked(s.nextWaiter)
        }
        switch now {
        case .lost: fire(); return {}
        case .none: return nil
        case .parked(let id): return { [self] in _ = self.state.withLock { $0.callbacks.removeValue(forKey: id) } }
        }
    }

    /// See ``ConnectionWatching/waitForHeldConnectionLoss()``.
    func waitForLoss() async -> Bool {
        let id: UInt64?? = state.withLock { s in
            if s.lostUnseen { s.lostUnseen = false; return .some(nil) }
            guard s.channel != nil else { return nil }
            s.nextWaiter += 1
            return s.nextWaiter
        }
        guard let parked = id else { return false }
        guard let id = parked else { return true }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Bool, Never>) in
                let now: Bool? = state.withLock { s in
                    if s.cancelledEarly == id { s.cancelledEarly = nil; return false }
                    if s.channel == nil { return true }
                    s.waiters[id] = c
                    return nil
                }
                if let now { c.resume(returning: now) }
            }
        } onCancel: {
            let c: CheckedContinuation<Bool, Never>? = state.withLock { s in
                if let c = s.waiters.removeValue(forKey: id) { return c }
                s.cancelledEarly = id
                return nil
            }
            c?.resume(returning: false)
        }
    }
}

/// The connect half both TCP and HTTP checks share.
enum ProbeSocket {
    static func socketAddress(_ a: IPAddress, port: UInt16) throws -> SocketAddress {
        try SocketAddress(ipAddress: a.description, port: Int(port))
    }

    static func bootstrap(timeout: Duration) -> ClientBootstrap {
        // The loop the check runs on (see CheckExecutors): connect and answer on the same thread.
        ClientBootstrap(group: CheckExecutors.currentLoop)
            .connectTimeout(TimeAmount(timeout))
    }

    /// `SO_LINGER {1, 0}`: close sends a reset and leaves no `TIME_WAIT` on our side.
    static func setResetOnClose(_ ch: any Channel) -> EventLoopFuture<Void> {
        guard let p = ch as? any SocketOptionProvider else { return ch.eventLoop.makeSucceededVoidFuture() }
        return p.setSoLinger(linger(l_onoff: 1, l_linger: 0))
    }

    static func connect(address: IPAddress, port: UInt16, timeout: Duration) async throws -> any Channel {
        try await bootstrap(timeout: timeout)
            .channelInitializer { ch in setResetOnClose(ch) }
            .connect(to: socketAddress(address, port: port)).get()
    }

    /// Maps a connect or I/O error to an outcome: refused/reset are immediate, timeouts are timeouts.
    ///
    /// An unreachable host or network (`EHOSTUNREACH`, `ENETUNREACH`) is immediate too: it is an
    /// answer, not silence — the director's own kernel found no route or no neighbour (ARP/ND went
    /// unanswered for its whole probe sequence), or a router on the path said so with an ICMP
    /// unreachable. Waiting `fall` checks would only repeat what is already known.
    static func outcome(of error: any Error) -> CheckOutcome {
        if let e = error as? ChannelError {
            if case .connectTimeout = e { return .timedOut }
            return .failure(reason: "\(e)", immediate: false)
        }
        if let e = error as? IOError {
            switch e.errnoCode {
            case ECONNREFUSED: return .failure(reason: "connection refused", immediate: true)
            case ECONNRESET: return .failure(reason: "connection reset", immediate: true)
            case EHOSTUNREACH: return .failure(reason: "host unreachable", immediate: true)
            case ENETUNREACH: return .failure(reason: "network unreachable", immediate: true)
            case ETIMEDOUT: return .timedOut
            default: return .failure(reason: "\(e)", immediate: false)
            }
        }
        if let e = error as? NIOConnectionError {
            if let first = e.connectionErrors.first { return outcome(of: first.error) }
            return .failure(reason: "\(e)", immediate: false)
        }
        if error is ProbeTimeout { return .timedOut }
        if let e = error as? HTTPResponseError { return .failure(reason: e.description, immediate: false) }
        return .failure(reason: "\(error)", immediate: false)
    }
}

/// The whole check ran past its deadline.
struct ProbeTimeout: Error {}
