// The split-brain rule: when may a backup that lost the heartbeat take the VIPs?

/// What the edge found out when the state machine asked (``VRRPAction/checkWitness``).
public struct SplitBrainEvidence: Sendable, Equatable {
    /// This director reached the witness the topology names.
    public var witnessReachable: Bool
    /// Whether the peer answered on a path other than the VRRP adverts (an ICMP echo to its primary
    /// address); `nil` when not checked.
    public var peerReachable: Bool?
    /// Whether the topology's fence command ran and reported success; `nil` when none is configured.
    public var peerFenced: Bool?

    /// Collects the evidence.
    public init(witnessReachable: Bool, peerReachable: Bool? = nil, peerFenced: Bool? = nil) {
        self.witnessReachable = witnessReachable; self.peerReachable = peerReachable; self.peerFenced = peerFenced
    }
}

/// The answer of ``SplitBrainRule/mayTakeOver(_:)``.
public enum SplitBrainDecision: Sendable, Equatable {
    /// Take the VIPs, for this reason.
    case takeOver(String)
    /// Stay backup, for this reason.
    case stayBackup(String)
}

/// Tandem's split-brain rule (documented with its failure modes in docs/director.md).
///
/// A backup that stops hearing the master it had been hearing may take over only if it can reach the witness **and**
/// either the peer was fenced or the peer does not answer outside the heartbeat either. Reaching the
/// witness shows this side is not the isolated one; the second clause tells a dead master from a cut
/// heartbeat link. A master that loses the witness for ``masterWitnessLossLimit`` checks in a row
/// gives the VIPs up, so a master cut off from everyone does not keep them against a backup that can
/// still reach the witness. A backup that has heard no master since it entered Backup (startup) runs
/// the plain RFC election instead, or two directors starting together would wait on each other for ever.
public enum SplitBrainRule {
    /// Consecutive failed witness checks after which a master self-fences (drops its VIPs).
    public static let masterWitnessLossLimit = 3

    /// May a backup whose heartbeat went silent become master?
    public static func mayTakeOver(_ e: SplitBrainEvidence) -> SplitBrainDecision {
        guard e.witnessReachable else {
            return .stayBackup("witness unreachable: this side may be the isolated one")
        }
        if e.peerFenced == true { return .takeOver("witness reachable and peer fenced") }
        if e.peerFenced == false { return .stayBackup("fence command failed: peer may still hold the VIPs") }
        switch e.peerReachable {
        case .some(false): return .takeOver("witness reachable, peer unreachable")
        case .some(true): return .stayBackup("peer answers outside the heartbeat: heartbeat path cut, not a dead master")
        case .none: return .stayBackup("peer state unknown and no fencing configured")
        }
    }
}
