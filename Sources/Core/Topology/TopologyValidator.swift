import Net
/// Semantic checks on a read topology: references, uniqueness, pairs that cannot be split,
/// capacity, ring size, directors doubling as real servers.
///
/// Pure: it reads the draft and returns diagnostics. Placement itself lives in the `Placement`
/// module; here we only catch what makes *every* placement impossible, with the smallest reason.
///
/// Checks over a whole section stay quiet when an entry of that section failed to read: one bad
/// host field must not also claim the site is short of hosts (once, one typo in `cpus` gave
/// nine follow-on "cannot split" errors, and a capacity error printed before the real one).
struct TopologyValidator {
    let draft: TopologyDraft
    let reader: YAMLReader
    /// The VMs that were read, by name (the first of a duplicated name wins, as in ``Topology``).
    private let vmsByName: [String: DomU]
    /// The plain machines that were read, by name.
    private let machinesByName: [String: Machine]

    init(draft: TopologyDraft, reader: YAMLReader) {
        self.draft = draft
        self.reader = reader
        vmsByName = Dictionary(draft.vms.map { ($0.vm.name, $0.vm) }, uniquingKeysWith: { a, _ in a })
        machinesByName = Dictionary(draft.machines.map { ($0.machine.name, $0.machine) }, uniquingKeysWith: { a, _ in a })
    }

    /// The addresses of the VM or machine `name` (a director), if either was read.
    private func nodeAddresses(_ name: String) -> [InterfaceAddress]? {
        vmsByName[name]?.addresses ?? machinesByName[name]?.addresses
    }

    private func diag(_ code: Diagnostic.Code, _ path: String, _ message: String, hint: String) -> Diagnostic {
        Diagnostic(code, at: reader.location(of: path), keyPath: path, message, hint: hint)
    }

    func validate() -> [Diagnostic] {
        var out: [Diagnostic] = []
        out += duplicateNames()
        out += duplicateAddresses()
        out += references()
        out += serviceChecks()
        out += directorChecks()
        out += witnessChecks()
        out += ringChecks()
        out += splitChecks()
        out += capacityChecks()
        return out
    }

    /// The same name twice, in any section.
    func duplicateNames() -> [Diagnostic] {
        var out: [Diagnostic] = []
        func check(_ items: [(path: String, name: String, what: String)]) {
            var first: [String: (path: String, what: String)] = [:]
            for (path, name, what) in items {
                if let f = first[name] {
                    let also = f.what == what ? "" : " (already the name of a \(f.what))"
                    out.append(diag(.duplicateName, path, "\(what) '\(name)' is declared twice\(also) (first at \(reader.location(of: f.path)))",
                                    hint: "rename one of them; names must be unique"))
                } else { first[name] = (path, what) }
            }
        }
        check(draft.hosts.map { ("\($0.path).name", $0.host.name, "host") })
        // Directors and ring nodes name a VM or a machine: one namespace for both.
        check(draft.vms.map { ("\($0.path).name", $0.vm.name, "VM") } + draft.machines.map { ("\($0.path).name", $0.machine.name, "machine") })
        check(draft.services.map { ("\($0.path).name", $0.service.name, "service") })
        check(draft.directorPairs.map { ("\($0.path)", $0.pair.name, "director pair") })
        check(draft.groups.map { ("\($0.path).name", $0.group.name, "anti-affinity group") })
        out += memberNames()
        return out
    }

    /// A plain real server's name is its identity in drains and status: unique in its service,
    /// never a VM's name, and a machine's only when the server runs on that machine.
    func memberNames() -> [Diagnostic] {
        var out: [Diagnostic] = []
        for (p, s) in draft.services {
            var seen: [String: Int] = [:]
            for (i, m) in s.members.enumerated() {
                // Unnamed servers are named address:port: a repeat is reported as a repeated endpoint.
                guard m.vmName == nil, let a = m.address, m.name != ServiceMember.defaultName(a, port: m.port) else { continue }
                // Named after the machine it runs on (a ring node checked by its service): the
                // address must be that machine's, or the name would point a reader elsewhere.
                if draft.declaredVMs.contains(m.name) {
                    out.append(diag(.duplicateName, "\(p).members[\(i)].name", "real server name '\(m.name)' is the name of a VM",
                                    hint: "write `vm: \(m.name)` to use that VM, or choose another name"))
                } else if let machine = machinesByName[m.name], !machine.addresses.contains(where: { $0.address == a }) {
                    out.append(diag(.duplicateName, "\(p).members[\(i)].name", "real server '\(m.name)' at \(a) is named after machine \(m.name), which has no such address",
                                    hint: "give the machine's address (\(machine.addresses.map { "\($0.address)" }.joined(separator: ", "))), or choose another name"))
                }
                if let j = seen[m.name] {
                    out.append(diag(.duplicateName, "\(p).members[\(i)].name", "member name '\(m.name)' is used twice in service \(s.name) (also members[\(j)])",
                                    hint: "give each real server its own name"))
                } else { seen[m.name] = i }
            }
        }
        return out
    }

