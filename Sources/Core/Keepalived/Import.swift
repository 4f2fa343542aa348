import Foundation
import Net
import Topology

/// One of the two directors of an imported pair: keepalived.conf names neither machine (unless it
/// sends unicast adverts), so the command line may.
public struct KeepalivedDirector: Sendable, Equatable {
    /// The machine's name in the topology.
    public var name: String
    /// Its address (the VRRP source).
    public var address: IPAddress
    /// A director.
    public init(name: String, address: IPAddress) { self.name = name; self.address = address }
}

/// How to import.
public struct KeepalivedImportOptions: Sendable {
    /// The site's name; default: `router_id`, else `imported`.
    public var site: String?
    /// This node, then its peer. Default: `unicast_src_ip` (or `mcast_src_ip`) and the first `unicast_peer`.
    public var directors: [KeepalivedDirector]
    /// The options.
    public init(site: String? = nil, directors: [KeepalivedDirector] = []) { self.site = site; self.directors = directors }
}

/// A keepalived statement the import did not map one to one, and what Tandem does instead.
public struct KeepalivedImportNote: Sendable, Equatable, CustomStringConvertible {
    /// Where the statement stands.
    public var location: KeepalivedLocation
    /// Its keyword (or value, in a block of values).
    public var keyword: String
    /// What Tandem does instead, or why it could not be taken.
    public var instead: String
    /// A note.
    public init(_ location: KeepalivedLocation, _ keyword: String, _ instead: String) {
        self.location = location; self.keyword = keyword; self.instead = instead
    }
    /// `file:line: keyword: what Tandem does instead`.
    public var description: String { "\(location): \(keyword): \(instead)" }
}

/// The result of an import: the topology text and the account of every statement.
public struct KeepalivedImport: Sendable {
    /// The topology, as YAML text with the file's comments carried over.
    public var yaml: String
    /// Statements not mapped one to one, in file order, each with what Tandem does instead.
    public var notes: [KeepalivedImportNote]
    /// Statements in the configuration (blocks' statements included).
    public var statementCount: Int
    /// How many statements were mapped.
    public var mappedCount: Int
    /// How many statements were reported (each has a note; a mapped one may have a note too).
    public var reportedCount: Int
    /// Distinct keywords mapped, and distinct keywords with a note (values such as addresses in a
    /// `virtual_ipaddress` block are statements, not keywords).
    public var mappedKeywords: Set<String>, reportedKeywords: Set<String>
    /// Services and members written.
    public var services: Int, members: Int
    /// Whether a director pair was written (it needs both machines' addresses).
    public var directorPair: Bool
    /// What `tandemctl validate` says of `yaml` (nil: valid); the import checks its own output.
    public var invalid: TopologyDiagnostics?
}

/// keepalived.conf → Tandem topology. Pure: it reads a ``KeepalivedConfig`` and writes text.
///
/// Every statement is either mapped (it has an equivalent in the topology) or reported with its
/// file, line and what Tandem does instead; a statement that is neither after the walk is reported
/// as not mapped, so nothing is dropped silently. Comments go with the statement they stood before.
public enum KeepalivedImporter {
    /// Converts `config`.
    public static func convert(_ config: KeepalivedConfig, options: KeepalivedImportOptions = .init()) -> KeepalivedImport {
        var run = Run(config: config, options: options)
        return run.convert()
    }

    // MARK: - Drafts

    struct MemberDraft {
        var address: IPAddress
        var port: UInt16?
        var weight: Int
        var comments: [KeepalivedComment]
        var remark: String?
    }

    struct CheckDraft: Equatable {
        var fields: [(String, String)]
        var description: String { fields.map { "\($0.0): \($0.1)" }.joined(separator: ", ") }
        static func == (a: Self, b: Self) -> Bool { a.description == b.description }
    }

    struct ServiceDraft {
        var name: String
        var vip: IPAddress
        var port: UInt16?
        var proto: String
        var fwmark: UInt32?
        var scheduler: String?
        var flags: [String] = []
        var forwarding: String?
        var persistence: [(String, String)]?
        var members: [MemberDraft] = []
        var check: CheckDraft?
        var sorry: (IPAddress, UInt16)?
        var comments: [KeepalivedComment] = []
        var source: String
    }

    // MARK: - The walk

    struct Run {
        let config: KeepalivedConfig
        let options: KeepalivedImportOptions
        var mapped = Set<String>(), covered = Set<String>()
        var notes: [KeepalivedImportNote] = []
        var mappedKeywords = Set<String>(), reportedKeywords = Set<String>()
        var services: [ServiceDraft] = []
        var serviceNames = Set<String>()

        /// Statements that are values in a block of values (an address of virtual_ipaddress, an
        /// entry of a group): counted as statements, never as keywords.
        let values: Set<String>

        init(config: KeepalivedConfig, options: KeepalivedImportOptions) {
            self.config = config; self.options = options
            var values = Set<String>()
            for s in config.statements.flatMap({ [$0] + $0.descendants }) {
                // vrrp_sync_group lists its instances directly (before 2.0) or in `group { }`.
                let blockValues = Self.valueBlocks.contains(s.keyword) ? s.block ?? []
                    : s.keyword == "vrrp_sync_group" ? (s.block ?? []).filter { $0.block == nil } : []
                for v in blockValues { values.insert(Self.key(v)) }
            }
            self.values = values
        }

