import Foundation
import Yams
import Net
import IPVSModel

/// A validated topology together with where each part of it came from.
public struct TopologyDocument: Sendable {
    public var topology: Topology
    /// The file it was read from, as given.
    public var file: String
    /// Key path (`services[1].members[0].vm`) → where it stands in the file.
    public var locations: [String: SourceLocation]
}

/// Reads and validates topology files. The only way to obtain a ``Topology`` from text.
///
/// Loading never stops at the first mistake: it reads everything it can, runs every semantic
/// check on what it read, and throws ``TopologyDiagnostics`` with all problems found.
public enum TopologyLoader {
    /// Loads and validates the file at `path`.
    public static func load(path: String) throws(TopologyDiagnostics) -> Topology {
        try loadDocument(path: path).topology
    }

    /// Loads and validates the file at `path`, keeping source locations.
    public static func loadDocument(path: String) throws(TopologyDiagnostics) -> TopologyDocument {
        let at = SourceLocation(file: path, line: 1, column: 1)
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw TopologyDiagnostics([Diagnostic(.unreadable, at: at, keyPath: "", "cannot read the file (\(error.localizedDescription))",
                                                  hint: "check the path and its permissions")])
        }
        return try parse(data: data, file: path)
    }

    /// Validates topology text already in memory; `file` is used only in messages.
    public static func parse(data: Data, file: String) throws(TopologyDiagnostics) -> TopologyDocument {
        let at = SourceLocation(file: file, line: 1, column: 1)
        if data.contains(0) {
            throw TopologyDiagnostics([Diagnostic(.binary, at: at, keyPath: "", "the file is binary (it contains NUL bytes), not YAML",
                                                  hint: "pass the topology's .yaml file")])
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw TopologyDiagnostics([Diagnostic(.binary, at: at, keyPath: "", "the file is not valid UTF-8 text",
                                                  hint: "save the topology as UTF-8 YAML")])
        }
        if text.allSatisfy({ $0.isWhitespace }) {
            throw TopologyDiagnostics([Diagnostic(.empty, at: at, keyPath: "", "the file is empty",
                                                  hint: "start from topology/fermigrid-ha.yaml; the schema is in docs/topology.md")])
        }
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let e as YamlError {
            throw TopologyDiagnostics([syntaxDiagnostic(e, file: file)])
        } catch {
            throw TopologyDiagnostics([Diagnostic(.syntax, at: at, keyPath: "", "not valid YAML: \(error)", hint: "fix the YAML syntax")])
        }
        guard let root, !(root.scalar.map { $0.string.isEmpty } ?? false) else {
            throw TopologyDiagnostics([Diagnostic(.empty, at: at, keyPath: "", "the file holds no YAML document (only comments?)",
                                                  hint: "start from topology/fermigrid-ha.yaml; the schema is in docs/topology.md")])
        }
        let reader = YAMLReader(file: file)
        let draft = TopologyDraft.read(root, reader)
        var diags = reader.diagnostics
        // Semantic checks need the top-level structure; without it they would only add noise.
        if draft.structureRead { diags += TopologyValidator(draft: draft, reader: reader).validate() }
        guard diags.isEmpty, let topology = draft.topology else {
            throw TopologyDiagnostics(diags)
        }
        return TopologyDocument(topology: topology, file: file, locations: reader.marks)
    }

    private static func syntaxDiagnostic(_ e: YamlError, file: String) -> Diagnostic {
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
            return Diagnostic(.duplicateKey, at: at, keyPath: "", "key '\(key)' appears twice in one mapping",
                              hint: "keep one of them; YAML would otherwise silently use only one")
        case .reader(let problem, _, _, _):
            return Diagnostic(.binary, at: SourceLocation(file: file, line: 1, column: 1), keyPath: "", "the file cannot be read as YAML text: \(problem)",
                              hint: "pass the topology's .yaml file")
        default:
            return Diagnostic(.syntax, at: SourceLocation(file: file, line: 1, column: 1), keyPath: "", "not valid YAML: \(e)", hint: "fix the YAML syntax")
        }
    }
}

