// tandem-bench-hosts: the host drills (docs/hosts.md), measured. scripts/bench-hosts builds and runs it.
//
//   tandem-bench-hosts --repo DIR --gridsvc PATH [--trials N] [--vms P] [--drills crash,hang,partition,fence-fail]
//                                       [--max-seconds S] [--rate R] [--director TANDEMD] [--json PATH] [--build NAME] [--log-level L]
//
// For each drill and trial: a fresh lab of three libvirtd hosts (scripts/lab/hosts), P pairs with
// every a-member on h1, the product's HostControl as master, then the fault; prints progress lines,
// each drill's medians and min/max, the table beside the peers' figures, and writes the JSON.
// --director puts tandemd (with real IPVS in a UML kernel) in front of the pairs: then "back in
// IPVS" and the VIP clients' losses are measured too.
import ArgumentParser
import Foundation
import HostDrill
import HostLab
import LogOutput

@main
struct BenchHosts: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tandem-bench-hosts",
        abstract: "Host drills (crash, hang, partition, partition-mgmt, fence-fail) against real libvirtd lab hosts; needs root.")

    @Option(help: "The repository whose scripts/lab drives the lab.") var repo: String
    @Option(help: "The gridsvc executable the lab's domains run (absolute path, from the same build).") var gridsvc: String
    @Option(help: "Trials per drill (a fresh lab each).") var trials = 5
    @Option(help: "Pairs; every pair's a-member runs on h1 (1…40).") var vms = 5
    @Option(help: "Comma-separated drills: \(HostDrillKind.allCases.map(\.rawValue).joined(separator: ",")).")
    var drills = "crash,hang,partition,fence-fail"
    @Option(name: .customLong("max-seconds"), help: "Bound on a trial's wait for a recovery or a report.") var maxSeconds = 30.0
    @Option(help: "Client GETs a second per affected pair.") var rate = 50
    @Option(help: "A director in front: this tandemd (absolute path) runs with real IPVS in a UML kernel, one NAT service per pair.")
    var director: String?
    @Option(help: "Write the figures as JSON here.") var json: String?
    @Option(help: "The build configuration, for the report.") var build = "debug"
    @OptionGroup var log: LogOptions

    func validate() throws {
        guard (1...40).contains(vms) else { throw ValidationError("--vms must be 1…40, got \(vms)") }
        guard (1...50).contains(trials) else { throw ValidationError("--trials must be 1…50, got \(trials)") }
        guard maxSeconds > 0, maxSeconds <= 600 else { throw ValidationError("--max-seconds must be in (0, 600], got \(maxSeconds)") }
        guard (1...500).contains(rate) else { throw ValidationError("--rate must be 1…500 GET/s, got \(rate)") }
        if let director, !(director.hasPrefix("/") && FileManager.default.isExecutableFile(atPath: director)) {
            throw ValidationError("--director '\(director)' is not an executable at an absolute path (the tandemd of this build)")
        }
        for d in kinds() where d == nil { throw ValidationError("--drills: unknown drill in '\(drills)'; known: \(HostDrillKind.allCases.map(\.rawValue))") }
    }

    func kinds() -> [HostDrillKind?] { drills.split(separator: ",").map { HostDrillKind(rawValue: String($0)) } }

    func run() async throws {
        LogOutput.bootstrap(level: log.level)
        let settings = HostDrillSettings(vms: vms, maxSeconds: maxSeconds, ratePerPair: rate, repoRoot: repo, gridsvc: gridsvc,
                                         director: director)
        var all: [HostDrillTrial] = []
        for kind in kinds().compactMap({ $0 }) {
            for n in 1...trials {
                let started = wallClockSeconds()
                say("bench-hosts: \(kind.rawValue) trial \(n)/\(trials)")
                do {
                    let t = try await HostDrillRunner.trial(kind, number: n, settings: settings) { say($0) }
                    all.append(t)
                    let restored = (t.restoredMs.map { "restored +\(String(format: "%.1f", $0)) ms" } ?? "not restored")
                        + (t.director ? "; back in IPVS " + (t.backInIPVSMs.map { "+\(String(format: "%.1f", $0)) ms" } ?? "—") : "")
                    say("  \(t.pass ? "pass" : "FAIL"): \(t.verdict); \(restored); twice \(t.runningTwice.count); "
                          + "trial took \(String(format: "%.1f", wallClockSeconds() - started)) s")
                } catch {
                    say("  FAIL: \(error)")
                    all.append(HostDrillTrial(drill: kind, trial: n, vms: vms, verdict: "error: \(error)"))
                }
            }
        }
        let load = ((try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? "?").split(separator: " ").prefix(3).joined(separator: " ")
        let report = HostDrillReport(vms: vms, ratePerPair: rate, build: build, loadAverageAtEnd: load, director: director != nil, trials: all)
        say("")
        for line in report.text { say(line) }
        if let json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(report).write(to: URL(fileURLWithPath: json))
            say("json: \(json)")
        }
        if all.contains(where: { !$0.pass }) { throw ExitCode(1) }
    }
}

/// Prints a line and flushes it, so progress shows as it happens in a pipe or a file too
/// (`fflush(nil)` flushes every stream; `stdout` is a C global Swift 6 refuses to touch).
func say(_ line: String) {
    print(line)
    fflush(nil)
}
