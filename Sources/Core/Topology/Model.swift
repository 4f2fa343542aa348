import Net
/// The whole site as a topology file describes it: Xen hosts, the VMs on them, plain machines
/// outside that inventory, the virtual services, the director pair and the database ring.
///
/// A load-balancer-only site has no hosts and no VMs: its directors are ``Machine``s and its
/// services' members plain real servers (``ServiceMember/vmName`` is `nil`); nothing is placed.
///
/// A `Topology` value is only ever produced by ``TopologyLoader`` after validation, so code that
/// receives one may rely on every reference resolving and every name being unique.
public struct Topology: Sendable, Equatable, Codable {
    /// Short site name, used in logs and reports.
    public var site: String
    /// Placement options that apply to the whole site.
    public var placement: PlacementPolicy
    /// Physical Xen hosts (dom0).
    public var hosts: [XenHost] { didSet { hostIndex = Self.index(hosts.map(\.name)) } }
    /// Guest VMs (domU).
    public var vms: [DomU] { didSet { vmIndex = Self.index(vms.map(\.name)) } }
    /// Plain machines outside the hypervisor inventory (bare-metal directors, database nodes).
    public var machines: [Machine] { didSet { machineIndex = Self.index(machines.map(\.name)) } }
    /// Load-balanced services.
    public var services: [VirtualService] { didSet { serviceIndex = Self.index(services.map(\.name)) } }
    /// Active/standby director pairs. FermiGrid had one; a large site may run one per community.
    public var directorPairs: [DirectorPair]
    /// The MariaDB ring behind the services, if any.
    public var database: ReplicationRing?
    /// Anti-affinity groups declared explicitly in the file (implicit ones come from ``antiAffinityGroups``).
    public var antiAffinity: [AntiAffinityGroup]
    /// How `tandemd` runs on this site (`daemon:`): its API token, the repair sweep's pace.
    public var daemon = DaemonSettings()
    /// Domain XML templates by name (`domain_templates:`): name → absolute path of the template file.
    public var domainTemplates: [String: String] = [:]

    public init(site: String, placement: PlacementPolicy = .init(), hosts: [XenHost], vms: [DomU], machines: [Machine] = [],
                services: [VirtualService], directorPairs: [DirectorPair] = [],
                database: ReplicationRing? = nil, antiAffinity: [AntiAffinityGroup] = []) {
        self.site = site; self.placement = placement; self.hosts = hosts; self.vms = vms; self.machines = machines
        self.services = services; self.directorPairs = directorPairs; self.database = database
        self.antiAffinity = antiAffinity
        hostIndex = Self.index(hosts.map(\.name)); vmIndex = Self.index(vms.map(\.name))
        machineIndex = Self.index(machines.map(\.name)); serviceIndex = Self.index(services.map(\.name))
    }

    // Name → position, so that looking a host, VM or service up by name costs O(1): a site of
    // 10,000 services and 20,000 VMs resolves every member's address at start and on every reload.
    private var hostIndex: [String: Int] = [:]
    private var vmIndex: [String: Int] = [:]
    private var machineIndex: [String: Int] = [:]
    private var serviceIndex: [String: Int] = [:]

    private static func index(_ names: [String]) -> [String: Int] {
        var out: [String: Int] = [:]
        out.reserveCapacity(names.count)
        for (i, n) in names.enumerated() where out[n] == nil { out[n] = i }
        return out
    }

    private enum CodingKeys: String, CodingKey {
        case site, placement, hosts, vms, machines, services, directorPairs, database, antiAffinity, daemon, domainTemplates
    }

