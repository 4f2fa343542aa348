import CMariaDB
import Foundation
import Logging
import NIOPosix

/// One session with one MariaDB server, over libmariadb.
///
/// Every libmariadb call runs on a `NIOThreadPool` thread (``MariaDBThreads``), never on Swift's
/// cooperative pool.
/// Calls on one connection are serialised (one statement at a time, like the protocol itself);
/// use a `MariaDBPool` for concurrency.
public final class MariaDBConnection: @unchecked Sendable {
    // Why @unchecked Sendable is safe: `handle`, `broken` and `statements` are used only while
    // holding `lock` (inside `withHandle`/`close`, on pool threads), so one thread at a time
    // uses the MYSQL handle, and the lock orders memory between the threads that take turns.
    // libmariadb allows a handle to move between threads as long as calls do not overlap.
    // Everything else is immutable after init.
    private let lock = NSLock()
    private var handle: UnsafeMutablePointer<MYSQL>?
    private var broken = false
    private let statements = StatementCache(capacity: 64)

    /// The configuration this connection was opened with.
    public let config: MariaDBConfig
    /// "host:port" (or "unix:/path") of the server.
    public let endpoint: String
    /// The server's id for this session (`CONNECTION_ID()`), e.g. for `KILL` or the processlist.
    public let serverConnectionID: UInt64
    private let executor: NIOThreadPool
    private let logger: Logger

    private init(handle: UnsafeMutablePointer<MYSQL>, config: MariaDBConfig, executor: NIOThreadPool, logger: Logger) {
        self.handle = handle
        self.config = config
        self.endpoint = config.endpoint
        self.serverConnectionID = UInt64(mysql_thread_id(handle))
        self.executor = executor
        var logger = logger
        logger[metadataKey: "db"] = "\(config.endpoint)"
        self.logger = logger
    }

    deinit {
        // Nobody else can hold a reference now, so no lock is needed. mysql_close may write
        // COM_QUIT to the socket, which can block: hand it to the pool. A pool that no longer runs
        // calls the item at once on this thread (state `.cancelled`); it must close all the same.
        if let h = handle {
            let box = MySQLHandle(pointer: h)
            let cached = StatementCache.Handles(statements.removeAll())
            executor.submit { _ in
                mysql_close(box.pointer)
                cached.closeAll()  // after mysql_close: only frees memory, no network
            }
        }
    }

    /// Opens a connection with `config`'s timeouts (never 0), utf8mb4, and no auto-reconnect (a
    /// silent reconnect would lose session state and transactions without telling the caller).
    ///
    /// - Parameters:
    ///   - logger: receives connect/close at debug level and failures at warning; metadata `db`.
    ///   - executor: the threads that run blocking calls; ``MariaDBThreads/shared`` unless you need isolation.
    /// - Throws: `MariaDBError` naming `mysql_real_connect` (2002/2003 refused, 1045 denied, ...).
    public static func connect(
        _ config: MariaDBConfig,
        logger: Logger = Logger(label: "tandem.mariadb", factory: { _ in SwiftLogNoOpLogHandler() }),
        executor: NIOThreadPool = MariaDBThreads.shared
    ) async throws -> MariaDBConnection {
        let endpoint = config.endpoint
        let start = ContinuousClock.now
        let box: MySQLHandle
        do {
            box = try await executor.runIfActive { () throws -> MySQLHandle in
                precondition(mariaDBLibraryInitialized, "mysql_server_init failed: libmariadb is unusable")
                guard let h = mysql_init(nil) else {
                    throw MariaDBError(operation: "mysql_init", errno: 2008, sqlState: "HY000",
                                       message: "out of memory allocating a MYSQL handle", endpoint: endpoint)
                }
                do {
                    try setOptions(h, config, endpoint: endpoint)
                    let ok = mysql_real_connect(
                        h, config.unixSocket == nil ? config.host : nil, config.user, config.password,
                        config.database, UInt32(clamping: config.port), config.unixSocket, 0)
                    if ok == nil { throw mariaDBError("mysql_real_connect", .connection(h), endpoint: endpoint) }
                } catch {
                    mysql_close(h)
                    throw error
                }
                return MySQLHandle(pointer: h)
            }
        } catch {
            logger.warning("MariaDB connect failed", metadata: ["db": "\(endpoint)", "error": "\(error)"])
            throw error
        }
        let connection = MariaDBConnection(handle: box.pointer, config: config, executor: executor, logger: logger)
        connection.logger.debug("MariaDB connected", metadata: [
            "connection_id": "\(connection.serverConnectionID)",
            "elapsed": "\(ContinuousClock.now - start)",
        ])
        return connection
    }

