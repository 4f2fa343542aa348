// The VRRPv3 state machine of RFC 5798 §6.4, with no I/O and no clock of its own.
import Net

/// The three states of RFC 5798 §6.4, plus keepalived's FAULT.
public enum VRRPState: String, Sendable, Equatable, CaseIterable, CustomStringConvertible {
    /// Not participating (before startup, after shutdown) — §6.4.1.
    case initialize
    /// Listening for the master; takes over when it goes quiet — §6.4.2.
    case backup
    /// Holding the virtual addresses and advertising — §6.4.3.
    case master
    /// A tracked interface is down: no VIPs, no adverts, no timers, no takeover. Not in RFC 5798,
    /// which assumes a router that cannot reach the LAN is simply silent; keepalived's FAULT state,
    /// left through Backup when every tracked interface is up again (see ``LinkFault``).
    case fault
    /// The lowercase name.
    public var description: String { rawValue }
}

/// Timers the edge runs on the machine's behalf. Each kind has at most one deadline.
public enum VRRPTimer: String, Sendable, Hashable, CustomStringConvertible {
    /// Adver_Timer (§6.2): the master's next advertisement.
    case advert
    /// Master_Down_Timer (§6.2): the backup's deadline for hearing the master.
    case masterDown
    /// Repeat of gratuitous ARP / unsolicited NA after becoming master (not in the RFC; keepalived's
    /// `garp_master_repeat`/`garp_master_delay` idea), for switches that missed the first one.
    case announceRepeat
    /// Periodic witness check while master (split-brain rule).
    case witnessCheck
    /// The name.
    public var description: String { rawValue }
}

/// Why a tracked interface cannot carry traffic, as the kernel's link flags say (rtnetlink `ifi_flags`).
public enum LinkDownCause: String, Sendable, Equatable, CustomStringConvertible {
    /// `IFF_UP` is clear: someone ran `ip link set DEV down`.
    case administrativelyDown = "administratively down"
    /// `IFF_UP` is set but `IFF_LOWER_UP` is not: no carrier (cable out, switch port off, veth peer down).
    case noCarrier = "no carrier"
    /// The interface is gone (`RTM_DELLINK`).
    case removed = "removed"
    /// The words, as in the transition reason.
    public var description: String { rawValue }
}

/// A tracked interface that went down, as the edge reports it to the machine.
public struct LinkFault: Sendable, Equatable {
    /// Its name (`a0`).
    public var interface: String
    /// Why it is down.
    public var cause: LinkDownCause
    /// Whether our adverts leave through this interface. When they do, nothing we send can reach the
    /// peer; when they run on a separate heartbeat link that is still up, a master entering Fault can
    /// still tell the backup it is leaving (a priority-0 advert), as keepalived does.
    public var carriesAdverts: Bool
    /// Creates a value.
    public init(interface: String, cause: LinkDownCause, carriesAdverts: Bool) {
        self.interface = interface; self.cause = cause; self.carriesAdverts = carriesAdverts
    }
}

/// An advertisement as the machine needs it: already decoded, checked and authenticated by the edge.
public struct ReceivedAdvert: Sendable, Equatable {
    /// The sender's primary address (the IP source address), used for the tie-break.
    public var from: IPAddress
    /// The sender's priority (0 = the master is stopping).
    public var priority: UInt8
    /// The sender's Max Adver Int.
    public var interval: Duration
    /// Creates an advert value.
    public init(from: IPAddress, priority: UInt8, interval: Duration) {
        self.from = from; self.priority = priority; self.interval = interval
    }
}

