import Net
import Yams

/// Walks a composed YAML tree and reads typed values out of it, recording a located
/// ``Diagnostic`` for every mismatch instead of stopping at the first.
///
/// Mappings are read against a ``MappingSpec`` (``fields(_:_:_:)``), so the keys, types, ranges
/// and defaults a file may use are the ones ``TopologySchema`` declares.
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
        let loc = node?.mark != nil ? location(node) : location(of: path)
        diagnostics.append(Diagnostic(code, at: loc, keyPath: path, message, hint: hint))
    }

    func record(_ path: String, _ node: Node) { marks[path] = location(node) }

    private func describe(_ node: Node) -> String {
        switch node {
        case .scalar(let s): return s.string.isEmpty || s.tag.description.hasSuffix(":null") ? "an empty value" : "the scalar '\(quoted(s.string))'"
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }

    /// Reads one entry (a host, a service, a director pair…). An entry that yields no value must
    /// have said why: one that fails without a diagnostic would vanish from the topology while
    /// `validate` says ok (once, `command: []` dropped a whole service). Such a loader bug is
    /// reported as ``Diagnostic/Code/internalError`` so the file is refused, never shrunk.
    func entry<T>(_ path: String, _ node: Node, _ read: () -> T?) -> T? {
        let before = diagnostics.count
        let value = read()
        if value == nil && diagnostics.count == before {
            error(.internalError, at: path, node: node, "this entry could not be read and no reason was recorded",
                  hint: "this is a bug in tandem's topology loader; please report it with this file")
        }
        return value
    }

    // MARK: Structure

    /// Reads a mapping against `spec`. Unknown keys are reported with the nearest valid key as a
    /// suggestion (a typo is the usual cause); missing required keys are reported at the mapping
    /// itself. Returns `nil` if `node` is not a mapping.
    func fields(_ node: Node, _ path: String, _ spec: MappingSpec) -> Fields? {
        record(path, node)
        guard case .mapping(let m) = node else {
            error(.typeMismatch, at: path, node: node, "expected a mapping, found \(describe(node))",
                  hint: "write `key: value` lines here (see docs/topology.md)")
            return nil
        }
        // A discriminated mapping (a check's `kind`) allows the keys of the variant it selects.
        let selector = spec.variants.flatMap { v in m.first { $0.key.scalar?.string == v.key }?.value.scalar?.string }
        let allowed = spec.allowedKeys(selector: selector)
        let names = allowed.map(\.name)
        let before = diagnostics.count
        var out: [String: Node] = [:]
        for (k, v) in m {
            guard case .scalar(let ks) = k else {
                error(.typeMismatch, at: path, node: k, "a key must be a plain word", hint: "use one of: \(names.joined(separator: ", "))")
                continue
            }
            let key = ks.string
            let childPath = path.isEmpty ? key : "\(path).\(key)"
            if out[key] != nil {
                error(.duplicateKey, at: childPath, node: k, "key '\(quoted(key))' appears twice", hint: "keep one of them; YAML would silently use the last")
                continue
            }
            guard names.contains(key) else {
                let hint = nearest(key, in: names).map { "did you mean '\($0)'?" } ?? "valid keys here: \(names.joined(separator: ", "))"
                error(.unknownKey, at: childPath, node: k, "unknown key '\(quoted(key))'", hint: hint)
                continue
            }
            out[key] = v
            record(childPath, v)
        }
        for key in allowed where key.required && out[key.name] == nil {
            let childPath = path.isEmpty ? key.name : "\(path).\(key.name)"
            error(.missingKey, at: childPath, node: node, "missing required key '\(key.name)'",
                  hint: "add `\(key.name):` to this entry" + (key.example.map { ", for example `\($0)`" } ?? ""))
        }
        for rule in spec.rules { check(rule, spec, out, node, path) }
        return Fields(reader: self, node: node, path: path, spec: spec, values: out, ok: diagnostics.count == before)
    }

    /// Enforces one ``KeyRule`` on the keys a mapping holds, reporting at the key it is about.
    private func check(_ rule: KeyRule, _ spec: MappingSpec, _ values: [String: Node], _ node: Node, _ path: String) {
        func childPath(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }
        /// What `selector` reads, lowercased as ``choice(_:_:_:code:what:)`` reads it: the written
        /// word or the default; `nil` when the written word is not one of its choices (that read
        /// reports it, and a rule judged on it would only add noise).
        func reading(_ selector: String) -> String? {
            let word: String
            if let n = values[selector] {
                guard case .scalar(let s) = n else { return nil }
                word = s.string.lowercased()
            } else {
                guard let d = spec.key(selector)?.defaultValue else { return nil }
                word = d
            }
            if case .choice(let words)? = spec.key(selector)?.type, !words.contains(word) { return nil }
            return word
        }
        switch rule {
        case .anyOf(let keys, let hint):
            guard let first = keys.first, !keys.contains(where: { values[$0] != nil }) else { return }
            error(.missingKey, at: childPath(first), node: node,
                  "missing key: give \(keys.map { "'\($0)'" }.joined(separator: " or "))", hint: hint)
        case .excludes(let key, let other, let why, let hint):
            guard let n = values[key], values[other] != nil else { return }
            error(.badValue, at: childPath(key), node: n, "'\(key)' is set together with '\(other)': \(why)", hint: hint)
        case .exactlyWhen(let key, let selector, let value):
            guard let word = reading(selector) else { return }
            if word == value, values[key] == nil {
                let example = spec.key(key)?.example.map { "add `\($0)`" } ?? "add `\(key):`"
                error(.missingKey, at: childPath(key), node: node, "\(selector): \(value) needs '\(key)'", hint: example)
            } else if word != value, let n = values[key] {
                error(.badValue, at: childPath(key), node: n, "\(key) is set but \(selector) is \(word)",
                      hint: "set `\(selector): \(value)` to use it, or remove \(key)")
            }
        case .requiredUnless(let key, let selector, let value, let hint):
            guard let word = reading(selector), word != value, values[key] == nil else { return }
            error(.missingKey, at: childPath(key), node: node, "missing required key '\(key)'", hint: hint)
        }
    }

    /// Reads a list of `count` items; `nil` (with a diagnostic) if `node` is something else or
    /// the length is outside `count`. An empty value (`key:` alone) is an empty list. `example`
    /// shows a filled list in the hint; `optional` says the key may be left out instead.
    func list(_ node: Node, _ path: String, count: ClosedRange<Int> = 0...Int.max, optional: Bool = false,
              example: String? = nil) -> [(path: String, node: Node)]? {
        record(path, node)
        let items: [Node]
        switch node {
        case .sequence(let s): items = Array(s)
        case _ where isNull(node): items = []
        default:
            error(.typeMismatch, at: path, node: node, "expected a list, found \(describe(node))",
                  hint: "write one `- item` per line, or `[a, b]`")
            return nil
        }
        guard count.contains(items.count) else {
            let key = path.split(separator: ".").last.map(String.init) ?? path
            let bound = items.count < count.lowerBound ? count.lowerBound : count.upperBound
            let want = (count.lowerBound == count.upperBound ? "exactly " : items.count < count.lowerBound ? "at least " : "at most ")
                + "\(bound) item\(bound == 1 ? "" : "s")"
            let sample = example.map { ", for example `\($0)`" } ?? ""
            if items.isEmpty {
                error(.emptyList, at: path, node: node, "'\(key)' is an empty list; it needs \(want)",
                      hint: optional ? "list them\(sample), or leave the key out: an empty list is never read as \"none\""
                                     : "list them\(sample)")
            } else {
                error(.badValue, at: path, node: node, "'\(key)' needs \(want), found \(items.count)", hint: "list \(want)\(sample)")
            }
            return nil
        }
        return items.enumerated().map { (i, n) in
            let p = "\(path)[\(i)]"
            record(p, n)
            return (p, n)
        }
    }

    /// A mapping from free keys to values (labels, priorities), in file order.
    func entries(_ node: Node, _ path: String) -> [(key: String, path: String, node: Node)]? {
        record(path, node)
        guard case .mapping(let m) = node else {
            if isNull(node) { return [] }
            error(.typeMismatch, at: path, node: node, "expected a mapping, found \(describe(node))", hint: "write `key: value` pairs")
            return nil
        }
        var out: [(key: String, path: String, node: Node)] = []
        var ok = true
        for (k, v) in m {
            guard let key = scalar(k, path, expected: "a key") else { ok = false; continue }
            record("\(path).\(key)", v)
            out.append((key, "\(path).\(key)", v))
        }
        return ok ? out : nil
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
            error(.badValue, at: path, node: node, "'\(quoted(s))' is not a valid name", hint: "use letters, digits, '-', '_' or '.' only")
            return nil
        }
        return s
    }

    /// A network interface name as the kernel's `dev_valid_name` (net/core/dev.c) accepts it:
    /// 1 to 15 bytes (`IFNAMSIZ` is 16 with the NUL), not `.` or `..`, no `/`, `:` or whitespace.
    /// A name the kernel refuses would only fail later, when tandemd binds the VRRP socket.
    func interfaceName(_ node: Node, _ path: String) -> String? {
        guard let s = scalar(node, path, expected: "an interface name") else { return nil }
        let rule = "Linux interface names are 1 to 15 bytes, not '.' or '..', without '/', ':' or whitespace (for example eth0, bond0.100)"
        let problem: String?
        if s.isEmpty { problem = "an empty interface name" }
        else if s.utf8.count > 15 { problem = "interface name '\(quoted(s))' is \(s.utf8.count) bytes long" }
        else if s == "." || s == ".." { problem = "'\(s)' is not an interface name" }
        else if let c = s.unicodeScalars.first(where: { $0 == "/" || $0 == ":" || $0.properties.isWhitespace || $0.value < 0x20 || $0.value == 0x7f }) {
            problem = "interface name '\(quoted(s))' contains \(c.value == 0x20 ? "a space" : c.value < 0x21 || c.value == 0x7f ? "a control or whitespace character" : "'\(c)'")"
        } else { problem = nil }
        if let problem {
            error(.badInterface, at: path, node: node, problem, hint: rule)
            return nil
        }
        return s
    }

    /// An HTTP request path: what a check sends after the method, so it starts with `/`.
    func absolutePath(_ node: Node, _ path: String, key: String, example: String) -> String? {
        guard let s = string(node, path) else { return nil }
        guard s.hasPrefix("/") else {
            error(.badValue, at: path, node: node, "\(key) '\(quoted(s))' is not an absolute path", hint: "write the full path, for example \(example)")
            return nil
        }
        return s
    }

    /// A program name found on `PATH`, or an absolute path: never a relative path, which would
    /// depend on the directory tandemd runs in, and never a command line with arguments.
    func program(_ node: Node, _ path: String) -> String? {
        guard let s = string(node, path) else { return nil }
        let plain = s.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == ".") }
        guard plain || (s.hasPrefix("/") && !s.contains(where: { $0.isWhitespace })) else {
            error(.badValue, at: path, node: node, "'\(quoted(s))' is neither a program name nor an absolute path",
                  hint: "name the program as installed (fence_ipmilan) or give its absolute path (/usr/sbin/fence_ipmilan), without arguments")
            return nil
        }
        return s
    }

    func libvirtURI(_ node: Node, _ path: String) -> String? {
        guard let s = string(node, path) else { return nil }
        guard let r = s.range(of: "://"), r.lowerBound > s.startIndex,
              s[..<r.lowerBound].allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "+" || $0 == "-") }),
              !s.contains(where: { $0.isWhitespace }) else {
            error(.badValue, at: path, node: node, "'\(quoted(s))' is not a libvirt URI",
                  hint: "write it as libvirt does: driver[+transport]://[user@][host]/[path], e.g. xen+ssh://root@192.0.2.1/system or lxc:///")
            return nil
        }
        return s
    }

    func urlPath(_ node: Node, _ path: String) -> String? {
        guard let s = string(node, path) else { return nil }
        guard s.hasPrefix("/") else {
            error(.badValue, at: path, node: node, "HTTP path '\(quoted(s))' does not start with '/'", hint: "write the path as /healthz")
            return nil
        }
        return s
    }

    /// Every number in the file goes through here: counts, ports, durations (milliseconds) and
    /// memory sizes (MiB). The value is range-checked as a `Double` before it becomes an `Int`,
    /// so `1e300s` or `-9e18ms` is a located error naming the allowed range, never a trap
    /// (once, `Double value cannot be converted to Int` killed tandemd on reload).
    func number(_ node: Node, _ path: String, _ type: ValueType, allowZeroPort: Bool = false, why: String? = nil,
                code: Diagnostic.Code? = nil) -> Int? {
        guard var format = NumberFormat(type) else { preconditionFailure("\(path): \(type) is not a number type") }
        if allowZeroPort { format.range = 0...format.range.upperBound }
        guard let s = scalar(node, path, expected: format.what) else { return nil }
        // Whole numbers must be plain YAML integers: a quoted "8443" is a string in YAML, and
        // accepting it would hide a type mistake in generated files.
        let isQuoted: Bool = { if case .scalar(let sc) = node { return sc.style != .plain }; return false }()
        guard !(format.wholeOnly && isQuoted), let value = format.parse(s) else {
            error(.typeMismatch, at: path, node: node, "expected \(format.what), found '\(quoted(s))'", hint: format.typeHint)
            return nil
        }
        let rounded = value.rounded()
        guard rounded >= Double(format.range.lowerBound) && rounded <= Double(format.range.upperBound) else {
            error(code ?? format.rangeCode, at: path, node: node, "\(format.noun)\(quoted(s)) is out of range",
                  hint: format.rangeHint + (why.map { "; \($0)" } ?? ""))
            return nil
        }
        return Int(rounded)
    }

    /// An address; with a use other than `.any`, one that cannot work there is refused with the reason.
    func address(_ node: Node, _ path: String, use: AddressUse = .any) -> IPAddress? {
        guard let s = scalar(node, path, expected: "an IP address") else { return nil }
        guard let a = IPAddress(s) else {
            let hint = s.contains("/") ? "give a bare address here, without /prefix" : "write an IPv4 dotted quad (192.0.2.10) or an IPv6 address (2001:db8::10)"
            error(.badAddress, at: path, node: node, "'\(quoted(s))' is not a valid IP address", hint: hint)
            return nil
        }
        if let p = use.problem(with: a) {
            error(.unusableAddress, at: path, node: node, "\(use.label) \(a) is \(p.what)", hint: p.hint)
            return nil
        }
        return a
    }

    func interfaceAddress(_ node: Node, _ path: String) -> InterfaceAddress? {
        guard let s = scalar(node, path, expected: "an address") else { return nil }
        switch InterfaceAddress.parse(s) {
        case .success(let a): return a
        case .failure(.badAddress(let t)):
            error(.badAddress, at: path, node: node, "'\(quoted(t))' is not a valid IP address", hint: "write 192.0.2.10, 192.0.2.10/24 or 2001:db8::10/64")
        case .failure(.badPrefix(let p, let fam)):
            error(.badCIDR, at: path, node: node, "bad prefix length '/\(quoted(p))' in '\(quoted(s))'", hint: "an \(fam) prefix is 0 to \(fam.bitWidth)")
        }
        return nil
    }

    /// A closed set of words (schedulers, forwarding methods, kinds), with a suggestion on a typo.
    func choice(_ node: Node, _ path: String, _ words: [String], code: Diagnostic.Code = .badValue, what: String) -> String? {
        guard let s = scalar(node, path, expected: what) else { return nil }
        if words.contains(s.lowercased()) { return s.lowercased() }
        let guess = nearest(s.lowercased(), in: words).map { "did you mean '\($0)'? " } ?? ""
        error(code, at: path, node: node, "unknown \(what) '\(quoted(s))'", hint: "\(guess)valid: \(words.joined(separator: ", "))")
        return nil
    }

    /// IPv4: a dotted mask (`255.255.255.0`) or `/24`; IPv6: a prefix length (`64` or `/64`).
    /// Returns what IPVS takes: the IPv4 mask as a number, or the IPv6 prefix length.
    func netmask(_ node: Node, _ path: String, family: AddressFamily) -> UInt32? {
        guard let s = scalar(node, path, expected: "a netmask") else { return nil }
        let bare = s.hasPrefix("/") ? String(s.dropFirst()) : s
        if !bare.isEmpty, bare.allSatisfy({ $0.isASCII && $0.isNumber }) {
            // A prefix length: the same range-checked reader as every other number.
            guard let n = number(.scalar(.init(bare, .implicit, .plain, node.mark)), path, .integer(0...family.bitWidth), code: .badCIDR) else { return nil }
            return family == .v6 ? UInt32(n) : (n == 0 ? 0 : UInt32.max << (32 - n))
        }
        guard family == .v4, let a = IPAddress(s), a.family == .v4 else {
            error(.badCIDR, at: path, node: node, "'\(quoted(s))' is not a valid netmask", hint: family == .v4 ? "write 255.255.255.0 or /24" : "write a prefix length such as 64")
            return nil
        }
        let v = a.ipv4Value ?? 0
        guard v == 0 || (~v &+ 1) & ~v == 0 else {
            error(.badCIDR, at: path, node: node, "'\(quoted(s))' is not a contiguous netmask", hint: "a netmask is ones then zeros, for example 255.255.255.0")
            return nil
        }
        return v
    }
}