/// What could be read from the file, before semantic checks. Entries that failed to read are
/// dropped, but their names are kept so references to them do not cascade into more errors.
struct TopologyDraft {
    var site: String?
    var placement = PlacementPolicy()
    var hosts: [(path: String, host: XenHost)] = []
    var vms: [(path: String, vm: DomU)] = []
    var services: [(path: String, service: VirtualService)] = []
    var directorPairs: [(path: String, pair: DirectorPair)] = []
    var ring: (path: String, ring: ReplicationRing)?
    var groups: [(path: String, group: AntiAffinityGroup)] = []
    /// Every name that appeared, even on entries that failed to read.
    var declaredHosts = Set<String>(), declaredVMs = Set<String>(), declaredServices = Set<String>()
    var hadReadErrors = false
    /// The root was a mapping with the required sections, so semantic checks make sense.
    var structureRead = false

    var topology: Topology? {
        guard let site, !hadReadErrors else { return nil }
        return Topology(site: site, placement: placement, hosts: hosts.map(\.host), vms: vms.map(\.vm),
                        services: services.map(\.service), directorPairs: directorPairs.map(\.pair),
                        database: ring?.ring, antiAffinity: groups.map(\.group))
    }

    static let topKeys = ["site", "placement", "hosts", "vms", "services", "directors", "database", "anti_affinity"]

    static func read(_ root: Node, _ r: YAMLReader) -> TopologyDraft {
        var d = TopologyDraft()
        let before = r.diagnostics.count
        defer { d.hadReadErrors = r.diagnostics.count > before }
        guard let top = r.mapping(root, "", required: ["site", "hosts", "vms"], optional: Array(topKeys.dropFirst())) else { return d }
        d.structureRead = top["hosts"] != nil && top["vms"] != nil
        d.site = top["site"].flatMap { r.name($0, "site") }
        if let p = top["placement"], let m = r.mapping(p, "placement", required: [], optional: ["spread"]) {
            d.placement.spread = m["spread"].flatMap { r.names($0, "placement.spread")?.map(\.name) } ?? []
        }
        for item in top["hosts"].flatMap({ r.list($0, "hosts") }) ?? [] {
            if let h = readHost(item.node, item.path, r, &d) { d.hosts.append((item.path, h)) }
        }
        for item in top["vms"].flatMap({ r.list($0, "vms") }) ?? [] {
            if let v = readVM(item.node, item.path, r, &d) { d.vms.append((item.path, v)) }
        }
        for item in top["services"].flatMap({ r.list($0, "services") }) ?? [] {
            if let s = readService(item.node, item.path, r, &d) { d.services.append((item.path, s)) }
        }
        if let dn = top["directors"] {
            // One pair as a mapping (the common case), or several as a list.
            if case .sequence = dn {
                for item in r.list(dn, "directors") ?? [] {
                    if let p = readDirectors(item.node, item.path, r) { d.directorPairs.append((item.path, p)) }
                }
            } else if let p = readDirectors(dn, "directors", r) {
                d.directorPairs.append(("directors", p))
            }
        }
        if let db = top["database"], let m = r.mapping(db, "database", required: ["ring"], optional: ["port"]) {
            let members = m["ring"].flatMap { r.names($0, "database.ring") }?.map(\.name)
            let port = m["port"].map { r.port($0, "database.port") } ?? 3306
            if let members, let port { d.ring = ("database", ReplicationRing(members: members, port: port)) }
        }
        for item in top["anti_affinity"].flatMap({ r.list($0, "anti_affinity") }) ?? [] {
            guard let m = r.mapping(item.node, item.path, required: ["name", "members"]) else { continue }
            let name = m["name"].flatMap { r.name($0, "\(item.path).name") }
            let members = m["members"].flatMap { r.names($0, "\(item.path).members") }?.map(\.name)
            if let name, let members { d.groups.append((item.path, AntiAffinityGroup(name: name, members: members))) }
        }
        return d
    }

    static func readHost(_ node: Node, _ path: String, _ r: YAMLReader, _ d: inout TopologyDraft) -> XenHost? {
        guard let m = r.mapping(node, path, required: ["name", "address", "cpus", "memory"], optional: ["labels"]) else { return nil }
        let name = m["name"].flatMap { r.name($0, "\(path).name") }
        if let name { d.declaredHosts.insert(name) }
        let address = m["address"].flatMap { r.address($0, "\(path).address") }
        let cpus = m["cpus"].flatMap { r.int($0, "\(path).cpus", in: 1...4096) }
        let mem = m["memory"].flatMap { r.size($0, "\(path).memory") }
        let labels = m["labels"].map { r.stringMap($0, "\(path).labels") } ?? [:]
        guard let name, let address, let cpus, let mem, let labels else { return nil }
        return XenHost(name: name, address: address, cpus: cpus, memoryMiB: mem, labels: labels)
    }

