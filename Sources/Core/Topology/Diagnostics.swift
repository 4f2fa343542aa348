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
public struct Diagnostic: Sendable, Equatable, CustomStringConvertible {
    /// Stable codes: scripts and tests match on these, never on message text.
    public enum Code: String, Sendable, Equatable, CaseIterable {
        case unreadable, empty, binary, syntax
        case typeMismatch, missingKey, unknownKey, duplicateKey, badValue
        case duplicateName, duplicateVIP, duplicateVRID, duplicateEndpoint, duplicateAddress
        case badAddress, badCIDR, badPort, familyMismatch
        case unknownReference, unknownScheduler, unknownForwarding
        case pinnedTogether, cannotSplit, capacityExceeded
        case ringTooSmall, directorIsMember
    }
    public var code: Code
    public var location: SourceLocation
    /// Dotted key path, for example `services[2].members[0].vm`.
    public var keyPath: String
    /// What is wrong.
    public var message: String
    /// What to do about it.
    public var hint: String

    public init(_ code: Code, at location: SourceLocation, keyPath: String, _ message: String, hint: String) {
        self.code = code; self.location = location; self.keyPath = keyPath; self.message = message; self.hint = hint
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
    public init(_ diagnostics: [Diagnostic]) { self.diagnostics = diagnostics.sorted { $0.location < $1.location } }
    /// One diagnostic per line, in file order, then a count.
    public var description: String {
        let n = diagnostics.count
        return (diagnostics.map(\.description) + ["\(n) error\(n == 1 ? "" : "s")"]).joined(separator: "\n")
    }
    /// The codes found, for tests and scripts.
    public var codes: Set<Diagnostic.Code> { Set(diagnostics.map(\.code)) }
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
    let scored = candidates.map { ($0, editDistance(word, $0)) }.sorted { ($0.1, $0.0) < ($1.1, $1.0) }
    guard let best = scored.first else { return nil }
    let limit = max(2, word.count / 3)
    return best.1 <= limit || best.0.hasPrefix(word) || word.hasPrefix(best.0) ? best.0 : nil
}