/// How a topology file writes values, for tools that write topology text (`tandemctl import`).
public enum TopologyText {
    /// A duration as the file writes it: `10s` when whole seconds, else `250ms`.
    public static func duration(milliseconds ms: Int) -> String { ms % 1000 == 0 ? "\(ms / 1000)s" : "\(ms)ms" }
}

/// How the numbers of one ``ValueType`` are written and what they count.
struct NumberFormat {
    /// `an integer`, `a duration`, for messages.
    var what: String
    /// Accepted range, in base units (milliseconds, MiB, or the number itself).
    var range: ClosedRange<Int>
    /// Unit suffixes and their factor to base units, longest first so `ms` wins over `s`.
    var units: [(suffix: String, factor: Double)]
    /// What a number without a unit counts, in base units.
    var bareFactor: Double
    /// Digits only, unquoted: counts and ports.
    var wholeOnly: Bool
    /// `duration `, `port `, or nothing, to start an out-of-range message.
    var noun: String
    var typeHint: String
    var rangeCode: Diagnostic.Code
    /// Writes a base-unit value back the way a user would (`10s`, `250ms`, `4GiB`).
    var render: (Int) -> String

    init?(_ type: ValueType) {
        switch type {
        case .integer(let r):
            self.init(what: "an integer", range: r, units: [], bareFactor: 1, wholeOnly: true, noun: "",
                      typeHint: "write a whole number without quotes", rangeCode: .badValue, render: { "\($0)" })
        case .port:
            self.init(what: "a port number", range: 1...65535, units: [], bareFactor: 1, wholeOnly: true, noun: "port ",
                      typeHint: "write the port as a number, for example 8443", rangeCode: .badPort, render: { "\($0)" })
        case .duration(let r):
            self.init(what: "a duration", range: r, units: [("ms", 1), ("s", 1000), ("m", 60_000)], bareFactor: 1000, wholeOnly: false,
                      noun: "duration ", typeHint: "write for example 500ms, 1s or 2m", rangeCode: .badValue,
                      render: TopologyText.duration(milliseconds:))
        case .memory(let r):
            self.init(what: "a memory size", range: r, units: [("TiB", 1_048_576), ("GiB", 1024), ("MiB", 1), ("T", 1_048_576), ("G", 1024), ("M", 1)],
                      bareFactor: 1, wholeOnly: false, noun: "memory size ", typeHint: "write for example 2048MiB or 4GiB", rangeCode: .badValue,
                      render: { $0 % 1_048_576 == 0 ? "\($0 / 1_048_576)TiB" : $0 % 1024 == 0 ? "\($0 / 1024)GiB" : "\($0)MiB" })
        default:
            return nil
        }
    }

