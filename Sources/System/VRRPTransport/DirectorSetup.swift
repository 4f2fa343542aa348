// From the topology's director pair to one VRRP instance's options. Shared by `tandem-vrrp` and
// `tandemd`, so both executables read the pair the same way. No I/O: the key bytes come in.
import Topology
import VRRP
import Net

/// Per-node settings that the topology does not carry (links of a lab, keys, the fast detector).
/// Every field is optional; `nil` means "what the topology says".
public struct DirectorOverrides: Sendable {
    /// Interface for adverts (and VIPs unless ``vipInterface``); default: the pair's `interface`.
    public var interface: String?
    /// Interface for the VIPs when the heartbeat has its own link.
    public var vipInterface: String?
    /// Source of the adverts and the tie-breaker; default: the VM's first address.
    public var primaryAddress: String?
    /// The peer's heartbeat address (fast-detector probes go there); default: the peer VM's address.
    public var peerPrimaryAddress: String?
    /// Unicast peers; empty: multicast.
    public var unicastPeers: [String] = []
    /// RFC 5798 Preempt_Mode.
    public var preempt = true
    /// Preempt delay.
    public var preemptDelay: Duration = .zero
    /// Delay before the one repeat of gratuitous ARP / NA; `nil`: no repeat.
    public var announceRepeat: Duration? = .seconds(2)
    /// Fast-detector probe interval; `nil`: detector off.
    public var fastDetectorInterval: Duration?
    /// Fast-detector miss limit.
    public var fastDetectorMisses = 3
    /// `SCHED_FIFO` priority (1–99) of the fast detector's thread and, with the detector on, of the
    /// VRRP loop thread; `nil`: normal priority.
    public var fastDetectorRealtimePriority: Int32? = FastDetectorOptions.defaultRealtimePriority
    /// Priority override (1–255).
    public var priority: Int?
    /// Advert interval override.
    public var advertInterval: Duration?
    /// JSON status file.
    public var statusFile: String?
    /// The key file the key bytes came from: its directory keeps the replay record
    /// (``ReplayRecordFile/path(keyFile:vrid:)``), so a restarted instance still refuses old adverts.
    public var authKeyFile: String?

    /// No overrides.
    public init() {}
}

/// What ``DirectorSetup/options(topology:node:overrides:authKey:)`` found wrong, said with the flag or
/// topology field to fix.
public struct DirectorSetupError: Error, CustomStringConvertible, Equatable {
    /// What is wrong and what to do.
    public var description: String
    /// Creates an error with its message.
    public init(description: String) { self.description = description }
}

/// The director pair as one node sees it, plus the instance options to run its VRRP.
public struct DirectorSetup: Sendable {
    /// The pair this node belongs to.
    public var pair: DirectorPair
    /// This node.
    public var node: String
    /// The other member.
    public var peer: String
    /// The instance options.
    public var options: VRRPInstanceOptions

    /// One line for logs: node, VRID, priority, interval, primary, VIPs, auth and fast detector.
    public var summary: String {
        let c = options.config
        return "\(node) vrid=\(c.vrid) priority=\(c.priority) interval=\(c.advertInterval) primary=\(c.primaryAddress) " +
            "vips=\(c.virtualAddresses.map(\.description).joined(separator: ",")) auth=\(options.authKey != nil) " +
            "fast-detector=\(options.fastDetector.map { "\($0.interval) x\($0.missLimit)" } ?? "off")"
    }

    /// The pair `node` belongs to, or `nil` when it is in none.
    public static func pair(of node: String, in topology: Topology) -> DirectorPair? {
        topology.directorPairs.first { $0.members.contains(node) }
    }

