import Net
import Yams

/// What could be read from the file, before semantic checks. Entries that failed to read are
/// dropped, but their names are kept so references to them do not cascade into more errors, and
/// the sections they came from are remembered so that checks over a whole section (capacity,
/// "more members than hosts") stay quiet instead of reporting a shortage the failure caused.
struct TopologyDraft {
    var site: String?
    var placement = PlacementPolicy()
    var hosts: [(path: String, host: XenHost)] = []
    var vms: [(path: String, vm: DomU)] = []
    var machines: [(path: String, machine: Machine)] = []
    var services: [(path: String, service: VirtualService)] = []
    var directorPairs: [(path: String, pair: DirectorPair)] = []
    var ring: (path: String, ring: ReplicationRing)?
    var groups: [(path: String, group: AntiAffinityGroup)] = []
    var daemon = DaemonSettings()
    /// `domain_templates:` as read: name → absolute path.
    var domainTemplates: [String: String] = [:]
    /// Every name that appeared, even on entries that failed to read.
    var declaredHosts = Set<String>(), declaredVMs = Set<String>(), declaredMachines = Set<String>(), declaredServices = Set<String>()
    /// Top-level sections (`hosts`, `vms`, …) with at least one entry that failed to read.
    var incomplete = Set<String>()
    /// Sections with a failed entry whose very name could not be read: a reference into such a
    /// section may name it, so "unknown" cannot be judged there.
    var unnamedFailures = Set<String>()
    var hadReadErrors = false
    /// The root was a mapping, so semantic checks make sense.
    var structureRead = false

    var topology: Topology? {
        guard let site, !hadReadErrors else { return nil }
        var t = Topology(site: site, placement: placement, hosts: hosts.map(\.host), vms: vms.map(\.vm),
                         machines: machines.map(\.machine), services: services.map(\.service), directorPairs: directorPairs.map(\.pair),
                         database: ring?.ring, antiAffinity: groups.map(\.group))
        t.daemon = daemon
        t.domainTemplates = domainTemplates
        return t
    }

    static func read(_ root: Node, _ r: YAMLReader) -> TopologyDraft {
        var d = TopologyDraft()
        let before = r.diagnostics.count
        defer { d.hadReadErrors = r.diagnostics.count > before }
        guard let top = r.fields(root, "", TopologySchema.root) else { return d }
        d.structureRead = true
        d.site = top.text("site")
        if let p = top.mapping("placement") {
            d.placement.spread = p.texts("spread") ?? []
        }
        d.hosts = d.entries(top, "hosts", r) { path, node, d in readHost(node, path, r, &d) }.map { ($0.path, $0.value) }
        d.vms = d.entries(top, "vms", r) { path, node, d in readVM(node, path, r, &d) }.map { ($0.path, $0.value) }
        d.machines = d.entries(top, "machines", r) { path, node, d in readMachine(node, path, r, &d) }.map { ($0.path, $0.value) }
        d.services = d.entries(top, "services", r) { path, node, d in readService(node, path, r, &d) }.map { ($0.path, $0.value) }
        if let dn = top.node("directors") {
            // One pair as a mapping (the common case), or several as a list.
            if case .sequence = dn {
                d.directorPairs = d.entries(top, "directors", r) { path, node, _ in readDirectors(node, path, r) }.map { ($0.path, $0.value) }
            } else {
                d.directorPairs = d.entry(top, "directors", r) { path, node, _ in readDirectors(node, path, r) }.map { ($0.path, $0.value) }
            }
        }
        d.ring = d.entry(top, "database", r) { _, _, _ in readDatabase(top) }.first.map { ($0.path, $0.value) }
        d.groups = d.entries(top, "anti_affinity", r) { path, node, _ in readGroup(node, path, r) }.map { ($0.path, $0.value) }
        if let f = top.mapping("daemon"), let settings = readDaemon(f, r) { d.daemon = settings }
        let templates = top.all(top.entries("domain_templates")) { e in
            r.absolutePath(e.node, e.path, key: "domain_templates.\(e.key)", example: "/etc/tandem/domains/\(e.key).xml").map { (e.key, $0) }
        }
        // A template that failed to read must not make every VM naming it "unknown" as well.
        if templates == nil { d.incomplete.insert("domain_templates") }
        d.domainTemplates = Dictionary(templates ?? [], uniquingKeysWith: { a, _ in a })
        return d
    }

