import Net
import Topology

/// How to write one director's keepalived.conf.
public struct KeepalivedExportOptions: Sendable {
    /// Where the IPVS sync daemons run.
    public enum Sync: Sendable, Equatable {
        /// On the VRRP interface (tandemd's default).
        case vrrpInterface
        /// On this interface.
        case interface(String)
        /// No `lvs_sync_daemon`.
        case none
    }
    /// The director the file is for: a member of a director pair.
    public var node: String
    /// VRRP interface; default the pair's `interface`.
    public var vrrpInterface: String?
    /// Interface the VIPs go on; default the VRRP interface.
    public var vipInterface: String?
    /// Sync daemons.
    public var syncInterface: Sync = .vrrpInterface
    /// Advert interval; default the pair's.
    public var advertIntervalMs: Int?
    /// keepalived's `router_id`; default the node's name.
    public var routerID: String?
    /// Options for `node`.
    public init(node: String) { self.node = node }
}

/// A keepalived.conf and what it cannot do as Tandem does.
public struct KeepalivedExport: Sendable {
    /// The configuration text.
    public var text: String
    /// One sentence per difference, also written as `!` comments at the top of `text`.
    public var notes: [String]
}

/// Why a topology cannot be exported for a node.
public struct KeepalivedExportError: Error, Sendable, CustomStringConvertible {
    /// What is wrong and what to do.
    public var description: String
}

/// Topology → one director's keepalived.conf (VRRP instance, virtual servers, checkers), the way the
/// lab's keepalived pair runs beside tandemd from the same file. Pure.
public enum KeepalivedExporter {
    /// The configuration of `options.node`.
    public static func config(_ t: Topology, options o: KeepalivedExportOptions) throws(KeepalivedExportError) -> KeepalivedExport {
        guard let pair = t.directorPairs.first(where: { $0.members.contains(o.node) }) else {
            let members = t.directorPairs.flatMap(\.members)
            throw KeepalivedExportError(description: "\(o.node) is not a member of a director pair"
                + (members.isEmpty ? "; the topology has no `directors`" : "; members: \(members.joined(separator: ", "))"))
        }
        var notes: [String] = []
        let vrrpIf = o.vrrpInterface ?? pair.interface
        let vipIf = o.vipInterface ?? vrrpIf
        let instance = "VI_\(pair.vrid)"
        let family = t.addresses(ofNode: o.node)?.first?.address.family ?? .v4
        let held = pair.services.isEmpty ? t.services : t.services.filter { pair.services.contains($0.name) }
        var vips: [IPAddress] = []
        for s in held where !vips.contains(s.vip) {
            if s.vip.family == family { vips.append(s.vip) } else {
                notes.append("service \(s.name): VIP \(s.vip) is \(s.vip.family) and \(o.node)'s VRRP runs over \(family); keepalived needs a second vrrp_instance for it, not written")
            }
        }
        let exec = t.services.contains { if case .exec = $0.check.kind { return true }; return false }

        var body: [String] = []
        body.append("global_defs {")
        body.append("  router_id \(o.routerID ?? o.node)")
        body.append("  vrrp_version 3")
        if exec {
            // MISC_CHECK scripts need a user to run as; tandemd runs them as itself.
            body.append("  script_user root")
            body.append("  enable_script_security")
        }
        switch o.syncInterface {
        case .vrrpInterface: body.append("  lvs_sync_daemon \(vrrpIf) \(instance) id \(pair.vrid)")
        case .interface(let i): body.append("  lvs_sync_daemon \(i) \(instance) id \(pair.vrid)")
        case .none: break
        }
        body.append("}")
        body.append("vrrp_instance \(instance) {")
        // Both start as backup and the priorities elect, as tandemd does (RFC 5798 §6.4.1).
        body.append("  state BACKUP")
        body.append("  interface \(vrrpIf)")
        body.append("  virtual_router_id \(pair.vrid)")
        body.append("  priority \(pair.priorities[o.node] ?? 100)")
        body.append("  advert_int \(seconds(o.advertIntervalMs ?? pair.advertIntervalMs))")
        body.append("  virtual_ipaddress {")
        for v in vips { body.append("    \(v)/\(v.family == .v6 ? 128 : 32) dev \(vipIf)") }
        body.append("  }")
        body.append("}")
        if pair.witness != nil {
            notes.append("directors.witness: keepalived has no split-brain rule; a partitioned pair has two masters")
        }
        for s in t.services { body += virtualServer(s, in: t, notes: &notes) }

        var text = ["! keepalived.conf for \(o.node) of site \(t.site), written by `tandemctl export keepalived`; do not edit by hand."]
        if !notes.isEmpty {
            text.append("! What keepalived does not do as Tandem does:")
            text += notes.map { "!   \($0)" }
        }
        return KeepalivedExport(text: (text + body).joined(separator: "\n") + "\n", notes: notes)
    }

