import Net
import Topology

/// Why a VM's domain XML could not be made: a placeholder the template uses that has no value, a
/// `{{` never closed, or XML whose `<name>` is not the VM's. Located in the template file.
public struct DomainTemplateError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Stable codes, for scripts and tests.
    public enum Code: String, Sendable, Equatable {
        case unknownPlaceholder = "unknown_placeholder"
        case unterminatedPlaceholder = "unterminated_placeholder"
        case missingName = "missing_name"
        case nameMismatch = "name_mismatch"
        /// The file could not be read (set by the edge that reads it).
        case unreadable
    }
    /// What went wrong.
    public var code: Code
    /// The template or XML file.
    public var file: String
    /// 1-based line and column in `file` (1:1 when the whole file is meant).
    public var line: Int, column: Int
    /// What is wrong.
    public var message: String
    /// What to do.
    public var hint: String

    /// Creates an error.
    public init(_ code: Code, file: String, line: Int = 1, column: Int = 1, _ message: String, hint: String) {
        self.code = code; self.file = file; self.line = line; self.column = column; self.message = message; self.hint = hint
    }

    /// `FILE:LINE:COL: error: what — what to do`, as the topology's diagnostics print.
    public var description: String { formatted(as: "error") }

    /// The same line with another severity (`warning` where `tandemctl validate` only warns).
    public func formatted(as severity: String) -> String { "\(file):\(line):\(column): \(severity): \(message) — \(hint)" }
}

/// A VM's libvirt domain XML from a template of the site's or an XML file of its own (`vms[].domain`).
///
/// A template is domain XML with `{{key}}` placeholders (``VMDomain``). The XML is not parsed
/// (libvirt does that, and says what it refuses); Tandem only fills in values, escaped for XML
/// text and attributes (``Markup/escape(_:)``), and checks with a light scan that the first `<name>` is the VM's name,
/// since Tandem matches domains to VMs by name.
public enum DomainTemplate {
    /// The values Tandem fills in for `vm`, then the VM's own `values`.
    public static func values(for vm: DomU) -> [String: String] {
        let first = vm.addresses.first
        var out: [String: String] = [
            "name": vm.name, "vcpus": "\(vm.vcpus)", "memory_mib": "\(vm.memoryMiB)", "memory_kib": "\(vm.memoryMiB * 1024)",
            "address": first.map { "\($0.address)" } ?? "",
            "prefix": first.map { "\($0.prefixLength ?? $0.address.family.bitWidth)" } ?? "",
            "mac": mac(forVM: vm.name),
        ]
        for (k, v) in vm.domain?.values ?? [:] where out[k] == nil { out[k] = v }
        return out
    }

    /// The MAC address of `vm`'s interface: `52:54:00` (the locally administered prefix libvirt and
    /// QEMU use) and three bytes of the name's FNV-1a hash. It depends on the name only, so a VM
    /// keeps its MAC when it restarts on another host: a new MAC without a gratuitous ARP cost
    /// 37.6 s when measured in the host lab. FNV-1a because the pure core may not link
    /// libcrypto, and a MAC needs spread, not secrecy.
    public static func mac(forVM name: String) -> String {
        let h = FNV1a.hash64(name)
        let bytes = [0x52, 0x54, 0x00, UInt8(truncatingIfNeeded: h >> 16), UInt8(truncatingIfNeeded: h >> 8), UInt8(truncatingIfNeeded: h)]
        return bytes.map { b in let s = String(b, radix: 16); return s.count == 1 ? "0" + s : s }.joined(separator: ":")
    }

    /// Fills in `template` (the text of the file at `path`) for `vm` and checks the result's name.
    public static func render(template: String, path: String, vm: DomU) throws(DomainTemplateError) -> DomainDefinition {
        let values = values(for: vm)
        var out = ""
        out.reserveCapacity(template.utf8.count)
        var rest = template[...]
        while let open = rest.range(of: "{{") {
            out += rest[..<open.lowerBound]
            guard let close = rest[open.upperBound...].range(of: "}}") else {
                let (l, c) = position(of: open.lowerBound, in: template)
                throw DomainTemplateError(.unterminatedPlaceholder, file: path, line: l, column: c, "'{{' is never closed with '}}'",
                                          hint: "write the placeholder as {{key}}; known keys: \(values.keys.sorted().joined(separator: ", "))")
            }
            let key = rest[open.upperBound..<close.lowerBound].trimmingSpaces
            guard let value = values[String(key)] else {
                let (l, c) = position(of: open.lowerBound, in: template)
                let shown = key.count > 40 ? String(key.prefix(40)) + "…" : String(key)
                throw DomainTemplateError(.unknownPlaceholder, file: path, line: l, column: c,
                                          "placeholder {{\(shown.filter { !$0.isNewline })}} has no value for VM \(vm.name)",
                                          hint: "use one of \(values.keys.sorted().joined(separator: ", ")), or add it to this VM's domain.values")
            }
            out += Markup.escape(value)
            rest = rest[close.upperBound...]
        }
        out += rest
        return try definition(xml: out, path: path, vm: vm, rendered: true)
    }

    /// An `xml_file`'s text, used as written, after checking that its `<name>` is `vm`'s.
    public static func definition(xml: String, path: String, vm: DomU, rendered: Bool = false) throws(DomainTemplateError) -> DomainDefinition {
        guard let open = xml.range(of: "<name>"), let close = xml[open.upperBound...].range(of: "</name>") else {
            throw DomainTemplateError(.missingName, file: path, "the domain XML has no <name> element",
                                      hint: "add <name>\(rendered ? "{{name}}" : vm.name)</name> inside <domain>")
        }
        let name = xml[open.upperBound..<close.lowerBound].trimmingSpaces
        guard name == vm.name else {
            let (l, c) = position(of: open.lowerBound, in: xml)
            // A rendered template's positions are the output's, which can differ from the file's.
            let at = rendered ? (l: 1, c: 1) : (l: l, c: c)
            throw DomainTemplateError(.nameMismatch, file: path, line: at.l, column: at.c,
                                      "the domain's <name> is '\(name.prefix(80))', not the VM's name '\(vm.name)'",
                                      hint: rendered ? "write <name>{{name}}</name> in the template" : "write <name>\(vm.name)</name>: Tandem finds a VM's domain by its name")
        }
        return DomainDefinition(name: vm.name, xml: xml)
    }

    /// 1-based line and column (in characters) of `index` in `text`.
    static func position(of index: String.Index, in text: String) -> (line: Int, column: Int) {
        var line = 1, column = 1
        for ch in text[..<index] {
            if ch.isNewline { line += 1; column = 1 } else { column += 1 }
        }
        return (line, column)
    }
}

extension Substring {
    /// Without leading and trailing spaces, tabs and line breaks.
    fileprivate var trimmingSpaces: Substring {
        var s = self
        while let c = s.first, c.isWhitespace { s.removeFirst() }
        while let c = s.last, c.isWhitespace { s.removeLast() }
        return s
    }
}
