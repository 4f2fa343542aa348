#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Synchronization
import HTTPWire
import Net

/// Shared counters of one run: calls started and the stop flag.
final class RunControl: Sendable {
    /// Calls started so far (a call may start only while this is below max requests).
    let counter = Atomic<Int>(0)
    /// Set when the run must end now: the bounded wait expired, or someone outside asked.
    let stopSwitch: StopSwitch

    init(stopSwitch: StopSwitch) { self.stopSwitch = stopSwitch }

    /// The run must end now.
    var stopped: Bool { stopSwitch.isThrown }
}

/// Ends a running stress test early, from another thread (a signal handler's queue): the workers
/// finish the call in hand and the report is built as usual, marked `stopped by signal`.
public final class StopSwitch: Sendable {
    private let thrown = Atomic<Bool>(false)
    private let fromOutside = Atomic<Bool>(false)

    /// A switch not yet thrown.
    public init() {}

    /// Asks the run to stop now.
    public func stop() {
        fromOutside.store(true, ordering: .relaxed)
        thrown.store(true, ordering: .relaxed)
    }

    /// The run's own bound ran out (not a request from outside).
    func stopForBound() { thrown.store(true, ordering: .relaxed) }

    /// Whether the run must stop.
    public var isThrown: Bool { thrown.load(ordering: .relaxed) }
    /// Whether ``stop()`` was called.
    public var stoppedFromOutside: Bool { fromOutside.load(ordering: .relaxed) }
}

/// The closed-loop driver: `workers` keep-alive connections multiplexed with `poll(2)` on a few threads
/// (one per CPU the client may run on), instead of one blocking thread per worker. Each worker still has
/// exactly one call outstanding and sends its next call as soon as the answer is in, so the load model
/// is the same as N blocking workers, without a context switch per call.
///
/// Failures are classified like ``HTTPConnection``: non-2xx → `http_S`, refused connect → `connect_refused`
/// (the worker then waits 10 ms, so a dead port shows as a gap rather than a flood of errors), no answer
/// within the timeout → `timeout`, connection closed mid-answer → `closed` (a kept-alive connection that
/// closed before any byte came back is reopened and the call re-sent once).
final class PollLoop {
    private struct Worker {
        var rng: SplitMix64
        /// One connection per call kind (index in CallKind.allCases), -1 when closed.
        var fds: [Int32]
        var active = -1          // kind index of the call in flight, -1 if none
        var request: [UInt8] = []
        var startNanos: UInt64 = 0
        var wakeAtNanos: UInt64 = 0  // > 0: waiting after a refused connect
        var reused = false
        var connecting = false   // a non-blocking connect is in progress on the active connection
        var retried = false
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        var filled = 0
        var done = false
    }

    private let factory: StressRunner.RequestFactory
    private let config: StressConfig
    private let control: RunControl
    private let t0: UInt64
    private let deadline: UInt64
    private let timeoutNanos: UInt64
    private var workers: [Worker]
    private var samples: [CallSample] = []

    /// Drives workers `first..<first+count` (their PRNG seeds match the thread-per-worker runner's).
    init(factory: StressRunner.RequestFactory, config: StressConfig, first: Int, count: Int, control: RunControl,
         t0: UInt64, deadline: UInt64) {
        self.factory = factory
        self.config = config
        self.control = control
        self.t0 = t0
        self.deadline = deadline
        self.timeoutNanos = UInt64(max(1, config.timeoutMillis)) * 1_000_000
        self.workers = (first..<(first + count)).map { w in
            Worker(rng: SplitMix64(seed: config.seed &+ UInt64(w) &* 0x9E37_79B9),
                   fds: Array(repeating: -1, count: CallKind.allCases.count))
        }
        samples.reserveCapacity(min(config.maxRequests, 1 << 22))
    }

