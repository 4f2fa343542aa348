// The one log handler of every Tandem executable: one line per record on standard error, shaped for
// the journal when systemd gave us one, for a terminal or a log file otherwise.
#if canImport(Glibc)
import Glibc
#endif
import Logging

/// Where standard error goes, which decides the line format.
public enum LogDestination: Sendable, Equatable {
    /// systemd's journal (`JOURNAL_STREAM` names standard error): a `<N>` priority prefix per line
    /// (sd-daemon(3)), no timestamp of our own (the journal stamps every line).
    case journal
    /// A terminal, a file or a pipe: an ISO 8601 UTC timestamp and the level in words.
    case plain

    /// `.journal` when `JOURNAL_STREAM` (`DEVICE:INODE`) is the device and inode of `fd`, as
    /// systemd.exec(5) says to check: a child that inherited the variable but writes elsewhere
    /// (a shell redirect) must not get priority prefixes in its file.
    public static func detect(environment: [String: String], fd: Int32 = 2) -> LogDestination {
        guard let value = environment["JOURNAL_STREAM"] else { return .plain }
        var st = stat()
        guard fstat(fd, &st) == 0 else { return .plain }
        return journalStreamMatches(value, device: UInt64(st.st_dev), inode: UInt64(st.st_ino)) ? .journal : .plain
    }

    /// Whether a `JOURNAL_STREAM` value names this device and inode (both decimal, `DEV:INO`).
    public static func journalStreamMatches(_ value: String, device: UInt64, inode: UInt64) -> Bool {
        let parts = value.split(separator: ":")
        guard parts.count == 2, let d = UInt64(parts[0]), let i = UInt64(parts[1]) else { return false }
        return d == device && i == inode
    }
}

/// A `LogHandler` that formats each record as one line: `message key=value key=value`.
///
/// In ``LogDestination/journal`` form the line starts with the syslog priority in angle brackets
/// (`<5>` for notice), which journald reads as the record's priority, and carries no timestamp. In
/// ``LogDestination/plain`` form it starts with a UTC timestamp and the level. Metadata values that
/// hold spaces, quotes, `=` or control characters are quoted and escaped, so one record is always
/// one line and `key=value` pairs split unambiguously.
public struct LineLogHandler: LogHandler {
    /// The logger's label (`tandemd`, `gridsvc.gums`).
    public let label: String
    /// Line format.
    public let destination: LogDestination
    /// Records below this level are dropped (by `Logger`, before they reach ``log(event:)``).
    public var logLevel: Logger.Level
    /// Metadata attached to every record of this logger.
    public var metadata: Logger.Metadata = [:]
    /// Task-local metadata, merged below the record's own.
    public var metadataProvider: Logger.MetadataProvider?
    private let write: @Sendable (String) -> Void

    /// A handler writing to standard error.
    public init(label: String, level: Logger.Level, destination: LogDestination) {
        self.init(label: label, level: level, destination: destination, write: LineLogHandler.writeStandardError)
    }

    /// A handler writing each finished line (with its newline) through `write`; tests collect them.
    public init(label: String, level: Logger.Level, destination: LogDestination, write: @escaping @Sendable (String) -> Void) {
        self.label = label; self.logLevel = level; self.destination = destination; self.write = write
    }

    /// Metadata of this logger by key.
    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// Formats and writes one record.
    public func log(event: LogEvent) {
        var all = metadata
        if let provided = metadataProvider?.get() { all.merge(provided) { _, new in new } }
        if let own = event.metadata { all.merge(own) { _, new in new } }
        write(Self.line(level: event.level, message: "\(event.message)", metadata: all, label: label,
                        destination: destination, now: Self.now()) + "\n")
    }

    /// One formatted record, without the newline. Metadata keys are sorted, so lines compare in tests
    /// and grep alike.
    public static func line(level: Logger.Level, message: String, metadata: Logger.Metadata, label: String,
                            destination: LogDestination, now: (seconds: Int, milliseconds: Int)) -> String {
        var out: String
        switch destination {
        case .journal: out = "<\(priority(level))>"
        case .plain: out = timestamp(now) + " " + level.rawValue + " "
        }
        out += label + ": " + escaped(message, quoteSpaces: false)
        for key in metadata.keys.sorted() {
            out += " " + key + "=" + escaped(render(metadata[key]!), quoteSpaces: true)
        }
        return out
    }

    /// The syslog priority sd-daemon(3) defines for each level (`SD_DEBUG` 7 … `SD_CRIT` 2).
    public static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: return 7
        case .info: return 6
        case .notice: return 5
        case .warning: return 4
        case .error: return 3
        case .critical: return 2
        }
    }

    static func render(_ value: Logger.Metadata.Value) -> String {
        switch value {
        case .string(let s): return s
        case .stringConvertible(let c): return c.description
        case .array(let a): return "[" + a.map(render).joined(separator: ",") + "]"
        case .dictionary(let d): return "{" + d.keys.sorted().map { "\($0):\(render(d[$0]!))" }.joined(separator: ",") + "}"
        }
    }

    /// Control characters become escapes; with `quoteSpaces` a value holding a space, quote, `=` or an
    /// escape is wrapped in double quotes (and an empty one becomes `""`).
    static func escaped(_ text: String, quoteSpaces: Bool) -> String {
        var out = ""
        var needsQuotes = quoteSpaces && text.isEmpty
        for u in text.unicodeScalars {
            switch u {
            case "\n": out += "\\n"; needsQuotes = quoteSpaces
            case "\r": out += "\\r"; needsQuotes = quoteSpaces
            case "\t": out += "\\t"; needsQuotes = quoteSpaces
            case "\"" where quoteSpaces: out += "\\\""; needsQuotes = true
            case "\\" where quoteSpaces: out += "\\\\"; needsQuotes = true
            case " ", "=": out.unicodeScalars.append(u); needsQuotes = needsQuotes || quoteSpaces
            case _ where u.value < 0x20 || u.value == 0x7f:
                out += "\\u{\(String(u.value, radix: 16))}"; needsQuotes = quoteSpaces
            default: out.unicodeScalars.append(u)
            }
        }
        return needsQuotes ? "\"" + out + "\"" : out
    }

    static func timestamp(_ now: (seconds: Int, milliseconds: Int)) -> String {
        var t = time_t(now.seconds)
        var tm = tm()
        gmtime_r(&t, &tm)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        let ms = now.milliseconds < 10 ? "00\(now.milliseconds)" : now.milliseconds < 100 ? "0\(now.milliseconds)" : "\(now.milliseconds)"
        return "\(tm.tm_year + 1900)-\(two(tm.tm_mon + 1))-\(two(tm.tm_mday))T\(two(tm.tm_hour)):\(two(tm.tm_min)):\(two(tm.tm_sec)).\(ms)Z"
    }

    static func now() -> (seconds: Int, milliseconds: Int) {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return (Int(ts.tv_sec), Int(ts.tv_nsec / 1_000_000))
    }

    /// One `write(2)` per line where the kernel takes it whole, so lines of concurrent loggers do not
    /// interleave mid-line.
    @Sendable static func writeStandardError(_ line: String) {
        var bytes = Array(line.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeMutableBytes { Glibc.write(2, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }  // standard error is gone: nowhere left to say so
            offset += n
        }
    }
}
