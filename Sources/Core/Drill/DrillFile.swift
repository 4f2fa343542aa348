import Foundation
import Net
import Topology
import Yams

/// The drill file (`drills.yaml` beside the topology): how `tandemctl drill` watches and hurts one
/// site. A drill never guesses how to hurt a site: every fault is a hook the site configures here,
/// and a kind without a hook is refused, naming the key to set.
public struct DrillFile: Sendable, Equatable {
    /// How to read one director's state.
    public enum DirectorSource: Sendable, Equatable {
        /// tandemd's API: `GET http://HOST:PORT/status` (``DaemonAPI/StatusReport``).
        case status(host: String, port: Int)
        /// A command that runs for the whole drill and prints `EPOCH_MS 1` / `EPOCH_MS 0` whenever
        /// the director starts or stops holding the VIP (for a director without Tandem's API, such
        /// as the keepalived pair of the lab's comparison).
        case watch([String])
    }

    /// The probe: `tandem-stress` against the service.
    public struct Probe: Sendable, Equatable {
        /// The tandem-stress executable; `nil`: beside tandemctl, else on PATH.
        public var stress: String?
        /// Calls per second (open loop).
        public var rate: Int = 250
        /// Connections.
        public var connections: Int = 8
        /// Per-call timeout, ms.
        public var timeoutMillis: Int = 200
        /// Slot width of the series, ms.
        public var slotMillis: Int = 20
        /// What each call is: `static` (a GET of ``path``), `gums`, `voms`, `saz`.
        public var call: String = "static"
        /// Path of `static` calls.
        public var path: String = "/healthz"
        /// A GET on one held connection every this many ms (0: no held connection).
        public var holdConnectionMillis: Int = 100
        /// Where the calls go, `host:port`; `nil`: the service's VIP and port.
        public var target: String?
        /// The data set the grid calls draw from (`gridsvc seed --seed/--users`).
        public var seed: Int = 42
        /// Users in that data set.
        public var users: Int = 2000
    }

    /// The drill's timing.
    public struct Timing: Sendable, Equatable {
        /// Load before the fault.
        public var baseline: Duration = .seconds(3)
        /// Load after the fault (or after the heal, for kinds healed under load).
        public var observe: Duration = .seconds(5)
        /// How long the site may take to be steady, before the drill and after its heal.
        public var settle: Duration = .seconds(30)
        /// How often the directors are read.
        public var poll: Duration = .milliseconds(20)
    }

    /// The hooks of one kind.
    public struct Hooks: Sendable, Equatable {
        /// Brings the site to its starting state (optional).
        public var prepare: [String]?
        /// Injects the fault.
        public var inject: [String]
        /// Ends the fault and restores the site.
        public var heal: [String]?
        /// Each hook's bound; a hook still running then is killed.
        public var timeout: Duration = .seconds(30)
        /// For kinds healed under load: how long the fault stands (overrides the kind's default).
        public var hold: Duration?

        /// The hooks of one kind.
        public init(prepare: [String]? = nil, inject: [String], heal: [String]? = nil, timeout: Duration = .seconds(30), hold: Duration? = nil) {
            self.prepare = prepare; self.inject = inject; self.heal = heal; self.timeout = timeout; self.hold = hold
        }
    }

    /// What a drill's verdict requires beyond its kind's invariants.
    public struct Expectations: Sendable, Equatable {
        /// Largest client-visible outage.
        public var maxOutage: Duration?
        /// Largest total dual-master time.
        public var maxDualMaster: Duration?
        /// Latest drain of the target.
        public var maxTimeToDrain: Duration?
        /// Latest restore after the heal.
        public var maxTimeToRestore: Duration?
        /// Most failed calls.
        public var maxErrors: Int?
        /// `survives`, `breaks` or `any`; `nil`: as the kind says.
        public var connection: String?

        /// Requirements; every one left out is not checked.
        public init(maxOutage: Duration? = nil, maxDualMaster: Duration? = nil, maxTimeToDrain: Duration? = nil,
                    maxTimeToRestore: Duration? = nil, maxErrors: Int? = nil, connection: String? = nil) {
            self.maxOutage = maxOutage; self.maxDualMaster = maxDualMaster; self.maxTimeToDrain = maxTimeToDrain
            self.maxTimeToRestore = maxTimeToRestore; self.maxErrors = maxErrors; self.connection = connection
        }
    }