        /// keepalived blocks whose lines are values, not keywords.
        static let valueBlocks: Set<String> = ["virtual_ipaddress", "virtual_ipaddress_excluded", "notification_email", "unicast_peer",
                                               "track_interface", "track_script", "track_file", "track_process", "track_bfd",
                                               "virtual_routes", "virtual_rules", "static_ipaddress", "static_routes", "static_rules",
                                               "group", "virtual_server_group"]

        static func key(_ s: KeepalivedStatement) -> String { "\(s.location)|\(s.words.joined(separator: " "))" }

        mutating func map(_ s: KeepalivedStatement) {
            mapped.insert(Self.key(s))
            if !values.contains(Self.key(s)) { mappedKeywords.insert(s.keyword) }
        }

        /// Reports `s`, and each statement of its block as part of it: nothing in a block Tandem
        /// has no use for goes unnamed.
        mutating func report(_ s: KeepalivedStatement, _ instead: String) {
            guard !mapped.contains(Self.key(s)), !covered.contains(Self.key(s)) else { return }
            covered.insert(Self.key(s))
            notes.append(KeepalivedImportNote(s.location, s.keyword, instead))
            if !values.contains(Self.key(s)) { reportedKeywords.insert(s.keyword) }
            for d in s.descendants where !mapped.contains(Self.key(d)) && !covered.contains(Self.key(d)) {
                covered.insert(Self.key(d))
                notes.append(KeepalivedImportNote(d.location, d.keyword, "inside \(s.keyword) (\(s.location.line)), which is not imported"))
                if !values.contains(Self.key(d)) { reportedKeywords.insert(d.keyword) }
            }
        }

        /// What the ledger holds, to undo the work on a block that in the end gives nothing.
        struct Snapshot { var mapped: Set<String>, covered: Set<String>, notes: [KeepalivedImportNote], mk: Set<String>, rk: Set<String> }
        var snapshot: Snapshot { Snapshot(mapped: mapped, covered: covered, notes: notes, mk: mappedKeywords, rk: reportedKeywords) }
        /// Undoes everything since `s`, then reports `statement` (and its block) with `why`.
        mutating func abandon(_ statement: KeepalivedStatement, since s: Snapshot, _ why: String) {
            mapped = s.mapped; covered = s.covered; notes = s.notes; mappedKeywords = s.mk; reportedKeywords = s.rk
            report(statement, why)
        }

        /// A note on a statement that was mapped, but not quite (a default that differs, say).
        mutating func remark(_ s: KeepalivedStatement, _ what: String) {
            notes.append(KeepalivedImportNote(s.location, s.keyword, what))
            if !values.contains(Self.key(s)) { reportedKeywords.insert(s.keyword) }
        }

        mutating func convert() -> KeepalivedImport {
            let top = config.statements
            let globals = top.filter { $0.keyword == "global_defs" }
            let routerID = globals.lazy.compactMap { $0.child("router_id")?.arguments.first }.first
            for g in globals { globalDefs(g) }
            let groups = Dictionary(top.filter { $0.keyword == "virtual_server_group" }.compactMap { g in g.arguments.first.map { ($0, g) } },
                                    uniquingKeysWith: { a, _ in a })
            let instances = top.filter { $0.keyword == "vrrp_instance" }
            // A fwmark service has no address of its own: it takes the first VRRP address, which the pair announces anyway.
            let vrrpAddresses = instances.flatMap { i in (i.child("virtual_ipaddress")?.block ?? []).compactMap { Self.address($0.keyword) } }
            for s in top {
                switch s.keyword {
                case "global_defs", "vrrp_instance": break
                case "virtual_server": virtualServer(s, groups: groups, vrrpAddresses: vrrpAddresses)
                case "virtual_server_group": break  // mapped where a virtual_server uses it
                default: report(s, KeepalivedVocabulary.insteadOf(s.keyword))
                }
            }
            for g in top where g.keyword == "virtual_server_group" && !mapped.contains(Self.key(g)) {
                report(g, "no virtual_server uses this group: nothing to import")
            }
            let pair = directors(instances, routerID: routerID)
            // The safety net: whatever the walk did not account for is reported, never dropped.
            for s in top.flatMap({ [$0] + $0.descendants }) where !mapped.contains(Self.key(s)) && !covered.contains(Self.key(s)) {
                report(s, KeepalivedVocabulary.insteadOf(s.keyword))
            }
            let site = options.site ?? routerID.map(Self.name) ?? "imported"
            let yaml = render(site: site, pair: pair)
            let all = Set(top.flatMap { [$0] + $0.descendants }.map(Self.key))
            var result = KeepalivedImport(yaml: yaml, notes: notes.sorted { ($0.location, $0.keyword) < ($1.location, $1.keyword) },
                                          statementCount: all.count, mappedCount: mapped.intersection(all).count,
                                          reportedCount: covered.subtracting(mapped).intersection(all).count, mappedKeywords: mappedKeywords, reportedKeywords: reportedKeywords,
                                          services: services.count, members: services.reduce(0) { $0 + $1.members.count },
                                          directorPair: pair?.written ?? false, invalid: nil)
            do {
                _ = try TopologyLoader.parse(data: Data(yaml.utf8), file: "imported.yaml")
            } catch {
                result.invalid = error
            }
            return result
        }