    /// One address used twice: two hosts, two VMs, a VM and a host, a VIP and a machine,
    /// two services on the same VIP:port/protocol, two members on the same address:port.
    func duplicateAddresses() -> [Diagnostic] {
        var out: [Diagnostic] = []
        var owner: [IPAddress: (path: String, who: String)] = [:]
        func claim(_ a: IPAddress, _ path: String, _ who: String) {
            if let o = owner[a] {
                out.append(diag(.duplicateAddress, path, "address \(a) of \(who) is already used by \(o.who) (at \(reader.location(of: o.path)))",
                                hint: "give each machine its own address"))
            } else { owner[a] = (path, who) }
        }
        for (p, h) in draft.hosts { claim(h.address, "\(p).address", "host \(h.name)") }
        for (p, v) in draft.vms {
            for (i, a) in v.addresses.enumerated() { claim(a.address, "\(p).addresses[\(i)]", "VM \(v.name)") }
        }
        for (p, m) in draft.machines {
            for (i, a) in m.addresses.enumerated() { claim(a.address, "\(p).addresses[\(i)]", "machine \(m.name)") }
        }
        var endpoints: [String: String] = [:]
        for (p, s) in draft.services {
            if let o = owner[s.vip] {
                out.append(diag(.duplicateVIP, "\(p).vip", "VIP \(s.vip) of service \(s.name) is the address of \(o.who)",
                                hint: "a VIP must be an address no machine owns; pick a free one"))
            }
            let key = s.proto == .fwmark ? "fwmark \(s.fwmark ?? 0)/\(s.vip.family)" : "\(s.proto.rawValue) \(endpoint(s.vip, s.port))"
            if let first = endpoints[key] {
                let code: Diagnostic.Code = s.proto == .fwmark ? .duplicateVIP : .duplicateVIP
                out.append(diag(code, s.proto == .fwmark ? "\(p).fwmark" : "\(p).vip",
                                "service \(s.name) uses \(key), already used by service \(first)",
                                hint: "each service needs its own VIP:port (or fwmark); change the port or the VIP"))
            } else { endpoints[key] = s.name }
            var seen: [String: Int] = [:]
            for (i, m) in s.members.enumerated() {
                guard let a = member(m, s) else { continue }
                let ep = endpoint(a, m.port)
                if let j = seen[ep] {
                    out.append(diag(.duplicateEndpoint, "\(p).members[\(i)]", "real server \(ep) is listed twice in service \(s.name) (also members[\(j)])",
                                    hint: "list each real server once; raise its weight instead"))
                } else { seen[ep] = i }
            }
        }
        return out
    }

    private func endpoint(_ a: IPAddress, _ port: UInt16) -> String { a.family == .v6 ? "[\(a)]:\(port)" : "\(a):\(port)" }

    private func member(_ m: ServiceMember, _ s: VirtualService) -> IPAddress? {
        m.address ?? m.vmName.flatMap { vmsByName[$0] }?.addresses.first { $0.address.family == s.vip.family }?.address
    }

