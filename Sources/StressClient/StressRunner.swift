import Foundation
import GridServices
import Synchronization

/// The kinds of call the stress client can make.
public enum CallKind: String, Sendable, CaseIterable, Codable {
    /// POST /voms/fqans.
    case voms
    /// POST /gums/map.
    case gums
    /// POST /saz/authorize.
    case saz
    /// GET of a static path (default /healthz), to measure the client and the HTTP stack alone.
    case `static`
}

/// What to run.
public struct StressConfig: Sendable {
    /// Load model.
    public enum Mode: Sendable, Equatable {
        /// N workers, each sending its next call as soon as the previous one is answered.
        case closed(workers: Int)
        /// Calls scheduled at `rate` per second over `connections` connections; latency counts from the
        /// scheduled time, so a stalled server cannot hide its queueing delay (no coordinated omission).
        case open(rate: Double, connections: Int)
    }

    /// Where each kind of call goes (host, port). Kinds in `mix` must have a target.
    public var targets: [CallKind: (host: String, port: Int)]
    /// Relative weights of call kinds.
    public var mix: [CallKind: Int]
    /// Load model.
    public var mode: Mode
    /// Hard bound on calls started.
    public var maxRequests: Int
    /// Hard bound on run time.
    public var maxDuration: Duration
    /// Per-call timeout.
    public var timeoutMillis: Int
    /// Data-set seed (must match `gridsvc seed --seed`).
    public var seed: UInt64
    /// Users in the data set (must match `gridsvc seed --users`).
    public var users: Int
    /// Path of `static` calls.
    public var staticPath: String
    /// Time-series slot width.
    public var slot: Duration

    /// Creates a config.
    public init(targets: [CallKind: (host: String, port: Int)], mix: [CallKind: Int], mode: Mode, maxRequests: Int,
                maxDuration: Duration, timeoutMillis: Int = 2000, seed: UInt64 = 42, users: Int = 20_000,
                staticPath: String = "/healthz", slot: Duration = .milliseconds(100)) {
        self.targets = targets
        self.mix = mix
        self.mode = mode
        self.maxRequests = maxRequests
        self.maxDuration = maxDuration
        self.timeoutMillis = timeoutMillis
        self.seed = seed
        self.users = users
        self.staticPath = staticPath
        self.slot = slot
    }

    /// Checks the config; the error says what to fix.
    public func validate() throws(ConfigError) {
        guard maxRequests > 0 else { throw ConfigError("--max-requests must be > 0") }
        guard maxDuration > .zero else { throw ConfigError("--duration must be > 0") }
        guard mix.values.contains(where: { $0 > 0 }) else { throw ConfigError("--mix gives no call kind a positive weight") }
        for (k, w) in mix where w > 0 && targets[k] == nil {
            throw ConfigError("no target for '\(k.rawValue)' calls: pass --target HOST:PORT or --target \(k.rawValue)=HOST:PORT")
        }
        switch mode {
        case .closed(let w): guard w > 0 && w <= 4096 else { throw ConfigError("--workers must be 1...4096") }
        case .open(let r, let c):
            guard r > 0 else { throw ConfigError("--rate must be > 0") }
            guard c > 0 && c <= 4096 else { throw ConfigError("--connections must be 1...4096") }
        }
        guard users > 0 else { throw ConfigError("--users must be > 0") }
    }
}

/// The outcome of a run, for people (``summary``) and machines (Codable → `--json`).
public struct StressReport: Sendable, Codable {
    /// `closed` or `open`.
    public var mode: String
    /// Workers or connections.
    public var concurrency: Int
    /// Target rate (open loop) or nil.
    public var targetRate: Double?
    /// Call mix.
    public var mix: [String: Int]
    /// Calls completed.
    public var requests: Int
    /// 2xx answers.
    public var successes: Int
    /// Failures by kind (`http_503`, `connect_refused`, `timeout`, ...).
    public var errors: [String: Int]
    /// Wall time of the run in seconds.
    public var durationSeconds: Double
    /// Successful calls per second.
    public var throughput: Double
    /// Successful calls per day at that throughput.
    public var callsPerDay: Double
    /// Latency of all calls (ms).
    public var latency: LatencySummary
    /// Latency of successful calls only (ms).
    public var successLatency: LatencySummary
    /// Largest interval with no success (s), and where it started.
    public var largestGapSeconds: Double
    /// Start of that interval (s since run start).
    public var largestGapStartSeconds: Double
    /// Why the run stopped: `max-requests` or `max-duration`.
    public var stoppedBy: String
    /// Per-slot series.
    public var timeSeries: [TimeSlot]

