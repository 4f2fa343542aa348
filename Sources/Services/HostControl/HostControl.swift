import Fencing
import Hosts
import Logging
import Net
import Placement
import ServiceLifecycle
import Synchronization

/// Checks one VM now: the cross-check of a lost host, and the regular watch of every VM.
public protocol VMProbe: Sendable {
    /// True if `vm` passed one check within `timeout`.
    func check(vm: String, timeout: Duration) async -> Bool
}

/// Powers hosts off (and reports their power state) for the controller.
public protocol HostFencer: Sendable {
    /// Runs `action` against `host`'s fence device.
    func fence(host: String, action: FenceAction) async -> FenceOutcome
}

/// The real fencer: each host's fence device, run through ``FenceAgentRunner``.
public struct AgentFencer: HostFencer {
    /// Fence device per host name.
    public var devices: [String: FenceDevice]
    private let runner: FenceAgentRunner

    /// Creates a fencer; hosts without a device cannot be fenced (the controller waits for an operator).
    public init(devices: [String: FenceDevice], logger: Logger) {
        self.devices = devices; runner = FenceAgentRunner(logger: logger)
    }

    /// Runs the host's agent; a host without a device fails (the controller never asks for one).
    public func fence(host: String, action: FenceAction) async -> FenceOutcome {
        guard let device = devices[host] else { return .failed(reason: "host \(host) has no fence device") }
        return await runner.run(action, device: device, host: host).outcome
    }
}

/// Timing of the loop around the controller.
public struct HostControlSettings: Sendable {
    /// How often every VM of the plan is checked (the regular health signal); `nil` when the
    /// verdicts come from outside through ``HostControl/report(vm:passing:)`` (tandemd's own checks),
    /// so that each VM is not checked twice. The cross-check of a lost host and the watch of a
    /// restarted VM run either way.
    public var checkInterval: Duration?
    /// Bound on one check.
    public var checkTimeout: Duration
    /// Pause between attempts to reopen a lost host's connection.
    public var reconnectInterval: Duration
    /// After a restart, the VM is checked this often until it passes (or ``startupWatch`` ends),
    /// so "healthy" is known when the service answers, not at the next regular check.
    public var startupCheckInterval: Duration
    /// How long a restarted VM is watched that closely.
    public var startupWatch: Duration

    /// Creates settings.
    public init(checkInterval: Duration? = .milliseconds(500), checkTimeout: Duration = .milliseconds(250),
                reconnectInterval: Duration = .seconds(1), startupCheckInterval: Duration = .milliseconds(25),
                startupWatch: Duration = .seconds(30)) {
        self.checkInterval = checkInterval; self.checkTimeout = checkTimeout; self.reconnectInterval = reconnectInterval
        self.startupCheckInterval = startupCheckInterval; self.startupWatch = startupWatch
    }
}

/// Runs the ``HostController`` against real hosts: watches every host's connection and domain
/// events, checks every VM, executes the controller's actions (probes, fences, starts, destroys,
/// undefines, timers) concurrently, and feeds their results back as events, one at a time.
///
/// It is a `Service`: ``run()`` lasts until cancelled or graceful shutdown. Tandem's daemon runs it
/// on both directors; only the pair's master acts (``setMastership(_:)``).
public final class HostControl: Service, Sendable {
    private let hosts: [String: any HypervisorHost]
    private let fencer: any HostFencer
    private let probe: any VMProbe
    private let definitions: @Sendable (String) -> DomainDefinition?
    private let settings: HostControlSettings
    private let logger: Logger
    private let now: @Sendable () -> Duration
    private let sleepUntil: @Sendable (Duration) async throws -> Void
    private let controller: Mutex<HostController>
    private let timers = Mutex<[HostTimer: UInt64]>([:])
    /// The domains each host has defined, as its listings, its events and our own defines said:
    /// a start on a host that knows the domain is one call instead of three.
    private let defined = Mutex<[String: Set<String>]>([:])
    private let timerSerial = Atomic<UInt64>(0)
    private let inbox: AsyncStream<@Sendable (Duration) -> HostController.Event>
    private let send: AsyncStream<@Sendable (Duration) -> HostController.Event>.Continuation
    /// Every completed recovery, in order.
    public let recoveries: AsyncStream<HostRecovery>
    private let recovered: AsyncStream<HostRecovery>.Continuation
    /// Every note the controller made, in order (what `/status` and drills read).
    public let notes: AsyncStream<HostNote>
    private let noted: AsyncStream<HostNote>.Continuation