    /// Names that point nowhere, with the nearest existing name as a suggestion.
    func references() -> [Diagnostic] {
        var out: [Diagnostic] = []
        let sections = ["host": ["hosts"], "VM": ["vms"], "VM or machine": ["vms", "machines"], "service": ["services"]]
        // A suggestion costs an edit distance per declared name; on a hostile file with many
        // thousands of unknown references, only the first ones get one.
        var suggestions = 100
        func ref(_ name: String, _ path: String, in set: Set<String>, what: String) {
            let within = sections[what] ?? []
            // An entry of that section failed before its name could be read: it may be this one.
            guard !set.contains(name), !within.contains(where: draft.unnamedFailures.contains) else { return }
            if what == "VM", draft.declaredMachines.contains(name) {
                out.append(diag(.unknownReference, path, "'\(quoted(name))' is a machine, not a VM: machines are never placed",
                                hint: "anti-affinity and placement apply to VMs; for a plain real server write `address:` instead of `vm:`"))
                return
            }
            suggestions -= 1
            let guess = (suggestions >= 0 ? nearest(name, in: set.sorted()) : nil).map { "did you mean '\($0)'? " } ?? ""
            out.append(diag(.unknownReference, path, "unknown \(what) '\(quoted(name))'",
                            hint: "\(guess)declare it under \(within.joined(separator: " or ")) first"))
        }
        let nodes = draft.declaredVMs.union(draft.declaredMachines)
        for (p, v) in draft.vms { if let h = v.pinnedHost { ref(h, "\(p).host", in: draft.declaredHosts, what: "host") } }
        for (p, s) in draft.services {
            for (i, m) in s.members.enumerated() {
                if let vm = m.vmName { ref(vm, "\(p).members[\(i)].vm", in: draft.declaredVMs, what: "VM") }
            }
        }
        for (p, d) in draft.directorPairs {
            for (i, m) in d.members.enumerated() { ref(m, "\(p).members[\(i)]", in: nodes, what: "VM or machine") }
            // With an unknown member the priorities likely name the intended one: do not cascade.
            let membersResolve = d.members.allSatisfy(nodes.contains)
            for k in d.priorities.keys.sorted() where membersResolve && !d.members.contains(k) {
                out.append(diag(.unknownReference, "\(p).priorities.\(k)", "priority given for '\(quoted(k))', which is not a member of the pair",
                                hint: "give priorities for \(d.members.joined(separator: " and ")) only"))
            }
            for (i, s) in d.services.enumerated() { ref(s, "\(p).services[\(i)]", in: draft.declaredServices, what: "service") }
        }
        if let (p, r) = draft.ring {
            for (i, m) in r.members.enumerated() { ref(m, "\(p).ring[\(i)]", in: nodes, what: "VM or machine") }
        }
        for (p, g) in draft.groups {
            for (i, m) in g.members.enumerated() { ref(m, "\(p).members[\(i)]", in: draft.declaredVMs, what: "VM") }
        }
        if !draft.incomplete.contains("domain_templates") {
            let known = draft.domainTemplates.keys.sorted()
            for (p, v) in draft.vms {
                guard case .template(let t)? = v.domain?.source, draft.domainTemplates[t] == nil else { continue }
                let guess = nearest(t, in: known).map { "did you mean '\($0)'? " } ?? ""
                let have = known.isEmpty ? "no templates are declared" : "known templates: \(known.joined(separator: ", "))"
                out.append(diag(.unknownReference, "\(p).domain.template", "unknown domain template '\(quoted(t))'",
                                hint: "\(guess)\(have); declare it under domain_templates (name: /absolute/path.xml)"))
            }
        }
        for (i, l) in draft.placement.spread.enumerated() where !draft.hosts.contains(where: { $0.host.labels[l] != nil }) {
            out.append(diag(.unknownReference, "placement.spread[\(i)]", "no host has the label '\(l)'", hint: "add `labels: {\(l): ...}` to the hosts, or remove it from spread"))
        }
        return out
    }

