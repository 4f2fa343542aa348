// The edge that runs one VRRP instance: sockets, timers, rtnetlink, announcements, status.
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

/// Options of the fast detector.
public struct FastDetectorOptions: Sendable, Equatable {
    /// Probe period.
    public var interval: Duration
    /// Missed periods before the peer is declared down.
    public var missLimit: Int
    /// The peer director's address.
    public var peer: IPAddress
    /// UDP port on both sides.
    public var port: UInt16
    /// How late a tick may fire and still count as evidence (``FastDetector/stallTolerance``);
    /// `nil`: one interval.
    public var stallTolerance: Duration?
    /// `SCHED_FIFO` priority (1–99) for the detector thread; `nil` runs it at normal priority. When
    /// the kernel refuses (no `CAP_SYS_NICE`, RT throttled to zero), it runs at normal priority and
    /// says so in one log line.
    public var realtimePriority: Int32?
    /// The default real-time priority: above ordinary work, below the kernel's own RT threads (50).
    public static let defaultRealtimePriority: Int32 = 10
    /// Creates options.
    public init(interval: Duration, missLimit: Int, peer: IPAddress, port: UInt16 = FastProbe.defaultPort,
                stallTolerance: Duration? = nil, realtimePriority: Int32? = FastDetectorOptions.defaultRealtimePriority) {
        self.interval = interval; self.missLimit = missLimit; self.peer = peer; self.port = port
        self.stallTolerance = stallTolerance; self.realtimePriority = realtimePriority
    }
}

/// Everything one instance needs besides the state machine's configuration.
public struct VRRPInstanceOptions: Sendable {
    /// The election parameters.
    public var config: VRRPConfiguration
    /// Interface the adverts run on and the VIPs are added to.
    public var interface: String
    /// Interface the VIPs go on and are announced on, when it is not the heartbeat interface
    /// (a dedicated heartbeat link, which the split-brain rule needs to tell a cut link from a dead peer).
    public var vipInterface: String?
    /// Unicast peers; empty means the multicast group (224.0.0.18 / ff02::12).
    public var unicastPeers: [IPAddress]
    /// Shared key: adverts are sealed and checked with ``AuthenticatedAdvert`` (HMAC-SHA256 from
    /// libcrypto, ``Cryptography/HMACSHA256``); `nil` is plain VRRPv3.
    public var authKey: [UInt8]?
    /// Where the replay guard's memory is kept across restarts (``ReplayRecordFile``), with a key;
    /// `nil`: a restarted instance trusts the first authentic advert again (a replayed recording would then be accepted).
    public var replayRecordFile: String?
    /// The optional fast detector.
    public var fastDetector: FastDetectorOptions?
    /// Evidence gathering for the split-brain rule (required when `config.splitBrain` is `.witness`).
    public var witness: WitnessProbe?
    /// A JSON file rewritten (atomically) on every transition.
    public var statusFile: String?
    /// `SCHED_FIFO` priority for the loop thread itself (adverts, timers, VIP moves), `nil`: normal
    /// priority. ``DirectorSetup`` sets it with the fast detector: a 0.1 s advert master starved for
    /// Master_Down_Interval is a false takeover too. Refused → one log line, normal priority.
    /// Witness checks run on a thread that drops back to normal priority before it starts anything.
    public var realtimePriority: Int32?

    /// The interfaces whose link state puts the instance in Fault: the one the VIPs are held on.
    ///
    /// keepalived by default also tracks the interface its adverts run on (unless
    /// `dont_track_primary`). Tandem does not, when that is a separate heartbeat link: a cut heartbeat
    /// between two live directors is the split-brain rule's case, and on the usual back-to-back
    /// heartbeat cable a cut takes the carrier from *both* ends, so tracking it would put both
    /// directors in Fault and leave the VIP on neither (keepalived issue 2413). The service link is
    /// what the VIPs need; losing it is what must make a master let go. With one link for both, that
    /// link is tracked. See docs/director.md, "Fault state".
    public var trackedInterfaces: [String] { [vipInterface ?? interface] }

    /// Creates options.
    public init(config: VRRPConfiguration, interface: String, vipInterface: String? = nil, unicastPeers: [IPAddress] = [],
                authKey: [UInt8]? = nil, replayRecordFile: String? = nil, fastDetector: FastDetectorOptions? = nil,
                witness: WitnessProbe? = nil, statusFile: String? = nil, realtimePriority: Int32? = nil) {
        self.config = config; self.interface = interface; self.vipInterface = vipInterface
        self.unicastPeers = unicastPeers; self.authKey = authKey; self.replayRecordFile = replayRecordFile
        self.fastDetector = fastDetector; self.witness = witness; self.statusFile = statusFile
        self.realtimePriority = realtimePriority
    }
}

/// A state change as the edge reports it (stdout, status file, later `/status` in tandemd).
public struct TransitionRecord: Sendable, CustomStringConvertible {
    /// Previous state.
    public var from: VRRPState
    /// New state.
    public var to: VRRPState
    /// Why.
    public var reason: TransitionReason
    /// Wall-clock time, ISO 8601 with milliseconds.
    public var at: String
    /// VRID.
    public var vrid: UInt8
    /// One log line.
    public var description: String { "\(at) vrid=\(vrid) \(from) -> \(to): \(reason)" }
}

