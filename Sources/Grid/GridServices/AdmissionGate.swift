import Synchronization

/// Admission control: at most ``capacity`` requests are worked on at once; the rest are refused at once
/// (the server answers 503 with Retry-After) instead of queueing without bound.
///
/// This is the defence against SAZ "authorization tsunamis": the FermiGrid SAZ fell over because every
/// request took a thread and a DB connection and waited. Here a request either gets a slot immediately or is
/// told to come back; the DB pool behind it is sized to the same capacity so no admitted request waits long.
public final class AdmissionGate: Sendable {
    /// The most requests admitted at once.
    public let capacity: Int
    private let inFlight = Atomic<Int>(0)
    private let rejectedTotal = Atomic<UInt64>(0)
    private let admittedTotal = Atomic<UInt64>(0)

    /// Creates a gate admitting at most `capacity` (at least 1) concurrent requests.
    public init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    /// Takes a slot if one is free. Every `true` must be paired with one ``leave()``.
    public func tryEnter() -> Bool {
        let now = inFlight.wrappingAdd(1, ordering: .acquiringAndReleasing).newValue
        if now > capacity {
            inFlight.wrappingSubtract(1, ordering: .acquiringAndReleasing)
            rejectedTotal.wrappingAdd(1, ordering: .relaxed)
            return false
        }
        admittedTotal.wrappingAdd(1, ordering: .relaxed)
        return true
    }

    /// Gives back a slot taken by ``tryEnter()``.
    public func leave() {
        inFlight.wrappingSubtract(1, ordering: .acquiringAndReleasing)
    }

    /// Requests being worked on now.
    public var current: Int { inFlight.load(ordering: .relaxed) }
    /// Requests refused since start.
    public var rejected: UInt64 { rejectedTotal.load(ordering: .relaxed) }
    /// Requests admitted since start.
    public var admitted: UInt64 { admittedTotal.load(ordering: .relaxed) }
}
