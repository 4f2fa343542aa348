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

    /// Constant-time comparison with an `Authorization` header value.
    func accepts(authorization: String?) -> Bool {
        guard let h = authorization, h.hasPrefix("Bearer ") else { return false }
        let given = Array(h.dropFirst("Bearer ".count).utf8)
        guard given.count == value.count else { return false }
        var diff: UInt8 = 0
        for (a, b) in zip(given, value) { diff |= a ^ b }
        return diff == 0
    }
}

/// Builds the status API: `GET /status` (JSON), `GET /metrics` (Prometheus), and token-guarded
/// `POST /drain` / `POST /undrain` taking `service` and `member` as query parameters.
public enum StatusAPI {
    /// The Hummingbird application, a `Service` to put in the daemon's `ServiceGroup`.
    /// `director`, when this node runs the pair's VRRP, adds the `director` block to `/status` and the
    /// `tandem_vrrp_*` and `tandem_ipvs_sync_*` series to `/metrics`.
    public static func application<C: Clock>(daemon: TandemDaemon<C>, host: String, port: Int, token: BearerToken?,
                                             director: DirectorRuntime? = nil, ring: RingMonitor? = nil,
                                             logger: Logger) -> some ApplicationProtocol where C.Duration == Duration {
        let router = Router()
        router.get("/status") { _, _ -> Response in
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            var report = daemon.report()
            report.director = director?.report()
            report.ring = ring?.report()
            let data = (try? enc.encode(report)) ?? Data("{}".utf8)
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
        }
        router.get("/metrics") { _, _ -> Response in
            director?.refreshMetrics(daemon.metrics)
            if let ring { daemon.metrics.ring(ring.report().metrics) }
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                     body: .init(byteBuffer: ByteBuffer(string: daemon.metrics.render())))
        }
        for (path, drain) in [("/drain", true), ("/undrain", false)] {
            router.post(RouterPath(path)) { request, _ -> Response in
                func answer(_ s: HTTPResponse.Status, _ text: String) -> Response {
                    Response(status: s, headers: [.contentType: "text/plain"], body: .init(byteBuffer: ByteBuffer(string: text + "\n")))
                }
                guard let token else {
                    return answer(.forbidden, "drain is disabled: start tandemd with --token-file FILE (mode 0600)")
                }
                guard token.accepts(authorization: request.headers[.authorization]) else {
                    return answer(.unauthorized, "missing or wrong bearer token")
                }
                guard let service = request.uri.queryParameters.get("service"),
                      let member = request.uri.queryParameters.get("member") else {
                    return answer(.badRequest, "want ?service=NAME&member=VM")
                }
                let ref = MemberRef(service: service, member: member)
                do {
                    try daemon.setDrained(ref, drain)
                } catch {
                    return answer(.notFound, "\(error)")
                }
                // Answer once the kernel holds the new weight, so "drained" means the table says so.
                let waited = await daemon.waitForKernelWeight(ref, timeout: .seconds(5))
                switch waited {
                case .applied(let weight, let after):
                    return answer(.ok, "\(drain ? "drained" : "undrained") \(service)/\(member): weight \(weight) in the kernel after \(after.wholeMilliseconds) ms")
                case .pending(let wanted, let kernel):
                    return answer(.accepted, "\(drain ? "drain" : "undrain") of \(service)/\(member) recorded; the kernel still holds weight \(kernel.map(String.init) ?? "none") (wanted \(wanted)) after 5 s — see /status")
                }
            }
        }
        return Application(router: router, configuration: .init(address: .hostname(host, port: port), serverName: "tandemd"),
                           logger: logger)
    }
}
