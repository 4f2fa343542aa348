// The fast detector's edge: its own thread, its own socket, real-time priority when allowed.
#if canImport(Glibc)
import Glibc
#endif
import Cryptography
import Foundation
import Logging
import Synchronization
import Topology
import VRRP
import Net
import Syscall

/// What the detector thread has seen, for the status page and logs. Read with
/// ``FastDetectorLoop/snapshot``. In JSON the durations are whole milliseconds.
public struct FastDetectorStats: Sendable, Equatable, Codable {
    /// Whether the peer is currently heard.
    public var peerUp = false
    /// Probes sent and accepted.
    public var probesSent = 0, probesReceived = 0
    /// Times the peer was declared down.
    public var peerDowns = 0
    /// Ticks discounted because this thread itself fired late (``FastDetectorAction/ownStall(late:)``).
    public var ownStalls = 0
    /// The latest a tick fired past its deadline, and the longest gap between two of the peer's probes.
    public var worstOwnStall: Duration = .zero, worstProbeGap: Duration = .zero
    /// `SCHED_FIFO` priority the thread runs at, or `nil` when it was not permitted.
    public var realtimePriority: Int32?
    /// Dropped probes by reason code.
    public var drops: [String: Int] = [:]
    /// Creates empty stats.
    public init() {}

    enum CodingKeys: String, CodingKey {
        case peerUp = "peer_up", probesSent = "probes_sent", probesReceived = "probes_received", peerDowns = "peer_downs"
        case ownStalls = "own_stalls", worstOwnStall = "worst_own_stall_ms", worstProbeGap = "worst_probe_gap_ms"
        case realtimePriority = "realtime_priority", drops
    }

    /// Reads the JSON form back.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        peerUp = try c.decode(Bool.self, forKey: .peerUp)
        probesSent = try c.decode(Int.self, forKey: .probesSent); probesReceived = try c.decode(Int.self, forKey: .probesReceived)
        peerDowns = try c.decode(Int.self, forKey: .peerDowns); ownStalls = try c.decode(Int.self, forKey: .ownStalls)
        worstOwnStall = try c.decodeMilliseconds(.worstOwnStall); worstProbeGap = try c.decodeMilliseconds(.worstProbeGap)
        realtimePriority = try c.decodeIfPresent(Int32.self, forKey: .realtimePriority)
        drops = try c.decode([String: Int].self, forKey: .drops)
    }

    /// Writes the JSON form (`realtime_priority` is `null` at normal priority).
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(peerUp, forKey: .peerUp); try c.encode(probesSent, forKey: .probesSent)
        try c.encode(probesReceived, forKey: .probesReceived); try c.encode(peerDowns, forKey: .peerDowns)
        try c.encode(ownStalls, forKey: .ownStalls)
        try c.encodeMilliseconds(worstOwnStall, .worstOwnStall); try c.encodeMilliseconds(worstProbeGap, .worstProbeGap)
        try c.encode(realtimePriority, forKey: .realtimePriority); try c.encode(drops, forKey: .drops)
    }
}

/// Runs a ``FastDetector`` on a dedicated thread: blocking `poll` on the probe socket and a wake pipe,
/// with the timeout set to the detector's next tick.
///
/// Why a thread of its own (and not the VRRP loop, or the Swift cooperative pool): a probe every
/// 20 ms judged after 3 misses leaves no room for the loop to be busy writing the status file,
/// logging, talking to rtnetlink or waiting for a witness, nor for a task to wait behind other tasks.
/// The thread asks for `SCHED_FIFO` (``FastDetectorOptions/realtimePriority``) so that on a loaded host
/// both the sender's probes and the receiver's judgement run as soon as they are due; where that is
/// not permitted it logs one line and runs at normal priority. It spawns nothing (a real-time
/// policy would be inherited by threads and processes it started).
///
/// It drains every queued probe before judging a due tick, and the detector itself discounts ticks
/// that fired late (our own stall, see ``FastDetector``). When the peer is declared down it calls
/// `onPeerDown` (the VRRP loop then feeds ``VRRPEvent/peerDownDetected(now:)`` to its machine).
///
/// Probes carry the pair's key tag but the replay guard here is not stored across restarts, unlike
/// the adverts' (``ReplayRecordFile``): a replayed probe can only make the detector believe a peer is
/// up, which delays a fast takeover and never causes one, and the VRRP timers still bound that.
///
/// `@unchecked Sendable` is safe: the detector, the socket and the replay guard are touched only by
/// the detector thread; `stopRequested` is atomic, `stats` a `Mutex`, and the wake pipe's `write` is
/// thread-safe.
public final class FastDetectorLoop: @unchecked Sendable {
    private let options: FastDetectorOptions
    private let vrid: UInt8
    private let source: IPAddress
    private let authenticator: HMACSHA256
    private let socket: ProbeSocket
    private var detector: FastDetector
    private var replay = ReplayGuard()
    private let clock: @Sendable () -> Duration
    private let onPeerDown: @Sendable (_ misses: Int, _ silentFor: Duration) -> Void
    private let logger: Logger
    private let wakeRead: Int32, wakeWrite: Int32
    private let stopRequested = Atomic<Bool>(false)
    private let finished = DispatchSemaphore(value: 0)
    private var started = false
    private let stats = Mutex(FastDetectorStats())
    private var stallsSinceLog = 0
    private var lastStallLog: Duration = .zero

