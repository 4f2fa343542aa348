import Net
/// A deterministic, realistic grid-site data set: VOs with groups and roles, users with subjects from
/// real-looking CAs, GUMS rules (group pools, fixed role accounts), pool accounts and SAZ ban lists.
/// User `i` is computed on its own in O(1), so the stress client can pick users without the database.
public struct SeedPlan: Sendable {
    /// A VO with its groups (paths under the VO) and roles that get fixed accounts.
    public struct VO: Sendable {
        /// VO name.
        public var name: String
        /// Subgroups, e.g. `uscms` for `/cms/uscms`.
        public var subgroups: [String]
        /// Roles with a fixed group account, e.g. `production` → `cmsprod`.
        public var roles: [String]
        /// Relative share of users.
        public var weight: Int
    }

    /// One generated user.
    public struct User: Sendable, Hashable {
        /// Index in the plan.
        public var index: Int
        /// Subject.
        public var dn: String
        /// Issuing CA subject.
        public var ca: String
        /// VOMS FQANs (canonical text).
        public var fqans: [String]
    }

    /// The VOs of a FermiGrid-like site.
    public static let vos: [VO] = [
        VO(name: "cms", subgroups: ["uscms", "higgs", "top"], roles: ["production", "pilot", "lcgadmin"], weight: 30),
        VO(name: "atlas", subgroups: ["usatlas", "det-indet"], roles: ["production", "pilot"], weight: 20),
        VO(name: "fermilab", subgroups: ["accelerator", "minos", "nova", "mu2e", "dune"], roles: ["analysis", "production"], weight: 20),
        VO(name: "dzero", subgroups: ["dzero-users"], roles: ["production"], weight: 8),
        VO(name: "cdf", subgroups: ["cdf-users"], roles: ["production"], weight: 6),
        VO(name: "des", subgroups: ["desgw"], roles: ["production"], weight: 6),
        VO(name: "osg", subgroups: ["opportunistic"], roles: ["pilot"], weight: 6),
        VO(name: "lsst", subgroups: [], roles: ["production"], weight: 4),
    ]

    /// Issuing CAs: (CA subject, user subject prefix).
    public static let cas: [(ca: String, prefix: String)] = [
        ("/DC=org/DC=cilogon/C=US/O=CILogon/CN=CILogon OSG CA 1", "/DC=org/DC=cilogon/C=US/O=CILogon"),
        ("/DC=com/DC=DigiCert-Grid/O=DigiCert Grid/CN=DigiCert Grid CA-1", "/DC=com/DC=DigiCert-Grid/O=Open Science Grid/OU=People"),
        ("/DC=gov/DC=fnal/O=Fermilab/OU=Certificate Authorities/CN=Kerberized CA HSM", "/DC=gov/DC=fnal/O=Fermilab/OU=People"),
        ("/DC=ch/DC=cern/CN=CERN Grid Certification Authority", "/DC=ch/DC=cern/OU=Organic Units/OU=Users"),
        ("/C=IT/O=INFN/CN=INFN Certification Authority", "/C=IT/O=INFN/OU=Personal Certificate/L=Bologna"),
        ("/DC=org/DC=doegrids/OU=Certificate Authorities/CN=DOEGrids CA 1", "/DC=org/DC=doegrids/OU=People"),
    ]

    /// A CA on the ban list (no user of the plan is issued by it, but requests may present it).
    public static let bannedCA = "/DC=org/DC=example/CN=Compromised Example CA 2"

    private static let firstNames = ["Jane", "John", "Maria", "Wei", "Ahmed", "Olga", "Pierre", "Giulia", "Hiroshi", "Anika",
                                     "Carlos", "Fatima", "Ivan", "Mei", "Lars", "Priya", "Tomasz", "Elena", "Kofi", "Sofia"]
    private static let lastNames = ["Doe", "Smith", "Garcia", "Chen", "Khan", "Petrova", "Dubois", "Rossi", "Tanaka", "Larsen",
                                    "Silva", "Haddad", "Ivanov", "Wang", "Nielsen", "Patel", "Nowak", "Moreau", "Mensah", "Costa"]

