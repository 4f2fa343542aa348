import NIOCore
import Logging
import MariaDB
import ServiceLifecycle
import Synchronization
import GridModel

/// Which service a gridsvc instance provides.
public enum GridRole: String, Sendable, CaseIterable {
    /// DN → FQANs.
    case voms
    /// DN + FQAN → account.
    case gums
    /// Authorize or deny.
    case saz
}

/// How SAZ checks ban lists.
public enum SAZMode: String, Sendable, CaseIterable {
    /// One indexed query per request (bans take effect at once; capacity bound by the DB pool).
    case db
    /// In-memory ban lists, reloaded when any node's data version changes (poll interval).
    case snapshot
}

/// Settings of one instance.
public struct GridServerSettings: Sendable {
    /// Service role.
    public var role: GridRole
    /// Most requests worked on at once; more are answered 503 + Retry-After at once.
    public var maxInFlight: Int
    /// Largest request body accepted (413 beyond).
    public var maxBodyBytes: Int
    /// SAZ ban check mode.
    public var sazMode: SAZMode
    /// Seconds sent in Retry-After when overloaded.
    public var retryAfterSeconds: Int
    /// How often the data version is polled for cache invalidation / snapshot reload.
    public var pollInterval: Duration
    /// Head, body and idle timeouts of every connection.
    public var timeouts: GridHTTPTimeouts

    /// Creates settings with defaults suited to a 2-core host.
    public init(role: GridRole, maxInFlight: Int = 64, maxBodyBytes: Int = 16 * 1024, sazMode: SAZMode = .db,
                retryAfterSeconds: Int = 1, pollInterval: Duration = .milliseconds(500), timeouts: GridHTTPTimeouts = GridHTTPTimeouts()) {
        self.role = role
        self.maxInFlight = maxInFlight
        self.maxBodyBytes = maxBodyBytes
        self.sazMode = sazMode
        self.retryAfterSeconds = retryAfterSeconds
        self.pollInterval = pollInterval
        self.timeouts = timeouts
    }
}

/// The request handling of one gridsvc instance: routing, validation, admission control, JSON errors,
/// /healthz and /metrics. Holds no per-request state; the data lives in the ring.
public final class GridService: GridHTTPResponder {
    /// Settings.
    public let settings: GridServerSettings
    /// Data access.
    public let store: GridStore
    /// Admission control for the service endpoints.
    public let gate: AdmissionGate
    /// Request metrics.
    public let metrics: ServiceMetrics
    /// SAZ snapshot (nil until first loaded).
    private let bans = Mutex<BanSnapshot?>(nil)
    private let lastVersion = Mutex<String?>(nil)
    private let logger: Logger

    /// Creates the service.
    public init(settings: GridServerSettings, store: GridStore, logger: Logger) {
        self.settings = settings
        self.store = store
        self.gate = AdmissionGate(capacity: settings.maxInFlight)
        self.logger = logger
        self.metrics = ServiceMetrics(endpoints: Self.servicePaths(settings.role) + ["/healthz", "/metrics"])
    }

    /// The service endpoints of `role`.
    static func servicePaths(_ role: GridRole) -> [String] {
        switch role {
        case .voms: ["/voms/fqans"]
        case .gums: ["/gums/map", "/gums/release"]
        case .saz: ["/saz/authorize"]
        }
    }

    // MARK: data version watching

    /// Reads the data version once; on a change drops the GUMS cache and reloads SAZ ban lists.
    /// Returns whether anything changed.
    @discardableResult
    public func refresh() async throws -> Bool {
        let v = try await store.dataVersion()
        let changed = lastVersion.withLock { last -> Bool in
            defer { last = v }
            return last != nil && last != v
        }
        if changed { store.cache.invalidateAll() }
        if settings.role == .saz, settings.sazMode == .snapshot, changed || bans.withLock({ $0 == nil }) {
            let s = try await store.loadBans()
            bans.withLock { $0 = s }
        }
        return changed
    }

    /// A ServiceLifecycle service that calls ``refresh()`` every poll interval until shutdown.
    public var watcher: some Service { Watcher(service: self) }