    /// Per-service rules the kernel would otherwise reject, or accept and then misbehave.
    func serviceChecks() -> [Diagnostic] {
        var out: [Diagnostic] = []
        for (p, s) in draft.services {
            for f in s.schedulerFlags {
                let fits = (f == .shFallback || f == .shPort) ? s.scheduler == .sh : s.scheduler == .mh
                if !fits {
                    out.append(diag(.badValue, "\(p).scheduler_flags", "flag \(f.rawValue) has no effect with scheduler \(s.scheduler.rawValue)",
                                    hint: "use \(f.rawValue.hasPrefix("sh") ? "scheduler: sh" : "scheduler: mh"), or drop the flag"))
                }
            }
            for (i, m) in s.members.enumerated() {
                if let a = m.address, a.family != s.vip.family {
                    out.append(diag(.familyMismatch, "\(p).members[\(i)].address", "member address \(a) is \(a.family) but VIP \(s.vip) is \(s.vip.family)",
                                    hint: "IPVS forwards within one family; give an \(s.vip.family) address"))
                } else if m.address == nil, let vm = m.vmName.flatMap({ vmsByName[$0] }),
                          !vm.addresses.contains(where: { $0.address.family == s.vip.family }) {
                    out.append(diag(.familyMismatch, "\(p).members[\(i)].vm", "VM \(vm.name) has no \(s.vip.family) address for VIP \(s.vip)",
                                    hint: "add an \(s.vip.family) address to VM \(vm.name), or set the member's address"))
                }
                if s.forwarding != .nat && s.proto != .fwmark && m.port != s.port {
                    out.append(diag(.badPort, "\(p).members[\(i)].port", "\(s.forwarding.rawValue.uppercased()) cannot change the port (\(s.port) → \(m.port))",
                                    hint: "use the VIP's port \(s.port) on the member, or forwarding: nat"))
                }
            }
        }
        return out
    }

    /// Director pairs: VRIDs unique per interface, directors are not real servers.
    func directorChecks() -> [Diagnostic] {
        var out: [Diagnostic] = []
        var vrids: [String: String] = [:]
        // Who serves where: by VM name, and by address (a plain real server on a director's address).
        var servicesOf: [String: [(path: String, name: String)]] = [:]
        var servicesAt: [IPAddress: [(path: String, name: String)]] = [:]
        for (sp, s) in draft.services {
            for vm in Set(s.members.compactMap(\.vmName)) { servicesOf[vm, default: []].append((sp, s.name)) }
            for a in Set(s.members.filter { $0.vmName == nil }.compactMap(\.address)) { servicesAt[a, default: []].append((sp, s.name)) }
        }
        for (p, d) in draft.directorPairs {
            let key = "\(d.interface)/\(d.vrid)"
            if let first = vrids[key] {
                out.append(diag(.duplicateVRID, "\(p).vrid", "VRID \(d.vrid) on \(d.interface) is already used by pair \(first)",
                                hint: "give each pair on one link its own VRID (1–255)"))
            } else { vrids[key] = d.name }
            for (i, m) in d.members.enumerated() {
                var services = servicesOf[m] ?? []
                for a in nodeAddresses(m) ?? [] {
                    services += (servicesAt[a.address] ?? []).filter { s in !services.contains { $0.name == s.name } }
                }
                for (sp, s) in services {
                    out.append(diag(.directorIsMember, "\(p).members[\(i)]", "director \(m) is also a member of service \(s) (\(sp))",
                                    hint: "run real servers on their own machines; a director that is also a backend loses both roles at once"))
                }
            }
        }
        return out
    }

    /// A witness the split-brain rule cannot learn from: a VIP (the director holding it answers
    /// for itself) or an address of one of the pair's own directors.
    func witnessChecks() -> [Diagnostic] {
        var out: [Diagnostic] = []
        var vipOwner: [IPAddress: String] = [:]
        for (_, s) in draft.services where vipOwner[s.vip] == nil { vipOwner[s.vip] = s.name }
        for (p, d) in draft.directorPairs {
            guard let w = d.witness else { continue }
            let hint = "use a third machine's address both directors reach (a router or a host), so that its silence means the network failed"
            if let service = vipOwner[w] {
                out.append(diag(.unusableAddress, "\(p).witness", "witness \(w) is the VIP of service \(service): the director holding it answers for itself",
                                hint: hint))
            }
            for m in d.members where nodeAddresses(m)?.contains(where: { $0.address == w }) == true {
                out.append(diag(.unusableAddress, "\(p).witness", "witness \(w) is an address of director \(m), a member of this pair", hint: hint))
            }
        }
        return out
    }

    func ringChecks() -> [Diagnostic] {
        guard let (p, r) = draft.ring else { return [] }
        var out: [Diagnostic] = []
        if Set(r.members).count < 2 {
            out.append(diag(.ringTooSmall, "\(p).ring", "a replication ring needs at least two distinct nodes, found \(Set(r.members).count)",
                            hint: "list two or more database VMs in replication order"))
        }
        return out
    }

