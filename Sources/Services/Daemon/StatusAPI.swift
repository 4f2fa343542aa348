import Cryptography
import DaemonAPI
import Foundation
import Syscall
import HealthCheck
import RingHealth
import Hummingbird
import Logging
import Net
import Reconcile
import RingMonitoring
#if canImport(Glibc)
import Glibc
#endif

/// The bearer token that guards `POST /drain` and `POST /undrain`.
public struct BearerToken: Sendable {
    /// A token file that cannot be used.
    public struct Problem: Error, CustomStringConvertible {
        /// What is wrong and what to do.
        public var description: String
    }

    let value: [UInt8]

    /// Reads `path`, refusing files that group or others may read or write.
    public static func load(path: String) throws(Problem) -> BearerToken {
        do { return BearerToken(value: Array(try SecretFile.text(path, what: "token file", minimumBytes: 16).utf8)) } catch {
            throw Problem(description: error.description)
        }
    }

    /// Constant-time comparison (libcrypto's `CRYPTO_memcmp`) with an `Authorization` header value.
    func accepts(authorization: String?) -> Bool {
        guard let h = authorization, h.hasPrefix("Bearer ") else { return false }
        return ConstantTime.equal(Array(h.dropFirst("Bearer ".count).utf8), value)
    }
}

/// Builds the status API: `GET /status` (JSON), `GET /metrics` (Prometheus), and token-guarded
/// `POST /drain` / `POST /undrain` taking `service` and `member` as query parameters.
public enum StatusAPI {
    /// The Hummingbird application, a `Service` to put in the daemon's `ServiceGroup`.
    /// `director`, when this node runs the pair's VRRP, adds the `director` block to `/status` and the
    /// `tandem_vrrp_*` and `tandem_ipvs_sync_*` series to `/metrics`.
    public static func application<C: Clock>(daemon: TandemDaemon<C>, host: String, port: Int, token: BearerToken?,
                                             director: DirectorRuntime? = nil, ring: RingMonitor? = nil, hosts: DaemonHosts? = nil,
                                             logger: Logger) -> some ApplicationProtocol where C.Duration == Duration {
        let router = Router()
        router.get("/status") { request, _ -> Response in
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            // `?service=a,b` limits the report to those services (a site of 10,000 services answers fast).
            let only = request.uri.queryParameters.get("service").map { Set($0.split(separator: ",").map(String.init)) }
            var report = daemon.report(services: only, all: request.uri.queryParameters.get("all") == "1")
            report.director = director?.report()
            report.ring = ring?.report()
            report.hosts = hosts?.report()
            let data = (try? enc.encode(report)) ?? Data("{}".utf8)
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
        }
        addMetrics(to: router, daemon: daemon, director: director, ring: ring, hosts: hosts)
        for (path, drain) in [("/drain", true), ("/undrain", false)] {
            router.post(RouterPath(path)) { request, _ -> Response in
                let answer = Answer(request)
                if let refused = answer.refusal(token: token) { return refused }
                func problem(_ p: APIProblem) -> Response { answer.problem(p) }
                guard let service = request.uri.queryParameters.get("service"),
                      let member = request.uri.queryParameters.get("member") else {
                    return problem(APIProblem(.badRequest, "want ?service=NAME&member=VM"))
                }
                let ref = MemberRef(service: service, member: member)
                do {
                    try daemon.setDrained(ref, drain)
                } catch {
                    return problem(APIProblem(.unknownMember, "\(error)"))
                }
                // Answer once the kernel holds the new weight, so "drained" means the table says so.
                let result = await waitForKernel(daemon, ref, drained: drain, timeout: .seconds(5))
                return answer(result.applied ? 200 : 202, result, text: result.rendered())
            }
        }
        // An operator's word that a lost host is off (`tandemctl hosts confirm-off HOST`), guarded like a drain.
        router.post("/hosts/:host/confirm-off") { request, context -> Response in
            let answer = Answer(request)
            if let refused = answer.refusal(token: token) { return refused }
            let host = context.parameters.get("host") ?? ""
            guard let hosts else {
                return answer.problem(APIProblem(.unknownHost, "this tandemd controls no hosts: no host of the topology has a libvirt: key"))
            }
            switch await hosts.confirmOff(host: host) {
            case .success(let r): return answer(200, r, text: r.rendered())
            case .failure(let p): return answer.problem(p)
            }
        }
        return Application(router: router, configuration: .init(address: .hostname(host, port: port), serverName: "tandemd"),
                           logger: logger)
    }