    /// Decodes the fields and rebuilds the name indexes.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(site: try c.decode(String.self, forKey: .site), placement: try c.decode(PlacementPolicy.self, forKey: .placement),
                  hosts: try c.decode([XenHost].self, forKey: .hosts), vms: try c.decode([DomU].self, forKey: .vms),
                  machines: try c.decodeIfPresent([Machine].self, forKey: .machines) ?? [],
                  services: try c.decode([VirtualService].self, forKey: .services),
                  directorPairs: try c.decode([DirectorPair].self, forKey: .directorPairs),
                  database: try c.decodeIfPresent(ReplicationRing.self, forKey: .database),
                  antiAffinity: try c.decode([AntiAffinityGroup].self, forKey: .antiAffinity))
        daemon = try c.decodeIfPresent(DaemonSettings.self, forKey: .daemon) ?? .init()
        domainTemplates = try c.decodeIfPresent([String: String].self, forKey: .domainTemplates) ?? [:]
    }

    /// Same site: the indexes follow from the fields.
    public static func == (a: Topology, b: Topology) -> Bool {
        a.site == b.site && a.placement == b.placement && a.hosts == b.hosts && a.vms == b.vms && a.machines == b.machines
            && a.services == b.services
            && a.directorPairs == b.directorPairs && a.database == b.database && a.antiAffinity == b.antiAffinity
            && a.daemon == b.daemon && a.domainTemplates == b.domainTemplates
    }

    /// The first (usually only) director pair.
    public var directors: DirectorPair? { directorPairs.first }

    /// The VM with this name, if declared.
    public func vm(named name: String) -> DomU? { vmIndex[name].map { vms[$0] } }
    /// The host with this name, if declared.
    public func host(named name: String) -> XenHost? { hostIndex[name].map { hosts[$0] } }
    /// The service with this name, if declared.
    public func service(named name: String) -> VirtualService? { serviceIndex[name].map { services[$0] } }
    /// The plain machine with this name, if declared.
    public func machine(named name: String) -> Machine? { machineIndex[name].map { machines[$0] } }

    /// The interface addresses of the VM or machine called `name` (a director, a ring node), or
    /// `nil` when neither is declared.
    public func addresses(ofNode name: String) -> [InterfaceAddress]? {
        vm(named: name)?.addresses ?? machine(named: name)?.addresses
    }

    /// The real-server address IPVS should use for `member` of `service`: the member's own
    /// `address` if set (always, for a plain real server), otherwise the member VM's first
    /// address of the VIP's family.
    public func address(of member: ServiceMember, in service: VirtualService) -> IPAddress? {
        if let a = member.address { return a }
        return member.vmName.flatMap(vm(named:))?.addresses.first { $0.address.family == service.vip.family }?.address
    }

    /// True when the site has a hypervisor inventory to place: at least one host or VM. A
    /// load-balancer-only site (machines and plain real servers) has none.
    public var hasInventory: Bool { !hosts.isEmpty || !vms.isEmpty }

    /// Every anti-affinity group, implicit and explicit: the director pair, each service's
    /// members, the ring's members, then the groups the file declares. Only VMs are placed, so
    /// machines and plain real servers are left out of the implicit groups (separate machines are
    /// apart already). Groups with fewer than two distinct VMs are dropped since they constrain nothing.
    public var antiAffinityGroups: [AntiAffinityGroup] {
        var groups: [AntiAffinityGroup] = []
        let placed = { (name: String) in self.machine(named: name) == nil }
        for d in directorPairs {
            groups.append(.init(name: "director pair \(d.name)", members: d.members.filter(placed), origin: .directors(d.name)))
        }
        for s in services {
            groups.append(.init(name: "service \(s.name)", members: s.members.compactMap(\.vmName), origin: .service(s.name)))
        }
        if let r = database { groups.append(.init(name: "database ring", members: r.members.filter(placed), origin: .ring)) }
        groups += antiAffinity
        return groups.compactMap { g in
            var seen = Set<String>()
            let members = g.members.filter { seen.insert($0).inserted }
            return members.count >= 2 ? AntiAffinityGroup(name: g.name, members: members, origin: g.origin) : nil
        }
    }
}

/// How `tandemd` runs (`daemon:`).
public struct DaemonSettings: Sendable, Equatable, Codable {
    /// The bearer token file that guards `POST /drain` and `/undrain`; `nil`: drain is disabled.
    public var tokenFile: String?
    /// How soon a new repair sweep of the owned IPVS table may start after the last one began, in ms.
    public var repairIntervalMs: Int
    public init(tokenFile: String? = nil, repairIntervalMs: Int = 5000) {
        self.tokenFile = tokenFile; self.repairIntervalMs = repairIntervalMs
    }
}

