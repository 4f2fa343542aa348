/// Deterministic start offsets, so checks do not fire in step yet a run can be replayed.
///
/// The offset of a check is a hash of (seed, key) reduced into `[0, interval)`: the same seed and
/// key always give the same offset, different keys spread over the interval.
public enum Jitter {
    /// FNV-1a over `text`, mixed with `seed` through SplitMix64.
    public static func hash(seed: UInt64, _ text: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in text.utf8 { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
        var z = h ^ seed &+ 0x9e37_79b9_7f4a_7c15
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }

    /// The first-check offset of `key` within `interval` (millisecond resolution).
    public static func offset(seed: UInt64, key: CheckKey, interval: Duration) -> Duration {
        let ms = max(1, Int64(interval.components.seconds * 1000 + interval.components.attoseconds / 1_000_000_000_000_000))
        let h = hash(seed: seed, "\(key.service)\u{0}\(key.member)\u{0}\(key.address)\u{0}\(key.port)\u{0}\(key.spec)")
        return .milliseconds(Int64(h % UInt64(ms)))
    }
}
