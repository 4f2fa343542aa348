// libyaml itself, as Yams vendors it. Yams resolves aliases while it composes and hashes every
// mapping key on the way, and exposes no event API; only libyaml's event stream lets the loader
// look at aliases before that happens. The module comes with the Yams dependency.
import CYaml

/// What a topology file may make the loader build. The defaults fit a site of tens of thousands of
/// VMs and services with room to spare, and keep a hostile file's cost to about a second.
public struct TopologyLimits: Sendable, Equatable {
    /// Largest file, in bytes.
    public var maxFileBytes: Int
    /// Most YAML nodes (scalars, lists, mappings) in the document once every alias is expanded.
    public var maxNodes: Int
    /// Deepest nesting of lists and mappings; the format itself nests six deep.
    public var maxDepth: Int

    /// Limits for one load; the defaults are ``standard``.
    public init(maxFileBytes: Int = 16 << 20, maxNodes: Int = 2_000_000, maxDepth: Int = 64) {
        self.maxFileBytes = maxFileBytes; self.maxNodes = maxNodes; self.maxDepth = maxDepth
    }

    /// The limits `tandemd` and `tandemctl` use.
    public static let standard = TopologyLimits()
}

/// One pass over libyaml's events, before Yams composes a tree, that refuses:
/// - an alias used as, or inside, a mapping key. Yams hashes each key to find duplicates, and a key
///   that is an alias of nested aliases hashes its whole expansion: exponential time (seen: a
///   4.8 KB file took 1.5 s, 5.3 s and 60.7 s at depth 5, 6 and 7). No topology key is an alias.
/// - a document whose aliases expand past ``TopologyLimits/maxNodes`` ("billion laughs"): the
///   reader walks the expanded tree, so its size, not the file's, is what costs.
/// - nesting deeper than ``TopologyLimits/maxDepth``: Yams composes recursively.
///
/// Sizes are counted as the events arrive (an alias adds its anchor's expanded size), so the scan
/// is linear in the file and stops at the first event past a limit. A syntax error ends the scan
/// quietly: Yams reports it next, in its own words.
enum YAMLScan {
    private struct Frame {
        var isMapping: Bool
        /// In a mapping: the next node is a key.
        var expectKey = true
        /// This collection is a mapping key or inside one.
        var inKey: Bool
        /// Expanded size so far: itself and every node below it.
        var size = 1
        var anchor: String?
    }

    static func check(_ text: String, file: String, limits: TopologyLimits) -> Diagnostic? {
        var text = text
        return text.withUTF8 { utf8 -> Diagnostic? in
            var parser = yaml_parser_t()
            guard yaml_parser_initialize(&parser) == 1 else { return nil }
            defer { yaml_parser_delete(&parser) }
            yaml_parser_set_input_string(&parser, utf8.baseAddress, utf8.count)
            var frames: [Frame] = []
            var anchors: [String: Int] = [:]
            var total = 0
            while true {
                var event = yaml_event_t()
                guard yaml_parser_parse(&parser, &event) == 1 else { return nil }
                defer { yaml_event_delete(&event) }
                let at = SourceLocation(file: file, line: Int(event.start_mark.line) + 1, column: Int(event.start_mark.column) + 1)
                let parentInKey = frames.last.map { $0.inKey || ($0.isMapping && $0.expectKey) } ?? false
                // A finished node of `size` nodes: count it in its parent, whose next node is then a value (or key).
                func finish(_ size: Int) {
                    guard !frames.isEmpty else { return }
                    frames[frames.count - 1].size += size
                    if frames[frames.count - 1].isMapping { frames[frames.count - 1].expectKey.toggle() }
                }
                func tooLarge() -> Diagnostic {
                    Diagnostic(.tooLarge, at: at, keyPath: "", "the document expands to more than \(limits.maxNodes) YAML nodes once its aliases are resolved",
                               hint: "an alias (*name) repeats everything its anchor (&name) holds; write the entries out, or use fewer aliases of large anchors")
                }
                switch event.type {
                case YAML_STREAM_END_EVENT:
                    return nil
                case YAML_SCALAR_EVENT:
                    total += 1
                    if total > limits.maxNodes { return tooLarge() }
                    if let a = event.data.scalar.anchor { anchors[String(cString: a)] = 1 }
                    finish(1)
                case YAML_ALIAS_EVENT:
                    let name = event.data.alias.anchor.map { String(cString: $0) } ?? ""
                    if parentInKey {
                        return Diagnostic(.aliasKey, at: at, keyPath: "", "the alias *\(name) is used as a mapping key",
                                          hint: "write the key out as a plain word; topology keys are never aliases")
                    }
                    // An undefined alias is Yams' to report; count it as one node meanwhile.
                    let size = anchors[name] ?? 1
                    total += size
                    if total > limits.maxNodes { return tooLarge() }
                    finish(size)
                case YAML_SEQUENCE_START_EVENT, YAML_MAPPING_START_EVENT:
                    total += 1
                    if total > limits.maxNodes { return tooLarge() }
                    if frames.count >= limits.maxDepth {
                        return Diagnostic(.tooDeep, at: at, keyPath: "", "lists and mappings are nested more than \(limits.maxDepth) deep here",
                                          hint: "a topology nests about six levels; check the brackets and indentation above this line")
                    }
                    let isMapping = event.type == YAML_MAPPING_START_EVENT
                    let anchor = isMapping ? event.data.mapping_start.anchor : event.data.sequence_start.anchor
                    frames.append(Frame(isMapping: isMapping, inKey: parentInKey, anchor: anchor.map { String(cString: $0) }))
                case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
                    guard let done = frames.popLast() else { return nil }
                    if let a = done.anchor { anchors[a] = done.size }
                    finish(done.size)
                default:
                    break
                }
            }
        }
    }
}