    private init(what: String, range: ClosedRange<Int>, units: [(suffix: String, factor: Double)], bareFactor: Double, wholeOnly: Bool,
                 noun: String, typeHint: String, rangeCode: Diagnostic.Code, render: @escaping (Int) -> String) {
        self.what = what; self.range = range; self.units = units; self.bareFactor = bareFactor; self.wholeOnly = wholeOnly
        self.noun = noun; self.typeHint = typeHint; self.rangeCode = rangeCode; self.render = render
    }

    /// `use a value from 1 to 100`, `use from 10ms to 3600s`.
    var rangeHint: String {
        switch noun {
        case "": return "use a value from \(render(range.lowerBound)) to \(render(range.upperBound))"
        case "port ": return "use a port from \(range.lowerBound) to \(range.upperBound)"
        default: return "use from \(render(range.lowerBound)) to \(render(range.upperBound))"
        }
    }

    /// The value of `text` in base units, unrounded, or `nil` if it is not a decimal number with
    /// one of this format's units. Only plain decimal notation: `Double("nan")`, `inf` and hex
    /// floats would parse, and none of them is a duration.
    func parse(_ text: String) -> Double? {
        var body = Substring(text), factor = bareFactor
        if let u = units.first(where: { text.hasSuffix($0.suffix) }) {
            body = text.dropLast(u.suffix.count)
            factor = u.factor
        }
        while body.first == " " { body = body.dropFirst() }
        while body.last == " " { body = body.dropLast() }
        // Too large for a Double is +infinity, which the range check then refuses by name.
        guard Self.isDecimal(body, wholeOnly: wholeOnly), let v = Double(body) else { return nil }
        return v * factor
    }

