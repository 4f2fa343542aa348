// keepalived.conf as a tree of statements, read the way keepalived 2.2.7 reads it (lib/parser.c):
// `!` and `#` start a comment outside double quotes (`\!`, `\#` are literal), `{` and `}` open and
// close blocks anywhere on a line, `include PATTERN` splices in every file the glob matches (relative
// to the including file's directory), `@ID` / `@^ID` lines apply only with / without `-i ID`, and
// `$NAME=value` defines what `$NAME` and `${NAME}` expand to. Pure: files come through `KeepalivedFiles`.

/// Where a statement or comment stands: the file as named (by the command line or an include) and
/// the 1-based line.
public struct KeepalivedLocation: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The file, as given or as the include's glob matched it.
    public var file: String
    /// 1-based line.
    public var line: Int
    /// A location in `file` at `line`.
    public init(file: String, line: Int) { self.file = file; self.line = line }
    /// `file:line`, as compilers print it.
    public var description: String { "\(file):\(line)" }
    /// File order within one file; files in the order first seen is the caller's business.
    public static func < (a: Self, b: Self) -> Bool { (a.file, a.line) < (b.file, b.line) }
}

/// A comment of the file, kept so an import can carry it to the place it described.
public struct KeepalivedComment: Sendable, Equatable {
    /// The text after `!` or `#`, trimmed.
    public var text: String
    /// Where it was written.
    public var location: KeepalivedLocation
    /// A comment.
    public init(_ text: String, at location: KeepalivedLocation) { self.text = text; self.location = location }
}

/// One statement: its words (the keyword first), its block if it opened one, and the comments
/// written just before it or on its line.
public struct KeepalivedStatement: Sendable, Equatable {
    /// The words, quotes removed; `words[0]` is the keyword (or a value, in a block of values).
    public var words: [String]
    /// The statements between its `{` and `}`; `nil` when it opened no block.
    public var block: [KeepalivedStatement]?
    /// Where its first word stands.
    public var location: KeepalivedLocation
    /// Comments on the lines before it (since the previous statement) and on its own line.
    public var comments: [KeepalivedComment]
    /// Comments after its block's last statement, before the closing `}`.
    public var closingComments: [KeepalivedComment]

    /// A statement.
    public init(words: [String], block: [KeepalivedStatement]? = nil, location: KeepalivedLocation,
                comments: [KeepalivedComment] = [], closingComments: [KeepalivedComment] = []) {
        self.words = words; self.block = block; self.location = location; self.comments = comments
        self.closingComments = closingComments
    }

    /// The first word.
    public var keyword: String { words.first ?? "" }
    /// The words after the keyword.
    public var arguments: ArraySlice<String> { words.dropFirst() }
    /// The statements of its block whose keyword is `keyword`, in order.
    public func children(_ keyword: String) -> [KeepalivedStatement] { (block ?? []).filter { $0.keyword == keyword } }
    /// The first such statement.
    public func child(_ keyword: String) -> KeepalivedStatement? { (block ?? []).first { $0.keyword == keyword } }
    /// Every statement of its block, nested ones included, depth first in file order.
    public var descendants: [KeepalivedStatement] { (block ?? []).flatMap { [$0] + $0.descendants } }
}

/// Something the reader could not take as keepalived would, said with its place.
public struct KeepalivedReadProblem: Sendable, Equatable, CustomStringConvertible {
    /// Where.
    public var location: KeepalivedLocation
    /// What, and what keepalived or Tandem makes of it.
    public var message: String
    /// A problem at `location`.
    public init(_ message: String, at location: KeepalivedLocation) { self.message = message; self.location = location }
    /// `file:line: message`.
    public var description: String { "\(location): \(message)" }
}

/// A whole configuration: the top-level statements of the main file with its includes spliced in.
public struct KeepalivedConfig: Sendable, Equatable {
    /// Top-level statements in file order.
    public var statements: [KeepalivedStatement]
    /// Comments after the last statement.
    public var trailingComments: [KeepalivedComment]
    /// Lines the reader skipped or could not take (a missing include, an extra `}`, a `@ID` line).
    public var problems: [KeepalivedReadProblem]
    /// Every file read, main file first.
    public var files: [String]
}

/// Reads keepalived.conf into a ``KeepalivedConfig``. Never throws on content: what it cannot take
/// is a ``KeepalivedReadProblem``; only an unreadable main file throws. Files come through `read` and
/// include patterns through `glob` (glob(3) with `GLOB_BRACE`, as keepalived expands them), so the
/// reader itself does no I/O.
public struct KeepalivedReader {
    /// keepalived's `-i ID` (`--config-id`): `@ID` lines apply with it, `@^ID` lines without it.
    public var configID: String?
    /// Nested includes beyond this depth are refused (an include cycle would never end).
    public var maxIncludeDepth = 32
    private let readFile: (String) throws -> String
    private let glob: (String) -> [String]

