import Logging
import NIOPosix

/// A bounded set of connections to one server.
///
/// At most `maxConnections` are open at any moment. A caller that finds none free waits in FIFO
/// order for at most `acquireTimeout`, then gets `MariaDBPoolError.exhausted`: load beyond capacity
/// becomes a fast error the caller can turn into a 503, never an unbounded queue.
/// A connection whose last error was connection-level (network, timeout, server gone) is closed
/// instead of being returned, and its slot goes to the next waiter, which opens a fresh one.
public actor MariaDBPool {
    /// What a waiter is handed: an idle connection, or the right to open a new one.
    private enum Grant: Sendable {
        case connection(MariaDBConnection)
        case openSlot
    }

    private struct Waiter {
        let id: UInt64
        let continuation: CheckedContinuation<Grant, any Error>
        let timeout: Task<Void, Never>
    }

    /// The configuration every connection is opened with.
    public nonisolated let config: MariaDBConfig
    /// Upper bound on open connections (idle + in use + being opened).
    public nonisolated let maxConnections: Int
    /// How long `withConnection` waits for a free connection before throwing `.exhausted`.
    public nonisolated let acquireTimeout: Duration
    private let logger: Logger
    private let executor: NIOThreadPool
    private let clock: any Clock<Duration>

    private var idle: [MariaDBConnection] = []
    private var waiters: [Waiter] = []
    private var nextWaiterID: UInt64 = 0
    private var isShutDown = false
    /// Idle + leased + being opened; never exceeds `maxConnections`.
    public private(set) var openConnections = 0
    /// Connections currently lent to callers.
    public private(set) var leasedConnections = 0
    /// Callers that gave up after `acquireTimeout` or were refused by `tryWithConnection`.
    public private(set) var exhaustedCount: UInt64 = 0
    /// Connections closed because of a connection-level error.
    public private(set) var discardedCount: UInt64 = 0

    /// Creates an empty pool; connections are opened on demand.
    public init(config: MariaDBConfig, maxConnections: Int, acquireTimeout: Duration) {
        self.init(config: config, maxConnections: maxConnections, acquireTimeout: acquireTimeout,
                  logger: Logger(label: "tandem.mariadb.pool", factory: { _ in SwiftLogNoOpLogHandler() }))
    }

    /// Creates an empty pool that logs to `logger` (metadata `db`), runs C calls on `executor`, and
    /// measures `acquireTimeout` on `clock` (inject a manual clock to test timeouts without sleeping).
    public init(config: MariaDBConfig, maxConnections: Int, acquireTimeout: Duration, logger: Logger,
                executor: NIOThreadPool = MariaDBThreads.shared, clock: any Clock<Duration> = ContinuousClock()) {
        precondition(maxConnections > 0, "MariaDBPool needs maxConnections > 0")
        self.config = config
        self.maxConnections = maxConnections
        self.acquireTimeout = acquireTimeout
        var logger = logger
        logger[metadataKey: "db"] = "\(config.endpoint)"
        self.logger = logger
        self.executor = executor
        self.clock = clock
    }

    /// Lends a connection to `body`, waiting at most `acquireTimeout` for one.
    /// - Throws: `MariaDBPoolError.exhausted` or `.shutDown`, a connect error, or whatever `body` throws.
    public func withConnection<T: Sendable>(_ body: @Sendable (MariaDBConnection) async throws -> T) async throws -> T {
        let connection = try await acquire(wait: true)
        return try await use(connection, body)
    }

    /// Like `withConnection`, but throws `.exhausted` at once when no connection is free and none
    /// may be opened: for load shedding, where waiting is worse than refusing.
    public func tryWithConnection<T: Sendable>(_ body: @Sendable (MariaDBConnection) async throws -> T) async throws -> T {
        let connection = try await acquire(wait: false)
        return try await use(connection, body)
    }

    /// Closes idle connections, fails waiters with `.shutDown`; leased ones close when returned.
    public func shutdown() async {
        isShutDown = true
        let waiting = waiters
        waiters.removeAll()
        for w in waiting {
            w.timeout.cancel()
            w.continuation.resume(throwing: MariaDBPoolError.shutDown)
        }
        let closing = idle
        idle.removeAll()
        openConnections -= closing.count
        for c in closing { await c.close() }
    }

    private func use<T: Sendable>(_ connection: MariaDBConnection, _ body: @Sendable (MariaDBConnection) async throws -> T) async throws -> T {
        do {
            let result = try await body(connection)
            await release(connection)
            return result
        } catch {
            if let e = error as? MariaDBError, e.isConnectionLevel { connection.markBroken() }
            await release(connection)
            throw error
        }
    }

    private func acquire(wait: Bool) async throws -> MariaDBConnection {
        guard !isShutDown else { throw MariaDBPoolError.shutDown }
        if let c = idle.popLast() {
            leasedConnections += 1
            return c
        }
        if openConnections < maxConnections {
            openConnections += 1  // reserve the slot before suspending in connect
            return try await open()
        }
        guard wait else {
            exhaustedCount += 1
            throw MariaDBPoolError.exhausted(maxConnections: maxConnections, waited: .zero)
        }
        switch try await enqueueWaiter() {
        case .connection(let c):
            leasedConnections += 1
            return c
        case .openSlot:
            return try await open()
        }
    }

    /// Opens a connection into a slot already counted in `openConnections`.
    private func open() async throws -> MariaDBConnection {
        do {
            let c = try await MariaDBConnection.connect(config, logger: logger, executor: executor)
            if isShutDown {
                openConnections -= 1
                await c.close()
                throw MariaDBPoolError.shutDown
            }
            leasedConnections += 1
            return c
        } catch {
            openConnections -= 1
            handOffFreedSlot()
            throw error
        }
    }

    private func enqueueWaiter() async throws -> Grant {
        let id = nextWaiterID
        nextWaiterID += 1
        let timeoutDuration = acquireTimeout
        let clock = self.clock
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Grant, any Error>) in
                let timeout = Task { [weak self] in
                    try? await clock.sleep(for: timeoutDuration)
                    guard !Task.isCancelled else { return }
                    await self?.expireWaiter(id, error: MariaDBPoolError.exhausted(maxConnections: self?.maxConnections ?? 0, waited: timeoutDuration))
                }
                waiters.append(Waiter(id: id, continuation: continuation, timeout: timeout))
            }
        } onCancel: {
            Task { await self.expireWaiter(id, error: CancellationError()) }
        }
    }

    private func expireWaiter(_ id: UInt64, error: any Error) {
        guard let i = waiters.firstIndex(where: { $0.id == id }) else { return }  // already served
        let w = waiters.remove(at: i)
        w.timeout.cancel()
        if error is MariaDBPoolError { exhaustedCount += 1 }
        w.continuation.resume(throwing: error)
    }

    private func release(_ connection: MariaDBConnection) async {
        leasedConnections -= 1
        if connection.isBroken || isShutDown {
            if connection.isBroken {
                discardedCount += 1
                logger.info("discarding broken MariaDB connection", metadata: ["connection_id": "\(connection.serverConnectionID)"])
            }
            openConnections -= 1
            handOffFreedSlot()
            await connection.close()
            return
        }
        if !waiters.isEmpty {
            let w = waiters.removeFirst()
            w.timeout.cancel()
            w.continuation.resume(returning: .connection(connection))
            return
        }
        idle.append(connection)
    }

    /// A slot was freed (closed or failed connect): the longest waiter may open a new connection.
    private func handOffFreedSlot() {
        guard !waiters.isEmpty, openConnections < maxConnections else { return }
        let w = waiters.removeFirst()
        w.timeout.cancel()
        openConnections += 1
        w.continuation.resume(returning: .openSlot)
    }
}

extension MariaDBConnection {
    /// Marks the connection unusable; used by the pool when an error escaped the connection's own
    /// checks (e.g. wrapped by the caller).
    func markBroken() {
        setBroken()
    }
}
