import Foundation

/// The topology file format as a JSON Schema (draft-07), generated from ``TopologySchema``'s
/// tables, so editors check and complete a file against the very keys, types, defaults and rules
/// the loader reads through (docs/topology.schema.json; `tandemctl schema` writes it).
///
/// Draft-07 because it is what YAML language servers implement fully (`if`/`then`/`else` included).
/// The schema states what each key accepts as the loader reads it from YAML 1.2 text: every scalar
/// the loader reads as text (`string`, `name`) may be written as a number or a boolean too, a
/// choice is case-insensitive, a duration or memory size is a bare number or a string with a
/// unit. What needs the whole file (names that resolve, addresses used once, capacity) remains
/// `tandemctl validate`'s.
public enum TopologyJSONSchema {
    /// The draft the schema follows.
    public static let draft = "http://json-schema.org/draft-07/schema#"

    /// The schema as a JSON object (Foundation property-list types).
    public static func document() -> [String: Any] {
        var definitions: [String: Any] = [:]
        var queue = [TopologySchema.root]
        var seen = Set<String>()
        var root: [String: Any] = [:]
        while let spec = queue.popLast() {
            guard seen.insert(spec.name).inserted else { continue }
            let (object, nested) = mapping(spec)
            if spec.name == TopologySchema.root.name { root = object } else { definitions[spec.name] = object }
            queue += nested
        }
        root["$schema"] = draft
        root["title"] = "Tandem topology"
        root["$comment"] = "Generated from TopologySchema (Sources/Core/Topology/Schema.swift) by `tandemctl schema`; do not edit by hand."
        root["definitions"] = definitions
        return root
    }

