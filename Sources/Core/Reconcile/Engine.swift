import IPVSModel

/// What one engine call did.
public struct ReconcilePass: Sendable {
    /// Operations sent, in order (empty: nothing was written).
    public var operations: [IPVSOperation] = []
    /// Those the kernel refused; the next pass retries whatever is still different.
    public var failures: [IPVSOperationFailure] = []
    /// Every service this call wrote, as the kernel holds it afterwards (`nil`: absent).
    public var touched: [ServiceKey: ServiceState?] = [:]
    /// Services read from the kernel by this call.
    public var read = 0
    /// Creates an empty pass.
    public init() {}
}

/// The one reconcile engine: the daemon runs it, `tandemctl apply` runs it, `scripts/bench-ipvs`
/// and `scripts/bench-daemon` measure it.
///
/// It keeps two tables of the services it owns (ownership rule: exactly the keys of the desired
/// table; nothing else in the kernel is ever edited or deleted, and nothing is flushed):
/// - ``desired``, kept and changed per event (``setService(_:_:)``), never rebuilt per event;
/// - ``observed``, what the kernel held when last read or written.
///
/// Three kinds of call, each proportional to what it touches:
/// - ``synchronize(_:dryRun:)`` reads every owned service once and converges (start, reload,
///   `tandemctl apply`);
/// - ``pass()`` plans only the services changed since the last pass against the remembered kernel
///   view, writes, and reads back only those services (a weight change: one `editDestination`, then
///   one service read);
/// - ``repair(maxServices:)`` re-reads a bounded chunk of owned services in rotation and fixes what
///   someone changed behind the engine's back, so a sweep of a large table never delays an event
///   pass by more than one chunk.
///
/// Not thread-safe: one owner, one thread (the table it drives is not thread-safe either).
public final class ReconcileEngine {
    /// The kernel edge.
    public let table: any IPVSTableAccess
    /// The owned services as they should be.
    public private(set) var desired = IPVSState()
    /// The owned services as the kernel held them when last read or written (absent: not in the kernel).
    public private(set) var observed = IPVSState()
    /// Owned services changed since the last pass.
    public private(set) var dirty: Set<ServiceKey> = []
    /// Owned keys in order, for the repair rotation (rebuilt only when ownership changes).
    private var rotation: [ServiceKey] = []
    private var rotationStale = true
    private var cursor = 0

    /// Creates an engine owning nothing yet.
    public init(table: any IPVSTableAccess) { self.table = table }

    /// Sets what one owned service should be (`nil`: the engine stops owning it and leaves it in the
    /// kernel as it is). Marks it for the next ``pass()`` only when it changed.
    public func setService(_ key: ServiceKey, _ state: ServiceState?) {
        if let state {
            if desired.services[key] == state { return }
            if desired.services[key] == nil { rotationStale = true }
            desired.services[key] = state
            dirty.insert(key)
        } else if desired.services.removeValue(forKey: key) != nil {
            observed.services[key] = nil
            dirty.remove(key)
            rotationStale = true
        }
    }

    /// Makes the desired table `want` (start, reload, `tandemctl apply`): reads every owned service
    /// from the kernel (unless the caller just did: `observed`), then plans and applies the
    /// difference. With `dryRun` the plan is returned in ``ReconcilePass/operations`` and nothing is
    /// written.
    @discardableResult
    public func synchronize(_ want: IPVSState, observed already: IPVSState? = nil, dryRun: Bool = false) throws -> ReconcilePass {
        desired = want
        rotationStale = true
        let keys = Array(want.services.keys)
        var result = ReconcilePass()
        if let already {
            observed = IPVSState(services: already.services.filter { want.services[$0.key] != nil })
        } else {
            observed = try table.read(keys)
            result.read = keys.count
        }
        let ops = plan(desired: desired, observed: observed)
        if dryRun { result.operations = ops; dirty = Set(keys); return result }
        dirty = []
        try execute(ops, into: &result)
        return result
    }

    /// Converges the services changed since the last pass, against the remembered kernel view.
    /// Nothing changed: no kernel call at all.
    @discardableResult
    public func pass() throws -> ReconcilePass {
        var result = ReconcilePass()
        guard !dirty.isEmpty else { return result }
        let keys = dirty.sorted()
        dirty = []
        var ops: [IPVSOperation] = []
        for k in keys { ops += planService(k) }
        try execute(ops, into: &result)
        return result
    }

