import Net

/// Transport protocol of an address-keyed service.
public enum IPVSProtocol: String, Sendable, Hashable, Comparable, CaseIterable, Codable {
    /// TCP.
    case tcp
    /// UDP.
    case udp
    /// SCTP.
    case sctp
    /// Orders by raw value.
    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
    /// A small distinct number per case, for hashing without building the raw-value string.
    var code: UInt8 {
        switch self {
        case .tcp: return 1
        case .udp: return 2
        case .sctp: return 3
        }
    }
}

/// What identifies an IPVS virtual service to the kernel: protocol + address + port, or a firewall
/// mark + family. Compares only those fields, so a scheduler change is an edit, not a new service.
public enum ServiceKey: Sendable, Hashable, Comparable, CustomStringConvertible, Codable {
    /// A TCP/UDP/SCTP service on `address:port` (the family is the address's).
    case address(IPVSProtocol, IPAddress, port: UInt16)
    /// A firewall-mark service.
    case fwmark(UInt32, family: AddressFamily)

    /// Address family of the service.
    public var family: AddressFamily {
        switch self {
        case .address(_, let a, _): return a.family
        case .fwmark(_, let f): return f
        }
    }

    /// ipvsadm notation: `TCP 10.0.0.1:80`, `UDP [fd00::1]:53`, `FWM 7` (`FWM 7 IPv6`).
    public var description: String {
        switch self {
        case .address(let p, let a, let port): return "\(p.rawValue.uppercased()) \(a.withPort(port))"
        case .fwmark(let m, let f): return f == .v4 ? "FWM \(m)" : "FWM \(m) IPv6"
        }
    }

    /// Hashes the identity as a few integers (a `String`-backed enum would hash its raw value text).
    public func hash(into h: inout Hasher) {
        switch self {
        case .address(let p, let a, let port):
            h.combine(p.code)
            a.hash(into: &h)
            h.combine(port)
        case .fwmark(let m, let f):
            h.combine(UInt8(0))
            h.combine(m)
            h.combine(f == .v4)
        }
    }

    /// Address services first (by family, address, port, protocol), then fwmark services.
    public static func < (a: ServiceKey, b: ServiceKey) -> Bool {
        switch (a, b) {
        case let (.address(pa, aa, xa), .address(pb, ab, xb)):
            if aa != ab { return aa < ab }
            if xa != xb { return xa < xb }
            return pa < pb
        case (.address, .fwmark): return true
        case (.fwmark, .address): return false
        case let (.fwmark(ma, fa), .fwmark(mb, fb)):
            return fa != fb ? fa < fb : ma < mb
        }
    }
}

/// Service flags other than persistence (`IP_VS_SVC_F_ONEPACKET`, `IP_VS_SVC_F_SCHED1..3`).
public struct ServiceFlags: OptionSet, Sendable, Hashable, Codable {
    /// The kernel's bits.
    public let rawValue: UInt32
    /// Flags from raw `IP_VS_SVC_F_*` bits.
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// One-packet scheduling (ipvsadm `-o`), `IP_VS_SVC_F_ONEPACKET`.
    public static let onePacket = ServiceFlags(rawValue: 0x0004)
    /// `IP_VS_SVC_F_SCHED1`: sh-fallback / mh-fallback.
    public static let schedFlag1 = ServiceFlags(rawValue: 0x0008)
    /// `IP_VS_SVC_F_SCHED2`: sh-port / mh-port.
    public static let schedFlag2 = ServiceFlags(rawValue: 0x0010)
    /// `IP_VS_SVC_F_SCHED3`.
    public static let schedFlag3 = ServiceFlags(rawValue: 0x0020)
    /// Every bit this type models (others, like HASHED, are kernel-internal).
    public static let all: ServiceFlags = [.onePacket, .schedFlag1, .schedFlag2, .schedFlag3]