    static func readVM(_ node: Node, _ path: String, _ r: YAMLReader, _ d: inout TopologyDraft) -> DomU? {
        guard let m = r.mapping(node, path, required: ["name", "role", "vcpus", "memory", "addresses"], optional: ["host"]) else { return nil }
        let name = m["name"].flatMap { r.name($0, "\(path).name") }
        if let name { d.declaredVMs.insert(name) }
        let role = m["role"].flatMap { r.choice($0, "\(path).role", VMRole.self, what: "VM role") }
        let vcpus = m["vcpus"].flatMap { r.int($0, "\(path).vcpus", in: 1...512) }
        let mem = m["memory"].flatMap { r.size($0, "\(path).memory") }
        var addrs: [InterfaceAddress]?
        if let an = m["addresses"], let items = r.list(an, "\(path).addresses") {
            let parsed = items.map { r.interfaceAddress($0.node, $0.path) }
            addrs = parsed.contains { $0 == nil } ? nil : parsed.compactMap { $0 }
            if let a = addrs, a.isEmpty {
                r.error(.missingKey, at: "\(path).addresses", node: an, "a VM needs at least one address", hint: "list its IPv4 and/or IPv6 addresses")
                addrs = nil
            }
        }
        let host = m["host"].map { r.name($0, "\(path).host") }
        guard let name, let role, let vcpus, let mem, let addrs, host != .some(nil) else { return nil }
        return DomU(name: name, role: role, vcpus: vcpus, memoryMiB: mem, addresses: addrs, pinnedHost: host ?? nil)
    }

