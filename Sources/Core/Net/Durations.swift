/// The one place where a `Duration` becomes a number of milliseconds or seconds, and back.
///
/// Every log line, status field, metric and benchmark figure goes through these, so a unit is
/// never converted by hand (and never truncated differently in two places).
extension Duration {
    /// Whole milliseconds, truncated toward zero (`1.9 ms` → 1). Saturates instead of trapping.
    public var wholeMilliseconds: Int64 {
        let (s, a) = components
        let (ms, overflow) = s.multipliedReportingOverflow(by: 1000)
        if overflow { return s < 0 ? .min : .max }
        return ms.addingReportingOverflow(a / 1_000_000_000_000_000).overflow ? (s < 0 ? .min : .max) : ms + a / 1_000_000_000_000_000
    }

    /// Whole microseconds, truncated toward zero. Saturates instead of trapping.
    public var wholeMicroseconds: Int64 {
        let (s, a) = components
        let (us, overflow) = s.multipliedReportingOverflow(by: 1_000_000)
        if overflow { return s < 0 ? .min : .max }
        return us.addingReportingOverflow(a / 1_000_000_000_000).overflow ? (s < 0 ? .min : .max) : us + a / 1_000_000_000_000
    }

    /// Whole nanoseconds, truncated toward zero. Saturates instead of trapping.
    public var wholeNanoseconds: Int64 {
        let (s, a) = components
        let (ns, overflow) = s.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return s < 0 ? .min : .max }
        return ns.addingReportingOverflow(a / 1_000_000_000).overflow ? (s < 0 ? .min : .max) : ns + a / 1_000_000_000
    }

    /// Milliseconds as a fraction (`1.25`).
    public var inMilliseconds: Double { Double(components.seconds) * 1000 + Double(components.attoseconds) / 1e15 }

    /// Seconds as a fraction (`0.00125`).
    public var inSeconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }

    /// For people: `850 µs`, `12.3 ms`, `2.50 s`.
    public var humanReadable: String {
        let ms = inMilliseconds
        if abs(ms) < 1 { return "\(Int((ms * 1000).rounded())) µs" }
        if abs(ms) < 1000 { return ms < 10 ? Self.fixed(ms, 2) + " ms" : Self.fixed(ms, 1) + " ms" }
        return Self.fixed(ms / 1000, 2) + " s"
    }

    /// `value` with `digits` decimals, without Foundation.
    static func fixed(_ value: Double, _ digits: Int) -> String {
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let scaled = (abs(value) * scale).rounded()
        guard scaled < 9e18 else { return "\(value)" }
        let n = Int64(scaled)
        let whole = n / Int64(scale), frac = n % Int64(scale)
        var f = String(frac)
        while f.count < digits { f = "0" + f }
        return (value < 0 && n != 0 ? "-" : "") + "\(whole)" + (digits > 0 ? "." + f : "")
    }
}

/// Formats `value` with `digits` decimals (`format(3.14159, 2)` = `3.14`), without Foundation.
public func formatFixed(_ value: Double, _ digits: Int) -> String { Duration.fixed(value, digits) }