    /// Parses an ipvsadm `-b` name (`sh-fallback`, `mh-port`, `flag-3`, …).
    public init?(schedulerFlagName name: String) {
        switch name {
        case "flag-1", "sh-fallback", "mh-fallback": self = .schedFlag1
        case "flag-2", "sh-port", "mh-port": self = .schedFlag2
        case "flag-3": self = .schedFlag3
        default: return nil
        }
    }
}

/// Client persistence of a service (ipvsadm `-p TIMEOUT -M NETMASK`).
public struct Persistence: Sendable, Hashable, Codable {
    /// Seconds.
    public var timeout: UInt32
    /// IPv4: the mask as a host-order integer (`0xffffff00` for /24); IPv6: the prefix length.
    public var netmask: UInt32
    /// Creates persistence settings.
    public init(timeout: UInt32, netmask: UInt32) { self.timeout = timeout; self.netmask = netmask }
    /// The host mask for `family` (`255.255.255.255` or `/128`): persistence per client address.
    public static func hostMask(_ family: AddressFamily) -> UInt32 { family == .v4 ? 0xffff_ffff : 128 }
    /// The mask as ipvsadm prints it: dotted quad for IPv4 (`255.255.255.0`), prefix length for IPv6 (`64`).
    public func maskDescription(_ family: AddressFamily) -> String {
        guard family == .v4 else { return "\(netmask)" }
        return IPAddress(bytes: withUnsafeBytes(of: netmask.bigEndian) { Array($0) })!.description
    }
}

/// An IPVS virtual service's configuration (no counters; see ``ServiceSnapshot``).
public struct IPVSService: Sendable, Hashable, Codable {
    /// Identity.
    public var key: ServiceKey
    /// Scheduler module name without the `ip_vs_` prefix: `rr`, `wlc`, `mh`, …
    public var scheduler: String
    /// Scheduler and one-packet flags.
    public var flags: ServiceFlags
    /// Persistence, or `nil` for none.
    public var persistence: Persistence?

    /// Creates a service.
    public init(key: ServiceKey, scheduler: String, flags: ServiceFlags = [], persistence: Persistence? = nil) {
        self.key = key; self.scheduler = scheduler; self.flags = flags; self.persistence = persistence
    }
}

/// How IPVS forwards to a destination (`IP_VS_CONN_F_*`).
public enum ForwardingMethod: String, Sendable, Hashable, CaseIterable, Codable {
    /// Masquerading (NAT), ipvsadm `-m`.
    case masquerade
    /// Direct routing ("gatewaying"), ipvsadm `-g`.
    case directRoute
    /// IP-in-IP (or GUE/GRE) tunnelling, ipvsadm `-i`.
    case tunnel
    /// Local node.
    case local
    /// Cache bypass.
    case bypass
    /// ipvsadm -Ln's word: `Masq`, `Route`, `Tunnel`, `Local`, `Bypass`.
    public var ipvsadmName: String {
        switch self {
        case .masquerade: return "Masq"
        case .directRoute: return "Route"
        case .tunnel: return "Tunnel"
        case .local: return "Local"
        case .bypass: return "Bypass"
        }
    }
}

/// Encapsulation of a tunnel destination (`IP_VS_CONN_F_TUNNEL_TYPE_*`, kernel 5.3+).
public enum TunnelType: String, Sendable, Hashable, CaseIterable, Codable {
    /// IP-in-IP (the default).
    case ipip
    /// Generic UDP Encapsulation; needs a port.
    case gue
    /// GRE.
    case gre
}

/// What identifies a destination within its service: its address and port.
public struct DestinationKey: Sendable, Hashable, Comparable, CustomStringConvertible, Codable {
    /// Real-server address.
    public var address: IPAddress
    /// Real-server port.
    public var port: UInt16
    /// Creates a key.
    public init(address: IPAddress, port: UInt16) { self.address = address; self.port = port }
    /// `addr:port`.
    public var description: String { address.withPort(port) }
    /// By address, then port.
    public static func < (a: Self, b: Self) -> Bool { a.address != b.address ? a.address < b.address : a.port < b.port }
}