    static func virtualServer(_ s: VirtualService, in t: Topology, notes: inout [String]) -> [String] {
        var out: [String] = []
        out.append(s.proto == .fwmark ? "virtual_server fwmark \(s.fwmark ?? 0) {" : "virtual_server \(s.vip) \(s.port) {")
        if s.proto == .fwmark && s.vip.family == .v6 { out.append("  ip_family inet6") }
        let c = s.check
        out.append("  delay_loop \(seconds(c.intervalMs))")
        out.append("  lb_algo \(s.scheduler.rawValue)")
        out.append("  lb_kind \(s.forwarding.rawValue.uppercased())")
        for f in s.schedulerFlags { out.append("  \(f.rawValue)") }
        if let p = s.persistence {
            out.append("  persistence_timeout \(p.timeoutSeconds)")
            let full: UInt32 = s.vip.family == .v6 ? 128 : 0xffff_ffff
            if p.netmask != full {
                out.append("  persistence_granularity \(s.vip.family == .v6 ? "\(p.netmask)" : IPAddress(ipv4: p.netmask).description)")
            }
        }
        // keepalived ignores (and warns about) a protocol on a fwmark service.
        if s.proto != .fwmark { out.append("  protocol \(s.proto == .udp ? "UDP" : "TCP")") }
        switch s.lastMember {
        case .sorryServer(let a, let port): out.append("  sorry_server \(a) \(port)")
        case .keepLast:
            notes.append("service \(s.name): last_member: keep has no keepalived equivalent; keepalived takes every failed member out (to weight 0)")
        }
        if c.rise > 1 { notes.append("service \(s.name): keepalived puts a member back after one good check, not rise \(c.rise)") }
        if s.passive != nil { notes.append("service \(s.name): keepalived has no passive silence detection") }
        let checker = self.checker(s, notes: &notes)
        for m in s.members {
            guard let a = t.address(of: m, in: s) else { continue }
            out.append(m.port == 0 ? "  real_server \(a) {" : "  real_server \(a) \(m.port) {")
            out.append("    weight \(m.weight)")
            // tandemd drains a failed member to weight 0 and never removes it.
            out.append("    inhibit_on_failure")
            out += checker.map { "    " + $0 }
            out.append("  }")
        }
        out.append("}")
        return out
    }

    /// The checker block every real server of `s` gets.
    static func checker(_ s: VirtualService, notes: inout [String]) -> [String] {
        let c = s.check
        // fall N = the first failure and N - 1 retries, each after the check interval.
        let timing = ["connect_timeout \(seconds(c.timeoutMs))", "retry \(max(c.fall - 1, 0))", "delay_before_retry \(seconds(c.intervalMs))"]
        switch c.kind {
        case .tcp:
            return ["TCP_CHECK {"] + timing.map { "  " + $0 } + ["}"]
        case .http(let h):
            if h.method != "GET" { notes.append("service \(s.name): keepalived's HTTP_GET sends GET, not \(h.method)") }
            if h.bodyContains != nil { notes.append("service \(s.name): body_contains has no keepalived equivalent here; the status is checked") }
            if h.bodySHA256 != nil { notes.append("service \(s.name): keepalived's digest is an MD5, not body_sha256; the status is checked") }
            return [h.scheme == "https" ? "SSL_GET {" : "HTTP_GET {", "  url {", "    path \(quoted(h.path))", "    status_code \(h.expectStatus)", "  }"]
                + timing.map { "  " + $0 } + ["}"]
        case .exec(let command):
            notes.append("service \(s.name): keepalived's MISC_CHECK passes no TANDEM_ADDRESS or TANDEM_PORT to \(command.first ?? "the command")")
            return ["MISC_CHECK {", "  misc_path \(quoted(command.joined(separator: " ")))", "  misc_timeout \(seconds(c.timeoutMs))",
                    "  retry \(max(c.fall - 1, 0))", "  delay_before_retry \(seconds(c.intervalMs))", "}"]
        case .mariadb:
            notes.append("service \(s.name): keepalived has no replication-aware MariaDB check; a TCP connect to the port is written instead")
            return ["TCP_CHECK {"] + timing.map { "  " + $0 } + ["}"]
        }
    }

    /// keepalived's timers are seconds with decimals: 1500 ms → `1.5`.
    static func seconds(_ ms: Int) -> String {
        guard ms % 1000 != 0 else { return "\(ms / 1000)" }
        var frac = String(ms % 1000)
        while frac.count < 3 { frac = "0" + frac }
        while frac.hasSuffix("0") { frac.removeLast() }
        return "\(ms / 1000).\(frac)"
    }

    /// A word keepalived reads as one: quoted when it holds a space or a comment character.
    static func quoted(_ word: String) -> String {
        word.contains(where: { $0 == " " || $0 == "\t" || $0 == "!" || $0 == "#" || $0 == "{" || $0 == "}" })
            ? "\"" + word.replacingOccurrences(of: "\"", with: "\\\"") + "\"" : word
    }
}
