import IPVSModel
import Net

/// The synthetic tables `scripts/bench-ipvs` and `scripts/bench-daemon` use (see docs/ipvs.md).
public enum IPVSBenchmark {
    /// A synthetic table: `services` TCP services on 10.x.y.z:80 (rr), each with `destinations`
    /// NAT destinations on 172.(16+j).y.z:8080.
    public static func table(services: Int, destinations: Int) -> IPVSState {
        var s = IPVSState()
        s.services.reserveCapacity(services)
        for i in 0..<services {
            let b1 = UInt32((i >> 16) & 0xff), b2 = UInt32((i >> 8) & 0xff), b3 = UInt32(i & 0xff)
            let key = ServiceKey.address(.tcp, IPAddress(ipv4: 10 << 24 | b1 << 16 | b2 << 8 | b3), port: 80)   // 10.b1.b2.b3
            var d: [DestinationKey: IPVSDestination] = [:]
            d.reserveCapacity(destinations)
            for j in 0..<destinations {
                // 172.(16+j).(b2+b1).b3
                let a = IPAddress(ipv4: 172 << 24 | UInt32(UInt8(truncatingIfNeeded: 16 + j)) << 16 | ((b2 + b1) & 0xff) << 8 | b3)
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
}
