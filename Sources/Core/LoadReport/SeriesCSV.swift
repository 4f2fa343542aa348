/// The time series as CSV (`tandem-stress --series FILE`): the one writer and the one reader, so a lab
/// script that keeps a series file hands it to `tandemctl drill outage` instead of re-deriving the
/// outage in awk.
///
/// The format is `t,ok,errors,p99_ms`: one header line, then one line per slot (seconds since the
/// run started, successes, failures, the slot's p99 latency in milliseconds).
public enum SeriesCSV {
    /// The header line.
    public static let header = "t,ok,errors,p99_ms"

    /// The whole file: the header, then one line per slot, each ending in a newline.
    public static func render(_ slots: [TimeSlot]) -> String {
        var out = header + "\n"
        for s in slots { out += "\(s.t),\(s.ok),\(s.errors),\(s.p99Millis)\n" }
        return out
    }

    /// A line that is not a slot, with its place in the file.
    public struct ParseError: Error, Equatable, CustomStringConvertible {
        /// 1-based line and column.
        public var line: Int, column: Int
        /// What is wrong and what to do.
        public var message: String
        /// Creates an error.
        public init(line: Int, column: Int, message: String) { self.line = line; self.column = column; self.message = message }
        /// `line 3, column 5: …`.
        public var description: String { "line \(line), column \(column): \(message)" }
    }

    /// Parses a file `render` wrote (blank lines are skipped; `\r\n` is accepted).
    public static func parse(_ text: String) throws(ParseError) -> [TimeSlot] {
        var slots: [TimeSlot] = []
        var sawHeader = false
        // `\r\n` is one Character in Swift, so lines split on any newline Character, not on "\n".
        for (index, line) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            if line.isEmpty { continue }
            let number = index + 1
            if !sawHeader {
                guard line == header else {
                    throw ParseError(line: number, column: 1, message: "expected the header '\(header)' (a file tandem-stress --series wrote)")
                }
                sawHeader = true
                continue
            }
            let fields = line.split(separator: ",", omittingEmptySubsequences: false)
            guard fields.count == 4 else {
                throw ParseError(line: number, column: 1, message: "expected 4 comma-separated fields (t,ok,errors,p99_ms), found \(fields.count)")
            }
            var column = 1
            func field<T>(_ i: Int, _ name: String, _ convert: (Substring) -> T?) throws(ParseError) -> T {
                defer { column += fields[i].count + 1 }
                guard let v = convert(fields[i]) else {
                    throw ParseError(line: number, column: column, message: "'\(fields[i])' is not a valid \(name)")
                }
                return v
            }
            let t = try field(0, "time in seconds") { Double($0) }
            let ok = try field(1, "count of successes") { Int($0).flatMap { $0 >= 0 ? $0 : nil } }
            let errors = try field(2, "count of failures") { Int($0).flatMap { $0 >= 0 ? $0 : nil } }
            let p99 = try field(3, "p99 in milliseconds") { Double($0) }
            slots.append(TimeSlot(t: t, ok: ok, errors: errors, p99Millis: p99))
        }
        guard sawHeader else { throw ParseError(line: 1, column: 1, message: "the file is empty: expected the header '\(header)'") }
        return slots
    }
}
