/// The pure rules of GUMS pool leases on a multi-master ring (see docs/gridservices.md, "Pool leases").
///
/// Every pool account belongs to exactly one *slice*; slice k is written only through the ring node whose
/// `@@auto_increment_offset` is k. Two nodes therefore never write the same row, so replication can never
/// hit a duplicate key, and an account (one row) can only ever carry one DN. A DN that asks for its first
/// lease through two nodes within the replication delay can get one account in each slice; both stay bound
/// to that DN forever (never recycled to another DN), and every instance answers with the *canonical* one,
/// the earliest by (leasedAt, slice, account), once replication has delivered both.
public enum LeasePartition {
    /// The slice (1-based) of the `index`-th account of a pool on a ring of `ringSize` nodes.
    /// Matches MariaDB's auto-increment offsets 1...ringSize, so slice k is owned by the node with offset k.
    public static func slice(forAccountIndex index: Int, ringSize: Int) -> Int {
        precondition(ringSize >= 1 && index >= 0, "ring size must be ≥ 1 and the index ≥ 0")
        return index % ringSize + 1
    }

    /// Whether the node with auto-increment `offset` may write (lease or release) an account of `slice`.
    public static func nodeOwns(offset: Int, slice: Int) -> Bool { offset == slice }

    /// One existing lease as read from the database.
    public struct Lease: Sendable, Hashable {
        /// Pool account name.
        public var account: String
        /// Slice the account belongs to.
        public var slice: Int
        /// When it was leased, microseconds since the epoch (DB time of the writing node).
        public var leasedAtMicros: Int64
        /// Creates a lease value.
        public init(account: String, slice: Int, leasedAtMicros: Int64) {
            self.account = account
            self.slice = slice
            self.leasedAtMicros = leasedAtMicros
        }
    }

    /// The lease every instance answers with when a DN holds several in one pool: the earliest by
    /// (leasedAt, slice, account). Deterministic, so all nodes agree once they hold the same rows.
    public static func canonical(_ leases: [Lease]) -> Lease? {
        leases.min { a, b in
            (a.leasedAtMicros, a.slice, a.account) < (b.leasedAtMicros, b.slice, b.account)
        }
    }

    /// Whether a mapping read now may be cached: only when the canonical lease is older than the settle
    /// window, so a second lease taken concurrently through another node has had time to replicate here.
    public static func isSettled(ageMicros: Int64, settleWindowMicros: Int64) -> Bool {
        ageMicros >= settleWindowMicros
    }
}