    /// One service of the acceptance run.
    public struct AcceptanceService: Sendable, Equatable {
        /// The service.
        public var name: String
        /// Its calls: `static`, `gums`, `voms`, `saz`.
        public var call: String
        /// Path of `static` calls.
        public var path: String
    }

    /// `tandemctl acceptance`: FermiGrid's three tests.
    public struct Acceptance: Sendable, Equatable {
        /// The services tested, with their calls.
        public var services: [AcceptanceService]
        /// The drill kind each service's failover test runs.
        public var failover: DrillKind = .backendKill
        /// Seconds of each direct and VIP probe of the first test.
        public var probeSeconds: Int = 2
        /// Seconds of the capacity run.
        public var capacitySeconds: Int = 10
        /// Workers of the capacity run (closed loop).
        public var capacityWorkers: Int = 16
        /// The capacity run's mix: service name → weight (default 1 each).
        public var mix: [String: Int] = [:]
        /// The capacity the site must reach, in calls per day.
        public var minCallsPerDay: Int?
        /// The share of failed calls the capacity run may have.
        public var maxErrorRatio: Double = 0.001
    }

    /// The file, as given.
    public var file: String
    /// The site's name, if the file states it (it must match the topology's).
    public var site: String?
    /// The service drills load by default.
    public var service: String?
    /// How to read each director (every director of the pair, or the site's single director).
    public var directors: [(name: String, source: DirectorSource)]
    /// The probe.
    public var probe = Probe()
    /// The timing.
    public var timing = Timing()
    /// Extra environment for every hook.
    public var environment: [String: String] = [:]
    /// The hooks per kind.
    public var hooks: [DrillKind: Hooks] = [:]
    /// Extra requirements per kind.
    public var expectations: [DrillKind: Expectations] = [:]
    /// The acceptance settings, if the file has them.
    public var acceptance: Acceptance?

    /// Equal files.
    public static func == (a: DrillFile, b: DrillFile) -> Bool {
        a.file == b.file && a.site == b.site && a.service == b.service && a.directors.map(\.name) == b.directors.map(\.name)
            && a.directors.map(\.source) == b.directors.map(\.source) && a.probe == b.probe && a.timing == b.timing
            && a.environment == b.environment && a.hooks == b.hooks && a.expectations == b.expectations && a.acceptance == b.acceptance
    }

    /// The hooks of `kind`, or a refusal naming the key to set.
    public func hooks(for kind: DrillKind) throws(DrillError) -> Hooks {
        guard let h = hooks[kind] else {
            throw DrillError("\(file): no hook for \(kind): a drill never guesses how to hurt a site",
                             hint: "set hooks.\(kind).inject (and hooks.\(kind).heal) to the commands that inject and end this fault here")
        }
        return h
    }
}

/// A drill refused or failed, with what to do about it.
public struct DrillError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What is wrong.
    public var message: String
    /// What to do.
    public var hint: String
    /// Creates an error.
    public init(_ message: String, hint: String) { self.message = message; self.hint = hint }
    /// `message — hint`.
    public var description: String { "\(message) — \(hint)" }
}

/// The drill file format as tables (the topology's reader reads through them).
public enum DrillFileSchema {
    static let calls = ["static", "gums", "voms", "saz"]

    /// The whole file.
    public static let root = MappingSpec("drills", doc: "How tandemctl drill watches and hurts one site.", keys: [
        KeySpec("site", .name, "The site's name; must equal the topology's."),
        KeySpec("service", .name, "The service drills load unless --service names another."),
        KeySpec("directors", .dictionary(.mapping(director)), required: true, example: "directors: {d1: {status: http://10.0.0.1:9595}}",
                "How to read each director: every member of the pair, or the site's single director."),
        KeySpec("probe", .mapping(probe), "The probe (tandem-stress)."),
        KeySpec("timing", .mapping(timing), "The drill's timing."),
        KeySpec("environment", .dictionary(.string), default: "{}", "Extra environment for every hook."),
        KeySpec("hooks", .dictionary(.mapping(hooks)), default: "{}", "The hooks per drill kind: the only way a drill hurts the site."),
        KeySpec("expect", .dictionary(.mapping(expectations)), default: "{}", "Extra requirements per drill kind."),
        KeySpec("acceptance", .mapping(acceptance), "tandemctl acceptance: the services and the capacity run."),
    ])

