import CLibvirt
import Hosts
import Logging
import NIOPosix
import Synchronization

/// libvirt keepalive settings (`virConnectSetKeepAlive`): after `interval` of silence the client
/// pings; after `count` unanswered pings it closes the connection and the close callback reports
/// it. A hung host is noticed after about `interval × (count + 1)`.
public struct KeepAlive: Sendable, Equatable {
    /// Seconds between pings on a silent connection (libvirt counts whole seconds, at least 1).
    public var intervalSeconds: Int32
    /// Unanswered pings before the connection counts as dead.
    public var count: UInt32
    /// Creates keepalive settings.
    public init(intervalSeconds: Int32 = 1, count: UInt32 = 2) {
        self.intervalSeconds = max(1, intervalSeconds); self.count = count
    }
}

/// One open libvirt connection to one host, e.g. `lxc:///system?socket=…`, `xen+ssh://root@xen3/system`.
///
/// libvirt's calls block (an RPC to libvirtd each), so every call runs on this connection's own
/// threads (an `NIOThreadPool`), never on Swift's cooperative pool. Keepalive and the close
/// callback run on libvirt's event-loop thread (see ``Libvirt/runtime``) and report through
/// `onEvent`. After the connection is lost, calls fail with ``LibvirtError/Code/connection``;
/// open a new one.
public final class HypervisorConnection: @unchecked Sendable {
    // @unchecked Sendable: `pointer` is immutable and libvirt connections are thread-safe; the
    // mutable registration state is guarded by `state`; the pool is Sendable.
    /// The URI it was opened with.
    public let uri: String
    private let pointer: LibvirtPointer
    private let pool: NIOThreadPool
    private let logger: Logger
    private let callbacks: CallbackBox
    private struct Registration { var closeCallback = false; var lifecycleID: Int32? = nil; var closed = false }
    private let state = Mutex(Registration())

    private init(uri: String, pointer: LibvirtPointer, pool: NIOThreadPool, callbacks: CallbackBox, logger: Logger) {
        self.uri = uri; self.pointer = pointer; self.pool = pool; self.callbacks = callbacks; self.logger = logger
    }

    /// Opens `uri`, sets keepalive, and registers the close callback and the domain lifecycle
    /// callback; `onEvent` then hears about a lost connection (once) and every domain lifecycle
    /// event, on libvirt's event thread (keep it short). `threads` calls may run at once (the
    /// remote driver multiplexes them; libvirtd serves them in parallel).
    ///
    /// `virConnectOpen` has no timeout of its own and a hung libvirtd accepts the socket but never
    /// answers, so this returns as soon as the calling task is cancelled; a connection that opens
    /// after that is closed at once. Put a deadline on it with cancellation.
    public static func open(uri: String, keepAlive: KeepAlive? = KeepAlive(), threads: Int = 4, logger: Logger,
                            onEvent: @escaping @Sendable (HostConnectionEvent) -> Void) async throws -> HypervisorConnection {
        let pool = NIOThreadPool(numberOfThreads: max(1, threads))
        pool.start()
        let callbacks = CallbackBox(uri: uri, onEvent: onEvent)
        do {
            let pointer = try await abandonable(on: pool, uri: uri) { () throws(LibvirtError) -> LibvirtPointer in
                let c = try Libvirt.connectOpen(uri)
                Libvirt.connSetErrorFunc(c)
                return LibvirtPointer(raw: c)
            } discard: { p in
                try? Libvirt.connectClose(p.raw, uri)
            }
            let connection = HypervisorConnection(uri: uri, pointer: pointer, pool: pool, callbacks: callbacks, logger: logger)
            do {
                try await connection.register(keepAlive: keepAlive)
            } catch {
                await connection.close()
                throw error
            }
            return connection
        } catch {
            pool.shutdownGracefully { _ in }
            throw error
        }
    }

