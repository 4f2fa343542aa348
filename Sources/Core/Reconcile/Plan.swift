import IPVSModel

/// The operations that turn `observed` into `desired` for the services `desired` owns.
///
/// Ownership rule: the reconciler owns exactly the service keys present in `desired` (that is,
/// declared by the topology). Services in `observed` with any other key — added by hand, by
/// another tool, or removed from the topology — are never edited or deleted, and nothing is ever
/// flushed. Within an owned service every destination is managed.
///
/// Minimal and ordered, per owned service in key order:
/// - missing service: `addService`, then `addDestination` for each destination;
/// - present service: `editService` if scheduler, flags or persistence differ (the kernel edits
///   these in place), then `deleteDestination` for extra destinations, `editDestination` where
///   forwarding, weight, thresholds or tunnel settings differ, `addDestination` for missing ones.
/// A destination's key is its address and port, so changing either is a delete plus an add.
/// Equal states give no operations: a no-op pass writes nothing.
public func plan(desired: IPVSState, observed: IPVSState) -> [IPVSOperation] {
    // Equal services cost one comparison; only the ones that differ are sorted and expanded, so a
    // no-op pass over 10,000 services stays a linear scan (scripts/bench-ipvs measures it).
    var differing: [ServiceKey] = []
    for (key, want) in desired.services where observed.services[key] != want { differing.append(key) }
    differing.sort()
    var ops: [IPVSOperation] = []
    for key in differing { ops += plan(service: desired.services[key]!, observed: observed.services[key]) }
    return ops
}

/// The operations that turn one owned service from `have` (absent: `nil`) into `want`, in the
/// order described at ``plan(desired:observed:)``. Equal: none.
public func plan(service want: ServiceState, observed have: ServiceState?) -> [IPVSOperation] {
    if let have, have == want { return [] }
    let key = want.service.key
    let wanted = want.destinations.sorted { $0.key < $1.key }
    guard let have else {
        var ops: [IPVSOperation] = [.addService(want.service)]
        ops.reserveCapacity(1 + wanted.count)
        for (_, d) in wanted { ops.append(.addDestination(key, d)) }
        return ops
    }
    var ops: [IPVSOperation] = []
    if have.service != want.service { ops.append(.editService(want.service)) }
    for dk in have.destinations.keys.sorted() where want.destinations[dk] == nil {
        ops.append(.deleteDestination(key, dk))
    }
    for (dk, d) in wanted {
        if let h = have.destinations[dk] {
            if !sameDestination(h, d) { ops.append(.editDestination(key, d)) }
        } else {
            ops.append(.addDestination(key, d))
        }
    }
    return ops
}

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

/// Destination equality as the kernel sees it: tunnel settings matter only for tunnel forwarding.
func sameDestination(_ a: IPVSDestination, _ b: IPVSDestination) -> Bool {
    var x = a, y = b
    if x.forwarding != .tunnel { x.tunnelType = .ipip; x.tunnelPort = 0; x.tunnelFlags = 0 }
    if y.forwarding != .tunnel { y.tunnelType = .ipip; y.tunnelPort = 0; y.tunnelFlags = 0 }
    return x == y
}