/// Inputs to the machine. Every event carries `now`, a monotonic time since an epoch the edge chose.
public enum VRRPEvent: Sendable, Equatable {
    /// The Startup event of §6.4.1.
    case startup(now: Duration)
    /// The Shutdown event of §6.4.2 / §6.4.3 (a clean stop: the master sends priority 0).
    case shutdown(now: Duration)
    /// A valid advert for our VRID from another router.
    case advertReceived(ReceivedAdvert, now: Duration)
    /// A timer the machine set has reached its deadline.
    case timerFired(VRRPTimer, now: Duration)
    /// The fast (BFD-style) detector declared the peer down, before Master_Down_Timer would.
    case peerDownDetected(now: Duration)
    /// The answer to a ``VRRPAction/checkWitness`` request or a periodic check while master.
    case witnessResult(SplitBrainEvidence, now: Duration)
    /// A tracked interface went down (or was down at startup: deliver it before ``startup(now:)``).
    case interfaceDown(LinkFault, now: Duration)
    /// A tracked interface, by name, is up again (administratively up and with carrier).
    case interfaceUp(String, now: Duration)
    /// A live configuration change (SIGHUP reload). The VRID and the primary address cannot change
    /// live: a configuration that changes either is ignored (no actions); the edge refuses it first.
    /// See ``VRRPStateMachine`` ("Reconfiguration") for what changes when.
    case reconfigure(VRRPConfiguration, now: Duration)
}

/// Why a transition happened; printed to the log and the status file.
public enum TransitionReason: Sendable, Equatable, CustomStringConvertible {
    /// Startup with priority 255 (address owner), §6.4.1.
    case startupAsOwner
    /// Startup with priority < 255, §6.4.1.
    case startup
    /// Master_Down_Timer expired with no advert heard, §6.4.2.
    case masterDown(interval: Duration)
    /// The master sent priority 0 and Skew_Time passed, §6.4.2.
    case masterResigned(from: IPAddress)
    /// The fast detector declared the master dead.
    case fastDetector
    /// An advert with higher priority arrived while master, §6.4.3.
    case higherPriority(from: IPAddress, priority: UInt8)
    /// An advert with equal priority from a higher primary address arrived while master, §6.4.3.
    case equalPriorityHigherAddress(from: IPAddress)
    /// Clean shutdown, §6.4.2 / §6.4.3.
    case shutdown
    /// Master gave up the VIPs because it lost the witness (split-brain rule).
    case lostWitness(checks: Int)
    /// Split-brain rule allowed the takeover.
    case splitBrainRule(String)
    /// A tracked interface went down: Fault (keepalived's FAULT state).
    case interfaceDown(interface: String, cause: LinkDownCause)
    /// The last down interface came back: leave Fault as at startup (§6.4.1).
    case interfaceUp(interface: String)

    /// Human-readable.
    public var description: String {
        switch self {
        case .startupAsOwner: "startup as address owner (priority 255)"
        case .startup: "startup"
        case .masterDown(let i): "no advert for Master_Down_Interval \(i)"
        case .masterResigned(let a): "master \(a) sent priority 0 (shutdown); Skew_Time passed"
        case .fastDetector: "fast detector declared the master down"
        case .higherPriority(let a, let p): "advert from \(a) with higher priority \(p)"
        case .equalPriorityHigherAddress(let a): "advert from \(a) with equal priority and higher address"
        case .shutdown: "shutdown"
        case .lostWitness(let n): "lost the witness for \(n) checks: self-fencing"
        case .splitBrainRule(let r): "split-brain rule: \(r)"
        case .interfaceDown(let i, let c): "interface \(i) down (\(c))"
        case .interfaceUp(let i): "interface \(i) up again; as at startup"
        }
    }
}

/// What the edge must do, in order.
public enum VRRPAction: Sendable, Equatable {
    /// Send an advertisement with this priority (0 on shutdown).
    case sendAdvert(priority: UInt8)
    /// Add the virtual addresses to the interface.
    case addVIPs([IPAddress])
    /// Remove the virtual addresses from the interface.
    case removeVIPs([IPAddress])
    /// Send gratuitous ARP (IPv4) / unsolicited neighbour advertisements (IPv6) for these addresses.
    case announceVIPs([IPAddress])
    /// Arm (or re-arm) a timer at an absolute deadline.
    case setTimer(VRRPTimer, deadline: Duration)
    /// Disarm a timer.
    case cancelTimer(VRRPTimer)
    /// Gather ``SplitBrainEvidence`` and answer with ``VRRPEvent/witnessResult(_:now:)``.
    case checkWitness
    /// Record a state change and its reason.
    case transition(from: VRRPState, to: VRRPState, reason: TransitionReason)
}

/// Split-brain policy of one instance.
public enum SplitBrainPolicy: Sendable, Equatable {
    /// Plain RFC 5798: a silent master is a dead master.
    case none
    /// Consult ``SplitBrainRule`` before taking over on silence, and self-fence a master that
    /// loses the witness; `checkInterval` is the master's witness check period.
    case witness(checkInterval: Duration)
}

