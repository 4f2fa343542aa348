import Yams

/// Walks a composed YAML tree and reads typed values out of it, recording a located
/// ``Diagnostic`` for every mismatch instead of stopping at the first.
///
/// Not thread-safe and not meant to be: one reader serves one load of one file.
final class YAMLReader {
    let file: String
    private(set) var diagnostics: [Diagnostic] = []
    /// Where each key path was found, so later (semantic) checks can point at the right line.
    private(set) var marks: [String: SourceLocation] = [:]

    init(file: String) { self.file = file }

    func location(_ node: Node?) -> SourceLocation {
        let m = node?.mark
        return SourceLocation(file: file, line: m?.line ?? 1, column: m?.column ?? 1)
    }

    /// The recorded location of a key path, falling back to its nearest recorded parent.
    func location(of path: String) -> SourceLocation {
        var p = path
        while !p.isEmpty {
            if let l = marks[p] { return l }
            if let i = p.lastIndex(where: { $0 == "." || $0 == "[" }) { p = String(p[..<i]) } else { break }
        }
        return SourceLocation(file: file, line: 1, column: 1)
    }

    func error(_ code: Diagnostic.Code, at path: String, node: Node? = nil, _ message: String, hint: String) {
        let loc = node != nil ? location(node) : location(of: path)
        diagnostics.append(Diagnostic(code, at: loc, keyPath: path, message, hint: hint))
    }

    func record(_ path: String, _ node: Node) { marks[path] = location(node) }

