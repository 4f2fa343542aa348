import Hosts
import Logging
import Synchronization

/// A hypervisor host driven through libvirt: the ``HypervisorHost`` the host controller uses.
///
/// It holds at most one ``HypervisorConnection`` at a time. When libvirt reports the connection
/// lost (EOF, keepalive, I/O error) the connection is dropped, ``events`` says so, and calls fail
/// with ``LibvirtError/Code/notConnected`` until ``connect()`` succeeds again.
public final class LibvirtHost: HypervisorHost {
    /// The host's name in the topology.
    public let name: String
    /// The libvirt URI, e.g. `xen+ssh://root@xen3/system` or `lxc:///system?socket=/…/libvirt-sock`.
    public let uri: String
    /// Keepalive of every connection.
    public let keepAlive: KeepAlive
    /// Bound on opening a connection (a hung libvirtd accepts the socket but never answers).
    public let openTimeout: Duration
    /// Calls that may run at once on one connection.
    public let threads: Int
    /// Connection and lifecycle events.
    public let events: AsyncStream<HostConnectionEvent>
    private let continuation: AsyncStream<HostConnectionEvent>.Continuation
    private let logger: Logger
    private struct State { var connection: HypervisorConnection?; var closed = false }
    private let state = Mutex(State())

    /// Creates a host; nothing is opened until ``connect()``.
    public init(name: String, uri: String, keepAlive: KeepAlive = KeepAlive(), openTimeout: Duration = .seconds(5),
                threads: Int = 4, logger: Logger) {
        self.name = name; self.uri = uri; self.keepAlive = keepAlive; self.openTimeout = openTimeout
        self.threads = threads
        var logger = logger
        logger[metadataKey: "host"] = "\(name)"
        self.logger = logger
        (events, continuation) = AsyncStream.makeStream(of: HostConnectionEvent.self, bufferingPolicy: .unbounded)
    }

    /// Opens a connection unless one is open, within ``openTimeout``.
    public func connect() async throws {
        if state.withLock({ $0.connection != nil }) { return }
        let uri = uri, keepAlive = keepAlive, threads = threads, logger = logger, timeout = openTimeout
        let holder = ConnectionHolder()
        let connection = try await withThrowingTaskGroup(of: HypervisorConnection?.self) { group in
            group.addTask {
                try await HypervisorConnection.open(uri: uri, keepAlive: keepAlive, threads: threads, logger: logger) { [weak self] event in
                    self?.connectionEvent(event, from: holder)
                }
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let c = first else {
                throw LibvirtError(code: .timeout, function: "virConnectOpen", target: uri,
                                   message: "libvirtd accepted the connection but did not answer within \(timeout); is the host hung?")
            }
            return c
        }
        if holder.install(connection) {
            await connection.close()
            throw LibvirtError(code: .connection, function: "virConnectOpen", target: uri,
                               message: "the connection was lost while it was being opened")
        }
        let stale = state.withLock { s -> HypervisorConnection? in
            if s.closed { return connection }
            let old = s.connection
            s.connection = connection
            return old
        }
        if let stale { await stale.close() }
        if state.withLock({ $0.closed }) { throw LibvirtError(code: .notConnected, function: "connect", target: uri, message: "the host object was closed") }
        logger.debug("libvirt connection open", metadata: ["uri": "\(uri)"])
    }

    /// Called on libvirt's event thread.
    private func connectionEvent(_ event: HostConnectionEvent, from holder: ConnectionHolder) {
        if case .connectionLost(let reason) = event {
            let lost = holder.lost()
            let wasCurrent = state.withLock { s -> Bool in
                guard let lost, s.connection === lost else { return false }
                s.connection = nil
                return true
            }
            lost?.closeSoon()
            guard wasCurrent else { return }
            logger.info("libvirt connection lost", metadata: ["uri": "\(uri)", "reason": "\(reason)"])
        }
        continuation.yield(event)
    }

    private func current() throws(LibvirtError) -> HypervisorConnection {
        guard let c = state.withLock({ $0.connection }) else {
            throw LibvirtError(code: .notConnected, function: "(not connected)", target: uri, message: "no open connection to host \(name)")
        }
        return c
    }

    /// Every domain with its state.
    public func listDomains() async throws -> [DomainStatus] { try await current().listAllDomains() }
    /// Defines the domain (autostart off).
    public func define(_ definition: DomainDefinition) async throws {
        let defined = try await current().define(xml: definition.xml)
        guard defined == definition.name else {
            throw LibvirtError(code: .definition, function: "virDomainDefineXML", target: uri,
                               message: "the XML defines domain '\(defined)', expected '\(definition.name)': fix the <name> of the VM's domain XML")
        }
    }
    /// Starts a defined domain.
    public func start(domain: String) async throws { try await current().start(domain: domain) }
    /// Destroys a domain.
    public func destroy(domain: String) async throws { try await current().destroy(domain: domain) }
    /// Undefines a domain.
    public func undefine(domain: String) async throws { try await current().undefine(domain: domain) }

    /// Closes the connection (if any) and finishes ``events``.
    public func close() async {
        let c = state.withLock { s -> HypervisorConnection? in
            s.closed = true
            defer { s.connection = nil }
            return s.connection
        }
        await c?.close()
        continuation.finish()
    }
}

/// The connection a callback belongs to, set once it exists (the callback is registered before
/// `open` returns, so it cannot capture the connection itself).
private final class ConnectionHolder: Sendable {
    private struct State { var connection: HypervisorConnection?; var lostEarly = false }
    private let state = Mutex(State())
    /// Records the connection; true if it was already reported lost (then it must not be used).
    func install(_ c: HypervisorConnection) -> Bool { state.withLock { $0.connection = c; return $0.lostEarly } }
    /// The connection, or nil (and a note that it died before it was installed).
    func lost() -> HypervisorConnection? {
        state.withLock { s in
            if s.connection == nil { s.lostEarly = true }
            return s.connection
        }
    }
}