        // MARK: global_defs

        mutating func globalDefs(_ g: KeepalivedStatement) {
            map(g)
            for s in g.block ?? [] {
                switch s.keyword {
                case "router_id": map(s)
                case "vrrp_version":
                    if s.arguments.first == "3" { map(s) } else { report(s, "Tandem speaks VRRPv3 only (RFC 5798): a VRRPv2 peer cannot be its partner") }
                case "lvs_sync_daemon":
                    // IPVS connection sync runs on every Tandem director pair by default.
                    map(s)
                    remark(s, "tandemd runs the IPVS sync daemons on the pair by default (sync id from the VRID); set `sync_interface: \(s.arguments.first ?? "IF")` in the topology's `directors:` if it is not the VRRP interface")
                default: report(s, KeepalivedVocabulary.insteadOf(s.keyword))
                }
            }
        }

        // MARK: virtual_server

        mutating func virtualServer(_ vs: KeepalivedStatement, groups: [String: KeepalivedStatement], vrrpAddresses: [IPAddress]) {
            let start = snapshot
            let args = Array(vs.arguments)
            // The addresses the statement stands for: one, a fwmark, or every entry of a group.
            var endpoints: [(vip: IPAddress?, port: UInt16?, fwmark: UInt32?, entry: KeepalivedStatement?, name: String)] = []
            if args.first == "group", args.count >= 2 {
                guard let g = groups[args[1]] else {
                    report(vs, "virtual_server_group \(args[1]) is not defined: nothing to import")
                    return
                }
                map(g)
                for e in g.block ?? [] {
                    let w = Array(e.words)
                    if w.first == "fwmark", w.count >= 2, let m = UInt32(w[1]) {
                        endpoints.append((nil, nil, m, e, "\(args[1])-fwmark-\(m)"))
                        continue
                    }
                    guard let (first, count) = Self.range(w.first ?? ""), w.count >= 2, let port = UInt16(w[1]) else {
                        report(e, "not an address and port (or fwmark N) Tandem can read")
                        continue
                    }
                    guard count <= 256 else { report(e, "a range of \(count) addresses: import at most 256 per entry, list them by hand"); continue }
                    for i in 0..<count {
                        let a = Self.offset(first, by: i)
                        endpoints.append((a, port, nil, e, "\(args[1])-\(Self.name(a.description))-\(port)"))
                    }
                }
            } else if args.first == "fwmark", args.count >= 2, let m = UInt32(args[1]) {
                endpoints.append((nil, nil, m, nil, "fwmark-\(m)"))
            } else if let a = args.first.flatMap(Self.address), args.count >= 2, let port = UInt16(args[1]) {
                endpoints.append((a, port, nil, nil, "vs-\(Self.name(a.description))-\(port)"))
            } else {
                report(vs, "not an address and port, fwmark N or group NAME that Tandem can read")
                return
            }
            guard !endpoints.isEmpty else { abandon(vs, since: start, "its group has no entry Tandem can read: nothing to import"); return }
            map(vs)
            let body = vs.block ?? []
            func value(_ keyword: String) -> KeepalivedStatement? { body.last { $0.keyword == keyword } }
            let proto = value("protocol")?.arguments.first?.uppercased() ?? "TCP"
            if proto == "SCTP" {
                abandon(vs, since: start, "Tandem balances TCP, UDP and fwmark services, not SCTP: this virtual server is not imported")
                return
            }
            var draft = ServiceDraft(name: "", vip: IPAddress(ipv4: 0), port: nil, proto: proto == "UDP" ? "udp" : "tcp", source: "\(vs.location)")
            // Comments inside the block go above the service, except a real server's, which go above its member.
            draft.comments = Self.comments(of: vs, skipping: "real_server")
            if let p = value("protocol") {
                if ["TCP", "UDP"].contains(proto) { map(p) } else { report(p, "unknown protocol '\(proto)': imported as TCP") }
            }
            if let s = value("lb_algo") ?? value("lvs_sched") {
                let word = s.arguments.first?.lowercased() ?? ""
                if Scheduler(rawValue: word) != nil { draft.scheduler = word; map(s) } else { report(s, "unknown scheduler '\(word)': Tandem uses its default, wlc") }
            }
            if let s = value("lb_kind") ?? value("lvs_method") {
                let word = s.arguments.first?.lowercased() ?? ""
                if ForwardingMethod(rawValue: word) != nil { draft.forwarding = word; map(s) } else { report(s, "unknown forwarding method '\(word)': Tandem uses its default, nat") }
            }
            if let s = value("persistence_timeout") {
                if let t = s.arguments.first.flatMap(Int.init), t >= 1 { draft.persistence = [("timeout", "\(t)s")]; map(s) } else { report(s, "not a timeout in seconds Tandem can read") }
            }
            if let s = value("persistence_granularity") {
                if draft.persistence != nil, let g = s.arguments.first {
                    draft.persistence?.append(("netmask", g)); map(s)
                } else { report(s, "persistence_granularity without persistence_timeout: Tandem has no persistence to apply it to") }
            }
            for flag in ["sh-port", "sh-fallback", "mh-port", "mh-fallback"] {
                if let s = value(flag) { draft.flags.append(flag); map(s) }
            }
            for (n, kw) in [(1, "flag-1"), (2, "flag-2"), (3, "flag-3")] {
                guard let s = value(kw) else { continue }
                let sched = draft.scheduler ?? "wlc"
                if (sched == "sh" || sched == "mh") && n < 3 {
                    draft.flags.append("\(sched)-\(n == 1 ? "fallback" : "port")"); map(s)
                } else { report(s, "IP_VS_SVC_F_SCHED\(n) has no meaning Tandem knows with scheduler \(sched)") }
            }
            if let s = value("ip_family") { map(s) }
            if let s = value("sorry_server") {
                let a = s.arguments.first.flatMap(Self.address)
                let p = s.arguments.dropFirst().first.flatMap(UInt16.init)
                if let a, let p, p > 0 { draft.sorry = (a, p); map(s) } else { report(s, "Tandem's sorry server needs an address and a port") }
            }
            // Service-level check settings real servers and checkers inherit (keepalived's defaults otherwise).
            let inherited = Timing(delayLoop: value("delay_loop"), timeout: value("connect_timeout"), retry: value("retry"),
                                   delayBeforeRetry: value("delay_before_retry"))
            for s in [value("delay_loop"), value("connect_timeout"), value("retry"), value("delay_before_retry")].compactMap({ $0 }) { map(s) }
            if let s = value("inhibit_on_failure") { map(s) }

            // Real servers and their checks.
            var checkSource: KeepalivedStatement?
            let vsPort = endpoints.first?.port
            for rs in body where rs.keyword == "real_server" {
                let w = Array(rs.arguments)
                guard let a = w.first.flatMap(Self.address) else { report(rs, "not an address Tandem can read"); continue }
                var port = w.count >= 2 ? UInt16(w[1]) : nil
                if w.count >= 2 && port == nil { report(rs, "port '\(w[1])' is not a number"); continue }
                map(rs)
                var member = MemberDraft(address: a, port: port, weight: 1, comments: Self.comments(of: rs))
                let rsBody = rs.block ?? []
                if let s = rsBody.last(where: { $0.keyword == "weight" }) {
                    if let n = s.arguments.first.flatMap(Int.init), n >= 0 {
                        member.weight = min(n, 65535); map(s)
                        if n > 65535 { remark(s, "weight \(n) is above IPVS's 65535: imported as 65535") }
                    } else { report(s, "not a weight Tandem can read: the member gets weight 1") }
                }
                if let s = rsBody.last(where: { $0.keyword == "inhibit_on_failure" }) {
                    map(s)
                    member.remark = "inhibit_on_failure: Tandem always drains a failed member to weight 0"
                }
                if let s = rsBody.last(where: { $0.keyword == "lvs_method" }) {
                    if s.arguments.first?.lowercased() == (draft.forwarding ?? "nat") { map(s) } else {
                        report(s, "Tandem forwards every member of a service the same way (\(draft.forwarding ?? "nat"))")
                    }
                }
                let timing = inherited.overridden(by: rsBody)
                for s in rsBody where ["delay_loop", "connect_timeout", "retry", "delay_before_retry"].contains(s.keyword) { map(s) }
                // DR and TUN cannot change the port: keepalived ignores a different one, and Tandem refuses it.
                if let p = port, let vp = vsPort, p != vp, let f = draft.forwarding, f != "nat" {
                    remark(rs, "\(f.uppercased()) cannot change the port: the member is imported on the service's port \(vp)")
                    port = vp
                }
                member.port = port
                let checkers = rsBody.filter { Self.checkers.contains($0.keyword) }
                var mappedCheck: CheckDraft?
                for c in checkers {
                    if let check = self.check(c, timing: timing, memberPort: port ?? vsPort) {
                        if mappedCheck == nil { mappedCheck = check } else {
                            report(c, "Tandem runs one check per service: the first one of this real server is used")
                        }
                    }
                }
                if let mappedCheck {
                    if draft.check == nil {
                        draft.check = mappedCheck
                        checkSource = rs
                    } else if draft.check != mappedCheck, let first = checkSource {
                        remark(rs, "Tandem checks every member of a service alike: the check of the real server at \(first.location) is used for this one too")
                    }
                }
                draft.members.append(member)
            }
            if draft.members.isEmpty { abandon(vs, since: start, "no real server Tandem can read: this virtual server is not imported"); return }
            if draft.check == nil {
                let fallback = CheckDraft(fields: draft.proto == "udp"
                    ? [("kind", "exec"), ("command", "[/bin/sh, -c, \"exec ping -c 1 -W 1 -q \\\"$TANDEM_ADDRESS\\\" >/dev/null\"]")]
                    : [("kind", "tcp")])
                draft.check = Self.withTiming(fallback, inherited.overridden(by: []))
                remark(vs, "no checker Tandem can run: every member is checked with \(draft.proto == "udp" ? "ping (an exec check)" : "a TCP connect to its port")")
            }
            // Unnamed members of one service must differ by address and port.
            var seen = Set<String>()
            draft.members = draft.members.filter { m in seen.insert("\(m.address) \(m.port ?? 0)").inserted }
            let noVIP = "a fwmark service needs a VIP in Tandem (its address family, and the address the pair holds); no vrrp_instance gives one: add this service by hand"
            if endpoints.allSatisfy({ $0.fwmark != nil }) && vrrpAddresses.isEmpty {
                abandon(vs, since: start, noVIP)
                return
            }
            for e in endpoints {
                var d = draft
                if let m = e.fwmark {
                    guard let vip = vrrpAddresses.first else {
                        if let entry = e.entry { report(entry, noVIP) }
                        continue
                    }
                    d.vip = vip; d.proto = "fwmark"; d.fwmark = m; d.port = nil
                    remark(e.entry ?? vs, "Tandem names a fwmark service's VIP: \(vip), the first VRRP address, is used (check it)")
                } else if let vip = e.vip {
                    d.vip = vip; d.port = e.port
                }
                if let entry = e.entry { map(entry) }
                d.name = unique(e.name)
                services.append(d)
            }
        }

