/// A failed libmariadb call, with the library's own errno, SQLSTATE and message.
///
/// `errno` is MariaDB's error number: 1xxx come from the server (1062 duplicate key, 1146 no such
/// table), 2xxx and 5xxx from the client library (2002/2003 cannot connect, 2013 lost connection or
/// read timeout). `operation` names the C function that failed so a log line says where.
public struct MariaDBError: Error, Sendable, CustomStringConvertible {
    /// The C function that failed, e.g. "mysql_real_connect" or "mysql_stmt_execute".
    public var operation: String
    /// MariaDB error number (server 1xxx/4xxx, client 2xxx/5xxx).
    public var errno: Int32
    /// Five-character SQLSTATE, e.g. "23000" for an integrity violation.
    public var sqlState: String
    /// The library's or server's message, unchanged.
    public var message: String
    /// The server this happened on: "host:port" or "unix:/path".
    public var endpoint: String

    /// Creates an error; normally only the MariaDB module does this.
    public init(operation: String, errno: Int32, sqlState: String, message: String, endpoint: String) {
        self.operation = operation
        self.errno = errno
        self.sqlState = sqlState
        self.message = message
        self.endpoint = endpoint
    }

    /// One line naming what failed, where, and the server's own words.
    public var description: String {
        "\(operation) on \(endpoint) failed: MariaDB error \(errno) (SQLSTATE \(sqlState)): \(message)"
    }

    /// True when the connection itself is unusable after this error (network, timeout, server gone,
    /// killed): a pool must discard such a connection instead of handing it out again.
    public var isConnectionLevel: Bool {
        switch errno {
        case 2000...2013, 2026, 2027, 2048, 2055: return true   // CR_*: connect, gone, lost, SSL, packet
        case 5013, 5014, 5015: return true                      // CR_ERR_NET_READ/WRITE/UNCOMPRESS
        case 1040, 1053, 1077, 1152, 1153, 1184, 1927, 4031: return true  // too many conns, shutdown, aborted, killed, idle timeout
        default: return false
        }
    }

    /// True for errors after which retrying the whole transaction is the documented remedy.
    public var isRetryableTransaction: Bool { errno == Self.deadlock || errno == Self.lockWaitTimeout }

    /// ER_DUP_ENTRY: a unique or primary key already has this value.
    public static let duplicateEntry: Int32 = 1062
    /// ER_NO_SUCH_TABLE.
    public static let noSuchTable: Int32 = 1146
    /// ER_LOCK_DEADLOCK: the server rolled the transaction back.
    public static let deadlock: Int32 = 1213
    /// ER_LOCK_WAIT_TIMEOUT.
    public static let lockWaitTimeout: Int32 = 1205
    /// CR_CONNECTION_ERROR: could not connect (on this library also a refused TCP port).
    public static let connectionError: Int32 = 2002
    /// CR_CONN_HOST_ERROR: could not connect to the TCP host.
    public static let connHostError: Int32 = 2003
    /// CR_SERVER_GONE_ERROR: the connection was already closed.
    public static let serverGone: Int32 = 2006
    /// CR_SERVER_LOST: the connection broke or a read timed out mid-query.
    public static let serverLost: Int32 = 2013
    /// CR_COMMANDS_OUT_OF_SYNC: only a bug in this module can cause it.
    static let commandsOutOfSync: Int32 = 2014
    /// CR_INVALID_PARAMETER_NO: binds do not match the statement's placeholders.
    public static let invalidParameterNumber: Int32 = 2034
}

/// Why a pool could not hand out a connection.
public enum MariaDBPoolError: Error, Sendable, CustomStringConvertible, Equatable {
    /// Every connection stayed busy for the whole `acquireTimeout`, or (for `tryWithConnection`)
    /// none was free at that moment. Callers shed load (e.g. answer 503) instead of queueing.
    case exhausted(maxConnections: Int, waited: Duration)
    /// The pool was shut down.
    case shutDown

    /// A sentence naming the cause and the remedy.
    public var description: String {
        switch self {
        case .exhausted(let max, let waited):
            return "all \(max) MariaDB connections stayed busy for \(waited); shed load or raise maxConnections"
        case .shutDown:
            return "the MariaDB pool is shut down"
        }
    }
}
