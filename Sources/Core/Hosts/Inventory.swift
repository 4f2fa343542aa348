/// What one look at a host found: its domains, or why there are none to show.
public enum HostObservation: Sendable, Equatable {
    /// The hypervisor answered with these domains.
    case domains([DomainStatus])
    /// The hypervisor could not be reached or listed; the reason as the edge reported it.
    case unreachable(String)
    /// The topology gives no way to reach this host (no `libvirt:` URI).
    case notConfigured
}

/// The hosts as their hypervisors report them, beside the placement plan, and every difference
/// between the two: what `tandemctl hosts status` prints. Pure: the observations come in, the
/// report goes out.
public struct HostInventory: Sendable, Equatable, Codable {
    /// One host and what it runs.
    public struct Host: Sendable, Equatable, Codable {
        /// The host's name in the topology.
        public var name: String
        /// `ok`, `unreachable: …` or `no libvirt URI`.
        public var connection: String
        /// Its domains, as listed (empty when it could not be looked at).
        public var domains: [Domain]
    }

    /// One domain of a host.
    public struct Domain: Sendable, Equatable, Codable {
        /// Its name (a VM's domain carries the VM's name).
        public var name: String
        /// Its state as libvirt reports it.
        public var state: DomainState
        /// Where the plan puts the VM of this name; nil when the topology has no such VM.
        public var plannedHost: String?
    }

    /// A way in which the hosts do not match the plan.
    public enum Difference: Sendable, Equatable, Codable, CustomStringConvertible {
        /// A VM of the plan runs nowhere, and its planned host could be looked at.
        case missing(vm: String, plannedHost: String)
        /// A VM's domain exists on its planned host but is not running.
        case notRunning(vm: String, host: String, state: DomainState)
        /// A VM runs, but not on the host the plan puts it on.
        case elsewhere(vm: String, plannedHost: String, runningOn: String)
        /// A VM runs on more than one host at once: two copies serve clients.
        case runningTwice(vm: String, hosts: [String])
        /// A host could not be looked at: whether its planned VMs run is unknown.
        case unknownHost(host: String, reason: String, plannedVMs: [String])

        /// One line for an operator.
        public var description: String {
            switch self {
            case .missing(let vm, let host): "\(vm): runs nowhere; the plan puts it on \(host)"
            case .notRunning(let vm, let host, let state): "\(vm): defined on \(host) but \(state)"
            case .elsewhere(let vm, let planned, let on): "\(vm): runs on \(on); the plan puts it on \(planned)"
            case .runningTwice(let vm, let hosts): "\(vm): runs on \(hosts.count) hosts at once (\(hosts.joined(separator: ", ")))"
            case .unknownHost(let host, let reason, let vms):
                "\(host): not looked at (\(reason)); unknown whether \(vms.isEmpty ? "anything" : vms.joined(separator: ", ")) runs there"
            }
        }
    }

    /// Every host, in the topology's order.
    public var hosts: [Host]
    /// Every difference, VMs in the plan's name order, then hosts that could not be looked at.
    public var differences: [Difference]

    /// True when every host was looked at and every VM runs once, where the plan puts it.
    public var matchesPlan: Bool { differences.isEmpty }

    /// Compares `plan` (VM → host) with what each host of `hostOrder` was observed to run.
    /// A host missing from `observed` counts as ``HostObservation/notConfigured``.
    public static func compare(plan: [String: String], hostOrder: [String], observed: [String: HostObservation]) -> HostInventory {
        var hosts: [Host] = []
        var alive: [String: [String]] = [:]          // VM → hosts where a live copy runs
        var stopped: [String: [String: DomainState]] = [:]  // VM → host → state of a copy that does not run
        var blind: [String: String] = [:]            // host → why it was not looked at
        for name in hostOrder {
            switch observed[name] ?? .notConfigured {
            case .domains(let list):
                let domains = list.sorted { $0.name < $1.name }
                hosts.append(Host(name: name, connection: "ok",
                                  domains: domains.map { Domain(name: $0.name, state: $0.state, plannedHost: plan[$0.name]) }))
                for d in domains {
                    if d.state.isAlive { alive[d.name, default: []].append(name) } else { stopped[d.name, default: [:]][name] = d.state }
                }
            case .unreachable(let why):
                blind[name] = "unreachable: \(why)"
                hosts.append(Host(name: name, connection: "unreachable: \(why)", domains: []))
            case .notConfigured:
                blind[name] = "no libvirt URI"
                hosts.append(Host(name: name, connection: "no libvirt URI", domains: []))
            }
        }
        var differences: [Difference] = []
        for vm in plan.keys.sorted() {
            let planned = plan[vm]!
            let running = alive[vm] ?? []
            if running.count > 1 {
                differences.append(.runningTwice(vm: vm, hosts: running))
            } else if let on = running.first {
                if on != planned { differences.append(.elsewhere(vm: vm, plannedHost: planned, runningOn: on)) }
            } else if blind[planned] != nil {
                continue  // reported once per host below
            } else if let state = stopped[vm]?[planned] {
                differences.append(.notRunning(vm: vm, host: planned, state: state))
            } else {
                differences.append(.missing(vm: vm, plannedHost: planned))
            }
        }
        for name in hostOrder {
            guard let why = blind[name] else { continue }
            let vms = plan.filter { $0.value == name && (alive[$0.key] ?? []).isEmpty }.keys.sorted()
            differences.append(.unknownHost(host: name, reason: why, plannedVMs: vms))
        }
        return HostInventory(hosts: hosts, differences: differences)
    }

    /// The report as text: one block per host, then the differences.
    public func render() -> String {
        var lines: [String] = []
        for h in hosts {
            lines.append("\(h.name): \(h.connection)")
            for d in h.domains {
                let plan = d.plannedHost.map { $0 == h.name ? "planned here" : "planned on \($0)" } ?? "not in the topology"
                lines.append("  \(d.name)  \(d.state)  (\(plan))")
            }
            if h.connection == "ok" && h.domains.isEmpty { lines.append("  (no domains)") }
        }
        lines.append("")
        if differences.isEmpty {
            lines.append("every VM runs once, where the plan puts it")
        } else {
            lines.append("\(differences.count) difference\(differences.count == 1 ? "" : "s") from the plan:")
            lines += differences.map { "  \($0)" }
        }
        return lines.joined(separator: "\n")
    }
}
