import IPVSModel

/// An IPVS table in memory, for `tandemd --dry-run-kernel` and for tests: it accepts every
/// operation the way the kernel would, and records every call so tests can assert on what the
/// engine asked (not a stand-in for the kernel in the kernel tests, which run in user-mode-linux).
public final class InMemoryIPVSTable: IPVSTableAccess {
    /// The whole table now.
    public private(set) var table: IPVSState
    /// Every operation executed so far, in order.
    public private(set) var operations: [IPVSOperation] = []
    /// Every read so far: the keys asked, per call.
    public private(set) var reads: [[ServiceKey]] = []
    /// Operations to refuse with this errno (for tests of refusals), matched by equality.
    public var refuse: [IPVSOperation: Int32] = [:]

    /// Starts with `table` (empty by default).
    public init(table: IPVSState = IPVSState()) { self.table = table }

    /// The services asked for, as held.
    public func read(_ keys: [ServiceKey]) throws -> IPVSState {
        reads.append(keys)
        var out = IPVSState()
        for k in keys { if let s = table.services[k] { out.services[k] = s } }
        return out
    }

    /// Applies every operation not in ``refuse``.
    public func execute(_ ops: [IPVSOperation]) throws -> [IPVSOperationFailure] {
        var failures: [IPVSOperationFailure] = []
        for op in ops {
            if let e = refuse[op] {
                failures.append(IPVSOperationFailure(operation: op, errno: e, message: "refused by the test"))
                continue
            }
            operations.append(op)
            // The kernel's refusals for operations that cannot apply (Linux errno values).
            let exists = table.services[op.serviceKey] != nil
            if case .addService = op, exists {
                failures.append(IPVSOperationFailure(operation: op, errno: 17, message: "File exists"))
                continue
            }
            if !exists, !isAdd(op) {
                failures.append(IPVSOperationFailure(operation: op, errno: 3, message: "No such process"))
                continue
            }
            table = applying([op], to: table)
        }
        return failures
    }

    private func isAdd(_ op: IPVSOperation) -> Bool { if case .addService = op { return true } else { return false } }

    /// Changes the table behind the engine's back (what `ipvsadm` by hand does), for repair tests.
    public func tamper(_ body: (inout IPVSState) -> Void) { body(&table) }
}