    /// A director's source.
    public static let director = MappingSpec("director", doc: "How to read one director's state.", keys: [
        KeySpec("status", .string, example: "status: http://10.0.0.1:9595", "tandemd's API (its --status-listen), http://IPV4:PORT."),
        KeySpec("watch", .nonEmptyList(.string), example: "watch: [/path/to/vip-watch, a0]",
                "A command printing 'EPOCH_MS 1|0' whenever the director starts or stops holding the VIP."),
    ])

    /// `probe`.
    public static let probe = MappingSpec("probe", doc: "The tandem-stress probe against the service.", keys: [
        KeySpec("stress", .string, "The tandem-stress executable (default: beside tandemctl, else on PATH)."),
        KeySpec("rate", .integer(1...100_000), default: "250", "Calls per second (open loop)."),
        KeySpec("connections", .integer(1...4096), default: "8", "Connections."),
        KeySpec("timeout", .duration(1...60_000), default: "200ms", "Per-call timeout."),
        KeySpec("slot", .duration(1...10_000), default: "20ms", "Slot width of the series."),
        KeySpec("call", .choice(calls), default: "static", "What each call is."),
        KeySpec("path", .string, default: "/healthz", "Path of static calls."),
        KeySpec("hold_connection", .duration(0...60_000), default: "100ms", "A GET on one held connection this often (0: none)."),
        KeySpec("target", .string, "Where the calls go, HOST:PORT (default: the service's VIP and port)."),
        KeySpec("seed", .integer(0...Int(Int32.max)), default: "42", "The data set's seed (gridsvc seed --seed)."),
        KeySpec("users", .integer(1...100_000_000), default: "2000", "Users in the data set (gridsvc seed --users)."),
    ])

    /// `timing`.
    public static let timing = MappingSpec("timing", doc: "The drill's timing.", keys: [
        KeySpec("baseline", .duration(500...600_000), default: "3s", "Load before the fault."),
        KeySpec("observe", .duration(500...600_000), default: "5s", "Load after the fault, or after the heal for kinds healed under load."),
        KeySpec("settle", .duration(1000...3_600_000), default: "30s", "How long the site may take to be steady, before and after."),
        KeySpec("poll", .duration(5...10_000), default: "20ms", "How often the directors are read."),
    ])

    /// One kind's hooks.
    public static let hooks = MappingSpec("hooks", doc: "The commands that inject and end one kind of fault.", keys: [
        KeySpec("prepare", .nonEmptyList(.string), "argv run before the drill (optional)."),
        KeySpec("inject", .nonEmptyList(.string), required: true, example: "inject: [/etc/tandem/hooks/kill-director]", "argv that injects the fault."),
        KeySpec("heal", .nonEmptyList(.string), example: "heal: [/etc/tandem/hooks/start-director]", "argv that ends the fault and restores the site."),
        KeySpec("timeout", .duration(100...3_600_000), default: "30s", "Each hook's bound."),
        KeySpec("hold", .duration(0...3_600_000), "How long the fault stands before the heal (kinds healed under load)."),
    ])

    /// One kind's expectations.
    public static let expectations = MappingSpec("expect", doc: "What a drill's verdict requires beyond its kind's invariants.", keys: [
        KeySpec("max_outage", .duration(0...3_600_000), "Largest client-visible outage."),
        KeySpec("max_dual_master", .duration(0...3_600_000), "Largest total time two directors held the VIP."),
        KeySpec("max_time_to_drain", .duration(0...3_600_000), "Latest drain of the target member."),
        KeySpec("max_time_to_restore", .duration(0...3_600_000), "Latest restore after the heal."),
        KeySpec("max_errors", .integer(0...Int(Int32.max)), "Most failed calls."),
        KeySpec("connection", .choice(["survives", "breaks", "any"]), "What the held connection must do."),
    ])