    /// A reader: `read` gives a file's text, `glob` the sorted paths a pattern matches.
    public init(configID: String? = nil, read: @escaping (String) throws -> String, glob: @escaping (String) -> [String]) {
        self.configID = configID; self.readFile = read; self.glob = glob
    }

    /// One physical line after comments, `@ID` and `$` definitions are handled.
    struct Line {
        var text: String
        var location: KeepalivedLocation
        var comment: KeepalivedComment?
    }

    /// Reads `path` and everything it includes.
    public func read(_ path: String) throws -> KeepalivedConfig {
        var problems: [KeepalivedReadProblem] = []
        var seenFiles: [String] = []
        var definitions: [String: String] = [:]
        let lines = try self.lines(of: path, depth: 0, problems: &problems, files: &seenFiles, definitions: &definitions)
        let (statements, trailing) = parse(lines, problems: &problems)
        return KeepalivedConfig(statements: statements, trailingComments: trailing, problems: problems, files: seenFiles)
    }

    private func lines(of path: String, depth: Int, problems: inout [KeepalivedReadProblem], files seen: inout [String],
                       definitions: inout [String: String]) throws -> [Line] {
        let text = try readFile(path)
        seen.append(path)
        var out: [Line] = []
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let at = KeepalivedLocation(file: path, line: i + 1)
            var (body, comment) = Self.decomment(String(raw))
            let note = comment.map { KeepalivedComment($0, at: at) }
            if body.hasPrefix("@") {
                // `@ID rest` applies only with -i ID; `@^ID rest` only without it (parser.c, read_line).
                let negated = body.hasPrefix("@^")
                let rest = body.dropFirst(negated ? 2 : 1)
                let id = rest.prefix { !$0.isWhitespace }
                let applies = (configID == String(id)) != negated
                if !applies {
                    problems.append(.init("'\(body)' applies only \(negated ? "without" : "with") keepalived -i \(id): skipped (pass --config-id to choose)", at: at))
                    if let note { out.append(Line(text: "", location: at, comment: note)) }
                    continue
                }
                body = String(rest.dropFirst(id.count).drop { $0.isWhitespace })
            }
            if body.hasPrefix("$"), let eq = body.firstIndex(of: "="), !body[body.index(after: body.startIndex)..<eq].contains(where: \.isWhitespace) {
                let name = String(body[body.index(after: body.startIndex)..<eq])
                definitions[name] = String(body[body.index(after: eq)...]).trimmingWhitespace
                if body.hasSuffix("\\") {
                    problems.append(.init("multi-line definition $\(name) is not expanded by the import", at: at))
                }
                if let note { out.append(Line(text: "", location: at, comment: note)) }
                continue
            }
            if body.hasPrefix("~SEQ") || body.hasPrefix("~LST") {
                problems.append(.init("'\(body.prefix(4))' sequences are not expanded by the import: write the lines out", at: at))
                continue
            }
            if body.contains("$") { body = Self.expand(body, definitions) }
            let words = body.split(whereSeparator: \.isWhitespace)
            if let first = words.first, first == "include" || (first.count == 8 && first.hasPrefix("include") && "rmwba".contains(first.last!)) {
                let pattern = body.dropFirst(first.count).trimmingWhitespace
                guard depth < maxIncludeDepth else {
                    problems.append(.init("include \(pattern): more than \(maxIncludeDepth) nested includes (a cycle?): not followed", at: at))
                    continue
                }
                // keepalived changes to the including file's directory, so a relative pattern is relative to it.
                let resolved = pattern.hasPrefix("/") || !path.contains("/") ? pattern : Self.directory(of: path) + "/" + pattern
                let matches = glob(resolved)
                if matches.isEmpty {
                    problems.append(.init("include \(pattern): no file matches \(resolved)", at: at))
                }
                if let note { out.append(Line(text: "", location: at, comment: note)) }
                for m in matches {
                    do {
                        out += try lines(of: m, depth: depth + 1, problems: &problems, files: &seen, definitions: &definitions)
                    } catch {
                        problems.append(.init("include \(pattern): cannot read \(m): \(error)", at: at))
                    }
                }
                continue
            }
            out.append(Line(text: body, location: at, comment: note))
        }
        return out
    }

    /// The statements of `lines`, and comments after the last one.
    private func parse(_ lines: [Line], problems: inout [KeepalivedReadProblem]) -> ([KeepalivedStatement], [KeepalivedComment]) {
        // The open blocks: the statement that opened each (none for the top level) and its children so far.
        struct Frame { var owner: KeepalivedStatement?; var children: [KeepalivedStatement] = [] }
        var stack = [Frame(owner: nil)]
        var pending: [KeepalivedComment] = []
        func close() {
            let frame = stack.removeLast()
            guard var owner = frame.owner else { return }
            owner.block = frame.children
            owner.closingComments = pending
            pending = []
            stack[stack.count - 1].children.append(owner)
        }
        for line in lines {
            var words: [String] = []
            // A comment on a line belongs to the line's first statement (or to the block it closes).
            var lineComment = line.comment
            func flush(opening: Bool) {
                guard !words.isEmpty else { return }
                var s = KeepalivedStatement(words: words, location: line.location, comments: pending)
                pending = []
                if let c = lineComment { s.comments.append(c); lineComment = nil }
                words = []
                if opening { s.block = []; stack.append(Frame(owner: s)) } else { stack[stack.count - 1].children.append(s) }
            }
            for token in Self.tokens(line.text, at: line.location, problems: &problems) {
                switch token {
                case "{":
                    if !words.isEmpty { flush(opening: true); continue }
                    // `{` on a line of its own opens the block of the statement before it.
                    if let last = stack[stack.count - 1].children.last, last.block == nil {
                        stack[stack.count - 1].children.removeLast()
                        stack.append(Frame(owner: last))
                    } else {
                        problems.append(.init("'{' with no keyword before it: ignored", at: line.location))
                    }
                case "}":
                    flush(opening: false)
                    guard stack.count > 1 else {
                        problems.append(.init("extra '}': ignored", at: line.location))
                        continue
                    }
                    if let c = lineComment { pending.append(c); lineComment = nil }
                    close()
                default:
                    words.append(token)
                }
            }
            flush(opening: false)
            if let c = lineComment { pending.append(c) }
        }
        while stack.count > 1 {
            if let owner = stack.last?.owner {
                problems.append(.init("the block of '\(owner.words.joined(separator: " "))' is not closed by '}': closed at the end of the file", at: owner.location))
            }
            close()
        }
        return (stack[0].children, pending)
    }

    // MARK: - Lines and words

    /// Splits off the comment: the first `!` or `#` outside double quotes and not escaped by `\`
    /// (parser.c, decomment). Returns the trimmed text and the trimmed comment, if any.
    static func decomment(_ line: String) -> (text: String, comment: String?) {
        var text = "", quoted = false
        var chars = Substring(line)
        while let c = chars.first {
            chars = chars.dropFirst()
            if c == "\\", let next = chars.first, !quoted, next == "#" || next == "!" {
                text.append(next); chars = chars.dropFirst(); continue
            }
            if c == "\"" { quoted.toggle() }
            if !quoted && (c == "!" || c == "#") {
                return (text.trimmingWhitespace, String(chars).trimmingWhitespace)
            }
            text.append(c)
        }
        return (text.trimmingWhitespace, nil)
    }

    /// The words of a line: whitespace separates, a double-quoted run is one word without its quotes,
    /// and `{` / `}` outside quotes are words of their own.
    static func tokens(_ text: String, at location: KeepalivedLocation, problems: inout [KeepalivedReadProblem]) -> [String] {
        var out: [String] = [], word = "", inWord = false, quoted = false
        func end() { if inWord { out.append(word) }; word = ""; inWord = false }
        for c in text {
            if quoted {
                if c == "\"" { quoted = false } else { word.append(c) }
            } else if c == "\"" {
                quoted = true; inWord = true
            } else if c == "{" || c == "}" {
                end(); out.append(String(c))
            } else if c.isWhitespace {
                end()
            } else {
                word.append(c); inWord = true
            }
        }
        if quoted { problems.append(.init("unterminated quote: read to the end of the line", at: location)) }
        end()
        return out
    }

    /// `$NAME` and `${NAME}` replaced by their definitions; unknown names are left as written.
    static func expand(_ text: String, _ definitions: [String: String]) -> String {
        var out = "", rest = Substring(text)
        while let dollar = rest.firstIndex(of: "$") {
            out += rest[..<dollar]
            var after = rest[rest.index(after: dollar)...]
            let braced = after.first == "{"
            if braced { after = after.dropFirst() }
            let name = after.prefix { $0.isLetter || $0.isNumber || $0 == "_" }
            let closed = !braced || after.dropFirst(name.count).first == "}"
            if !name.isEmpty, closed, let value = definitions[String(name)] {
                out += value
                rest = after.dropFirst(name.count + (braced ? 1 : 0))
            } else {
                out += "$"
                rest = rest[rest.index(after: dollar)...]
            }
        }
        return out + rest
    }

    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}

extension StringProtocol {
    /// Without leading and trailing spaces and tabs.
    var trimmingWhitespace: String {
        String(drop { $0 == " " || $0 == "\t" || $0 == "\r" }.reversed().drop { $0 == " " || $0 == "\t" || $0 == "\r" }.reversed())
    }
}