    /// A listener that serves only `GET /metrics` (`--metrics-listen`), so a Prometheus server can
    /// scrape without reaching `/status` or the drain endpoints.
    public static func metricsApplication<C: Clock>(daemon: TandemDaemon<C>, host: String, port: Int, director: DirectorRuntime? = nil,
                                                    ring: RingMonitor? = nil, hosts: DaemonHosts? = nil,
                                                    logger: Logger) -> some ApplicationProtocol where C.Duration == Duration {
        let router = Router()
        addMetrics(to: router, daemon: daemon, director: director, ring: ring, hosts: hosts)
        return Application(router: router, configuration: .init(address: .hostname(host, port: port), serverName: "tandemd"),
                           logger: logger)
    }

    /// `GET /metrics`: the VRRP, sync and ring series brought up to date, then the registry's text.
    static func addMetrics<C: Clock>(to router: Router<BasicRequestContext>, daemon: TandemDaemon<C>, director: DirectorRuntime?,
                                     ring: RingMonitor?, hosts: DaemonHosts?) where C.Duration == Duration {
        router.get("/metrics") { _, _ -> Response in
            director?.refreshMetrics(daemon.metrics)
            hosts?.refreshMetrics()
            if let ring { daemon.metrics.ring(ring.report().metrics) }
            daemon.metrics.members(daemon.memberCounts())
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                            body: .init(byteBuffer: ByteBuffer(string: daemon.metrics.render())))
        }
    }

    /// Waits until the kernel (as the last reconcile read it) holds the weight the daemon wants for
    /// `ref` now (``TandemDaemon/waitForKernelWeight(_:timeout:)``), or `timeout` runs out.
    static func waitForKernel<C: Clock>(_ daemon: TandemDaemon<C>, _ ref: MemberRef, drained: Bool,
                                        timeout: Duration) async -> DrainResult where C.Duration == Duration {
        switch await daemon.waitForKernelWeight(ref, timeout: timeout) {
        case .applied(let weight, let after):
            return DrainResult(service: ref.service, member: ref.member, drained: drained, applied: true,
                               wanted: weight, kernelWeight: weight, afterMs: Int(after.wholeMilliseconds))
        case .pending(let wanted, let kernel):
            return DrainResult(service: ref.service, member: ref.member, drained: drained, applied: false,
                               wanted: wanted, kernelWeight: kernel, afterMs: Int(timeout.wholeMilliseconds))
        }
    }
}

/// How a token-guarded `POST` answers: JSON for tandemctl (`Accept: application/json`), one line of
/// text for curl.
struct Answer {
    let json: Bool
    let authorization: String?

    init(_ request: Request) {
        json = request.headers[.accept]?.contains("application/json") ?? false
        authorization = request.headers[.authorization]
    }

    /// `value` as JSON, or `text` as one line.
    func callAsFunction<T: Encodable>(_ status: Int, _ value: T, text: String) -> Response {
        let body = json ? ((try? JSONEncoder().encode(value)) ?? Data("{}".utf8)) : Data((text + "\n").utf8)
        return Response(status: .init(code: status), headers: [.contentType: json ? "application/json" : "text/plain"],
                        body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// An error answer with its code's HTTP status.
    func problem(_ p: APIProblem) -> Response { self(p.code.httpStatus, p, text: p.message) }

    /// The answer that refuses a request without the bearer token (or with writes off), or nil.
    func refusal(token: BearerToken?) -> Response? {
        guard let token else {
            return problem(APIProblem(.drainDisabled, "drain is disabled: start tandemd with --token-file FILE (mode 0600)"))
        }
        return token.accepts(authorization: authorization) ? nil : problem(APIProblem(.unauthorized, "missing or wrong bearer token"))
    }
}