    static func readService(_ node: Node, _ path: String, _ r: YAMLReader, _ d: inout TopologyDraft) -> VirtualService? {
        guard let m = r.mapping(node, path, required: ["name", "vip", "members", "check"],
                                optional: ["port", "protocol", "fwmark", "scheduler", "scheduler_flags", "forwarding",
                                           "persistence", "last_member", "sorry_server", "passive"]) else { return nil }
        var ok = true
        func need<T>(_ v: T?) -> T? { if v == nil { ok = false }; return v }
        let name = need(m["name"].flatMap { r.name($0, "\(path).name") })
        if let name { d.declaredServices.insert(name) }
        let vip = need(m["vip"].flatMap { r.address($0, "\(path).vip") })
        let proto = m["protocol"].map { need(r.choice($0, "\(path).protocol", ServiceProtocol.self, what: "protocol")) } ?? .tcp
        var port: UInt16? = 0
        if let pn = m["port"] {
            port = need(r.port(pn, "\(path).port", allowZero: proto == .fwmark))
        } else if proto != .fwmark {
            r.error(.missingKey, at: "\(path).port", node: node, "missing required key 'port'", hint: "add `port:` (only fwmark services go without)")
            ok = false
        }
        var fwmark: UInt32?
        if let fn = m["fwmark"] {
            fwmark = need(r.int(fn, "\(path).fwmark", in: 1...Int(UInt32.max)).map { UInt32($0) })
            if proto != .fwmark {
                r.error(.badValue, at: "\(path).fwmark", node: fn, "fwmark is set but protocol is \(proto?.rawValue ?? "?")", hint: "set `protocol: fwmark`, or remove fwmark")
                ok = false
            }
        } else if proto == .fwmark {
            r.error(.missingKey, at: "\(path).fwmark", node: node, "a fwmark service needs 'fwmark'", hint: "add `fwmark: N` matching your firewall rule")
            ok = false
        }
        let sched = m["scheduler"].map { need(r.choice($0, "\(path).scheduler", Scheduler.self, code: .unknownScheduler, what: "scheduler")) } ?? .wlc
        var flags: [SchedulerFlag] = []
        if let fn = m["scheduler_flags"], let items = r.list(fn, "\(path).scheduler_flags") {
            flags = items.compactMap { need(r.choice($0.node, $0.path, SchedulerFlag.self, what: "scheduler flag")) }
        }
        let fwd = m["forwarding"].map { need(r.choice($0, "\(path).forwarding", ForwardingMethod.self, code: .unknownForwarding, what: "forwarding method")) } ?? .nat
        var persistence: Persistence?
        if let pn = m["persistence"], let pm = r.mapping(pn, "\(path).persistence", required: ["timeout"], optional: ["netmask"]) {
            let t = need(pm["timeout"].flatMap { r.duration($0, "\(path).persistence.timeout", min: 1000, max: 31_536_000_000) })
            var mask: UInt32? = (vip?.family == .v6) ? 128 : 0xffff_ffff
            if let mn = pm["netmask"] { mask = need(readNetmask(mn, "\(path).persistence.netmask", family: vip?.family ?? .v4, r)) }
            if let t, let mask { persistence = Persistence(timeoutSeconds: UInt32(t / 1000), netmask: mask) }
        } else if m["persistence"] != nil { ok = false }
        var members: [ServiceMember] = []
        if let mn = m["members"], let items = r.list(mn, "\(path).members") {
            for item in items {
                guard let mm = r.mapping(item.node, item.path, required: ["vm"], optional: ["port", "weight", "address"]) else { ok = false; continue }
                let vm = mm["vm"].flatMap { r.name($0, "\(item.path).vm") }
                let mport = mm["port"].map { r.port($0, "\(item.path).port", allowZero: proto == .fwmark) } ?? port
                let weight = mm["weight"].map { r.int($0, "\(item.path).weight", in: 0...65535) } ?? 1
                let addr = mm["address"].map { r.address($0, "\(item.path).address") }
                guard let vm, let mport, let weight, addr != .some(nil) else { ok = false; continue }
                members.append(ServiceMember(vm: vm, port: mport, weight: weight, address: addr ?? nil))
            }
        } else { ok = false }
        let check = need(m["check"].flatMap { readCheck($0, "\(path).check", r) })
        var last: LastMemberPolicy = .keepLast
        if let ln = m["last_member"], let word = r.scalar(ln, "\(path).last_member", expected: "keep or sorry") {
            switch word {
            case "keep": last = .keepLast
            case "sorry":
                if let sn = m["sorry_server"], let sm = r.mapping(sn, "\(path).sorry_server", required: ["address", "port"]),
                   let a = sm["address"].flatMap({ r.address($0, "\(path).sorry_server.address") }),
                   let p = sm["port"].flatMap({ r.port($0, "\(path).sorry_server.port") }) {
                    last = .sorryServer(a, port: p)
                } else {
                    if m["sorry_server"] == nil {
                        r.error(.missingKey, at: "\(path).sorry_server", node: ln, "last_member: sorry needs a sorry_server", hint: "add `sorry_server: {address: ..., port: ...}`")
                    }
                    ok = false
                }
            default:
                r.error(.badValue, at: "\(path).last_member", node: ln, "unknown last-member policy '\(word)'", hint: "use keep or sorry")
                ok = false
            }
        }
        var passive: PassiveDetection?
        if let pn = m["passive"] {
            passive = need(readPassive(pn, "\(path).passive", forwarding: fwd, proto: proto, r))
        }
        guard ok, let name, let vip, let port, let proto, let sched, let fwd, let check else { return nil }
        return VirtualService(name: name, vip: vip, port: port, proto: proto, fwmark: fwmark, scheduler: sched,
                              schedulerFlags: flags, forwarding: fwd, persistence: persistence, members: members,
                              check: check, lastMember: last, passive: passive)
    }

    /// `passive: {window: 300ms, min_connections: 3}`. Only NAT services qualify: with DR or TUN the
    /// members' replies go straight to the clients, so the director cannot see an answer. UDP has no
    /// handshake to judge.
    static func readPassive(_ node: Node, _ path: String, forwarding: ForwardingMethod?, proto: ServiceProtocol?, _ r: YAMLReader) -> PassiveDetection? {
        guard let m = r.mapping(node, path, required: [], optional: ["window", "min_connections"]) else { return nil }
        var ok = true
        let window = m["window"].map { n -> Int? in
            let v = r.duration(n, "\(path).window", min: PassiveDetection.minWindowMs, max: PassiveDetection.maxWindowMs)
            if v == nil { ok = false }
            return v
        } ?? 300
        let minConns = m["min_connections"].map { n -> Int? in
            let v = r.int(n, "\(path).min_connections", in: 1...10_000)
            if v == nil { ok = false }
            return v
        } ?? 3
        if let forwarding, forwarding != .nat {
            r.error(.badValue, at: path, node: node,
                    "passive detection needs forwarding: nat, this service uses \(forwarding.rawValue)",
                    hint: "with \(forwarding.rawValue) the members answer clients directly and the director never sees a reply; remove `passive:` or use forwarding: nat")
            ok = false
        }
        if proto == .udp {
            r.error(.badValue, at: path, node: node, "passive detection judges TCP handshakes; this service is UDP",
                    hint: "remove `passive:` from this service (its active check still runs)")
            ok = false
        }
        guard ok, let window, let minConns else { return nil }
        return PassiveDetection(windowMs: window, minConnections: minConns)
    }

