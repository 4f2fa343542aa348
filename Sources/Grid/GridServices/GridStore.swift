import MariaDB
import GridModel
import Net

/// An error of the grid services' domain, mapped to an HTTP status by the server.
public struct GridError: Error, Sendable, CustomStringConvertible {
    /// Stable machine-readable code (the `error` field of JSON error bodies).
    public var code: String
    /// HTTP status to answer with.
    public var status: Int
    /// A sentence for people: what, where, what to do.
    public var message: String

    /// Creates an error.
    public init(code: String, status: Int, message: String) {
        self.code = code
        self.status = status
        self.message = message
    }

    /// `code: message`.
    public var description: String { "\(code): \(message)" }
}

/// A GUMS answer: the local account a (DN, FQAN) maps to.
public struct GUMSMapping: Sendable, Hashable, Codable {
    /// Local account name.
    public var account: String
    /// `fixed` (a group account) or `pool` (leased to this DN).
    public var kind: String
    /// The mapping rule's FQAN that matched (most specific first).
    public var matchedFQAN: String
    /// For pool accounts, the slice (ring node offset) the account belongs to.
    public var slice: Int?
}

/// Cache key of a GUMS mapping.
public struct MappingKey: Sendable, Hashable {
    /// Subject.
    public var dn: String
    /// Canonical FQAN text.
    public var fqan: String
}

/// The SAZ verdict.
public struct SAZDecision: Sendable, Hashable, Codable {
    /// `permit` or `deny`.
    public var decision: String
    /// Why (empty on permit): which ban matched.
    public var reason: String
    /// Convenience: permit.
    public static let permit = SAZDecision(decision: "permit", reason: "")
}

/// All ban lists held in memory (SAZ `snapshot` mode). Pure: ``decide(dn:ca:fqans:)`` needs no I/O.
public struct BanSnapshot: Sendable, Equatable {
    /// Banned subjects → reason.
    public var dns: [String: String] = [:]
    /// Banned issuing CAs → reason.
    public var cas: [String: String] = [:]
    /// Banned FQANs or groups (a ban on `/vo/group` covers its subgroups and roles) → reason.
    public var fqans: [String: String] = [:]

    /// Creates a snapshot.
    public init(dns: [String: String] = [:], cas: [String: String] = [:], fqans: [String: String] = [:]) {
        self.dns = dns
        self.cas = cas
        self.fqans = fqans
    }

    /// Deny if the DN, the CA or any FQAN (or one of its parent groups) is banned; permit otherwise.
    public func decide(dn: String, ca: String?, fqans requested: [FQAN]) -> SAZDecision {
        if !dns.isEmpty, let r = dns[dn] { return SAZDecision(decision: "deny", reason: "dn banned: \(r)") }
        if let ca, !cas.isEmpty, let r = cas[ca] { return SAZDecision(decision: "deny", reason: "ca banned: \(r)") }
        guard !fqans.isEmpty else { return .permit }
        for f in requested {
            if fqans.count <= Self.linearScanLimit {
                // Few group bans (the usual case): compare each ban with the FQAN's fallbacks in place
                // instead of building the fallback strings; the most specific match wins, as below.
                if let (g, r) = Self.mostSpecificBan(f, fqans) { return SAZDecision(decision: "deny", reason: "fqan \(g) banned: \(r)") }
            } else {
                for g in f.fallbacks { if let r = fqans[g] { return SAZDecision(decision: "deny", reason: "fqan \(g) banned: \(r)") } }
            }
        }
        return .permit
    }

    /// Up to this many FQAN bans, ``decide(dn:ca:fqans:)`` scans them instead of looking fallbacks up.
    static let linearScanLimit = 32

    /// The ban in `bans` that is the first of `f.fallbacks` (the FQAN itself, its group, then each parent
    /// group up to the VO), without building those strings: a ban matches the FQAN itself, or is its group
    /// or a parent group (a prefix of the group ending at a `/`), and longer prefixes are more specific.
    static func mostSpecificBan(_ f: FQAN, _ bans: [String: String]) -> (String, String)? {
        var best: (String, String)?
        var bestLength = -1
        let group = f.group.utf8
        for (k, r) in bans {
            let ku = k.utf8
            if let role = f.role {
                // The FQAN itself: group + "/Role=" + role.
                if ku.count == group.count + 6 + role.utf8.count, ku.starts(with: group),
                   ku.dropFirst(group.count).starts(with: "/Role=".utf8), ku.dropFirst(group.count + 6).elementsEqual(role.utf8) {
                    return (k, r)
                }
            }
            guard ku.count >= 2, ku.count <= group.count, ku.first == UInt8(ascii: "/"), group.starts(with: ku) else { continue }
            if ku.count < group.count, group[group.index(group.startIndex, offsetBy: ku.count)] != UInt8(ascii: "/") { continue }
            if ku.count > bestLength {
                best = (k, r)
                bestLength = ku.count
            }
        }
        return best
    }
}

