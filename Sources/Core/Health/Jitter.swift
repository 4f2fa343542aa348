import Net

/// Deterministic start offsets, so checks do not fire in step yet a run can be replayed.
///
/// The offset of a check is a hash of (seed, key) reduced into `[0, interval)`: the same seed and
/// key always give the same offset, different keys spread over the interval.
public enum Jitter {
    /// FNV-1a over `text`, mixed with `seed` through SplitMix64 (its first draw from `hash ^ seed`).
    public static func hash(seed: UInt64, _ text: String) -> UInt64 {
        var mix = SplitMix64(seed: FNV1a.hash64(text) ^ seed)
        return mix.next()
    }

    /// The first-check offset of `key` within `interval` (millisecond resolution).
    public static func offset(seed: UInt64, key: CheckKey, interval: Duration) -> Duration {
        let ms = max(1, interval.wholeMilliseconds)
        let h = hash(seed: seed, "\(key.service)\u{0}\(key.member)\u{0}\(key.address)\u{0}\(key.port)\u{0}\(key.spec)")
        return .milliseconds(Int64(h % UInt64(ms)))
    }
}
