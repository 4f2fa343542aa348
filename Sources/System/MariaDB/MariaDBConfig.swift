/// Where and how to connect to one MariaDB server.
///
/// Timeouts are always positive whole seconds: libmariadb takes `unsigned int` seconds and treats 0
/// as "wait forever" (a hung node then blocks a connect for ~10 minutes), so `init` rounds every
/// timeout up to whole seconds and raises anything below one second to one second.
public struct MariaDBConfig: Sendable, Hashable {
    /// Server address for TCP. Ignored when `unixSocket` is set.
    public var host: String
    /// Server TCP port.
    public var port: Int
    /// Account name.
    public var user: String
    /// Account password (never logged, never part of `description`).
    public var password: String
    /// Default database, or nil for none.
    public var database: String?
    /// Path of the server's unix socket; when set, the connection uses it instead of TCP.
    public var unixSocket: String?
    /// Bound on establishing the connection (MYSQL_OPT_CONNECT_TIMEOUT). Never 0.
    public var connectTimeout: Duration { didSet { connectTimeout = Self.clamped(connectTimeout) } }
    /// Bound on waiting for each server reply (MYSQL_OPT_READ_TIMEOUT). Never 0.
    public var readTimeout: Duration { didSet { readTimeout = Self.clamped(readTimeout) } }
    /// Bound on each write to the server (MYSQL_OPT_WRITE_TIMEOUT). Never 0.
    public var writeTimeout: Duration { didSet { writeTimeout = Self.clamped(writeTimeout) } }

    /// Creates a configuration; timeouts below one second become one second (see the type's doc).
    public init(
        host: String = "127.0.0.1", port: Int = 3306, user: String, password: String,
        database: String? = nil, unixSocket: String? = nil,
        connectTimeout: Duration = .seconds(2), readTimeout: Duration = .seconds(5),
        writeTimeout: Duration = .seconds(5)
    ) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.database = database
        self.unixSocket = unixSocket
        self.connectTimeout = Self.clamped(connectTimeout)
        self.readTimeout = Self.clamped(readTimeout)
        self.writeTimeout = Self.clamped(writeTimeout)
    }

    /// "host:port", or "unix:/path" for a socket: what errors and logs name as the peer.
    public var endpoint: String {
        if let unixSocket { return "unix:\(unixSocket)" }
        return "\(host):\(port)"
    }

    /// Rounds up to whole seconds, at least one, because libmariadb's timeouts are whole seconds
    /// and 0 disables them.
    static func clamped(_ d: Duration) -> Duration {
        .seconds(wholeSeconds(d))
    }

    /// `d` as libmariadb's `unsigned int` seconds: rounded up, at least 1.
    static func wholeSeconds(_ d: Duration) -> UInt32 {
        let (seconds, attoseconds) = d.components
        guard seconds >= 0 else { return 1 }
        let rounded = seconds + (attoseconds > 0 ? 1 : 0)
        return UInt32(clamping: max(1, rounded))
    }
}

extension MariaDBConfig {
    /// The timeout libmariadb will really apply for `d`: whole seconds, at least one.
    public static func clampedTimeout(_ d: Duration) -> Duration {
        MariaDBConfig(user: "", password: "", connectTimeout: d).connectTimeout
    }
}