/// A snapshot of one instance for a status page (`tandemd`'s `/status` and `/metrics`) and, encoded
/// with ``StatusJSON``, the `--status-file` of `tandem-vrrp` (scripts read it with `jq`). Taken on the
/// loop thread on every transition and about once a second; read from any thread with
/// ``VRRPInstance/status``.
public struct VRRPStatus: Sendable, Equatable, Codable {
    /// One transition, newest last in ``recent``.
    public struct Transition: Sendable, Equatable, Codable {
        /// Wall-clock time, ISO 8601 with milliseconds.
        public var at: String
        /// Previous state.
        public var from: String
        /// New state.
        public var to: String
        /// Why, in words.
        public var reason: String
        /// A stable label for metrics (`master_down`, `fast_detector`, …).
        public var reasonCode: String
        /// Creates a record.
        public init(at: String, from: String, to: String, reason: String, reasonCode: String) {
            self.at = at; self.from = from; self.to = to; self.reason = reason; self.reasonCode = reasonCode
        }
        enum CodingKeys: String, CodingKey { case at, from, to, reason, reasonCode = "reason_code" }
    }
    /// The last advert heard from the peer.
    public struct Peer: Sendable, Equatable, Codable {
        /// Its source address.
        public var address: String
        /// Its advertised priority.
        public var priority: Int
        /// When it arrived, seconds since the Unix epoch.
        public var lastSeenUnix: Double
        /// Creates a record.
        public init(address: String, priority: Int, lastSeenUnix: Double) {
            self.address = address; self.priority = priority; self.lastSeenUnix = lastSeenUnix
        }
        enum CodingKeys: String, CodingKey { case address, priority, lastSeenUnix = "last_seen_unix" }
    }
    /// VRID.
    public var vrid: Int
    /// `initialize`, `backup`, `master` or `fault`.
    public var state: String
    /// Our priority.
    public var priority: Int
    /// The VIPs this instance moves.
    public var vips: [String]
    /// The tracked interfaces that are down (`a0: no carrier`); non-empty exactly in state `fault`
    /// (and before startup).
    public var linksDown: [String] = []
    /// Whether this node has the VIPs on its interface now.
    public var vipsHeld: Bool
    /// Transitions since start.
    public var transitions: Int
    /// The last few transitions (at most ``VRRPInstance/recentTransitionLimit``), oldest first.
    public var recent: [Transition]
    /// The peer as last heard, if ever.
    public var peer: Peer?
    /// Adverts sent.
    public var advertsSent: Int
    /// Adverts accepted.
    public var advertsReceived: Int
    /// Dropped packets by reason code.
    public var drops: [String: Int]
    /// Fast detector settings (`20ms x3`), or `nil` when off.
    public var fastDetector: String?
    /// The split-brain witness, when the pair names one.
    public var witness: String?
    /// The fast detector's counters (probes, peer downs, own stalls, worst gap), when it runs.
    public var fastDetectorStats: FastDetectorStats?
    /// How punctual the VRRP loop itself has been (timers, adverts, slow steps).
    public var loop = VRRPLoopStats()

    /// Creates a snapshot (the instance makes them; tests and status pages may too).
    public init(vrid: Int, state: String, priority: Int, vips: [String], vipsHeld: Bool, transitions: Int, recent: [Transition],
                peer: Peer?, advertsSent: Int, advertsReceived: Int, drops: [String: Int], fastDetector: String?, witness: String?,
                fastDetectorStats: FastDetectorStats? = nil) {
        self.vrid = vrid; self.state = state; self.priority = priority; self.vips = vips; self.vipsHeld = vipsHeld
        self.transitions = transitions; self.recent = recent; self.peer = peer; self.advertsSent = advertsSent
        self.advertsReceived = advertsReceived; self.drops = drops; self.fastDetector = fastDetector; self.witness = witness
        self.fastDetectorStats = fastDetectorStats
    }

    enum CodingKeys: String, CodingKey {
        case vrid, state, priority, vips, linksDown = "links_down", vipsHeld = "vips_held", transitions, recent, peer
        case advertsSent = "adverts_sent", advertsReceived = "adverts_received", drops
        case fastDetector = "fast_detector", witness, fastDetectorStats = "fast_detector_stats", loop
    }

    /// Writes every key, `null` included, so a reader (a script's `jq`) always finds the field.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(vrid, forKey: .vrid); try c.encode(state, forKey: .state); try c.encode(priority, forKey: .priority)
        try c.encode(vips, forKey: .vips); try c.encode(linksDown, forKey: .linksDown); try c.encode(vipsHeld, forKey: .vipsHeld); try c.encode(transitions, forKey: .transitions)
        try c.encode(recent, forKey: .recent); try c.encode(peer, forKey: .peer)
        try c.encode(advertsSent, forKey: .advertsSent); try c.encode(advertsReceived, forKey: .advertsReceived)
        try c.encode(drops, forKey: .drops); try c.encode(fastDetector, forKey: .fastDetector); try c.encode(witness, forKey: .witness)
        try c.encode(fastDetectorStats, forKey: .fastDetectorStats); try c.encode(loop, forKey: .loop)
    }
}

