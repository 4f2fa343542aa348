/// Why the planner found no placement (or no re-placement), reduced to the smallest reason it
/// could prove: one VM, then one anti-affinity group, then the whole site.
///
/// Printed as `placement error [CODE]: what is wrong — what to do`. Scripts and tests match on
/// ``code``, ``group``, ``vms`` and ``hosts``, never on the message text.
public struct PlacementFailure: Error, Sendable, Equatable, Codable, CustomStringConvertible {
    /// Stable failure codes.
    public enum Code: String, Sendable, Equatable, Codable, CaseIterable {
        /// The topology names a VM or host twice, or pins a VM to a host it does not declare.
        /// ``TopologyLoader`` rejects these; the planner checks again because it can be handed
        /// a `Topology` built in code.
        case invalidTopology = "invalid-topology"
        /// The current plan given to a re-plan does not place every VM of the topology on a known host.
        case invalidPlan = "invalid-plan"
        /// `--without` names a host the topology does not declare.
        case unknownHost = "unknown-host"
        /// Pinned VMs alone already break anti-affinity or overflow a host.
        case pinConflict = "pin-conflict"
        /// VMs are pinned to the host being removed, so they cannot move.
        case pinnedToLostHost = "pinned-to-lost-host"
        /// One VM fits no host, given only what is fixed (pins, or survivors in a re-plan).
        case noHostForVM = "no-host-for-vm"
        /// One anti-affinity group cannot be split across enough hosts (or failure domains)
        /// with room for its members, given only what is fixed.
        case groupCannotSplit = "group-cannot-split"
        /// The VMs to place need more vCPUs or memory than all the hosts have free together.
        case capacityShort = "capacity-short"
        /// Every VM and every group fits on its own, but not all together: an exhaustive search
        /// proved there is no placement.
        case noPlacement = "no-placement"
        /// As ``noPlacement``, but the search is bounded and stopped before it could prove
        /// anything: a placement may still exist.
        case searchGaveUp = "search-gave-up"
    }

    /// What kind of failure this is.
    public var code: Code
    /// The anti-affinity group at fault, for ``Code/groupCannotSplit``.
    public var group: String?
    /// The VMs at fault, by name.
    public var vms: [String]
    /// How each relevant host looks to those VMs: room, or why not.
    public var hosts: [HostVerdict]
    /// What is wrong, in one sentence that names the group, the hosts and what is short.
    public var message: String
    /// What to do about it.
    public var hint: String

    /// Creates a failure; the planner is the usual source.
    public init(_ code: Code, group: String? = nil, vms: [String], hosts: [HostVerdict] = [], message: String, hint: String) {
        self.code = code; self.group = group; self.vms = vms; self.hosts = hosts; self.message = message; self.hint = hint
    }

    /// `placement error [CODE]: message — hint`.
    public var description: String { "placement error [\(code.rawValue)]: \(message) — \(hint)" }
}

/// How one host looks to the VM (or group) that could not be placed.
public struct HostVerdict: Sendable, Equatable, Codable {
    /// Host name.
    public var host: String
    /// vCPUs free on the host at the moment the verdict was taken.
    public var freeVCPUs: Int
    /// Memory free, in MiB.
    public var freeMemoryMiB: Int
    /// Whether the host could take the VM (or at least one member of the group).
    public var hasRoom: Bool
    /// Why not, in words ("runs fg6x2 of service gums; has only 0 vCPU / 1024 MiB free");
    /// empty when it has room.
    public var reason: String

    /// Creates a verdict.
    public init(host: String, freeVCPUs: Int, freeMemoryMiB: Int, hasRoom: Bool, reason: String) {
        self.host = host; self.freeVCPUs = freeVCPUs; self.freeMemoryMiB = freeMemoryMiB
        self.hasRoom = hasRoom; self.reason = reason
    }
}
