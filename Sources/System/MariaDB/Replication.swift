/// One row of `SHOW ALL SLAVES STATUS`: one incoming replication stream of this node.
///
/// Beware what it hides (see docs/database.md): a node whose own master stopped replicating still
/// shows Yes/Yes here. Only comparing GTID positions across nodes, or heartbeat rows, shows that.
public struct ReplicationStatus: Sendable, Hashable {
    /// Connection name ("" for the default connection the ring uses).
    public var connectionName: String
    /// Slave_IO_Running as the server spells it (`Yes`, `No`, `Connecting`).
    public var ioRunning: String
    /// Slave_SQL_Running as the server spells it (`Yes`, `No`).
    public var sqlRunning: String
    /// Seconds_Behind_Master; nil (SQL NULL) when a thread is down.
    public var secondsBehindMaster: Int?
    /// Last_IO_Errno (0 = none).
    public var lastIOErrno: Int
    /// Last_IO_Error.
    public var lastIOError: String
    /// Last_SQL_Errno (0 = none; 1062 = a conflicting write stopped the ring).
    public var lastSQLErrno: Int
    /// Last_SQL_Error.
    public var lastSQLError: String
    /// Gtid_IO_Pos: the last GTID received from the master.
    public var gtidIOPos: String
    /// Master_Host.
    public var masterHost: String
    /// Master_Port.
    public var masterPort: Int

    /// Both threads running.
    public var isHealthy: Bool { ioRunning.lowercased() == "yes" && sqlRunning.lowercased() == "yes" }

    /// Builds a status from one `SHOW ALL SLAVES STATUS` row.
    public init(row: MariaDBRow) {
        func int(_ c: String) -> Int? { row.int(c).map { Int($0) } }
        connectionName = row.string("Connection_name") ?? ""
        ioRunning = row.string("Slave_IO_Running") ?? ""
        sqlRunning = row.string("Slave_SQL_Running") ?? ""
        secondsBehindMaster = int("Seconds_Behind_Master")
        lastIOErrno = int("Last_IO_Errno") ?? 0
        lastIOError = row.string("Last_IO_Error") ?? ""
        lastSQLErrno = int("Last_SQL_Errno") ?? 0
        lastSQLError = row.string("Last_SQL_Error") ?? ""
        gtidIOPos = row.string("Gtid_IO_Pos") ?? ""
        masterHost = row.string("Master_Host") ?? ""
        masterPort = int("Master_Port") ?? 0
    }
}

/// A GTID position such as "1-1-42,2-2-17": per replication domain, the last server id and
/// sequence number. Comparing these across ring nodes is what reveals a silently stopped hop.
public struct GTIDPosition: Sendable, Hashable, CustomStringConvertible {
    /// One domain's last transaction.
    public struct Entry: Sendable, Hashable {
        /// Server that wrote it.
        public var serverID: UInt32
        /// Sequence number within the domain.
        public var sequence: UInt64
    }
    /// Domain id → last transaction.
    public var domains: [UInt32: Entry]

    /// Parses the server's format; malformed parts are ignored (the server never produces them).
    public init(_ text: String) {
        var domains: [UInt32: Entry] = [:]
        for part in text.split(separator: ",") {
            let fields = part.trimmingSpaces.split(separator: "-")
            guard fields.count == 3, let d = UInt32(fields[0]), let s = UInt32(fields[1]), let n = UInt64(fields[2]) else { continue }
            domains[d] = Entry(serverID: s, sequence: n)
        }
        self.domains = domains
    }

    /// The sequence number reached in `domain`, 0 if none.
    public func sequence(domain: UInt32) -> UInt64 { domains[domain]?.sequence ?? 0 }

    /// Canonical spelling, domains in ascending order.
    public var description: String {
        domains.keys.sorted().map { "\($0)-\(domains[$0]!.serverID)-\(domains[$0]!.sequence)" }.joined(separator: ",")
    }
}

extension Substring {
    fileprivate var trimmingSpaces: Substring {
        var s = self
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return s
    }
}

extension MariaDBConnection {
    /// `SHOW ALL SLAVES STATUS`, one entry per replication connection (needs SLAVE MONITOR).
    public func replicationStatus() async throws -> [ReplicationStatus] {
        try await query("SHOW ALL SLAVES STATUS").rows.map(ReplicationStatus.init(row:))
    }

    /// `@@gtid_binlog_pos` (what this node has written to its binlog, own and replicated),
    /// `@@gtid_slave_pos` (what its SQL thread applied) and `@@gtid_current_pos`.
    public func gtidPositions() async throws -> (binlog: String, slave: String, current: String) {
        let rows = try await query("SELECT @@gtid_binlog_pos AS b, @@gtid_slave_pos AS s, @@gtid_current_pos AS c").rows
        guard let row = rows.first else {
            throw MariaDBError(operation: "mysql_store_result", errno: 2000, sqlState: "HY000",
                               message: "SELECT @@gtid_* returned no row", endpoint: endpoint)
        }
        return (row.string("b") ?? "", row.string("s") ?? "", row.string("c") ?? "")
    }
}
