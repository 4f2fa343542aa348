import ArgumentParser
import Drill
import DrillRunner
import Foundation
import LoadReport
import Topology
import TopologyFiles

/// `tandemctl drill …`: drills on a site (`run`, the default), the kinds, and the comparison of
/// several runs (tandemd against keepalived in the lab).
struct DrillGroup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drill",
        abstract: "Drill a site: inject a fault through its hooks under a probe's load, and report what the clients saw.",
        subcommands: [DrillRun.self, DrillCompare.self, DrillKinds.self, DrillOutage.self],
        defaultSubcommand: DrillRun.self)
}

/// The options every command that runs drills shares: where the site and its drill file are,
/// where reports go, and which tandem-stress probes.
struct SiteOptions: ParsableArguments {
    @Argument(help: "Topology file of the site (YAML).")
    var topology: String
    @Option(help: "The site's drill file (default: TOPOLOGY's name with .drills.yaml, else drills.yaml beside it).")
    var drills: String?
    @Option(name: .customLong("report-dir"), help: "Where the HTML and JSON reports go.")
    var reportDir = "drill-reports"
    @Option(help: "The tandem-stress executable (default: the drill file's probe.stress, else beside tandemctl, else on PATH).")
    var stress: String?
    @Option(help: "Whose pair this is, for the reports (tandemd, keepalived); default: the site's name.")
    var label: String?

    /// The drill file's path.
    var drillFile: String {
        if let drills { return drills }
        let base = topology.hasSuffix(".yaml") ? String(topology.dropLast(5)) : topology
        let beside = (topology as NSString).deletingLastPathComponent
        let named = base + ".drills.yaml"
        return FileManager.default.fileExists(atPath: named) ? named : (beside.isEmpty ? "drills.yaml" : beside + "/drills.yaml")
    }

    /// The site and its drill file, both validated; every problem printed with its place.
    func load() throws -> (Topology, DrillFile) {
        let t: Topology
        do { t = try TopologyLoader.load(path: topology) } catch { throw fail(error.description) }
        let path = drillFile
        guard FileManager.default.fileExists(atPath: path) else {
            throw fail("tandemctl: no drill file at \(path): a drill never guesses how to hurt a site — write one (docs/drills.md) or pass --drills FILE")
        }
        do { return (t, try DrillFileLoader.load(path: path, topology: t)) } catch { throw fail(error.description) }
    }

    /// The tandem-stress to run.
    func stressPath(_ file: DrillFile) -> String {
        if let stress { return stress }
        if let s = file.probe.stress { return s }
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent().appendingPathComponent("tandem-stress").path
        return FileManager.default.isExecutableFile(atPath: beside) ? beside : "tandem-stress"
    }
}

/// Progress lines on standard error, with the time since the command started.
func progressPrinter() -> @Sendable (String) -> Void {
    let t0 = ContinuousClock.now
    return { line in
        let s = (ContinuousClock.now - t0).inSecondsText
        FileHandle.standardError.write(Data("[\(s)] \(line)\n".utf8))
    }
}

extension Duration {
    /// `  12.3s`, for progress lines.
    fileprivate var inSecondsText: String {
        let v = Double(components.seconds) + Double(components.attoseconds) / 1e18
        let text = String(format: "%.1fs", v)
        return String(repeating: " ", count: max(0, 7 - text.count)) + text
    }
}

/// `tandemctl drill KIND TOPOLOGY`.
struct DrillRun: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run one drill (the default: `tandemctl drill KIND TOPOLOGY`).",
        discussion: """
            The fault goes through the hook the drill file configures for KIND (hooks.KIND.inject, \
            then hooks.KIND.heal); without one the drill is refused. The probe is tandem-stress \
            against the service; both directors' /status say who holds the VIP at every moment. \
            Progress goes to standard error, a summary to standard output, and an HTML and a JSON \
            report to --report-dir. Exit status: 0 the drill passed its verdict, 1 it failed or \
            could not run, 2 a usage error. Kinds: \(DrillKindSpec.names.joined(separator: ", ")).
            """)

    @Argument(help: "The drill kind (tandemctl drill kinds lists them).")
    var kind: String
    @OptionGroup var site: SiteOptions
    @Option(help: "The service to load (default: the drill file's `service`, else the target's).")
    var service: String?
    @Option(help: "What to hurt: a director (default: the master) or a member VM (default: the service's first).")
    var target: String?

    func validate() throws {
        guard DrillKind(kind).spec != nil else {
            throw ValidationError("unknown drill kind '\(kind)' (known: \(DrillKindSpec.names.joined(separator: ", ")))")
        }
    }

    func run() async throws {
        let (topology, file) = try site.load()
        let settings = DrillSettings(topology: topology, topologyPath: site.topology, drills: file, kind: DrillKind(kind),
                                     service: service, target: target, label: site.label ?? topology.site,
                                     stress: site.stressPath(file), reportDirectory: site.reportDir)
        let outcome: DrillOutcome
        do { outcome = try await DrillRunner(settings, clock: ContinuousClock(), progress: progressPrinter()).run() } catch {
            throw fail("tandemctl drill: \(error)")
        }
        print(DrillReport.text(outcome.result, html: outcome.htmlPath, json: outcome.jsonPath), terminator: "")
        if !outcome.result.verdict.passed { throw Exit.problem }
    }
}