/// How punctual the VRRP loop thread has been since start: the evidence for telling a late sender, a
/// late receiver and a slow step apart when a backup took over although the master lived. In JSON the
/// durations are whole milliseconds (`worst_timer_late_ms`, …).
public struct VRRPLoopStats: Sendable, Equatable, Codable {
    /// The latest any timer (Adver_Timer, Master_Down_Timer, …) was handled past its deadline.
    public var worstTimerLate: Duration = .zero
    /// Longest time between two adverts this node sent while master.
    public var worstSendGap: Duration = .zero
    /// Longest time between two adverts accepted from the master while backup.
    public var worstReceiveGap: Duration = .zero
    /// The slowest single step of the loop (handling an event, the status snapshot) and its name.
    public var worstStep: Duration = .zero
    /// Name of ``worstStep`` (`advert`, `timer:advert`, `status`, …).
    public var worstStepName = ""
    /// The longest one status-file write took on its writer thread: how long the loop would have
    /// stalled had it written the file itself.
    public var worstStatusWrite: Duration = .zero
    /// Creates empty stats.
    public init() {}

    enum CodingKeys: String, CodingKey {
        case worstTimerLate = "worst_timer_late_ms", worstSendGap = "worst_send_gap_ms", worstReceiveGap = "worst_receive_gap_ms"
        case worstStep = "worst_step_ms", worstStepName = "worst_step", worstStatusWrite = "worst_status_write_ms"
    }

    /// Reads the JSON form back (durations in whole milliseconds).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        worstTimerLate = try c.decodeMilliseconds(.worstTimerLate); worstSendGap = try c.decodeMilliseconds(.worstSendGap)
        worstReceiveGap = try c.decodeMilliseconds(.worstReceiveGap); worstStep = try c.decodeMilliseconds(.worstStep)
        worstStepName = try c.decode(String.self, forKey: .worstStepName); worstStatusWrite = try c.decodeMilliseconds(.worstStatusWrite)
    }

    /// Writes the JSON form (durations in whole milliseconds).
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeMilliseconds(worstTimerLate, .worstTimerLate); try c.encodeMilliseconds(worstSendGap, .worstSendGap)
        try c.encodeMilliseconds(worstReceiveGap, .worstReceiveGap); try c.encodeMilliseconds(worstStep, .worstStep)
        try c.encode(worstStepName, forKey: .worstStepName); try c.encodeMilliseconds(worstStatusWrite, .worstStatusWrite)
    }
}

/// Runs a ``VRRPStateMachine`` against real sockets and the monotonic clock, on one dedicated thread
/// with a `poll` loop: blocking calls never touch the cooperative pool, and the machine is only ever
/// touched by that thread. The optional ``FastDetector`` runs on a second thread of its own
/// (``FastDetectorLoop``) and signals a peer-down through an atomic flag and the wake pipe.
///
/// `@unchecked Sendable` is safe because every mutable field is touched only by the loop thread
/// (inside ``run()``), except `stopRequested`, `peerDown` and `mailbox`, which are
/// `Mutex`/`Atomic`-protected, and the wake pipe, whose `write` is thread-safe.
public final class VRRPInstance: @unchecked Sendable {
    private var options: VRRPInstanceOptions
    private var logger: Logger
    private let onTransition: @Sendable (TransitionRecord) -> Void
    private var machine: VRRPStateMachine
    private var fastLoop: FastDetectorLoop?
    private let peerDown = PeerDownFlag()
    private let socket: VRRPSocket
    private let addresses: AddressNetlink
    private let links: LinkWatch
    private let announcer: Announcer
    private let authenticator: HMACSHA256?
    private var replay = ReplayGuard()
    /// Stores ``replay``'s memory after every accepted advert (``ReplayRecordFile``), when configured.
    private let replayWriter: BackgroundFileWriter?
    private var sequence = SequenceNumbers(start: Clocks.wallMicroseconds())
    private let epoch = Clocks.monotonic()
    private let wakeRead: Int32
    private let wakeWrite: Int32
    private let stopRequested = Atomic<Bool>(false)
    /// Monotonic nanoseconds (since `epoch`) of the first ``shutdown()`` call; 0 = none.
    private let stopRequestedAt = Atomic<Int64>(0)
    private let mailbox = Mutex<[VRRPEvent]>([])
    private let pendingOptions = Mutex<VRRPInstanceOptions?>(nil)
    private let statusWriter: BackgroundFileWriter?
    private var loopStats = VRRPLoopStats()
    private var lastSent: Duration?
    private var lastReceived: Duration?
    private var vipsHeld = false
    private let snapshot: Mutex<VRRPStatus>
    private var recent: [VRRPStatus.Transition] = []
    /// How many transitions ``VRRPStatus/recent`` keeps.
    public static let recentTransitionLimit = 16