/// A real server of a service (no counters; see ``DestinationSnapshot``).
public struct IPVSDestination: Sendable, Hashable, Codable {
    /// Real-server address.
    public var address: IPAddress
    /// Real-server port.
    public var port: UInt16
    /// Forwarding method.
    public var forwarding: ForwardingMethod
    /// Weight (0 = drained: no new connections).
    public var weight: Int32
    /// Upper connection threshold (0 = none).
    public var upperThreshold: UInt32
    /// Lower connection threshold (0 = none).
    public var lowerThreshold: UInt32
    /// Tunnel encapsulation; meaningful only with `.tunnel` (the kernel reports ipip/0/0 otherwise).
    public var tunnelType: TunnelType
    /// GUE destination port (0 = none).
    public var tunnelPort: UInt16
    /// Tunnel flags (`IP_VS_TUNNEL_ENCAP_FLAG_*`).
    public var tunnelFlags: UInt16

    /// Creates a destination.
    public init(address: IPAddress, port: UInt16, forwarding: ForwardingMethod = .masquerade, weight: Int32 = 1,
                upperThreshold: UInt32 = 0, lowerThreshold: UInt32 = 0,
                tunnelType: TunnelType = .ipip, tunnelPort: UInt16 = 0, tunnelFlags: UInt16 = 0) {
        self.address = address; self.port = port; self.forwarding = forwarding; self.weight = weight
        self.upperThreshold = upperThreshold; self.lowerThreshold = lowerThreshold
        self.tunnelType = tunnelType; self.tunnelPort = tunnelPort; self.tunnelFlags = tunnelFlags
    }

    /// Identity within the service.
    public var key: DestinationKey { DestinationKey(address: address, port: port) }
}

/// Traffic counters of a service or destination (`IPVS_STATS_ATTR_*`, 64-bit when the kernel has them).
public struct IPVSStats: Sendable, Hashable, Codable {
    /// Connections scheduled.
    public var connections: UInt64 = 0
    /// Incoming packets.
    public var inPackets: UInt64 = 0
    /// Outgoing packets.
    public var outPackets: UInt64 = 0
    /// Incoming bytes.
    public var inBytes: UInt64 = 0
    /// Outgoing bytes.
    public var outBytes: UInt64 = 0
    /// Connections per second (rate estimator, ~2 s granularity).
    public var connectionsPerSecond: UInt64 = 0
    /// Incoming packets per second.
    public var inPacketsPerSecond: UInt64 = 0
    /// Outgoing packets per second.
    public var outPacketsPerSecond: UInt64 = 0
    /// Incoming bytes per second.
    public var inBytesPerSecond: UInt64 = 0
    /// Outgoing bytes per second.
    public var outBytesPerSecond: UInt64 = 0
    /// All zero.
    public init() {}
}

/// A destination with its counters, as listed from the kernel.
public struct DestinationSnapshot: Sendable, Hashable, Codable {
    /// Configuration.
    public var destination: IPVSDestination
    /// Active connections.
    public var activeConnections: UInt32
    /// Inactive connections.
    public var inactiveConnections: UInt32
    /// Persistent connection templates.
    public var persistentConnections: UInt32
    /// Traffic counters.
    public var stats: IPVSStats
    /// Creates a snapshot.
    public init(destination: IPVSDestination, activeConnections: UInt32 = 0, inactiveConnections: UInt32 = 0,
                persistentConnections: UInt32 = 0, stats: IPVSStats = IPVSStats()) {
        self.destination = destination; self.activeConnections = activeConnections
        self.inactiveConnections = inactiveConnections; self.persistentConnections = persistentConnections
        self.stats = stats
    }
}

/// A service with its counters and destinations, as listed from the kernel.
public struct ServiceSnapshot: Sendable, Hashable, Codable {
    /// Configuration.
    public var service: IPVSService
    /// Traffic counters.
    public var stats: IPVSStats
    /// Destinations, sorted by key.
    public var destinations: [DestinationSnapshot]
    /// Creates a snapshot.
    public init(service: IPVSService, stats: IPVSStats = IPVSStats(), destinations: [DestinationSnapshot] = []) {
        self.service = service; self.stats = stats; self.destinations = destinations
    }
}