        mutating func unique(_ base: String) -> String {
            var name = base, n = 2
            while !serviceNames.insert(name).inserted { name = "\(base)-\(n)"; n += 1 }
            return name
        }

        // MARK: checkers

        static let checkers: Set<String> = ["TCP_CHECK", "HTTP_GET", "SSL_GET", "MISC_CHECK", "PING_CHECK", "SMTP_CHECK", "DNS_CHECK",
                                            "UDP_CHECK", "FILE_CHECK", "BFD_CHECK"]

        /// keepalived's check timing, from the checker, the real server or the virtual server.
        struct Timing {
            var delayLoop: KeepalivedStatement?, timeout: KeepalivedStatement?, retry: KeepalivedStatement?, delayBeforeRetry: KeepalivedStatement?
            func overridden(by body: [KeepalivedStatement]) -> Timing {
                func last(_ k: String...) -> KeepalivedStatement? { body.last { k.contains($0.keyword) } }
                return Timing(delayLoop: last("delay_loop") ?? delayLoop, timeout: last("connect_timeout", "misc_timeout") ?? timeout,
                              retry: last("retry", "nb_get_retry") ?? retry, delayBeforeRetry: last("delay_before_retry") ?? delayBeforeRetry)
            }
            /// keepalived's defaults: delay_loop 60 s, connect_timeout 5 s, retry 1 (fall = retry + 1).
            var intervalMs: Int { delayLoop.flatMap { Run.milliseconds($0.arguments.first) } ?? 60_000 }
            var timeoutMs: Int { timeout.flatMap { Run.milliseconds($0.arguments.first) } ?? 5_000 }
            var fall: Int { min(100, (retry?.arguments.first.flatMap(Int.init) ?? 1) + 1) }
        }