    /// The single entry under `key`, if present, read through ``YAMLReader/entry(_:_:_:)`` so it
    /// cannot vanish without a diagnostic; a failed one marks the section incomplete.
    private mutating func entry<T>(_ top: Fields, _ key: String, _ r: YAMLReader,
                                   _ read: (String, Node, inout TopologyDraft) -> T?) -> [(path: String, value: T)] {
        guard let node = top.node(key) else { return [] }
        guard let v = r.entry(key, node, { read(key, node, &self) }) else { incomplete.insert(key); return [] }
        return [(key, v)]
    }

    /// Every entry of the list under `key`, read one by one as ``entry(_:_:_:_:)`` reads one;
    /// failed ones are left out, each with its diagnostic. A list that fails as a whole (not a
    /// list, empty) marks the section incomplete too.
    private mutating func entries<T>(_ top: Fields, _ key: String, _ r: YAMLReader,
                                     _ read: (String, Node, inout TopologyDraft) -> T?) -> [(path: String, value: T)] {
        guard top.has(key) else { return [] }
        // The list as a whole failed (not a list, empty): no entry, and no name, could be read.
        guard let items = top.items(key) else { incomplete.insert(key); unnamedFailures.insert(key); return [] }
        var out: [(path: String, value: T)] = []
        for item in items {
            if let v = r.entry(item.path, item.node, { read(item.path, item.node, &self) }) {
                out.append((item.path, v))
            } else {
                incomplete.insert(key)
            }
        }
        return out
    }

    /// Reads a list entry's `name` first and declares it, so references to it do not cascade
    /// even if the rest of the entry fails; records a failure without a name as unjudgeable.
    private static func declare(_ f: Fields, in set: WritableKeyPath<TopologyDraft, Set<String>>, section: String, _ d: inout TopologyDraft) -> String? {
        let name = f.text("name")
        if let name { d[keyPath: set].insert(name) } else { d.unnamedFailures.insert(section) }
        return name
    }

    static func readHost(_ node: Node, _ path: String, _ r: YAMLReader, _ d: inout TopologyDraft) -> XenHost? {
        guard let f = r.fields(node, path, TopologySchema.host) else { d.unnamedFailures.insert("hosts"); return nil }
        let name = declare(f, in: \.declaredHosts, section: "hosts", &d)
        let address = f.address("address")
        let cpus = f.number("cpus")
        let mem = f.number("memory")
        let labels = f.all(f.entries("labels")) { e in r.string(e.node, e.path).map { (e.key, $0) } }
        let libvirt = f.text("libvirt")
        let fence = f.mapping("fence").flatMap { f.require(readFence($0, r)) }
        guard f.ok, let name, let address, let cpus, let mem, let labels else { return nil }
        return XenHost(name: name, address: address, cpus: cpus, memoryMiB: mem, labels: Dictionary(labels, uniquingKeysWith: { a, _ in a }),
                       libvirt: libvirt, fence: fence)
    }