/// A service and its destinations: the unit the reconciler compares.
public struct ServiceState: Sendable, Hashable {
    /// The service's configuration.
    public var service: IPVSService
    /// Its destinations by key.
    public var destinations: [DestinationKey: IPVSDestination]
    /// Creates a service state.
    public init(service: IPVSService, destinations: [DestinationKey: IPVSDestination] = [:]) {
        self.service = service; self.destinations = destinations
    }
}

/// IPVS configuration (services and destinations, no counters) keyed by identity.
public struct IPVSState: Sendable, Hashable {
    /// Services by key.
    public var services: [ServiceKey: ServiceState]
    /// Creates a state.
    public init(services: [ServiceKey: ServiceState] = [:]) { self.services = services }
    /// Builds a state from kernel snapshots, dropping counters.
    public init(snapshots: [ServiceSnapshot]) {
        var s: [ServiceKey: ServiceState] = [:]
        for snap in snapshots {
            var d: [DestinationKey: IPVSDestination] = [:]
            for ds in snap.destinations { d[ds.destination.key] = ds.destination }
            s[snap.service.key] = ServiceState(service: snap.service, destinations: d)
        }
        services = s
    }
    /// Number of destinations over all services.
    public var destinationCount: Int { services.values.reduce(0) { $0 + $1.destinations.count } }
}

/// One write to the kernel's IPVS table.
public enum IPVSOperation: Sendable, Hashable, CustomStringConvertible {
    /// `IPVS_CMD_NEW_SERVICE`.
    case addService(IPVSService)
    /// `IPVS_CMD_SET_SERVICE`: scheduler, flags or persistence changed.
    case editService(IPVSService)
    /// `IPVS_CMD_DEL_SERVICE` (the kernel drops its destinations too).
    case deleteService(ServiceKey)
    /// `IPVS_CMD_NEW_DEST`.
    case addDestination(ServiceKey, IPVSDestination)
    /// `IPVS_CMD_SET_DEST`: forwarding, weight, thresholds or tunnel settings changed.
    case editDestination(ServiceKey, IPVSDestination)
    /// `IPVS_CMD_DEL_DEST`.
    case deleteDestination(ServiceKey, DestinationKey)

    /// The service the operation touches.
    public var serviceKey: ServiceKey {
        switch self {
        case .addService(let s), .editService(let s): return s.key
        case .deleteService(let k): return k
        case .addDestination(let k, _), .editDestination(let k, _), .deleteDestination(let k, _): return k
        }
    }

    /// One line, ipvsadm-like: `add-service TCP 10.0.0.1:80 wlc`.
    public var description: String {
        func svc(_ s: IPVSService) -> String {
            var t = "\(s.key) \(s.scheduler)"
            if !s.flags.isEmpty { t += " flags=0x\(String(s.flags.rawValue, radix: 16))" }
            if let p = s.persistence { t += " persistent \(p.timeout) mask \(p.maskDescription(s.key.family))" }
            return t
        }
        func dst(_ d: IPVSDestination) -> String {
            var t = "\(d.key) \(d.forwarding.ipvsadmName) weight \(d.weight)"
            if d.upperThreshold != 0 || d.lowerThreshold != 0 { t += " thresholds \(d.lowerThreshold)-\(d.upperThreshold)" }
            if d.forwarding == .tunnel && d.tunnelType != .ipip { t += " \(d.tunnelType.rawValue):\(d.tunnelPort)" }
            return t
        }
        switch self {
        case .addService(let s): return "add-service \(svc(s))"
        case .editService(let s): return "edit-service \(svc(s))"
        case .deleteService(let k): return "delete-service \(k)"
        case .addDestination(let k, let d): return "add-destination \(k) -> \(dst(d))"
        case .editDestination(let k, let d): return "edit-destination \(k) -> \(dst(d))"
        case .deleteDestination(let k, let d): return "delete-destination \(k) -> \(d)"
        }
    }
}