    /// A readable summary.
    public var summary: String {
        func f(_ v: Double, _ d: Int = 2) -> String { String(format: "%.\(d)f", v) }
        var s = "tandem-stress: \(mode) loop, \(concurrency) \(mode == "open" ? "connections" : "workers")"
        if let r = targetRate { s += ", target \(f(r, 0))/s" }
        s += ", mix \(mix.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ","))\n"
        s += "  calls      \(requests) in \(f(durationSeconds)) s (stopped by \(stoppedBy)); ok \(successes), failed \(requests - successes)\n"
        s += "  throughput \(f(throughput, 0)) ok/s = \(String(format: "%.3g", callsPerDay)) calls/day\n"
        s += "  latency ms p50 \(f(latency.p50, 3))  p90 \(f(latency.p90, 3))  p99 \(f(latency.p99, 3))  p99.9 \(f(latency.p999, 3))  max \(f(latency.max, 3))\n"
        if !errors.isEmpty {
            s += "  errors     " + errors.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ") + "\n"
        }
        s += "  largest gap in successes \(f(largestGapSeconds, 3)) s (from t=\(f(largestGapStartSeconds, 2)) s)\n"
        return s
    }
}

/// Runs a bounded stress test on worker threads (one blocking keep-alive connection each).
public enum StressRunner {
    /// Prebuilt HTTP requests, round-robin over users and kinds by a per-worker PRNG.
    struct RequestFactory: Sendable {
        let plan: SeedPlan
        let kinds: [CallKind]   // weighted, e.g. [gums, gums, saz]
        let config: StressConfig

        func make(_ rng: inout SplitMix64) -> (CallKind, [UInt8]) {
            let kind = kinds[Int(rng.next() % UInt64(kinds.count))]
            let target = config.targets[kind]!
            let host = "\(target.host):\(target.port)"
            if kind == .static {
                return (kind, Array("GET \(config.staticPath) HTTP/1.1\r\nHost: \(host)\r\n\r\n".utf8))
            }
            let user = plan.user(Int(rng.next() % UInt64(plan.users)))
            let body: String
            let path: String
            switch kind {
            case .voms:
                path = "/voms/fqans"
                body = "{\"dn\":\(Self.quote(user.dn))}"
            case .gums:
                path = "/gums/map"
                let f = user.fqans[Int(rng.next() % UInt64(user.fqans.count))]
                body = "{\"dn\":\(Self.quote(user.dn)),\"fqan\":\(Self.quote(f))}"
            default:
                path = "/saz/authorize"
                let ca = rng.next() % 200 == 0 ? SeedPlan.bannedCA : user.ca
                body = "{\"dn\":\(Self.quote(user.dn)),\"ca\":\(Self.quote(ca)),\"fqans\":[\(user.fqans.map(Self.quote).joined(separator: ","))]}"
            }
            let bytes = Array(body.utf8)
            return (kind, Array("POST \(path) HTTP/1.1\r\nHost: \(host)\r\nContent-Type: application/json\r\nContent-Length: \(bytes.count)\r\n\r\n".utf8) + bytes)
        }

        static func quote(_ s: String) -> String {
            var out = "\""
            for c in s.unicodeScalars {
                switch c {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                default:
                    if c.value < 0x20 { out += String(format: "\\u%04x", c.value) } else { out.unicodeScalars.append(c) }
                }
            }
            return out + "\""
        }
    }

