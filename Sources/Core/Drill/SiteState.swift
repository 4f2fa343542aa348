/// Whether a site is steady enough to drill, or restored after a drill: the one rule the drill
/// uses before its fault (prepare) and after its heal (settle), so "restored" means "as steady as
/// it had to be to start".
public enum SiteState: Sendable, Equatable {
    /// Steady; `holder` holds the VIP (`nil` for a site with a single director and no VRRP).
    case steady(holder: String?)
    /// Not steady, and why, for people.
    case unsteady(String)

    /// The site as the latest sample of each director shows it.
    ///
    /// Steady means: every director answers; with a director pair, exactly one holds the VIP; and
    /// every watched member serves at its full weight in every director's table (a backup keeps
    /// its table ready for a takeover, so it must have the members too).
    public static func assess(latest: [String: DirectorSample], directors: [String]) -> SiteState {
        for d in directors {
            guard let s = latest[d] else { return .unsteady("no reading of \(d) yet") }
            guard s.reachable else { return .unsteady("\(d) does not answer") }
        }
        let pair = directors.contains { latest[$0]?.holdsVIP != nil }
        let holders = directors.filter { latest[$0]?.holding == true }
        if pair {
            if holders.isEmpty { return .unsteady("no director holds the VIP") }
            if holders.count > 1 { return .unsteady("\(holders.joined(separator: " and ")) hold the VIP at once") }
        }
        for d in directors {
            guard let m = latest[d]?.members.first(where: { !$0.serving }) else { continue }
            let kw = m.kernelWeight.map(String.init) ?? "none"
            return .unsteady("\(m.member) is \(m.drained ? "drained" : m.state) on \(d), kernel weight \(kw) of \(m.topologyWeight)")
        }
        return .steady(holder: pair ? holders[0] : nil)
    }

    /// Steady or not.
    public var isSteady: Bool { if case .steady = self { return true }; return false }
}
