import Synchronization

/// A clock that moves only when told: tests drive schedulers with it instead of sleeping.
///
/// `sleep(until:)` parks the caller until ``advance(to:expectSleepers:)`` (or ``advance(by:)``)
/// moves time past its deadline. ``sleepers`` and ``waitForSleepers(_:)`` let a test wait until every
/// task it drives is parked before moving time again, so runs are deterministic.
public final class ManualClock: Clock, Sendable {
    /// A point on the manual time line: the offset from the clock's zero.
    public struct Instant: InstantProtocol, Sendable, CustomStringConvertible {
        /// Time since the clock's zero.
        public var offset: Duration
        /// Creates an instant `offset` after zero.
        public init(offset: Duration) { self.offset = offset }
        /// The instant `d` later.
        public func advanced(by d: Duration) -> Instant { Instant(offset: offset + d) }
        /// The duration to `other`.
        public func duration(to other: Instant) -> Duration { other.offset - offset }
        /// Orders by offset.
        public static func < (a: Instant, b: Instant) -> Bool { a.offset < b.offset }
        /// `t+1.5 seconds`.
        public var description: String { "t+\(offset)" }
    }

    private struct Sleeper {
        var id: UInt64
        var deadline: Instant
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var now = Instant(offset: .zero)
        var sleepers: [Sleeper] = []
        var cancelled: Set<UInt64> = []
        var nextID: UInt64 = 0
    }

    private let state = Mutex(State())

    /// Creates a clock at time zero.
    public init() {}

    /// The current manual time.
    public var now: Instant { state.withLock { $0.now } }
    /// Zero: the clock has no granularity.
    public var minimumResolution: Duration { .zero }
    /// How many tasks are parked in `sleep`.
    public var sleepers: Int { state.withLock { $0.sleepers.count } }
    /// The earliest deadline any parked task waits for.
    public var nextDeadline: Instant? { state.withLock { $0.sleepers.map(\.deadline).min() } }

    /// Parks until manual time reaches `deadline`; throws `CancellationError` when cancelled.
    public func sleep(until deadline: Instant, tolerance: Duration? = nil) async throws {
        try Task.checkCancellation()
        let id = state.withLock { s -> UInt64 in s.nextID += 1; return s.nextID }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
                enum Now { case ok, cancelled, parked }
                let r: Now = state.withLock { s in
                    if s.cancelled.remove(id) != nil { return .cancelled }
                    if deadline <= s.now { return .ok }
                    s.sleepers.append(Sleeper(id: id, deadline: deadline, continuation: c))
                    return .parked
                }
                switch r {
                case .ok: c.resume()
                case .cancelled: c.resume(throwing: CancellationError())
                case .parked: break
                }
            }
        } onCancel: {
            let c: CheckedContinuation<Void, any Error>? = state.withLock { s in
                if let i = s.sleepers.firstIndex(where: { $0.id == id }) { return s.sleepers.remove(at: i).continuation }
                s.cancelled.insert(id)
                return nil
            }
            c?.resume(throwing: CancellationError())
        }
    }

    /// Moves time forward by `d` at once, waking every sleeper whose deadline has passed.
    public func advance(by d: Duration) {
        let due: [Sleeper] = state.withLock { s in
            s.now = s.now.advanced(by: d)
            let now = s.now
            let due = s.sleepers.filter { $0.deadline <= now }
            s.sleepers.removeAll { $0.deadline <= now }
            return due.sorted { $0.deadline < $1.deadline }
        }
        for x in due { x.continuation.resume() }
    }

    /// Moves time to `target` one deadline at a time: time stops at each sleeper's deadline, wakes
    /// it, and waits until `expectSleepers` tasks are parked again before going on. Returns false if
    /// the tasks did not settle (a test should fail then).
    @discardableResult
    public func advance(to target: Instant, expectSleepers: Int) async -> Bool {
        await advance(to: target, expectSleepers: expectSleepers...expectSleepers)
    }

    /// Like ``advance(to:expectSleepers:)-(_,Int)``, for tests where the number of parked tasks may
    /// change on the way (a reload stopping a check at its next wake-up).
    @discardableResult
    public func advance(to target: Instant, expectSleepers: ClosedRange<Int>) async -> Bool {
        for _ in 0..<1_000_000 {
            let step: [Sleeper]? = state.withLock { s in
                guard let d = s.sleepers.map(\.deadline).min(), d <= target else {
                    if s.now < target { s.now = target }
                    return nil
                }
                s.now = max(s.now, d)
                let due = s.sleepers.filter { $0.deadline <= d }
                s.sleepers.removeAll { $0.deadline <= d }
                return due
            }
            guard let step else { return true }
            for x in step { x.continuation.resume() }
            guard await waitForSleepers(in: expectSleepers) else { return false }
        }
        return false
    }

    /// Waits (yielding, bounded to about five seconds of real time) until exactly `n` tasks are
    /// parked. Returns false if that never happens.
    public func waitForSleepers(_ n: Int) async -> Bool {
        await waitForSleepers(in: n...n)
    }

    /// Waits (bounded, as above) until the number of parked tasks is within `range`.
    public func waitForSleepers(in range: ClosedRange<Int>) async -> Bool {
        for i in 0..<20_000 {
            if range.contains(sleepers) { return true }
            if i < 2_000 { await Task.yield() } else { try? await Task.sleep(for: .microseconds(250)) }
        }
        return range.contains(sleepers)
    }
}