/// Static configuration of one VRRP instance.
public struct VRRPConfiguration: Sendable, Equatable {
    /// Virtual router id, 1–255.
    public var vrid: UInt8
    /// Our priority, 1–255 (255 = address owner).
    public var priority: UInt8
    /// Advertisement_Interval (§6.1), centisecond resolution on the wire.
    public var advertInterval: Duration
    /// Preempt_Mode (§6.1).
    public var preempt: Bool
    /// After entering Backup, keep deferring to a lower-priority master for this long before
    /// preempting (keepalived's `preempt_delay`): gives a rebooted director time to settle.
    public var preemptDelay: Duration
    /// Our primary address on the VRRP interface, the IP source of our adverts and the tie-breaker.
    public var primaryAddress: IPAddress
    /// The virtual addresses.
    public var virtualAddresses: [IPAddress]
    /// Delay before repeating gratuitous ARP / NA after becoming master; `nil` for no repeat.
    public var announceRepeatDelay: Duration?
    /// How many repeats.
    public var announceRepeatCount: Int
    /// Split-brain policy.
    public var splitBrain: SplitBrainPolicy

    /// Creates a configuration; defaults follow RFC 5798 §6.1 (1 s, preempt on) plus one announce repeat after 2 s.
    public init(vrid: UInt8, priority: UInt8, advertInterval: Duration = .seconds(1), preempt: Bool = true,
                preemptDelay: Duration = .zero, primaryAddress: IPAddress, virtualAddresses: [IPAddress],
                announceRepeatDelay: Duration? = .seconds(2), announceRepeatCount: Int = 1,
                splitBrain: SplitBrainPolicy = .none) {
        self.vrid = vrid; self.priority = priority; self.advertInterval = advertInterval
        self.preempt = preempt; self.preemptDelay = preemptDelay; self.primaryAddress = primaryAddress
        self.virtualAddresses = virtualAddresses; self.announceRepeatDelay = announceRepeatDelay
        self.announceRepeatCount = announceRepeatCount; self.splitBrain = splitBrain
    }
}

/// The VRRPv3 election of RFC 5798 §6.4 as a value: feed it events, execute the actions it returns.
///
/// It owns no socket and no clock. The edge (``VRRPTransport``'s runner) decodes packets, runs the
/// timers it is told to set, and calls ``on(_:)`` with the current monotonic time in every event.
///
/// ## Reconfiguration
/// ``VRRPEvent/reconfigure(_:now:)`` changes the configuration without a state change. RFC 5798 has
/// no such event; the rule here is that every parameter takes effect where the RFC next reads it:
/// - **Priority, preempt, preempt delay** are read at the next advert comparison. A master whose
///   priority drops below its peer's keeps the VIPs: a preempting backup discards the (now lower)
///   adverts, its Master_Down_Timer fires and its own advert makes this master step down (§6.4.3).
///   A backup keeps its armed Master_Down_Timer; the new Skew_Time applies from the next advert.
/// - **Advertisement_Interval**: a master sends one advert at once (it carries the new Max Adver Int,
///   from which the backup learns it, §6.4.2) and re-arms Adver_Timer with the new interval. A backup
///   only uses it when it becomes master.
/// - **Priority** alone, while master: one advert at once, so the peer sees the new value now.
/// - **Virtual addresses**: a master removes the dropped ones, adds the new ones, announces the new
///   ones (gratuitous ARP / NA) and sends an advert with the new list. A backup holds none.
/// - **Split-brain policy**: a master arms or cancels its witness check.
/// - **Announce repeat**: used at the next takeover.
public struct VRRPStateMachine: Sendable {
    /// The configuration in force (changed only by ``VRRPEvent/reconfigure(_:now:)``).
    public private(set) var config: VRRPConfiguration
    /// Current state.
    public private(set) var state: VRRPState = .initialize
    /// Master_Adver_Interval (§6.1): our own interval as master, the master's as backup.
    public private(set) var masterAdverInterval: Duration
    /// The last advert accepted from another router, and when; for `/status` ("peer last seen").
    public private(set) var lastAdvert: (advert: ReceivedAdvert, at: Duration)?
    /// The last transition's reason.
    public private(set) var lastReason: TransitionReason?
    /// Count of transitions, for metrics.
    public private(set) var transitions = 0