    /// `acceptance`.
    public static let acceptance = MappingSpec("acceptance", doc: "FermiGrid's acceptance tests: answers, failover, capacity.", keys: [
        KeySpec("services", .dictionary(.mapping(acceptanceService)), required: true, example: "services: {gums: {call: gums}}",
                "The services tested and their calls."),
        KeySpec("failover", .string, default: "backend-kill", "The drill kind each service's failover test runs."),
        KeySpec("probe_seconds", .integer(1...600), default: "2", "Seconds of each direct and VIP probe."),
        KeySpec("capacity_seconds", .integer(1...3600), default: "10", "Seconds of the capacity run."),
        KeySpec("capacity_workers", .integer(1...4096), default: "16", "Workers of the capacity run."),
        KeySpec("mix", .dictionary(.integer(0...1000)), default: "{}", "Capacity mix: service → weight (default 1 each)."),
        KeySpec("min_calls_per_day", .integer(1...Int(Int32.max)), "The capacity the site must reach."),
        KeySpec("max_error_permille", .integer(0...1000), default: "1", "Failed calls the capacity run may have, per thousand."),
    ])

    /// One acceptance service.
    public static let acceptanceService = MappingSpec("acceptance service", doc: "How to call one service.", keys: [
        KeySpec("call", .choice(calls), default: "static", "What each call is."),
        KeySpec("path", .string, default: "/healthz", "Path of static calls."),
    ])
}

/// Reads and checks a drill file against its topology.
public enum DrillFileLoader {
    /// Reads bytes already read (TopologyFiles' `load(path:topology:)` reads the file), checking every
    /// reference against `topology`; all problems are thrown at once, located as the topology's are.
    public static func parse(data: Data, file: String, topology: Topology) throws(TopologyDiagnostics) -> DrillFile {
        let doc = try SchemaDocument(data: data, file: file, start: "start from topology/drill-lab.drills.yaml; the format is in docs/drills.md",
                                     what: "the site's drills.yaml")
        return try read(doc, topology: topology)
    }

    /// Reads text already in memory (`file` names it in messages).
    public static func parse(text: String, file: String, topology: Topology) throws(TopologyDiagnostics) -> DrillFile {
        let doc = try SchemaDocument(text: text, file: file, start: "start from topology/drill-lab.drills.yaml; the format is in docs/drills.md",
                                     what: "the site's drills.yaml")
        return try read(doc, topology: topology)
    }

    static func read(_ doc: SchemaDocument, topology: Topology) throws(TopologyDiagnostics) -> DrillFile {
        var out = DrillFile(file: doc.file, directors: [])
        guard let top = doc.fields(doc.root, "", DrillFileSchema.root) else { throw TopologyDiagnostics(doc.diagnostics) }
        out.site = top.text("site")
        if let site = out.site, site != topology.site {
            doc.error(.unknownReference, at: "site", "site '\(site)' is not the topology's ('\(topology.site)')",
                      hint: "this drill file belongs to another site; pass the drills.yaml of site \(topology.site), or fix the name")
        }
        out.service = top.text("service")
        if let s = out.service { checkService(s, "service", doc, topology) }
        out.directors = readDirectors(top, doc, topology)
        if let p = top.mapping("probe") { out.probe = readProbe(p, doc) }
        if let t = top.mapping("timing") {
            func d(_ k: String, _ fallback: Duration) -> Duration { t.number(k).map { .milliseconds($0) } ?? fallback }
            out.timing = .init(baseline: d("baseline", .seconds(3)), observe: d("observe", .seconds(5)),
                               settle: d("settle", .seconds(30)), poll: d("poll", .milliseconds(20)))
        }
        for e in top.entries("environment") ?? [] {
            if let v = doc.text(e.node, e.path) { out.environment[e.key] = v }
        }
        for e in top.entries("hooks") ?? [] {
            guard let kind = knownKind(e.key, e.path, doc), let h = doc.fields(e.node, e.path, DrillFileSchema.hooks) else { continue }
            guard let inject = h.texts("inject") else { continue }
            var hooks = DrillFile.Hooks(prepare: h.has("prepare") ? h.texts("prepare") : nil, inject: inject,
                                        heal: h.has("heal") ? h.texts("heal") : nil)
            hooks.timeout = .milliseconds(h.number("timeout") ?? 30_000)
            hooks.hold = h.has("hold") ? h.number("hold").map { .milliseconds($0) } : nil
            if case .after? = kind.spec?.heal, hooks.heal == nil {
                doc.error(.missingKey, at: h.path("heal"), node: e.node, "\(kind) needs a heal hook: its fault must end under load",
                          hint: "add `heal: [command that ends the fault]`")
            }
            if hooks.hold != nil, kind.spec?.heal == .afterProbe {
                doc.error(.badValue, at: h.path("hold"), node: h.node("hold"), "\(kind) is healed after the probe, so 'hold' means nothing here",
                          hint: "remove hold; it applies to \(DrillKindSpec.known.filter { $0.heal != .afterProbe }.map(\.kind.rawValue).joined(separator: ", "))")
            }
            out.hooks[kind] = hooks
        }
        for e in top.entries("expect") ?? [] {
            guard let kind = knownKind(e.key, e.path, doc), let x = doc.fields(e.node, e.path, DrillFileSchema.expectations) else { continue }
            func d(_ k: String) -> Duration? { x.has(k) ? x.number(k).map { .milliseconds($0) } : nil }
            out.expectations[kind] = .init(maxOutage: d("max_outage"), maxDualMaster: d("max_dual_master"),
                                           maxTimeToDrain: d("max_time_to_drain"), maxTimeToRestore: d("max_time_to_restore"),
                                           maxErrors: x.has("max_errors") ? x.number("max_errors") : nil,
                                           connection: x.has("connection") ? x.word("connection", what: "connection fate") : nil)
        }
        if let a = top.mapping("acceptance") { out.acceptance = readAcceptance(a, doc, topology) }
        guard doc.diagnostics.isEmpty else { throw TopologyDiagnostics(doc.diagnostics) }
        return out
    }