/// The grid services' data access over a ring (VOMS memberships, GUMS mappings and leases, SAZ bans).
public final class GridStore: Sendable {
    /// The ring nodes.
    public let db: DatabaseCluster
    /// GUMS mapping cache (capacity 0 = off).
    public let cache: MappingCache<MappingKey, GUMSMapping>
    /// A pool mapping is cached only once its lease is this old (replication delay headroom).
    public let settleWindowMicros: Int64

    /// Creates a store.
    public init(db: DatabaseCluster, cacheCapacity: Int, settleWindow: Duration = .seconds(10)) {
        self.db = db
        self.cache = MappingCache(capacity: cacheCapacity)
        self.settleWindowMicros = settleWindow.wholeMicroseconds
    }

    /// `SELECT 1` on the active node: throws when the instance cannot serve.
    public func ping() async throws {
        _ = try await db.withConnection { try await $0.query("SELECT 1") }
    }

    // MARK: VOMS

    /// The FQANs of a member, sorted; throws `unknown_dn` (404) if the DN is in no VO.
    public func fqans(of dn: DistinguishedName) async throws -> [String] {
        let text = dn.text
        let r = try await db.withConnection {
            try await $0.execute("SELECT fqan FROM voms_member WHERE dn = ? ORDER BY fqan", [.text(text)])
        }
        let out = r.rows.compactMap { DBValue.string($0["fqan"]) }
        guard !out.isEmpty else {
            throw GridError(code: "unknown_dn", status: 404, message: "\(dn.text) is not a member of any VO on this site")
        }
        return out
    }

    // MARK: GUMS

    /// Maps (DN, FQAN) to an account: from the cache, else from the rules, leasing a pool account the first
    /// time. Throws `not_member` / `no_mapping` (404), `pool_exhausted` (503).
    public func map(dn: DistinguishedName, fqan: FQAN) async throws -> GUMSMapping {
        let key = MappingKey(dn: dn.text, fqan: fqan.description)
        let hit = cache.lookup(key)
        if let v = hit.value { return v }
        return try await resolve(dn: dn, fqan: fqan, key: key, epoch: hit.epoch)
    }

    /// The cache-miss half of ``map(dn:fqan:)``: resolves from the database and caches the answer if it is
    /// cacheable and no invalidation happened since the lookup that returned `epoch`.
    public func resolve(dn: DistinguishedName, fqan: FQAN, key: MappingKey, epoch: UInt64) async throws -> GUMSMapping {
        let (mapping, cacheable) = try await resolveFromDB(dn: dn, fqan: fqan)
        if cacheable { cache.insert(key, mapping, epoch: epoch) }
        return mapping
    }

