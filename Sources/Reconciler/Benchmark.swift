import IPVS
import Netlink

/// The reconcile benchmark `scripts/bench-ipvs` runs inside user-mode-linux (see docs/ipvs.md).
public enum IPVSBenchmark {
    /// A synthetic table: `services` TCP services on 10.x.y.z:80 (rr), each with `destinations`
    /// NAT destinations on 172.(16+j).y.z:8080.
    public static func table(services: Int, destinations: Int) -> IPVSState {
        var s = IPVSState()
        s.services.reserveCapacity(services)
        for i in 0..<services {
            let b1 = UInt32((i >> 16) & 0xff), b2 = UInt32((i >> 8) & 0xff), b3 = UInt32(i & 0xff)
            let key = ServiceKey.address(.tcp, InetAddress(ipv4: 10 << 24 | b1 << 16 | b2 << 8 | b3), port: 80)   // 10.b1.b2.b3
            var d: [DestinationKey: IPVSDestination] = [:]
            d.reserveCapacity(destinations)
            for j in 0..<destinations {
                // 172.(16+j).(b2+b1).b3
                let a = InetAddress(ipv4: 172 << 24 | UInt32(UInt8(truncatingIfNeeded: 16 + j)) << 16 | ((b2 + b1) & 0xff) << 8 | b3)
                let dest = IPVSDestination(address: a, port: 8080, weight: 1)
                d[dest.key] = dest
            }
            s.services[key] = ServiceState(service: IPVSService(key: key, scheduler: "rr"), destinations: d)
        }
        return s
    }

    /// `table` with the weight of every `1/fraction`-th destination (in key order) set to `weight`.
    public static func changed(_ table: IPVSState, everyNth: Int, weight: Int32) -> IPVSState {
        var s = table
        var n = 0
        for key in table.services.keys.sorted() {
            for dk in table.services[key]!.destinations.keys.sorted() {
                if n % everyNth == 0 { s.services[key]!.destinations[dk]!.weight = weight }
                n += 1
            }
        }
        return s
    }

    /// The same table as `ipvsadm -R` input.
    public static func restoreFile(_ table: IPVSState) -> String {
        var out = ""
        for key in table.services.keys.sorted() {
            guard case .address(_, let a, let port) = key else { continue }
            let v = a.withPort(port)
            out += "-A -t \(v) -s rr\n"
            for d in table.services[key]!.destinations.values.sorted(by: { $0.key < $1.key }) {
                out += "-a -t \(v) -r \(d.key) -m -w \(d.weight)\n"
            }
        }
        return out
    }

    /// One repetition's timings, in seconds.
    public struct Sample: Sendable {
        /// Empty table to the full table (observe + plan + execute + confirm).
        public var full: Double
        /// Of `full`: seconds spent executing the operations in the kernel.
        public var fullExecute: Double
        /// Of `full`: seconds spent observing, planning, and recording the result (everything but the kernel's work).
        public var fullOwn: Double
        /// Re-reading every owned service after the full sync (what a verifying apply costs).
        public var verifyRead: Double
        /// A 1% destination change against the remembered state.
        public var change: Double
        /// Operations in the change pass.
        public var changeOps: Int
        /// A no-op pass against the remembered state.
        public var noop: Double
        /// A no-op pass that re-reads every owned service first.
        public var noopResync: Double
        /// Operations in the no-op passes (must be 0).
        public var noopOps: Int
    }

    /// Runs one repetition on an empty table and leaves the table empty (`IPVS_CMD_FLUSH`).
    public static func run(client: IPVSClient, services: Int, destinations: Int) throws -> Sample {
        try client.flush()
        let full = table(services: services, destinations: destinations)
        let clock = ContinuousClock()
        let r = IPVSReconciler(client: client)
        let p1 = try r.pass(full)
        guard p1.failures.isEmpty else { throw ReconcileError(failures: p1.failures, attempted: p1.operations.count) }
        var t = clock.now
        let seen = try observeOwned(full, client: client)
        let verifyRead = secs(clock.now - t)
        guard seen == full else { throw BenchmarkError(description: "the kernel does not hold the table after the full sync") }
        let delta = changed(full, everyNth: 100, weight: 2)
        let p2 = try r.pass(delta)
        let p3 = try r.pass(delta)
        t = clock.now
        let p4 = try r.pass(delta, resync: true)
        _ = t
        try client.flush()
        return Sample(full: p1.totalSeconds, fullExecute: p1.executeSeconds, fullOwn: p1.observeSeconds + p1.planSeconds + p1.reobserveSeconds, verifyRead: verifyRead, change: p2.totalSeconds, changeOps: p2.operations.count,
                      noop: p3.totalSeconds, noopResync: p4.totalSeconds, noopOps: p3.operations.count + p4.operations.count)
    }

    /// A benchmark invariant that did not hold.
    public struct BenchmarkError: Error, CustomStringConvertible, Sendable {
        /// What went wrong.
        public var description: String
    }

    static func secs(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }
}