    /// Creates the loop. `definitions` gives the domain XML of a VM (for a start on a host that
    /// does not have it defined); `clock` times checks, reconnects and the controller's timers.
    public init<C: Clock & Sendable>(controller: HostController, hosts: [any HypervisorHost], fencer: any HostFencer,
                                     probe: any VMProbe, definitions: @escaping @Sendable (String) -> DomainDefinition?,
                                     settings: HostControlSettings = .init(), clock: C, logger: Logger) where C.Duration == Duration {
        self.hosts = Dictionary(hosts.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        self.fencer = fencer; self.probe = probe; self.definitions = definitions
        self.settings = settings; self.logger = logger
        self.controller = Mutex(controller)
        let start = clock.now
        now = { start.duration(to: clock.now) }
        sleepUntil = { d in try await clock.sleep(until: start.advanced(by: d), tolerance: nil) }
        (inbox, send) = AsyncStream.makeStream(bufferingPolicy: .unbounded)
        (recoveries, recovered) = AsyncStream.makeStream(bufferingPolicy: .unbounded)
        (notes, noted) = AsyncStream.makeStream(bufferingPolicy: .unbounded)
    }

    /// Tells the controller whether this director is the pair's master.
    public func setMastership(_ isMaster: Bool) { send.yield { .mastership(isMaster: isMaster, now: $0) } }
    /// An operator confirmed `host` is off (`tandemctl hosts confirm-off`).
    public func confirmOff(host: String) { send.yield { .operatorConfirmedOff(host: host, now: $0) } }
    /// A real server entered (or left) service in IPVS.
    public func report(vm: String, inIPVS: Bool) { send.yield { .vmInIPVS(vm: vm, inService: inIPVS, now: $0) } }
    /// A health verdict from outside (the daemon's rise/fall checks).
    public func report(vm: String, passing: Bool) { send.yield { .vmHealth(vm: vm, passing: passing, now: $0) } }

    /// The controller's phase of every host.
    public func phases() -> [String: HostPhase] {
        controller.withLock { c in Dictionary(uniqueKeysWithValues: c.configuration.hosts.map { ($0, c.phase(of: $0) ?? .unknown) }) }
    }
    /// Where every VM runs now.
    public func plan() -> PlacementPlan { controller.withLock { $0.plan } }
    /// Where every host stands now (phase, connection, last loss).
    public func standings() -> [String: HostStanding] {
        controller.withLock { c in
            Dictionary(uniqueKeysWithValues: c.configuration.hosts.compactMap { h in c.standing(of: h).map { (h, $0) } })
        }
    }
    /// Whether the controller acts (this director is the pair's master, as last told).
    public var isMaster: Bool { controller.withLock { $0.isMaster } }

    /// Runs until cancelled or graceful shutdown.
    public func run() async throws {
        await withDiscardingTaskGroup { group in
            for host in hosts.values {
                let lost = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
                group.addTask { await self.forwardEvents(of: host, lost: lost.continuation) }
                group.addTask { await self.keepConnected(host, lost: lost.stream) }
            }
            group.addTask { await self.checkEveryVM() }
            for await input in inbox.cancelOnGracefulShutdown() {
                let event = input(now())
                let actions = controller.withLock { $0.on(event) }
                for action in actions { execute(action, in: &group) }
            }
            group.cancelAll()
        }
        recovered.finish()
        noted.finish()
    }

    // MARK: - Hosts

    /// Forwards a host's connection and domain events to the controller.
    private func forwardEvents(of host: any HypervisorHost, lost: AsyncStream<Void>.Continuation) async {
        let name = host.name
        for await event in host.events {
            switch event {
            case .connectionLost(let reason):
                send.yield { .connectionLost(host: name, reason: reason, now: $0) }
                lost.yield()
            case .domain(let domain, let lifecycle):
                if lifecycle == .defined { defined.withLock { _ = $0[name, default: []].insert(domain) } }
                if lifecycle == .undefined { defined.withLock { _ = $0[name]?.remove(domain) } }
                let state: DomainState = lifecycle == .undefined ? .shutOff : (lifecycle.resultingState ?? .running)
                if lifecycle.resultingState != nil || lifecycle == .undefined {
                    send.yield { .domainChanged(host: name, domain: domain, state: state, now: $0) }
                }
            }
            if Task.isCancelled { break }
        }
        lost.finish()
    }

    /// Opens the host's connection, reports it with its domains, waits for its loss, and reopens
    /// it every ``HostControlSettings/reconnectInterval`` until it answers again.
    private func keepConnected(_ host: any HypervisorHost, lost: AsyncStream<Void>) async {
        let name = host.name
        var losses = lost.makeAsyncIterator()
        while !Task.isCancelled {
            do {
                try await host.connect()
                let domains = try await host.listDomains()
                defined.withLock { $0[name] = Set(domains.map(\.name)) }
                send.yield { .connected(host: name, domains: domains, now: $0) }
                guard await losses.next() != nil else { return }
            } catch {
                send.yield { .connectionLost(host: name, reason: "\(error)", now: $0) }
            }
            do { try await sleepUntil(now() + settings.reconnectInterval) } catch { return }
        }
    }

    // MARK: - Checks

    /// Checks every VM of the plan once per interval, all at once, and reports each verdict.
    private func checkEveryVM() async {
        guard let interval = settings.checkInterval else { return }
        var next = now()
        while !Task.isCancelled {
            let vms = plan().assignment.keys.sorted()
            await withDiscardingTaskGroup { group in
                for vm in vms {
                    group.addTask {
                        let ok = await self.probe.check(vm: vm, timeout: self.settings.checkTimeout)
                        self.send.yield { .vmHealth(vm: vm, passing: ok, now: $0) }
                    }
                }
            }
            next = max(next + interval, now())
            do { try await sleepUntil(next) } catch { return }
        }
    }

    // MARK: - Actions

    private func execute(_ action: HostController.Action, in group: inout DiscardingTaskGroup) {
        switch action {
        case .probe(_, let vms):
            for vm in vms {
                group.addTask {
                    let ok = await self.probe.check(vm: vm, timeout: self.settings.checkTimeout)
                    self.send.yield { .vmHealth(vm: vm, passing: ok, now: $0) }
                }
            }
        case .fence(let host, let fenceAction):
            group.addTask {
                let outcome = await self.fencer.fence(host: host, action: fenceAction)
                self.send.yield { .fenceFinished(host: host, action: fenceAction, outcome: outcome, now: $0) }
            }
        case .startVM(let vm, let h):
            group.addTask { await self.start(vm, on: h) }
        case .destroyVM(let vm, let h):
            group.addTask { await self.call("destroy", vm, on: h) { try await $0.destroy(domain: vm) } }
        case .undefineVM(let vm, let h):
            group.addTask { await self.call("undefine", vm, on: h) { try await $0.undefine(domain: vm) } }
        case .adoptPlan(let plan):
            logger.info("placement changed", metadata: ["plan": "\(plan.assignment.sorted { $0.key < $1.key }.map { "\($0.key)@\($0.value)" }.joined(separator: " "))"])
        case .setTimer(let timer, let deadline):
            let serial = timerSerial.add(1, ordering: .relaxed).newValue
            timers.withLock { $0[timer] = serial }
            group.addTask {
                do { try await self.sleepUntil(deadline) } catch { return }
                // Only the latest setting of a timer fires, and not after it was cancelled.
                guard self.timers.withLock({ t in t[timer] == serial ? t.removeValue(forKey: timer) : nil }) != nil else { return }
                self.send.yield { .timerFired(timer, now: $0) }
            }
        case .cancelTimer(let timer):
            timers.withLock { _ = $0.removeValue(forKey: timer) }
        case .note(let note):
            logger.info("\(note.message)", metadata: ["host": "\(note.host)", "step": "\(note.kind.rawValue)"])
            noted.yield(note)
        case .restored(let recovery):
            logger.notice("redundancy restored", metadata: ["host": "\(recovery.host)", "timeline": "\(recovery.summary)"])
            recovered.yield(recovery)
        }
    }

    /// Starts `vm` on `h`; defines it there first when the host does not know it. Then checks it
    /// closely until it passes, so its health is known as soon as it serves.
    private func start(_ vm: String, on h: String) async {
        guard let host = hosts[h] else {
            send.yield { .vmStartFailed(vm: vm, host: h, reason: "no such host", now: $0) }
            return
        }
        func define() async throws -> Bool {
            guard let definition = definitions(vm) else {
                send.yield { .vmStartFailed(vm: vm, host: h, reason: "\(vm) is not defined on \(h) and Tandem has no domain definition for it", now: $0) }
                return false
            }
            try await host.define(definition)
            defined.withLock { _ = $0[h, default: []].insert(vm) }
            return true
        }
        do {
            if defined.withLock({ $0[h]?.contains(vm) }) != true { guard try await define() else { return } }
            do {
                try await host.start(domain: vm)
            } catch let e where Self.isNoDomain(e) {
                // Our picture of the host was stale: it does not have the domain after all.
                guard try await define() else { return }
                try await host.start(domain: vm)
            }
            send.yield { .vmStarted(vm: vm, host: h, now: $0) }
        } catch {
            send.yield { .vmStartFailed(vm: vm, host: h, reason: "\(error)", now: $0) }
            return
        }
        let until = now() + settings.startupWatch
        while now() < until, !Task.isCancelled {
            if await probe.check(vm: vm, timeout: settings.checkTimeout) {
                send.yield { .vmHealth(vm: vm, passing: true, now: $0) }
                return
            }
            do { try await sleepUntil(now() + settings.startupCheckInterval) } catch { return }
        }
    }

    /// Whether a host call failed because the domain does not exist there.
    static func isNoDomain(_ error: any Error) -> Bool {
        (error as? any HostCallError)?.isNoDomain == true
    }

    private func call(_ what: String, _ vm: String, on h: String, _ body: @Sendable (any HypervisorHost) async throws -> Void) async {
        guard let host = hosts[h] else { return }
        do {
            try await body(host)
        } catch where Self.isNoDomain(error) {
            // Already gone: what the action wanted.
        } catch {
            logger.warning("\(what) of a stale domain failed", metadata: ["host": "\(h)", "vm": "\(vm)", "error": "\(error)"])
        }
    }
}