    /// Seed of the plan.
    public var seed: UInt64
    /// Number of users.
    public var users: Int

    /// Creates a plan.
    public init(seed: UInt64, users: Int) {
        self.seed = seed
        self.users = users
    }

    /// Pool name for a VO-level or subgroup-level group: `/cms` → `cms`, `/cms/uscms` → `uscms`.
    public static func poolName(vo: String, subgroup: String?) -> String {
        (subgroup ?? vo).filter { $0 != "-" }
    }

    /// Fixed account for a role: `/cms/Role=production` → `cmsproduction`.
    public static func roleAccount(vo: String, role: String) -> String { vo + role }

    /// GUMS rules: FQAN → (kind, target). VO root and every subgroup → a pool; every role → a fixed account.
    public static var mappingRules: [(fqan: String, kind: String, target: String)] {
        var out: [(String, String, String)] = []
        for vo in vos {
            out.append(("/\(vo.name)", "pool", poolName(vo: vo.name, subgroup: nil)))
            for g in vo.subgroups { out.append(("/\(vo.name)/\(g)", "pool", poolName(vo: vo.name, subgroup: g))) }
            for r in vo.roles { out.append(("/\(vo.name)/Role=\(r)", "fixed", roleAccount(vo: vo.name, role: r))) }
        }
        return out
    }

    /// User `i` (0 ≤ i < users), computed independently of the others.
    public func user(_ i: Int) -> User {
        var rng = SplitMix64(seed: seed ^ (UInt64(i) &* 0xD6E8_FEB8_6659_FD93))
        let (ca, prefix) = Self.cas[Int(rng.next() % UInt64(Self.cas.count))]
        let first = Self.firstNames[Int(rng.next() % UInt64(Self.firstNames.count))]
        let last = Self.lastNames[Int(rng.next() % UInt64(Self.lastNames.count))]
        let dn = "\(prefix)/CN=\(first) \(last) \(100000 + i)"
        let total = Self.vos.reduce(0) { $0 + $1.weight }
        var pick = Int(rng.next() % UInt64(total))
        var vo = Self.vos[0]
        for v in Self.vos {
            if pick < v.weight { vo = v; break }
            pick -= v.weight
        }
        var fqans = ["/\(vo.name)"]
        // Most members sit in one subgroup, which then maps to the subgroup's own pool.
        if !vo.subgroups.isEmpty, rng.next() % 10 < 6 {
            fqans.append("/\(vo.name)/\(vo.subgroups[Int(rng.next() % UInt64(vo.subgroups.count))])")
        }
        if !vo.roles.isEmpty, rng.next() % 20 == 0 {
            fqans.append("/\(vo.name)/Role=\(vo.roles[Int(rng.next() % UInt64(vo.roles.count))])")
        }
        return User(index: i, dn: dn, ca: ca, fqans: fqans.sorted())
    }

    /// Whether user `i`'s subject is on the SAZ ban list (about 1 in 500).
    public func isBanned(_ i: Int) -> Bool { i % 499 == 7 }

    /// The FQAN bans: (fqan, reason).
    public static let fqanBans: [(String, String)] = [
        ("/osg/opportunistic/Role=pilot", "pilot abuse incident 2026-11"),
        ("/des/desgw", "group suspended pending security review"),
    ]

    /// The pool a user's FQAN maps to (the most specific rule), or nil for a fixed role account.
    public func pool(for fqan: String) -> String? {
        let f = try! FQAN(fqan)
        let rules = Dictionary(Self.mappingRules.map { ($0.fqan, ($0.kind, $0.target)) }, uniquingKeysWith: { a, _ in a })
        for g in f.fallbacks { if let r = rules[g] { return r.0 == "pool" ? r.1 : nil } }
        return nil
    }
}