/// Site-wide placement options.
public struct PlacementPolicy: Sendable, Equatable, Codable {
    /// Host label keys (for example `rack`, `power`) whose values must also differ between the
    /// members of an anti-affinity group. Empty means "separate hosts" only.
    public var spread: [String]
    public init(spread: [String] = []) { self.spread = spread }
}

/// A physical Xen host (dom0) that runs VMs.
public struct XenHost: Sendable, Equatable, Codable {
    /// Unique host name.
    public var name: String
    /// Management address of dom0.
    public var address: IPAddress
    /// Physical CPUs available to guests.
    public var cpus: Int
    /// Memory available to guests, in MiB.
    public var memoryMiB: Int
    /// Failure-domain labels, for example `rack: r1`, `power: feed-a`.
    public var labels: [String: String]
    /// The libvirt URI of its hypervisor (`xen+ssh://root@dom0/system`, `lxc:///`), if Tandem may reach it.
    public var libvirt: String?
    /// How Tandem powers this host off when it is lost (`fence:`); absent: an operator must confirm it
    /// is off (`tandemctl hosts confirm-off`) before any of its VMs restarts elsewhere.
    public var fence: HostFence?

    public init(name: String, address: IPAddress, cpus: Int, memoryMiB: Int, labels: [String: String] = [:], libvirt: String? = nil,
                fence: HostFence? = nil) {
        self.name = name; self.address = address; self.cpus = cpus; self.memoryMiB = memoryMiB; self.labels = labels
        self.libvirt = libvirt; self.fence = fence
    }
}

/// A host's fence device (`hosts[].fence`): a fence agent that speaks the standard fence-agent
/// protocol (`fence_ipmilan`, `fence_redfish`, `fence_xenapi`, `fence_virsh`, the lab's
/// `fence_tandemlab`…), its options, and the files its secrets are read from.
public struct HostFence: Sendable, Equatable, Codable {
    /// The agent: a name found on `PATH`, or an absolute path.
    public var agent: String
    /// Options sent as `key=value` lines on the agent's stdin (`ip`, `username`, `plug`, `lanplus`…).
    /// They appear in logs: never secrets.
    public var options: [String: String]
    /// Secret options: option name → absolute path of a file only its owner may read (mode 0600 or
    /// stricter), read at every run, e.g. `password: /etc/tandem/fence-h1.password`.
    public var secretFiles: [String: String]
    /// Bound on one run of the agent, in seconds; past it the run counts as failed.
    public var timeoutSeconds: Double
    /// How many times `off` is tried before the host waits for an operator.
    public var attempts: Int

    public init(agent: String, options: [String: String] = [:], secretFiles: [String: String] = [:],
                timeoutSeconds: Double = 30, attempts: Int = 3) {
        self.agent = agent; self.options = options; self.secretFiles = secretFiles
        self.timeoutSeconds = timeoutSeconds; self.attempts = attempts
    }
}

/// How a VM's libvirt domain is made (`vms[].domain`): a named template of the site's
/// (`domain_templates:`) or an XML file of its own, with the values Tandem fills in.
///
/// A template is a libvirt domain XML file with `{{key}}` placeholders. Tandem fills in `name`,
/// `vcpus`, `memory_mib`, `memory_kib`, `address` (the VM's first address, without prefix),
/// `prefix`, `mac` (derived from the VM's name, so it survives a move to another host), and every
/// key of ``values``. An `xml_file` is used as written; its `<name>` must be the VM's name.
public struct VMDomain: Sendable, Equatable, Codable {
    /// Where the XML comes from.
    public enum Source: Sendable, Equatable, Codable {
        /// A template named in `domain_templates:`.
        case template(String)
        /// An absolute path of a complete domain XML file.
        case xmlFile(String)
    }
    /// Where the XML comes from.
    public var source: Source
    /// Extra placeholder values for a template (`port: "8443"`).
    public var values: [String: String]

    /// The placeholders Tandem fills in from the VM itself; ``values`` may not redefine them.
    public static let builtInKeys = ["name", "vcpus", "memory_mib", "memory_kib", "address", "prefix", "mac"]

