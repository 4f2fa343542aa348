import Foundation
import Net
import Yams

/// Another of Tandem's YAML files (the drill file beside a topology) read with the topology's own
/// reader: the same hostile-input limits, the same typed values (durations, addresses, names), and
/// the same located diagnostics (`FILE:LINE:COLUMN: error: … (key path) — what to do`).
///
/// A caller declares its format as ``MappingSpec`` tables, as ``TopologySchema`` does, and reads
/// the composed tree through ``SchemaFields``; every problem is collected, none stops the read.
public final class SchemaDocument {
    private let reader: YAMLReader
    /// The root node of the document.
    public let root: Node
    /// The file, as given.
    public var file: String { reader.file }

    /// Composes bytes already read (TopologyFiles reads them from disk); `file` names them in
    /// messages, `start` says where to begin when they are empty, `what` names the kind of file a
    /// user should pass.
    public init(data: Data, file: String, limits: TopologyLimits = .standard, start: String, what: String) throws(TopologyDiagnostics) {
        root = try TopologyLoader.compose(data: data, file: file, limits: limits, start: start, what: what)
        reader = YAMLReader(file: file)
    }

    /// Composes text already in memory; `file` names it in messages.
    public init(text: String, file: String, limits: TopologyLimits = .standard, start: String, what: String) throws(TopologyDiagnostics) {
        root = try TopologyLoader.compose(data: Data(text.utf8), file: file, limits: limits, start: start, what: what)
        reader = YAMLReader(file: file)
    }

    /// Every problem recorded so far.
    public var diagnostics: [Diagnostic] { reader.diagnostics }

    /// Reads `node` as a mapping of `spec` at key path `path`; `nil` (with a diagnostic) if it is not one.
    public func fields(_ node: Node, _ path: String, _ spec: MappingSpec) -> SchemaFields? {
        reader.fields(node, path, spec).map(SchemaFields.init)
    }

    /// Records a problem the caller found (a reference to something that does not exist).
    public func error(_ code: Diagnostic.Code, at path: String, node: Node? = nil, _ message: String, hint: String) {
        reader.error(code, at: path, node: node, message, hint: hint)
    }

    /// Where the value at `path` stands in the file (its nearest recorded parent if it was not read).
    public func location(of path: String) -> SourceLocation { reader.location(of: path) }

    /// A name out of `candidates` close enough to `word` to be its typo, for "did you mean" hints.
    public static func nearest(_ word: String, in candidates: [String]) -> String? { typoFinder(word, candidates) }

    /// Reads one list item or value node as `type` says: text, a number in base units (ms, MiB),
    /// an address, an interface address or one word of a choice; `nil` with a diagnostic otherwise.
    public func text(_ node: Node, _ path: String) -> String? { reader.string(node, path) }
    /// A name (letters, digits, `-`, `_`, `.`).
    public func name(_ node: Node, _ path: String) -> String? { reader.name(node, path) }
    /// A number of `type` (an integer, a port, a duration in milliseconds).
    public func number(_ node: Node, _ path: String, _ type: ValueType) -> Int? { reader.number(node, path, type) }
}

/// One mapping of a ``SchemaDocument`` read against its ``MappingSpec``: typed access to its keys
/// with the spec's defaults for absent optional keys. ``ok`` turns false as soon as anything in it failed.
public struct SchemaFields {
    fileprivate let fields: Fields
    fileprivate init(_ fields: Fields) { self.fields = fields }

    /// No problem so far in this mapping.
    public var ok: Bool { fields.ok }
    /// The mapping's key path.
    public var path: String { fields.path }
    /// The mapping node (where "missing key" problems point).
    public var node: Node { fields.node }
    /// The key path of `key` in this mapping (`hooks.director-kill`).
    public func path(_ key: String) -> String { fields.path(key) }
    /// Whether `key` is written.
    public func has(_ key: String) -> Bool { fields.has(key) }
    /// The node written under `key`.
    public func node(_ key: String) -> Node? { fields.node(key) }
    /// A text or name value.
    public func text(_ key: String) -> String? { fields.text(key) }
    /// A number (integer, port, duration in ms).
    public func number(_ key: String) -> Int? { fields.number(key) }
    /// An address value.
    public func address(_ key: String) -> IPAddress? { fields.address(key) }
    /// A choice value, as the spec's word.
    public func word(_ key: String, what: String) -> String? { fields.word(key, what: what) }
    /// A list of text, names or words.
    public func texts(_ key: String, what: String = "value") -> [String]? { fields.texts(key, what: what) }
    /// A list's items (path and node each); an absent optional list is empty.
    public func items(_ key: String) -> [(path: String, node: Node)]? { fields.items(key) }
    /// A dictionary's entries in file order; absent is empty.
    public func entries(_ key: String) -> [(key: String, path: String, node: Node)]? { fields.entries(key) }
    /// A nested mapping read against its declared spec; `nil` if absent or failed.
    public func mapping(_ key: String) -> SchemaFields? { fields.mapping(key).map(SchemaFields.init) }
    /// Marks the mapping failed (the caller recorded why).
    public func fail() { fields.fail() }
    /// Folds a nested or caller result into this mapping's `ok`.
    @discardableResult public func require<T>(_ v: T?) -> T? { fields.require(v) }
}

/// The module's typo finder under another name: inside ``SchemaDocument`` `nearest` is the method itself.
private func typoFinder(_ word: String, _ candidates: [String]) -> String? { nearest(word, in: candidates) }
