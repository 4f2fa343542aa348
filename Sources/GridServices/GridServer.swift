import Foundation
import Hummingbird
import Logging
import MariaDB
import ServiceLifecycle
import Synchronization

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

    /// Creates settings with defaults suited to a 2-core host.
    public init(role: GridRole, maxInFlight: Int = 64, maxBodyBytes: Int = 16 * 1024, sazMode: SAZMode = .db,
                retryAfterSeconds: Int = 1, pollInterval: Duration = .milliseconds(500)) {
        self.role = role
        self.maxInFlight = maxInFlight
        self.maxBodyBytes = maxBodyBytes
        self.sazMode = sazMode
        self.retryAfterSeconds = retryAfterSeconds
        self.pollInterval = pollInterval
    }
}

/// The request handling of one gridsvc instance: routing, validation, admission control, JSON errors,
/// /healthz and /metrics. Holds no per-request state; the data lives in the ring.
public final class GridService: Sendable {
    /// Settings.
    public let settings: GridServerSettings
    /// Data access.
    public let store: GridStore
    /// Admission control for the service endpoints.
    public let gate: AdmissionGate
    /// Request metrics.
    public let metrics = ServiceMetrics()
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
                    try await Task.sleep(for: service.settings.pollInterval)
                }
            }
        }
    }

    // MARK: HTTP

    /// A Hummingbird application serving this instance on `host:port` (port 0 picks a free port;
    /// `onRunning` gets the bound port).
    public func application(host: String, port: Int, onRunning: @escaping @Sendable (Int) async -> Void = { _ in })
        -> some ApplicationProtocol
    {
        var app = Application(
            responder: Responder(service: self),
            configuration: .init(address: .hostname(host, port: port), serverName: "gridsvc-\(settings.role.rawValue)"),
            services: [watcher],
            onServerRunning: { ch in await onRunning(ch.localAddress?.port ?? port) },
            logger: logger)
        let service = self
        app.beforeServerStarts {
            do { try await service.refresh() } catch {
                service.logger.warning("database not reachable at start; serving 503 until it is", metadata: ["error": "\(describe(error))"])
            }
        }
        return app
    }

    struct Responder: HTTPResponder {
        typealias Context = BasicRequestContext
        let service: GridService
        func respond(to request: Request, context: BasicRequestContext) async throws -> Response {
            await service.handle(request)
        }
    }

    private static let jsonType = "application/json"
    private static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.withoutEscapingSlashes]
        return e
    }()

    /// Answers one request; never throws (every failure becomes a JSON error body).
    public func handle(_ request: Request) async -> Response {
        let start = ContinuousClock.now
        let path = request.uri.path
        let (endpoint, response) = await route(request, path: path)
        let d = (ContinuousClock.now - start).components
        metrics.record(endpoint: endpoint, status: Int(response.status.code),
                       seconds: Double(d.seconds) + Double(d.attoseconds) * 1e-18)
        return response
    }

    private func route(_ request: Request, path: String) async -> (String, Response) {
        switch path {
        case "/healthz":
            guard request.method == .get || request.method == .head else { return (path, methodNotAllowed("GET")) }
            return (path, await health())
        case "/metrics":
            guard request.method == .get else { return (path, methodNotAllowed("GET")) }
            return (path, text(renderMetrics(), contentType: "text/plain; version=0.0.4"))
        case "/voms/fqans" where settings.role == .voms,
             "/gums/map" where settings.role == .gums,
             "/gums/release" where settings.role == .gums,
             "/saz/authorize" where settings.role == .saz:
            guard request.method == .post else { return (path, methodNotAllowed("POST")) }
            guard gate.tryEnter() else {
                var r = error(503, "overloaded", "more than \(gate.capacity) requests in flight; retry after \(settings.retryAfterSeconds) s")
                r.headers[.retryAfter] = String(settings.retryAfterSeconds)
                return (path, r)
            }
            defer { gate.leave() }
            return (path, await serve(request, path: path))
        default:
            return ("other", error(404, "not_found", "no endpoint \(path) on a \(settings.role.rawValue) instance (endpoints: \(endpoints.joined(separator: ", ")), /healthz, /metrics)"))
        }
    }

    private var endpoints: [String] {
        switch settings.role {
        case .voms: ["POST /voms/fqans"]
        case .gums: ["POST /gums/map", "POST /gums/release"]
        case .saz: ["POST /saz/authorize"]
        }
    }

    private func serve(_ request: Request, path: String) async -> Response {
        let ct = request.headers[.contentType] ?? ""
        guard ct.lowercased().hasPrefix(Self.jsonType) else {
            return error(415, "unsupported_media_type", "Content-Type must be application/json, got '\(ct)'")
        }
        if let len = request.headers[.contentLength].flatMap(Int.init), len > settings.maxBodyBytes {
            return error(413, "body_too_large", "body of \(len) bytes exceeds the \(settings.maxBodyBytes)-byte limit")
        }
        var req = request
        let buffer: ByteBuffer
        do { buffer = try await req.collectBody(upTo: settings.maxBodyBytes) } catch {
            return self.error(413, "body_too_large", "body exceeds the \(settings.maxBodyBytes)-byte limit")
        }
        let data = Data(buffer.readableBytesView)
        do {
            switch path {
            case "/voms/fqans":
                let body = try decode(GridAPI.VOMSRequest.self, data)
                let dn = try parseDN(body.dn)
                let fqans = try await store.fqans(of: dn)
                return json(GridAPI.VOMSResponse(dn: dn.text, fqans: fqans))
            case "/gums/map":
                let body = try decode(GridAPI.GUMSRequest.self, data)
                let dn = try parseDN(body.dn)
                let fqan = try parseFQAN(body.fqan)
                let m = try await store.map(dn: dn, fqan: fqan)
                return json(GridAPI.GUMSResponse(dn: dn.text, fqan: fqan.description, account: m.account, kind: m.kind,
                                                 matchedFQAN: m.matchedFQAN, slice: m.slice))
            case "/gums/release":
                let body = try decode(GridAPI.ReleaseRequest.self, data)
                let dn = try parseDN(body.dn)
                let n = try await store.release(dn: dn)
                return json(GridAPI.ReleaseResponse(dn: dn.text, released: n))
            case "/saz/authorize":
                let body = try decode(GridAPI.SAZRequest.self, data)
                let dn = try parseDN(body.dn)
                if let ca = body.ca { _ = try parseDN(ca, field: "ca") }
                let fqans = try (body.fqans ?? []).map(parseFQAN)
                let decision: SAZDecision
                switch settings.sazMode {
                case .db: decision = try await store.authorize(dn: dn, ca: body.ca, fqans: fqans)
                case .snapshot:
                    guard let snap = bans.withLock({ $0 }) else {
                        throw GridError(code: "not_ready", status: 503, message: "ban lists not loaded yet (database unreachable?); see /healthz")
                    }
                    decision = snap.decide(dn: dn.text, ca: body.ca, fqans: fqans)
                }
                return json(GridAPI.SAZResponse(dn: dn.text, decision: decision.decision, reason: decision.reason))
            default:
                return error(404, "not_found", "no endpoint \(path)")
            }
        } catch let e as GridError {
            return error(e.status, e.code, e.message)
        } catch let e as MariaDBError {
            metrics.recordDBError(errno: e.errno)
            var r = error(503, "db_unavailable", "database error: \(describe(e)); retry shortly")
            r.headers[.retryAfter] = String(settings.retryAfterSeconds)
            return r
        } catch let e as MariaDBPoolError {
            var r = error(503, "db_busy", "\(e)")
            r.headers[.retryAfter] = String(settings.retryAfterSeconds)
            return r
        } catch {
            return self.error(500, "internal", describe(error))
        }
    }

    private func decode<T: Decodable>(_ type: T.Type, _ data: Data) throws -> T {
        do { return try JSONDecoder().decode(type, from: data) } catch let DecodingError.keyNotFound(key, _) {
            throw GridError(code: "missing_field", status: 400, message: "missing field '\(key.stringValue)' in the JSON body")
        } catch let DecodingError.typeMismatch(_, ctx), let DecodingError.valueNotFound(_, ctx) {
            let field = ctx.codingPath.map(\.stringValue).joined(separator: ".")
            throw GridError(code: "bad_field", status: 400, message: "field '\(field)' has the wrong type or is null: \(ctx.debugDescription)")
        } catch {
            throw GridError(code: "malformed_json", status: 400, message: "the body is not a JSON object of the expected shape")
        }
    }

    private func parseDN(_ text: String, field: String = "dn") throws -> DistinguishedName {
        do { return try DistinguishedName(text) } catch {
            throw GridError(code: "malformed_dn", status: 400, message: "field '\(field)': \(error)")
        }
    }

    private func parseFQAN(_ text: String) throws -> FQAN {
        do { return try FQAN(text) } catch {
            throw GridError(code: "malformed_fqan", status: 400, message: "\(error)")
        }
    }

    private func health() async -> Response {
        do {
            try await store.ping()
            if settings.role == .saz, settings.sazMode == .snapshot, bans.withLock({ $0 == nil }) {
                try await refresh()
            }
            return json(Health(status: "ok", role: settings.role.rawValue, database: store.db.activeEndpoint.description, reason: nil))
        } catch {
            let reason = "database \(store.db.endpoints.map(\.description).joined(separator: ",")) unreachable: \(describe(error))"
            var r = json(Health(status: "unavailable", role: settings.role.rawValue, database: store.db.activeEndpoint.description, reason: reason), status: 503)
            r.headers[.retryAfter] = String(settings.retryAfterSeconds)
            return r
        }
    }

    struct Health: Codable {
        var status: String
        var role: String
        var database: String
        var reason: String?
    }

    /// The Prometheus exposition of this instance.
    public func renderMetrics() -> String {
        let c = store.cache.stats
        return metrics.render(extra: [
            .init(name: "gridsvc_in_flight", help: "Requests being worked on.", type: "gauge", value: Double(gate.current)),
            .init(name: "gridsvc_capacity", help: "Most requests worked on at once.", type: "gauge", value: Double(gate.capacity)),
            .init(name: "gridsvc_rejected_total", help: "Requests refused with 503 because the instance was at capacity.", type: "counter", value: Double(gate.rejected)),
            .init(name: "gridsvc_gums_cache_entries", help: "GUMS mapping cache entries.", type: "gauge", value: Double(c.count)),
            .init(name: "gridsvc_gums_cache_capacity", help: "GUMS mapping cache capacity (0 = off).", type: "gauge", value: Double(store.cache.capacity)),
            .init(name: "gridsvc_gums_cache_hits_total", help: "GUMS cache hits.", type: "counter", value: Double(c.hits)),
            .init(name: "gridsvc_gums_cache_misses_total", help: "GUMS cache misses.", type: "counter", value: Double(c.misses)),
            .init(name: "gridsvc_gums_cache_invalidations_total", help: "GUMS cache invalidations.", type: "counter", value: Double(c.invalidations)),
        ])
    }

    private func methodNotAllowed(_ allow: String) -> Response {
        var r = error(405, "method_not_allowed", "use \(allow) on this endpoint")
        r.headers[.allow] = allow
        return r
    }

    private func error(_ status: Int, _ code: String, _ message: String) -> Response {
        json(GridAPI.ErrorBody(error: code, message: message), status: status)
    }

    private func json<T: Encodable>(_ value: T, status: Int = 200) -> Response {
        let data = (try? Self.encoder.encode(value)) ?? Data("{\"error\":\"internal\",\"message\":\"encoding failed\"}".utf8)
        return Response(status: .init(code: status), headers: [.contentType: Self.jsonType],
                        body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    private func text(_ s: String, contentType: String) -> Response {
        Response(status: .ok, headers: [.contentType: contentType], body: .init(byteBuffer: ByteBuffer(string: s)))
    }
}

/// One line describing any error, MariaDB errors with errno and endpoint.
public func describe(_ error: any Error) -> String {
    if let e = error as? MariaDBError {
        return "\(e.operation) on \(e.endpoint): errno \(e.errno) (\(e.sqlState)) \(e.message)"
    }
    return "\(error)"
}
