/// A kind of drill: which fault it injects, into what, and what a good outcome must show.
///
/// The set is open: a kind is its name, and ``DrillKindSpec/catalogue`` says how each known one
/// runs. A new kind (the hosts issue's `host-crash`, `host-hang`) is one more catalogue entry plus
/// the hooks a site configures for it; nothing else changes.
public struct DrillKind: RawRepresentable, Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    /// The name as written on the command line and in the drill file (`director-kill`).
    public let rawValue: String
    /// A kind by name (known or not: ``spec`` says whether it is).
    public init(rawValue: String) { self.rawValue = rawValue }
    /// A kind by name.
    public init(_ name: String) { self.rawValue = name }

    /// The master's links go down and its director daemon is killed (`kill -9`): a dead director host.
    public static let directorKill = DrillKind("director-kill")
    /// The master's director daemon stops gracefully (SIGTERM: a priority-0 advert, RFC 5798 §6.4.3).
    public static let directorGraceful = DrillKind("director-graceful")
    /// The heartbeat link between the directors is cut while both live (split-brain bait).
    public static let heartbeatCut = DrillKind("heartbeat-cut")
    /// The master's service link flaps (off the switch and back) while its carrier stays up.
    public static let linkFlap = DrillKind("link-flap")
    /// A backend's server process is killed: its kernel refuses and resets.
    public static let backendKill = DrillKind("backend-kill")
    /// A backend goes silent (its link down): no RST, no FIN, nothing.
    public static let backendSilent = DrillKind("backend-silent")
    /// Planned maintenance: drain a member, let it finish, stop it gracefully.
    public static let plannedDrain = DrillKind("planned-drain")
    /// One link of the database ring stops replicating (`STOP SLAVE` on a node).
    public static let ringLinkStop = DrillKind("ring-link-stop")

    /// How this kind runs, if it is a known one.
    public var spec: DrillKindSpec? { DrillKindSpec.catalogue[self] }
    /// The name.
    public var description: String { rawValue }
    /// By name.
    public static func < (a: DrillKind, b: DrillKind) -> Bool { a.rawValue < b.rawValue }
}

/// How one kind of drill runs and what its verdict requires.
public struct DrillKindSpec: Sendable, Equatable {
    /// What the fault hits.
    public enum Target: String, Sendable, Equatable, Codable {
        /// The director holding the VIP when the drill starts (or the one named with `--target`).
        case master
        /// One member of a service (a VM named with `--target`).
        case member
        /// One node of the database ring, as a member of the service that checks the ring.
        case ringNode = "ring node"
    }

    /// When the heal hook runs.
    public enum Heal: Sendable, Equatable {
        /// After the probe's window: the fault lasts the whole window and the heal only restores the
        /// site (a killed director restarted, a killed backend started again). What the heal itself
        /// does to the service (a preempting master) is then not part of the figures.
        case afterProbe
        /// This long after the inject hook returns, under load: the fault's end is part of what is
        /// measured (a heartbeat link back after 5 s; keepalived's stale ARP shows only after it).
        case after(Duration)
    }

    /// The kind.
    public var kind: DrillKind
    /// One line for people.
    public var summary: String
    /// What the fault hits.
    public var target: Target
    /// When the heal hook runs.
    public var heal: Heal
    /// The verdict requires that no two directors held the VIP at once.
    public var noDualMaster: Bool
    /// The verdict requires that the held connection survived (when the probe holds one).
    public var connectionSurvives: Bool
    /// The verdict requires that the target member was drained (its weight 0 in the kernel).
    public var drainsTarget: Bool
    /// The verdict requires that the target member was seen down (or drained) by the director.
    public var detectsTarget: Bool
    /// The verdict requires that the probe saw no failed call at all.
    public var lossless: Bool

    /// Every known kind, in the order reports list them.
    public static let known: [DrillKindSpec] = [
        .init(kind: .directorKill, summary: "the master's links go down and its director daemon is killed (kill -9)",
              target: .master, heal: .afterProbe, noDualMaster: true, connectionSurvives: true, drainsTarget: false, detectsTarget: false, lossless: false),
        .init(kind: .directorGraceful, summary: "the master's director daemon stops gracefully (SIGTERM: priority-0 advert)",
              target: .master, heal: .afterProbe, noDualMaster: true, connectionSurvives: true, drainsTarget: false, detectsTarget: false, lossless: false),
        .init(kind: .heartbeatCut, summary: "the heartbeat link is cut for 5 s while both directors live",
              target: .master, heal: .after(.seconds(5)), noDualMaster: true, connectionSurvives: true, drainsTarget: false, detectsTarget: false, lossless: false),
        .init(kind: .linkFlap, summary: "the master's service link flaps (off the switch 300 ms, back 700 ms, 5 times), carrier up",
              target: .master, heal: .after(.zero), noDualMaster: false, connectionSurvives: true, drainsTarget: false, detectsTarget: false, lossless: false),
        .init(kind: .backendKill, summary: "a backend's server process is killed (kill -9): refused and reset",
              target: .member, heal: .afterProbe, noDualMaster: true, connectionSurvives: false, drainsTarget: true, detectsTarget: true, lossless: false),
        .init(kind: .backendSilent, summary: "a backend goes silent (link down): no RST, no FIN",
              target: .member, heal: .afterProbe, noDualMaster: true, connectionSurvives: false, drainsTarget: true, detectsTarget: true, lossless: false),
        .init(kind: .plannedDrain, summary: "planned maintenance: drain a member, let it finish, stop it gracefully",
              target: .member, heal: .afterProbe, noDualMaster: true, connectionSurvives: false, drainsTarget: true, detectsTarget: true, lossless: true),
        .init(kind: .ringLinkStop, summary: "one link of the database ring stops replicating (STOP SLAVE on a node)",
              target: .ringNode, heal: .afterProbe, noDualMaster: true, connectionSurvives: false, drainsTarget: false, detectsTarget: true, lossless: false),
    ]

    /// The known kinds by name.
    public static let catalogue: [DrillKind: DrillKindSpec] = Dictionary(uniqueKeysWithValues: known.map { ($0.kind, $0) })

    /// The known kinds' names, in order, for messages.
    public static var names: [String] { known.map(\.kind.rawValue) }
}
