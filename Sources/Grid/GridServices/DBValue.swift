import MariaDB

/// Lenient readers for ``MariaDBValue``: the text protocol returns numbers as text, prepared statements as
/// integers, so column readers accept both.
enum DBValue {
    static func int(_ v: MariaDBValue?) -> Int64? {
        switch v {
        case .int(let i): return i
        case .uint(let u): return Int64(exactly: u)
        case .double(let d): return Int64(exactly: d.rounded())
        case .text(let t): return Int64(t) ?? Double(t).flatMap { Int64(exactly: $0.rounded()) }
        case .blob(let b): return Int64(String(decoding: b, as: UTF8.self))
        case .null, .none: return nil
        }
    }

    static func string(_ v: MariaDBValue?) -> String? {
        switch v {
        case .text(let t): return t
        case .blob(let b): return String(decoding: b, as: UTF8.self)
        case .int(let i): return String(i)
        case .uint(let u): return String(u)
        case .double(let d): return String(d)
        case .null, .none: return nil
        }
    }
}