    /// Builds the options: VIPs are the pair's services' VIPs of the primary address's family; the
    /// split-brain rule is on when the pair names a witness.
    public static func make(topology: Topology, node: String, overrides o: DirectorOverrides = .init(),
                            authKey: [UInt8]? = nil) throws(DirectorSetupError) -> DirectorSetup {
        guard let pair = pair(of: node, in: topology) else {
            throw DirectorSetupError(description: "no director pair has member \(node) (topology `directors: members`)")
        }
        guard let addresses = topology.addresses(ofNode: node) else {
            throw DirectorSetupError(description: "no VM or machine named \(node) in the topology")
        }
        let primary: IPAddress
        if let p = o.primaryAddress {
            guard let a = IPAddress(p) else { throw DirectorSetupError(description: "primary address \(p) is not an IP address") }
            primary = a
        } else {
            guard let a = addresses.first?.address else {
                throw DirectorSetupError(description: "\(node) has no address; give it one or pass a primary address")
            }
            primary = a
        }
        let peerName = pair.members.first { $0 != node } ?? node
        // The peer's topology address: the fast detector probes it, and the split-brain rule pings it.
        let peerAddress = topology.addresses(ofNode: peerName)?.first { $0.address.family == primary.family }?.address
        let services = pair.services.isEmpty ? topology.services : topology.services.filter { pair.services.contains($0.name) }
        var vips: [IPAddress] = []
        for s in services where s.vip.family == primary.family && !vips.contains(s.vip) { vips.append(s.vip) }
        let prio = o.priority ?? pair.priorities[node] ?? 100
        guard (1...255).contains(prio) else { throw DirectorSetupError(description: "priority \(prio) is outside 1–255") }
        let interval = o.advertInterval ?? .milliseconds(pair.advertIntervalMs)
        var splitBrain = SplitBrainPolicy.none
        var witness: WitnessProbe? = nil
        if let w = pair.witness {
            splitBrain = .witness(checkInterval: max(interval, .seconds(1)))
            witness = WitnessProbe(witness: w, peer: peerAddress, fenceCommand: pair.fenceCommand, peerName: peerName)
        }
        let config = VRRPConfiguration(
            vrid: UInt8(pair.vrid), priority: UInt8(prio), advertInterval: interval, preempt: o.preempt,
            preemptDelay: o.preemptDelay, primaryAddress: primary, virtualAddresses: vips,
            announceRepeatDelay: o.announceRepeat, announceRepeatCount: 1, splitBrain: splitBrain)
        var fast: FastDetectorOptions? = nil
        if let iv = o.fastDetectorInterval {
            var probePeer = peerAddress
            if let p = o.peerPrimaryAddress {
                guard let a = IPAddress(p) else { throw DirectorSetupError(description: "peer primary address \(p) is not an IP address") }
                probePeer = a
            }
            guard let probePeer else {
                throw DirectorSetupError(description: "the fast detector needs the peer \(peerName)'s address in the topology or a peer primary address")
            }
            guard o.fastDetectorMisses >= 1 else { throw DirectorSetupError(description: "fast detector misses must be at least 1") }
            guard iv > .zero else { throw DirectorSetupError(description: "fast detector interval must be above 0 ms") }
            if let p = o.fastDetectorRealtimePriority, !(1...99).contains(p) {
                throw DirectorSetupError(description: "fast detector real-time priority \(p) is outside 1–99 (0 on the command line turns it off)")
            }
            fast = FastDetectorOptions(interval: iv, missLimit: o.fastDetectorMisses, peer: probePeer,
                                       realtimePriority: o.fastDetectorRealtimePriority)
        }
        var peers: [IPAddress] = []
        for p in o.unicastPeers {
            guard let a = IPAddress(p) else { throw DirectorSetupError(description: "unicast peer \(p) is not an IP address") }
            peers.append(a)
        }
        let options = VRRPInstanceOptions(config: config, interface: o.interface ?? pair.interface, vipInterface: o.vipInterface,
                                          unicastPeers: peers, authKey: authKey,
                                          replayRecordFile: o.authKeyFile.map { ReplayRecordFile.path(keyFile: $0, vrid: config.vrid) },
                                          fastDetector: fast, witness: witness,
                                          statusFile: o.statusFile, realtimePriority: fast?.realtimePriority)
        return DirectorSetup(pair: pair, node: node, peer: peerName, options: options)
    }
}

// MARK: - Live reload