    /// `[+-]digits[.digits][e[+-]digits]`, or `[+-]digits` alone when `wholeOnly`.
    static func isDecimal(_ s: Substring, wholeOnly: Bool) -> Bool {
        var i = s.startIndex
        func digits() -> Int {
            var n = 0
            while i < s.endIndex, s[i].isASCII, s[i].isNumber { i = s.index(after: i); n += 1 }
            return n
        }
        if i < s.endIndex, s[i] == "+" || s[i] == "-" { i = s.index(after: i) }
        var mantissa = digits()
        if !wholeOnly, i < s.endIndex, s[i] == "." {
            i = s.index(after: i)
            mantissa += digits()
        }
        guard mantissa > 0 else { return false }
        if !wholeOnly, i < s.endIndex, s[i] == "e" || s[i] == "E" {
            i = s.index(after: i)
            if i < s.endIndex, s[i] == "+" || s[i] == "-" { i = s.index(after: i) }
            guard digits() > 0 else { return false }
        }
        return i == s.endIndex
    }
}

/// One mapping read against its ``MappingSpec``: typed access to its keys, with the spec's
/// defaults for absent optional keys. ``ok`` turns false as soon as anything in it failed, so a
/// reader builds its model value only from a clean mapping.
final class Fields {
    let reader: YAMLReader
    /// The mapping node itself, where "missing key" diagnostics point.
    let node: Node
    let path: String
    let spec: MappingSpec
    private let values: [String: Node]
    /// No diagnostic so far for this mapping.
    private(set) var ok: Bool