        static func withTiming(_ c: CheckDraft, _ t: Timing) -> CheckDraft {
            var c = c
            c.fields += [("interval", TopologyText.duration(milliseconds: max(10, min(t.intervalMs, 3_600_000)))),
                         ("timeout", TopologyText.duration(milliseconds: max(1, min(t.timeoutMs, 3_600_000)))),
                         ("rise", "1"), ("fall", "\(max(1, t.fall))")]
            return c
        }

        /// One checker as a Tandem check, or nil (reported) when Tandem has none like it.
        mutating func check(_ c: KeepalivedStatement, timing inherited: Timing, memberPort: UInt16?) -> CheckDraft? {
            let body = c.block ?? []
            let timing = inherited.overridden(by: body)
            var fields: [(String, String)]
            switch c.keyword {
            case "TCP_CHECK":
                fields = [("kind", "tcp")]
            case "HTTP_GET", "SSL_GET":
                fields = [("kind", c.keyword == "HTTP_GET" ? "http" : "https")]
                let urls = body.filter { $0.keyword == "url" }
                if let url = urls.first {
                    map(url)
                    for s in url.block ?? [] {
                        switch s.keyword {
                        case "path":
                            if let p = s.arguments.first, p.hasPrefix("/") { fields.append(("path", Self.scalar(p))); map(s) } else { report(s, "Tandem's path starts with '/': the check asks for /") }
                        case "status_code":
                            let word = s.arguments.first ?? ""
                            if let n = Int(word), (100...599).contains(n) { fields.append(("expect_status", "\(n)")); map(s) } else {
                                let first = Int(word.prefix { $0.isNumber }).map { "\($0)" } ?? "200"
                                fields.append(("expect_status", first))
                                remark(s, "Tandem expects one status: \(first) (keepalived accepts '\(word)')")
                                map(s)
                            }
                        default: report(s, KeepalivedVocabulary.insteadOf(s.keyword))
                        }
                    }
                    if url.child("status_code") == nil {
                        remark(url, "keepalived accepts any 2xx status here; Tandem expects exactly 200 (set expect_status)")
                    }
                    for extra in urls.dropFirst() { report(extra, "Tandem's HTTP check asks for one path: the first url is used") }
                } else {
                    remark(c, "no url: Tandem asks for / and expects 200")
                }
            case "MISC_CHECK":
                guard let pathStatement = body.last(where: { $0.keyword == "misc_path" }), let script = pathStatement.arguments.first else {
                    report(c, "a MISC_CHECK without misc_path: nothing to run")
                    return nil
                }
                map(pathStatement)
                let argv = (script + " " + pathStatement.arguments.dropFirst().joined(separator: " ")).split(whereSeparator: \.isWhitespace).map(String.init)
                fields = [("kind", "exec"), ("command", "[" + argv.map(Self.scalar).joined(separator: ", ") + "]")]
                remark(pathStatement, "Tandem runs the command with the member in TANDEM_ADDRESS and TANDEM_PORT; keepalived passed nothing, so the script's arguments stay as written")
            case "PING_CHECK":
                fields = [("kind", "exec"), ("command", "[/bin/sh, -c, \"exec ping -c 1 -W 1 -q \\\"$TANDEM_ADDRESS\\\" >/dev/null\"]")]
                remark(c, "Tandem has no ping check: an exec check runs ping against the member's address")
            case "SMTP_CHECK":
                fields = [("kind", "tcp")]
                remark(c, KeepalivedVocabulary.insteadOf(c.keyword))
            default:
                report(c, KeepalivedVocabulary.insteadOf(c.keyword))
                return nil
            }
            map(c)
            for s in body where ["connect_timeout", "misc_timeout", "retry", "nb_get_retry", "delay_loop"].contains(s.keyword) { map(s) }
            if let d = timing.delayBeforeRetry {
                let ms = Self.milliseconds(d.arguments.first)
                if ms != nil && ms != timing.intervalMs {
                    remark(d, "Tandem retries at the check's interval (\(TopologyText.duration(milliseconds: timing.intervalMs))), not after \(d.arguments.first ?? "?") s: a failed member is drained after fall × interval")
                }
                map(d)
            }
            if let p = body.last(where: { $0.keyword == "connect_port" }) {
                if let n = p.arguments.first.flatMap(UInt16.init), n == memberPort { map(p) } else {
                    report(p, "Tandem checks the member's own port\(memberPort.map { " (\($0))" } ?? ""), not \(p.arguments.first ?? "?")")
                }
            }
            return Self.withTiming(CheckDraft(fields: fields), timing)
        }