    private static func readDirectors(_ top: SchemaFields, _ doc: SchemaDocument, _ topology: Topology) -> [(name: String, source: DrillFile.DirectorSource)] {
        var out: [(name: String, source: DrillFile.DirectorSource)] = []
        let pair = topology.directors?.members ?? []
        let directorVMs = topology.vms.filter { $0.role == .director }.map(\.name)
        for e in top.entries("directors") ?? [] {
            if !pair.isEmpty, !pair.contains(e.key) {
                doc.error(.unknownReference, at: e.path, "'\(e.key)' is not a member of the director pair (\(pair.joined(separator: ", ")))",
                          hint: SchemaDocument.nearest(e.key, in: pair).map { "did you mean '\($0)'?" } ?? "name the pair's members")
                continue
            }
            if pair.isEmpty, !directorVMs.contains(e.key) {
                doc.error(.unknownReference, at: e.path, "'\(e.key)' is not a director VM of the topology",
                          hint: directorVMs.isEmpty ? "the topology has no VM with role: director" : "directors: \(directorVMs.joined(separator: ", "))")
                continue
            }
            guard let f = doc.fields(e.node, e.path, DrillFileSchema.director) else { continue }
            if f.has("status") == f.has("watch") {
                doc.error(.missingKey, at: e.path, node: e.node, "give exactly one of 'status' and 'watch' for \(e.key)",
                          hint: "status: http://ADDRESS:PORT for tandemd's API, or watch: [command] for a director without it")
                continue
            }
            if f.has("status"), let url = f.text("status") {
                guard let (host, port) = parseStatusURL(url) else {
                    doc.error(.badValue, at: f.path("status"), node: f.node("status"), "'\(url)' is not http://IPV4:PORT",
                              hint: "give tandemd's --status-listen as a URL, for example http://10.0.0.1:9595")
                    continue
                }
                out.append((e.key, .status(host: host, port: port)))
            } else if let argv = f.texts("watch") {
                out.append((e.key, .watch(argv)))
            }
        }
        for m in pair where !out.contains(where: { $0.name == m }) && !(top.entries("directors") ?? []).contains(where: { $0.key == m }) {
            doc.error(.missingKey, at: "directors.\(m)", node: top.node("directors"), "no entry for director \(m)",
                      hint: "add `\(m): {status: http://ADDRESS:9595}`: a drill must see both directors to see who holds the VIP")
        }
        return out
    }