    /// Group members pinned together, or groups larger than the hosts (or failure domains) that could hold them.
    func splitChecks() -> [Diagnostic] {
        var out: [Diagnostic] = []
        let topo = draft.partialTopology
        let hostsByName = Dictionary(draft.hosts.map { ($0.host.name, $0.host) }, uniquingKeysWith: { a, _ in a })
        let vmPath = Dictionary(draft.vms.map { ($0.vm.name, $0.path) }, uniquingKeysWith: { a, _ in a })
        // With a host that failed to read, "more members than hosts" would blame the site's size.
        let hostsComplete = !draft.incomplete.contains("hosts")
        let domainsOf = Dictionary(draft.placement.spread.map { l in (l, Set(draft.hosts.compactMap { $0.host.labels[l] })) },
                                   uniquingKeysWith: { a, _ in a })
        let groupPath = groupPaths()
        for g in topo.antiAffinityGroups {
            let anchor = groupPath(g)
            // Pinned members on the same host / failure domain.
            var pinnedOn: [String: String] = [:]
            for m in g.members {
                guard let h = vmsByName[m]?.pinnedHost, hostsByName[h] != nil else { continue }
                if let other = pinnedOn[h] {
                    out.append(diag(.pinnedTogether, "\(vmPath[m] ?? anchor).host", "\(g.name): \(other) and \(m) are both pinned to host \(h)",
                                    hint: "pin one of them to another host, or remove a pin and let the planner split them"))
                } else { pinnedOn[h] = m }
            }
            for label in draft.placement.spread {
                var byValue: [String: String] = [:]
                for (h, m) in pinnedOn.sorted(by: { $0.key < $1.key }) {
                    guard let v = hostsByName[h]?.labels[label] else { continue }
                    if let other = byValue[v] {
                        out.append(diag(.pinnedTogether, "\(vmPath[m] ?? anchor).host", "\(g.name): \(other) and \(m) are pinned into the same \(label) '\(quoted(v))'",
                                        hint: "pin one of them to a host in another \(label)"))
                    } else { byValue[v] = m }
                }
            }
            // More members than places to put them (without hosts, capacityChecks says why).
            guard hostsComplete, !draft.hosts.isEmpty else { continue }
            if g.members.count > draft.hosts.count {
                out.append(diag(.cannotSplit, anchor, "\(g.name) has \(g.members.count) members but the site has only \(draft.hosts.count) host\(draft.hosts.count == 1 ? "" : "s")",
                                hint: "add \(g.members.count - draft.hosts.count) host(s) or shrink the group: its members must run on separate hosts"))
            }
            for label in draft.placement.spread {
                let domains = domainsOf[label] ?? []
                if g.members.count > domains.count {
                    out.append(diag(.cannotSplit, anchor, "\(g.name) has \(g.members.count) members but only \(domains.count) distinct '\(label)' value\(domains.count == 1 ? "" : "s") (\(domains.sorted().joined(separator: ", ")))",
                                    hint: "add hosts in another \(label), or remove \(label) from placement.spread"))
                }
            }
        }
        return out
    }

    /// Where each group's members are listed, looked up by name in O(1) (a site may hold
    /// thousands of services, each an implicit group).
    private func groupPaths() -> (AntiAffinityGroup) -> String {
        func firstPath<T>(_ items: [(path: String, value: T)], _ name: (T) -> String) -> [String: String] {
            Dictionary(items.map { (name($0.value), "\($0.path).members") }, uniquingKeysWith: { a, _ in a })
        }
        let pairs = firstPath(draft.directorPairs.map { ($0.path, $0.pair) }, \.name)
        let services = firstPath(draft.services.map { ($0.path, $0.service) }, \.name)
        let groups = firstPath(draft.groups.map { ($0.path, $0.group) }, \.name)
        return { g in
            switch g.origin {
            case .directors(let n): return pairs[n] ?? "directors"
            case .service(let n): return services[n] ?? "services"
            case .ring: return "database.ring"
            case .declared: return groups[g.name] ?? "anti_affinity"
            }
        }
    }