    private static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    /// Runs until every worker is done (max requests, deadline or stop); returns the samples.
    func run() -> [CallSample] {
        for i in workers.indices { startCall(i) }
        var pfds: [pollfd] = []
        var owners: [Int] = []
        pfds.reserveCapacity(workers.count)
        owners.reserveCapacity(workers.count)
        while true {
            if control.stopped { break }
            pfds.removeAll(keepingCapacity: true)
            owners.removeAll(keepingCapacity: true)
            var live = 0
            var nextWake: UInt64 = .max
            for i in workers.indices where !workers[i].done {
                live += 1
                let w = workers[i]
                if w.active >= 0 {
                    pfds.append(pollfd(fd: w.fds[w.active], events: Int16(w.connecting ? POLLOUT : POLLIN), revents: 0))
                    owners.append(i)
                    nextWake = min(nextWake, w.startNanos &+ timeoutNanos)
                } else if w.wakeAtNanos > 0 {
                    nextWake = min(nextWake, w.wakeAtNanos)
                }
            }
            if live == 0 { break }
            let now0 = Self.now()
            let waitMillis = nextWake == .max ? 10 : Int32(clamping: min(10, (nextWake > now0 ? nextWake - now0 : 0) / 1_000_000 + 1))
            let n = pfds.withUnsafeMutableBufferPointer { poll($0.baseAddress, nfds_t($0.count), waitMillis) }
            if n < 0 && errno != EINTR { break }
            if n > 0 {
                for (j, p) in pfds.enumerated() where p.revents != 0 {
                    if workers[owners[j]].connecting { connected(owners[j]) } else { readable(owners[j]) }
                }
            }
            // Timeouts and connect back-off.
            let now = Self.now()
            for i in workers.indices where !workers[i].done {
                if workers[i].active >= 0, now &- workers[i].startNanos > timeoutNanos, workers[i].startNanos < now {
                    closeActive(i)
                    finish(i, failure: CallFailure.timeout.kind, end: now)
                } else if workers[i].active < 0, workers[i].wakeAtNanos > 0, now >= workers[i].wakeAtNanos {
                    workers[i].wakeAtNanos = 0
                    startCall(i)
                }
            }
        }
        for i in workers.indices {
            for fd in workers[i].fds where fd >= 0 { close(fd) }
        }
        return samples
    }

    /// Starts worker `i`'s next call, or marks it done.
    private func startCall(_ i: Int) {
        let k = control.counter.wrappingAdd(1, ordering: .relaxed).oldValue
        let start = Self.now()
        if k >= config.maxRequests || start >= deadline {
            workers[i].done = true
            return
        }
        let (kind, request) = factory.make(&workers[i].rng, call: k)
        let slot = CallKind.allCases.firstIndex(of: kind)!
        workers[i].request = request
        workers[i].startNanos = start
        workers[i].retried = false
        send(i, slot: slot)
    }

    /// Sends worker `i`'s request on its connection for `slot`, connecting first if needed.
    private func send(_ i: Int, slot: Int) {
        workers[i].filled = 0
        workers[i].active = slot
        if workers[i].fds[slot] < 0 {
            // Non-blocking connect: an unanswered SYN must not stall the other workers of this loop.
            let target = config.targets[CallKind.allCases[slot]]!
            switch Self.connect(host: target.host, port: target.port) {
            case .success(let (fd, inProgress)):
                workers[i].fds[slot] = fd
                workers[i].reused = false
                if inProgress {
                    workers[i].connecting = true
                    return
                }
            case .failure(let f):
                workers[i].active = -1
                finish(i, failure: f.kind, end: Self.now(), backOff: { if case .connect = f { return true } else { return false } }())
                return
            }
        } else {
            workers[i].reused = true
        }
        transmit(i)
    }

    /// A non-blocking connect of worker `i` finished (POLLOUT): send, or count the failure.
    private func connected(_ i: Int) {
        workers[i].connecting = false
        let fd = workers[i].fds[workers[i].active]
        var err: Int32 = 0
        var len = socklen_t(MemoryLayout<Int32>.size)
        if getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 { err = errno }
        if err != 0 {
            closeActive(i)
            let f: CallFailure = err == ETIMEDOUT ? .timeout : .connect(err)
            finish(i, failure: f.kind, end: Self.now(), backOff: true)
            return
        }
        transmit(i)
    }

