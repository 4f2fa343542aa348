import Net

/// Passive silence detection for one member of a NAT service: a pure state machine with no I/O and
/// injected time (see docs/health-checks.md, "Passive silence detection").
///
/// In NAT forwarding every packet between clients and members passes the director, and IPVS keeps
/// a connection entry for each. A client's SYN creates the entry in state `SYN_RECV`; the member's
/// SYN-ACK and the client's ACK move it on to `ESTABLISHED` within a round trip. An entry that stays
/// in `SYN_RECV` is a new connection the member has not answered. The caller samples, per member,
/// the set of such *waiting* connections (from `/proc/net/ip_vs_conn`), plus the member's IPVS
/// counters when it has them, and feeds them here.
///
/// Rule: the member is **silent** when at least ``Config/minConnections`` of its connections have
/// each been waiting for at least ``Config/window``: new connections, each of which deserved an
/// answer, and none came. Only new connections count: a closing connection's final ACK needs no
/// reply, and its entry is not in `SYN_RECV`. A slow member still answers the handshake from its
/// kernel at once, so slowness alone never counts.
///
/// Waiting is measured on the machine's own time line, which advances by at most half a window
/// per sample: when the caller itself was stalled (a busy director, a descheduled process), a long
/// gap between two samples is not taken as the member's silence. So a connection is judged only after
/// it was seen waiting in at least three samples spanning the window.
///
/// Why not the counters (new connections up, outgoing packets flat)? The kernel refreshes the
/// per-destination counters it reports only every 2 s (its rate estimator), so over a sub-second
/// window they mostly do not move at all. They serve here only to see the member answer again
/// (re-arming) and to notice a restarted destination.
///
/// One ``Action/silent(reason:)`` per episode. The machine re-arms when the member answers again:
/// its active check brought it back (``checkRecovered()``, the caller's to report), its
/// outgoing-packet counter grows across two kernel refreshes after the event (the first refresh may
/// still count packets from before the event), or it has no waiting connection left.
/// Connections that were waiting when it re-armed are never judged again, so their leftover
/// entries (the kernel keeps `SYN_RECV` entries for up to 60 s) cannot raise a second event.
///
/// A read of the kernel's connection table is not a snapshot: the file is produced a page at a
/// time, and entries expiring between two pages shift the rest, so one read can miss live entries.
/// A connection missing from a sample is therefore remembered (first-seen time and excuse) for a
/// window; only one absent for a whole window is forgotten. Otherwise an excused leftover skipped
/// once would come back as a "new" connection and, a window later, drain a member that answers.
///
/// Connections already waiting in the first sample are never judged: their age is unknown, and they
/// may be leftovers of an episode the member has since recovered from (a restarted `tandemd`, a
/// member just added by a reload). Counters that go down mean the destination was removed and added
/// again: that is a restart (forget everything, excuse what waits now), not an event.
public struct PassiveSilence: Sendable, Equatable {
    /// Tuning of the rule.
    public struct Config: Sendable, Equatable {
        /// How long a new connection may wait for the member's answer.
        public var window: Duration
        /// How many such connections make the member silent (at least 1).
        public var minConnections: Int
        /// Creates a config; `minConnections` below 1 is treated as 1.
        public init(window: Duration, minConnections: Int) {
            self.window = window; self.minConnections = max(1, minConnections)
        }
    }

    /// A member's IPVS per-destination counters (kernel totals; the kernel refreshes them about
    /// every 2 s).
    public struct Counters: Sendable, Equatable {
        /// Connections scheduled to the member.
        public var connections: UInt64
        /// Packets from clients to the member.
        public var inPackets: UInt64
        /// Packets from the member back to clients.
        public var outPackets: UInt64
        /// Creates counters.
        public init(connections: UInt64, inPackets: UInt64, outPackets: UInt64) {
            self.connections = connections; self.inPackets = inPackets; self.outPackets = outPackets
        }
        /// True when any counter is below `earlier`'s: the destination was re-created.
        func wentBack(from earlier: Counters) -> Bool {
            connections < earlier.connections || inPackets < earlier.inPackets || outPackets < earlier.outPackets
        }
    }

    /// One observation of the member.
    public struct Sample: Sendable, Equatable {
        /// When, on the caller's monotonic clock (any origin; it must not go backwards).
        public var time: Duration
        /// The member's connections still waiting for its answer to the client's SYN (IPVS state
        /// `SYN_RECV`), each by an identifier stable for the connection's life (e.g. a hash of the
        /// client's address and port).
        public var waiting: Set<UInt64>
        /// The member's counters, if read.
        public var counters: Counters?
        /// Creates a sample.
        public init(time: Duration, waiting: Set<UInt64>, counters: Counters? = nil) {
            self.time = time; self.waiting = waiting; self.counters = counters
        }
    }

    /// What the caller must do.
    public enum Action: Sendable, Equatable {
        /// Treat the member as failed now (like a refused connection), with this reason.
        case silent(reason: String)
    }