    private var deadlines: [VRRPTimer: Duration] = [:]
    private var backupSince: Duration = .zero
    private var resignedBy: IPAddress?
    private var awaitingWitness = false
    private var announceRepeatsLeft = 0
    private var witnessFailures = 0
    private var heardMasterInBackup = false
    /// The tracked interfaces that are down now, in the order they went down.
    public private(set) var linksDown: [LinkFault] = []

    /// A machine in Initialize.
    public init(config: VRRPConfiguration) {
        self.config = config
        self.masterAdverInterval = config.advertInterval
    }

    /// The earliest armed deadline, for an edge that sleeps until the next timer.
    public var nextDeadline: (timer: VRRPTimer, deadline: Duration)? {
        deadlines.min { $0.value < $1.value }.map { ($0.key, $0.value) }
    }

    /// The deadline of one timer, if armed.
    public func deadline(of timer: VRRPTimer) -> Duration? { deadlines[timer] }

    /// Skew_Time for our priority and the current Master_Adver_Interval (RFC 5798 §6.1).
    public var skewTime: Duration { VRRPTimers.skewTime(priority: config.priority, masterAdverInterval: masterAdverInterval) }
    /// Master_Down_Interval for our priority and the current Master_Adver_Interval (RFC 5798 §6.1).
    public var masterDownInterval: Duration {
        VRRPTimers.masterDownInterval(priority: config.priority, masterAdverInterval: masterAdverInterval)
    }

    /// Applies one event and returns the actions, in the order the edge must perform them.
    public mutating func on(_ event: VRRPEvent) -> [VRRPAction] {
        switch event {
        case .startup(let now): return startup(now)
        case .shutdown: return shutdown()
        case .advertReceived(let a, let now): return advert(a, now)
        case .timerFired(let t, let now): return timerFired(t, now)
        case .peerDownDetected(let now):
            guard state == .backup, !awaitingWitness else { return [] }  // Fault included: no takeover
            return masterSilent(now, reason: .fastDetector)
        case .witnessResult(let e, let now): return witness(e, now)
        case .interfaceDown(let f, _): return linkDown(f)
        case .interfaceUp(let name, let now): return linkUp(name, now)
        case .reconfigure(let c, let now): return reconfigure(c, now)
        }
    }

    // MARK: - Fault (not in the RFC; keepalived's FAULT state)

    /// A director that cannot reach the service network must not claim the VIPs: with its link down
    /// its kernel would still answer for them locally, and `/status` would still say master while the
    /// peer takes over (the director-kill drill measured 20-428 ms of two masters that way).
    private mutating func linkDown(_ f: LinkFault) -> [VRRPAction] {
        guard !linksDown.contains(where: { $0.interface == f.interface }) else { return [] }
        linksDown.append(f)
        let reason = TransitionReason.interfaceDown(interface: f.interface, cause: f.cause)
        switch state {
        case .initialize, .fault:
            return []  // startup enters Fault; a second interface down changes nothing
        case .backup:
            // Master_Down_Timer and a pending witness answer would lead to a takeover: both go.
            var out = cancelAll()
            resignedBy = nil; awaitingWitness = false; witnessFailures = 0; heardMasterInBackup = false
            out.append(transition(to: .fault, reason))
            return out
        case .master:
            // Adver_Timer, the announce repeats and the witness check stop: a master in Fault is
            // silent. The VIPs go first. A priority-0 advert goes out only when the adverts run on
            // another (heartbeat) link: through a down link nothing leaves (the kernel drops it or the
            // send fails with ENETDOWN), and the peer takes over on Master_Down_Interval or its fast
            // detector instead. Through a live heartbeat the peer takes over after Skew_Time (§6.4.2),
            // which is what keepalived does when a VIP interface fails.
            var out = cancelAll()
            resignedBy = nil; awaitingWitness = false; witnessFailures = 0
            out.append(.removeVIPs(config.virtualAddresses))
            if !f.carriesAdverts { out.append(.sendAdvert(priority: 0)) }
            out.append(transition(to: .fault, reason))
            return out
        }
    }