    public init(source: Source, values: [String: String] = [:]) { self.source = source; self.values = values }
}

/// A plain machine outside the hypervisor inventory: a bare-metal director or database node, or
/// a VM that Tandem does not place. It is named, so the director pair and the ring can list it,
/// and it has addresses (the first is a director's VRRP source); it has no host and no size.
public struct Machine: Sendable, Equatable, Codable {
    /// Unique name among VMs and machines.
    public var name: String
    /// Interface addresses, IPv4 and/or IPv6, with optional prefix.
    public var addresses: [InterfaceAddress]
    /// A machine called `name` with these addresses.
    public init(name: String, addresses: [InterfaceAddress]) { self.name = name; self.addresses = addresses }
}

/// What a VM is for. The role drives nothing in placement; it makes plans and reports readable.
public enum VMRole: String, Sendable, Equatable, Codable, CaseIterable {
    case director, voms, gums, saz, database, other
}

/// A guest VM (domU).
public struct DomU: Sendable, Equatable, Codable {
    /// Unique VM name.
    public var name: String
    /// What the VM is for.
    public var role: VMRole
    /// Virtual CPUs.
    public var vcpus: Int
    /// Memory in MiB.
    public var memoryMiB: Int
    /// Interface addresses, IPv4 and/or IPv6, with optional prefix.
    public var addresses: [InterfaceAddress]
    /// Host the VM must run on, if pinned.
    public var pinnedHost: String?
    /// How its libvirt domain is made (`domain:`); absent: Tandem never defines it, and a lost host's
    /// copy can restart elsewhere only where the domain is already defined.
    public var domain: VMDomain?

    public init(name: String, role: VMRole, vcpus: Int, memoryMiB: Int, addresses: [InterfaceAddress], pinnedHost: String? = nil,
                domain: VMDomain? = nil) {
        self.name = name; self.role = role; self.vcpus = vcpus; self.memoryMiB = memoryMiB
        self.addresses = addresses; self.pinnedHost = pinnedHost; self.domain = domain
    }
}

/// Transport of a virtual service, or `fwmark` for a firewall-mark service.
public enum ServiceProtocol: String, Sendable, Equatable, Hashable, Codable, CaseIterable {
    case tcp, udp, fwmark
}

/// IPVS schedulers the 6.1 kernel ships (`ip_vs_*.ko`).
public enum Scheduler: String, Sendable, Equatable, Hashable, Codable, CaseIterable {
    case rr, wrr, lc, wlc, lblc, lblcr, dh, sh, sed, nq, fo, ovf, mh
}

/// Scheduler flags IPVS understands (`IP_VS_SVC_F_SCHED1..3`), by the names ipvsadm uses.
public enum SchedulerFlag: String, Sendable, Equatable, Hashable, Codable, CaseIterable {
    case shFallback = "sh-fallback", shPort = "sh-port", mhFallback = "mh-fallback", mhPort = "mh-port"
}

/// How IPVS forwards packets to a real server.
public enum ForwardingMethod: String, Sendable, Equatable, Hashable, Codable, CaseIterable {
    /// Masquerading: the director rewrites the destination and replies return through it.
    case nat
    /// Direct routing: the real server holds the VIP on a non-ARPing interface and replies directly.
    case dr
    /// IP-in-IP tunnelling.
    case tun
}

/// Client persistence (ipvsadm `-p`/`-M`).
public struct Persistence: Sendable, Equatable, Codable {
    /// Seconds a client sticks to the same real server.
    public var timeoutSeconds: UInt32
    /// Client address mask for IPv4 (`255.255.255.0`) or prefix length for IPv6.
    public var netmask: UInt32
    public init(timeoutSeconds: UInt32, netmask: UInt32) { self.timeoutSeconds = timeoutSeconds; self.netmask = netmask }
}