    /// `fence: {agent: fence_ipmilan, options: {…}, secret_files: {password: /…}, timeout: 30s, attempts: 3}`.
    ///
    /// The options reach the agent as `key=value` lines on its stdin (FenceAgentAPI.md), so a key
    /// with `=` or a value with a line break would smuggle in another option: both are refused. A
    /// secret written inline is refused too: the file is shown by `validate`, logged and copied
    /// around, where a 0600 file is not.
    static func readFence(_ f: Fields, _ r: YAMLReader) -> HostFence? {
        let agent = f.text("agent")
        let options = f.all(f.entries("options")) { e -> (String, String)? in
            guard let value = r.string(e.node, e.path) else { return nil }
            guard fenceOptionKeyIsValid(e.key) else {
                r.error(.badValue, at: e.path, node: e.node, "'\(quoted(e.key))' is not a fence-agent option name",
                        hint: "option names are letters, digits, '_' and '-' (ip, username, lanplus, power_timeout)")
                return nil
            }
            if e.key == "action" {
                r.error(.badValue, at: e.path, node: e.node, "the fence action is Tandem's to choose (off, then status)",
                        hint: "remove `action:` from the options")
                return nil
            }
            if TopologySchema.fenceOptionIsSecret(e.key) {
                r.error(.badValue, at: e.path, node: e.node, "fence option '\(quoted(e.key))' holds a secret, written inline in the topology",
                        hint: "put it in a file of mode 0600 and name that file instead: `secret_files: {\(e.key): /etc/tandem/secrets/fence-\(e.key)}`")
                return nil
            }
            guard !value.contains(where: \.isNewline) else {
                r.error(.badValue, at: e.path, node: e.node, "fence option '\(quoted(e.key))' has a line break in its value",
                        hint: "the agent reads one key=value per line; write the value on one line")
                return nil
            }
            return (e.key, value)
        }
        let secrets = f.all(f.entries("secret_files")) { e -> (String, String)? in
            guard let path = r.absolutePath(e.node, e.path, key: "secret_files.\(e.key)", example: "/etc/tandem/secrets/fence-\(e.key)") else { return nil }
            guard fenceOptionKeyIsValid(e.key), e.key != "action" else {
                r.error(.badValue, at: e.path, node: e.node, "'\(quoted(e.key))' is not a fence-agent option name",
                        hint: "name the option the agent reads the secret as (passwd, password, snmp_priv_passwd)")
                return nil
            }
            return (e.key, path)
        }
        if let options, let secrets {
            for key in Set(options.map(\.0)).intersection(secrets.map(\.0)).sorted() {
                r.error(.badValue, at: f.path("secret_files.\(key)"), node: nil, "fence option '\(quoted(key))' is given both in options and in secret_files",
                        hint: "keep it in secret_files only")
                f.fail()
            }
        }
        let timeout = f.number("timeout")
        let attempts = f.number("attempts")
        guard f.ok, let agent, let options, let secrets, let timeout, let attempts else { return nil }
        return HostFence(agent: agent, options: Dictionary(options, uniquingKeysWith: { a, _ in a }),
                         secretFiles: Dictionary(secrets, uniquingKeysWith: { a, _ in a }),
                         timeoutSeconds: Double(timeout) / 1000, attempts: attempts)
    }

    /// A fence-agent option name: what `fencing.py` accepts as a stdin key, never `=` or a space.
    static func fenceOptionKeyIsValid(_ key: String) -> Bool {
        !key.isEmpty && key.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") }
    }

    /// `domain: {template: web, values: {port: 8443}}` or `domain: {xml_file: /etc/tandem/domains/vm1.xml}`;
    /// the table's rules require exactly one source. Whether the template exists is the validator's.
    static func readDomain(_ f: Fields, _ r: YAMLReader) -> VMDomain? {
        let template = f.text("template")
        let xml = f.text("xml_file")
        let values = f.all(f.entries("values")) { e -> (String, String)? in
            guard let v = r.string(e.node, e.path) else { return nil }
            guard !VMDomain.builtInKeys.contains(e.key) else {
                r.error(.badValue, at: e.path, node: e.node, "'\(e.key)' is filled in by Tandem from the VM itself",
                        hint: "remove it from values (Tandem fills in \(VMDomain.builtInKeys.joined(separator: ", "))), or change the VM's own key")
                return nil
            }
            return (e.key, v)
        }
        guard f.ok, let values else { return nil }
        let source: VMDomain.Source
        if let template { source = .template(template) } else if let xml { source = .xmlFile(xml) } else { return nil }
        return VMDomain(source: source, values: Dictionary(values, uniquingKeysWith: { a, _ in a }))
    }

