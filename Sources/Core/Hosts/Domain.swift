/// A domain's state as the hypervisor reports it (libvirt's `virDomainState`, same numbering).
public enum DomainState: Int, Sendable, Equatable, Hashable, Codable, CaseIterable, CustomStringConvertible {
    /// The hypervisor reports no state.
    case noState = 0
    /// Running.
    case running = 1
    /// Blocked on a resource (still alive: it counts as running).
    case blocked = 2
    /// Paused by the hypervisor or a user.
    case paused = 3
    /// Being shut down.
    case shuttingDown = 4
    /// Defined but not running.
    case shutOff = 5
    /// Crashed.
    case crashed = 6
    /// Suspended by guest power management.
    case suspended = 7

    /// True when a copy of the VM exists in memory: it may serve (or wake up and serve) clients,
    /// so a second copy elsewhere would run twice.
    public var isAlive: Bool {
        switch self {
        case .running, .blocked, .paused, .shuttingDown, .suspended: true
        case .noState, .shutOff, .crashed: false
        }
    }

    /// The state as `virsh domstate` prints it.
    public var description: String {
        switch self {
        case .noState: "no state"
        case .running: "running"
        case .blocked: "blocked"
        case .paused: "paused"
        case .shuttingDown: "in shutdown"
        case .shutOff: "shut off"
        case .crashed: "crashed"
        case .suspended: "pmsuspended"
        }
    }
}

/// One domain of a host, as listed by the hypervisor.
public struct DomainStatus: Sendable, Equatable, Hashable, Codable, CustomStringConvertible {
    /// The domain's name; Tandem names a VM's domain after the VM.
    public var name: String
    /// Its state.
    public var state: DomainState
    /// Defined (persistent) rather than transient.
    public var persistent: Bool
    /// Started by the hypervisor when it boots.
    public var autostart: Bool

    /// Creates a status.
    public init(name: String, state: DomainState, persistent: Bool = true, autostart: Bool = false) {
        self.name = name; self.state = state; self.persistent = persistent; self.autostart = autostart
    }

    /// `vm1 running`.
    public var description: String { "\(name) \(state)" }
}

/// What a host needs to define a domain: its name and the hypervisor's XML for it.
public struct DomainDefinition: Sendable, Equatable {
    /// The domain's name (it must match the `<name>` in ``xml``).
    public var name: String
    /// The libvirt domain XML.
    public var xml: String

    /// Creates a definition.
    public init(name: String, xml: String) { self.name = name; self.xml = xml }
}

/// A domain lifecycle event (libvirt's `virDomainEventType`, same numbering).
public enum DomainLifecycle: Int, Sendable, Equatable, Codable, CustomStringConvertible {
    /// Defined (or its definition updated).
    case defined = 0
    /// Undefined.
    case undefined = 1
    /// Started.
    case started = 2
    /// Suspended (paused).
    case suspended = 3
    /// Resumed.
    case resumed = 4
    /// Stopped (destroyed, shut down, crashed, failed to start).
    case stopped = 5
    /// The guest began or finished shutting down.
    case shutdown = 6
    /// Suspended by guest power management.
    case pmSuspended = 7
    /// The guest crashed.
    case crashed = 8

    /// The state a domain is in after this event, when the event alone says it.
    public var resultingState: DomainState? {
        switch self {
        case .started, .resumed: .running
        case .suspended: .paused
        case .stopped: .shutOff
        case .pmSuspended: .suspended
        case .crashed: .crashed
        case .defined, .undefined, .shutdown: nil
        }
    }

    /// The name, as libvirt's documentation spells the event.
    public var description: String {
        switch self {
        case .defined: "defined"
        case .undefined: "undefined"
        case .started: "started"
        case .suspended: "suspended"
        case .resumed: "resumed"
        case .stopped: "stopped"
        case .shutdown: "shutdown"
        case .pmSuspended: "pmsuspended"
        case .crashed: "crashed"
        }
    }
}