    /// When the last down interface is back, Fault ends through Backup with Master_Down_Timer
    /// started as at startup (§6.4.1); an address owner (priority 255) goes master at once, as at
    /// startup. So a director whose link flaps does not come back as a second master: it listens for
    /// Master_Down_Interval first, and hears the current master's adverts (then with preemption
    /// on, a higher priority takes the VIPs back through the ordinary §6.4.3 step-down).
    private mutating func linkUp(_ name: String, _ now: Duration) -> [VRRPAction] {
        guard let i = linksDown.firstIndex(where: { $0.interface == name }) else { return [] }
        linksDown.remove(at: i)
        guard linksDown.isEmpty, state == .fault else { return [] }
        masterAdverInterval = config.advertInterval
        if config.priority == 255 { return becomeMaster(now, reason: .interfaceUp(interface: name)) }
        return becomeBackup(now, reason: .interfaceUp(interface: name))
    }

    // MARK: - Reconfiguration (not in the RFC; see the type's documentation)

    private mutating func reconfigure(_ new: VRRPConfiguration, _ now: Duration) -> [VRRPAction] {
        guard new.vrid == config.vrid, new.primaryAddress == config.primaryAddress else { return [] }
        let old = config
        config = new
        guard state == .master else {
            // Backup / Initialize: everything takes effect at the next advert, timer or takeover.
            if state == .backup, new.splitBrain == .none { awaitingWitness = false }
            return []
        }
        var out: [VRRPAction] = []
        let dropped = old.virtualAddresses.filter { !new.virtualAddresses.contains($0) }
        let added = new.virtualAddresses.filter { !old.virtualAddresses.contains($0) }
        if !dropped.isEmpty { out.append(.removeVIPs(dropped)) }
        if !added.isEmpty { out.append(.addVIPs(added)) }
        if old.priority != new.priority || old.advertInterval != new.advertInterval || !dropped.isEmpty || !added.isEmpty {
            masterAdverInterval = new.advertInterval
            out.append(.sendAdvert(priority: new.priority))
            if !added.isEmpty { out.append(.announceVIPs(added)) }
            out.append(arm(.advert, now + new.advertInterval))
        }
        if old.splitBrain != new.splitBrain {
            witnessFailures = 0
            if case .witness(let every) = new.splitBrain {
                out.append(arm(.witnessCheck, now + every))
            } else if deadlines[.witnessCheck] != nil {
                deadlines[.witnessCheck] = nil
                out.append(.cancelTimer(.witnessCheck))
            }
        }
        return out
    }

    // MARK: - §6.4.1 Initialize

    private mutating func startup(_ now: Duration) -> [VRRPAction] {
        guard state == .initialize else { return [] }
        if let f = linksDown.first {
            // An interface down at start: Fault, and no election until it is up (keepalived does the same).
            return [transition(to: .fault, .interfaceDown(interface: f.interface, cause: f.cause))]
        }
        if config.priority == 255 { return becomeMaster(now, reason: .startupAsOwner) }
        masterAdverInterval = config.advertInterval
        return becomeBackup(now, reason: .startup)
    }

    // MARK: - Shutdown (§6.4.2, §6.4.3)

    private mutating func shutdown() -> [VRRPAction] {
        switch state {
        case .initialize: return []
        case .backup, .fault:
            var out = cancelAll()
            out.append(transition(to: .initialize, .shutdown))
            return out
        case .master:
            // §6.4.3: cancel Adver_Timer, send an advert with priority 0, go to Initialize. The
            // peer then waits only Skew_Time (§6.4.2) instead of Master_Down_Interval.
            var out = cancelAll()
            out.append(.sendAdvert(priority: 0))
            out.append(.removeVIPs(config.virtualAddresses))
            out.append(transition(to: .initialize, .shutdown))
            return out
        }
    }

    // MARK: - Adverts