    struct Watcher: Service {
        let service: GridService
        func run() async throws {
            try await cancelWhenGracefulShutdown {
                while !Task.isCancelled {
                    do { try await service.refresh() } catch {
                        service.logger.warning("data version poll failed", metadata: ["error": "\(describe(error))"])
                    }
                    // Shutdown cancels the sleep: that is the normal way out, not an error (gridsvc
                    // must exit 0 on SIGTERM).
                    do { try await Task.sleep(for: service.settings.pollInterval) } catch { return }
                }
            }
        }
    }

    // MARK: HTTP

    /// The HTTP server of this instance on `host:port` (port 0 picks a free port; `onRunning` gets the
    /// bound port). It polls the data version alongside (``watcher``) and reads it once before binding.
    /// `threads` event loops (0: one per CPU the process may run on).
    public func application(host: String, port: Int, threads: Int = 0,
                            onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> GridHTTPServer {
        let service = self
        return GridHTTPServer(
            host: host, port: port, threads: threads, limits: GridHTTPLimits(maxBodyBytes: settings.maxBodyBytes),
            timeouts: settings.timeouts, responder: self,
            background: [watcher], logger: logger,
            beforeStart: {
                do { try await service.refresh() } catch {
                    service.logger.warning("database not reachable at start; serving 503 until it is", metadata: ["error": "\(describe(error))"])
                }
            },
            onRunning: onRunning)
    }

    private static let jsonType = "application/json"

    /// Answers one request, waiting for database work if any (tests; the server uses ``respond(_:)``).
    public func handle(_ request: GridHTTPRequest) async -> GridHTTPResponse {
        switch respond(request) {
        case .now(let r): return r
        case .later(let work): return await work()
        }
    }

    /// Answers one request: at once when no database call is needed (errors, GUMS cache hits, SAZ
    /// snapshot decisions, /metrics), else as work to run off the event loop. Never fails: every failure
    /// becomes a JSON error body. Records the request in ``metrics``.
    public func respond(_ request: GridHTTPRequest) -> GridHTTPReply {
        let start = ContinuousClock.now
        let path = request.path
        let endpoint: ServiceMetrics.Endpoint
        let reply: GridHTTPReply
        switch path {
        case "/healthz":
            endpoint = metrics.endpoint("/healthz")
            if request.method == "GET" || request.method == "HEAD" {
                reply = .later { await self.health() }
            } else {
                reply = .now(methodNotAllowed("GET"))
            }
        case "/metrics":
            endpoint = metrics.endpoint("/metrics")
            reply = .now(request.method == "GET" ? text(renderMetrics(), contentType: "text/plain; version=0.0.4") : methodNotAllowed("GET"))
        case "/voms/fqans" where settings.role == .voms,
             "/gums/map" where settings.role == .gums,
             "/gums/release" where settings.role == .gums,
             "/saz/authorize" where settings.role == .saz:
            endpoint = metrics.endpoint(path)
            if request.method != "POST" {
                reply = .now(methodNotAllowed("POST"))
            } else if !gate.tryEnter() {
                var r = error(503, "overloaded", "more than \(gate.capacity) requests in flight; retry after \(settings.retryAfterSeconds) s")
                r.headers.append(("Retry-After", String(settings.retryAfterSeconds)))
                reply = .now(r)
            } else {
                switch serve(request, path: path) {
                case .now(let r):
                    gate.leave()
                    reply = .now(r)
                case .later(let work):
                    let gate = self.gate
                    reply = .later {
                        defer { gate.leave() }
                        return await work()
                    }
                }
            }
        default:
            endpoint = metrics.other
            reply = .now(error(404, "not_found", "no endpoint \(path) on a \(settings.role.rawValue) instance (endpoints: \(endpoints.joined(separator: ", ")), /healthz, /metrics)"))
        }
        switch reply {
        case .now(let r):
            record(endpoint, r, since: start)
            return reply
        case .later(let work):
            return .later {
                let r = await work()
                self.record(endpoint, r, since: start)
                return r
            }
        }
    }

    private func record(_ endpoint: ServiceMetrics.Endpoint, _ r: GridHTTPResponse, since start: ContinuousClock.Instant) {
        endpoint.record(status: r.status, duration: ContinuousClock.now - start)
    }

    private var endpoints: [String] { Self.servicePaths(settings.role).map { "POST " + $0 } }

    private func serve(_ request: GridHTTPRequest, path: String) -> GridHTTPReply {
        let ct = request.contentType ?? ""
        guard Self.isJSONType(ct) else {
            return .now(error(415, "unsupported_media_type", "Content-Type must be application/json, got '\(ct)'"))
        }
        if let len = request.contentLength, len > settings.maxBodyBytes {
            return .now(error(413, "body_too_large", "body of \(len) bytes exceeds the \(settings.maxBodyBytes)-byte limit"))
        }
        if request.bodyTooLarge {
            return .now(error(413, "body_too_large", "body exceeds the \(settings.maxBodyBytes)-byte limit"))
        }
        do {
            let body = try Self.object(request.body)
            switch path {
            case "/voms/fqans":
                let dn = try parseDN(body.string("dn"))
                return later { s in
                    let fqans = try await s.store.fqans(of: dn)
                    var w = GridJSON.ObjectWriter()
                    w.string("dn", dn.text)
                    w.strings("fqans", fqans)
                    return s.json(w.finish())
                }
            case "/gums/map":
                let dn = try parseDN(body.string("dn"))
                let fqan = try parseFQAN(body.string("fqan"))
                let key = MappingKey(dn: dn.text, fqan: fqan.description)
                let hit = store.cache.lookup(key)
                if let m = hit.value { return .now(gumsAnswer(key, m)) }
                return later { s in
                    s.gumsAnswer(key, try await s.store.resolve(dn: dn, fqan: fqan, key: key, epoch: hit.epoch))
                }
            case "/gums/release":
                let dn = try parseDN(body.string("dn"))
                return later { s in
                    let n = try await s.store.release(dn: dn)
                    var w = GridJSON.ObjectWriter()
                    w.string("dn", dn.text)
                    w.int("released", n)
                    return s.json(w.finish())
                }
            case "/saz/authorize":
                let dn = try parseDN(body.string("dn"))
                let ca = try body.optionalString("ca")
                if let ca { _ = try parseDN(ca, field: "ca") }
                let fqans = try (body.optionalStrings("fqans") ?? []).map(parseFQAN)
                switch settings.sazMode {
                case .db:
                    return later { s in s.sazAnswer(dn, try await s.store.authorize(dn: dn, ca: ca, fqans: fqans)) }
                case .snapshot:
                    guard let snap = bans.withLock({ $0 }) else {
                        throw GridError(code: "not_ready", status: 503, message: "ban lists not loaded yet (database unreachable?); see /healthz")
                    }
                    return .now(sazAnswer(dn, snap.decide(dn: dn.text, ca: ca, fqans: fqans)))
                }
            default:
                return .now(error(404, "not_found", "no endpoint \(path)"))
            }
        } catch {
            return .now(failure(error))
        }
    }

    /// `application/json`, optionally with parameters (`; charset=utf-8`), any case.
    /// Whether a `Content-Type` value is the media type `application/json`, with or without parameters
    /// (RFC 9110 section 8.3.1: `type "/" subtype *( OWS ";" OWS parameter )`, case-insensitive type and
    /// subtype). `application/jsonxyz` is another media type.
    static func isJSONType(_ ct: String) -> Bool {
        var it = ct.utf8.makeIterator()
        for expected in "application/json".utf8 {
            guard var c = it.next() else { return false }
            if c >= 0x41 && c <= 0x5A { c += 0x20 }
            guard c == expected else { return false }
        }
        while let c = it.next() {
            if c == UInt8(ascii: ";") { return true }
            guard c == 0x20 || c == 0x09 else { return false }
        }
        return true
    }

    private static func object(_ body: ByteBuffer) throws -> GridJSONObject {
        try body.withUnsafeReadableBytes { b in try GridJSONObject(body: b) }
    }

    /// Work off the event loop, every error mapped to its JSON answer.
    private func later(_ work: @escaping @Sendable (GridService) async throws -> GridHTTPResponse) -> GridHTTPReply {
        .later {
            do { return try await work(self) } catch { return self.failure(error) }
        }
    }

    private func gumsAnswer(_ key: MappingKey, _ m: GUMSMapping) -> GridHTTPResponse {
        var w = GridJSON.ObjectWriter(capacity: 96 + key.dn.utf8.count + 2 * key.fqan.utf8.count + m.account.utf8.count)
        w.string("dn", key.dn)
        w.string("fqan", key.fqan)
        w.string("account", m.account)
        w.string("kind", m.kind)
        w.string("matchedFQAN", m.matchedFQAN)
        if let slice = m.slice { w.int("slice", slice) }
        return json(w.finish())
    }

    private func sazAnswer(_ dn: DistinguishedName, _ d: SAZDecision) -> GridHTTPResponse {
        var w = GridJSON.ObjectWriter(capacity: 64 + dn.text.utf8.count + d.reason.utf8.count)
        w.string("dn", dn.text)
        w.string("decision", d.decision)
        w.string("reason", d.reason)
        return json(w.finish())
    }

    /// The JSON answer for any error thrown while serving.
    private func failure(_ error: any Error) -> GridHTTPResponse {
        switch error {
        case let e as GridError:
            var r = self.error(e.status, e.code, e.message)
            if e.status == 503 { r.headers.append(("Retry-After", String(settings.retryAfterSeconds))) }
            return r
        case let e as MariaDBError:
            metrics.recordDBError(errno: e.errno)
            var r = self.error(503, "db_unavailable", "database error: \(describe(e)); retry shortly")
            r.headers.append(("Retry-After", String(settings.retryAfterSeconds)))
            return r
        case let e as MariaDBPoolError:
            var r = self.error(503, "db_busy", "\(e)")
            r.headers.append(("Retry-After", String(settings.retryAfterSeconds)))
            return r
        default:
            return self.error(500, "internal", describe(error))
        }
    }

    private func parseDN(_ text: String, field: String = "dn") throws(GridError) -> DistinguishedName {
        do { return try DistinguishedName(text) } catch {
            throw GridError(code: "malformed_dn", status: 400, message: "field '\(field)': \(error)")
        }
    }

    private func parseFQAN(_ text: String) throws(GridError) -> FQAN {
        do { return try FQAN(text) } catch {
            throw GridError(code: "malformed_fqan", status: 400, message: "\(error)")
        }
    }

    private func health() async -> GridHTTPResponse {
        do {
            try await store.ping()
            if settings.role == .saz, settings.sazMode == .snapshot, bans.withLock({ $0 == nil }) {
                try await refresh()
            }
            var w = GridJSON.ObjectWriter()
            w.string("status", "ok")
            w.string("role", settings.role.rawValue)
            w.string("database", store.db.activeEndpoint.description)
            return json(w.finish())
        } catch {
            let reason = "database \(store.db.endpoints.map(\.description).joined(separator: ",")) unreachable: \(describe(error))"
            var w = GridJSON.ObjectWriter()
            w.string("status", "unavailable")
            w.string("role", settings.role.rawValue)
            w.string("database", store.db.activeEndpoint.description)
            w.string("reason", reason)
            var r = json(w.finish(), status: 503)
            r.headers.append(("Retry-After", String(settings.retryAfterSeconds)))
            return r
        }
    }

    /// The Prometheus exposition of this instance.
    public func renderMetrics() -> String {
        let c = store.cache.stats
        return metrics.render(
            gauges: ["gridsvc_in_flight": gate.current, "gridsvc_capacity": gate.capacity,
                     "gridsvc_gums_cache_entries": c.count, "gridsvc_gums_cache_capacity": store.cache.capacity],
            counters: ["gridsvc_rejected": gate.rejected, "gridsvc_gums_cache_hits": c.hits,
                       "gridsvc_gums_cache_misses": c.misses, "gridsvc_gums_cache_invalidations": c.invalidations])
    }

    private func methodNotAllowed(_ allow: String) -> GridHTTPResponse {
        var r = error(405, "method_not_allowed", "use \(allow) on this endpoint")
        r.headers.append(("Allow", allow))
        return r
    }

    private func error(_ status: Int, _ code: String, _ message: String) -> GridHTTPResponse {
        var w = GridJSON.ObjectWriter(capacity: 48 + code.utf8.count + message.utf8.count)
        w.string("error", code)
        w.string("message", message)
        return json(w.finish(), status: status)
    }

    private func json(_ body: [UInt8], status: Int = 200) -> GridHTTPResponse {
        GridHTTPResponse(status: status, contentType: Self.jsonType, body: body)
    }

    private func text(_ s: String, contentType: String) -> GridHTTPResponse {
        GridHTTPResponse(status: 200, contentType: contentType, body: Array(s.utf8))
    }
}

/// One line describing any error, MariaDB errors with errno and endpoint.
public func describe(_ error: any Error) -> String {
    if let e = error as? MariaDBError {
        return "\(e.operation) on \(e.endpoint): errno \(e.errno) (\(e.sqlState)) \(e.message)"
    }
    return "\(error)"
}