    static func readVM(_ node: Node, _ path: String, _ r: YAMLReader, _ d: inout TopologyDraft) -> DomU? {
        guard let f = r.fields(node, path, TopologySchema.vm) else { d.unnamedFailures.insert("vms"); return nil }
        let name = declare(f, in: \.declaredVMs, section: "vms", &d)
        let role = f.choice("role", VMRole.self, what: "VM role")
        let vcpus = f.number("vcpus")
        let mem = f.number("memory")
        let addrs = f.all(f.items("addresses")) { r.interfaceAddress($0.node, $0.path) }
        let host = f.text("host")
        let domain = f.mapping("domain").flatMap { f.require(readDomain($0, r)) }
        guard f.ok, let name, let role, let vcpus, let mem, let addrs else { return nil }
        return DomU(name: name, role: role, vcpus: vcpus, memoryMiB: mem, addresses: addrs, pinnedHost: host, domain: domain)
    }

    static func readMachine(_ node: Node, _ path: String, _ r: YAMLReader, _ d: inout TopologyDraft) -> Machine? {
        guard let f = r.fields(node, path, TopologySchema.machine) else { d.unnamedFailures.insert("machines"); return nil }
        let name = declare(f, in: \.declaredMachines, section: "machines", &d)
        let addrs = f.all(f.items("addresses")) { r.interfaceAddress($0.node, $0.path) }
        guard f.ok, let name, let addrs else { return nil }
        return Machine(name: name, addresses: addrs)
    }

    static func readService(_ node: Node, _ path: String, _ r: YAMLReader, _ d: inout TopologyDraft) -> VirtualService? {
        guard let f = r.fields(node, path, TopologySchema.service) else { d.unnamedFailures.insert("services"); return nil }
        let name = declare(f, in: \.declaredServices, section: "services", &d)
        let vip = f.address("vip")
        let proto = f.choice("protocol", ServiceProtocol.self, what: "protocol")
        // Whether port and fwmark are required or refused is the table's rules' business (`fields`).
        let port: UInt16? = f.has("port") ? f.number("port", allowZeroPort: proto == .fwmark).map(UInt16.init) : 0
        let fwmark = f.number("fwmark").map(UInt32.init)
        let sched = f.choice("scheduler", Scheduler.self, code: .unknownScheduler, what: "scheduler")
        let flags = f.texts("scheduler_flags", what: "scheduler flag")?.compactMap(SchedulerFlag.init(rawValue:))
        let fwd = f.choice("forwarding", ForwardingMethod.self, code: .unknownForwarding, what: "forwarding method")
        var persistence: Persistence?
        if let p = f.mapping("persistence") {
            let timeout = p.number("timeout")
            let family = vip?.family ?? .v4
            let mask = p.node("netmask").map { p.require(r.netmask($0, p.path("netmask"), family: family)) } ?? (family == .v6 ? 128 : 0xffff_ffff)
            if !p.ok { f.fail() }
            if let timeout, let mask { persistence = Persistence(timeoutSeconds: UInt32(timeout / 1000), netmask: mask) }
        }
        let members = f.all(f.items("members")) { readMember($0.node, $0.path, servicePort: port, fwmark: proto == .fwmark, r) }
        let check = f.mapping("check").flatMap { f.require(readCheck($0, r)) }
        let last = readLastMember(f, r)
        let passive = f.mapping("passive").flatMap { f.require(readPassive($0, forwarding: fwd, proto: proto, r)) }
        guard f.ok, let name, let vip, let port, let proto, let sched, let flags, let fwd, let members, let check, let last else { return nil }
        return VirtualService(name: name, vip: vip, port: port, proto: proto, fwmark: fwmark, scheduler: sched,
                              schedulerFlags: flags, forwarding: fwd, persistence: persistence, members: members,
                              check: check, lastMember: last, passive: passive)
    }

    /// A VM member (`vm:`), or a plain real server (`address:`, optional `name:`); the table's
    /// rules require one of the two and keep `name` to plain servers.
    static func readMember(_ node: Node, _ path: String, servicePort: UInt16?, fwmark: Bool, _ r: YAMLReader) -> ServiceMember? {
        guard let f = r.fields(node, path, TopologySchema.member) else { return nil }
        let vm = f.text("vm")
        let name = f.text("name")
        let port = f.has("port") ? f.number("port", allowZeroPort: fwmark).map(UInt16.init) : servicePort
        let weight = f.number("weight")
        let address = f.address("address")
        guard f.ok, let port, let weight else { return nil }
        if let vm { return ServiceMember(vm: vm, port: port, weight: weight, address: address) }
        guard let address else { return nil }
        return ServiceMember(server: address, port: port, weight: weight, name: name)
    }

