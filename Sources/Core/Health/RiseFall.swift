/// The rise/fall hysteresis of one member's health: a pure state machine with no I/O.
///
/// Timers and sockets live outside (``HealthMonitor``); they feed check results in as events and
/// execute the returned actions. Only transitions produce actions, so a caller that executes every
/// action reports exactly the state changes and nothing else.
///
/// Initial state (decided for `tandemd`, see docs/health-checks.md):
/// - ``State/up``: the member is *assumed* serving and needs `fall` consecutive failures to go down.
///   The daemon starts here only for members the kernel already had at their topology weight, so a
///   restart of `tandemd` never disturbs traffic to healthy members.
/// - ``State/unknown``: nothing is known yet; the first result decides on its own (one success
///   marks up, one failure marks down). The daemon starts here for every other member (new members,
///   or members the kernel held at weight 0 — possibly left by an earlier run), so a weight 0 that no
///   check justifies lasts at most until the first check, which is at most one interval away.
///
/// A failure flagged `immediate` (connection refused, reset) is an answer from the member's own
/// kernel that nothing serves there; it marks the member down at once instead of counting toward
/// `fall`. A silent member costs `timeout` per check and counts toward `fall` as usual.
public struct RiseFall: Sendable, Equatable {
    /// Where the member stands.
    public enum State: String, Sendable, Equatable, Codable {
        /// No verdict yet: the next result decides.
        case unknown
        /// Serving.
        case up
        /// Drained because checks failed.
        case down
    }

    /// One check result.
    public enum Event: Sendable, Equatable {
        /// The check passed.
        case checkSucceeded
        /// The check failed; `immediate` for definitive answers (refused, reset) that skip `fall`.
        case checkFailed(reason: String, immediate: Bool)
        /// The check got no answer within its timeout.
        case timedOut
    }

    /// What the caller must do: only transitions.
    public enum Action: Sendable, Equatable {
        /// The member became healthy: give it its weight.
        case markUp
        /// The member became unhealthy: drain it (weight 0), with the reason of the last failure.
        case markDown(reason: String)
    }

    /// Consecutive successes that bring a down member back (at least 1).
    public let rise: Int
    /// Consecutive failures that take an up member down (at least 1).
    public let fall: Int
    /// The current state.
    public private(set) var state: State
    /// Consecutive successes counted while down.
    public private(set) var successes = 0
    /// Consecutive failures counted while up.
    public private(set) var failures = 0

    /// Creates a machine in `initial` state; `rise` and `fall` below 1 are treated as 1.
    public init(rise: Int, fall: Int, initial: State = .unknown) {
        self.rise = max(1, rise); self.fall = max(1, fall); self.state = initial
    }

    /// Feeds one event and returns the actions it causes (empty unless the state changed).
    public mutating func on(_ event: Event) -> [Action] {
        switch event {
        case .checkSucceeded:
            failures = 0
            switch state {
            case .up: return []
            case .unknown:
                state = .up; successes = 0
                return [.markUp]
            case .down:
                successes += 1
                guard successes >= rise else { return [] }
                state = .up; successes = 0
                return [.markUp]
            }
        case .checkFailed(let reason, let immediate):
            return failed(reason: reason, immediate: immediate)
        case .timedOut:
            return failed(reason: "check timed out", immediate: false)
        }
    }

    private mutating func failed(reason: String, immediate: Bool) -> [Action] {
        successes = 0
        switch state {
        case .down: return []
        case .unknown:
            state = .down; failures = 0
            return [.markDown(reason: reason)]
        case .up:
            failures += 1
            guard immediate || failures >= fall else { return [] }
            state = .down; failures = 0
            return [.markDown(reason: reason)]
        }
    }
}
