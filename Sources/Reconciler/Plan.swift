import IPVS

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
    var expected = 0
    for (key, want) in desired.services where observed.services[key] != want {
        differing.append(key)
        expected += 1 + want.destinations.count
    }
    differing.sort()
    var ops: [IPVSOperation] = []
    ops.reserveCapacity(expected)
    var wanted: [(key: DestinationKey, destination: IPVSDestination)] = []   // reused for every service
    for key in differing {
        let want = desired.services[key]!
        wanted.removeAll(keepingCapacity: true)
        for (dk, d) in want.destinations { wanted.append((dk, d)) }
        wanted.sort { $0.key < $1.key }
        guard let have = observed.services[key] else {
            ops.append(.addService(want.service))
            for w in wanted { ops.append(.addDestination(key, w.destination)) }
            continue
        }
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
    }
    return ops
}

/// Destination equality as the kernel sees it: tunnel settings matter only for tunnel forwarding.
func sameDestination(_ a: IPVSDestination, _ b: IPVSDestination) -> Bool {
    var x = a, y = b
    if x.forwarding != .tunnel { x.tunnelType = .ipip; x.tunnelPort = 0; x.tunnelFlags = 0 }
    if y.forwarding != .tunnel { y.tunnelType = .ipip; y.tunnelPort = 0; y.tunnelFlags = 0 }
    return x == y
}