/// One real server of a virtual service: a VM of the inventory, or a plain real server known by
/// its address (bare metal, or anything Tandem does not place).
public struct ServiceMember: Sendable, Equatable, Codable {
    /// The member's stable name, its identity in the daemon (`MemberRef`), in drains and in
    /// status: its VM's name, else the plain server's `name`, else its `address:port`.
    public var name: String
    /// The VM that runs it; `nil` for a plain real server.
    public var vmName: String?
    /// Port the real server listens on (0 for fwmark services means "same as the client's").
    public var port: UInt16
    /// IPVS weight when healthy.
    public var weight: Int
    /// Real-server address: a VM member's override (by default the VM's first address of the
    /// VIP's family), always set for a plain real server.
    public var address: IPAddress?

    /// A member run by the VM `vm`, named by it.
    public init(vm: String, port: UInt16, weight: Int = 1, address: IPAddress? = nil) {
        self.name = vm; self.vmName = vm; self.port = port; self.weight = weight; self.address = address
    }

    /// A plain real server at `address`, named `name` or, by default, `address:port`.
    public init(server address: IPAddress, port: UInt16, weight: Int = 1, name: String? = nil) {
        self.name = name ?? Self.defaultName(address, port: port)
        self.vmName = nil; self.port = port; self.weight = weight; self.address = address
    }

    /// `192.0.2.21:80`, `[2001:db8::21]:80`: a plain real server's name when the file gives none.
    public static func defaultName(_ address: IPAddress, port: UInt16) -> String {
        address.family == .v6 ? "[\(address)]:\(port)" : "\(address):\(port)"
    }
}

/// What to do when every member of a service has failed its checks.
public enum LastMemberPolicy: Sendable, Equatable, Codable {
    /// Keep the last members in service at their weight: a degraded answer beats none.
    case keepLast
    /// Send clients to a sorry server instead.
    case sorryServer(IPAddress, port: UInt16)
}

/// A load-balanced service: a VIP (or firewall mark) and the real servers behind it.
public struct VirtualService: Sendable, Equatable, Codable {
    public var name: String
    public var vip: IPAddress
    /// Virtual port; 0 for fwmark services.
    public var port: UInt16
    public var proto: ServiceProtocol
    /// Firewall mark, set exactly when `proto == .fwmark`.
    public var fwmark: UInt32?
    public var scheduler: Scheduler
    public var schedulerFlags: [SchedulerFlag]
    public var forwarding: ForwardingMethod
    public var persistence: Persistence?
    public var members: [ServiceMember]
    public var check: HealthCheckSpec
    public var lastMember: LastMemberPolicy
    /// Passive silence detection from the director's own connection table (`nil`: off).
    /// Only with NAT forwarding; see docs/health-checks.md, "Passive silence detection".
    public var passive: PassiveDetection?

    public init(name: String, vip: IPAddress, port: UInt16, proto: ServiceProtocol = .tcp, fwmark: UInt32? = nil,
                scheduler: Scheduler = .wlc, schedulerFlags: [SchedulerFlag] = [], forwarding: ForwardingMethod = .nat,
                persistence: Persistence? = nil, members: [ServiceMember], check: HealthCheckSpec,
                lastMember: LastMemberPolicy = .keepLast, passive: PassiveDetection? = nil) {
        self.name = name; self.vip = vip; self.port = port; self.proto = proto; self.fwmark = fwmark
        self.scheduler = scheduler; self.schedulerFlags = schedulerFlags; self.forwarding = forwarding
        self.persistence = persistence; self.members = members; self.check = check; self.lastMember = lastMember
        self.passive = passive
    }
}

/// Settings of passive silence detection for one service (`passive:` in the topology file).
///
/// The director sees every client connection to a NAT service. A member that leaves
/// `minConnections` new connections unanswered (no SYN-ACK back) for `window` is drained at once,
/// as if its check had been refused; its active check brings it back (`rise`).
public struct PassiveDetection: Sendable, Equatable, Codable {
    /// Smallest accepted window, in milliseconds.
    public static let minWindowMs = 50
    /// Largest accepted window, in milliseconds.
    public static let maxWindowMs = 10_000
    /// How long a new connection may wait for the member's answer, in milliseconds.
    public var windowMs: Int
    /// How many unanswered new connections make the member silent (at least 1).
    public var minConnections: Int
    public init(windowMs: Int = 300, minConnections: Int = 3) {
        self.windowMs = windowMs; self.minConnections = minConnections
    }
}