/// `IPVS_CMD_GET_INFO`: the kernel's IPVS version and connection table size.
public struct IPVSInfo: Sendable, Hashable, Codable {
    /// `IP_VS_VERSION_CODE`, e.g. 0x010201.
    public var versionCode: UInt32
    /// Connection hash table size.
    public var connectionTableSize: UInt32
    /// `1.2.1`.
    public var version: String { "\(versionCode >> 16).\((versionCode >> 8) & 0xff).\(versionCode & 0xff)" }
    /// Creates an info value.
    public init(versionCode: UInt32, connectionTableSize: UInt32) {
        self.versionCode = versionCode; self.connectionTableSize = connectionTableSize
    }
}

/// Protocol timeouts in seconds (`IPVS_CMD_GET_CONFIG`/`SET_CONFIG`). 0 in a set means "leave unchanged".
public struct IPVSTimeouts: Sendable, Hashable, Codable {
    /// Established TCP.
    public var tcp: UInt32
    /// TCP after FIN.
    public var tcpFin: UInt32
    /// UDP.
    public var udp: UInt32
    /// Creates timeouts.
    public init(tcp: UInt32, tcpFin: UInt32, udp: UInt32) { self.tcp = tcp; self.tcpFin = tcpFin; self.udp = udp }
}

/// A connection sync daemon (`IPVS_CMD_NEW_DAEMON`).
public struct SyncDaemon: Sendable, Hashable, Codable {
    /// Master sends connection state; backup receives it.
    public enum Role: String, Sendable, Hashable, Codable { case master, backup }
    /// Role.
    public var role: Role
    /// Multicast interface, e.g. `eth0`.
    public var interface: String
    /// Sync id (0–255).
    public var syncID: UInt32
    /// UDP payload size (0 = kernel default).
    public var maxLength: UInt16
    /// Multicast group (nil = kernel default 224.0.0.81).
    public var group: IPAddress?
    /// Multicast port (0 = kernel default 8848).
    public var port: UInt16
    /// Multicast TTL (0 = kernel default 1).
    public var ttl: UInt8
    /// Creates a daemon description.
    public init(role: Role, interface: String, syncID: UInt32 = 0, maxLength: UInt16 = 0,
                group: IPAddress? = nil, port: UInt16 = 0, ttl: UInt8 = 0) {
        self.role = role; self.interface = interface; self.syncID = syncID; self.maxLength = maxLength
        self.group = group; self.port = port; self.ttl = ttl
    }
}

/// One operation the kernel refused (see `IPVSClient.execute(_:)` and ``IPVSTableAccess``).
public struct IPVSOperationFailure: Error, Sendable, Equatable, CustomStringConvertible {
    /// The refused operation.
    public var operation: IPVSOperation
    /// The kernel's errno (`EEXIST`, `ENOENT`…).
    public var errno: Int32
    /// The kernel's (or the library's) message for it.
    public var message: String
    /// Creates a failure.
    public init(operation: IPVSOperation, errno: Int32, message: String) {
        self.operation = operation; self.errno = errno; self.message = message
    }
    /// `add-service TCP 10.0.0.1:80 nosuch: No such file or directory (errno 2)`.
    public var description: String { "\(operation): \(message) (errno \(errno))" }
}

/// What the reconcile engine needs from a kernel IPVS table: read some services, write operations.
///
/// `IPVSClient` (the generic-netlink edge) conforms; `InMemoryIPVSTable` (Reconcile) stands in for
/// `tandemd --dry-run-kernel` and for tests. Implementations are used from one thread at a time
/// (the daemon keeps its engine on a dedicated thread).
public protocol IPVSTableAccess: AnyObject {
    /// The services `keys` as the kernel holds them, with their destinations; a key the kernel does
    /// not have is absent from the result.
    func read(_ keys: [ServiceKey]) throws -> IPVSState
    /// Executes `ops` in order and returns those the kernel refused (the rest took effect).
    func execute(_ ops: [IPVSOperation]) throws -> [IPVSOperationFailure]
}
