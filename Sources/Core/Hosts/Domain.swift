/// A domain's state as the hypervisor reports it (libvirt's `virDomainState`; the edge maps the
/// numbers). The raw value is the state as `virsh domstate` prints it.
public enum DomainState: String, Sendable, Equatable, Hashable, Codable, CaseIterable, CustomStringConvertible {
    /// The hypervisor reports no state.
    case noState = "no state"
    /// Running.
    case running
    /// Blocked on a resource (still alive: it counts as running).
    case blocked
    /// Paused by the hypervisor or a user.
    case paused
    /// Being shut down.
    case shuttingDown = "in shutdown"
    /// Defined but not running.
    case shutOff = "shut off"
    /// Crashed.
    case crashed
    /// Suspended by guest power management.
    case suspended = "pmsuspended"

    /// True when a copy of the VM exists in memory: it may serve (or wake up and serve) clients,
    /// so a second copy elsewhere would run twice.
    public var isAlive: Bool {
        switch self {
        case .running, .blocked, .paused, .shuttingDown, .suspended: true
        case .noState, .shutOff, .crashed: false
        }
    }

    /// `shut off`.
    public var description: String { rawValue }
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

/// A domain lifecycle event (libvirt's `virDomainEventType`; the edge maps the numbers). The raw
/// value is the event's name in libvirt's documentation.
public enum DomainLifecycle: String, Sendable, Equatable, Codable, CustomStringConvertible {
    /// Defined (or its definition updated).
    case defined
    /// Undefined.
    case undefined
    /// Started.
    case started
    /// Suspended (paused).
    case suspended
    /// Resumed.
    case resumed
    /// Stopped (destroyed, shut down, crashed, failed to start).
    case stopped
    /// The guest began or finished shutting down.
    case shutdown
    /// Suspended by guest power management.
    case pmSuspended = "pmsuspended"
    /// The guest crashed.
    case crashed

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

    /// `started`.
    public var description: String { rawValue }
}
