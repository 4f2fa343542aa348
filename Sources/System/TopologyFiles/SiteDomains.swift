import Foundation
import Hosts
import Topology

/// Every reason the site's domain XML could not be made, each naming its file (and line) and the
/// topology key that points at it.
public struct SiteDomainsError: Error, Sendable, CustomStringConvertible {
    /// One error per file or VM, in the topology's VM order.
    public var errors: [DomainTemplateError]
    /// One error per line, then a count.
    public var description: String {
        (errors.map(\.description) + ["\(errors.count) error\(errors.count == 1 ? "" : "s") in the site's domain XML"]).joined(separator: "\n")
    }
}

/// The libvirt domain XML of a site's VMs, made from the files the topology names
/// (`domain_templates:`, `vms[].domain`).
public enum SiteDomains {
    /// A template or XML file larger than this is refused: a domain's XML is a few KiB.
    static let maxFileBytes = 1 << 20

    /// The domain definition of every VM that has a `domain:`, by VM name. Each template and XML
    /// file is read once; every problem (a missing or unreadable file, an unknown placeholder, a
    /// `<name>` that is not the VM's) is collected, so one run names them all.
    public static func definitions(for topology: Topology) throws(SiteDomainsError) -> [String: DomainDefinition] {
        var texts: [String: Result<String, DomainTemplateError>] = [:]   // path → text, read once
        func text(_ path: String, key: String) -> Result<String, DomainTemplateError> {
            if let t = texts[path] { return t }
            let r = read(path, key: key)
            texts[path] = r
            return r
        }
        var out: [String: DomainDefinition] = [:], errors: [DomainTemplateError] = []
        var reported = Set<String>()   // a bad file is reported once, not once per VM that uses it
        for (i, vm) in topology.vms.enumerated() {
            guard let domain = vm.domain else { continue }
            let path: String, key: String
            switch domain.source {
            case .template(let name):
                guard let p = topology.domainTemplates[name] else {
                    // The loader refuses this; a hand-built Topology may not have been through it.
                    errors.append(DomainTemplateError(.unreadable, file: "vms[\(i)].domain.template", "unknown domain template '\(name)'",
                                                      hint: "declare it under domain_templates"))
                    continue
                }
                path = p; key = "domain_templates.\(name)"
            case .xmlFile(let p):
                path = p; key = "vms[\(i)].domain.xml_file"
            }
            do {
                let xml = try text(path, key: key).get()
                switch domain.source {
                case .template: out[vm.name] = try DomainTemplate.render(template: xml, path: path, vm: vm)
                case .xmlFile: out[vm.name] = try DomainTemplate.definition(xml: xml, path: path, vm: vm)
                }
            } catch {
                if error.code == .unreadable, !reported.insert(path).inserted { continue }
                errors.append(error)
            }
        }
        guard errors.isEmpty else { throw SiteDomainsError(errors: errors) }
        return out
    }

    /// The text of `path` (named by topology key `key`), through the same bounded reader as the topology.
    private static func read(_ path: String, key: String) -> Result<String, DomainTemplateError> {
        let data: Data
        do { data = try TopologyFile.read(path: path, limit: maxFileBytes) } catch {
            let d = error.diagnostics.first
            return .failure(DomainTemplateError(.unreadable, file: path, "\(d?.message ?? "cannot read the file") (named by \(key))",
                                                hint: d?.hint ?? "check the path and its permissions"))
        }
        guard let s = String(data: data, encoding: .utf8) else {
            return .failure(DomainTemplateError(.unreadable, file: path, "the file is not UTF-8 text (named by \(key))",
                                                hint: "a domain XML file is UTF-8 text; check that \(key) names the right file"))
        }
        return .success(s)
    }
}
