// From the topology's director pair to one VRRP instance's options. Shared by `tandem-vrrp` and
// `tandemd`, so both executables read the pair the same way. No I/O: the key bytes come in.
import Topology
import VRRP
import Net

/// Settings that win over the topology's director settings (`directors` and `directors.nodes`):
/// `tandem-vrrp`'s flags, and tests. Every field is optional; `nil` means "what the topology says".
public struct DirectorOverrides: Sendable {
    /// Interface for adverts (and VIPs unless ``vipInterface``).
    public var interface: String?
    /// Interface for the VIPs when the heartbeat has its own link.
    public var vipInterface: String?
    /// Source of the adverts and the tie-breaker.
    public var primaryAddress: String?
    /// The peer's heartbeat address (fast-detector probes go there).
    public var peerPrimaryAddress: String?
    /// Unicast peers; empty: what the topology says (multicast when it says nothing).
    public var unicastPeers: [String] = []
    /// RFC 5798 Preempt_Mode.
    public var preempt: Bool?
    /// Preempt delay.
    public var preemptDelay: Duration?
    /// Delay before the one repeat of gratuitous ARP / NA; `nil`: no repeat.
    public var announceRepeat: Duration? = .seconds(2)
    /// Fast-detector probe interval (turns the detector on).
    public var fastDetectorInterval: Duration?
    /// Fast-detector miss limit.
    public var fastDetectorMisses: Int?
    /// `SCHED_FIFO` priority (1–99) of the fast detector's thread and, with the detector on, of the
    /// VRRP loop thread; 0: normal priority.
    public var fastDetectorRealtimePriority: Int32?
    /// Priority override (1–255).
    public var priority: Int?
    /// Advert interval override.
    public var advertInterval: Duration?
    /// JSON status file.
    public var statusFile: String?
    /// The key file (over the topology's `key_file`). Its directory keeps the replay record
    /// (``ReplayRecordFile/path(keyFile:vrid:)``), so a restarted instance still refuses old adverts.
    public var authKeyFile: String?
    /// Where the replay record goes instead of beside the key file (``ReplayRecordFile/path(keyFile:vrid:directory:)``).
    public var replayRecordDirectory: String?

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

    /// The key file `node` uses: the override, else the topology's `key_file` (the node's, else the
    /// pair's); `nil` when neither names one (adverts go unauthenticated).
    public static func keyFile(topology: Topology, node: String, overrides o: DirectorOverrides = .init()) -> String? {
        o.authKeyFile ?? pair(of: node, in: topology)?.settings(for: node).keyFile
    }

    /// Reads the key file ``keyFile(topology:node:overrides:)`` names through `SecretFile` (mode 0600,
    /// owned by this user, at least 16 bytes); `nil` when there is none.
    public static func loadKey(topology: Topology, node: String, overrides o: DirectorOverrides = .init()) throws(AuthKeyFileError) -> [UInt8]? {
        guard let path = keyFile(topology: topology, node: node, overrides: o) else { return nil }
        return try AuthKeyFile.load(path: path)
    }

    /// Builds the options from the topology's pair and this node's settings (`directors.nodes`), with
    /// `overrides` winning: VIPs are the pair's services' VIPs of the primary address's family; the
    /// split-brain rule is on when the pair names a witness.
    public static func make(topology: Topology, node: String, overrides o: DirectorOverrides = .init(),
                            authKey: [UInt8]? = nil) throws(DirectorSetupError) -> DirectorSetup {
        guard let pair = pair(of: node, in: topology) else {
            throw DirectorSetupError(description: "no director pair has member \(node) (topology `directors: members`)")
        }
        guard let addresses = topology.addresses(ofNode: node) else {
            throw DirectorSetupError(description: "no VM or machine named \(node) in the topology")
        }
        let mine = pair.settings(for: node)
        let peerName = pair.members.first { $0 != node } ?? node
        let theirs = pair.settings(for: peerName)
        let primary: IPAddress
        if let p = o.primaryAddress {
            guard let a = IPAddress(p) else { throw DirectorSetupError(description: "primary address \(p) is not an IP address") }
            primary = a
        } else if let a = mine.primaryAddress ?? addresses.first?.address {
            primary = a
        } else {
            throw DirectorSetupError(description: "\(node) has no address; give it one or set directors.nodes.\(node).primary_address")
        }
        // The peer's heartbeat address: the fast detector probes it, and the split-brain rule pings it.
        let peerNodeAddress = topology.addresses(ofNode: peerName)?.first { $0.address.family == primary.family }?.address
        let peerAddress = theirs.primaryAddress.flatMap { $0.family == primary.family ? $0 : nil } ?? peerNodeAddress
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
            vrid: UInt8(pair.vrid), priority: UInt8(prio), advertInterval: interval, preempt: o.preempt ?? mine.preempt ?? true,
            preemptDelay: o.preemptDelay ?? mine.preemptDelayMs.map { .milliseconds($0) } ?? .zero, primaryAddress: primary,
            virtualAddresses: vips, announceRepeatDelay: o.announceRepeat, announceRepeatCount: 1, splitBrain: splitBrain)
        var fast: FastDetectorOptions? = nil
        if let iv = o.fastDetectorInterval ?? mine.fastDetector.map({ .milliseconds($0.intervalMs) }) {
            var probePeer = peerAddress
            if let p = o.peerPrimaryAddress {
                guard let a = IPAddress(p) else { throw DirectorSetupError(description: "peer primary address \(p) is not an IP address") }
                probePeer = a
            }
            guard let probePeer else {
                throw DirectorSetupError(description: "the fast detector needs the peer \(peerName)'s address: give its VM one, or set directors.nodes.\(peerName).primary_address")
            }
            let misses = o.fastDetectorMisses ?? mine.fastDetector?.misses ?? 3
            guard misses >= 1 else { throw DirectorSetupError(description: "fast detector misses must be at least 1") }
            guard iv > .zero else { throw DirectorSetupError(description: "fast detector interval must be above 0 ms") }
            let rt = o.fastDetectorRealtimePriority ?? mine.fastDetector.map { Int32($0.priority) } ?? FastDetectorOptions.defaultRealtimePriority
            guard (0...99).contains(rt) else {
                throw DirectorSetupError(description: "fast detector real-time priority \(rt) is outside 1–99 (0 turns it off)")
            }
            fast = FastDetectorOptions(interval: iv, missLimit: misses, peer: probePeer, realtimePriority: rt == 0 ? nil : rt)
        }
        var peers: [IPAddress] = []
        for p in o.unicastPeers {
            guard let a = IPAddress(p) else { throw DirectorSetupError(description: "unicast peer \(p) is not an IP address") }
            peers.append(a)
        }
        if o.unicastPeers.isEmpty { peers = mine.unicastPeers ?? [] }
        let keyFile = o.authKeyFile ?? mine.keyFile
        let options = VRRPInstanceOptions(config: config, interface: o.interface ?? mine.interface ?? pair.interface,
                                          vipInterface: o.vipInterface ?? mine.vipInterface,
                                          unicastPeers: peers, authKey: authKey,
                                          replayRecordFile: keyFile.map { ReplayRecordFile.path(keyFile: $0, vrid: config.vrid, directory: o.replayRecordDirectory) },
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
        if o.replayRecordFile != n.replayRecordFile {
            throw refuse("directors.key_file", o.replayRecordFile == nil ? "none" : "the file at start", n.replayRecordFile == nil ? "none" : "another file")
        }

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
