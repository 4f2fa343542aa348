import Foundation
import Synchronization
import GridModel
import HTTPWire
import LoadReport
import Net
import Syscall

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
    /// Closed loop: threads multiplexing the workers' connections (0 = one per CPU the client may run on).
    public var clientThreads: Int = 0
    /// Call k goes to the k-th (user, variant) in order instead of a random one: every GUMS (DN, FQAN)
    /// key, or every user, once per pass (data sets up to the prebuild limit; else random as usual).
    public var sweep: Bool
    /// Hold one extra keep-alive connection through the run, a `GET staticPath` on it every this
    /// often, never reconnecting (``HeldConnectionReport``); `nil`: none. It goes to the target of
    /// `static` calls, else to the first kind of the mix that has a target.
    public var holdConnection: Duration?
    /// Thrown from outside (a signal) to end the run early with a report.
    public var stopSwitch = StopSwitch()
    /// Called with a line of progress: once at t = 0 (`started at epoch-ms N`, which a drill
    /// waits for), then about every second; `nil`: silent.
    public var progress: (@Sendable (String) -> Void)?

    /// Creates a config.
    public init(targets: [CallKind: (host: String, port: Int)], mix: [CallKind: Int], mode: Mode, maxRequests: Int,
                maxDuration: Duration, timeoutMillis: Int = 2000, seed: UInt64 = 42, users: Int = 20_000,
                staticPath: String = "/healthz", slot: Duration = .milliseconds(100), sweep: Bool = false) {
        self.sweep = sweep
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

/// Runs a bounded stress test on worker threads (one blocking keep-alive connection each).
public enum StressRunner {
    /// HTTP requests over users and kinds, picked by a per-worker PRNG. For data sets up to
    /// ``prebuildLimit`` users every request is built once up front (the client's core then only copies
    /// bytes to the socket); larger sets build each request on the fly. Both give the same requests for the
    /// same PRNG state.
    struct RequestFactory: Sendable {
        let plan: SeedPlan
        let kinds: [CallKind]   // weighted, e.g. [gums, gums, saz]
        let config: StressConfig
        /// Per kind (index = position in `CallKind.allCases`), per user, per variant: request bytes.
        /// Variants: gums → one per FQAN of the user; voms → one; saz → [own CA, banned CA].
        let prebuilt: [[[[UInt8]]]]?
        let staticRequest: [UInt8]

        /// Users up to which requests are prebuilt (20,000 users ≈ 15 MB).
        static let prebuildLimit = 100_000

        init(plan: SeedPlan, kinds: [CallKind], config: StressConfig) {
            self.plan = plan
            self.kinds = kinds
            self.config = config
            let staticTarget = config.targets[.static]
            self.staticRequest = Array("GET \(config.staticPath) HTTP/1.1\r\nHost: \(staticTarget?.host ?? ""):\(staticTarget?.port ?? 0)\r\n\r\n".utf8)
            if plan.users <= Self.prebuildLimit {
                let used = Set(kinds)
                var table: [[[[UInt8]]]] = Array(repeating: [], count: CallKind.allCases.count)
                for (k, kind) in CallKind.allCases.enumerated() where used.contains(kind) && kind != .static {
                    var perUser: [[[UInt8]]] = []
                    perUser.reserveCapacity(plan.users)
                    for i in 0..<plan.users {
                        let user = plan.user(i)
                        switch kind {
                        case .gums: perUser.append(user.fqans.map { Self.request(kind, user, fqan: $0, ca: user.ca, config) })
                        case .saz: perUser.append([Self.request(kind, user, fqan: "", ca: user.ca, config),
                                                   Self.request(kind, user, fqan: "", ca: SeedPlan.bannedCA, config)])
                        default: perUser.append([Self.request(kind, user, fqan: "", ca: user.ca, config)])
                        }
                    }
                    table[k] = perUser
                }
                self.prebuilt = table
                var order: [(Int, Int, Int)] = []
                if config.sweep {
                    for (k, perUser) in table.enumerated() {
                        for (u, variants) in perUser.enumerated() {
                            // GUMS: every FQAN; SAZ: the user's own CA only; VOMS: one.
                            let n = CallKind.allCases[k] == .gums ? variants.count : 1
                            for v in 0..<n { order.append((k, u, v)) }
                        }
                    }
                }
                self.sweepOrder = order
            } else {
                self.prebuilt = nil
                self.sweepOrder = []
            }
        }

        /// The (kind, user, variant) visited by call k in a sweep, in order; empty when not sweeping.
        let sweepOrder: [(Int, Int, Int)]

        /// The request of call number `k` (a sweep's k-th entry), else a random one from `rng`.
        func make(_ rng: inout SplitMix64, call k: Int) -> (CallKind, [UInt8]) {
            if !sweepOrder.isEmpty, let prebuilt {
                let (kind, u, v) = sweepOrder[k % sweepOrder.count]
                return (CallKind.allCases[kind], prebuilt[kind][u][v])
            }
            return make(&rng)
        }

        func make(_ rng: inout SplitMix64) -> (CallKind, [UInt8]) {
            let kind = kinds[Int(rng.next() % UInt64(kinds.count))]
            if kind == .static { return (kind, staticRequest) }
            let i = Int(rng.next() % UInt64(plan.users))
            if let prebuilt {
                let variants = prebuilt[CallKind.allCases.firstIndex(of: kind)!][i]
                switch kind {
                case .gums: return (kind, variants[Int(rng.next() % UInt64(variants.count))])
                case .saz: return (kind, variants[rng.next() % 200 == 0 ? 1 : 0])
                default: return (kind, variants[0])
                }
            }
            let user = plan.user(i)
            switch kind {
            case .gums:
                let f = user.fqans[Int(rng.next() % UInt64(user.fqans.count))]
                return (kind, Self.request(kind, user, fqan: f, ca: user.ca, config))
            case .saz:
                let ca = rng.next() % 200 == 0 ? SeedPlan.bannedCA : user.ca
                return (kind, Self.request(kind, user, fqan: "", ca: ca, config))
            default:
                return (kind, Self.request(kind, user, fqan: "", ca: user.ca, config))
            }
        }

        /// The complete HTTP request of one call.
        static func request(_ kind: CallKind, _ user: SeedPlan.User, fqan: String, ca: String, _ config: StressConfig) -> [UInt8] {
            let target = config.targets[kind]!
            let host = "\(target.host):\(target.port)"
            let body: String
            let path: String
            switch kind {
            case .voms:
                path = "/voms/fqans"
                body = "{\"dn\":\(Self.quote(user.dn))}"
            case .gums:
                path = "/gums/map"
                body = "{\"dn\":\(Self.quote(user.dn)),\"fqan\":\(Self.quote(fqan))}"
            default:
                path = "/saz/authorize"
                body = "{\"dn\":\(Self.quote(user.dn)),\"ca\":\(Self.quote(ca)),\"fqans\":[\(user.fqans.map(Self.quote).joined(separator: ","))]}"
            }
            let bytes = Array(body.utf8)
            return Array("POST \(path) HTTP/1.1\r\nHost: \(host)\r\nContent-Type: application/json\r\nContent-Length: \(bytes.count)\r\n\r\n".utf8) + bytes
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
        let control = RunControl(stopSwitch: config.stopSwitch)
        let results = Mutex<[[CallSample]]>([])
        let held = Mutex<HeldConnectionReport?>(nil)
        let t0 = DispatchTime.now().uptimeNanoseconds
        let startedAtEpochMillis = Double(Clocks.wallMicroseconds()) / 1000
        let finished = StopSwitch()   // the run is over: the progress ticker ends
        if let progress = config.progress {
            progress("started at epoch-ms \(Int64(startedAtEpochMillis))")
            let ticker = Thread {
                var second = 0
                while !finished.isThrown {
                    usleep(100_000)
                    let elapsed = Int((DispatchTime.now().uptimeNanoseconds - t0) / 1_000_000_000)
                    if elapsed > second && !finished.isThrown {
                        second = elapsed
                        progress("t=\(second)s: \(min(control.counter.load(ordering: .relaxed), config.maxRequests)) calls started")
                    }
                }
            }
            ticker.start()
        }
        let deadline = t0 + UInt64(max(0, config.maxDuration.wholeNanoseconds))
        let group = DispatchGroup()
        if case .closed(let workers) = config.mode {
            // Closed loop: the workers' connections multiplexed with poll(2), one thread per CPU.
            let loops = max(1, min(workers, config.clientThreads > 0 ? config.clientThreads : allowedCPUCount()))
            for l in 0..<loops {
                let first = workers * l / loops, count = workers * (l + 1) / loops - first
                group.enter()
                let thread = Thread {
                    let loop = PollLoop(factory: factory, config: config, first: first, count: count, control: control,
                                        t0: t0, deadline: deadline)
                    let samples = loop.run()
                    results.withLock { $0.append(samples) }
                    group.leave()
                }
                thread.stackSize = 1 << 20
                thread.start()
            }
        }
        for w in 0..<threads where rate != nil {
            group.enter()
            let thread = Thread {
                var samples: [CallSample] = []
                samples.reserveCapacity(min(config.maxRequests / threads + 16, 1 << 20))
                var rng = SplitMix64(seed: config.seed &+ UInt64(w) &* 0x9E37_79B9)
                var conns = [HTTPConnection?](repeating: nil, count: CallKind.allCases.count)
                while !control.stopped {
                    let k = control.counter.wrappingAdd(1, ordering: .relaxed).oldValue
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
                    let (kind, request) = factory.make(&rng, call: k)
                    let slot = CallKind.allCases.firstIndex(of: kind)!
                    let conn: HTTPConnection
                    if let c = conns[slot] { conn = c } else {
                        let target = config.targets[kind]!
                        conn = HTTPConnection(host: target.host, port: target.port, timeoutMillis: config.timeoutMillis)
                        conns[slot] = conn
                    }
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
                for conn in conns { conn?.close() }
                results.withLock { $0.append(samples) }
                group.leave()
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
        if let every = config.holdConnection, let target = config.targets[.static] ?? kinds.lazy.compactMap({ config.targets[$0] }).first {
            group.enter()
            let thread = Thread {
                let record = holdConnection(to: target, every: every, config: config, control: control, t0: t0, deadline: deadline)
                held.withLock { $0 = record }
                group.leave()
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
        // Bounded wait: the deadline plus one call timeout; then tell stragglers to stop.
        let waitNanos = deadline - t0 + UInt64(config.timeoutMillis) * 2_000_000 + 1_000_000_000
        if group.wait(timeout: .now() + .nanoseconds(Int(waitNanos))) == .timedOut {
            control.stopSwitch.stopForBound()
            _ = group.wait(timeout: .now() + .milliseconds(config.timeoutMillis + 1000))
        }
        let end = DispatchTime.now().uptimeNanoseconds
        finished.stopForBound()
        let all = results.withLock { $0.flatMap { $0 } }
        let stoppedBy = config.stopSwitch.stoppedFromOutside ? "signal"
            : control.counter.load(ordering: .relaxed) >= config.maxRequests ? "max-requests" : "max-duration"
        var r = report(all, config: config, threads: threads, rate: rate, durationNanos: end - t0, stoppedBy: stoppedBy)
        r.startedAtEpochMillis = startedAtEpochMillis
        r.heldConnection = held.withLock { $0 }
        return r
    }

    /// The held connection (``StressConfig/holdConnection``): one socket, a `GET` every `every`,
    /// until the run ends or the connection breaks; it never reconnects.
    private static func holdConnection(to target: (host: String, port: Int), every: Duration, config: StressConfig,
                                       control: RunControl, t0: UInt64, deadline: UInt64) -> HeldConnectionReport {
        func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9 }
        var record = HeldConnectionReport(connectedAt: nil, answerTimes: [], failure: nil, failedAt: nil)
        let conn = HTTPConnection(host: target.host, port: target.port, timeoutMillis: max(config.timeoutMillis, 2000), reconnects: false)
        defer { conn.close() }
        let request = Array("GET \(config.staticPath) HTTP/1.1\r\nHost: \(target.host):\(target.port)\r\n\r\n".utf8)
        let pause = UInt32(max(1, every.wholeMilliseconds) * 1000)
        do throws(CallFailure) {
            try conn.open()
            record.connectedAt = now()
            while !control.stopped && DispatchTime.now().uptimeNanoseconds < deadline {
                let (status, _) = try conn.roundTrip(request)
                guard (200..<300).contains(status) else { throw .status(status) }
                record.answerTimes.append(now())
                usleep(pause)
            }
        } catch {
            record.failure = error.kind
            record.failedAt = now()
        }
        return record
    }

    /// Builds the report from raw samples (pure; used by tests too).
    public static func report(_ samples: [CallSample], config: StressConfig, threads: Int, rate: Double?,
                              durationNanos: UInt64, stoppedBy: String) -> StressReport {
        let ok = samples.filter { $0.failure == nil }
        var errors: [String: Int] = [:]
        for s in samples { if let f = s.failure { errors[f, default: 0] += 1 } }
        let seconds = Double(durationNanos) / 1e9
        let gap = StressAnalysis.largestSuccessGap(samples, durationNanos: durationNanos)
        let slotNanos = UInt64(max(0, config.slot.wholeNanoseconds))
        let tput = seconds > 0 ? Double(ok.count) / seconds : 0
        return StressReport(
            mode: rate == nil ? "closed" : "open", concurrency: threads, targetRate: rate,
            mix: Dictionary(uniqueKeysWithValues: config.mix.filter { $0.value > 0 }.map { ($0.key.rawValue, $0.value) }),
            requests: samples.count, successes: ok.count, errors: errors, durationSeconds: seconds,
            throughput: tput, callsPerDay: StressAnalysis.callsPerDay(tput),
            latency: StressAnalysis.latency(samples.map(\.latencyNanos)),
            successLatency: StressAnalysis.latency(ok.map(\.latencyNanos)),
            largestGapSeconds: gap.seconds, largestGapStartSeconds: gap.startSeconds, stoppedBy: stoppedBy,
            timeSeries: StressAnalysis.timeSeries(samples, durationNanos: durationNanos, slotNanos: max(1, slotNanos)),
            slotMillis: Double(max(1, slotNanos)) / 1e6)
    }
}