        // MARK: vrrp_instance → director pair

        struct PairDraft {
            /// The pair is in the topology (both machines known), not only in a commented block.
            var written: Bool
            var lines: [String]
            /// ``Run/key(_:)`` of the vrrp_instance it came from.
            var instance: String
        }

        mutating func directors(_ instances: [KeepalivedStatement], routerID: String?) -> PairDraft? {
            guard !instances.isEmpty else { return nil }
            let vips = Set(services.map(\.vip))
            func vipsHeld(_ i: KeepalivedStatement) -> Int {
                (i.child("virtual_ipaddress")?.block ?? []).compactMap { Self.address($0.keyword) }.filter(vips.contains).count
            }
            // tandemd runs one VRRP instance per director: the one that holds the most services' VIPs.
            let chosen = instances.enumerated().max { (vipsHeld($0.element), -$0.offset) < (vipsHeld($1.element), -$1.offset) }!.element
            for i in instances where Self.key(i) != Self.key(chosen) {
                report(i, "tandemd runs one VRRP instance per director: \(chosen.arguments.first ?? "the instance") at \(chosen.location) is imported, this one is not")
            }
            let start = snapshot
            map(chosen)
            let body = chosen.block ?? []
            func value(_ k: String) -> KeepalivedStatement? { body.last { $0.keyword == k } }
            var lines: [String] = []
            let name = Self.name(chosen.arguments.first ?? "directors")
            // Machines: the command line's, else the unicast addresses keepalived.conf gives.
            var machines = options.directors
            if machines.count < 2 {
                let mine = (value("unicast_src_ip") ?? value("mcast_src_ip")).flatMap { $0.arguments.first.flatMap(Self.address) }
                let peer = value("unicast_peer")?.block?.first.flatMap { Self.address($0.keyword) }
                if let mine, let peer {
                    let me = routerID.map(Self.name) ?? "director-1"
                    machines = [KeepalivedDirector(name: me, address: mine), KeepalivedDirector(name: me == "director-2" ? "director-1" : "director-2", address: peer)]
                }
            }
            var vrid: String?, priority: String?, advert: String?, interface: String?
            if let s = value("virtual_router_id"), let n = s.arguments.first.flatMap(Int.init), (1...255).contains(n) { vrid = "\(n)"; map(s) }
            if let s = value("priority"), let n = s.arguments.first.flatMap(Int.init) {
                if (1...254).contains(n) { priority = "\(n)"; map(s) } else {
                    priority = "254"; remark(s, "priority \(n): Tandem allows 1–254 (255 is the address owner's, RFC 5798 §5.2.4); imported as 254"); map(s)
                }
            }
            if let s = value("advert_int"), let ms = Self.milliseconds(s.arguments.first) {
                advert = TopologyText.duration(milliseconds: max(10, min(ms, 40_950))); map(s)
            }
            if let s = value("interface"), let i = s.arguments.first { interface = i; map(s) }
            if let s = value("version") {
                if s.arguments.first == "3" { map(s) } else { report(s, "Tandem speaks VRRPv3 only (RFC 5798)") }
            }
            if let s = value("lvs_sync_daemon_interface") {
                map(s)
                remark(s, "tandemd runs the IPVS sync daemons on the pair by default; set `sync_interface: \(s.arguments.first ?? "IF")` in the topology's `directors:` if it is not the VRRP interface")
            }
            for s in [value("unicast_src_ip"), value("mcast_src_ip")].compactMap({ $0 }) {
                if machines.count == 2 { map(s) } else { report(s, "the pair is not imported (see virtual_router_id's note)") }
            }
            if let s = value("unicast_peer") {
                map(s)
                for p in s.block ?? [] { map(p) }
                remark(s, "tandemd sends multicast adverts unless told: set `unicast_peers: [\(s.block?.first?.keyword ?? "ADDRESS")]` under `directors: nodes: NAME:` in the topology")
            }
            // The VIPs: the services' VIPs the instance holds; any other address Tandem does not hold.
            var held: [String] = []
            if let v = value("virtual_ipaddress") {
                map(v)
                for a in v.block ?? [] {
                    guard let address = Self.address(a.keyword) else { report(a, "not an address Tandem can read"); continue }
                    let owners = services.filter { $0.vip == address }.map(\.name)
                    if owners.isEmpty {
                        report(a, "Tandem's pair holds only its services' VIPs, and no imported service has \(address): configure it with the system, or add a service")
                    } else {
                        map(a)
                        held += owners.filter { !held.contains($0) }
                        if a.words.count > 1 { remark(a, "'\(a.words.dropFirst().joined(separator: " "))': Tandem adds the VIP as /32 (/128) on the VRRP interface, or on --vip-interface") }
                    }
                }
            }
            for s in body where !mapped.contains(Self.key(s)) && !covered.contains(Self.key(s)) {
                report(s, KeepalivedVocabulary.insteadOf(s.keyword))
            }
            guard let vrid, let interface else {
                abandon(chosen, since: start, "no virtual_router_id (1–255) or interface: the director pair is not imported")
                return PairDraft(written: false, lines: Self.comments(of: chosen).map { Self.commentLine($0, indent: "") }, instance: Self.key(chosen))
            }
            let writeServices = !held.isEmpty && held.count < services.count
            lines += Self.comments(of: chosen).map { Self.commentLine($0, indent: "") }
            lines.append("# \(chosen.location) vrrp_instance \(chosen.arguments.joined(separator: " "))")
            var pair = [String]()
            pair.append("  name: \(name)")
            pair.append("  members: [\(machines.count == 2 ? machines.map(\.name).joined(separator: ", ") : "THIS-NODE, PEER")]")
            pair.append("  vrid: \(vrid)")
            if let priority { pair.append("  priorities: {\(machines.first?.name ?? "THIS-NODE"): \(priority)}   # this node's; the peer's is in its own keepalived.conf") }
            if let advert { pair.append("  advert_interval: \(advert)") }
            pair.append("  interface: \(Self.scalar(interface))")
            if writeServices { pair.append("  services: [\(held.joined(separator: ", "))]") }
            if machines.count == 2 {
                lines.append("machines:")
                for m in machines { lines.append("  - {name: \(Self.scalar(m.name)), addresses: [\(Self.scalar(m.address.description))]}") }
                lines.append("directors:")
                lines += pair
                return PairDraft(written: true, lines: lines, instance: Self.key(chosen))
            }
            abandon(chosen, since: start, "the pair's two machines need addresses, which this keepalived.conf does not give (no unicast_src_ip and unicast_peer): "
                    + "pass --director NAME=ADDRESS for this node and its peer, or fill in the commented directors block")
            lines.append("# machines:")
            lines.append("#   - {name: THIS-NODE, addresses: [ADDRESS]}")
            lines.append("#   - {name: PEER, addresses: [ADDRESS]}")
            lines.append("# directors:")
            lines += pair.map { "# " + $0 }
            return PairDraft(written: false, lines: lines, instance: Self.key(chosen))
        }

