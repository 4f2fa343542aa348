import IPVS
import Topology
import IPVSModel

/// A change to the kernel's IPVS sync daemons.
public enum SyncDaemonChange: Sendable, Equatable, CustomStringConvertible {
    /// Stop the daemon of this role (`IPVS_CMD_DEL_DAEMON`).
    case stop(SyncDaemon.Role)
    /// Start this daemon (`IPVS_CMD_NEW_DAEMON`).
    case start(SyncDaemon)

    /// `start master eth0 syncid 101`, `stop backup`.
    public var description: String {
        switch self {
        case .stop(let r): return "stop \(r.rawValue)"
        case .start(let d): return "start \(d.role.rawValue) \(d.interface) syncid \(d.syncID)"
        }
    }
}

/// Which IPVS connection-sync daemons a director runs: the **both-directions pattern**. Pure.
///
/// Each member of the pair owns one sync ID. Every node runs, at all times and whatever its VRRP state,
///
/// - a **master** daemon with its **own** sync ID: it multicasts the connections this node's IPVS
///   forwards (none while it is backup, so it costs nothing then), and
/// - a **backup** daemon with the **peer's** sync ID: it receives the peer's connections into this
///   node's table, ready for a takeover.
///
/// Because both run on both nodes, nothing has to be switched at a takeover (the sync daemons are not
/// tied to the VRRP state), and a node that comes back after a crash receives the current master's
/// connections again as they are refreshed. Each backup daemon accepts only its peer's sync ID, so
/// a node never loads its own connections back, and other director pairs on the same link (other
/// VRIDs, so other IDs) are ignored.
public enum ConnectionSyncPolicy {
    /// The sync ID a member owns: `(2 × (VRID − 1) + index) mod 255 + 1`, where `index` is the member's
    /// position in `directors.members` (0 or 1). VRID 51 gives 101 and 102. IDs are 1–255 (0 would mean
    /// "accept every ID" to the kernel). They are unique for VRIDs 1–127; above that they wrap round and
    /// can meet a lower VRID's IDs, which matters only if both pairs share a sync link.
    public static func syncID(pair: DirectorPair, member: String) -> UInt32? {
        guard let i = pair.members.firstIndex(of: member) else { return nil }
        return UInt32((2 * (max(pair.vrid, 1) - 1) + i) % 255 + 1)
    }

    /// The daemons `node` should run: master with its own ID, backup with the peer's, both on
    /// `interface` (the pair's heartbeat interface unless overridden). Empty when `node` is not in the pair.
    public static func daemons(pair: DirectorPair, node: String, interface: String? = nil) -> [SyncDaemon] {
        guard let own = syncID(pair: pair, member: node) else { return [] }
        let peer = pair.members.first { $0 != node }
        let peerID = peer.flatMap { syncID(pair: pair, member: $0) } ?? own
        let iface = interface ?? pair.interface
        return [SyncDaemon(role: .master, interface: iface, syncID: own),
                SyncDaemon(role: .backup, interface: iface, syncID: peerID)]
    }

    /// The changes that turn `running` into `desired`. A daemon is compared on role, interface and sync
    /// ID only (the kernel reports its own defaults for length, group, port and TTL). A role that runs
    /// with other settings is stopped and started again; a role nobody wants is stopped; a matching one
    /// is left alone, so a steady state writes nothing.
    public static func changes(running: [SyncDaemon], desired: [SyncDaemon]) -> [SyncDaemonChange] {
        var out: [SyncDaemonChange] = []
        for role in [SyncDaemon.Role.master, .backup] {
            let have = running.first { $0.role == role }
            let want = desired.first { $0.role == role }
            switch (have, want) {
            case (nil, nil): break
            case (let h?, nil): out.append(.stop(h.role))
            case (nil, let w?): out.append(.start(w))
            case (let h?, let w?):
                if h.interface != w.interface || h.syncID != w.syncID { out += [.stop(role), .start(w)] }
            }
        }
        return out
    }
}
