import Synchronization

/// A bounded, thread-safe cache of GUMS mappings (the role Hibernate's second-level cache played in GUMS).
///
/// Eviction is segmented LRU with two generations: entries live in `young`; when `young` holds half the
/// capacity it becomes `old` and the previous `old` is dropped. A hit in `old` promotes the entry back to
/// `young`. So the cache never holds more than ``capacity`` entries, recently used entries survive, and every
/// operation is O(1) except the rare whole-generation drop.
///
/// Invalidation: ``invalidateAll()`` and ``invalidate(where:)`` bump an epoch. A filler reads the epoch with
/// ``lookup(_:)`` before going to the database and hands it back to ``insert(_:_:epoch:)``; an insert whose
/// epoch is stale is dropped, so a reader that raced with a data change can never re-insert the old answer.
public final class MappingCache<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private struct State {
        var young: [Key: Value] = [:]
        var old: [Key: Value] = [:]
        var epoch: UInt64 = 0
        var hits: UInt64 = 0
        var misses: UInt64 = 0
        var invalidations: UInt64 = 0
    }

    /// Maximum number of entries held; 0 disables the cache.
    public let capacity: Int
    private let state = Mutex(State())

    /// Creates a cache holding at most `capacity` entries (0 = disabled: every lookup misses).
    public init(capacity: Int) {
        self.capacity = max(0, capacity)
    }

    /// The result of a lookup: the cached value, if any, and the epoch to pass to ``insert(_:_:epoch:)``.
    public struct Lookup: Sendable {
        /// The cached value, nil on a miss.
        public var value: Value?
        /// The invalidation epoch seen by this lookup.
        public var epoch: UInt64
    }

    /// Looks `key` up, promoting an entry found in the old generation.
    public func lookup(_ key: Key) -> Lookup {
        state.withLock { s in
            if let v = s.young[key] {
                s.hits += 1
                return Lookup(value: v, epoch: s.epoch)
            }
            if let v = s.old.removeValue(forKey: key) {
                s.hits += 1
                Self.put(&s, key, v, capacity)
                return Lookup(value: v, epoch: s.epoch)
            }
            s.misses += 1
            return Lookup(value: nil, epoch: s.epoch)
        }
    }

    /// Inserts `value` unless an invalidation happened since the lookup that returned `epoch`.
    /// Returns whether it was inserted.
    @discardableResult
    public func insert(_ key: Key, _ value: Value, epoch: UInt64) -> Bool {
        guard capacity > 0 else { return false }
        return state.withLock { s in
            guard s.epoch == epoch else { return false }
            Self.put(&s, key, value, capacity)
            return true
        }
    }

    private static func put(_ s: inout State, _ key: Key, _ value: Value, _ capacity: Int) {
        let half = max(1, capacity / 2)
        if s.young[key] == nil, s.young.count >= half {
            s.old = s.young
            s.young = [:]
            s.young.reserveCapacity(half)
        }
        s.old.removeValue(forKey: key)
        s.young[key] = value
    }

    /// Drops every entry (data changed in a way that may affect any mapping).
    public func invalidateAll() {
        state.withLock { s in
            s.young.removeAll(keepingCapacity: true)
            s.old.removeAll()
            s.epoch &+= 1
            s.invalidations += 1
        }
    }

    /// Drops the entries whose key matches `predicate` (e.g. every mapping of one DN).
    public func invalidate(where predicate: (Key) -> Bool) {
        state.withLock { s in
            s.young = s.young.filter { !predicate($0.key) }
            s.old = s.old.filter { !predicate($0.key) }
            s.epoch &+= 1
            s.invalidations += 1
        }
    }

    /// Counters for /metrics and tests.
    public struct Stats: Sendable, Equatable {
        /// Entries held now (never more than the capacity).
        public var count: Int
        /// Lookups answered from the cache.
        public var hits: UInt64
        /// Lookups that missed.
        public var misses: UInt64
        /// Invalidations so far.
        public var invalidations: UInt64
    }

    /// Current counters.
    public var stats: Stats {
        state.withLock { Stats(count: $0.young.count + $0.old.count, hits: $0.hits, misses: $0.misses, invalidations: $0.invalidations) }
    }
}