    private func describe(_ node: Node) -> String {
        switch node {
        case .scalar(let s): return s.string.isEmpty || s.tag.description.hasSuffix(":null") ? "an empty value" : "the scalar '\(s.string)'"
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }

    // MARK: Structure

    /// Reads a mapping with a fixed set of keys. Unknown keys are reported with the nearest valid
    /// key as a suggestion (a typo is the usual cause); missing required keys are reported at the
    /// mapping itself. Returns the values by key, or `nil` if `node` is not a mapping.
    func mapping(_ node: Node, _ path: String, required: [String], optional: [String] = []) -> [String: Node]? {
        record(path, node)
        guard case .mapping(let m) = node else {
            error(.typeMismatch, at: path, node: node, "expected a mapping, found \(describe(node))",
                  hint: "write `key: value` lines here (see docs/topology.md)")
            return nil
        }
        let allowed = required + optional
        var out: [String: Node] = [:]
        for (k, v) in m {
            guard case .scalar(let ks) = k else {
                error(.typeMismatch, at: path, node: k, "a key must be a plain word", hint: "use one of: \(allowed.joined(separator: ", "))")
                continue
            }
            let key = ks.string
            let childPath = path.isEmpty ? key : "\(path).\(key)"
            if out[key] != nil {
                error(.duplicateKey, at: childPath, node: k, "key '\(key)' appears twice", hint: "keep one of them; YAML would silently use the last")
                continue
            }
            guard allowed.contains(key) else {
                let hint = nearest(key, in: allowed).map { "did you mean '\($0)'?" } ?? "valid keys here: \(allowed.joined(separator: ", "))"
                error(.unknownKey, at: childPath, node: k, "unknown key '\(key)'", hint: hint)
                continue
            }
            out[key] = v
            record(childPath, v)
        }
        for key in required where out[key] == nil {
            let childPath = path.isEmpty ? key : "\(path).\(key)"
            error(.missingKey, at: childPath, node: node, "missing required key '\(key)'", hint: "add `\(key):` to this entry")
        }
        return out
    }

    /// Reads a list; `nil` (with a diagnostic) if `node` is something else.
    func list(_ node: Node, _ path: String) -> [(path: String, node: Node)]? {
        record(path, node)
        guard case .sequence(let s) = node else {
            if isNull(node) { return [] }
            error(.typeMismatch, at: path, node: node, "expected a list, found \(describe(node))",
                  hint: "write one `- item` per line, or `[a, b]`")
            return nil
        }
        return s.enumerated().map { (i, n) in
            let p = "\(path)[\(i)]"
            record(p, n)
            return (p, n)
        }
    }

    func isNull(_ node: Node) -> Bool {
        if case .scalar(let s) = node { return s.style == .plain && (s.string.isEmpty || s.string == "~" || s.string == "null") }
        return false
    }

    // MARK: Scalars

    func scalar(_ node: Node, _ path: String, expected: String) -> String? {
        guard case .scalar(let s) = node, !isNull(node) else {
            error(.typeMismatch, at: path, node: node, "expected \(expected), found \(describe(node))", hint: "give \(expected) here")
            return nil
        }
        return s.string
    }

    func string(_ node: Node, _ path: String) -> String? {
        guard let s = scalar(node, path, expected: "a string") else { return nil }
        if s.isEmpty { error(.badValue, at: path, node: node, "empty string", hint: "give a non-empty value"); return nil }
        return s
    }

    /// A name: letters, digits, `-`, `_`, `.`; what shows up in logs, metrics labels and CLI args.
    func name(_ node: Node, _ path: String) -> String? {
        guard let s = string(node, path) else { return nil }
        let ok = s.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == ".") }
        guard ok else {
            error(.badValue, at: path, node: node, "'\(s)' is not a valid name", hint: "use letters, digits, '-', '_' or '.' only")
            return nil
        }
        return s
    }

    func int(_ node: Node, _ path: String, in range: ClosedRange<Int>, what: String = "an integer") -> Int? {
        guard let s = scalar(node, path, expected: what) else { return nil }
        guard case .scalar(let sc) = node, sc.style == .plain, let v = Int(s) else {
            error(.typeMismatch, at: path, node: node, "expected \(what), found '\(s)'", hint: "write a whole number without quotes")
            return nil
        }
        guard range.contains(v) else {
            error(.badValue, at: path, node: node, "\(v) is out of range", hint: "use a value from \(range.lowerBound) to \(range.upperBound)")
            return nil
        }
        return v
    }

    func port(_ node: Node, _ path: String, allowZero: Bool = false) -> UInt16? {
        guard let s = scalar(node, path, expected: "a port number") else { return nil }
        guard case .scalar(let sc) = node, sc.style == .plain, let v = Int(s) else {
            error(.typeMismatch, at: path, node: node, "expected a port number, found '\(s)'", hint: "write the port as a number, for example 8443")
            return nil
        }
        guard (allowZero ? 0 : 1)...65535 ~= v else {
            error(.badPort, at: path, node: node, "port \(v) is out of range", hint: "use a port from \(allowZero ? 0 : 1) to 65535")
            return nil
        }
        return UInt16(v)
    }

    func address(_ node: Node, _ path: String) -> IPAddress? {
        guard let s = scalar(node, path, expected: "an IP address") else { return nil }
        guard let a = IPAddress(s) else {
            let hint = s.contains("/") ? "give a bare address here, without /prefix" : "write an IPv4 dotted quad (192.0.2.10) or an IPv6 address (2001:db8::10)"
            error(.badAddress, at: path, node: node, "'\(s)' is not a valid IP address", hint: hint)
            return nil
        }
        return a
    }

    func interfaceAddress(_ node: Node, _ path: String) -> InterfaceAddress? {
        guard let s = scalar(node, path, expected: "an address") else { return nil }
        switch InterfaceAddress.parse(s) {
        case .success(let a): return a
        case .failure(.badAddress(let t)):
            error(.badAddress, at: path, node: node, "'\(t)' is not a valid IP address", hint: "write 192.0.2.10, 192.0.2.10/24 or 2001:db8::10/64")
        case .failure(.badPrefix(let p, let fam)):
            error(.badCIDR, at: path, node: node, "bad prefix length '/\(p)' in '\(s)'", hint: "an \(fam) prefix is 0 to \(fam.bitWidth)")
        }
        return nil
    }

    /// A closed set of words (schedulers, forwarding methods, kinds), with a suggestion on a typo.
    func choice<E: RawRepresentable & CaseIterable>(_ node: Node, _ path: String, _ type: E.Type, code: Diagnostic.Code = .badValue, what: String) -> E? where E.RawValue == String {
        guard let s = scalar(node, path, expected: what) else { return nil }
        if let v = E(rawValue: s.lowercased()) { return v }
        let all = E.allCases.map(\.rawValue)
        let guess = nearest(s.lowercased(), in: all).map { "did you mean '\($0)'? " } ?? ""
        error(code, at: path, node: node, "unknown \(what) '\(s)'", hint: "\(guess)valid: \(all.joined(separator: ", "))")
        return nil
    }

    /// A duration: `250ms`, `1s`, `1.5s`, `2m`, or a bare number of seconds. Returns milliseconds.
    func duration(_ node: Node, _ path: String, min: Int = 1, max: Int = 3_600_000) -> Int? {
        guard let s = scalar(node, path, expected: "a duration") else { return nil }
        let units: [(String, Double)] = [("ms", 1), ("s", 1000), ("m", 60_000)]
        var ms: Double?
        for (u, f) in units where s.hasSuffix(u) {
            if let v = Double(s.dropLast(u.count)) { ms = v * f }
            break
        }
        if ms == nil, let v = Double(s) { ms = v * 1000 }
        guard let value = ms, value.isFinite else {
            error(.typeMismatch, at: path, node: node, "expected a duration, found '\(s)'", hint: "write for example 500ms, 1s or 2m")
            return nil
        }
        let v = Int(value.rounded())
        guard v >= min && v <= max else {
            error(.badValue, at: path, node: node, "duration \(s) is out of range", hint: "use from \(min)ms to \(max / 1000)s")
            return nil
        }
        return v
    }

    /// A memory size: `512MiB`, `2GiB`, `2G`, `1TiB`, or a bare number of MiB. Returns MiB.
    func size(_ node: Node, _ path: String) -> Int? {
        guard let s = scalar(node, path, expected: "a memory size") else { return nil }
        let units: [(String, Double)] = [("TiB", 1_048_576), ("GiB", 1024), ("MiB", 1), ("T", 1_048_576), ("G", 1024), ("M", 1)]
        var mib: Double?
        for (u, f) in units where s.hasSuffix(u) {
            if let v = Double(s.dropLast(u.count).trimmingCharacters(in: .whitespaces)) { mib = v * f }
            break
        }
        if mib == nil, let v = Double(s) { mib = v }
        guard let m = mib, m.isFinite, m >= 1, m < Double(Int32.max) else {
            error(.typeMismatch, at: path, node: node, "expected a memory size, found '\(s)'", hint: "write for example 2048MiB or 4GiB")
            return nil
        }
        return Int(m.rounded())
    }

    /// A list of names.
    func names(_ node: Node, _ path: String) -> [(path: String, name: String)]? {
        guard let items = list(node, path) else { return nil }
        return items.compactMap { item in name(item.node, item.path).map { (item.path, $0) } }
    }

    /// A flat string → string map (labels).
    func stringMap(_ node: Node, _ path: String) -> [String: String]? {
        record(path, node)
        guard case .mapping(let m) = node else {
            if isNull(node) { return [:] }
            error(.typeMismatch, at: path, node: node, "expected a mapping, found \(describe(node))", hint: "write `key: value` pairs")
            return nil
        }
        var out: [String: String] = [:]
        for (k, v) in m {
            guard let key = scalar(k, path, expected: "a key"), let value = scalar(v, "\(path).\(key)", expected: "a string") else { continue }
            record("\(path).\(key)", v)
            out[key] = value
        }
        return out
    }
}

import Foundation
import Net