/// `tandemctl drill compare RESULT.json…`.
struct DrillCompare: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Compare drill results (JSON reports): medians per kind and director, and one HTML report with every series.",
        discussion: "The ratio is the second director's median outage over the first's (above 1: the first did better).")

    @Argument(help: "JSON reports of tandemctl drill.")
    var results: [String]
    @Option(help: "Write the HTML comparison here.")
    var html: String?
    @Option(help: "The comparison's title.")
    var title = "Tandem drills: comparison"
    @Option(help: "A line under the title (what ran, where, with which settings).")
    var note = ""

    func run() throws {
        guard !results.isEmpty else { throw ValidationError("name at least one JSON report") }
        var all: [DrillResult] = []
        for path in results {
            guard let data = FileManager.default.contents(atPath: path) else { throw fail("tandemctl: cannot read \(path)") }
            do { all.append(try JSONDecoder().decode(DrillResult.self, from: data)) } catch {
                throw fail("tandemctl: \(path) is not a drill's JSON report (\(error)): pass the .json files tandemctl drill wrote")
            }
        }
        let c = DrillComparison(all)
        print(c.text(), terminator: "")
        if let html {
            do { try c.html(title: title, note: note).write(toFile: html, atomically: true, encoding: .utf8) } catch {
                throw fail("tandemctl: cannot write \(html): \(error.localizedDescription)")
            }
            print("report \(html)")
        }
    }
}

/// `tandemctl drill outage --series FILE --fault-at S`: the client-visible outage of a series file,
/// by the drills' own definition (``DrillAnalysis/outage(_:slotMillis:faultSeconds:)``), for the lab
/// scripts that keep a tandem-stress series of their own (scripts/bench-failover).
struct DrillOutage: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "outage",
        abstract: "The client-visible outage in a tandem-stress series (CSV), as the drills define it.",
        discussion: """
            Prints one word: the outage in milliseconds, or `unrecovered` (the series ends inside the \
            longest stretch without a success), `noload-before` (nothing succeeded in the second \
            before the fault), `nodata` (nothing succeeded at all). Exit status 0 for all four; 1 when \
            the file cannot be read or is not a series.
            """)

    @Option(help: "The series file tandem-stress --series wrote.")
    var series: String
    @Option(help: "When the fault happened, in seconds since the series started.")
    var faultAt: Double
    @Option(name: .customLong("slot-ms"), help: "The series' slot width (tandem-stress --slot-ms).")
    var slotMs: Int = 100

    func validate() throws {
        guard slotMs > 0 else { throw ValidationError("--slot-ms must be above 0 (it is tandem-stress's --slot-ms)") }
        guard faultAt >= 0 else { throw ValidationError("--fault-at is seconds since the series started: 0 or more") }
    }

    func run() throws {
        guard let data = FileManager.default.contents(atPath: series) else {
            throw fail("tandemctl: cannot read the series file \(series)")
        }
        let slots: [TimeSlot]
        do { slots = try SeriesCSV.parse(String(decoding: data, as: UTF8.self)) } catch {
            throw fail("tandemctl: \(series): \(error)")
        }
        switch DrillAnalysis.outage(slots, slotMillis: Double(slotMs), faultSeconds: faultAt) {
        case .millis(let m): print(m)
        case .unrecovered: print("unrecovered")
        case .noLoadBefore: print("noload-before")
        case .noData: print("nodata")
        }
    }
}

/// `tandemctl drill kinds`.
struct DrillKinds: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "kinds", abstract: "List the drill kinds and what each hurts.")

    func run() {
        for s in DrillKindSpec.known {
            let heal: String = switch s.heal {
            case .afterProbe: "healed after the probe"
            case .after(let d): d == .zero ? "healed by its hook under load" : "healed under load after \(d)"
            }
            print("\(s.kind.rawValue.padding(toLength: 18, withPad: " ", startingAt: 0)) \(s.target.rawValue): \(s.summary); \(heal)")
        }
    }
}

/// `tandemctl acceptance TOPOLOGY`.
struct AcceptanceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "acceptance",
        abstract: "FermiGrid's acceptance tests on a site: every copy answers, failover reaches the survivors, stress capacity.",
        discussion: """
            The services, their calls and the capacity run come from the drill file's `acceptance:` \
            section; each service's failover is a drill (acceptance.failover, default backend-kill) \
            through the site's hooks. Exit status: 0 all three tests passed, 1 one failed or could not run.
            """)

    @OptionGroup var site: SiteOptions

    func run() async throws {
        let (topology, file) = try site.load()
        let settings = DrillSettings(topology: topology, topologyPath: site.topology, drills: file, kind: file.acceptance?.failover ?? .backendKill,
                                     label: site.label ?? topology.site, stress: site.stressPath(file), reportDirectory: site.reportDir)
        let out: (result: AcceptanceResult, htmlPath: String, jsonPath: String)
        do { out = try await AcceptanceRunner(settings, clock: ContinuousClock(), progress: progressPrinter()).run() } catch {
            throw fail("tandemctl acceptance: \(error)")
        }
        print(out.result.text(html: out.htmlPath, json: out.jsonPath), terminator: "")
        if !out.result.verdict.passed { throw Exit.problem }
    }
}