    init(reader: YAMLReader, node: Node, path: String, spec: MappingSpec, values: [String: Node], ok: Bool) {
        self.reader = reader; self.node = node; self.path = path; self.spec = spec; self.values = values; self.ok = ok
    }

    /// The key's path, `services[0].port`.
    func path(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    /// The node written under `key`, if any.
    func node(_ key: String) -> Node? { values[key] }

    func has(_ key: String) -> Bool { values[key] != nil }

    /// Marks the mapping failed; for checks the loader makes itself (the diagnostic is its job).
    func fail() { ok = false }

    /// Records the outcome of one read: `nil` from a key that was present means it failed.
    private func note<T>(_ v: T?) -> T? { if v == nil { ok = false }; return v }

    /// The declared type of `key`. A key missing from the spec is a programming error.
    func type(_ key: String) -> ValueType {
        guard let k = spec.key(key) else { preconditionFailure("\(spec.name) has no key '\(key)' in TopologySchema") }
        return k.type
    }

    /// The node to read for `key`: the written one, else the spec's default (read by the same reader).
    private func valueNode(_ key: String) -> Node? {
        if let n = values[key] { return n }
        return spec.key(key)?.defaultValue.map { Node.scalar(.init($0, .implicit, .plain)) }
    }

    /// A `.string`, `.name`, `.interfaceName`, `.urlPath`, `.absolutePath`, `.program` or `.libvirtURI` value.
    func text(_ key: String) -> String? {
        guard let n = valueNode(key) else { return nil }
        switch type(key) {
        case .string: return note(reader.string(n, path(key)))
        case .name: return note(reader.name(n, path(key)))
        case .interfaceName: return note(reader.interfaceName(n, path(key)))
        case .urlPath: return note(reader.urlPath(n, path(key)))
        case .absolutePath:
            let example = spec.key(key)?.example.map { $0.replacingOccurrences(of: "\(key): ", with: "") } ?? "/etc/tandem/…"
            return note(reader.absolutePath(n, path(key), key: key, example: example))
        case .libvirtURI: return note(reader.libvirtURI(n, path(key)))
        case .program: return note(reader.program(n, path(key)))
        case let t: preconditionFailure("\(path(key)) is \(t), not text")
        }
    }

    /// A number value (integer, port, duration in ms, memory in MiB).
    func number(_ key: String, allowZeroPort: Bool = false) -> Int? {
        guard let n = valueNode(key) else { return nil }
        return note(reader.number(n, path(key), type(key), allowZeroPort: allowZeroPort))
    }

    /// An `.address` value, checked for the use the spec declares.
    func address(_ key: String) -> IPAddress? {
        guard let n = valueNode(key) else { return nil }
        guard case .address(let use) = type(key) else { preconditionFailure("\(path(key)) is not an address") }
        return note(reader.address(n, path(key), use: use))
    }

    /// A `.choice` value, as the spec's word.
    func word(_ key: String, code: Diagnostic.Code = .badValue, what: String) -> String? {
        guard let n = valueNode(key) else { return nil }
        guard case .choice(let words) = type(key) else { preconditionFailure("\(path(key)) is not a choice") }
        return note(reader.choice(n, path(key), words, code: code, what: what))
    }

    /// A `.choice` value as the enum whose raw values the spec lists.
    func choice<E: RawRepresentable>(_ key: String, _: E.Type, code: Diagnostic.Code = .badValue, what: String) -> E? where E.RawValue == String {
        word(key, code: code, what: what).map { w in
            guard let e = E(rawValue: w) else { preconditionFailure("\(path(key)): '\(w)' is in TopologySchema but not in \(E.self)") }
            return e
        }
    }

    /// The list shape of a key's type: the type itself, or the list among a `.oneOf`'s shapes.
    private func listShape(_ t: ValueType) -> (element: ValueType, count: ClosedRange<Int>)? {
        switch t {
        case .list(let e, let c): return (e, c)
        case .oneOf(let shapes): return shapes.lazy.compactMap(listShape).first
        default: return nil
        }
    }

    /// A list value's items, length-checked; the caller reads each item. An absent optional
    /// list is empty; an absent required one is `nil` (``fields`` reported it).
    func items(_ key: String) -> [(path: String, node: Node)]? {
        guard let shape = listShape(type(key)) else { preconditionFailure("\(path(key)) is not a list") }
        let declared = spec.key(key)
        guard let n = values[key] else { return declared?.required == true ? nil : [] }
        return note(reader.list(n, path(key), count: shape.count, optional: declared?.required != true, example: declared?.example))
    }

    /// A list of text (`.string`/`.name`) or words (`.choice`), each item checked; `nil` if any failed.
    func texts(_ key: String, code: Diagnostic.Code = .badValue, what: String = "value") -> [String]? {
        guard let element = listShape(type(key))?.element else { preconditionFailure("\(path(key)) is not a list") }
        return all(items(key)) { item -> String? in
            switch element {
            case .string: return reader.string(item.node, item.path)
            case .name: return reader.name(item.node, item.path)
            case .choice(let words): return reader.choice(item.node, item.path, words, code: code, what: what)
            case let t: preconditionFailure("\(path(key)) holds \(t), not text")
            }
        }
    }

    /// A `.dictionary` value's entries in file order; the caller reads each value. Absent is empty.
    func entries(_ key: String) -> [(key: String, path: String, node: Node)]? {
        guard case .dictionary = type(key) else { preconditionFailure("\(path(key)) is not a dictionary") }
        guard let n = values[key] else { return [] }
        return note(reader.entries(n, path(key)))
    }

    /// Reads every item, so that each bad one gets its diagnostic, and returns all the values; or
    /// `nil`, failing this mapping, if any item failed. No item is ever dropped quietly.
    func all<S, T>(_ items: [S]?, _ read: (S) -> T?) -> [T]? {
        guard let items else { return nil }
        let values = items.map(read)
        guard !values.contains(where: { $0 == nil }) else { ok = false; return nil }
        return values.compactMap { $0 }
    }

    /// A nested mapping, read against the spec its key declares; `nil` if absent or failed.
    func mapping(_ key: String) -> Fields? {
        guard let n = values[key] else { return nil }
        func shape(_ t: ValueType) -> MappingSpec? {
            switch t {
            case .mapping(let s): return s
            case .oneOf(let shapes): return shapes.lazy.compactMap(shape).first
            default: return nil
            }
        }
        guard let spec = shape(type(key)) else { preconditionFailure("\(path(key)) is not a mapping") }
        let f = reader.fields(n, path(key), spec)
        if f == nil { ok = false }
        return f
    }

    /// Folds a nested mapping's or a caller's own result into this one's.
    @discardableResult
    func require<T>(_ v: T?) -> T? { note(v) }
}