    /// `last_member: keep` (the default) or `sorry` with a `sorry_server`; the table's rules
    /// refuse a sorry server the policy does not use (it would be ignored without a word).
    static func readLastMember(_ f: Fields, _ r: YAMLReader) -> LastMemberPolicy? {
        let word = f.word("last_member", what: "last-member policy")
        let server: LastMemberPolicy? = f.mapping("sorry_server").flatMap { s in
            let a = s.address("address"), p = s.number("port")
            guard s.ok, let a, let p else { f.fail(); return nil }
            return .sorryServer(a, port: UInt16(p))
        }
        switch word {
        case "keep"?: return .keepLast
        case "sorry"?: return server
        default: return nil
        }
    }

    /// `passive: {window: 300ms, min_connections: 3}`. Only NAT services qualify: with DR or TUN the
    /// members' replies go straight to the clients, so the director cannot see an answer. UDP has no
    /// handshake to judge.
    static func readPassive(_ f: Fields, forwarding: ForwardingMethod?, proto: ServiceProtocol?, _ r: YAMLReader) -> PassiveDetection? {
        let window = f.number("window")
        let minConns = f.number("min_connections")
        if let forwarding, forwarding != .nat {
            r.error(.badValue, at: f.path, node: f.node,
                    "passive detection needs forwarding: nat, this service uses \(forwarding.rawValue)",
                    hint: "with \(forwarding.rawValue) the members answer clients directly and the director never sees a reply; remove `passive:` or use forwarding: nat")
            f.fail()
        }
        if proto == .udp {
            r.error(.badValue, at: f.path, node: f.node, "passive detection judges TCP handshakes; this service is UDP",
                    hint: "remove `passive:` from this service (its active check still runs)")
            f.fail()
        }
        guard f.ok, let window, let minConns else { return nil }
        return PassiveDetection(windowMs: window, minConnections: minConns)
    }

    static func readCheck(_ f: Fields, _ r: YAMLReader) -> HealthCheckSpec? {
        guard let kind = f.word("kind", what: "check kind") else { return nil }
        let interval = f.number("interval")
        let timeout = f.number("timeout")
        let rise = f.number("rise")
        let fall = f.number("fall")
        let spec: HealthCheckSpec.Kind?
        switch kind {
        case "tcp": spec = .tcp
        case "http", "https":
            let method = f.text("method"), path = f.text("path"), status = f.number("expect_status")
            let body = f.text("body_contains"), digest = f.text("body_sha256")
            spec = method.flatMap { m in path.flatMap { p in status.map { s in
                .http(HTTPCheck(scheme: kind, method: m, path: p, expectStatus: s, bodyContains: body, bodySHA256: digest))
            } } }
        case "exec":
            spec = f.texts("command").map { .exec(command: $0) }
        case "mariadb":
            spec = f.text("user").map { .mariadb(user: $0, passwordFile: f.text("password_file")) }
        default:
            preconditionFailure("check kind '\(kind)' is in TopologySchema.checkKinds but not read")
        }
        guard f.ok, let spec, let interval, let timeout, let rise, let fall else { return nil }
        return HealthCheckSpec(kind: spec, intervalMs: interval, timeoutMs: timeout, rise: rise, fall: fall)
    }