    /// Runs the test and blocks until it is over (bounded by `maxRequests` and `maxDuration`).
    public static func run(_ config: StressConfig) throws(ConfigError) -> StressReport {
        try config.validate()
        var kinds: [CallKind] = []
        for k in CallKind.allCases { kinds += Array(repeating: k, count: max(0, config.mix[k] ?? 0)) }
        let factory = RequestFactory(plan: SeedPlan(seed: config.seed, users: config.users), kinds: kinds, config: config)
        let (threads, rate): (Int, Double?) = switch config.mode {
        case .closed(let w): (w, nil)
        case .open(let r, let c): (c, r)
        }
        let counter = Atomic<Int>(0)
        let stop = Atomic<Bool>(false)
        let results = Mutex<[[CallSample]]>([])
        let t0 = DispatchTime.now().uptimeNanoseconds
        let c = config.maxDuration.components
        let deadline = t0 + UInt64(c.seconds) * 1_000_000_000 + UInt64(c.attoseconds / 1_000_000_000)
        let group = DispatchGroup()
        for w in 0..<threads {
            group.enter()
            let thread = Thread {
                var samples: [CallSample] = []
                samples.reserveCapacity(min(config.maxRequests / threads + 16, 1 << 20))
                var rng = SplitMix64(seed: config.seed &+ UInt64(w) &* 0x9E37_79B9)
                var conns: [CallKind: HTTPConnection] = [:]
                while !stop.load(ordering: .relaxed) {
                    let k = counter.wrappingAdd(1, ordering: .relaxed).oldValue
                    if k >= config.maxRequests { break }
                    var start = DispatchTime.now().uptimeNanoseconds
                    if let rate {
                        let intended = t0 + UInt64(Double(k) / rate * 1e9)
                        if intended >= deadline { break }
                        if intended > start {
                            let wait = intended - start
                            var ts = timespec(tv_sec: Int(wait / 1_000_000_000), tv_nsec: Int(wait % 1_000_000_000))
                            nanosleep(&ts, nil)
                        }
                        start = intended
                    } else if start >= deadline {
                        break
                    }
                    let (kind, request) = factory.make(&rng)
                    let target = config.targets[kind]!
                    let conn = conns[kind] ?? HTTPConnection(host: target.host, port: target.port, timeoutMillis: config.timeoutMillis)
                    conns[kind] = conn
                    var failure: String?
                    do throws(CallFailure) {
                        let (status, _) = try conn.roundTrip(request)
                        if !(200..<300).contains(status) { failure = CallFailure.status(status).kind }
                    } catch {
                        failure = error.kind
                        if case .connect = error {
                            // Do not spin on a refused port: the gap must show, not a million errors.
                            usleep(10_000)
                        }
                    }
                    let end = DispatchTime.now().uptimeNanoseconds
                    samples.append(CallSample(endNanos: end - t0, latencyNanos: end &- start, failure: failure))
                    if end >= deadline { break }
                }
                for conn in conns.values { conn.close() }
                results.withLock { $0.append(samples) }
                group.leave()
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
        // Bounded wait: the deadline plus one call timeout; then tell stragglers to stop.
        let waitNanos = deadline - t0 + UInt64(config.timeoutMillis) * 2_000_000 + 1_000_000_000
        if group.wait(timeout: .now() + .nanoseconds(Int(waitNanos))) == .timedOut {
            stop.store(true, ordering: .relaxed)
            _ = group.wait(timeout: .now() + .milliseconds(config.timeoutMillis + 1000))
        }
        let end = DispatchTime.now().uptimeNanoseconds
        let all = results.withLock { $0.flatMap { $0 } }
        return report(all, config: config, threads: threads, rate: rate, durationNanos: end - t0,
                      stoppedBy: counter.load(ordering: .relaxed) >= config.maxRequests ? "max-requests" : "max-duration")
    }

    /// Builds the report from raw samples (pure; used by tests too).
    public static func report(_ samples: [CallSample], config: StressConfig, threads: Int, rate: Double?,
                              durationNanos: UInt64, stoppedBy: String) -> StressReport {
        let ok = samples.filter { $0.failure == nil }
        var errors: [String: Int] = [:]
        for s in samples { if let f = s.failure { errors[f, default: 0] += 1 } }
        let seconds = Double(durationNanos) / 1e9
        let gap = StressAnalysis.largestSuccessGap(samples, durationNanos: durationNanos)
        let slot = config.slot.components
        let slotNanos = UInt64(slot.seconds) * 1_000_000_000 + UInt64(slot.attoseconds / 1_000_000_000)
        let tput = seconds > 0 ? Double(ok.count) / seconds : 0
        return StressReport(
            mode: rate == nil ? "closed" : "open", concurrency: threads, targetRate: rate,
            mix: Dictionary(uniqueKeysWithValues: config.mix.filter { $0.value > 0 }.map { ($0.key.rawValue, $0.value) }),
            requests: samples.count, successes: ok.count, errors: errors, durationSeconds: seconds,
            throughput: tput, callsPerDay: StressAnalysis.callsPerDay(tput),
            latency: StressAnalysis.latency(samples.map(\.latencyNanos)),
            successLatency: StressAnalysis.latency(ok.map(\.latencyNanos)),
            largestGapSeconds: gap.seconds, largestGapStartSeconds: gap.startSeconds, stoppedBy: stoppedBy,
            timeSeries: StressAnalysis.timeSeries(samples, durationNanos: durationNanos, slotNanos: max(1, slotNanos)))
    }
}