    private func register(keepAlive: KeepAlive?) async throws {
        let uri = uri, box = callbacks
        // Each registration holds its own reference to the box; libvirt's free callback drops it.
        let lifecycle = try await run { c throws(LibvirtError) -> Int32 in
            if let k = keepAlive {
                try Libvirt.connectSetKeepAlive(c, uri, interval: k.intervalSeconds, count: k.count)
            }
            let forClose = Unmanaged.passRetained(box).toOpaque()
            do throws(LibvirtError) { try Libvirt.connectRegisterCloseCallback(c, uri, connectionClosed, forClose, releaseCallbackBox) }
            catch { Unmanaged<CallbackBox>.fromOpaque(forClose).release(); throw error }
            let forLifecycle = Unmanaged.passRetained(box).toOpaque()
            do throws(LibvirtError) { return try Libvirt.connectDomainEventRegisterLifecycle(c, uri, domainLifecycle, forLifecycle, releaseCallbackBox) }
            catch { Unmanaged<CallbackBox>.fromOpaque(forLifecycle).release(); throw error }
        }
        state.withLock { $0.closeCallback = true; $0.lifecycleID = lifecycle }
    }

    /// Runs `body` with the connection on one of its threads.
    func run<T: Sendable>(_ body: @escaping @Sendable (OpaquePointer) throws(LibvirtError) -> T) async throws(LibvirtError) -> T {
        let p = pointer
        if state.withLock({ $0.closed }) {
            throw LibvirtError(code: .notConnected, function: "(closed)", target: uri, message: "this connection was closed")
        }
        do {
            return try await pool.runIfActive { try body(p.raw) }
        } catch let e as LibvirtError {
            throw e
        } catch {
            throw LibvirtError(code: .notConnected, function: "(closed)", target: uri, message: "this connection was closed: \(error)")
        }
    }

    /// Whether libvirt still counts the connection alive (`virConnectIsAlive`).
    public func isAlive() async -> Bool {
        let uri = uri
        return (try? await run { c throws(LibvirtError) in try Libvirt.connectIsAlive(c, uri) }) ?? false
    }

    /// Every domain, running or defined, with its state (`virConnectListAllDomains`).
    public func listAllDomains() async throws(LibvirtError) -> [DomainStatus] {
        let uri = uri
        return try await run { c throws(LibvirtError) in
            let domains = try Libvirt.connectListAllDomains(c, uri)
            defer { domains.forEach(Libvirt.domainFree) }
            return try domains.map { d throws(LibvirtError) in
                let name = Libvirt.domainGetName(d)
                let target = "\(uri) domain \(name)"
                let raw = try Libvirt.domainGetState(d, target)
                return DomainStatus(name: name, state: DomainState(libvirt: raw),
                                    persistent: try Libvirt.domainIsPersistent(d, target),
                                    autostart: try Libvirt.domainGetAutostart(d, target))
            }.sorted { $0.name < $1.name }
        }
    }

    /// The state of one domain (`virDomainLookupByName` + `virDomainGetState`).
    public func state(of domain: String) async throws(LibvirtError) -> DomainState {
        try await withDomain(domain) { d, target throws(LibvirtError) in
            DomainState(libvirt: try Libvirt.domainGetState(d, target))
        }
    }

    /// Defines (or redefines) a persistent domain from XML (`virDomainDefineXML`) and makes sure
    /// the host does not start it by itself when it boots (`virDomainSetAutostart(0)`): a host
    /// that returns after a loss must never start a second copy on its own. Returns its name.
    ///
    /// libvirt matches a redefinition by UUID: XML without a `<uuid>` gets a fresh one and clashes
    /// with the defined domain of the same name ("already exists with uuid"). Such XML is defined
    /// again with the existing domain's UUID.
    @discardableResult
    public func define(xml: String) async throws(LibvirtError) -> String {
        let uri = uri
        return try await run { c throws(LibvirtError) in
            let d: OpaquePointer
            do throws(LibvirtError) {
                d = try Libvirt.domainDefineXML(c, uri, xml)
            } catch where error.errorNumber == Int32(VIR_ERR_OPERATION_FAILED.rawValue) && !xml.contains("<uuid>") {
                guard let name = Self.domainName(in: xml),
                      let existing = try? Libvirt.domainLookupByName(c, "\(uri) domain \(name)", name) else { throw error }
                defer { Libvirt.domainFree(existing) }
                let uuid = try Libvirt.domainGetUUIDString(existing, "\(uri) domain \(name)")
                d = try Libvirt.domainDefineXML(c, uri, Self.inserting(uuid: uuid, into: xml))
            }
            defer { Libvirt.domainFree(d) }
            let name = Libvirt.domainGetName(d)
            let target = "\(uri) domain \(name)"
            if try Libvirt.domainGetAutostart(d, target) { try Libvirt.domainSetAutostart(d, target, false) }
            return name
        }
    }

