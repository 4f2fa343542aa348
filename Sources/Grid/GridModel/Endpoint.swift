/// A `HOST:PORT` address given on the command line (a MariaDB node, a stress target).
public struct DatabaseEndpoint: Sendable, Hashable, CustomStringConvertible {
    /// Host name or IP address.
    public var host: String
    /// TCP port.
    public var port: Int

    /// Creates an endpoint.
    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `HOST:PORT` (or `[V6]:PORT`); throws ``ConfigError`` naming the bad item.
    public init(parsing text: String) throws(ConfigError) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
              (1...65535).contains(port) else {
            throw ConfigError("'\(text)' is not HOST:PORT (e.g. 127.0.0.1:3306)")
        }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw ConfigError("'\(text)' has an empty host") }
        self.host = host
        self.port = port
    }

    /// Parses a comma-separated list `HOST:PORT[,HOST:PORT]`.
    public static func list(_ text: String) throws(ConfigError) -> [DatabaseEndpoint] {
        var out: [DatabaseEndpoint] = []
        for item in text.split(separator: ",") { out.append(try DatabaseEndpoint(parsing: String(item))) }
        guard !out.isEmpty else { throw ConfigError("no database endpoint given (expected HOST:PORT[,HOST:PORT])") }
        return out
    }

    /// `host:port`.
    public var description: String { "\(host):\(port)" }
}