    private func resolveFromDB(dn: DistinguishedName, fqan: FQAN) async throws -> (GUMSMapping, Bool) {
        let fallbacks = fqan.fallbacks
        let marks = Array(repeating: "?", count: fallbacks.count).joined(separator: ",")
        // One round trip: membership, mapping rules, and this DN's existing leases.
        let sql = """
            SELECT 'm' AS src, fqan AS a, NULL AS b, NULL AS c, NULL AS d, NULL AS e FROM voms_member WHERE dn = ? AND fqan IN (\(marks))
            UNION ALL SELECT 'g', fqan, kind, target, NULL, NULL FROM gums_mapping WHERE fqan IN (\(marks))
            UNION ALL SELECT 'l', account, pool, slice, TIMESTAMPDIFF(MICROSECOND, '1970-01-01', leased_at),
                             TIMESTAMPDIFF(MICROSECOND, leased_at, UTC_TIMESTAMP(6)) FROM gums_pool_account WHERE dn = ?
            """
        let binds: [MariaDBValue] = [.text(dn.text)] + fallbacks.map { .text($0) } + fallbacks.map { .text($0) } + [.text(dn.text)]
        let r = try await db.withConnection { try await $0.execute(sql, binds) }
        var member = false
        var rules: [String: (kind: String, target: String)] = [:]
        var leases: [(pool: String, lease: LeasePartition.Lease, age: Int64)] = []
        for row in r.rows {
            switch DBValue.string(row["src"]) {
            case "m": member = true
            case "g":
                if let f = DBValue.string(row["a"]), let k = DBValue.string(row["b"]), let t = DBValue.string(row["c"]) { rules[f] = (k, t) }
            case "l":
                if let a = DBValue.string(row["a"]), let p = DBValue.string(row["b"]), let s = DBValue.int(row["c"]),
                   let at = DBValue.int(row["d"]), let age = DBValue.int(row["e"]) {
                    leases.append((p, LeasePartition.Lease(account: a, slice: Int(s), leasedAtMicros: at), age))
                }
            default: break
            }
        }
        guard member else {
            throw GridError(code: "not_member", status: 404,
                            message: "\(dn.text) is not a VOMS member of \(fqan) or of its parent groups")
        }
        guard let matched = fallbacks.first(where: { rules[$0] != nil }), let rule = rules[matched] else {
            throw GridError(code: "no_mapping", status: 404, message: "no GUMS mapping rule covers \(fqan) (tried \(fallbacks.joined(separator: ", ")))")
        }
        if rule.kind == "fixed" {
            return (GUMSMapping(account: rule.target, kind: "fixed", matchedFQAN: matched, slice: nil), true)
        }
        let mine = leases.filter { $0.pool == rule.target }
        if let c = LeasePartition.canonical(mine.map(\.lease)) {
            let age = mine.first { $0.lease == c }!.age
            let settled = LeasePartition.isSettled(ageMicros: age, settleWindowMicros: settleWindowMicros)
            return (GUMSMapping(account: c.account, kind: "pool", matchedFQAN: matched, slice: c.slice), settled)
        }
        let leased = try await lease(pool: rule.target, dn: dn, fqan: fqan)
        return (GUMSMapping(account: leased.account, kind: "pool", matchedFQAN: matched, slice: leased.slice), false)
    }