        // MARK: - Text

        func render(site: String, pair: PairDraft?) -> String {
            var out: [String] = []
            out.append("# Imported from \(config.files.first ?? "keepalived.conf") by `tandemctl import keepalived`.")
            if config.files.count > 1 { out.append("# Files read: \(config.files.joined(separator: ", ")).") }
            out.append("# Each service names the keepalived statement it came from; what Tandem could not map is listed at the end.")
            out.append("site: \(Self.scalar(site))")
            // The comments of statements that became no service and no pair, in file order.
            let chosen = pair?.instance
            let leading = config.statements.filter { s in s.keyword != "virtual_server" && (s.keyword != "vrrp_instance" || Self.key(s) != chosen) }
                .flatMap { Self.comments(of: $0) }
            if !leading.isEmpty {
                out.append("")
                out += leading.map { Self.commentLine($0, indent: "") }
            }
            if !services.isEmpty {
                out.append("")
                out.append("services:")
                for s in services { out += renderService(s) }
            }
            if let pair {
                out.append("")
                out += pair.lines
            }
            if !config.trailingComments.isEmpty {
                out.append("")
                out += config.trailingComments.map { Self.commentLine($0, indent: "") }
            }
            if !notes.isEmpty {
                out.append("")
                out.append("# Not mapped one to one (\(notes.count)): FILE:LINE: KEYWORD: what Tandem does instead")
                for n in notes.sorted(by: { ($0.location, $0.keyword) < ($1.location, $1.keyword) }) { out.append("#   \(n)") }
            }
            return out.joined(separator: "\n") + "\n"
        }

