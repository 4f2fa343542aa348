import MariaDB

/// The grid services' schema, as an ordered list of idempotent migrations.
///
/// Safe on a live ring, even run on several nodes at once:
/// - every DDL statement is idempotent (`CREATE TABLE IF NOT EXISTS`, `ADD COLUMN IF NOT EXISTS`), so when
///   it replicates to a node that already ran it, it is a no-op instead of an error that stops the SQL thread;
/// - `schema_version` is keyed by (version, server_id): each node records its own application of a
///   migration, so two nodes migrating at the same moment write different rows and never collide.
public enum GridSchema {
    /// One schema step.
    public struct Migration: Sendable {
        /// Monotonic version number.
        public var version: Int
        /// What it does.
        public var description: String
        /// Idempotent statements.
        public var statements: [String]
    }

    /// All migrations, oldest first.
    public static let migrations: [Migration] = [
        Migration(version: 1, description: "VOMS, GUMS, SAZ tables and the data version rows", statements: [
            """
            CREATE TABLE IF NOT EXISTS voms_vo (
              name VARCHAR(64) CHARACTER SET ascii NOT NULL PRIMARY KEY,
              description VARCHAR(255) NOT NULL DEFAULT ''
            ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
            """,
            """
            CREATE TABLE IF NOT EXISTS voms_user (
              dn VARCHAR(512) NOT NULL PRIMARY KEY,
              ca VARCHAR(512) NOT NULL,
              created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
            ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
            """,
            """
            CREATE TABLE IF NOT EXISTS voms_member (
              dn VARCHAR(512) NOT NULL,
              fqan VARCHAR(255) CHARACTER SET ascii NOT NULL,
              PRIMARY KEY (dn, fqan)
            ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
            """,
            """
            CREATE TABLE IF NOT EXISTS gums_mapping (
              fqan VARCHAR(255) CHARACTER SET ascii NOT NULL PRIMARY KEY,
              kind ENUM('fixed','pool') NOT NULL,
              target VARCHAR(64) CHARACTER SET ascii NOT NULL
            ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
            """,
            """
            CREATE TABLE IF NOT EXISTS gums_pool_account (
              account VARCHAR(64) CHARACTER SET ascii NOT NULL PRIMARY KEY,
              pool VARCHAR(64) CHARACTER SET ascii NOT NULL,
              slice INT NOT NULL,
              dn VARCHAR(512) NULL,
              fqan VARCHAR(255) CHARACTER SET ascii NULL,
              leased_at DATETIME(6) NULL,
              UNIQUE KEY one_lease_per_dn_per_slice (pool, slice, dn),
              KEY by_dn (dn)
            ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
            """,
            """
            CREATE TABLE IF NOT EXISTS saz_ban (
              kind ENUM('dn','fqan','ca') NOT NULL,
              value VARCHAR(512) NOT NULL,
              reason VARCHAR(255) NOT NULL DEFAULT '',
              PRIMARY KEY (kind, value)
            ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
            """,
            """
            CREATE TABLE IF NOT EXISTS data_version (
              server_id INT UNSIGNED NOT NULL PRIMARY KEY,
              version BIGINT UNSIGNED NOT NULL
            ) ENGINE=InnoDB
            """,
        ]),
    ]

    /// The newest version in ``migrations``.
    public static var latestVersion: Int { migrations.map(\.version).max() ?? 0 }

    /// Applies every migration this node has not recorded yet; returns the versions applied.
    public static func migrate(_ conn: MariaDBConnection) async throws -> [Int] {
        _ = try await conn.query("""
            CREATE TABLE IF NOT EXISTS schema_version (
              version INT NOT NULL,
              server_id INT UNSIGNED NOT NULL,
              description VARCHAR(255) NOT NULL,
              applied_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
              PRIMARY KEY (version, server_id)
            ) ENGINE=InnoDB
            """)
        let done = try await conn.query("SELECT version FROM schema_version WHERE server_id = @@server_id")
        let applied = Set(done.rows.compactMap { DBValue.int($0["version"]) }.map(Int.init))
        var now: [Int] = []
        for m in migrations where !applied.contains(m.version) {
            for s in m.statements { _ = try await conn.query(s) }
            _ = try await conn.execute(
                "INSERT IGNORE INTO schema_version (version, server_id, description) VALUES (?, @@server_id, ?)",
                [.int(Int64(m.version)), .text(m.description)])
            now.append(m.version)
        }
        return now
    }

    /// The highest version any node recorded (0 for an empty database).
    public static func currentVersion(_ conn: MariaDBConnection) async throws -> Int {
        do {
            let r = try await conn.query("SELECT COALESCE(MAX(version), 0) AS v FROM schema_version")
            return Int(r.rows.first.flatMap { DBValue.int($0["v"]) } ?? 0)
        } catch let e as MariaDBError where e.errno == 1146 {  // ER_NO_SUCH_TABLE: never migrated
            return 0
        }
    }
}
