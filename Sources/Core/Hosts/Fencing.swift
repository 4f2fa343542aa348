/// A fence-agent action (ClusterLabs fence-agents, doc/FenceAgentAPI.md).
public enum FenceAction: String, Sendable, Equatable, Hashable, Codable, CaseIterable {
    /// Power off. Exit 0: done; 1: not done or not verifiable.
    case off
    /// Power on. Exit 0: done; 1: not.
    case on
    /// Off, then on. Exit 0 if the off part succeeded.
    case reboot
    /// Power state. Exit 0: on; 2: off; 1: the device could not be reached.
    case status
    /// Whether the device answers. Exit 0: it works; 1: not; 2: reachable, off.
    case monitor
    /// The device's plugs. Exit 0 with the list; 1: unreachable.
    case list
}

/// A plug's power state, as `status` reports it.
public enum PowerState: String, Sendable, Equatable, Codable {
    /// Powered: the host may be running.
    case on
    /// Powered off.
    case off
}

/// How a fence-agent run ended, as the controller needs it.
public enum FenceOutcome: Sendable, Equatable, CustomStringConvertible {
    /// `off`, `on`, `reboot`, `monitor` or `list` reported success (exit 0).
    case succeeded
    /// `status` answered (exit 0: on, exit 2: off).
    case power(PowerState)
    /// The agent reported failure, could not run, or gave an answer the protocol does not define.
    case failed(reason: String)
    /// The agent did not finish in time and was killed. A timeout is a failure, not success
    /// (FenceAgentAPI.md): nothing is assumed about the host.
    case timedOut(after: Duration)

    /// `succeeded`, `power off`, `failed: reason`, `timed out after 5 s`.
    public var description: String {
        switch self {
        case .succeeded: "succeeded"
        case .power(let p): "power \(p.rawValue)"
        case .failed(let r): "failed: \(r)"
        case .timedOut(let d): "timed out after \(d)"
        }
    }
}