    /// The schema as pretty, key-sorted JSON text ending in a newline: the same bytes on every run.
    public static func text() -> String {
        // Cannot throw: every value is built above from strings, numbers, arrays and dictionaries.
        let data = try! JSONSerialization.data(withJSONObject: document(), options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    // MARK: - Tables to schema

    /// One mapping's definition, and the mappings its keys nest.
    private static func mapping(_ spec: MappingSpec) -> (object: [String: Any], nested: [MappingSpec]) {
        var nested: [MappingSpec] = []
        var properties: [String: Any] = [:]
        for key in spec.allowedKeys(selector: nil) {
            var p = schema(for: key.type, nested: &nested)
            var doc = key.doc
            if let d = key.defaultValue {
                doc += " Default: \(d)."
                p["default"] = typedDefault(d, key.type)
            }
            // Beside a $ref (draft-07) every other keyword is ignored: wrap it to keep the description.
            if p["$ref"] != nil { p = ["allOf": [p]] }
            p["description"] = doc
            properties[key.name] = p
        }
        var object: [String: Any] = ["type": "object", "description": spec.doc, "properties": properties, "additionalProperties": false]
        let required = spec.keys.filter(\.required).map(\.name)
        if !required.isEmpty { object["required"] = required }
        var all: [[String: Any]] = []
        if let v = spec.variants {
            // The loader allows a variant's keys when the discriminator reads exactly its value
            // (all variants' keys otherwise: the discriminator's own read reports a bad word).
            for c in v.cases {
                var then: [String: Any] = ["propertyNames": ["enum": spec.allowedKeys(selector: c.value).map(\.name)]]
                let req = c.keys.filter(\.required).map(\.name)
                if !req.isEmpty { then["required"] = req }
                all.append(["if": ["properties": [v.key: ["const": c.value]], "required": [v.key]], "then": then])
            }
        }
        for rule in spec.rules { all.append(schema(for: rule, in: spec)) }
        if !all.isEmpty { object["allOf"] = all }
        return (object, nested)
    }

    /// A rule between keys, as ``YAMLReader`` enforces it.
    private static func schema(for rule: KeyRule, in spec: MappingSpec) -> [String: Any] {
        /// "`selector` reads `value`": written so (in any case), or absent with that default.
        func reads(_ selector: String, _ value: String) -> [String: Any] {
            let match: [String: Any] = ["properties": [selector: ["type": "string", "pattern": "^\(caseless(value))$"]]]
            return spec.key(selector)?.defaultValue == value ? match : match.merging(["required": [selector]]) { a, _ in a }
        }
        switch rule {
        case .anyOf(let keys, _):
            return ["anyOf": keys.map { ["required": [$0]] }]
        case .excludes(let key, let other, _, _):
            return ["not": ["required": [key, other]]]
        case .exactlyWhen(let key, let selector, let value):
            return ["if": reads(selector, value), "then": ["required": [key]], "else": ["not": ["required": [key]]]]
        case .requiredUnless(let key, let selector, let value, _):
            return ["if": reads(selector, value), "else": ["required": [key]]]
        }
    }

    /// A key's type as the loader reads it.
    private static func schema(for type: ValueType, nested: inout [MappingSpec]) -> [String: Any] {
        switch type {
        case .string:
            return ["type": scalarText, "minLength": 1]
        case .name:
            return ["type": scalarText, "pattern": "^[A-Za-z0-9._-]+$"]
        case .integer(let r):
            return ["type": "integer", "minimum": r.lowerBound, "maximum": r.upperBound]
        case .port:
            // 0 only for a fwmark service's members ("the client's port"); the loader judges that.
            return ["type": "integer", "minimum": 0, "maximum": 65535]
        case .duration(let r):
            return ["anyOf": [["type": "number", "minimum": Double(r.lowerBound) / 1000, "maximum": Double(r.upperBound) / 1000],
                              ["type": "string", "pattern": "^ *\(decimal) *(ms|s|m)?$"]],
                    "examples": ["250ms", "1s", "2m"]]
        case .memory(let r):
            return ["anyOf": [["type": "number", "minimum": r.lowerBound, "maximum": r.upperBound],
                              ["type": "string", "pattern": "^ *\(decimal) *(MiB|GiB|TiB|M|G|T)?$"]],
                    "examples": ["512MiB", "4GiB"]]
        case .address:
            return ["type": "string", "pattern": "^(\(ipv4)|\(ipv6))$"]
        case .interfaceAddress:
            return ["type": "string", "pattern": "^(\(ipv4)|\(ipv6))(/[0-9]{1,3})?$"]
        case .interfaceName:
            return ["type": scalarText, "pattern": "^(?!\\.\\.?$)[^/:\\s]{1,15}$"]
        case .urlPath:
            return ["type": "string", "pattern": "^/"]
        case .absolutePath:
            return ["type": "string", "pattern": "^/"]
        case .program:
            return ["type": "string", "pattern": "^(/\\S*|[A-Za-z0-9._-]+)$"]
        case .libvirtURI:
            return ["type": "string", "pattern": "^[A-Za-z0-9+-]+://\\S*$"]
        case .netmask:
            return ["anyOf": [["type": "integer", "minimum": 0, "maximum": 128],
                              ["type": "string", "pattern": "^(/?[0-9]{1,3}|\(ipv4))$"]]]
        case .choice(let words):
            // The loader lowercases the word: the enum completes, the pattern accepts any case.
            var any: [[String: Any]] = [["enum": words], ["type": "string", "pattern": "^(\(words.map(caseless).joined(separator: "|")))$"]]
            // `true`/`false` are YAML booleans before they are words: a JSON validator sees booleans.
            if Set(words) == Set(TopologySchema.booleans) { any.insert(["type": "boolean"], at: 0) }
            return ["anyOf": any]
        case .list(let element, let count):
            var s: [String: Any] = ["type": count.lowerBound == 0 ? ["array", "null"] : "array",
                                    "items": schema(for: element, nested: &nested)]
            if count.lowerBound > 0 { s["minItems"] = count.lowerBound }
            if count.upperBound < Int.max { s["maxItems"] = count.upperBound }
            return s
        case .mapping(let spec):
            nested.append(spec)
            return ["$ref": "#/definitions/\(spec.name)"]
        case .dictionary(let value):
            // An empty value (`labels:`) reads as no entries.
            return ["type": ["object", "null"], "additionalProperties": schema(for: value, nested: &nested)]
        case .oneOf(let shapes):
            return ["oneOf": shapes.map { schema(for: $0, nested: &nested) }]
        }
    }

    /// YAML scalars the loader reads as text: `site: 2024` is the name "2024".
    private static let scalarText = ["string", "number", "boolean"]
    /// ``NumberFormat/isDecimal(_:wholeOnly:)`` as a pattern.
    private static let decimal = "[+-]?([0-9]+\\.?[0-9]*|\\.[0-9]+)([eE][+-]?[0-9]+)?"
    private static let octet = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
    private static let ipv4 = "(\(octet)\\.){3}\(octet)"
    /// Hex groups and colons, with at least one colon and an optional dotted-quad tail; the loader
    /// (inet_pton) decides the rest.
    private static let ipv6 = "(?=[0-9A-Fa-f:.]*:)[0-9A-Fa-f:]{2,39}(\\.[0-9]{1,3}){0,3}"

    /// `sh-port` as `[sS][hH][-][pP][oO][rR][tT]`: JSON Schema patterns have no case-insensitive
    /// flag, and a one-character class quotes `-` or `.` the same way in every regex dialect.
    private static func caseless(_ word: String) -> String {
        word.map { c in c.isLetter ? "[\(c.lowercased())\(c.uppercased())]" : c.isNumber ? String(c) : "[\(c)]" }.joined()
    }

    /// A default as JSON: a number for counts, an empty list or mapping, else the text as written.
    private static func typedDefault(_ text: String, _ type: ValueType) -> Any {
        switch type {
        case .integer, .port: return Int(text) ?? text
        case .list: return text == "[]" ? [Any]() : text
        case .dictionary: return text == "{}" ? [String: Any]() : text
        default: return text
        }
    }
}
