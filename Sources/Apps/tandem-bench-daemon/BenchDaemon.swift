// tandem-bench-daemon: tandemd itself, measured in a UML kernel beside keepalived 2.2.7 on the same
// generated site (scripts/bench-daemon runs it): cold start to a programmed table, a member's death
// to its weight 0, the daemon's own event → kernel time, /status, memory, idle CPU, SIGTERM.
import ArgumentParser
import Foundation
import Net

@main
struct BenchDaemon: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tandem-bench-daemon",
        abstract: "Benchmark tandemd (and keepalived) on a generated site inside a UML kernel.",
        subcommands: [SiteCommand.self, ListenCommand.self, RunCommand.self, ReportCommand.self])
}

struct SiteOptions: ParsableArguments {
    @Option(help: "Services (each: 2 live members + 1 down).") var services = 10
    @Option(help: "Check interval of every service, in ms.") var intervalMs = 5000
    @Option(help: "Probe services (reloaded to checks every 200 ms; their live member is killed).") var probes = 5

    var site: BenchSite { BenchSite(services: services, intervalMs: intervalMs, probes: min(probes, services)) }
}

/// `site --out DIR`: writes the topology and the keepalived configuration of the site.
struct SiteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "site", abstract: "Write topology.yaml and keepalived.conf of the generated site.")
    @OptionGroup var options: SiteOptions
    @Option(help: "Directory to write into.") var out: String
    func run() throws {
        try options.site.topology().write(toFile: out + "/topology.yaml", atomically: true, encoding: .utf8)
        try options.site.keepalived().write(toFile: out + "/keepalived.conf", atomically: true, encoding: .utf8)
    }
}

/// `listen`: the live backends (see ``BackendListener``).
struct ListenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "listen", abstract: "Accept-and-close on ADDRESSES x ports; `close ADDR PORT` on the control FIFO kills one.")
    @Option(help: "Comma-separated IPv4 addresses.") var addresses: String
    @Option(help: "First port.") var firstPort: Int
    @Option(help: "Ports.") var count: Int
    @Option(help: "Control FIFO.") var control: String
    func run() throws {
        try BackendListener(addresses: addresses.split(separator: ",").map(String.init),
                            ports: firstPort...(firstPort + count - 1), control: control).run()
    }
}

/// `run`: one measured run of one director (inside the UML, in a fresh network namespace).
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "run", abstract: "One measured run; prints a RESULT line.")
    @OptionGroup var options: SiteOptions
    @Option(help: "tandemd or keepalived.") var director: String
    @Option(help: "The director's binary.") var binary: String
    @Option(help: "Work directory.") var dir: String
    @Option(help: "Seconds of idle CPU measurement.") var idleSeconds = 20
    @Flag(help: "Run tandemd on this machine with --dry-run-kernel and loopback members (no UML, no peer).") var native = false
    func run() throws {
        guard director == "tandemd" || director == "keepalived" else { throw ValidationError("--director: tandemd or keepalived") }
        let me = CommandLine.arguments[0].hasPrefix("/") ? CommandLine.arguments[0] : FileManager.default.currentDirectoryPath + "/" + CommandLine.arguments[0]
        var site = options.site
        if native {
            guard director == "tandemd" else { throw ValidationError("--native runs tandemd only") }
            site.liveA = "127.0.2.1"; site.liveB = "127.0.2.2"; site.down = "127.0.2.3"
            try BenchRun(site: site, director: director, binary: binary, dir: dir, selfPath: me, idleSeconds: idleSeconds).runNative()
        } else {
            try BenchRun(site: site, director: director, binary: binary, dir: dir, selfPath: me, idleSeconds: idleSeconds).run()
        }
    }
}