    private static func readProbe(_ p: SchemaFields, _ doc: SchemaDocument) -> DrillFile.Probe {
        var out = DrillFile.Probe()
        out.stress = p.has("stress") ? p.text("stress") : nil
        out.rate = p.number("rate") ?? out.rate
        out.connections = p.number("connections") ?? out.connections
        out.timeoutMillis = p.number("timeout") ?? out.timeoutMillis
        out.slotMillis = p.number("slot") ?? out.slotMillis
        out.call = p.word("call", what: "call") ?? out.call
        out.path = p.text("path") ?? out.path
        out.holdConnectionMillis = p.number("hold_connection") ?? out.holdConnectionMillis
        out.seed = p.number("seed") ?? out.seed
        out.users = p.number("users") ?? out.users
        if p.has("target"), let t = p.text("target") {
            if parseHostPort(t) == nil {
                doc.error(.badValue, at: p.path("target"), node: p.node("target"), "'\(t)' is not IPV4:PORT",
                          hint: "give the address the clients call, for example 10.0.9.1:8443")
            }
            out.target = t
        }
        return out
    }

    private static func readAcceptance(_ a: SchemaFields, _ doc: SchemaDocument, _ topology: Topology) -> DrillFile.Acceptance {
        var services: [DrillFile.AcceptanceService] = []
        for e in a.entries("services") ?? [] {
            checkService(e.key, e.path, doc, topology)
            guard let f = doc.fields(e.node, e.path, DrillFileSchema.acceptanceService) else { continue }
            services.append(.init(name: e.key, call: f.word("call", what: "call") ?? "static", path: f.text("path") ?? "/healthz"))
        }
        var out = DrillFile.Acceptance(services: services)
        if let k = a.text("failover") { out.failover = knownKind(k, a.path("failover"), doc) ?? out.failover }
        out.probeSeconds = a.number("probe_seconds") ?? out.probeSeconds
        out.capacitySeconds = a.number("capacity_seconds") ?? out.capacitySeconds
        out.capacityWorkers = a.number("capacity_workers") ?? out.capacityWorkers
        for e in a.entries("mix") ?? [] {
            if !services.contains(where: { $0.name == e.key }) {
                doc.error(.unknownReference, at: e.path, "mix names '\(e.key)', which is not under acceptance.services",
                          hint: "add it to acceptance.services, or remove it from the mix")
            }
            if let w = doc.number(e.node, e.path, .integer(0...1000)) { out.mix[e.key] = w }
        }
        out.minCallsPerDay = a.has("min_calls_per_day") ? a.number("min_calls_per_day") : nil
        out.maxErrorRatio = Double(a.number("max_error_permille") ?? 1) / 1000
        return out
    }

    private static func checkService(_ name: String, _ path: String, _ doc: SchemaDocument, _ topology: Topology) {
        guard topology.service(named: name) == nil else { return }
        let names = topology.services.map(\.name)
        doc.error(.unknownReference, at: path, "no service '\(name)' in the topology",
                  hint: SchemaDocument.nearest(name, in: names).map { "did you mean '\($0)'?" } ?? "services: \(names.joined(separator: ", "))")
    }

    private static func knownKind(_ name: String, _ path: String, _ doc: SchemaDocument) -> DrillKind? {
        let kind = DrillKind(name)
        guard kind.spec == nil else { return kind }
        doc.error(.badValue, at: path, "unknown drill kind '\(name)'",
                  hint: (SchemaDocument.nearest(name, in: DrillKindSpec.names).map { "did you mean '\($0)'? " } ?? "")
                      + "known: \(DrillKindSpec.names.joined(separator: ", "))")
        return nil
    }

    /// `http://A.B.C.D:PORT` (an optional trailing `/`) → host and port.
    public static func parseStatusURL(_ url: String) -> (String, Int)? {
        guard url.hasPrefix("http://") else { return nil }
        var rest = url.dropFirst("http://".count)
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        return parseHostPort(String(rest))
    }

    /// `A.B.C.D:PORT` (or `localhost:PORT`) → host and port.
    public static func parseHostPort(_ text: String) -> (String, Int)? {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port) else { return nil }
        let host = String(text[..<colon])
        guard host == "localhost" || IPAddress(host)?.family == .v4 else { return nil }
        return (host, port)
    }
}