    private mutating func advert(_ a: ReceivedAdvert, _ now: Duration) -> [VRRPAction] {
        switch state {
        case .initialize, .fault: return []  // in Fault an advert changes nothing until the link is back
        case .backup:
            lastAdvert = (a, now)
            awaitingWitness = false
            heardMasterInBackup = true
            if a.priority == 0 {
                // §6.4.2: the master is stopping; take over after Skew_Time, not Master_Down_Interval.
                resignedBy = a.from
                return [arm(.masterDown, now + skewTime)]
            }
            resignedBy = nil
            let deferring = now < backupSince + config.preemptDelay
            if !config.preempt || a.priority >= config.priority || deferring {
                // §6.4.2: learn the master's interval, recompute, and reset Master_Down_Timer.
                masterAdverInterval = a.interval
                return [arm(.masterDown, now + masterDownInterval)]
            }
            // Preempt: discard the lower-priority advert; our Master_Down_Timer will fire.
            return []
        case .master:
            if a.priority == 0 {
                // §6.4.3: another master stopped; assert ourselves at once. We also re-announce the
                // VIPs: a master that resigns while we are master held them too (a healed partition,
                // see stepDown), and neighbours may still send the VIPs' traffic to its MAC.
                return [.sendAdvert(priority: config.priority), .announceVIPs(config.virtualAddresses),
                        arm(.advert, now + config.advertInterval)]
            }
            lastAdvert = (a, now)
            if a.priority > config.priority {
                masterAdverInterval = a.interval
                return stepDown(now, reason: .higherPriority(from: a.from, priority: a.priority))
            }
            if a.priority == config.priority && Self.isHigher(a.from, than: config.primaryAddress) {
                masterAdverInterval = a.interval
                return stepDown(now, reason: .equalPriorityHigherAddress(from: a.from))
            }
            // Another master that loses to us: a partition has healed (or a peer started as owner of
            // nothing). RFC 5798 §6.4.3 says discard; we also advertise at once, so the loser steps down
            // now rather than at our next Adver_Timer, and re-announce the VIPs, because switches and
            // neighbours may have learned the loser's MAC for them during the partition.
            return [.sendAdvert(priority: config.priority), .announceVIPs(config.virtualAddresses),
                    arm(.advert, now + config.advertInterval)]
        }
    }

    // MARK: - Timers

    private mutating func timerFired(_ t: VRRPTimer, _ now: Duration) -> [VRRPAction] {
        // A stale or cancelled timer the edge delivered anyway does nothing.
        guard let d = deadlines[t], now >= d else { return [] }
        deadlines[t] = nil
        switch (t, state) {
        case (.advert, .master):
            return [.sendAdvert(priority: config.priority), arm(.advert, now + config.advertInterval)]
        case (.masterDown, .backup):
            if let r = resignedBy { return masterSilent(now, reason: .masterResigned(from: r)) }
            return masterSilent(now, reason: .masterDown(interval: masterDownInterval))
        case (.announceRepeat, .master):
            announceRepeatsLeft -= 1
            var out: [VRRPAction] = [.announceVIPs(config.virtualAddresses)]
            if announceRepeatsLeft > 0, let delay = config.announceRepeatDelay { out.append(arm(.announceRepeat, now + delay)) }
            return out
        case (.witnessCheck, .master):
            guard case .witness(let every) = config.splitBrain else { return [] }
            return [.checkWitness, arm(.witnessCheck, now + every)]
        default:
            return []
        }
    }

    /// The master is silent (timer, fast detector) or resigned: take over, or ask the split-brain rule.
    private mutating func masterSilent(_ now: Duration, reason: TransitionReason) -> [VRRPAction] {
        // The rule is about *losing* a heartbeat we had. A priority-0 advert is the master's own word
        // that it is leaving, and a backup that never heard a master since it entered Backup is in the
        // RFC's startup election: if it asked the rule, two directors starting together would both see
        // a live peer host and both stay backup for ever. Both skip the rule.
        if case .witness = config.splitBrain, resignedBy == nil, heardMasterInBackup {
            awaitingWitness = true
            // Keep a Master_Down_Timer armed so a lost witness answer cannot wedge us.
            return [.checkWitness, arm(.masterDown, now + masterDownInterval)]
        }
        return becomeMaster(now, reason: reason)
    }