/// How to check one member, with the timing every kind shares.
public struct HealthCheckSpec: Sendable, Equatable, Codable {
    /// What to do on each check.
    public enum Kind: Sendable, Equatable, Codable {
        /// Open a TCP connection to the member's port.
        case tcp
        /// Send an HTTP(S) request and compare the status and, optionally, the body.
        case http(HTTPCheck)
        /// Run a command; exit status 0 means healthy.
        case exec(command: [String])
        /// Replication-aware MariaDB check.
        case mariadb(user: String, passwordFile: String?)
    }
    public var kind: Kind
    /// Time between checks, in milliseconds.
    public var intervalMs: Int
    /// Time after which a silent check counts as failed, in milliseconds.
    public var timeoutMs: Int
    /// Consecutive successes that bring a failed member back.
    public var rise: Int
    /// Consecutive failures that drain a healthy member.
    public var fall: Int

    public init(kind: Kind, intervalMs: Int = 1000, timeoutMs: Int = 1000, rise: Int = 2, fall: Int = 2) {
        self.kind = kind; self.intervalMs = intervalMs; self.timeoutMs = timeoutMs; self.rise = rise; self.fall = fall
    }
}

/// Parameters of an HTTP(S) check.
public struct HTTPCheck: Sendable, Equatable, Codable {
    public var scheme: String
    public var method: String
    public var path: String
    public var expectStatus: Int
    /// Healthy only if the body contains this text.
    public var bodyContains: String?
    /// Healthy only if the body's SHA-256 (hex) equals this.
    public var bodySHA256: String?
    public init(scheme: String = "http", method: String = "GET", path: String = "/", expectStatus: Int = 200,
                bodyContains: String? = nil, bodySHA256: String? = nil) {
        self.scheme = scheme; self.method = method; self.path = path; self.expectStatus = expectStatus
        self.bodyContains = bodyContains; self.bodySHA256 = bodySHA256
    }
}

/// The active/standby LVS director pair and its VRRP parameters.
public struct DirectorPair: Sendable, Equatable, Codable {
    /// Name of the pair, unique in the site (default `directors`).
    public var name: String
    /// The two directors: names of VMs or machines.
    public var members: [String]
    /// VRRP virtual router id, 1–255.
    public var vrid: Int
    /// VRRP priority per member, 1–254 (255 is reserved for the address owner, RFC 5798 §5.2.4).
    public var priorities: [String: Int]
    /// VRRP advertisement interval in milliseconds (RFC 5798: centisecond resolution, ≤ 40.95 s).
    public var advertIntervalMs: Int
    /// Interface the heartbeat runs on.
    public var interface: String
    /// Services whose VIPs this pair holds; empty means every service.
    public var services: [String]
    /// A third address both directors can reach; the split-brain rule consults it.
    public var witness: IPAddress?
    /// Command that fences the peer (for example `xl destroy PEER`); `{peer}` is replaced.
    public var fenceCommand: [String]?
    /// Settings for both members (`key_file`, `preempt`, … on the pair itself).
    public var defaults: DirectorSettings
    /// Each member's own settings (`nodes:`), winning over ``defaults``.
    public var nodes: [String: DirectorSettings]
    public init(name: String = "directors", members: [String], vrid: Int, priorities: [String: Int],
                advertIntervalMs: Int, interface: String, services: [String] = [],
                witness: IPAddress? = nil, fenceCommand: [String]? = nil,
                defaults: DirectorSettings = .init(), nodes: [String: DirectorSettings] = [:]) {
        self.name = name; self.members = members; self.vrid = vrid; self.priorities = priorities
        self.advertIntervalMs = advertIntervalMs; self.interface = interface; self.services = services
        self.witness = witness; self.fenceCommand = fenceCommand; self.defaults = defaults; self.nodes = nodes
    }