    private static func setOptions(_ h: UnsafeMutablePointer<MYSQL>, _ config: MariaDBConfig, endpoint: String) throws {
        for (option, timeout) in [
            (MYSQL_OPT_CONNECT_TIMEOUT, config.connectTimeout),
            (MYSQL_OPT_READ_TIMEOUT, config.readTimeout),
            (MYSQL_OPT_WRITE_TIMEOUT, config.writeTimeout),
        ] {
            var seconds = MariaDBConfig.wholeSeconds(timeout)  // never 0: 0 would mean no timeout
            try check("mysql_options", .connection(h), endpoint: endpoint, mysql_options(h, option, &seconds))
        }
        var off: my_bool = 0
        try check("mysql_options", .connection(h), endpoint: endpoint, mysql_options(h, MYSQL_OPT_RECONNECT, &off))
        try check("mysql_options", .connection(h), endpoint: endpoint, mysql_options(h, MYSQL_SET_CHARSET_NAME, "utf8mb4"))
    }

    /// True once a connection-level error (see `MariaDBError.isConnectionLevel`) happened or the
    /// connection was closed: it must not be used again.
    public var isBroken: Bool {
        lock.lock()
        defer { lock.unlock() }
        return broken || handle == nil
    }

    /// Marks the connection unusable (the pool then discards it instead of lending it out again).
    func setBroken() {
        lock.lock()
        broken = true
        lock.unlock()
    }

    /// Runs `body` with the handle on a pool thread, holding the lock; marks the connection
    /// broken when the error says the session is gone.
    func withHandle<T: Sendable>(
        _ operation: String,
        _ body: @escaping @Sendable (UnsafeMutablePointer<MYSQL>, StatementCache, String) throws -> T
    ) async throws -> T {
        try await executor.runIfActive { [self] in
            lock.lock()
            defer { lock.unlock() }
            guard let h = handle else {
                throw MariaDBError(operation: operation, errno: MariaDBError.serverGone, sqlState: "HY000",
                                   message: "connection was closed by close()", endpoint: endpoint)
            }
            do {
                return try body(h, statements, endpoint)
            } catch let error as MariaDBError {
                if error.isConnectionLevel { broken = true }
                throw error
            }
        }
    }

    /// Runs `sql` over the text protocol and returns all rows (buffered with `mysql_store_result`).
    ///
    /// Use it for statements without user input; for values, use `execute(_:_:)` with binds.
    public func query(_ sql: String) async throws -> MariaDBResult {
        do {
            return try await withHandle("mysql_real_query") { h, _, endpoint in
                try TextProtocol.run(h, sql, endpoint: endpoint)
            }
        } catch {
            logger.debug("MariaDB query failed", metadata: ["error": "\(error)"])
            throw error
        }
    }

    /// Prepares `sql` (with `?` placeholders), binds `binds` in order, executes it over the binary
    /// protocol and returns all rows. Values never pass through SQL text, so there is no injection.
    ///
    /// Prepared statements are cached per connection (64 most recent SQL texts), so a repeated
    /// statement costs one round trip instead of three (prepare, execute, close). A statement that
    /// fails is dropped from the cache and prepared afresh next time.
    /// - Throws: `MariaDBError`; errno 2034 if `binds.count` does not match the placeholders.
    public func execute(_ sql: String, _ binds: [MariaDBValue]) async throws -> MariaDBResult {
        do {
            return try await withHandle("mysql_stmt_prepare") { h, cache, endpoint in
                try PreparedStatement.run(h, cache, sql, binds, endpoint: endpoint)
            }
        } catch {
            logger.debug("MariaDB execute failed", metadata: ["error": "\(error)"])
            throw error
        }
    }

    /// Runs `body` inside BEGIN … COMMIT; any error from `body` or COMMIT rolls back and rethrows.
    ///
    /// If the connection itself broke, no ROLLBACK is sent: the server rolls back when the session
    /// dies, and the pool discards the connection.
    public func transaction<T: Sendable>(_ body: (MariaDBConnection) async throws -> T) async throws -> T {
        _ = try await query("BEGIN")
        do {
            let result = try await body(self)
            _ = try await query("COMMIT")
            return result
        } catch {
            if !isBroken {
                do { _ = try await query("ROLLBACK") } catch {
                    logger.warning("MariaDB ROLLBACK failed", metadata: ["error": "\(error)"])
                }
            }
            throw error
        }
    }

    /// Sends COM_QUIT and frees the handle. Idempotent; later calls fail with errno 2006.
    ///
    /// Closes even when the calling task is cancelled (shutdown is when connections close), which
    /// `runIfActive` would skip: the item is submitted directly and runs in either work-item state
    /// (on this thread if the pool no longer runs).
    public func close() async {
        let closed = await withCheckedContinuation { (done: CheckedContinuation<Bool, Never>) in
            executor.submit { [self] _ in
                lock.lock()
                defer { lock.unlock() }
                guard let h = handle else { return done.resume(returning: false) }
                mysql_close(h)
                StatementCache.Handles(statements.removeAll()).closeAll()
                handle = nil
                done.resume(returning: true)
            }
        }
        if closed { logger.debug("MariaDB connection closed", metadata: ["connection_id": "\(serverConnectionID)"]) }
    }
}