    private mutating func witness(_ e: SplitBrainEvidence, _ now: Duration) -> [VRRPAction] {
        switch state {
        case .backup:
            guard awaitingWitness else { return [] }  // an advert arrived meanwhile: the master lives
            awaitingWitness = false
            switch SplitBrainRule.mayTakeOver(e) {
            case .takeOver(let why): return becomeMaster(now, reason: .splitBrainRule(why))
            case .stayBackup: return [arm(.masterDown, now + masterDownInterval)]
            }
        case .master:
            if e.witnessReachable { witnessFailures = 0; return [] }
            witnessFailures += 1
            guard witnessFailures >= SplitBrainRule.masterWitnessLossLimit else { return [] }
            return becomeBackup(now, reason: .lostWitness(checks: witnessFailures))
        case .initialize, .fault:
            return []  // in Fault no takeover: an answer that was on its way when the link went is dropped
        }
    }

    // MARK: - Transitions

    private mutating func becomeMaster(_ now: Duration, reason: TransitionReason) -> [VRRPAction] {
        var out = cancelAll()
        out.append(transition(to: .master, reason))
        resignedBy = nil; awaitingWitness = false; witnessFailures = 0
        masterAdverInterval = config.advertInterval
        // §6.4.1/§6.4.2: send an advert, announce the addresses, arm Adver_Timer. The VIPs go on the
        // interface first so the ARP/NA we send is answered by a host that holds them.
        out.append(.addVIPs(config.virtualAddresses))
        out.append(.sendAdvert(priority: config.priority))
        out.append(.announceVIPs(config.virtualAddresses))
        out.append(arm(.advert, now + config.advertInterval))
        if let d = config.announceRepeatDelay, config.announceRepeatCount > 0 {
            announceRepeatsLeft = config.announceRepeatCount
            out.append(arm(.announceRepeat, now + d))
        }
        if case .witness(let every) = config.splitBrain { out.append(arm(.witnessCheck, now + every)) }
        return out
    }

    /// A master that hears a better master steps down. RFC 5798 §6.4.3 has it go to Backup silently;
    /// we first send one priority-0 advert. Two masters at once means a partition has healed, and
    /// the clients and switches may have learned *our* MAC for the VIPs. If the winner heard our
    /// lower-priority advert it re-announces them (see `advert`); if we heard its advert first, ours
    /// never reaches it, and without this notice nobody would tell the network the VIPs moved back
    /// (seen in scripts/drill-failover's flap drill: clients stuck on the loser for 7-15 s). A master
    /// answers priority 0 with an advert and a re-announcement; a plain RFC peer (keepalived) answers
    /// with an advert, which is harmless.
    private mutating func stepDown(_ now: Duration, reason: TransitionReason) -> [VRRPAction] {
        var out = becomeBackup(now, reason: reason)
        let at = out.firstIndex { if case .transition = $0 { return true } else { return false } } ?? 0
        out.insert(.sendAdvert(priority: 0), at: at)
        return out
    }

    private mutating func becomeBackup(_ now: Duration, reason: TransitionReason) -> [VRRPAction] {
        var out = cancelAll()
        out.append(transition(to: .backup, reason))
        // Always, not only when leaving Master: a previous instance killed with -9 leaves its VIPs on
        // the interface, and a backup must not answer for them (keepalived does the same at startup).
        out.append(.removeVIPs(config.virtualAddresses))
        backupSince = now
        resignedBy = nil; awaitingWitness = false; witnessFailures = 0; heardMasterInBackup = false
        out.append(arm(.masterDown, now + masterDownInterval))
        return out
    }

    private mutating func cancelAll() -> [VRRPAction] {
        let armed = deadlines.keys.sorted { $0.rawValue < $1.rawValue }
        deadlines.removeAll()
        return armed.map { .cancelTimer($0) }
    }

    private mutating func arm(_ t: VRRPTimer, _ at: Duration) -> VRRPAction {
        deadlines[t] = at
        return .setTimer(t, deadline: at)
    }

    private mutating func transition(to new: VRRPState, _ reason: TransitionReason) -> VRRPAction {
        let old = state
        state = new; lastReason = reason; transitions += 1
        return .transition(from: old, to: new, reason: reason)
    }

    /// RFC 5798 §6.4.3 tie-break: "the primary IP address of the sender is greater than the local
    /// primary IP address" — compared as unsigned numbers, i.e. byte-wise in network order.
    public static func isHigher(_ a: IPAddress, than b: IPAddress) -> Bool {
        a.bytes.lexicographicallyPrecedes(b.bytes) == false && a.bytes != b.bytes
    }
}
