import Fencing
import Foundation
import HostControl
import HostLab
import Hosts
import Hypervisor
import Logging
import Placement

// The lab probe checks VMs for the controller: HostLab (a system edge) cannot import HostControl.
extension NamespaceHTTPProbe: VMProbe {}

/// A lab of three libvirtd hosts with a ``LabSite``'s domains defined and started where its plan
/// puts them (through the real libvirt edge, all at once), every domain answering HTTP, and the
/// product's ``HostControl`` ready to run over them with the lab fence agent and HTTP checks from
/// the lab's switch. What the hypervisor tests and the host drills (`tandem-bench-hosts`) share.
public final class LabRig: @unchecked Sendable {
    // @unchecked Sendable: every stored property is immutable after init (`notes` locks itself).
    /// The lab hosts.
    public let lab: LabHosts
    /// The site its domains make.
    public let site: LabSite
    /// The controller loop.
    public let control: HostControl
    /// The controller's checks of the domains.
    public let probe: NamespaceHTTPProbe
    /// The controller's libvirt connections, one per host.
    public let hosts: [LibvirtHost]
    /// Every note of the controller, as `[kind] host: message`, in order.
    public let notes = LockedLog()
    /// CLOCK_REALTIME (seconds) when each note arrived, parallel to ``notes``.
    public let noteTimes = LockedLog()
    /// CLOCK_REALTIME at the controller's time zero.
    public let wallZero: Double
    /// The domain XML of every VM of the site.
    public let definitions: [String: DomainDefinition]
    /// Per database VM: the password of its user `tandem` (database `lab`).
    public let databasePasswords: [String: String]

