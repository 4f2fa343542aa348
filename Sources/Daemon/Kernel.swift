import IPVS
import Logging
import NIOPosix
import Netlink
import Reconciler
import Synchronization

/// What one reconcile pass did.
public struct ReconcilePass: Sendable {
    /// Operations sent (empty for a no-op pass: nothing was written).
    public var operations: [IPVSOperation]
    /// Operations the kernel refused.
    public var failures: [IPVSOperationFailure]
    /// The owned services as the kernel holds them after the pass.
    public var observed: IPVSState
}

/// The kernel's IPVS table as the daemon sees it: observe and reconcile.
public protocol KernelTable: Sendable {
    /// Reads the services `desired` owns.
    func observe(_ desired: IPVSState) async throws -> IPVSState
    /// Observes, plans the minimal operations and applies them.
    func reconcile(_ desired: IPVSState) async throws -> ReconcilePass
}

/// The real kernel, over generic netlink. The `IPVSClient` (one netlink socket, not thread-safe)
/// lives on one dedicated thread of a one-thread `NIOThreadPool`: blocking netlink calls never run
/// on the cooperative pool, and the socket always has a single owner.
public final class IPVSKernel: KernelTable {
    /// Holds the client. `@unchecked Sendable` is safe because `client` is only read or written from
    /// inside `pool.runIfActive`, and the pool has exactly one thread, so every access is serial and
    /// on the same thread.
    private final class Session: @unchecked Sendable {
        var client: IPVSClient?
    }

    private let pool: NIOThreadPool
    private let session = Session()
    private let logger: Logger

    /// Starts the thread and opens the netlink socket on it.
    /// - Throws: `NetlinkError` (`IPVSClient.noIPVSMessage` when the kernel has no IPVS).
    public init(logger: Logger) async throws {
        self.logger = logger
        pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        let session = self.session
        do {
            try await pool.runIfActive { () throws -> Void in session.client = try IPVSClient() }
        } catch {
            try? await pool.shutdownGracefully()
            throw error
        }
    }

    /// Stops the thread. The kernel table stays as it is.
    public func shutdown() async { try? await pool.shutdownGracefully() }

    /// Runs `body` with the client on the netlink thread.
    func withClient<T: Sendable>(_ body: @escaping @Sendable (IPVSClient) throws -> T) async throws -> T {
        let session = self.session
        return try await pool.runIfActive { () throws -> T in try body(session.client!) }
    }

    /// Reads the owned services.
    public func observe(_ desired: IPVSState) async throws -> IPVSState {
        let session = self.session
        return try await pool.runIfActive { () throws -> IPVSState in
            try observeOwned(desired, client: session.client!)
        }
    }

    /// One pass: observe, plan, apply (nothing written when the plan is empty), re-observe.
    public func reconcile(_ desired: IPVSState) async throws -> ReconcilePass {
        let session = self.session
        let logger = self.logger
        return try await pool.runIfActive { () throws -> ReconcilePass in
            let client = session.client!
            var observed = try observeOwned(desired, client: client)
            let ops = plan(desired: desired, observed: observed)
            guard !ops.isEmpty else { return ReconcilePass(operations: [], failures: [], observed: observed) }
            let result = try apply(ops, to: client, logger: logger)
            for k in Set(ops.map(\.serviceKey)) { observed.services[k] = result.observed.services[k] }
            return ReconcilePass(operations: ops, failures: result.failures, observed: observed)
        }
    }
}

extension IPVSKernel {
    /// Reads the running sync daemons, applies ``ConnectionSyncPolicy/changes(running:desired:)`` and
    /// reads them back. Nothing is written when they already match.
    public func syncDaemons(_ desired: [SyncDaemon]) async throws -> (changes: [SyncDaemonChange], running: [SyncDaemon]) {
        try await withClient { client in
            let before = try client.daemons()
            let changes = ConnectionSyncPolicy.changes(running: before, desired: desired)
            for c in changes {
                switch c {
                case .stop(let role): try client.stopDaemon(role)
                case .start(let d): try client.startDaemon(d)
                }
            }
            return (changes, changes.isEmpty ? before : try client.daemons())
        }
    }
}

/// An in-memory IPVS table for `--dry-run-kernel` and tests: it plans exactly like the real one,
/// "applies" by updating its table, and records every operation so callers can assert on them.
public final class RecordingKernel: KernelTable {
    private let state: Mutex<(table: IPVSState, log: [IPVSOperation])>

    /// Starts with `table` (empty by default).
    public init(table: IPVSState = IPVSState()) { state = Mutex((table, [])) }

    /// Every operation applied so far, in order.
    public var operations: [IPVSOperation] { state.withLock { $0.log } }
    /// The whole table now.
    public var table: IPVSState { state.withLock { $0.table } }

    /// Reads the owned services.
    public func observe(_ desired: IPVSState) async throws -> IPVSState {
        state.withLock { s in IPVSState(services: s.table.services.filter { desired.services[$0.key] != nil }) }
    }

    /// Plans and applies to the in-memory table.
    public func reconcile(_ desired: IPVSState) async throws -> ReconcilePass {
        state.withLock { s in
            let owned = IPVSState(services: s.table.services.filter { desired.services[$0.key] != nil })
            let ops = plan(desired: desired, observed: owned)
            for op in ops {
                switch op {
                case .addService(let svc), .editService(let svc):
                    var st = s.table.services[svc.key] ?? ServiceState(service: svc)
                    st.service = svc
                    s.table.services[svc.key] = st
                case .deleteService(let k): s.table.services[k] = nil
                case .addDestination(let k, let d), .editDestination(let k, let d): s.table.services[k]?.destinations[d.key] = d
                case .deleteDestination(let k, let dk): s.table.services[k]?.destinations[dk] = nil
                }
            }
            s.log += ops
            let after = IPVSState(services: s.table.services.filter { desired.services[$0.key] != nil })
            return ReconcilePass(operations: ops, failures: [], observed: after)
        }
    }
}