/// `report`: the RESULT lines on standard input as one table beside the targets.
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "report", abstract: "Summarize RESULT lines read from standard input.")
    func run() throws {
        var rows: [[String: String]] = []
        while let line = readLine() {
            guard line.hasPrefix("RESULT ") else { continue }
            var kv: [String: String] = [:]
            for w in line.dropFirst(7).split(separator: " ") {
                let p = w.split(separator: "=", maxSplits: 1)
                if p.count == 2 { kv[String(p[0])] = String(p[1]) }
            }
            rows.append(kv)
        }
        func median(_ list: String?) -> Double? {
            let v = (list ?? "").split(separator: ",").compactMap { Double($0) }.sorted()
            return v.isEmpty ? nil : v[v.count / 2]
        }
        func cell(_ v: Double?, _ unit: String, _ digits: Int = 0) -> String { v.map { formatFixed($0, digits) + unit } ?? "—" }
        print("")
        print("| director | services | checks/s | cold start → programmed | all checks reported | idle CPU | RSS | /status (median / max) | reload → probes checked | death → weight 0 (median) | event → kernel (daemon's own, median) | SIGTERM → exit |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for r in rows.sorted(by: { (Int($0["services"] ?? "") ?? 0, $0["director"] ?? "") < (Int($1["services"] ?? "") ?? 0, $1["director"] ?? "") }) {
            print("| \(r["director"] ?? "?") | \(r["services"] ?? "?") | \(r["checks_per_s"] ?? "—") | \(cell(Double(r["start_ms"] ?? ""), " ms")) | \(cell(Double(r["settle_ms"] ?? "").map { $0 / 1000 }, " s", 1)) | "
                + "\(r["idle_cpu_pct"].map { "\($0) %" } ?? "—") | \(r["rss_mb"].map { "\($0) MB" } ?? "—") | "
                + "\(r["status_ms"].map { "\($0) / \(r["status_ms_max"] ?? "?") ms" } ?? "—") | \(cell(Double(r["reload_ms"] ?? ""), " ms")) | "
                + "\(cell(median(r["death_ms"]), " ms")) | \(cell(median(r["event_ms"]), " ms", 2)) | \(r["term_ms"].map { "\($0) ms" } ?? "—") |")
        }
        let ours = rows.filter { $0["director"] == "tandemd" }
        guard let small = ours.min(by: { (Int($0["services"] ?? "") ?? 0) < (Int($1["services"] ?? "") ?? 0) }),
              let large = ours.max(by: { (Int($0["services"] ?? "") ?? 0) < (Int($1["services"] ?? "") ?? 0) }) else { return }
        let n = large["services"] ?? "?"
        print("")
        func verdict(_ ok: Bool?) -> String { ok.map { $0 ? "MET" : "MISSED" } ?? "not measured" }
        let es = median(small["event_ms"]), el = median(large["event_ms"])
        print("target: event → kernel weight at \(n) services within 2x of \(small["services"] ?? "?") services and under 50 ms: \(cell(el, " ms", 2)) vs \(cell(es, " ms", 2)) -> \(verdict(el.flatMap { l in es.map { l <= max(2 * $0, 1) && l < 50 } }))")
        let ds = median(small["death_ms"]), dl = median(large["death_ms"])
        print("        death → weight 0 (checks every 200 ms): \(cell(dl, " ms")) vs \(cell(ds, " ms")) -> ratio \(dl.flatMap { l in ds.map { formatFixed(l / $0, 2) } } ?? "—")")
        let start = Double(large["start_ms"] ?? "")
        print("target: cold start programs \(n) services x 3 members in under 5 s: \(cell(start.map { $0 / 1000 }, " s", 2)) -> \(verdict(start.map { $0 < 5000 }))")
        let cpu = Double(large["idle_cpu_pct"] ?? "")
        print("target: idle CPU at \(n) services under 5% of a core (checks every \(large["interval_ms"] ?? "?") ms): \(cell(cpu, " %", 2)) -> \(verdict(cpu.map { $0 < 5 }))")
        let status = ours.compactMap { Double($0["status_ms_max"] ?? "") }.max()
        print("target: /status within 100 ms at any size: worst \(cell(status, " ms", 1)) -> \(verdict(status.map { $0 < 100 }))")
        let term = ours.compactMap { Double($0["term_ms"] ?? "") }.max()
        print("target: SIGTERM ends the daemon within 1 s at any size: worst \(cell(term, " ms")) -> \(verdict(term.map { $0 < 1000 }))")
        for k in rows where k["director"] == "keepalived" {
            guard let o = ours.first(where: { $0["services"] == k["services"] }) else { continue }
            func ratio(_ key: String, _ f: (String?) -> Double? = { Double($0 ?? "") }) -> String {
                guard let a = f(k[key]), let b = f(o[key]), b > 0 else { return "—" }
                return formatFixed(a / b, 2) + "x"
            }
            print("keepalived ÷ tandemd at \(k["services"] ?? "?") services: start \(ratio("start_ms")), death → weight 0 \(ratio("death_ms", median)), RSS \(ratio("rss_mb")), idle CPU \(ratio("idle_cpu_pct")), SIGTERM \(ratio("term_ms"))")
        }
    }
}
