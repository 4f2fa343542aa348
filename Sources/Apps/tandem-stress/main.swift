// tandem-stress: bounded load against the grid services (docs/gridservices.md). Thin: flags → StressClient.
import ArgumentParser
import BuildInfo
import Foundation
import GridModel
import LoadReport
import StressClient

@main
struct TandemStress: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tandem-stress",
        abstract: "Drive VOMS/GUMS/SAZ (directly or through a VIP) with a bounded open- or closed-loop load.",
        version: TandemBuild.versionText("tandem-stress"))

    @Option(help: "[KIND=]HOST:PORT; repeat per kind (voms, gums, saz, static); without KIND= it is the default for all.")
    var target: [String] = []
    @Option(help: "Call weights, e.g. gums=8,saz=1,voms=1.")
    var mix: String = "gums=1"
    @Option(help: "Closed loop: N workers (ignored with --rate).")
    var workers: Int = 16
    @Option(help: "Open loop: target calls per second.")
    var rate: Double?
    @Option(help: "Open loop: connections (worker threads).")
    var connections: Int = 64
    @Option(name: .customLong("max-requests"), help: "Hard bound on calls.")
    var maxRequests: Int = 100_000
    @Option(help: "Hard bound on run time, seconds.")
    var duration: Double = 10
    @Option(name: .customLong("timeout-ms"), help: "Per-call timeout.")
    var timeoutMs: Int = 2000
    @Option(help: "Data-set seed (as given to gridsvc seed).")
    var seed: UInt64 = 42
    @Option(help: "Users in the data set (as given to gridsvc seed).")
    var users: Int = 20_000
    @Option(name: .customLong("static-path"), help: "Path of static calls.")
    var staticPath: String = "/healthz"
    @Option(name: .customLong("slot-ms"), help: "Time-series slot width.")
    var slotMs: Int = 100
    @Option(help: "Write the time series as CSV (t,ok,errors,p99_ms) to this file.")
    var series: String?
    @Flag(help: "Print the full report as JSON instead of the summary.")
    var json = false
    @Option(name: .customLong("hold-connection-ms"), help: "Also hold one keep-alive connection through the run, a GET --static-path on it every MS, never reconnecting; its fate is in the report (heldConnection).")
    var holdConnectionMs: Int?
    @Flag(help: "Progress on standard error: 'started at epoch-ms N' at t = 0, then a line a second. SIGTERM or SIGINT ends the run early with a report.")
    var progress = false
    @Flag(help: "Visit every user (and each of a user's FQANs for GUMS) once, in order, instead of at random; with --max-requests equal to the number of keys this warms a cache completely.")
    var sweep = false

    func run() throws {
        var targets: [CallKind: (host: String, port: Int)] = [:]
        for t in target {
            var kinds = CallKind.allCases
            var addr = t
            if let eq = t.firstIndex(of: "=") {
                guard let k = CallKind(rawValue: String(t[..<eq])) else { throw ValidationError("--target '\(t)': unknown kind (voms, gums, saz, static)") }
                kinds = [k]
                addr = String(t[t.index(after: eq)...])
            }
            let e: DatabaseEndpoint
            do { e = try DatabaseEndpoint(parsing: addr) } catch { throw ValidationError("--target '\(t)': \(error)") }
            for k in kinds where targets[k] == nil || t.contains("=") { targets[k] = (e.host, e.port) }
        }
        var weights: [CallKind: Int] = [:]
        for item in mix.split(separator: ",") {
            let kv = item.split(separator: "=")
            guard kv.count == 2, let k = CallKind(rawValue: String(kv[0])), let w = Int(kv[1]), w >= 0 else {
                throw ValidationError("--mix item '\(item)' is not KIND=WEIGHT (kinds: voms, gums, saz, static)")
            }
            weights[k] = w
        }
        guard duration > 0 && duration <= 3600 else { throw ValidationError("--duration must be in (0, 3600] seconds") }
        let config = StressConfig(
            targets: targets, mix: weights,
            mode: rate.map { .open(rate: $0, connections: connections) } ?? .closed(workers: workers),
            maxRequests: maxRequests, maxDuration: .seconds(duration), timeoutMillis: timeoutMs,
            seed: seed, users: users, staticPath: staticPath, slot: .milliseconds(max(1, slotMs)), sweep: sweep)
        var run = config
        if let ms = holdConnectionMs {
            guard ms >= 1 else { throw ValidationError("--hold-connection-ms must be at least 1") }
            run.holdConnection = .milliseconds(ms)
        }
        if progress {
            run.progress = { line in FileHandle.standardError.write(Data("tandem-stress: \(line)\n".utf8)) }
        }
        // SIGTERM/SIGINT end the run early, with its report (a drill stops its probe this way).
        let stop = run.stopSwitch
        var sources: [DispatchSourceSignal] = []
        for sig in [SIGTERM, SIGINT] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { stop.stop() }
            source.resume()
            sources.append(source)
        }
        defer { sources.forEach { $0.cancel() } }
        let report: StressReport
        do { report = try StressRunner.run(run) } catch { throw ValidationError("\(error)") }
        if let series {
            try SeriesCSV.render(report.timeSeries).write(toFile: series, atomically: true, encoding: .utf8)
        }
        if json {
            let enc = JSONEncoder()
            enc.outputFormatting = [.sortedKeys]
            print(String(decoding: try enc.encode(report), as: UTF8.self))
        } else {
            print(report.summary, terminator: "")
        }
    }
}