    /// The text of the first `<name>` element: a domain's own name comes before any nested one.
    static func domainName(in xml: String) -> String? {
        guard let open = xml.firstRange(of: "<name>"), let close = xml[open.upperBound...].firstRange(of: "</name>") else { return nil }
        return String(xml[open.upperBound..<close.lowerBound])
    }

    /// `xml` with `<uuid>UUID</uuid>` right after the domain's `</name>`.
    static func inserting(uuid: String, into xml: String) -> String {
        guard let close = xml.firstRange(of: "</name>") else { return xml }
        return String(xml[..<close.upperBound]) + "<uuid>\(uuid)</uuid>" + String(xml[close.upperBound...])
    }

    /// Starts a defined domain (`virDomainCreate`).
    public func start(domain: String) async throws(LibvirtError) {
        try await withDomain(domain) { d, target throws(LibvirtError) in try Libvirt.domainCreate(d, target) }
    }

    /// Stops a domain at once (`virDomainDestroy`).
    public func destroy(domain: String) async throws(LibvirtError) {
        try await withDomain(domain) { d, target throws(LibvirtError) in try Libvirt.domainDestroy(d, target) }
    }

    /// Removes a domain's definition (`virDomainUndefine`).
    public func undefine(domain: String) async throws(LibvirtError) {
        try await withDomain(domain) { d, target throws(LibvirtError) in try Libvirt.domainUndefine(d, target) }
    }

    private func withDomain<T: Sendable>(_ name: String,
                                         _ body: @escaping @Sendable (OpaquePointer, String) throws(LibvirtError) -> T) async throws(LibvirtError) -> T {
        let target = "\(uri) domain \(name)"
        return try await run { c throws(LibvirtError) in
            let d = try Libvirt.domainLookupByName(c, target, name)
            defer { Libvirt.domainFree(d) }
            return try body(d, target)
        }
    }

    /// Unregisters the callbacks, closes the connection and stops its threads. Idempotent. No
    /// `connectionLost` is reported for a close this side asked for.
    public func close() async {
        _ = try? await pool.runIfActive { [self] in tearDown() }
        try? await pool.shutdownGracefully()
    }

    /// The same, started from anywhere without waiting (libvirt's event thread, where a close
    /// callback must not close its own connection): the work goes to the connection's threads.
    func closeSoon() {
        pool.submit { [self] _ in
            tearDown()
            pool.shutdownGracefully { _ in }
        }
    }

    /// The synchronous part of closing, on one of the connection's threads. Failures mean the peer
    /// is already gone; the references are dropped regardless.
    private func tearDown() {
        let (wasClosed, closeCallback, lifecycle) = state.withLock { s in
            defer { s.closed = true; s.closeCallback = false; s.lifecycleID = nil }
            return (s.closed, s.closeCallback, s.lifecycleID)
        }
        guard !wasClosed else { return }
        callbacks.silence()
        let c = pointer.raw
        do {
            if let id = lifecycle { try Libvirt.connectDomainEventDeregisterAny(c, uri, id) }
            if closeCallback { try Libvirt.connectUnregisterCloseCallback(c, uri, connectionClosed) }
        } catch {
            logger.debug("libvirt callback deregistration failed", metadata: ["uri": "\(uri)", "error": "\(error)"])
        }
        do { try Libvirt.connectClose(c, uri) } catch {
            logger.debug("virConnectClose failed", metadata: ["uri": "\(uri)", "error": "\(error)"])
        }
    }
}

/// What libvirt's callbacks reach: retained once per registration and released by libvirt's
/// free callback when the registration ends.
final class CallbackBox: Sendable {
    let uri: String
    private let onEvent: @Sendable (HostConnectionEvent) -> Void
    private let quiet = Atomic<Bool>(false)
    private let lostReported = Atomic<Bool>(false)

