import MariaDB
import GridModel

/// Writes a ``SeedPlan`` into the ring through ONE node, with multi-row `INSERT IGNORE`s in transactions.
///
/// Re-running on the same node is safe (rows that exist are skipped and, with row-based binlogs, not
/// logged). Running it on two nodes at the same moment is not (both would insert the same keys): seed
/// through one node and let replication carry the rows.
public struct Seeder: Sendable {
    /// What was written.
    public struct Summary: Sendable, Codable, Equatable {
        /// Users.
        public var users: Int
        /// Memberships.
        public var memberships: Int
        /// Pool accounts.
        public var poolAccounts: Int
        /// Mapping rules.
        public var rules: Int
        /// Ban entries.
        public var bans: Int
        /// Ring size the slices were cut for.
        public var ringSize: Int
    }

    /// The plan.
    public var plan: SeedPlan
    /// Accounts per pool *slice* = members of the pool × this factor + 16. Every slice can hold the whole
    /// pool's membership, so the ring still leases to every member when all traffic goes through one node
    /// (after a failover), at the price of ring-size × the accounts.
    public var poolHeadroom: Double

    /// Lease a pool account to every member up front (accounts dealt in order across the slices, leased an
    /// hour ago), so a benchmark measures steady-state mapping rather than first-time leasing.
    public var preLease: Bool

    /// Creates a seeder.
    public init(plan: SeedPlan, poolHeadroom: Double = 1.2, preLease: Bool = false) {
        self.plan = plan
        self.poolHeadroom = poolHeadroom
        self.preLease = preLease
    }

    /// Writes everything; returns the counts.
    public func run(_ conn: MariaDBConnection, batch: Int = 1000) async throws -> Summary {
        let ringRow = try await conn.query("SELECT @@auto_increment_increment AS n")
        let ringSize = max(1, Int(ringRow.rows.first.flatMap { DBValue.int($0["n"]) } ?? 1))

        var vos: [[MariaDBValue]] = SeedPlan.vos.map { [.text($0.name), .text("\($0.name) virtual organization")] }
        vos.append([.text("ops"), .text("operations")])
        try await insert(conn, "voms_vo (name, description)", vos, batch)

        let rules = SeedPlan.mappingRules
        try await insert(conn, "gums_mapping (fqan, kind, target)", rules.map { [.text($0.fqan), .text($0.kind), .text($0.target)] }, batch)

        var users: [[MariaDBValue]] = []
        var members: [[MariaDBValue]] = []
        var bans: [[MariaDBValue]] = []
        var poolMembers: [String: Int] = [:]
        var poolDNs: [String: [(dn: String, fqan: String)]] = [:]
        users.reserveCapacity(plan.users)
        for i in 0..<plan.users {
            let u = plan.user(i)
            users.append([.text(u.dn), .text(u.ca)])
            var pools: [String: String] = [:]
            for f in u.fqans {
                members.append([.text(u.dn), .text(f)])
                if let p = plan.pool(for: f), pools[p] == nil { pools[p] = f }
            }
            for (p, f) in pools {
                poolMembers[p, default: 0] += 1
                if preLease { poolDNs[p, default: []].append((u.dn, f)) }
            }
            if plan.isBanned(i) { bans.append([.text("dn"), .text(u.dn), .text("account compromised")]) }
        }
        bans.append([.text("ca"), .text(SeedPlan.bannedCA), .text("CA private key compromised")])
        for (f, r) in SeedPlan.fqanBans { bans.append([.text("fqan"), .text(f), .text(r)]) }
        try await insert(conn, "voms_user (dn, ca)", users, batch)
        try await insert(conn, "voms_member (dn, fqan)", members, batch)
        try await insert(conn, "saz_ban (kind, value, reason)", bans, batch)

        var accounts: [[MariaDBValue]] = []
        for rule in rules where rule.kind == "pool" {
            let n = (Int(Double(poolMembers[rule.target, default: 0]) * poolHeadroom) + 16) * ringSize
            let leases = poolDNs[rule.target, default: []]
            for k in 0..<n {
                let lease: [MariaDBValue] = k < leases.count
                    ? [.text(leases[k].dn), .text(leases[k].fqan), .text("1970-01-01")]
                    : [.null, .null, .null]
                accounts.append([.text(Self.accountName(pool: rule.target, index: k)), .text(rule.target),
                                 .int(Int64(LeasePartition.slice(forAccountIndex: k, ringSize: ringSize)))] + lease)
            }
        }
        try await insert(conn, "gums_pool_account (account, pool, slice, dn, fqan, leased_at)", accounts, batch)
        if preLease {
            // Pre-leased accounts get a DB timestamp an hour old (settled: cacheable at once).
            _ = try await conn.query("UPDATE gums_pool_account SET leased_at = UTC_TIMESTAMP(6) - INTERVAL 1 HOUR WHERE leased_at = '1970-01-01'")
        }
        _ = try await conn.query(GridStore.bumpDataVersionSQL)
        return Summary(users: users.count, memberships: members.count, poolAccounts: accounts.count, rules: rules.count,
                       bans: bans.count, ringSize: ringSize)
    }

    /// An SQL literal for `v` (strings quoted with `\\`, `'`, NUL, CR, LF and ^Z escaped).
    static func literal(_ v: MariaDBValue) -> String {
        switch v {
        case .null: return "NULL"
        case .int(let i): return String(i)
        case .uint(let u): return String(u)
        case .double(let d): return String(d)
        case .text(let t): return quote(t)
        case .blob(let b): return quote(String(decoding: b, as: UTF8.self))
        }
    }

    private static func quote(_ s: String) -> String {
        var out = "'"
        for c in s.unicodeScalars {
            switch c {
            case "\\": out += "\\\\"
            case "'": out += "\\'"
            case "\u{0}": out += "\\0"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\u{1A}": out += "\\Z"
            default: out.unicodeScalars.append(c)
            }
        }
        return out + "'"
    }

    /// `pool` followed by the index zero-padded to 5 digits: `uscms00042`.
    public static func accountName(pool: String, index: Int) -> String {
        let digits = String(index)
        return pool + String(repeating: "0", count: max(0, 5 - digits.count)) + digits
    }

    private func insert(_ conn: MariaDBConnection, _ table: String, _ rows: [[MariaDBValue]], _ batch: Int) async throws {
        guard !rows.isEmpty else { return }
        var i = 0
        while i < rows.count {
            let chunk = rows[i..<min(i + batch, rows.count)]
            // Literal multi-row INSERTs over the text protocol: one round trip per batch and no
            // thousands-of-placeholders prepare. Values are escaped by `literal` (generated data, but
            // escaped all the same).
            let sql = "INSERT IGNORE INTO \(table) VALUES " + chunk.map { row in
                "(" + row.map(Self.literal).joined(separator: ",") + ")"
            }.joined(separator: ",")
            _ = try await conn.query(sql)
            i += batch
        }
    }
}