    /// Starts the lab (`label` names its state directory) and the site's domains; `fenceDevices`
    /// are the hosts the controller may fence (the others wait for an operator); every domain runs
    /// `gridsvc`, with its default route through `gateway` when given (a director in front).
    /// `databases` adds the site's two database VMs, running mariadbd with their data under the
    /// lab's state directory. Throws, with the lab stopped again, when any step fails.
    public init(pairs: Int, databases: Bool = false, fenceDevices: Set<String> = ["h1", "h2", "h3"], label: String, repoRoot: String,
                gridsvc: String, gateway: String? = nil) async throws {
        let lab = try LabHosts.up(3, label: label, repoRoot: repoRoot, gridsvc: gridsvc)
        do {
            let site = LabSite(pairs: pairs, databases: databases)
            let logger = Logger(label: "tandem.lab.hosts")
            let hosts = lab.hosts.map { LibvirtHost(name: $0, uri: lab.uri($0), keepAlive: KeepAlive(intervalSeconds: 1, count: 2),
                                                    openTimeout: .seconds(2), logger: logger) }
            var definitions: [String: DomainDefinition] = [:]
            var passwords: [String: String] = [:]
            for db in site.databases {
                let dir = lab.stateDir + "/db/" + db
                passwords[db] = try lab.mariadbInit(dir)
                definitions[db] = try lab.mariadbDomain(db, address: site.addresses[db]!, mac: site.macs[db]!, directory: dir, gateway: gateway)
            }
            for vm in site.plan.assignment.keys.sorted() where !site.databases.contains(vm) {
                definitions[vm] = try lab.domain(vm, address: site.addresses[vm]!, mac: site.macs[vm]!, gateway: gateway)
            }
            // Define and start from the plan, through the edge, all at once.
            for host in hosts { try await host.connect() }
            let defs = definitions
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (vm, h) in site.plan.assignment {
                    let host = hosts.first { $0.name == h }!
                    let definition = defs[vm]!
                    group.addTask {
                        try await host.define(definition)
                        try await host.start(domain: vm)
                    }
                }
                try await group.waitForAll()
            }
            let probe = try NamespaceHTTPProbe(namespace: lab.switchNamespace, addresses: site.addresses, databases: Set(site.databases))
            let vms = site.plan.assignment.keys.sorted()
            let healthy = await Self.poll(upTo: .seconds(30)) {
                for vm in vms where await probe.check(vm: vm, timeout: .milliseconds(500)) == false { return false }
                return true
            }
            guard healthy else {
                probe.shutdown()
                throw LabHosts.Unavailable(description: "the lab's domains did not all answer HTTP within 30 s")
            }
            let topology = site.topology
            let config = HostController.Configuration(
                hosts: lab.hosts, fenceDevices: fenceDevices, crossCheckWindow: .seconds(2),
                fenceAttempts: 2, fenceRetryDelay: .milliseconds(500), restoreDeadline: .seconds(20),
                replan: { plan, lost in Planner.replan(topology, current: plan, without: lost) })
            var devices: [String: FenceDevice] = [:]
            for h in fenceDevices { devices[h] = lab.fenceDevice(h) }
            wallZero = wallClockSeconds()
            control = HostControl(controller: HostController(configuration: config, plan: site.plan), hosts: hosts,
                                  fencer: AgentFencer(devices: devices, logger: logger), probe: probe,
                                  definitions: { defs[$0] },
                                  settings: HostControlSettings(checkInterval: .milliseconds(200), checkTimeout: .milliseconds(150),
                                                                reconnectInterval: .milliseconds(500)),
                                  clock: ContinuousClock(), logger: logger)
            self.lab = lab; self.site = site; self.hosts = hosts; self.probe = probe; self.definitions = definitions
            databasePasswords = passwords
        } catch {
            lab.down()
            throw error
        }
    }

    /// Runs the controller loop (as master) while `body` runs, then stops it and the lab.
    public func running<T: Sendable>(_ body: @escaping @Sendable (LabRig) async throws -> T) async throws -> T {
        defer { lab.down() }
        let result = try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await self.control.run(); return nil }
            group.addTask {
                for await n in self.control.notes {
                    self.noteTimes.append("\(wallClockSeconds())")
                    self.notes.append(n.description)
                }
                return nil
            }
            control.setMastership(true)
            let allUp = await Self.poll(upTo: .seconds(20)) { self.control.phases().values.allSatisfy { $0 == .up } }
            guard allUp else {
                group.cancelAll()
                throw LabHosts.Unavailable(description: "hosts not all up: \(self.control.phases())")
            }
            do {
                let value = try await body(self)
                group.cancelAll()
                return value
            } catch { group.cancelAll(); throw error }
        }
        for host in hosts { await host.close() }
        probe.shutdown()
        return result
    }

    /// Controller time (since its zero) of a wall-clock instant.
    public func controllerTime(_ wall: Double) -> Duration { .nanoseconds(Int64((wall - wallZero) * 1e9)) }

    /// Which hosts run `vm` per virsh (asking only `among`: virsh blocks on a stopped libvirtd).
    public func hostsRunning(_ vm: String, among: [String]? = nil) -> [String] {
        (among ?? lab.hosts).filter { lab.running(on: $0).contains(vm) }
    }

    /// The wall-clock time of the first note that starts with `prefix` (`[fencing] h1`), or nil.
    public func firstNote(_ prefix: String) -> (note: String, at: Double)? {
        let all = notes.all, times = noteTimes.all
        guard let i = all.firstIndex(where: { $0.hasPrefix(prefix) }), i < times.count, let t = Double(times[i]) else { return nil }
        return (all[i], t)
    }

    /// The first recovery the controller completes within `within`, or nil.
    public func firstRecovery(within: Duration) async -> HostRecovery? {
        await withTaskGroup(of: HostRecovery?.self) { group in
            group.addTask { for await r in self.control.recoveries { return r }; return nil }
            group.addTask { try? await Task.sleep(for: within); return nil }
            let r = await group.next() ?? nil
            group.cancelAll()
            return r
        }
    }

    /// Injects a fault (`crash h1`, `hang h1`, `partition h1`) and waits (at most `within`) for the
    /// controller to restore redundancy; returns the recovery and the fault's time on the
    /// controller's clock. Throws, with the controller's notes, when no recovery comes.
    public func recovery(after fault: String..., within: Duration = .seconds(30)) async throws -> (HostRecovery, at: Duration) {
        let at = try lab.fault(fault[0], Array(fault.dropFirst()))
        guard let r = await firstRecovery(within: within) else {
            throw LabHosts.Unavailable(description: "no recovery within \(within) of \(fault.joined(separator: " ")); notes:\n"
                                       + notes.all.joined(separator: "\n"))
        }
        return (r, controllerTime(at))
    }

    /// Polls `condition` every 20 ms until it holds or `upTo` passes; whether it held.
    public static func poll(upTo: Duration, _ condition: () async throws -> Bool) async rethrows -> Bool {
        let end = ContinuousClock.now + upTo
        repeat {
            if try await condition() { return true }
            try? await Task.sleep(for: .milliseconds(20))
        } while ContinuousClock.now < end
        return try await condition()
    }
}