    /// IPv4: a dotted mask (`255.255.255.0`) or `/24`; IPv6: a prefix length (`64` or `/64`).
    static func readNetmask(_ node: Node, _ path: String, family: AddressFamily, _ r: YAMLReader) -> UInt32? {
        guard let s = r.scalar(node, path, expected: "a netmask") else { return nil }
        let bare = s.hasPrefix("/") ? String(s.dropFirst()) : s
        if let n = Int(bare) {
            guard 0...family.bitWidth ~= n else {
                r.error(.badCIDR, at: path, node: node, "prefix /\(n) is out of range", hint: "an \(family) prefix is 0 to \(family.bitWidth)")
                return nil
            }
            return family == .v6 ? UInt32(n) : (n == 0 ? 0 : UInt32.max << (32 - n))
        }
        guard family == .v4, let a = IPAddress(s), a.family == .v4 else {
            r.error(.badCIDR, at: path, node: node, "'\(s)' is not a valid netmask", hint: family == .v4 ? "write 255.255.255.0 or /24" : "write a prefix length such as 64")
            return nil
        }
        let v = a.bytes.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        guard v == 0 || (~v &+ 1) & ~v == 0 else {
            r.error(.badCIDR, at: path, node: node, "'\(s)' is not a contiguous netmask", hint: "a netmask is ones then zeros, for example 255.255.255.0")
            return nil
        }
        return v
    }

    static let checkKinds = ["tcp", "http", "https", "exec", "mariadb"]

    static func readCheck(_ node: Node, _ path: String, _ r: YAMLReader) -> HealthCheckSpec? {
        let common = ["interval", "timeout", "rise", "fall"]
        let specific: [String: [String]] = [
            "tcp": [], "http": ["method", "path", "expect_status", "body_contains", "body_sha256"],
            "https": ["method", "path", "expect_status", "body_contains", "body_sha256"],
            "exec": ["command"], "mariadb": ["user", "password_file"],
        ]
        // Read the kind first so the allowed keys can depend on it.
        var kindWord: String?
        if case .mapping(let m) = node {
            for (k, v) in m where k.scalar?.string == "kind" { kindWord = v.scalar?.string }
        }
        let extra = kindWord.flatMap { specific[$0] } ?? specific.values.flatMap { $0 }
        guard let m = r.mapping(node, path, required: ["kind"], optional: common + extra) else { return nil }
        guard let kn = m["kind"], let kw = r.scalar(kn, "\(path).kind", expected: "a check kind") else { return nil }
        guard checkKinds.contains(kw) else {
            let guess = nearest(kw, in: checkKinds).map { "did you mean '\($0)'? " } ?? ""
            r.error(.badValue, at: "\(path).kind", node: kn, "unknown check kind '\(kw)'", hint: "\(guess)valid: \(checkKinds.joined(separator: ", "))")
            return nil
        }
        var ok = true
        func opt<T>(_ key: String, _ f: (Node, String) -> T?) -> T?? {
            guard let n = m[key] else { return .some(nil) }
            let v = f(n, "\(path).\(key)")
            if v == nil { ok = false }
            return v.map { .some($0) } ?? nil
        }
        let interval = opt("interval") { r.duration($0, $1, min: 10) } ?? nil
        let timeout = opt("timeout") { r.duration($0, $1, min: 1) } ?? nil
        let rise = opt("rise") { r.int($0, $1, in: 1...100) } ?? nil
        let fall = opt("fall") { r.int($0, $1, in: 1...100) } ?? nil
        let kind: HealthCheckSpec.Kind
        switch kw {
        case "tcp": kind = .tcp
        case "http", "https":
            let method = (opt("method") { r.string($0, $1) } ?? nil) ?? "GET"
            let p = (opt("path") { r.string($0, $1) } ?? nil) ?? "/"
            if !p.hasPrefix("/") {
                r.error(.badValue, at: "\(path).path", node: m["path"], "HTTP path '\(p)' does not start with '/'", hint: "write the path as /healthz")
                ok = false
            }
            let status = (opt("expect_status") { r.int($0, $1, in: 100...599) } ?? nil) ?? 200
            let body = opt("body_contains") { r.string($0, $1) } ?? nil
            let digest = opt("body_sha256") { r.string($0, $1) } ?? nil
            kind = .http(HTTPCheck(scheme: kw, method: method, path: p, expectStatus: status, bodyContains: body, bodySHA256: digest))
        case "exec":
            guard let cn = m["command"], let items = r.list(cn, "\(path).command"), !items.isEmpty else {
                if m["command"] == nil { r.error(.missingKey, at: "\(path).command", node: node, "an exec check needs 'command'", hint: "add `command: [/path/to/check, arg]`") }
                return nil
            }
            let words = items.compactMap { r.string($0.node, $0.path) }
            guard words.count == items.count else { return nil }
            kind = .exec(command: words)
        default:
            guard let un = m["user"], let user = r.string(un, "\(path).user") else {
                if m["user"] == nil { r.error(.missingKey, at: "\(path).user", node: node, "a mariadb check needs 'user'", hint: "add `user: monitor`") }
                return nil
            }
            let pw = opt("password_file") { r.string($0, $1) } ?? nil
            kind = .mariadb(user: user, passwordFile: pw)
        }
        guard ok else { return nil }
        return HealthCheckSpec(kind: kind, intervalMs: interval ?? 1000, timeoutMs: timeout ?? 1000, rise: rise ?? 2, fall: fall ?? 2)
    }

