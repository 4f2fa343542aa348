/// What `POST /drain` and `POST /undrain` answer once the request is recorded: JSON when the
/// client sends `Accept: application/json` (tandemctl does), otherwise ``rendered()`` as text (for
/// curl). HTTP 200 when the kernel held the wanted weight before the answer, 202 when it did not yet.
public struct DrainResult: Codable, Sendable, Equatable {
    /// Service name.
    public var service: String
    /// Member VM name.
    public var member: String
    /// The operator's drain mark after the request: `true` after `/drain`, `false` after `/undrain`.
    public var drained: Bool
    /// Whether the kernel held ``wanted`` when the daemon answered.
    public var applied: Bool
    /// The weight the daemon wants for the member now (after an undrain: its health weight, which
    /// is 0 while it is down).
    public var wanted: Int
    /// The weight the kernel held when the daemon answered; `nil` when the member is not in the table.
    public var kernelWeight: Int?
    /// Milliseconds from the request until the kernel held ``wanted`` (when ``applied``), or how long
    /// the daemon waited for it (when not).
    public var afterMs: Int

    /// Creates a value.
    public init(service: String, member: String, drained: Bool, applied: Bool, wanted: Int, kernelWeight: Int?, afterMs: Int) {
        self.service = service; self.member = member; self.drained = drained; self.applied = applied
        self.wanted = wanted; self.kernelWeight = kernelWeight; self.afterMs = afterMs
    }

    /// One line for people, e.g. `drained gums/fg5x2: weight 0 in the kernel after 12 ms`.
    public func rendered() -> String {
        let ref = "\(service)/\(member)"
        if applied {
            return "\(drained ? "drained" : "undrained") \(ref): weight \(wanted) in the kernel after \(afterMs) ms"
        }
        return "\(drained ? "drain" : "undrain") of \(ref) recorded; the kernel still holds weight "
            + "\(kernelWeight.map(String.init) ?? "none") (wanted \(wanted)) after \(afterMs) ms — see /status"
    }
}

/// An error answer of tandemd's API: JSON when the client sends `Accept: application/json`,
/// otherwise ``message`` as text.
public struct APIProblem: Error, Codable, Sendable, Equatable, CustomStringConvertible {
    /// Stable codes, each with its HTTP status.
    public enum Code: String, Codable, Sendable {
        /// tandemd runs without `--token-file`: drain and undrain are off (403).
        case drainDisabled = "drain_disabled"
        /// No bearer token, or the wrong one (401).
        case unauthorized
        /// A query parameter is missing (400).
        case badRequest = "bad_request"
        /// No such service or member in the running topology (404).
        case unknownMember = "unknown_member"
        /// No such host among those the host controller watches (404).
        case unknownHost = "unknown_host"
        /// The host is not in a phase where an operator's confirm-off applies (409).
        case hostPhase = "host_phase"

        /// The HTTP status that carries this code.
        public var httpStatus: Int {
            switch self {
            case .drainDisabled: 403
            case .unauthorized: 401
            case .badRequest: 400
            case .unknownMember: 404
            case .unknownHost: 404
            case .hostPhase: 409
            }
        }
    }

    /// What went wrong, as a stable code.
    public var code: Code
    /// What went wrong and what to do.
    public var message: String

    /// Creates a value.
    public init(_ code: Code, _ message: String) { self.code = code; self.message = message }

    /// The message.
    public var description: String { message }
}

/// Where tandemd's API listens unless told otherwise, as tandemd's `--status-listen` and
/// tandemctl's `--url` default to it.
public enum DaemonEndpoint {
    /// `127.0.0.1:9595`.
    public static let defaultListen = "127.0.0.1:9595"
    /// `http://127.0.0.1:9595`.
    public static let defaultURL = "http://" + defaultListen

    /// The URL of an API listening on `host:port` (an IPv6 host in brackets).
    public static func url(host: String, port: Int) -> String {
        "http://\(host.contains(":") ? "[\(host)]" : host):\(port)"
    }
}