    /// Dropped packets by reason code (``VRRPDecodeError/code``, ``AuthenticationError/code``).
    public private(set) var drops: [String: Int] = [:]
    /// Adverts sent and accepted.
    public private(set) var advertsSent = 0, advertsReceived = 0

    /// Opens the sockets. Needs root (raw sockets, rtnetlink, AF_PACKET).
    public init(options: VRRPInstanceOptions, logger: Logger,
                onTransition: @escaping @Sendable (TransitionRecord) -> Void) throws(SystemCallError) {
        self.options = options
        self.logger = logger
        self.logger[metadataKey: "vrid"] = "\(options.config.vrid)"
        self.onTransition = onTransition
        machine = VRRPStateMachine(config: options.config)
        socket = try VRRPSocket(interface: options.interface, localAddress: options.config.primaryAddress)
        addresses = try AddressNetlink(interface: options.vipInterface ?? options.interface)
        links = try LinkWatch(interfaces: options.trackedInterfaces)
        announcer = try Announcer(interface: options.vipInterface ?? options.interface)
        authenticator = options.authKey.map { HMACSHA256(key: $0) }
        replayWriter = options.authKey == nil ? nil
            : options.replayRecordFile.map { BackgroundFileWriter(path: $0, what: "replay record", logger: logger) }
        let c = options.config
        snapshot = Mutex(VRRPStatus(
            vrid: Int(c.vrid), state: "\(VRRPState.initialize)", priority: Int(c.priority), vips: c.virtualAddresses.map(\.description),
            vipsHeld: false, transitions: 0, recent: [], peer: nil, advertsSent: 0, advertsReceived: 0, drops: [:],
            fastDetector: options.fastDetector.map { "\($0.interval.wholeMilliseconds)ms x\($0.missLimit)" },
            witness: options.witness.map { "\($0.witness)" }))
        var p: [Int32] = [0, 0]
        try syscall("pipe", "wake pipe") { pipe(&p) }
        wakeRead = p[0]; wakeWrite = p[1]
        // Non-blocking both ways: a full pipe must never block a caller of shutdown() or the loop.
        for f in p { _ = fcntl(f, F_SETFL, fcntl(f, F_GETFL) | O_NONBLOCK); _ = fcntl(f, F_SETFD, FD_CLOEXEC) }
        statusWriter = options.statusFile.map { BackgroundFileWriter(path: $0, what: "status file", logger: logger) }
        if let fd = options.fastDetector { fastLoop = try makeFastLoop(fd, options) }
        restoreReplayRecord()
    }

    /// Gives the replay guard the memory of this instance's previous run, so adverts recorded before
    /// the restart stay refused (``ReplayGuard``). A missing record is a first start;
    /// an unreadable one is reported and treated like a first start: refusing to start would turn a
    /// damaged file into a director that cannot run.
    private func restoreReplayRecord() {
        guard authenticator != nil else { return }
        guard let path = options.replayRecordFile else {
            logger.notice("vrrp: no replay record file: after a restart the first authentic advert from each peer is trusted")
            return
        }
        do {
            if let record = try ReplayRecordFile.load(path) {
                replay = ReplayGuard(restoring: record)
                logger.info("vrrp: replay record restored", metadata: [
                    "path": "\(path)", "senders": "\(record.senders.map { "\($0.address)@\($0.highestSequence)" }.joined(separator: ","))"])
            } else {
                logger.notice("vrrp: no replay record yet (first start): the first authentic advert from each peer is trusted",
                              metadata: ["path": "\(path)"])
            }
        } catch {
            logger.error("\(error)")
        }
    }

    /// The detector thread reaches the loop only through the flag and the wake pipe (no reference
    /// back to self, so no cycle).
    private func makeFastLoop(_ fd: FastDetectorOptions, _ options: VRRPInstanceOptions) throws(SystemCallError) -> FastDetectorLoop {
        let flag = peerDown, wake = wakeWrite, epoch = self.epoch
        return try FastDetectorLoop(
            options: fd, vrid: options.config.vrid, interface: options.interface, source: options.config.primaryAddress,
            key: options.authKey ?? [], logger: self.logger, clock: { Clocks.monotonic() - epoch },
            onPeerDown: { _, _ in
                flag.value.store(true, ordering: .sequentiallyConsistent)
                var b: UInt8 = 4
                _ = write(wake, &b, 1)
            })
    }

    deinit { close(wakeRead); close(wakeWrite) }

    /// Current state (read it from the loop thread or after ``run()`` returned).
    public var state: VRRPState { machine.state }

    /// The latest snapshot; thread-safe. At most about a second old, except right after a transition,
    /// which refreshes it at once.
    public var status: VRRPStatus { snapshot.withLock { $0 } }

    /// Asks the loop to shut down cleanly (priority-0 advert if master, VIPs removed). Thread-safe.
    public func shutdown() {
        let t = now().wholeNanoseconds
        _ = stopRequestedAt.compareExchange(expected: 0, desired: max(1, t), ordering: .sequentiallyConsistent)
        stopRequested.store(true, ordering: .sequentiallyConsistent)
        var b: UInt8 = 1
        _ = write(wakeWrite, &b, 1)
    }

