/// One member's health as `tandemctl status --member SERVICE/MEMBER` reports it to monitoring.
public struct MemberVerdict: Sendable, Equatable {
    /// `SERVICE/MEMBER` as asked.
    public var ref: String
    /// The member is known and its checks say `up`. An operator drain does not make it fail: the
    /// member is healthy and out of rotation on purpose.
    public var up: Bool
    /// One line for people, e.g. `gums/fg5x2 DOWN weight 0/100 (kernel 0) since …: up → down (connection refused)`.
    public var line: String

    /// Creates a value.
    public init(ref: String, up: Bool, line: String) { self.ref = ref; self.up = up; self.line = line }
}

extension StatusReport {
    /// The verdict on `ref` (`SERVICE/MEMBER`); an unknown service or member is not up, and the line
    /// lists what there is.
    public func verdict(for ref: String) -> MemberVerdict {
        let parts = ref.split(separator: "/", maxSplits: 1).map(String.init)
        guard parts.count == 2 else {
            return MemberVerdict(ref: ref, up: false, line: "\(ref): not SERVICE/MEMBER")
        }
        guard let service = services.first(where: { $0.name == parts[0] }) else {
            return MemberVerdict(ref: ref, up: false,
                                 line: "\(ref): tandemd on \(node) has no service \(parts[0]) (services: \(services.map(\.name).joined(separator: ", ")))")
        }
        guard let m = service.members.first(where: { $0.member == parts[1] }) else {
            return MemberVerdict(ref: ref, up: false,
                                 line: "\(ref): service \(service.name) has no member \(parts[1]) (members: \(service.members.map(\.member).joined(separator: ", ")))")
        }
        var line = "\(ref) \(m.state.uppercased())\(m.drained ? " DRAINED" : "") weight \(m.weight)/\(m.topologyWeight)"
        line += m.kernelWeight.map { " (kernel \($0))" } ?? " (not in kernel)"
        if let t = m.lastTransition, let at = m.lastTransitionAt {
            line += " since \(at): \(t)" + (m.lastReason.map { " (\($0))" } ?? "")
        } else if m.state != "up", let r = m.lastResult {
            line += " last check: \(r)"
        }
        return MemberVerdict(ref: ref, up: m.state == "up", line: line)
    }
}