    /// Where the machine stands.
    public enum Phase: Sendable, Equatable {
        /// Watching for silence.
        case armed
        /// An event fired; waiting for the member to answer again.
        case reported
    }

    /// The rule's tuning.
    public let config: Config
    /// Current phase.
    public private(set) var phase = Phase.armed
    /// One connection the machine knows: seen waiting now, or lately (see ``observe(_:)``).
    private struct Known: Sendable, Equatable {
        /// When it was first seen waiting, on the machine's time line.
        var firstSeen: Duration
        /// When it was last seen waiting.
        var lastSeen: Duration
        /// Never judged (it was waiting when the machine re-armed or started).
        var excused: Bool
    }
    /// Connections seen waiting now or within the last window, by identifier.
    private var known: [UInt64: Known] = [:]
    /// The connections waiting at the last sample.
    private var present: Set<UInt64> = []
    /// Counters of the previous sample that had them.
    private var lastCounters: Counters?
    /// After an event: counters at the event, and at the first kernel refresh after it.
    private var atEvent: Counters?
    private var firstRefresh: Counters?
    /// False until the first sample.
    private var started = false
    /// The machine's time line: advances by the gap between samples, at most half a window each.
    private var virtualNow = Duration.zero
    private var lastTime: Duration?

    /// Creates an armed machine.
    public init(config: Config) { self.config = config }

    /// Connections waiting now that count toward the rule.
    public var judgedWaiting: Int { present.filter { known[$0]?.excused == false }.count }

    /// Judged connections that had waited at least the window at the last sample (in either phase):
    /// what the caller compares across the members of a service.
    public var agedWaiting: Int {
        present.reduce(0) { n, id in
            guard let k = known[id], !k.excused, virtualNow - k.firstSeen >= config.window else { return n }
            return n + 1
        }
    }

    /// Feeds one sample and returns the actions it causes (at most one `silent` per episode).
    ///
    /// A connection missing from one sample is not taken as gone: the kernel's connection table is
    /// read in page-sized pieces, and entries that expire or arrive between two pieces shift the
    /// rest, so a read can skip live entries. A connection absent for less than a window that shows
    /// up again keeps its first-seen time and its excuse; only one absent for a whole window is
    /// forgotten (and starts over if it ever waits again).
    public mutating func observe(_ s: Sample) -> [Action] {
        let first = !started
        started = true
        if let last = lastTime { virtualNow += min(max(.zero, s.time - last), config.window / 2) }
        lastTime = s.time
        let now = virtualNow
        // Track the waiting set: keep first-seen times and excuses, forget connections absent a window.
        for id in s.waiting {
            if known[id] != nil {
                known[id]!.lastSeen = now
            } else {
                known[id] = Known(firstSeen: now, lastSeen: now, excused: first)
            }
        }
        known = known.filter { now - $0.value.lastSeen < config.window || s.waiting.contains($0.key) }
        present = s.waiting
        if let c = s.counters {
            if let last = lastCounters, c.wentBack(from: last) { restart() }
            defer { lastCounters = c }
            if phase == .reported, let at = atEvent {
                if firstRefresh == nil {
                    if c != at { firstRefresh = c }
                } else if let f = firstRefresh, c.outPackets > f.outPackets {
                    rearm()
                }
            } else if phase == .reported {
                atEvent = c
            }
        }
        switch phase {
        case .reported:
            if present.isEmpty { rearm() }
            return []
        case .armed:
            var old = 0
            var longest = Duration.zero
            for id in present {
                guard let k = known[id], !k.excused else { continue }
                let waited = now - k.firstSeen
                if waited >= config.window {
                    old += 1
                    longest = max(longest, waited)
                }
            }
            guard old >= config.minConnections else { return [] }
            phase = .reported
            atEvent = s.counters
            firstRefresh = nil
            return [.silent(reason: "passive: \(old) new connection\(old == 1 ? "" : "s") unanswered for \(config.window.wholeMilliseconds) ms or more (longest \(longest.wholeMilliseconds) ms), no SYN-ACK back")]
        }
    }

    /// The member's active check found it healthy again (its `rise` was met): an answer, so a
    /// reported episode ends now. Connections waiting at the last sample, or seen lately, are excused.
    public mutating func checkRecovered() {
        guard phase == .reported else { return }
        rearm()
    }

    /// The destination was re-created: judge afresh; what waits now or lately is excused.
    private mutating func restart() {
        excuseAllKnown()
        phase = .armed
        atEvent = nil
        firstRefresh = nil
        lastCounters = nil
    }

    /// The member answers again: armed, with every connection known so far excused.
    private mutating func rearm() {
        excuseAllKnown()
        phase = .armed
        atEvent = nil
        firstRefresh = nil
    }

    private mutating func excuseAllKnown() {
        for id in known.keys { known[id]!.excused = true }
    }
}