        func renderService(_ s: ServiceDraft) -> [String] {
            var out = s.comments.map { Self.commentLine($0, indent: "  ") }
            out.append("  # \(s.source)")
            out.append("  - name: \(s.name)")
            out.append("    vip: \(Self.scalar(s.vip.description))")
            if s.proto == "fwmark" {
                out.append("    protocol: fwmark")
                out.append("    fwmark: \(s.fwmark ?? 0)")
            } else {
                out.append("    port: \(s.port ?? 0)")
                if s.proto == "udp" { out.append("    protocol: udp") }
            }
            if let v = s.scheduler { out.append("    scheduler: \(v)") }
            if !s.flags.isEmpty { out.append("    scheduler_flags: [\(s.flags.joined(separator: ", "))]") }
            if let v = s.forwarding { out.append("    forwarding: \(v)") }
            if let p = s.persistence { out.append("    persistence: {\(p.map { "\($0.0): \(Self.scalar($0.1))" }.joined(separator: ", "))}") }
            out.append("    members:")
            for m in s.members {
                out += m.comments.map { Self.commentLine($0, indent: "      ") }
                var fields = ["address: \(Self.scalar(m.address.description))"]
                // A fwmark member without a port takes the client's (0); others inherit the service's.
                if let p = m.port { fields.append("port: \(p)") } else if s.proto == "fwmark" { fields.append("port: 0") }
                fields.append("weight: \(m.weight)")
                out.append("      - {\(fields.joined(separator: ", "))}" + (m.remark.map { "   # \($0)" } ?? ""))
            }
            if let c = s.check { out.append("    check: {\(c.fields.map { "\($0.0): \($0.1)" }.joined(separator: ", "))}") }
            if let (a, p) = s.sorry {
                out.append("    last_member: sorry")
                out.append("    sorry_server: {address: \(Self.scalar(a.description)), port: \(p)}")
            }
            return out
        }

        // MARK: - Values

        /// Every comment of `s` and its block (closing ones included), in file order, leaving out
        /// the statements with keyword `skipping` and their blocks.
        static func comments(of s: KeepalivedStatement, skipping: String? = nil) -> [KeepalivedComment] {
            var out = s.comments
            for child in s.block ?? [] where child.keyword != skipping { out += comments(of: child, skipping: skipping) }
            return out + s.closingComments
        }

        /// A comment of the file as a YAML comment line.
        static func commentLine(_ c: KeepalivedComment, indent: String) -> String {
            c.text.isEmpty ? "\(indent)#" : "\(indent)# \(c.text)"
        }

        /// keepalived's timers: seconds, decimals allowed (`0.5`).
        static func milliseconds(_ text: String?) -> Int? {
            guard let text, let v = Double(text), v.isFinite, v >= 0, v < 1e9 else { return nil }
            return Int((v * 1000).rounded())
        }

        /// The address a keepalived word starts with: `10.0.0.1`, `10.0.0.1/24`, `fd00::1`.
        static func address(_ word: String) -> IPAddress? {
            IPAddress(String(word.prefix { $0 != "/" }))
        }

        /// `192.168.200.3-10`: the first address and how many; a plain address is a range of one.
        static func range(_ word: String) -> (IPAddress, Int)? {
            if let a = IPAddress(word) { return (a, 1) }
            guard let dash = word.lastIndex(of: "-"), let first = IPAddress(String(word[..<dash])), first.family == .v4,
                  let last = Int(word[word.index(after: dash)...]), let low = first.ipv4Value.map({ Int($0 & 0xff) }), last >= low, last <= 255 else { return nil }
            return (first, last - low + 1)
        }

        static func offset(_ a: IPAddress, by n: Int) -> IPAddress {
            guard n > 0, let v = a.ipv4Value else { return a }
            return IPAddress(ipv4: v &+ UInt32(n))
        }

        /// A topology name from keepalived text: letters, digits, `-`, `_`, `.`; others become `-`.
        static func name(_ text: String) -> String {
            let s = String(text.map { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == ".") ? $0 : "-" })
            return s.isEmpty ? "imported" : s
        }

        /// A YAML scalar: plain when that is unambiguous, else double-quoted (JSON's escapes are YAML's).
        static func scalar(_ text: String) -> String {
            let plain = !text.isEmpty && text.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "._/-+@".contains($0)) }
                && !["-", "."].contains(text.first!) && Double(text) == nil
                && !["true", "false", "yes", "no", "on", "off", "null", "y", "n"].contains(text.lowercased())
            if plain { return text }
            let e = JSONEncoder()
            e.outputFormatting = [.withoutEscapingSlashes]
            return (try? e.encode(text)).map { String(decoding: $0, as: UTF8.self) } ?? "\"\""
        }
    }
}
