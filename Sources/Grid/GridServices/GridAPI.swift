/// JSON bodies of the grid services' HTTP API (shared by the server, the stress client and the tests).
public enum GridAPI {
    /// `POST /voms/fqans` request.
    public struct VOMSRequest: Codable, Sendable {
        /// Member subject.
        public var dn: String
        /// Creates it.
        public init(dn: String) { self.dn = dn }
    }

    /// `POST /voms/fqans` answer.
    public struct VOMSResponse: Codable, Sendable {
        /// Member subject.
        public var dn: String
        /// Its FQANs, sorted.
        public var fqans: [String]
    }

    /// `POST /gums/map` request.
    public struct GUMSRequest: Codable, Sendable {
        /// Subject.
        public var dn: String
        /// The FQAN presented (from the VOMS proxy).
        public var fqan: String
        /// Creates it.
        public init(dn: String, fqan: String) {
            self.dn = dn
            self.fqan = fqan
        }
    }

    /// `POST /gums/map` answer.
    public struct GUMSResponse: Codable, Sendable {
        /// Subject.
        public var dn: String
        /// Canonical FQAN.
        public var fqan: String
        /// Local account.
        public var account: String
        /// `fixed` or `pool`.
        public var kind: String
        /// Mapping rule FQAN that matched.
        public var matchedFQAN: String
        /// Slice of a pool account.
        public var slice: Int?
    }

    /// `POST /gums/release` request.
    public struct ReleaseRequest: Codable, Sendable {
        /// Subject whose leases (in this node's slice) are released.
        public var dn: String
    }

    /// `POST /gums/release` answer.
    public struct ReleaseResponse: Codable, Sendable {
        /// Subject.
        public var dn: String
        /// Accounts released.
        public var released: Int
    }

    /// `POST /saz/authorize` request.
    public struct SAZRequest: Codable, Sendable {
        /// Subject.
        public var dn: String
        /// Issuing CA subject (optional).
        public var ca: String?
        /// FQANs presented (optional).
        public var fqans: [String]?
        /// Creates it.
        public init(dn: String, ca: String?, fqans: [String]?) {
            self.dn = dn
            self.ca = ca
            self.fqans = fqans
        }
    }

    /// `POST /saz/authorize` answer (200 for both permit and deny).
    public struct SAZResponse: Codable, Sendable {
        /// Subject.
        public var dn: String
        /// `permit` or `deny`.
        public var decision: String
        /// Which ban matched, empty on permit.
        public var reason: String
    }

    /// Body of every 4xx/5xx answer.
    public struct ErrorBody: Codable, Sendable {
        /// Stable code, e.g. `malformed_dn`, `missing_field`, `overloaded`.
        public var error: String
        /// What was wrong and what to do.
        public var message: String
        /// Creates it.
        public init(error: String, message: String) {
            self.error = error
            self.message = message
        }
    }
}