extension DirectorSetup {
    /// What a reload may change in a running instance, and what it may not. Pure.
    ///
    /// Throws, naming the key, when `new` changes something the running instance cannot take without
    /// a restart: the VRID, the interfaces, the primary address or its family, the unicast peers or
    /// the key (their sockets and sequence state are opened at start), or the pair itself (another
    /// pair, or this node no longer in it — ``make(topology:node:overrides:authKey:)`` fails first).
    /// Otherwise returns one short phrase per live change (`priority 100 -> 120`, `vips +10.0.0.5`),
    /// empty when nothing changed.
    public static func liveChanges(from old: DirectorSetup, to new: DirectorSetup) throws(DirectorSetupError) -> [String] {
        let o = old.options, n = new.options
        func refuse(_ key: String, _ from: String, _ to: String) -> DirectorSetupError {
            DirectorSetupError(description: "\(key) changed from \(from) to \(to): the running VRRP instance cannot change it live; " +
                               "restart tandemd to apply it (or put the old value back and reload)")
        }
        if old.pair.name != new.pair.name { throw refuse("the director pair of \(old.node)", old.pair.name, new.pair.name) }
        if o.config.vrid != n.config.vrid { throw refuse("directors.vrid", "\(o.config.vrid)", "\(n.config.vrid)") }
        if o.interface != n.interface { throw refuse("directors.interface", o.interface, n.interface) }
        if o.vipInterface != n.vipInterface { throw refuse("the VIP interface", o.vipInterface ?? "none", n.vipInterface ?? "none") }
        if o.config.primaryAddress.family != n.config.primaryAddress.family {
            throw refuse("the address family of \(old.node)'s primary address", "\(o.config.primaryAddress)", "\(n.config.primaryAddress)")
        }
        if o.config.primaryAddress != n.config.primaryAddress {
            throw refuse("\(old.node)'s primary address (its first address in `vms` or `machines`)", "\(o.config.primaryAddress)", "\(n.config.primaryAddress)")
        }
        if o.unicastPeers != n.unicastPeers {
            throw refuse("the unicast peers", o.unicastPeers.map(\.description).joined(separator: ","), n.unicastPeers.map(\.description).joined(separator: ","))
        }
        if o.authKey != n.authKey { throw refuse("the advert key", "the key at start", "another key") }

        var out: [String] = []
        let (a, b) = (o.config, n.config)
        if a.priority != b.priority { out.append("priority \(a.priority) -> \(b.priority)") }
        if a.advertInterval != b.advertInterval { out.append("advert interval \(a.advertInterval) -> \(b.advertInterval)") }
        if a.preempt != b.preempt { out.append("preempt \(a.preempt) -> \(b.preempt)") }
        if a.preemptDelay != b.preemptDelay { out.append("preempt delay \(a.preemptDelay) -> \(b.preemptDelay)") }
        if a.announceRepeatDelay != b.announceRepeatDelay || a.announceRepeatCount != b.announceRepeatCount {
            out.append("announce repeat \(a.announceRepeatDelay.map { "\($0)" } ?? "off") -> \(b.announceRepeatDelay.map { "\($0)" } ?? "off")")
        }
        let added = b.virtualAddresses.filter { !a.virtualAddresses.contains($0) }
        let dropped = a.virtualAddresses.filter { !b.virtualAddresses.contains($0) }
        if !added.isEmpty || !dropped.isEmpty {
            out.append("vips " + (added.map { "+\($0)" } + dropped.map { "-\($0)" }).joined(separator: " "))
        }
        func witness(_ w: WitnessProbe?) -> String {
            guard let w else { return "none" }
            return "\(w.witness)" + (w.fenceCommand.map { " fence \($0.joined(separator: " "))" } ?? "")
        }
        if witness(o.witness) != witness(n.witness) || a.splitBrain != b.splitBrain {
            out.append("witness \(witness(o.witness)) -> \(witness(n.witness))")
        }
        func fast(_ f: FastDetectorOptions?) -> String {
            guard let f else { return "off" }
            return "\(f.interval) x\(f.missLimit) peer \(f.peer)"
        }
        if o.fastDetector != n.fastDetector { out.append("fast detector \(fast(o.fastDetector)) -> \(fast(n.fastDetector))") }
        return out
    }
}
