/// The `hosts` part of `/status`: the host controller as this director runs it (docs/hosts.md).
///
/// Plain values (names, words, milliseconds), so tandemctl decodes it without the controller's types.
public struct HostsReport: Codable, Sendable, Equatable {
    /// One step the controller took or declined, with its reason.
    public struct Note: Codable, Sendable, Equatable {
        /// Wall-clock time, ISO 8601 with milliseconds.
        public var at: String
        /// The step in one stable word (`condemned`, `fencing`, `awaiting-operator`…).
        public var kind: String
        /// The step and its reason.
        public var message: String

        /// Creates a note.
        public init(at: String, kind: String, message: String) { self.at = at; self.kind = kind; self.message = message }
    }

    /// One VM moved off a lost host.
    public struct Move: Codable, Sendable, Equatable {
        /// The VM.
        public var vm: String
        /// The lost host.
        public var from: String
        /// Where it was restarted.
        public var to: String

        /// Creates a move.
        public init(vm: String, from: String, to: String) { self.vm = vm; self.from = from; self.to = to }
    }

    /// A host's last loss and how it was handled: each step in milliseconds after the first signal
    /// (nil: not reached yet).
    public struct Recovery: Codable, Sendable, Equatable {
        /// The first signal of the loss, wall clock (ISO 8601).
        public var firstSignalAt: String
        /// Who confirmed the host off: `fence agent` or `operator`.
        public var confirmedBy: String
        /// Both signals agreed: the host was declared lost.
        public var condemnedMs: Double
        /// The host was confirmed off.
        public var fencedMs: Double
        /// The restarts were issued.
        public var restartsIssuedMs: Double
        /// The last restart was confirmed by the hypervisor.
        public var startedMs: Double?
        /// The last restarted VM passed its health check.
        public var healthyMs: Double?
        /// The last restarted VM that serves a virtual service was back in IPVS.
        public var inIPVSMs: Double?
        /// Redundancy restored (nil while a restart, a check or IPVS is still missing).
        public var restoredMs: Double?
        /// Where each lost VM went.
        public var moves: [Move]
        /// The whole timeline in one line (as logged).
        public var summary: String

        /// Creates a recovery.
        public init(firstSignalAt: String, confirmedBy: String, condemnedMs: Double, fencedMs: Double, restartsIssuedMs: Double,
                    startedMs: Double? = nil, healthyMs: Double? = nil, inIPVSMs: Double? = nil, restoredMs: Double? = nil,
                    moves: [Move], summary: String) {
            self.firstSignalAt = firstSignalAt; self.confirmedBy = confirmedBy; self.condemnedMs = condemnedMs
            self.fencedMs = fencedMs; self.restartsIssuedMs = restartsIssuedMs; self.startedMs = startedMs
            self.healthyMs = healthyMs; self.inIPVSMs = inIPVSMs; self.restoredMs = restoredMs; self.moves = moves
            self.summary = summary
        }
    }

    /// One hypervisor host.
    public struct Host: Codable, Sendable, Equatable {
        /// Its name in the topology.
        public var name: String
        /// Its libvirt URI.
        public var libvirt: String
        /// The controller's phase (`up`, `suspect`, `fencing`, `awaiting operator`, `restored`…).
        public var phase: String
        /// `connected`, `not yet connected`, or `lost: REASON` (the hypervisor's own words).
        public var connection: String
        /// The fence agent, or nil when the host has none (an operator confirms it off).
        public var fenceAgent: String?
        /// The last fence step and its result, or nil when none ran.
        public var fenceState: String?
        /// The controller's last note about this host.
        public var lastNote: Note?
        /// The last loss of this host, finished or under way.
        public var lastRecovery: Recovery?

        /// Creates a host row.
        public init(name: String, libvirt: String, phase: String, connection: String, fenceAgent: String? = nil,
                    fenceState: String? = nil, lastNote: Note? = nil, lastRecovery: Recovery? = nil) {
            self.name = name; self.libvirt = libvirt; self.phase = phase; self.connection = connection
            self.fenceAgent = fenceAgent; self.fenceState = fenceState; self.lastNote = lastNote; self.lastRecovery = lastRecovery
        }
    }

    /// Whether this director acts (fences, starts, destroys): only the pair's master does.
    public var acting: Bool
    /// Why it acts or not (`master of pair dir`, `backup of pair dir: watching`, `no VRRP instance: watching only`).
    public var mastership: String
    /// The hosts the controller watches (those with a `libvirt:` key), by name.
    public var hosts: [Host]
    /// Hosts of the topology without a `libvirt:` key: not watched.
    public var ignored: [String]
    /// Why the controller does not run at all (the placement could not be computed), or nil.
    public var problem: String?

    /// Creates a report.
    public init(acting: Bool, mastership: String, hosts: [Host], ignored: [String] = [], problem: String? = nil) {
        self.acting = acting; self.mastership = mastership; self.hosts = hosts; self.ignored = ignored; self.problem = problem
    }

    /// The section of `tandemctl status`: one block per host, its last note and its last recovery.
    public func rendered() -> String {
        var out = "hosts: \(acting ? "acting" : "not acting") (\(mastership))\n"
        if let p = problem { out += "  !! \(p)\n" }
        for h in hosts {
            out += "  \(h.name)  \(h.phase.uppercased())  \(h.connection)  fence: \(h.fenceAgent ?? "none (tandemctl hosts confirm-off \(h.name))")\n"
            if let f = h.fenceState { out += "    fence: \(f)\n" }
            if let n = h.lastNote { out += "    \(n.at) [\(n.kind)] \(n.message)\n" }
            if let r = h.lastRecovery { out += "    last recovery: \(r.summary)\n" }
        }
        if !ignored.isEmpty { out += "  not watched (no libvirt: key): \(ignored.joined(separator: ", "))\n" }
        return out
    }
}

/// What `POST /hosts/HOST/confirm-off` answers once the controller has the operator's word.
public struct ConfirmOffResult: Codable, Sendable, Equatable {
    /// The host.
    public var host: String
    /// Its phase when the request came.
    public var phaseBefore: String
    /// Its phase when the daemon answered (`restoring` once the restarts were issued).
    public var phase: String
    /// Whether this director acts on it (the pair's master); a backup records the confirmation only.
    public var acting: Bool

    /// Creates a result.
    public init(host: String, phaseBefore: String, phase: String, acting: Bool) {
        self.host = host; self.phaseBefore = phaseBefore; self.phase = phase; self.acting = acting
    }

    /// One line for people.
    public func rendered() -> String {
        "confirmed \(host) off (was \(phaseBefore)); now \(phase)"
            + (acting ? "" : " — this director is not the pair's master: the master restarts its VMs; confirm there too")
    }
}