    init(uri: String, onEvent: @escaping @Sendable (HostConnectionEvent) -> Void) {
        self.uri = uri; self.onEvent = onEvent
    }

    /// No more events after this (a close this side asked for).
    func silence() { quiet.store(true, ordering: .sequentiallyConsistent) }

    func report(_ event: HostConnectionEvent) {
        guard !quiet.load(ordering: .sequentiallyConsistent) else { return }
        if case .connectionLost = event {
            // Reported once per connection, however many ways it dies.
            guard !lostReported.exchange(true, ordering: .sequentiallyConsistent) else { return }
        }
        onEvent(event)
    }
}

/// `virConnectCloseFunc`: the connection closed on its own (EOF, keepalive, I/O error).
private let connectionClosed: virConnectCloseFunc = { _, reason, opaque in
    guard let opaque else { return }
    let box = Unmanaged<CallbackBox>.fromOpaque(opaque).takeUnretainedValue()
    let why: String
    switch UInt32(bitPattern: reason) {
    case VIR_CONNECT_CLOSE_REASON_EOF.rawValue: why = "end of file from libvirtd"
    case VIR_CONNECT_CLOSE_REASON_KEEPALIVE.rawValue: why = "keepalive: libvirtd stopped answering"
    case VIR_CONNECT_CLOSE_REASON_CLIENT.rawValue: why = "closed by this client"
    default: why = "I/O error on the connection"
    }
    box.report(.connectionLost(reason: why))
}

/// `virConnectDomainEventCallback` for lifecycle events.
private let domainLifecycle: virConnectDomainEventCallback = { _, domain, event, _, opaque in
    guard let opaque, let domain else { return 0 }
    let box = Unmanaged<CallbackBox>.fromOpaque(opaque).takeUnretainedValue()
    if let kind = DomainLifecycle(libvirt: event) {
        box.report(.domain(name: Libvirt.domainGetName(domain), kind))
    }
    return 0
}

/// `virFreeCallback`: libvirt is done with a registration.
private let releaseCallbackBox: virFreeCallback = { opaque in
    guard let opaque else { return }
    Unmanaged<CallbackBox>.fromOpaque(opaque).release()
}

/// Runs a blocking call on `pool` and returns its result, or throws `CancellationError` as soon as
/// the calling task is cancelled; a result that arrives after that is handed to `discard`.
func abandonable<T: Sendable>(on pool: NIOThreadPool, uri: String,
                              _ body: @escaping @Sendable () throws(LibvirtError) -> T,
                              discard: @escaping @Sendable (T) -> Void) async throws -> T {
    let slot = Mutex<AbandonableSlot<T>>(.waiting(nil))
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { (cont: CheckedContinuation<T, any Error>) in
            let cancelledAlready = slot.withLock { s -> Bool in
                if case .abandoned = s { return true }
                s = .waiting(cont)
                return false
            }
            if cancelledAlready { cont.resume(throwing: CancellationError()); return }
            pool.submit { work in
                let result: Result<T, LibvirtError>
                if case .cancelled = work {
                    result = .failure(LibvirtError(code: .notConnected, function: "virConnectOpen", target: uri, message: "the connection's thread pool stopped"))
                } else {
                    result = Result { () throws(LibvirtError) -> T in try body() }
                }
                let waiter = slot.withLock { s -> CheckedContinuation<T, any Error>? in
                    guard case .waiting(let c) = s else { return nil }
                    s = .done
                    return c
                }
                if let waiter { waiter.resume(with: result.mapError { $0 as any Error }) }
                else if case .success(let value) = result { discard(value) }
            }
        }
    } onCancel: {
        let waiter = slot.withLock { s -> CheckedContinuation<T, any Error>? in
            switch s {
            case .waiting(let c): s = .abandoned; return c
            case .abandoned, .done: return nil
            }
        }
        waiter?.resume(throwing: CancellationError())
    }
}

/// Who gets the result of an ``abandonable(on:uri:_:discard:)`` call: the waiting task, nobody
/// yet, or nobody ever (the task was cancelled).
enum AbandonableSlot<T: Sendable> {
    case waiting(CheckedContinuation<T, any Error>?)
    case abandoned
    case done
}