    /// Applies new options live (SIGHUP reload), on the loop thread at its next wake-up; thread-safe.
    /// Interface, VRID, primary address, unicast peers and key must be those the instance was opened
    /// with (``DirectorSetup/liveChange(from:to:)`` refuses the others); what changes: the election
    /// parameters and VIPs (through ``VRRPEvent/reconfigure(_:now:)``), the fast detector (restarted
    /// with the new settings), the witness and the status file's contents.
    public func reconfigure(_ new: VRRPInstanceOptions) {
        pendingOptions.withLock { $0 = new }
        var b: UInt8 = 5
        _ = write(wakeWrite, &b, 1)
    }

    private var stopping: Bool { stopRequested.load(ordering: .sequentiallyConsistent) }

    /// Runs the instance on the calling thread until ``shutdown()``.
    public func run() {
        if options.realtimePriority != nil {
            RealtimeScheduling.raiseCurrentThread(to: options.realtimePriority, what: "VRRP loop", logger: logger)
        }
        // An interface down at start: the machine starts in Fault (it hears of it before Startup).
        for (name, cause) in links.linksDown {
            logger.warning("vrrp: tracked interface down at start", metadata: ["interface": "\(name)", "cause": "\(cause)"])
            apply(machine.on(.interfaceDown(linkFault(name, cause), now: now())))
        }
        apply(machine.on(.startup(now: now())))
        fastLoop?.start()
        writeStatus()
        while !stopping {
            var fds = [pollfd(fd: socket.fd, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: links.fd, events: Int16(POLLIN), revents: 0)]
            _ = poll(&fds, nfds_t(fds.count), timeoutMilliseconds())
            if fds[1].revents != 0 { drainWakePipe() }
            if stopping { break }
            // Link changes before adverts and timers: a master whose link went takes its VIPs off
            // before anything else it does on this wake-up.
            if fds[2].revents != 0 { timed("link") { linkChanges() } }
            if let new = pendingOptions.withLock({ p in defer { p = nil }; return p }) { timed("reconfigure") { applyOptions(new) } }
            for e in mailbox.withLock({ m in defer { m.removeAll() }; return m }) { timed("witness") { apply(machine.on(e)) } }
            // Adverts first: one that arrived together with a peer-down keeps the master a master.
            // Read the socket on every wake-up, not only when poll said so: an advert that arrived
            // after poll returned (say, on a timeout) must still count before Master_Down_Timer is judged.
            receiveAdverts()
            if peerDown.value.exchange(false, ordering: .sequentiallyConsistent) {
                timed("peer-down") { apply(machine.on(.peerDownDetected(now: now()))) }
            }
            fireDueTimers()
            // Counters and "peer last seen" stay fresh in the status file without a write per packet.
            if now() - lastStatusWrite >= .seconds(1) { timed("status") { writeStatus() } }
        }
        resign(noticed: now())
        fastLoop?.shutdown()
        statusWriter?.stop()
        // The last record on this thread: a clean restart leaves no accepted advert unrecorded.
        replayWriter?.finish(with: ReplayRecordFile.encode(replay.record))
    }

    /// The clean stop: priority-0 advert if master, VIPs off, then one line saying how long after the
    /// ``shutdown()`` call that took.
    private func resign(noticed: Duration) {
        let was = machine.state
        apply(machine.on(.shutdown(now: now())))
        if vipsHeld { removeVIPs(options.config.virtualAddresses) }
        let requested = stopRequestedAt.load(ordering: .sequentiallyConsistent)
        let since = requested > 0 ? now() - .nanoseconds(requested) : now() - noticed
        logger.notice("vrrp stopped", metadata: [
            "was": "\(was)",
            "resigned_ms": "\(formatFixed(since.inMilliseconds, 1))",
            "adverts_sent": "\(advertsSent)", "adverts_received": "\(advertsReceived)"])
        writeStatus(sync: true)
    }

    /// Runs `body` and records it in ``VRRPLoopStats/worstStep`` if it is the slowest step yet; a new
    /// worst above a third of the advert interval gets a log line, since such a stall on a master
    /// delays its adverts and on a backup its reading of them.
    private func timed(_ name: String, _ body: () -> Void) {
        let t0 = now()
        body()
        let took = now() - t0
        guard took > loopStats.worstStep else { return }
        loopStats.worstStep = took; loopStats.worstStepName = name
        if took > options.config.advertInterval / 3 {
            logger.notice("vrrp loop: slow step", metadata: ["step": "\(name)", "ms": "\(took.wholeMilliseconds)"])
        }
    }