    /// What `member` runs with: its own settings over the pair's, and the pair's `interface`
    /// where neither names one. Keys neither sets stay `nil` (their defaults are the VRRP side's).
    public func settings(for member: String) -> DirectorSettings {
        var s = (nodes[member] ?? .init()).over(defaults)
        if s.interface == nil { s.interface = interface }
        return s
    }
}

/// One director's settings (`directors.nodes.NAME`), or the pair's defaults for both. `nil` is
/// "not set here".
public struct DirectorSettings: Sendable, Equatable, Codable {
    /// Interface of the adverts.
    public var interface: String?
    /// Interface of the VIPs, when the heartbeat has its own link.
    public var vipInterface: String?
    /// Advert source and tie-breaker.
    public var primaryAddress: IPAddress?
    /// Unicast advert destinations instead of the multicast group.
    public var unicastPeers: [IPAddress]?
    /// Path of the shared advert key.
    public var keyFile: String?
    /// RFC 5798 Preempt_Mode.
    public var preempt: Bool?
    /// Delay before preempting, in milliseconds.
    public var preemptDelayMs: Int?
    /// The fast detector; `nil`: not set here (off when set nowhere).
    public var fastDetector: FastDetectorSettings?
    /// Run the IPVS connection-sync daemons.
    public var connectionSync: Bool?
    /// Interface of the sync daemons.
    public var syncInterface: String?

    public init(interface: String? = nil, vipInterface: String? = nil, primaryAddress: IPAddress? = nil,
                unicastPeers: [IPAddress]? = nil, keyFile: String? = nil, preempt: Bool? = nil, preemptDelayMs: Int? = nil,
                fastDetector: FastDetectorSettings? = nil, connectionSync: Bool? = nil, syncInterface: String? = nil) {
        self.interface = interface; self.vipInterface = vipInterface; self.primaryAddress = primaryAddress
        self.unicastPeers = unicastPeers; self.keyFile = keyFile; self.preempt = preempt; self.preemptDelayMs = preemptDelayMs
        self.fastDetector = fastDetector; self.connectionSync = connectionSync; self.syncInterface = syncInterface
    }

    /// These settings where set, `base`'s elsewhere.
    public func over(_ base: DirectorSettings) -> DirectorSettings {
        DirectorSettings(interface: interface ?? base.interface, vipInterface: vipInterface ?? base.vipInterface,
                         primaryAddress: primaryAddress ?? base.primaryAddress, unicastPeers: unicastPeers ?? base.unicastPeers,
                         keyFile: keyFile ?? base.keyFile, preempt: preempt ?? base.preempt,
                         preemptDelayMs: preemptDelayMs ?? base.preemptDelayMs, fastDetector: fastDetector ?? base.fastDetector,
                         connectionSync: connectionSync ?? base.connectionSync, syncInterface: syncInterface ?? base.syncInterface)
    }
}

/// The fast detector's settings (`fast_detector:`).
public struct FastDetectorSettings: Sendable, Equatable, Codable {
    /// Time between probes, in milliseconds.
    public var intervalMs: Int
    /// Missed probes in a row that declare the peer down.
    public var misses: Int
    /// SCHED_FIFO priority (1–99) of the probe thread; 0: normal scheduling.
    public var priority: Int
    public init(intervalMs: Int, misses: Int = 3, priority: Int = 10) {
        self.intervalMs = intervalMs; self.misses = misses; self.priority = priority
    }
}

/// The MariaDB ring: members in replication order (each replicates from the one before it).
public struct ReplicationRing: Sendable, Equatable, Codable {
    /// Names of VMs or machines, in replication order.
    public var members: [String]
    public var port: UInt16
    public init(members: [String], port: UInt16 = 3306) { self.members = members; self.port = port }
}

/// VMs that must not share a host (or, with `placement.spread`, a failure domain).
public struct AntiAffinityGroup: Sendable, Equatable, Codable {
    /// Where a group comes from, so messages can say "service gums" rather than a bare list.
    public enum Origin: Sendable, Equatable, Codable {
        case directors(String), service(String), ring, declared
    }
    public var name: String
    public var members: [String]
    public var origin: Origin
    public init(name: String, members: [String], origin: Origin = .declared) {
        self.name = name; self.members = members; self.origin = origin
    }
}