    /// Re-reads up to `maxServices` owned services (continuing the rotation where the last call
    /// stopped) and fixes any that differ from the desired table: the repair of changes made
    /// behind the engine's back.
    @discardableResult
    public func repair(maxServices: Int) throws -> ReconcilePass {
        var result = ReconcilePass()
        if rotationStale { rotation = desired.services.keys.sorted(); rotationStale = false; cursor = min(cursor, rotation.count) }
        guard !rotation.isEmpty, maxServices > 0 else { return result }
        if cursor >= rotation.count { cursor = 0 }
        let end = min(rotation.count, cursor + maxServices)
        let keys = Array(rotation[cursor..<end])
        cursor = end
        let fresh = try table.read(keys)
        result.read = keys.count
        var ops: [IPVSOperation] = []
        for k in keys {
            observed.services[k] = fresh.services[k]
            if !dirty.contains(k) { ops += planService(k) }
        }
        try execute(ops, into: &result)
        return result
    }

    /// Deletes services the engine owned before and no longer does (a record of what it owned says
    /// which; see the ownership rule above): stops owning them and removes those the kernel holds.
    /// A key the kernel does not hold is skipped. Never called for a key it never owned.
    @discardableResult
    public func release(_ keys: Set<ServiceKey>) throws -> ReconcilePass {
        var result = ReconcilePass()
        guard !keys.isEmpty else { return result }
        for k in keys { setService(k, nil) }
        let present = try table.read(Array(keys))
        result.read = keys.count
        let ops = present.services.keys.sorted().map { IPVSOperation.deleteService($0) }
        guard !ops.isEmpty else { return result }
        result.failures = try table.execute(ops)
        result.operations = ops
        let back = try table.read(present.services.keys.sorted())
        result.read += present.services.count
        for k in present.services.keys { result.touched[k] = .some(back.services[k]) }
        return result
    }

    /// Owned services, and where the repair rotation stands in them (`position == count`: a sweep
    /// has just completed).
    public var rotationPosition: (position: Int, count: Int) { (cursor, rotationStale ? desired.services.count : rotation.count) }

    /// The plan for one owned service against the remembered kernel view.
    private func planService(_ key: ServiceKey) -> [IPVSOperation] {
        guard let want = desired.services[key] else { return [] }
        return plan(service: want, observed: observed.services[key])
    }

    /// Executes `ops`, then reads back every service they touched into the remembered view.
    private func execute(_ ops: [IPVSOperation], into result: inout ReconcilePass) throws {
        guard !ops.isEmpty else { return }
        let failures = try table.execute(ops)
        result.operations += ops
        result.failures += failures
        var touched: [ServiceKey] = []
        var seen = Set<ServiceKey>()
        for op in ops where seen.insert(op.serviceKey).inserted { touched.append(op.serviceKey) }
        let back = try table.read(touched)
        result.read += touched.count
        for k in touched {
            observed.services[k] = back.services[k]
            result.touched[k] = .some(back.services[k])
            // Still different (a refused operation): the next pass retries it, not a loop here.
            if let want = desired.services[k], back.services[k] != want { dirty.insert(k) }
        }
    }
}

/// Reads the owned services, plans, applies: one ``ReconcileEngine/synchronize(_:dryRun:)`` for
/// one-shot callers (`tandemctl apply`, tests). Throws ``ReconcileError`` if an operation failed.
@discardableResult
public func reconcile(_ desired: IPVSState, table: any IPVSTableAccess, dryRun: Bool = false) throws -> [IPVSOperation] {
    let pass = try ReconcileEngine(table: table).synchronize(desired, dryRun: dryRun)
    if !pass.failures.isEmpty { throw ReconcileError(failures: pass.failures, attempted: pass.operations.count) }
    return pass.operations
}

/// A reconcile that left the kernel short of the desired state.
public struct ReconcileError: Error, Sendable, CustomStringConvertible {
    /// Each refused operation with the kernel's errno.
    public var failures: [IPVSOperationFailure]
    /// How many operations were sent.
    public var attempted: Int
    /// Creates one.
    public init(failures: [IPVSOperationFailure], attempted: Int) { self.failures = failures; self.attempted = attempted }
    /// Lists every failure; the next pass retries whatever is still different.
    public var description: String {
        "\(failures.count) of \(attempted) IPVS operations failed (the next pass retries what is still different):\n"
            + failures.map { "  \($0)" }.joined(separator: "\n")
    }
}
