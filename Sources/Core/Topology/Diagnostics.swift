/// A place in a topology file. Lines and columns are 1-based, as editors count them.
public struct SourceLocation: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int
    public init(file: String, line: Int, column: Int) { self.file = file; self.line = line; self.column = column }
    public var description: String { "\(file):\(line):\(column)" }
    public static func < (a: Self, b: Self) -> Bool { (a.file, a.line, a.column) < (b.file, b.line, b.column) }
}

/// One problem found in a topology file.
///
/// Printed as `FILE:LINE:COLUMN: error: what is wrong (key path) — what to do`, the format
/// compilers use, so editors and CI annotate the right line.
public struct Diagnostic: Sendable, Hashable, CustomStringConvertible {
    /// Stable codes: scripts and tests match on these, never on message text.
    public enum Code: String, Sendable, Hashable, CaseIterable {
        case unreadable, empty, binary, syntax
        /// A directory, FIFO, socket or device given where a topology file belongs.
        case notRegularFile
        /// The file, the document its aliases expand to, or its nesting is beyond the loader's limits.
        case tooLarge, tooDeep
        /// A YAML alias used as (or inside) a mapping key.
        case aliasKey
        case typeMismatch, missingKey, unknownKey, duplicateKey, badValue
        /// An empty list where at least one item is required.
        case emptyList
        case duplicateName, duplicateVIP, duplicateVRID, duplicateEndpoint, duplicateAddress
        case badAddress, badCIDR, badPort, familyMismatch
        /// A well-formed address that cannot work for its use (a loopback or multicast VIP, a witness that is a VIP).
        case unusableAddress
        /// Not a name Linux accepts for a network interface.
        case badInterface
        case unknownReference, unknownScheduler, unknownForwarding
        case pinnedTogether, cannotSplit, capacityExceeded
        case ringTooSmall, directorIsMember
        /// An entry was dropped without a reason: a bug in the loader, reported rather than hidden.
        case internalError
    }
    public var code: Code
    public var location: SourceLocation
    /// Dotted key path, for example `services[2].members[0].vm`.
    public var keyPath: String
    /// What is wrong.
    public var message: String
    /// What to do about it.
    public var hint: String

    /// Control characters in any part (a key or value quoted from the file) are escaped, so a
    /// diagnostic is always one line: editors and CI parse them line by line.
    public init(_ code: Code, at location: SourceLocation, keyPath: String, _ message: String, hint: String) {
        self.code = code; self.location = location
        self.keyPath = oneLine(keyPath); self.message = oneLine(message); self.hint = oneLine(hint)
    }

    public var description: String {
        let path = keyPath.isEmpty ? "" : " (\(keyPath))"
        return "\(location): error: \(message)\(path) — \(hint)"
    }
}

/// Every problem found in one topology file. Thrown by ``TopologyLoader`` as a whole, so a user
/// fixes them all in one pass instead of one per run.
public struct TopologyDiagnostics: Error, Sendable, CustomStringConvertible {
    public var diagnostics: [Diagnostic]
    /// Sorts `diagnostics` into file order (ties keep the order they were found in) and drops exact repeats.
    public init(_ diagnostics: [Diagnostic]) {
        let sorted = diagnostics.enumerated().sorted { ($0.element.location, $0.offset) < ($1.element.location, $1.offset) }
        var seen = Set<Diagnostic>()
        self.diagnostics = sorted.map(\.element).filter { seen.insert($0).inserted }
    }
    /// One diagnostic per line, in file order, then a count.
    public var description: String {
        let n = diagnostics.count
        return (diagnostics.map(\.description) + ["\(n) error\(n == 1 ? "" : "s")"]).joined(separator: "\n")
    }
    /// The codes found, for tests and scripts.
    public var codes: Set<Diagnostic.Code> { Set(diagnostics.map(\.code)) }
}

/// `text` with control characters (and Unicode line separators) written as escapes: `\n`, `\t`, `\u{1B}`.
func oneLine(_ text: String) -> String {
    guard text.unicodeScalars.contains(where: needsEscape) else { return text }
    var out = ""
    for u in text.unicodeScalars {
        switch u {
        case "\n": out += "\\n"
        case "\t": out += "\\t"
        case "\r": out += "\\r"
        case _ where needsEscape(u): out += "\\u{\(String(u.value, radix: 16, uppercase: true))}"
        default: out.unicodeScalars.append(u)
        }
    }
    return out
}

private func needsEscape(_ u: Unicode.Scalar) -> Bool {
    u.value < 0x20 || (0x7f...0x9f).contains(u.value) || u.value == 0x2028 || u.value == 0x2029
}

/// A value quoted from the file, cut to a readable length: a diagnostic names the value, it does
/// not reprint a page of it.
func quoted(_ text: String, limit: Int = 60) -> String {
    text.count <= limit ? text : String(text.prefix(limit)) + "…"
}

/// Edit distance, for "did you mean" suggestions on misspelt keys and names.
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a.lowercased()), b = Array(b.lowercased())
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var prev = Array(0...b.count), cur = [Int](repeating: 0, count: b.count + 1)
    for i in 1...a.count {
        cur[0] = i
        for j in 1...b.count {
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        swap(&prev, &cur)
    }
    return prev[b.count]
}

/// The candidate closest to `word`, if it is close enough to be a plausible typo.
func nearest(_ word: String, in candidates: [String]) -> String? {
    // A word longer than any name is not a typo of one; and a candidate whose length differs by
    // more than the limit cannot be within it, so its edit distance is never computed.
    guard word.count <= 64 else { return nil }
    let limit = max(2, word.count / 3)
    let scored = candidates.filter { abs($0.count - word.count) <= limit || $0.hasPrefix(word) || word.hasPrefix($0) }
        .map { ($0, editDistance(word, $0)) }.sorted { ($0.1, $0.0) < ($1.1, $1.0) }
    guard let best = scored.first else { return nil }
    return best.1 <= limit || best.0.hasPrefix(word) || word.hasPrefix(best.0) ? best.0 : nil
}

extension TopologyDiagnostics {
    /// A file, or text, larger than a topology may be. `size` is what is known of its length:
    /// `20000000 bytes`, or `more than N bytes`.
    public static func fileTooLarge(_ file: String, size: String, limit: Int) -> TopologyDiagnostics {
        TopologyDiagnostics([Diagnostic(.tooLarge, at: SourceLocation(file: file, line: 1, column: 1), keyPath: "",
                                        "the file is \(size); a topology file may hold at most \(limit) bytes",
                                        hint: "check that this is the topology file; a site of 20,000 VMs and 10,000 services is about 4 MiB")])
    }
}
