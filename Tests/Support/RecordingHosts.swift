import HostControl
import Hosts
import Synchronization

// Recording doubles of a hypervisor host and a fence device, for the host controller's loop and
// the daemon's wiring of it where libvirt and a power switch cannot run (the real edges are
// HypervisorTests' and FencingTests').

/// A hypervisor host that records what it was asked and keeps its domains in memory: it stands in
/// for libvirt where these tests exercise the loop's wiring (the real edge is HypervisorTests').
public final class RecordingHost: HypervisorHost {
    /// What a start of an unknown domain throws, as libvirt's VIR_ERR_NO_DOMAIN.
    public struct NoDomain: HostCallError, CustomStringConvertible {
        public var name: String
        public var isNoDomain: Bool { true }
        public var description: String { "Domain not found: no domain with matching name '\(name)'" }
    }
    /// What every call throws after ``crash()``.
    public struct Unreachable: Error, CustomStringConvertible { public var description: String { "host unreachable" } }

    public let name: String
    public let events: AsyncStream<HostConnectionEvent>
    private let sink: AsyncStream<HostConnectionEvent>.Continuation
    private struct State {
        var domains: [String: DomainState]
        var calls: [String] = []
        var starts: [(vm: String, at: ContinuousClock.Instant)] = []
        var reachable = true
    }
    private let state: Mutex<State>
    /// Called after a successful start (the test makes the VM answer its checks then).
    public let onStart: @Sendable (String) -> Void
    /// How long a start takes.
    public let startTime: Duration

    /// A host holding `domains`; `onStart` runs after each successful start.
    public init(name: String, domains: [String: DomainState], startTime: Duration = .milliseconds(100), onStart: @escaping @Sendable (String) -> Void) {
        self.name = name; self.onStart = onStart; self.startTime = startTime
        state = Mutex(State(domains: domains))
        (events, sink) = AsyncStream.makeStream()
    }

    /// Every call, in order (`connect`, `list`, `define a1`, `start a1`…; `h1 off` for a fencer).
    public var calls: [String] { state.withLock { $0.calls } }
    /// When each start began.
    public var startTimes: [(vm: String, at: ContinuousClock.Instant)] { state.withLock { $0.starts } }

    /// Someone removes a domain behind the controller's back (no event).
    public func forget(_ vm: String) { state.withLock { _ = $0.domains.removeValue(forKey: vm) } }

    /// The host dies: its connection drops and it no longer answers.
    public func crash() {
        state.withLock { $0.reachable = false; $0.domains = $0.domains.mapValues { _ in .shutOff } }
        sink.yield(.connectionLost(reason: "end of file from libvirtd"))
    }

    private func record(_ call: String) throws {
        try state.withLock { s in
            guard s.reachable else { throw Unreachable() }
            s.calls.append(call)
        }
    }

    public func connect() async throws { try record("connect") }
    public func listDomains() async throws -> [DomainStatus] {
        try record("list")
        return state.withLock { $0.domains.map { DomainStatus(name: $0.key, state: $0.value) }.sorted { $0.name < $1.name } }
    }
    public func define(_ definition: DomainDefinition) async throws {
        try record("define \(definition.name)")
        state.withLock { s in if s.domains[definition.name] == nil { s.domains[definition.name] = .shutOff } }
    }
    public func start(domain: String) async throws {
        try record("start \(domain)")
        guard state.withLock({ $0.domains[domain] }) != nil else { throw NoDomain(name: domain) }
        state.withLock { $0.starts.append((domain, ContinuousClock.now)) }
        try await Task.sleep(for: startTime)
        state.withLock { $0.domains[domain] = .running }
        onStart(domain)
    }
    public func destroy(domain: String) async throws {
        try record("destroy \(domain)")
        state.withLock { $0.domains[domain] = .shutOff }
    }
    public func undefine(domain: String) async throws {
        try record("undefine \(domain)")
        state.withLock { _ = $0.domains.removeValue(forKey: domain) }
    }
    public func close() async { sink.finish() }
}

/// A fence device that records the actions it ran and answers from a script.
public final class RecordingFencer: HostFencer {
    private let log = Mutex<[String]>([])
    private let answer: @Sendable (FenceAction, Int) -> FenceOutcome
    /// A fencer answering `answer(action, run number)`.
    public init(answer: @escaping @Sendable (FenceAction, Int) -> FenceOutcome) { self.answer = answer }
    /// Every call, in order (`connect`, `list`, `define a1`, `start a1`…; `h1 off` for a fencer).
    public var calls: [String] { log.withLock { $0 } }
    public func fence(host: String, action: FenceAction) async -> FenceOutcome {
        let n = log.withLock { l -> Int in l.append("\(host) \(action.rawValue)"); return l.count }
        return answer(action, n)
    }
}