    static func readDirectors(_ node: Node, _ path: String, _ r: YAMLReader) -> DirectorPair? {
        guard let m = r.mapping(node, path, required: ["members", "vrid", "interface"],
                                optional: ["name", "priorities", "advert_interval", "services", "witness", "fence_command"]) else { return nil }
        var ok = true
        let name = m["name"].map { r.name($0, "\(path).name") } ?? "directors"
        let members = m["members"].flatMap { r.names($0, "\(path).members") }?.map(\.name)
        if let mn = m["members"], let members, members.count != 2 {
            r.error(.badValue, at: "\(path).members", node: mn, "a director pair has exactly two members, found \(members.count)", hint: "list the two director VMs")
            ok = false
        }
        let vrid = m["vrid"].flatMap { r.int($0, "\(path).vrid", in: 1...255, what: "a VRID") }
        var prios: [String: Int] = [:]
        if let pn = m["priorities"], let pm = r.stringMap(pn, "\(path).priorities") {
            for (k, v) in pm.sorted(by: { $0.key < $1.key }) {
                guard let p = Int(v), 1...254 ~= p else {
                    r.error(.badValue, at: "\(path).priorities.\(k)", "priority '\(v)' is not 1–254", hint: "255 is reserved for the address owner (RFC 5798 §5.2.4); use 1–254")
                    ok = false; continue
                }
                prios[k] = p
            }
        }
        let advert = m["advert_interval"].map { r.duration($0, "\(path).advert_interval", min: 10, max: 40_950) } ?? 1000
        let iface = m["interface"].flatMap { r.name($0, "\(path).interface") }
        let services = m["services"].map { r.names($0, "\(path).services")?.map(\.name) } ?? []
        let witness = m["witness"].map { r.address($0, "\(path).witness") }
        var fence: [String]??
        if let fn = m["fence_command"] {
            let items = r.list(fn, "\(path).fence_command")
            let words = items?.compactMap { r.string($0.node, $0.path) }
            fence = (words != nil && words!.count == items!.count && !words!.isEmpty) ? .some(words) : nil
        } else { fence = .some(nil) }
        guard ok, let name, let members, let vrid, let advert, let iface, let services, witness != .some(nil), let fence else { return nil }
        return DirectorPair(name: name, members: members, vrid: vrid, priorities: prios, advertIntervalMs: advert,
                            interface: iface, services: services, witness: witness ?? nil, fenceCommand: fence)
    }
}
