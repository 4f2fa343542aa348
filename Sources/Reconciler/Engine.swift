import IPVS
import Logging
import Netlink

/// Applies operations to a state the way the kernel does when it accepts them. Pure.
public func applying(_ ops: [IPVSOperation], to state: IPVSState) -> IPVSState {
    var s = state
    for op in ops {
        switch op {
        case .addService(let svc), .editService(let svc):
            s.services[svc.key, default: ServiceState(service: svc)].service = svc
        case .deleteService(let k):
            s.services[k] = nil
        case .addDestination(let k, let d), .editDestination(let k, let d):
            s.services[k]?.destinations[d.key] = d
        case .deleteDestination(let k, let dk):
            s.services[k]?.destinations[dk] = nil
        }
    }
    return s
}

/// The long-lived reconcile loop's edge: owns an ``IPVSClient`` and remembers what it last saw
/// of the services it owns, so a pass need not re-read the whole table.
///
/// - The first pass, and any pass with `resync: true`, reads every owned service from the kernel.
/// - Other passes plan against the remembered state, which is updated after each apply from the
///   kernel's per-operation answers: an acknowledged operation changed the kernel exactly as sent
///   (IPVS stores the fields it is given), and every service with a refused operation is re-read.
///   Out-of-band changes (someone running ipvsadm) are therefore caught by the next resync; the
///   daemon resyncs on a timer. With `verifyAll`, every touched service is re-read instead.
/// - A pass with nothing to do makes no kernel call at all.
public final class IPVSReconciler {
    /// The kernel edge.
    public let client: IPVSClient
    /// The owned services as last observed or confirmed.
    public private(set) var observed: IPVSState?
    /// Re-read every touched service after applying (slower, for paranoia and tests).
    public var verifyAll = false
    private let logger: Logger?

    /// Timings and results of one pass.
    public struct Pass: Sendable {
        /// Operations planned and sent.
        public var operations: [IPVSOperation]
        /// Operations the kernel refused.
        public var failures: [IPVSOperationFailure]
        /// Seconds spent deciding whether to read the kernel and reading it before planning (only
        /// the check that every desired key is remembered when the remembered state was used).
        public var observeSeconds: Double
        /// Seconds spent planning.
        public var planSeconds: Double
        /// Seconds spent executing the operations.
        public var executeSeconds: Double
        /// Seconds spent re-reading afterwards.
        public var reobserveSeconds: Double
        /// Total seconds.
        public var totalSeconds: Double { observeSeconds + planSeconds + executeSeconds + reobserveSeconds }
    }

    /// Creates a reconciler around `client`.
    public init(client: IPVSClient, logger: Logger? = nil) { self.client = client; self.logger = logger }

    /// Forgets the remembered state: the next pass reads the kernel.
    public func invalidate() { observed = nil }

    /// One pass: observe (or recall), plan, apply, confirm. Never throws for refused operations;
    /// they are in ``Pass/failures`` and the next pass retries whatever is still different.
    public func pass(_ desired: IPVSState, resync: Bool = false) throws(NetlinkError) -> Pass {
        let clock = ContinuousClock()
        var t0 = clock.now
        if resync || observed == nil || desired.services.keys.contains(where: { !knownKeys.contains($0) }) {
            observed = try observeOwned(desired, client: client)
            knownKeys = Set(desired.services.keys)
        }
        let observeS = seconds(clock.now - t0)
        t0 = clock.now
        // `plan` only looks at the services `desired` owns, so the remembered state needs no filtering.
        let ops = plan(desired: desired, observed: observed!)
        let planS = seconds(clock.now - t0)
        guard !ops.isEmpty else {
            return Pass(operations: [], failures: [], observeSeconds: observeS, planSeconds: planS, executeSeconds: 0, reobserveSeconds: 0)
        }
        t0 = clock.now
        let failures = try client.execute(ops)
        let execS = seconds(clock.now - t0)
        for f in failures {
            logger?.error("IPVS operation failed", metadata: ["service": "\(f.operation.serviceKey)", "operation": "\(f.operation)", "errno": "\(f.error.errno)"])
        }
        t0 = clock.now
        let failedKeys = Set(failures.map(\.operation.serviceKey))
        var next: IPVSState
        if failures.isEmpty {
            // Every operation was acknowledged, so every owned service is now exactly as desired
            // (cheaper than replaying 60,000 operations onto the remembered state). Starting from
            // `desired` shares its storage; only remembered services it no longer owns are added.
            next = desired
            for (k, v) in observed!.services where desired.services[k] == nil { next.services[k] = v }
        } else {
            let failedOps = Set(failures.map(\.operation))
            next = applying(ops.filter { !failedOps.contains($0) }, to: observed!)
        }
        let reread = verifyAll ? Set(ops.map(\.serviceKey)) : failedKeys
        if !reread.isEmpty {
            let fresh = try client.state(of: reread)
            for k in reread { next.services[k] = fresh.services[k] }
        }
        observed = next
        return Pass(operations: ops, failures: failures, observeSeconds: observeS, planSeconds: planS,
                    executeSeconds: execS, reobserveSeconds: seconds(clock.now - t0))
    }

    private var knownKeys: Set<ServiceKey> = []

    private func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }
}