    /// Opens the probe socket. `clock` is the VRRP loop's monotonic clock; `onPeerDown` is called on
    /// the detector thread.
    public init(options: FastDetectorOptions, vrid: UInt8, interface: String, source: IPAddress, key: [UInt8],
                logger: Logger, clock: @escaping @Sendable () -> Duration,
                onPeerDown: @escaping @Sendable (_ misses: Int, _ silentFor: Duration) -> Void) throws(SystemCallError) {
        self.options = options; self.vrid = vrid; self.source = source
        self.authenticator = HMACSHA256(key: key)
        self.logger = logger; self.clock = clock; self.onPeerDown = onPeerDown
        socket = try ProbeSocket(interface: interface, localAddress: source, port: options.port)
        detector = FastDetector(probeInterval: options.interval, missLimit: options.missLimit,
                                sequenceStart: Clocks.wallMicroseconds(), stallTolerance: options.stallTolerance)
        var p: [Int32] = [0, 0]
        try syscall("pipe", "fast detector wake pipe") { pipe(&p) }
        wakeRead = p[0]; wakeWrite = p[1]
        for f in p { _ = fcntl(f, F_SETFL, fcntl(f, F_GETFL) | O_NONBLOCK); _ = fcntl(f, F_SETFD, FD_CLOEXEC) }
    }

    deinit { close(wakeRead); close(wakeWrite) }

    /// A copy of the counters.
    public var snapshot: FastDetectorStats { stats.withLock { $0 } }

    /// Starts the detector thread.
    public func start() {
        guard !started else { return }
        started = true
        let t = Thread { [self] in
            run()
            finished.signal()
        }
        t.name = "vrrp-\(vrid)-probe"
        t.start()
    }

    /// Stops the thread and waits (at most a second) for it to end.
    public func shutdown() {
        guard started else { return }
        stopRequested.store(true, ordering: .sequentiallyConsistent)
        var b: UInt8 = 1
        _ = write(wakeWrite, &b, 1)
        _ = finished.wait(timeout: .now() + 1)
        started = false
    }

    private func run() {
        if RealtimeScheduling.raiseCurrentThread(to: options.realtimePriority, what: "fast detector probe thread", logger: logger) {
            stats.withLock { $0.realtimePriority = options.realtimePriority }
        }
        var deadline: Duration?
        apply(detector.on(.start(now: clock())), deadline: &deadline)
        while !stopRequested.load(ordering: .sequentiallyConsistent) {
            var fds = [pollfd(fd: socket.fd, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)]
            _ = poll(&fds, 2, Self.timeoutMilliseconds(until: deadline, now: clock()))
            if fds[1].revents != 0 {
                var buf = [UInt8](repeating: 0, count: 16)
                while read(wakeRead, &buf, buf.count) > 0 {}
            }
            if stopRequested.load(ordering: .sequentiallyConsistent) { break }
            // Always drain, even on a timeout: a probe that arrived after poll returned still counts
            // for the interval about to be judged.
            receive(&deadline)
            if let d = deadline, clock() >= d {
                deadline = nil
                apply(detector.on(.timerFired(now: clock())), deadline: &deadline)
            }
        }
        apply(detector.on(.stop), deadline: &deadline)
    }

    /// Milliseconds until `deadline`, rounded up so the loop never wakes just before it and spins.
    static func timeoutMilliseconds(until deadline: Duration?, now: Duration) -> Int32 {
        guard let d = deadline else { return 1000 }
        let left = d - now
        if left <= .zero { return 0 }
        let (s, a) = left.components
        return Int32(clamping: min(1000, s * 1000 + (a + 999_999_999_999_999) / 1_000_000_000_000_000))
    }