    /// Leases a free account of `pool` from the slice of the node this connection writes through.
    /// Retries on local conflicts (1062 from a concurrent lease of the same DN on this node, 1213/1205
    /// lock waits); these are local errors that never reach the binlog.
    func lease(pool: String, dn: DistinguishedName, fqan: FQAN) async throws -> LeasePartition.Lease {
        let dnText = dn.text, fqanText = fqan.description
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try await db.withConnection { conn in
                    // Read committed: no gap locks, so concurrent leases on this node only contend on
                    // the rows they touch (SKIP LOCKED then hands each its own free account).
                    _ = try await conn.query("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
                    return try await conn.transaction { c in
                        let o = try await c.query("SELECT @@auto_increment_offset AS o")
                        guard let slice = o.rows.first.flatMap({ DBValue.int($0["o"]) }) else {
                            throw GridError(code: "db_error", status: 503, message: "could not read @@auto_increment_offset")
                        }
                        let existing = try await c.execute("""
                            SELECT account, slice, TIMESTAMPDIFF(MICROSECOND, '1970-01-01', leased_at) AS at
                            FROM gums_pool_account WHERE dn = ? AND pool = ?
                            """, [.text(dnText), .text(pool)])
                        let found = existing.rows.compactMap { row -> LeasePartition.Lease? in
                            guard let a = DBValue.string(row["account"]), let s = DBValue.int(row["slice"]),
                                  let at = DBValue.int(row["at"]) else { return nil }
                            return LeasePartition.Lease(account: a, slice: Int(s), leasedAtMicros: at)
                        }
                        if let c = LeasePartition.canonical(found) { return c }
                        let free = try await c.execute("""
                            SELECT account FROM gums_pool_account FORCE INDEX (one_lease_per_dn_per_slice)
                            WHERE pool = ? AND slice = ? AND dn IS NULL LIMIT 1 FOR UPDATE SKIP LOCKED
                            """, [.text(pool), .int(slice)])
                        guard let account = free.rows.first.flatMap({ DBValue.string($0["account"]) }) else {
                            throw GridError(code: "pool_exhausted", status: 503,
                                            message: "pool '\(pool)' has no free account in slice \(slice) (the slice of the ring node this instance writes through); add accounts with 'gridsvc seed' or release leases")
                        }
                        let u = try await c.execute("""
                            UPDATE gums_pool_account SET dn = ?, fqan = ?, leased_at = UTC_TIMESTAMP(6)
                            WHERE account = ? AND slice = ? AND dn IS NULL
                            """, [.text(dnText), .text(fqanText), .text(account), .int(slice)])
                        guard u.affectedRows == 1 else {
                            throw MariaDBError(operation: "lease", errno: 1213, sqlState: "40001", message: "account \(account) taken concurrently", endpoint: "")
                        }
                        let at = try await c.execute(
                            "SELECT TIMESTAMPDIFF(MICROSECOND, '1970-01-01', leased_at) AS at FROM gums_pool_account WHERE account = ?",
                            [.text(account)])
                        return LeasePartition.Lease(account: account, slice: Int(slice),
                                                    leasedAtMicros: at.rows.first.flatMap { DBValue.int($0["at"]) } ?? 0)
                    }
                }
            } catch let e as MariaDBError where [1062, 1213, 1205].contains(e.errno) && attempt < 8 {
                try await Task.sleep(for: .microseconds(200 * attempt))
            }
        }
    }

    /// Releases the leases a DN holds in the slice of the node this instance writes through, bumps this
    /// node's data version (so other instances drop their caches) and drops the DN from the local cache.
    /// Returns the number of accounts released.
    public func release(dn: DistinguishedName) async throws -> Int {
        let text = dn.text
        let n = try await db.withConnection { conn in
            try await conn.transaction { c in
                let r = try await c.execute("""
                    UPDATE gums_pool_account SET dn = NULL, fqan = NULL, leased_at = NULL
                    WHERE dn = ? AND slice = @@auto_increment_offset
                    """, [.text(text)])
                _ = try await c.query(GridStore.bumpDataVersionSQL)
                return Int(r.affectedRows)
            }
        }
        cache.invalidate { $0.dn == text }
        return n
    }

    /// Bumps this node's own data_version row (rows are per server_id, so nodes never write the same row).
    public static let bumpDataVersionSQL =
        "INSERT INTO data_version (server_id, version) VALUES (@@server_id, 1) ON DUPLICATE KEY UPDATE version = version + 1"

    /// A token that changes whenever any node bumps its data version.
    public func dataVersion() async throws -> String {
        let r = try await db.withConnection {
            try await $0.query("SELECT COALESCE(SUM(version), 0) AS v, COUNT(*) AS n FROM data_version")
        }
        let row = r.rows.first
        return "\(DBValue.int(row?["v"]) ?? 0)/\(DBValue.int(row?["n"]) ?? 0)"
    }

    // MARK: SAZ

    /// SAZ `db` mode: one indexed query per request against the ban table.
    public func authorize(dn: DistinguishedName, ca: String?, fqans: [FQAN]) async throws -> SAZDecision {
        let groups = Array(Set(fqans.flatMap(\.fallbacks)))
        var sql = "SELECT kind, value, reason FROM saz_ban WHERE (kind = 'dn' AND value = ?)"
        var binds: [MariaDBValue] = [.text(dn.text)]
        if let ca {
            sql += " OR (kind = 'ca' AND value = ?)"
            binds.append(.text(ca))
        }
        if !groups.isEmpty {
            sql += " OR (kind = 'fqan' AND value IN (\(Array(repeating: "?", count: groups.count).joined(separator: ","))))"
            binds += groups.map { .text($0) }
        }
        sql += " LIMIT 1"
        let finalSQL = sql, finalBinds = binds
        let r = try await db.withConnection { try await $0.execute(finalSQL, finalBinds) }
        guard let row = r.rows.first else { return .permit }
        let kind = DBValue.string(row["kind"]) ?? "?", value = DBValue.string(row["value"]) ?? "?"
        return SAZDecision(decision: "deny", reason: "\(kind) \(value) banned: \(DBValue.string(row["reason"]) ?? "")")
    }

    /// Reads every ban list (SAZ `snapshot` mode).
    public func loadBans() async throws -> BanSnapshot {
        let r = try await db.withConnection { try await $0.query("SELECT kind, value, reason FROM saz_ban") }
        var s = BanSnapshot()
        for row in r.rows {
            guard let k = DBValue.string(row["kind"]), let v = DBValue.string(row["value"]) else { continue }
            let reason = DBValue.string(row["reason"]) ?? ""
            switch k {
            case "dn": s.dns[v] = reason
            case "ca": s.cas[v] = reason
            case "fqan": s.fqans[v] = reason
            default: break
            }
        }
        return s
    }
}