    /// Pinned VMs that overflow their host, VMs bigger than any host, and a site that is short overall.
    func capacityChecks() -> [Diagnostic] {
        var out: [Diagnostic] = []
        // Without every host, "larger than every host" and "short overall" would blame the site
        // for a host that is only missing because its entry failed.
        guard !draft.incomplete.contains("hosts") else { return out }
        guard !draft.hosts.isEmpty else {
            // A site without a hypervisor inventory (machines and plain real servers) places
            // nothing; VMs without hosts to run on are a mistake, said at the VMs.
            guard !draft.vms.isEmpty else { return out }
            return [diag(.missingKey, "vms", "the site declares \(draft.vms.count) VM\(draft.vms.count == 1 ? "" : "s") but no hosts to place them on",
                         hint: "declare the Xen hosts under `hosts`; or, for machines Tandem does not place, list them under `machines` (directors, ring nodes) and give members an `address:` instead of `vm:`")]
        }
        let maxCPU = draft.hosts.map(\.host.cpus).max() ?? 0, maxMem = draft.hosts.map(\.host.memoryMiB).max() ?? 0
        for (p, v) in draft.vms where v.vcpus > maxCPU || v.memoryMiB > maxMem {
            out.append(diag(.capacityExceeded, p, "VM \(v.name) (\(v.vcpus) vCPU, \(v.memoryMiB) MiB) is larger than every host (largest: \(maxCPU) CPU, \(maxMem) MiB)",
                            hint: "shrink the VM or add a larger host"))
        }
        let pinnedTo = Dictionary(grouping: draft.vms.filter { $0.vm.pinnedHost != nil }, by: { $0.vm.pinnedHost ?? "" })
        for (hp, h) in draft.hosts {
            let pinned = pinnedTo[h.name] ?? []
            let cpu = pinned.map(\.vm.vcpus).reduce(0, +), mem = pinned.map(\.vm.memoryMiB).reduce(0, +)
            if cpu > h.cpus || mem > h.memoryMiB {
                out.append(diag(.capacityExceeded, hp, "host \(h.name) is over capacity with its pinned VMs (\(pinned.map(\.vm.name).joined(separator: ", "))): needs \(cpu) CPU / \(mem) MiB, has \(h.cpus) / \(h.memoryMiB)",
                                hint: "unpin some VMs or give the host more capacity"))
            }
        }
        let needCPU = draft.vms.map(\.vm.vcpus).reduce(0, +), needMem = draft.vms.map(\.vm.memoryMiB).reduce(0, +)
        let haveCPU = draft.hosts.map(\.host.cpus).reduce(0, +), haveMem = draft.hosts.map(\.host.memoryMiB).reduce(0, +)
        if needCPU > haveCPU || needMem > haveMem {
            out.append(diag(.capacityExceeded, "hosts", "the VMs need \(needCPU) CPU / \(needMem) MiB but all hosts together have \(haveCPU) / \(haveMem)",
                            hint: "add hosts or shrink VMs by \(max(0, needCPU - haveCPU)) CPU / \(max(0, needMem - haveMem)) MiB"))
        }
        return out
    }
}

extension TopologyDraft {
    /// What was read, as a topology, even if some entries failed: semantic checks run on it.
    var partialTopology: Topology {
        Topology(site: site ?? "", placement: placement, hosts: hosts.map(\.host), vms: vms.map(\.vm), machines: machines.map(\.machine),
                 services: services.map(\.service), directorPairs: directorPairs.map(\.pair),
                 database: ring?.ring, antiAffinity: groups.map(\.group))
    }
}

extension Topology {
    /// The checks that did not apply to this site, and why: a file without a hypervisor inventory
    /// is not "placement ok", it has nothing to place. `tandemctl validate` prints these.
    public var inapplicableChecks: [String] {
        let plain = services.reduce(0) { $0 + $1.members.filter { $0.vmName == nil }.count }
        if !hasInventory {
            return ["no hosts or VMs: placement, anti-affinity and capacity checks do not apply "
                    + "(a load-balancer-only site: \(machines.count) machine\(machines.count == 1 ? "" : "s") and \(plain) plain real server\(plain == 1 ? "" : "s"), none of them placed)"]
        }
        guard plain > 0 || !machines.isEmpty else { return [] }
        return ["\(machines.count) machine\(machines.count == 1 ? "" : "s") and \(plain) plain real server\(plain == 1 ? "" : "s") are outside the hypervisor inventory: "
                + "they are not placed, and anti-affinity counts only VMs"]
    }
}
