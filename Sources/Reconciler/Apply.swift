import IPVS
import Logging
import Netlink

/// What one ``apply(_:to:logger:)`` did.
public struct ApplyResult: Sendable {
    /// The operations sent, in order.
    public var operations: [IPVSOperation]
    /// Those the kernel refused (the rest took effect).
    public var failures: [IPVSOperationFailure]
    /// The touched services as the kernel holds them afterwards (absent = not in the kernel).
    public var observed: IPVSState
    /// True when every operation succeeded.
    public var succeeded: Bool { failures.isEmpty }
}

/// A reconcile pass that left the kernel short of the desired state.
public struct ReconcileError: Error, Sendable, CustomStringConvertible {
    /// Each refused operation with the kernel's errno.
    public var failures: [IPVSOperationFailure]
    /// How many operations were sent.
    public var attempted: Int
    /// Lists every failure; the next pass retries whatever is still different.
    public var description: String {
        "\(failures.count) of \(attempted) IPVS operations failed (the next pass retries what is still different):\n"
            + failures.map { "  \($0)" }.joined(separator: "\n")
    }
}

/// The one edge that writes: executes `ops` in order (batched, see ``IPVSClient/execute(_:)``) and
/// re-observes every service the operations touched. An empty list writes and reads nothing.
public func apply(_ ops: [IPVSOperation], to client: IPVSClient, logger: Logger? = nil) throws(NetlinkError) -> ApplyResult {
    guard !ops.isEmpty else { return ApplyResult(operations: [], failures: [], observed: IPVSState()) }
    let failures = try client.execute(ops)
    for f in failures {
        logger?.error("IPVS operation failed", metadata: [
            "service": "\(f.operation.serviceKey)", "operation": "\(f.operation)", "errno": "\(f.error.errno)",
        ])
    }
    let observed = try client.state(of: ops.map(\.serviceKey))
    return ApplyResult(operations: ops, failures: failures, observed: observed)
}

/// Observes the services `desired` owns: one service dump plus a destination dump per owned
/// service the kernel has (``IPVSClient/state(of:)``). Unowned services are not read beyond the dump.
public func observeOwned(_ desired: IPVSState, client: IPVSClient) throws(NetlinkError) -> IPVSState {
    try client.state(of: desired.services.keys)
}

/// Observe, plan, apply: one reconcile pass. Throws ``ReconcileError`` if any operation failed.
@discardableResult
public func reconcile(_ desired: IPVSState, client: IPVSClient, dryRun: Bool = false,
                      logger: Logger? = nil) throws -> [IPVSOperation] {
    let observed = try observeOwned(desired, client: client)
    let ops = plan(desired: desired, observed: observed)
    if dryRun { return ops }
    let result = try apply(ops, to: client, logger: logger)
    if !result.succeeded { throw ReconcileError(failures: result.failures, attempted: ops.count) }
    return ops
}
