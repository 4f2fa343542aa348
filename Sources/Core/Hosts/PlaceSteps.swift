/// What `tandemctl place` does to make the hosts run the placement plan: the steps (define,
/// start, and with `--move` destroy), each with its reason, and what it leaves alone or cannot do.
///
/// Derived from ``HostInventory`` (the comparison `tandemctl hosts status` prints), so the two
/// commands never disagree about what differs. The rules, safest first:
/// - a VM that runs once, on its planned host, is left alone, whatever its definition says: a
///   site's existing domains are adopted by name, never redefined or restarted;
/// - a VM that runs nowhere is defined (only when its planned host has no domain of that name and
///   the topology says how, `vms[].domain`) and started on its planned host;
/// - a VM that runs elsewhere, or twice, is reported and left alone; with `move`, its copies off
///   the planned host are destroyed first and only then is it started there, so that two copies
///   (same MAC and address) never run at once, even for a moment;
/// - nothing is done where the planned host could not be looked at.
public struct PlaceSteps: Sendable, Equatable, Codable {
    /// One action on one host.
    public struct Step: Sendable, Equatable, Codable, CustomStringConvertible {
        /// What to do with the domain.
        public enum Action: String, Sendable, Equatable, Codable {
            /// Define the domain from the topology (`vms[].domain`).
            case define
            /// Start the defined domain.
            case start
            /// Stop the domain at once (only with `--move`).
            case destroy
        }
        /// The VM (its domain's name).
        public var vm: String
        /// The host to act on.
        public var host: String
        /// What to do.
        public var action: Action
        /// Why, for the operator.
        public var reason: String

        /// `start v1 on h1: defined on h1 but shut off`.
        public var description: String { "\(action.rawValue) \(vm) on \(host): \(reason)" }
    }

    /// Something `place` leaves alone or cannot do.
    public struct Note: Sendable, Equatable, Codable, CustomStringConvertible {
        /// The VM or host it is about.
        public var subject: String
        /// What and why.
        public var text: String
        /// True when the plan needs something `place` could not do (the hosts will still differ
        /// from the plan); false for what it leaves alone on purpose.
        public var blocking: Bool

        /// `v2: runs on h1; … (left alone: use --move to move it)`.
        public var description: String { text }
    }

    /// Every step, grouped by VM (VMs in name order), each VM's in the order they must run.
    public var steps: [Step]
    /// What is left alone or cannot be done.
    public var notes: [Note]

    /// The steps that make the hosts of `inventory` run `plan` (VM → host). `definable` names the
    /// VMs whose domain the topology can define.
    public static func plan(inventory: HostInventory, plan: [String: String], definable: Set<String>, move: Bool) -> PlaceSteps {
        var steps: [Step] = [], notes: [Note] = []
        var defined: [String: Set<String>] = [:]     // host → names of its domains
        var looked = Set<String>()                   // hosts that answered
        for h in inventory.hosts where h.connection == "ok" {
            looked.insert(h.name)
            defined[h.name] = Set(h.domains.map(\.name))
        }
        /// Define (when needed and possible) and start `vm` on `host`, or note why it cannot.
        func bringUp(_ vm: String, on host: String, reason: String) {
            guard looked.contains(host) else {
                notes.append(Note(subject: vm, text: "\(vm): not started: its planned host \(host) could not be looked at", blocking: true))
                return
            }
            if defined[host]?.contains(vm) != true {
                guard definable.contains(vm) else {
                    notes.append(Note(subject: vm, text: "\(vm): cannot be defined on \(host): the topology gives no `domain:` for it "
                                      + "(add vms[].domain, or define it there yourself)", blocking: true))
                    return
                }
                steps.append(Step(vm: vm, host: host, action: .define, reason: reason))
            }
            steps.append(Step(vm: vm, host: host, action: .start, reason: reason))
        }
        /// With `move`: destroy the copies off the planned host, then bring one up there. Without:
        /// report, touch nothing.
        func relocate(_ vm: String, planned: String, copies: [String], difference: String) {
            let stray = copies.filter { $0 != planned }
            guard move else {
                notes.append(Note(subject: vm, text: "\(difference) (left alone: `--move` stops the stray cop\(stray.count == 1 ? "y" : "ies") and starts it on \(planned))",
                                  blocking: false))
                return
            }
            let keepsOne = copies.contains(planned)
            // Never destroy a copy unless one will run where the plan says: check first.
            guard keepsOne || (looked.contains(planned) && (defined[planned]?.contains(vm) == true || definable.contains(vm))) else {
                notes.append(Note(subject: vm, text: "\(difference); not moved: it cannot be started on \(planned) "
                                  + (looked.contains(planned) ? "(no `domain:` in the topology and not defined there)" : "(not looked at)"), blocking: true))
                return
            }
            for host in stray {
                steps.append(Step(vm: vm, host: host, action: .destroy, reason: "\(difference); --move"))
            }
            if !keepsOne { bringUp(vm, on: planned, reason: "\(difference); --move") }
        }
        for difference in inventory.differences {
            switch difference {
            case .missing(let vm, let planned):
                bringUp(vm, on: planned, reason: "\(difference)")
            case .notRunning(let vm, let host, _):
                steps.append(Step(vm: vm, host: host, action: .start, reason: "\(difference)"))
            case .elsewhere(let vm, let planned, let on):
                relocate(vm, planned: planned, copies: [on], difference: "\(difference)")
            case .runningTwice(let vm, let hosts):
                relocate(vm, planned: plan[vm] ?? "", copies: hosts, difference: "\(difference)")
            case .unknownHost(let host, _, _):
                notes.append(Note(subject: host, text: "\(difference)", blocking: true))
            }
        }
        return PlaceSteps(steps: steps, notes: notes)
    }

    /// The steps of each VM, VMs in the order their first step appears: a VM's steps run in order,
    /// different VMs' in parallel.
    public var byVM: [(vm: String, steps: [Step])] {
        var order: [String] = [], groups: [String: [Step]] = [:]
        for s in steps {
            if groups[s.vm] == nil { order.append(s.vm) }
            groups[s.vm, default: []].append(s)
        }
        return order.map { ($0, groups[$0]!) }
    }

    /// True when the plan needs something that cannot be done.
    public var blocked: Bool { notes.contains(where: \.blocking) }

    /// One line per step, then the notes, then the count: what `place --dry-run` prints.
    public func render() -> String {
        var lines = steps.map(\.description)
        lines += notes.map { "note: \($0)" }
        lines.append("\(steps.count) step\(steps.count == 1 ? "" : "s")")
        return lines.joined(separator: "\n")
    }
}