    /// Writes worker `i`'s request on its active, connected socket.
    private func transmit(_ i: Int) {
        let fd = workers[i].fds[workers[i].active]
        let ok = workers[i].request.withUnsafeBytes { b -> Bool in
            var sent = 0
            while sent < b.count {
                let n = Glibc.send(fd, b.baseAddress! + sent, b.count - sent, Int32(MSG_NOSIGNAL))
                if n > 0 { sent += n; continue }
                if n < 0 && errno == EINTR { continue }
                if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                    var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                    if poll(&p, 1, Int32(config.timeoutMillis)) > 0 { continue }
                }
                return false
            }
            return true
        }
        if !ok { connectionLost(i) }
    }

    /// Data (or EOF) on worker `i`'s active connection.
    private func readable(_ i: Int) {
        guard workers[i].active >= 0 else { return }
        let fd = workers[i].fds[workers[i].active]
        while true {
            if workers[i].filled == workers[i].buffer.count {
                workers[i].buffer.append(contentsOf: [UInt8](repeating: 0, count: workers[i].buffer.count))
            }
            let filled = workers[i].filled
            let n = workers[i].buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + filled, $0.count - filled, Int32(MSG_DONTWAIT)) }
            if n > 0 {
                workers[i].filled += n
                if complete(i) { return }
                continue
            }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return }
            // The server closed after part of an answer: one without a length ends at the close.
            if n == 0 && workers[i].filled > 0 && complete(i, eof: true) { return }
            connectionLost(i)
            return
        }
    }

    /// If a whole answer is buffered, finishes the call and starts the next; returns whether it did.
    /// `eof`: the server closed, so an answer without a length ends here.
    private func complete(_ i: Int, eof: Bool = false) -> Bool {
        switch HTTPResponseParser.parse(workers[i].buffer, count: workers[i].filled, eof: eof, limits: HTTPConnection.limits) {
        case .incomplete:
            return false
        case .invalid(let e):
            // Cut short by the close: counted as `closed` by the caller, like a close before any byte.
            if eof && e != .badStatusLine { return false }
            closeActive(i)
            finish(i, failure: CallFailure.protocolError(e.description).kind, end: Self.now())
            return true
        case .complete(let r):
            if !r.reusable { closeActive(i) }
            workers[i].active = -1
            finish(i, failure: (200..<300).contains(r.status) ? nil : CallFailure.status(r.status).kind, end: Self.now())
            return true
        }
    }

    /// The active connection closed or failed before a whole answer: retry once on a fresh connection if
    /// it was a kept-alive one that sent nothing back, else count `closed`.
    private func connectionLost(_ i: Int) {
        let slot = workers[i].active
        let retry = workers[i].reused && workers[i].filled == 0 && !workers[i].retried
        closeActive(i)
        if retry {
            workers[i].retried = true
            send(i, slot: slot)
        } else {
            finish(i, failure: CallFailure.closed.kind, end: Self.now())
        }
    }

    private func closeActive(_ i: Int) {
        workers[i].connecting = false
        let slot = workers[i].active
        guard slot >= 0 else { return }
        if workers[i].fds[slot] >= 0 { close(workers[i].fds[slot]) }
        workers[i].fds[slot] = -1
        workers[i].active = -1
    }

    /// Records the call and starts the next one (after 10 ms if `backOff`).
    private func finish(_ i: Int, failure: String?, end: UInt64, backOff: Bool = false) {
        workers[i].active = -1
        samples.append(CallSample(endNanos: end &- t0, latencyNanos: end &- workers[i].startNanos, failure: failure))
        if end >= deadline {
            workers[i].done = true
        } else if backOff {
            workers[i].wakeAtNanos = end + 10_000_000
        } else {
            startCall(i)
        }
    }

    /// A non-blocking socket with TCP_NODELAY, connecting to `host:port`; `inProgress` when the connect
    /// completes later (POLLOUT, then SO_ERROR).
    private static func connect(host: String, port: Int) -> Result<(Int32, inProgress: Bool), CallFailure> {
        let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard s >= 0 else { return .failure(.connect(errno)) }
        var one: Int32 = 1
        setsockopt(s, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        _ = fcntl(s, F_SETFL, fcntl(s, F_GETFL) | O_NONBLOCK)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, host == "localhost" ? "127.0.0.1" : host, &addr.sin_addr) == 1 else {
            close(s)
            return .failure(.protocolError("'\(host)' is not an IPv4 address"))
        }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(s, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if rc != 0 {
            let e = errno
            if e == EINPROGRESS || e == EINTR { return .success((s, inProgress: true)) }
            close(s)
            return .failure(e == ETIMEDOUT ? .timeout : .connect(e))
        }
        return .success((s, inProgress: false))
    }
}