    private func receive(_ deadline: inout Duration?) {
        for _ in 0..<64 {
            let r: (bytes: [UInt8], from: IPAddress)?
            do { r = try socket.receive() } catch { logger.warning("probe receive failed: \(error)"); return }
            guard let r else { return }
            guard r.from == options.peer else { count("probe_unknown_sender"); continue }
            switch FastProbe.decode(r.bytes, vrid: vrid, source: r.from, authenticator: authenticator) {
            case .failure(let e): count("probe_" + e.code)
            case .success(let seq):
                if case .failure(let e) = replay.accept(seq, from: r.from) { count("probe_" + e.code); continue }
                stats.withLock { $0.probesReceived += 1 }
                apply(detector.on(.probeReceived(sequence: seq, now: clock())), deadline: &deadline)
            }
        }
    }

    private func count(_ code: String) { stats.withLock { $0.drops[code, default: 0] += 1 } }

    private func apply(_ actions: [FastDetectorAction], deadline: inout Duration?) {
        for a in actions {
            switch a {
            case .sendProbe(let seq):
                let probe: [UInt8]
                do { probe = try FastProbe.encode(vrid: vrid, sequence: seq, source: source, authenticator: authenticator) } catch {
                    count("probe_crypto_error")
                    logger.error("fast detector: probe not sent, its tag could not be computed", metadata: ["error": "\(error)"])
                    continue
                }
                do {
                    try socket.send(probe, to: options.peer, port: options.port)
                    stats.withLock { $0.probesSent += 1 }
                } catch { logger.debug("probe send failed: \(error)") }
            case .setTimer(let d): deadline = d
            case .cancelTimer: deadline = nil
            case .peerDown(let misses, let last):
                let silent = clock() - last
                stats.withLock { $0.peerDowns += 1; $0.peerUp = false }
                logger.info("fast detector: peer down", metadata: [
                    "misses": "\(misses)", "silent_for": "\(silent)",
                    "probe_gap_ms": "\(detector.worstGap.wholeMilliseconds)",
                    "own_stall_ms": "\(detector.worstStall.wholeMilliseconds)"])
                onPeerDown(misses, silent)
            case .peerUp:
                stats.withLock { $0.peerUp = true }
                logger.info("fast detector: peer up")
            case .ownStall(let late):
                stats.withLock { $0.ownStalls += 1 }
                // At most one line a second, with the count: a starved host must not also flood its log.
                stallsSinceLog += 1
                let t = clock()
                if t - lastStallLog >= .seconds(1) {
                    logger.notice("fast detector: own thread stalled; interval not counted as a miss", metadata: [
                        "late_ms": "\(late.wholeMilliseconds)", "stalls": "\(stallsSinceLog)"])
                    stallsSinceLog = 0
                    lastStallLog = t
                }
            }
        }
        let (gap, stall) = (detector.worstGap, detector.worstStall)
        let grew = stats.withLock { s -> Bool in
            let g = gap > s.worstProbeGap || stall > s.worstOwnStall
            s.worstProbeGap = gap; s.worstOwnStall = stall
            return g
        }
        // New worsts above two intervals are worth a line: they are how close a false takeover came.
        if grew && (gap > options.interval * 2 || stall > options.interval * 2) {
            logger.info("fast detector: worst so far", metadata: [
                "probe_gap_ms": "\(gap.wholeMilliseconds)", "own_stall_ms": "\(stall.wholeMilliseconds)"])
        }
    }
}

/// `SCHED_FIFO` for the calling thread, with a fallback that is only a log line.
enum RealtimeScheduling {
    /// Moves the calling thread to `SCHED_FIFO` at `priority`; `nil` leaves it alone. Returns whether
    /// it now runs real-time. A refusal (no `CAP_SYS_NICE`, a container without RT budget) is logged
    /// once and the thread carries on at normal priority.
    @discardableResult
    static func raiseCurrentThread(to priority: Int32?, what: String, logger: Logger) -> Bool {
        guard let priority else {
            logger.info("\(what): real-time priority off; running at normal priority")
            return false
        }
        var param = sched_param(sched_priority: priority)
        let r = pthread_setschedparam(pthread_self(), Int32(SCHED_FIFO), &param)
        if r == 0 {
            logger.info("\(what) runs SCHED_FIFO", metadata: ["priority": "\(priority)"])
            return true
        }
        logger.notice("\(what): SCHED_FIFO \(priority) not permitted (\(String(cString: strerror(r)))); running at normal priority")
        return false
    }

    /// Puts the calling thread back to `SCHED_OTHER`, so what it starts (threads, processes) does not
    /// inherit a real-time policy.
    static func lowerCurrentThread() {
        var param = sched_param(sched_priority: 0)
        _ = pthread_setschedparam(pthread_self(), Int32(SCHED_OTHER), &param)
    }
}
