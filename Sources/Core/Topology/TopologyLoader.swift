import Foundation
import Yams
import Net

/// A validated topology together with where each part of it came from.
public struct TopologyDocument: Sendable {
    public var topology: Topology
    /// The file it was read from, as given.
    public var file: String
    /// Key path (`services[1].members[0].vm`) → where it stands in the file.
    public var locations: [String: SourceLocation]
}

/// Reads and validates topology text. The only way to obtain a ``Topology`` from text; reading
/// the file from disk (`load(path:)`) is the System layer's `TopologyFiles`.
///
/// Loading never stops at the first mistake: it reads everything it can, runs every semantic
/// check on what it read, and throws ``TopologyDiagnostics`` with all problems found. Hostile
/// input costs bounded time and memory (``TopologyLimits``) and never traps.
public enum TopologyLoader {
    /// Validates topology text already in memory; `file` is used only in messages.
    public static func parse(data: Data, file: String, limits: TopologyLimits = .standard) throws(TopologyDiagnostics) -> TopologyDocument {
        let at = SourceLocation(file: file, line: 1, column: 1)
        let root = try compose(data: data, file: file, limits: limits,
                               start: "start from topology/fermigrid-ha.yaml; the schema is in docs/topology.md", what: "the topology's .yaml file")
        let reader = YAMLReader(file: file)
        let draft = TopologyDraft.read(root, reader)
        var diags = reader.diagnostics
        // Semantic checks need the top-level structure; without it they would only add noise.
        if draft.structureRead { diags += TopologyValidator(draft: draft, reader: reader).validate() }
        guard diags.isEmpty, let topology = draft.topology else {
            // Refused, so there must be a reason to print; a silent refusal would be a loader bug.
            throw TopologyDiagnostics(diags.isEmpty ? [Diagnostic(.internalError, at: at, keyPath: "", "the file was refused without a reason",
                                                                 hint: "this is a bug in tandem's topology loader; please report it with this file")] : diags)
        }
        return TopologyDocument(topology: topology, file: file, locations: reader.marks)
    }

    /// The YAML tree of a Tandem file (a topology, a drill file), with every refusal a located
    /// diagnostic: too large, binary, not UTF-8, empty, hostile (``YAMLScan``), or not YAML.
    /// `start` says where to begin when the file is empty; `what` names the file a user should pass.
    static func compose(data: Data, file: String, limits: TopologyLimits, start: String, what: String) throws(TopologyDiagnostics) -> Node {
        let at = SourceLocation(file: file, line: 1, column: 1)
        if data.count > limits.maxFileBytes {
            throw TopologyDiagnostics.fileTooLarge(file, size: "\(data.count) bytes", limit: limits.maxFileBytes)
        }
        if data.contains(0) {
            throw TopologyDiagnostics([Diagnostic(.binary, at: at, keyPath: "", "the file is binary (it contains NUL bytes), not YAML",
                                                  hint: "pass \(what)")])
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw TopologyDiagnostics([Diagnostic(.binary, at: at, keyPath: "", "the file is not valid UTF-8 text",
                                                  hint: "save it as UTF-8 YAML")])
        }
        if text.allSatisfy({ $0.isWhitespace }) {
            throw TopologyDiagnostics([Diagnostic(.empty, at: at, keyPath: "", "the file is empty", hint: start)])
        }
        // Aliases as keys, alias bombs and deep nesting are refused before Yams builds (and hashes) a tree.
        if let refusal = YAMLScan.check(text, file: file, limits: limits) { throw TopologyDiagnostics([refusal]) }
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let e as YamlError {
            throw TopologyDiagnostics([syntaxDiagnostic(e, file: file, what: what)])
        } catch {
            throw TopologyDiagnostics([Diagnostic(.syntax, at: at, keyPath: "", "not valid YAML: \(error)", hint: "fix the YAML syntax")])
        }
        guard let root, !(root.scalar.map { $0.string.isEmpty } ?? false) else {
            throw TopologyDiagnostics([Diagnostic(.empty, at: at, keyPath: "", "the file holds no YAML document (only comments?)", hint: start)])
        }
        return root
    }

    private static func syntaxDiagnostic(_ e: YamlError, file: String, what: String) -> Diagnostic {
        func loc(_ m: Mark) -> SourceLocation { SourceLocation(file: file, line: m.line, column: m.column) }
        switch e {
        case .scanner(let ctx, let problem, let mark, _), .parser(let ctx, let problem, let mark, _), .composer(let ctx, let problem, let mark, _):
            let c = ctx.map { " \($0.text)" } ?? ""
            return Diagnostic(.syntax, at: loc(mark), keyPath: "", "not valid YAML: \(problem)\(c)",
                              hint: "check indentation and quoting on this line; tabs are not allowed for indentation")
        case .duplicatedKeysInMapping(let keys, let context):
            // Yams stops at the first mapping with a repeated key and marks the first copy; point
            // at the second copy (same key, same column, on a later line) where we can find it.
            let key = keys.first ?? "?"
            var at = loc(context.mark)
            let lines = context.text.split(separator: "\n", omittingEmptySubsequences: false)
            for i in context.mark.line..<lines.count {
                let line = lines[i]
                let col = context.mark.column - 1
                guard line.count > col else { continue }
                if line.dropFirst(col).hasPrefix("\(key):") { at = SourceLocation(file: file, line: i + 1, column: col + 1); break }
            }
            return Diagnostic(.duplicateKey, at: at, keyPath: "", "key '\(quoted(key))' appears twice in one mapping",
                              hint: "keep one of them; YAML would otherwise silently use only one")
        case .reader(let problem, _, _, _):
            return Diagnostic(.binary, at: SourceLocation(file: file, line: 1, column: 1), keyPath: "", "the file cannot be read as YAML text: \(problem)",
                              hint: "pass \(what)")
        default:
            return Diagnostic(.syntax, at: SourceLocation(file: file, line: 1, column: 1), keyPath: "", "not valid YAML: \(e)", hint: "fix the YAML syntax")
        }
    }
}