    /// Runs the instance on a dedicated thread and returns when it stops; cancelling the task shuts it down.
    public func runOnDedicatedThread() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let t = Thread { [self] in
                    run()
                    c.resume()
                }
                t.name = "vrrp-\(options.config.vrid)"
                t.start()
            }
        } onCancel: { shutdown() }
    }

    // MARK: - Loop pieces

    private func now() -> Duration { Clocks.monotonic() - epoch }

    private func timeoutMilliseconds() -> Int32 {
        // Rounded up so we never wake just before a deadline and spin (so a timer fires up to 1 ms late).
        FastDetectorLoop.timeoutMilliseconds(until: machine.nextDeadline?.deadline, now: now())
    }

    private func drainWakePipe() {
        var buf = [UInt8](repeating: 0, count: 64)
        for _ in 0..<16 where read(wakeRead, &buf, buf.count) > 0 {}
    }

    private func fireDueTimers() {
        for _ in 0..<64 {
            let t = now()
            if let (timer, d) = machine.nextDeadline, d <= t {
                if t - d > loopStats.worstTimerLate {
                    loopStats.worstTimerLate = t - d
                    if t - d > options.config.advertInterval / 3 {
                        logger.notice("vrrp loop: timer fired late", metadata: ["timer": "\(timer)", "late_ms": "\((t - d).wholeMilliseconds)"])
                    }
                }
                if timer == .masterDown, machine.state == .backup {
                    // The evidence for a takeover on silence: when we last heard the master, and what we dropped.
                    logger.notice("vrrp: Master_Down_Timer expired", metadata: [
                        "last_advert_ms_ago": "\(lastReceived.map { "\((t - $0).wholeMilliseconds)" } ?? "never")",
                        "late_ms": "\((t - d).wholeMilliseconds)", "adverts_received": "\(advertsReceived)",
                        "drops": "\(drops.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ","))"])
                }
                timed("timer:\(timer)") { apply(machine.on(.timerFired(timer, now: t))) }
            } else {
                return
            }
        }
    }

    private func linkFault(_ name: String, _ cause: LinkDownCause) -> LinkFault {
        LinkFault(interface: name, cause: cause, carriesAdverts: name == options.interface)
    }

    /// Feeds the tracked interfaces' link changes to the machine.
    private func linkChanges() {
        let changes: [LinkChange]
        do { changes = try links.changes() } catch {
            logger.error("vrrp: reading link changes failed", metadata: ["error": "\(error)"])
            return
        }
        for c in changes {
            switch c {
            case .down(let name, let cause):
                logger.warning("vrrp: tracked interface down", metadata: ["interface": "\(name)", "cause": "\(cause)", "state": "\(machine.state)"])
                apply(machine.on(.interfaceDown(linkFault(name, cause), now: now())))
            case .up(let name):
                logger.notice("vrrp: tracked interface up", metadata: ["interface": "\(name)", "state": "\(machine.state)"])
                apply(machine.on(.interfaceUp(name, now: now())))
            }
        }
    }

    private func drop(_ code: String, _ why: CustomStringConvertible, from: IPAddress?) {
        drops[code, default: 0] += 1
        logger.debug("dropped packet", metadata: ["reason": "\(why)", "from": "\(from.map { "\($0)" } ?? "?")"])
    }

    private func receiveAdverts() {
        for _ in 0..<64 {
            let d: ReceivedDatagram?
            do { d = try socket.receive() } catch { logger.warning("receive failed: \(error)"); return }
            guard let d else { return }
            if d.source == options.config.primaryAddress { continue }  // our own, looped back
            // RFC 5798 §7.1: a TTL/hop limit other than 255 means the packet crossed a router.
            if let ttl = d.ttl, ttl != VRRPPacket.requiredTTL { drop("bad_ttl", VRRPDecodeError.badTTL(ttl), from: d.source); continue }
            let packet: VRRPPacket
            if let authenticator {
                switch AuthenticatedAdvert.open(d.payload, source: d.source, destination: d.destination, authenticator: authenticator) {
                case .failure(let e): drop(e.code, e, from: d.source); continue
                case .success(let (p, seq)):
                    if case .failure(let e) = replay.accept(seq, from: d.source) { drop(e.code, e, from: d.source); continue }
                    replayWriter?.submit(ReplayRecordFile.encode(replay.record))
                    packet = p
                }
            } else {
                switch VRRPPacket.decode(d.payload, source: d.source, destination: d.destination) {
                case .failure(let e): drop(e.code, e, from: d.source); continue
                case .success(let p): packet = p
                }
            }
            guard packet.vrid == options.config.vrid else { drop("wrong_vrid", VRRPDecodeError.wrongVRID(packet.vrid), from: d.source); continue }
            advertsReceived += 1
            let t = now()
            if machine.state == .backup, let last = lastReceived, t - last > loopStats.worstReceiveGap {
                loopStats.worstReceiveGap = t - last
                if t - last > options.config.advertInterval * 2 {
                    logger.notice("vrrp: long gap between the master's adverts", metadata: ["gap_ms": "\((t - last).wholeMilliseconds)"])
                }
            }
            lastReceived = t
            timed("advert") { apply(machine.on(.advertReceived(.init(from: d.source, priority: packet.priority, interval: packet.advertInterval), now: t))) }
        }
    }

    // MARK: - Actions

    /// Performs the machine's actions in order, except that transitions are only *reported* (the
    /// callback, which logs or prints, and the status snapshot) after the batch's effects: at a
    /// takeover the VIPs, the advert and the gratuitous ARP go out first, and a slow log write can
    /// delay nothing but the log.
    private func apply(_ actions: [VRRPAction]) {
        var reports: [TransitionRecord] = []
        for a in actions {
            switch a {
            case .sendAdvert(let prio): sendAdvert(priority: prio)
            case .addVIPs(let vips):
                for v in vips {
                    do { try addresses.add(v) } catch { logger.error("adding VIP failed: \(error)", metadata: ["vip": "\(v)"]) }
                }
                vipsHeld = true
            case .removeVIPs(let vips): removeVIPs(vips)
            case .announceVIPs(let vips):
                do { try announcer.announce(vips) } catch { logger.warning("announce failed: \(error)") }
            case .setTimer, .cancelTimer:
                break  // the machine keeps its deadlines; the loop polls `nextDeadline`
            case .checkWitness: startWitnessCheck()
            case .transition(let from, let to, let reason):
                reports.append(TransitionRecord(from: from, to: to, reason: reason, at: Self.timestamp(), vrid: options.config.vrid))
            }
        }
        for rec in reports {
            onTransition(rec)
            writeStatus(last: rec)
        }
    }

    /// Removes `vips`; the instance holds no VIP afterwards when they were all of them.
    private func removeVIPs(_ vips: [IPAddress]) {
        for v in vips {
            do { try addresses.remove(v) } catch { logger.error("removing VIP failed: \(error)", metadata: ["vip": "\(v)"]) }
        }
        if Set(options.config.virtualAddresses).isSubset(of: Set(vips)) { vipsHeld = false }
    }

    /// Applies reloaded options on the loop thread: the machine gets the new configuration, the fast
    /// detector restarts if its settings changed, and the snapshot shows the new values.
    private func applyOptions(_ new: VRRPInstanceOptions) {
        let old = options
        options.config = new.config
        options.witness = new.witness
        apply(machine.on(.reconfigure(new.config, now: now())))
        if old.fastDetector != new.fastDetector {
            fastLoop?.shutdown()
            fastLoop = nil
            options.fastDetector = nil
            if let fd = new.fastDetector {
                do {
                    fastLoop = try makeFastLoop(fd, options)
                    options.fastDetector = fd
                    fastLoop?.start()
                } catch {
                    logger.error("fast detector could not restart with the reloaded settings; running without it", metadata: ["error": "\(error)"])
                }
            }
            if options.realtimePriority != new.realtimePriority {
                options.realtimePriority = new.realtimePriority
                if new.realtimePriority != nil {
                    RealtimeScheduling.raiseCurrentThread(to: new.realtimePriority, what: "VRRP loop", logger: logger)
                } else {
                    RealtimeScheduling.lowerCurrentThread()
                }
            }
        }
        let c = options.config
        let fast = options.fastDetector.map { "\($0.interval.wholeMilliseconds)ms x\($0.missLimit)" }
        let witness = options.witness.map { "\($0.witness)" }
        snapshot.withLock { s in
            s.priority = Int(c.priority); s.vips = c.virtualAddresses.map(\.description); s.fastDetector = fast; s.witness = witness
        }
        logger.notice("vrrp reconfigured", metadata: [
            "priority": "\(c.priority)", "interval": "\(c.advertInterval)", "preempt": "\(c.preempt)",
            "vips": "\(c.virtualAddresses.map(\.description).joined(separator: ","))", "fast_detector": "\(fast ?? "off")",
            "witness": "\(witness ?? "none")", "state": "\(machine.state)"])
        writeStatus()
    }

    private func sendAdvert(priority: UInt8) {
        let c = options.config
        let vips = c.virtualAddresses.filter { $0.family == c.primaryAddress.family }
        let p = VRRPPacket(vrid: c.vrid, priority: priority, maxAdvertIntervalCentiseconds: VRRPTimers.centiseconds(c.advertInterval),
                           addresses: vips, family: c.primaryAddress.family)
        let group = c.primaryAddress.family == .v4 ? VRRPPacket.ipv4Group : VRRPPacket.ipv6Group
        for dst in options.unicastPeers.isEmpty ? [group] : options.unicastPeers {
            var bytes = p.encode(source: c.primaryAddress, destination: dst)
            if let authenticator {
                do { bytes = try AuthenticatedAdvert.seal(bytes, source: c.primaryAddress, sequence: sequence.take(), authenticator: authenticator) } catch {
                    drops["auth_crypto_error", default: 0] += 1
                    logger.error("advert not sent: its tag could not be computed", metadata: ["error": "\(error)"])
                    continue
                }
            }
            do { try socket.send(bytes, to: dst); advertsSent += 1 } catch { logger.warning("advert send failed: \(error)") }
        }
        let t = now()
        if priority != 0, let last = lastSent, t - last > loopStats.worstSendGap {
            loopStats.worstSendGap = t - last
            if t - last > c.advertInterval * 2 {
                logger.notice("vrrp: long gap between our adverts", metadata: ["gap_ms": "\((t - last).wholeMilliseconds)"])
            }
        }
        lastSent = priority == 0 ? nil : t
    }

    private func startWitnessCheck() {
        guard let probe = options.witness else {
            // Misconfiguration: the policy asks for a witness that was never given. Deny, loudly.
            logger.error("split-brain policy needs a witness but none is configured")
            mailbox.withLock { $0.append(.witnessResult(SplitBrainEvidence(witnessReachable: false), now: now())) }
            return
        }
        let takeover = machine.state == .backup
        if takeover { logger.info("heartbeat lost: consulting the split-brain rule", metadata: ["witness": "\(probe.witness)"]) }
        let t = Thread { [self] in
            // Created by the loop thread, so it may have inherited SCHED_FIFO: ping and the fence
            // command must not.
            RealtimeScheduling.lowerCurrentThread()
            let evidence = probe.gather(takeover: takeover)
            if takeover || !evidence.witnessReachable {
                logger.info("split-brain evidence", metadata: [
                    "witness_reachable": "\(evidence.witnessReachable)",
                    "peer_reachable": "\(evidence.peerReachable.map { "\($0)" } ?? "unknown")",
                    "peer_fenced": "\(evidence.peerFenced.map { "\($0)" } ?? "n/a")",
                    "decision": "\(takeover ? "\(SplitBrainRule.mayTakeOver(evidence))" : "master check")"])
            }
            mailbox.withLock { $0.append(.witnessResult(evidence, now: now())) }
            var b: UInt8 = 2
            _ = write(wakeWrite, &b, 1)
        }
        t.start()
    }

    // MARK: - Status

    private var lastStatusWrite: Duration = .zero

    /// Refreshes the snapshot and hands the status file's JSON (the snapshot itself, through
    /// ``StatusJSON``) to the writer thread (`sync`: writes it on this thread, for the last one at
    /// shutdown). The loop never waits on the file system: a write that blocked in the kernel
    /// (dirty-page throttling on a busy disk) used to delay a master's adverts.
    private func writeStatus(last: TransitionRecord? = nil, sync: Bool = false) {
        if let last {
            recent.append(.init(at: last.at, from: "\(last.from)", to: "\(last.to)", reason: "\(last.reason)", reasonCode: Self.code(last.reason)))
            if recent.count > Self.recentTransitionLimit { recent.removeFirst(recent.count - Self.recentTransitionLimit) }
        }
        lastStatusWrite = now()
        let t = now()
        let wall = Clocks.wallMicroseconds()
        let fastStats = fastLoop?.snapshot
        var dropsNow = drops
        for (k, v) in fastStats?.drops ?? [:] { dropsNow[k, default: 0] += v }
        var loopNow = loopStats
        loopNow.worstStatusWrite = statusWriter?.worstWrite ?? .zero
        let recentNow = recent, held = vipsHeld, sent = advertsSent, received = advertsReceived
        let st = machine.state, count = machine.transitions
        let down = machine.linksDown.map { "\($0.interface): \($0.cause)" }
        let peerNow: VRRPStatus.Peer? = machine.lastAdvert.map { (a, at) in
            .init(address: "\(a.from)", priority: Int(a.priority), lastSeenUnix: Double(wall) / 1e6 - (t - at).inSeconds)
        }
        let status = snapshot.withLock { s in
            s.state = "\(st)"; s.linksDown = down; s.vipsHeld = held; s.transitions = count; s.recent = recentNow; s.peer = peerNow
            s.advertsSent = sent; s.advertsReceived = received; s.drops = dropsNow; s.fastDetectorStats = fastStats
            s.loop = loopNow
            return s
        }
        guard let statusWriter else { return }
        let json: [UInt8]
        do { json = try StatusJSON.encode(status) } catch {
            logger.error("status file: the snapshot could not be encoded", metadata: ["error": "\(error)"])
            return
        }
        if sync { statusWriter.finish(with: json) } else { statusWriter.submit(json) }
    }

    /// A stable, label-safe name for a transition reason (for metrics).
    public static func code(_ r: TransitionReason) -> String {
        switch r {
        case .startupAsOwner: return "startup_as_owner"
        case .startup: return "startup"
        case .masterDown: return "master_down"
        case .masterResigned: return "master_resigned"
        case .higherPriority: return "higher_priority"
        case .equalPriorityHigherAddress: return "equal_priority_higher_address"
        case .fastDetector: return "fast_detector"
        case .splitBrainRule: return "split_brain_rule"
        case .lostWitness: return "lost_witness"
        case .shutdown: return "shutdown"
        case .interfaceDown: return "interface_down"
        case .interfaceUp: return "interface_up"
        }
    }

    static func timestamp() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        var t = time_t(ts.tv_sec)
        var tmv = tm()
        gmtime_r(&t, &tmv)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tmv.tm_year + 1900, tmv.tm_mon + 1, tmv.tm_mday,
                      tmv.tm_hour, tmv.tm_min, tmv.tm_sec, Int(ts.tv_nsec / 1_000_000))
    }
}

/// The detector thread's "peer down" signal to the loop thread.
private final class PeerDownFlag: Sendable {
    let value = Atomic<Bool>(false)
}
