// The timer formulas of RFC 5798, named and cited where they are defined.

/// The timer parameters of RFC 5798 §6.1, as pure functions of priority and interval.
///
/// Intervals are `Duration`s; VRRPv3 carries them in centiseconds, and these functions do the RFC's
/// integer arithmetic in the `Duration`'s own resolution, which is finer, so nothing rounds early.
public enum VRRPTimers {
    /// Skew_Time = ((256 − Priority) × Master_Adver_Interval) / 256 — RFC 5798 §6.1.
    ///
    /// A higher priority gives a shorter skew, so when the master goes quiet the best backup's
    /// Master_Down_Timer fires first and the others hear its advert before theirs fire.
    public static func skewTime(priority: UInt8, masterAdverInterval: Duration) -> Duration {
        masterAdverInterval * (256 - Int(priority)) / 256
    }

    /// Master_Down_Interval = (3 × Master_Adver_Interval) + Skew_Time — RFC 5798 §6.1.
    ///
    /// Three lost adverts plus this router's skew before it declares the master dead.
    public static func masterDownInterval(priority: UInt8, masterAdverInterval: Duration) -> Duration {
        masterAdverInterval * 3 + skewTime(priority: priority, masterAdverInterval: masterAdverInterval)
    }

    /// The interval as VRRPv3 carries it: centiseconds in 12 bits (RFC 5798 §5.2.7), at least 1.
    public static func centiseconds(_ d: Duration) -> UInt16 {
        let (s, atto) = d.components
        let cs = s * 100 + atto / 10_000_000_000_000_000
        return UInt16(clamping: max(1, min(0x0FFF, cs)))
    }
}
