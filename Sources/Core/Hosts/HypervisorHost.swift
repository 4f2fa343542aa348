/// What the host controller needs from one hypervisor host, whatever drives it (libvirt over
/// `xen:///`, `qemu+ssh://`, `lxc:///`; a recording double in tests).
///
/// Every method may block on the network or the hypervisor, so implementations keep that off
/// Swift's cooperative pool; every failure is thrown with the hypervisor's own message.
public protocol HypervisorHost: AnyObject, Sendable {
    /// The host's name in the topology.
    var name: String { get }
    /// Opens the connection to the host (a no-op when it is open); throws when the host cannot be
    /// reached. After a ``HostConnectionEvent/connectionLost(reason:)`` call it again to reconnect.
    func connect() async throws
    /// Connection and domain lifecycle events, in the order they happened, until ``close()``.
    /// There is one stream per host object; it is meant for one consumer.
    var events: AsyncStream<HostConnectionEvent> { get }
    /// Every domain of the host (running or only defined) with its state.
    func listDomains() async throws -> [DomainStatus]
    /// Defines (or redefines) a persistent domain; it does not start it, and it is not set to
    /// start when the host boots.
    func define(_ definition: DomainDefinition) async throws
    /// Starts a defined domain.
    func start(domain: String) async throws
    /// Stops a domain at once (the hypervisor's power-off; its definition stays).
    func destroy(domain: String) async throws
    /// Removes a domain's definition (a running domain keeps running until destroyed).
    func undefine(domain: String) async throws
    /// Closes the connection and finishes ``events``.
    func close() async
}

/// What a host's connection reports on its own.
public enum HostConnectionEvent: Sendable, Equatable {
    /// The connection closed: the peer went away, keepalive found it silent, or an error. After
    /// this, calls fail until ``HypervisorHost/connect()`` succeeds again.
    case connectionLost(reason: String)
    /// A domain changed state.
    case domain(name: String, DomainLifecycle)
}

/// What the controller's loop needs to know about a failed host call, whatever the edge.
public protocol HostCallError: Error {
    /// The domain does not exist on that host (a start needs a define first; a destroy or an
    /// undefine found nothing to do).
    var isNoDomain: Bool { get }
}