    static func readDirectors(_ node: Node, _ path: String, _ r: YAMLReader) -> DirectorPair? {
        guard let f = r.fields(node, path, TopologySchema.directors) else { return nil }
        let name = f.text("name")
        let members = f.texts("members")
        let vrid = f.number("vrid")
        guard case .dictionary(let priority) = f.type("priorities") else { preconditionFailure("priorities is a dictionary in TopologySchema") }
        let priorities = f.all(f.entries("priorities")) { e in
            r.number(e.node, e.path, priority, why: "255 is reserved for the address owner (RFC 5798 §5.2.4)").map { (e.key, $0) }
        }
        let advert = f.number("advert_interval")
        let iface = f.text("interface")
        let services = f.texts("services")
        let witness = f.address("witness")
        let fence = f.has("fence_command") ? f.texts("fence_command") : nil
        let defaults = readDirectorSettings(f, r)
        let nodes = f.all(f.entries("nodes")) { e -> (String, DirectorSettings)? in
            if let members, !members.contains(e.key) {
                r.error(.unknownReference, at: e.path, node: e.node, "'\(quoted(e.key))' is not a member of this director pair",
                        hint: "name one of \(members.joined(separator: ", ")) under nodes:")
                return nil
            }
            guard let nf = r.fields(e.node, e.path, TopologySchema.directorNode) else { return nil }
            guard var node = readDirectorSettings(nf, r) else { return nil }
            node.interface = nf.text("interface")
            node.primaryAddress = nf.address("primary_address")
            if nf.has("unicast_peers") { node.unicastPeers = nf.all(nf.items("unicast_peers")) { r.address($0.node, $0.path) } }
            return nf.ok ? (e.key, node) : nil
        }
        guard f.ok, let name, let members, let vrid, let priorities, let advert, let iface, let services, let defaults, let nodes else { return nil }
        return DirectorPair(name: name, members: members, vrid: vrid, priorities: Dictionary(priorities, uniquingKeysWith: { a, _ in a }),
                            advertIntervalMs: advert,
                            interface: iface, services: services, witness: witness, fenceCommand: fence,
                            defaults: defaults, nodes: Dictionary(nodes, uniquingKeysWith: { a, _ in a }))
    }

    /// The settings of ``TopologySchema/directorDefaults`` that a mapping sets (the pair's or one node's).
    static func readDirectorSettings(_ f: Fields, _ r: YAMLReader) -> DirectorSettings? {
        func has(_ key: String) -> Bool { f.has(key) }
        var s = DirectorSettings()
        if has("vip_interface") { s.vipInterface = f.text("vip_interface") }
        if has("key_file") { s.keyFile = f.text("key_file") }
        if has("preempt") { s.preempt = f.word("preempt", what: "boolean").map { $0 == "true" } }
        if has("preempt_delay") { s.preemptDelayMs = f.number("preempt_delay") }
        if let fd = f.mapping("fast_detector") {
            let interval = fd.number("interval"), misses = fd.number("misses"), priority = fd.number("priority")
            if let interval, let misses, let priority, fd.ok {
                s.fastDetector = FastDetectorSettings(intervalMs: interval, misses: misses, priority: priority)
            } else { f.fail() }
        }
        if has("connection_sync") { s.connectionSync = f.word("connection_sync", what: "boolean").map { $0 == "true" } }
        if has("sync_interface") { s.syncInterface = f.text("sync_interface") }
        return f.ok ? s : nil
    }

    static func readDatabase(_ top: Fields) -> ReplicationRing? {
        guard let f = top.mapping("database") else { return nil }
        let members = f.texts("ring")
        let port = f.number("port")
        guard f.ok, let members, let port else { return nil }
        return ReplicationRing(members: members, port: UInt16(port))
    }

    /// `daemon: {token_file: /etc/tandem/secrets/api-token, repair_interval: 5s}`.
    static func readDaemon(_ f: Fields, _ r: YAMLReader) -> DaemonSettings? {
        let token = f.text("token_file")
        let repair = f.number("repair_interval")
        guard f.ok, let repair else { return nil }
        return DaemonSettings(tokenFile: token, repairIntervalMs: repair)
    }

    static func readGroup(_ node: Node, _ path: String, _ r: YAMLReader) -> AntiAffinityGroup? {
        guard let f = r.fields(node, path, TopologySchema.antiAffinityGroup) else { return nil }
        let name = f.text("name")
        let members = f.texts("members")
        guard f.ok, let name, let members else { return nil }
        return AntiAffinityGroup(name: name, members: members)
    }
}
