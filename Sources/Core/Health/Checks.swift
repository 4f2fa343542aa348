import Net
import Topology

/// What one check found.
public enum CheckOutcome: Sendable, Equatable {
    /// Healthy.
    case success
    /// Unhealthy. `immediate` marks definitive answers (connection refused or reset) that drain at
    /// once instead of counting toward `fall`.
    case failure(reason: String, immediate: Bool)
    /// No answer within the check's timeout.
    case timedOut

    /// The rise/fall event this outcome feeds.
    public var event: RiseFall.Event {
        switch self {
        case .success: return .checkSucceeded
        case .failure(let r, let i): return .checkFailed(reason: r, immediate: i)
        case .timedOut: return .timedOut
        }
    }

    /// True for ``success``.
    public var isSuccess: Bool { self == .success }
}

/// Identity of one running check: what must stay equal for a reload to keep the checker and its
/// state. Anything that changes the check (address, port, kind, timing) makes a new key.
public struct CheckKey: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// `VirtualService.name`.
    public var service: String
    /// `ServiceMember.name`.
    public var member: String
    /// Address checked (text form).
    public var address: String
    /// Port checked.
    public var port: UInt16
    /// A stable text form of the whole ``HealthCheckSpec`` (kind and timing).
    public var spec: String

    /// Creates a key.
    public init(service: String, member: String, address: String, port: UInt16, spec: String) {
        self.service = service; self.member = member; self.address = address; self.port = port; self.spec = spec
    }

    /// `service/member@address:port`.
    public var description: String { "\(service)/\(member)@\(address):\(port)" }

    /// Orders by service, member, then the rest.
    public static func < (a: Self, b: Self) -> Bool {
        (a.service, a.member, a.address, a.port, a.spec) < (b.service, b.member, b.address, b.port, b.spec)
    }
}

/// Everything needed to run checks against one member.
public struct CheckTarget: Sendable, Equatable {
    /// Service the member belongs to.
    public var service: String
    /// The member's name (`ServiceMember.name`: its VM's, or a plain real server's).
    public var member: String
    /// Address to check.
    public var address: IPAddress
    /// Port to check.
    public var port: UInt16
    /// What and how often.
    public var spec: HealthCheckSpec

    /// Creates a target.
    public init(service: String, member: String, address: IPAddress, port: UInt16, spec: HealthCheckSpec) {
        self.service = service; self.member = member; self.address = address; self.port = port; self.spec = spec
    }

    /// The identity a reload compares.
    public var key: CheckKey {
        CheckKey(service: service, member: member, address: address.description, port: port, spec: String(describing: spec))
    }

    /// Every member of every service in `topology`, in file order. Members whose address does not
    /// resolve are left out (validation rejects such files).
    public static func all(in topology: Topology) -> [CheckTarget] {
        topology.services.flatMap { s in
            s.members.compactMap { m in
                topology.address(of: m, in: s).map {
                    CheckTarget(service: s.name, member: m.name, address: $0, port: m.port, spec: s.check)
                }
            }
        }
    }
}

