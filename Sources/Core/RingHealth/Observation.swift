/// State of a replication thread as `SHOW ALL SLAVES STATUS` spells it.
public enum ThreadState: Sendable, Hashable, CustomStringConvertible {
    /// "Yes".
    case yes
    /// "No": stopped by `STOP SLAVE` or by an error (see the last errno).
    case no
    /// "Connecting": the IO thread is trying to reach its master.
    case connecting
    /// Anything else, verbatim.
    case other(String)

    /// Parses the server's spelling.
    public init(_ text: String) {
        switch text.lowercased() {
        case "yes": self = .yes
        case "no": self = .no
        case "connecting": self = .connecting
        default: self = .other(text)
        }
    }

    /// The server's spelling.
    public var description: String {
        switch self {
        case .yes: return "Yes"
        case .no: return "No"
        case .connecting: return "Connecting"
        case .other(let s): return s
        }
    }
}

extension ThreadState: Codable {
    /// Decodes the server's spelling ("Yes", "No", "Connecting", ...).
    public init(from decoder: any Decoder) throws {
        self.init(try decoder.singleValueContainer().decode(String.self))
    }

    /// Encodes the server's spelling, so JSON reads `"io": "Yes"`.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}

/// One incoming replication connection of a node (one row of `SHOW ALL SLAVES STATUS`).
public struct SlaveLinkStatus: Sendable, Hashable, Codable {
    /// Connection_name ("" for the default connection).
    public var connectionName: String
    /// Master_Server_Id: the master's `@@server_id`, 0 until the IO thread has talked to it.
    public var masterServerID: UInt32
    /// "Master_Host:Master_Port".
    public var masterEndpoint: String
    /// Slave_IO_Running.
    public var io: ThreadState
    /// Slave_SQL_Running.
    public var sql: ThreadState
    /// Seconds_Behind_Master (nil = NULL, a thread is down).
    public var secondsBehindMaster: Int?
    /// Last_IO_Errno / Last_IO_Error.
    public var lastIOErrno: Int
    /// Last_IO_Error.
    public var lastIOError: String
    /// Last_SQL_Errno (1062: a conflicting write stopped the SQL thread).
    public var lastSQLErrno: Int
    /// Last_SQL_Error.
    public var lastSQLError: String
    /// Non-empty replication filters, e.g. "Replicate_Ignore_DB=tandem_monitor": a filter can make
    /// a link skip the heartbeat while both threads say Yes.
    public var filters: [String]

    /// Creates a status.
    public init(connectionName: String = "", masterServerID: UInt32 = 0, masterEndpoint: String,
                io: ThreadState = .yes, sql: ThreadState = .yes, secondsBehindMaster: Int? = 0,
                lastIOErrno: Int = 0, lastIOError: String = "", lastSQLErrno: Int = 0, lastSQLError: String = "",
                filters: [String] = []) {
        self.connectionName = connectionName; self.masterServerID = masterServerID; self.masterEndpoint = masterEndpoint
        self.io = io; self.sql = sql; self.secondsBehindMaster = secondsBehindMaster
        self.lastIOErrno = lastIOErrno; self.lastIOError = lastIOError
        self.lastSQLErrno = lastSQLErrno; self.lastSQLError = lastSQLError; self.filters = filters
    }
}

/// One heartbeat row as read on some node: the newest heartbeat of `originServerID` that node has.
///
/// Rows live in `tandem_monitor.heartbeat`, one per (origin server, monitor). `runID` is chosen at
/// random when a monitor starts, so rows left by an earlier run (whose sequence numbers restarted)
/// are never mistaken for fresh ones.
public struct HeartbeatRow: Sendable, Hashable, Codable {
    /// `@@server_id` of the node the row was written on.
    public var originServerID: UInt32
    /// The writing monitor's run id.
    public var runID: UInt64
    /// Sequence number, increasing per origin within one run.
    public var seq: UInt64

    /// Creates a row.
    public init(originServerID: UInt32, runID: UInt64, seq: UInt64) {
        self.originServerID = originServerID; self.runID = runID; self.seq = seq
    }
}

/// What one successful probe of one node read.
public struct NodeObservation: Sendable, Hashable, Codable {
    /// Node name.
    public var node: String
    /// When the probe's reads started (monitor time). Heartbeats acknowledged before this instant
    /// should be visible in `heartbeats` unless replication is behind.
    public var at: Duration
    /// `@@server_id`.
    public var serverID: UInt32
    /// `@@gtid_domain_id`.
    public var gtidDomainID: UInt32
    /// `@@gtid_binlog_pos`, per domain: the last sequence this node has in its binlog.
    public var gtidBinlogPos: [UInt32: UInt64]
    /// `@@gtid_current_pos`, per domain: what this node has applied or written.
    public var gtidCurrentPos: [UInt32: UInt64]
    /// `SHOW ALL SLAVES STATUS`.
    public var slaves: [SlaveLinkStatus]
    /// This monitor's heartbeat rows present on the node.
    public var heartbeats: [HeartbeatRow]

    /// Creates an observation.
    public init(node: String, at: Duration, serverID: UInt32, gtidDomainID: UInt32 = 0,
                gtidBinlogPos: [UInt32: UInt64] = [:], gtidCurrentPos: [UInt32: UInt64] = [:],
                slaves: [SlaveLinkStatus], heartbeats: [HeartbeatRow]) {
        self.node = node; self.at = at; self.serverID = serverID; self.gtidDomainID = gtidDomainID
        self.gtidBinlogPos = gtidBinlogPos; self.gtidCurrentPos = gtidCurrentPos
        self.slaves = slaves; self.heartbeats = heartbeats
    }
}

/// How a probe failed.
public enum ProbeFailure: Sendable, Hashable, Codable, CustomStringConvertible {
    /// Connection refused: nothing listens, the server is stopped (definitive at once).
    case refused(String)
    /// No answer within the probe's timeout: hung (SIGSTOP), overloaded or unreachable.
    case timedOut(String)
    /// Any other error (access denied, server error), verbatim.
    case error(String)

    /// A sentence for reports.
    public var description: String {
        switch self {
        case .refused(let m): return "connection refused (stopped?): \(m)"
        case .timedOut(let m): return "no answer within the probe timeout (hung?): \(m)"
        case .error(let m): return m
        }
    }
}

/// An input of ``RingHealthModel``: everything the edge learns, stamped with monitor time.
public enum RingEvent: Sendable, Hashable {
    /// The heartbeat with sequence `seq` was committed on `node` (its write returned) at `at`.
    case heartbeatWritten(node: String, seq: UInt64, at: Duration)
    /// Writing a heartbeat on `node` failed (it may or may not have committed).
    case heartbeatWriteFailed(node: String, at: Duration, error: String)
    /// A probe of a node succeeded.
    case observed(NodeObservation)
    /// A probe of `node` failed.
    case probeFailed(node: String, at: Duration, failure: ProbeFailure)
}
