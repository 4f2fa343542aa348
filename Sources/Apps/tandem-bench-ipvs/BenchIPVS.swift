// tandem-bench-ipvs: the reconcile engine the daemon runs (ReconcileEngine), timed against the
// kernel's IPVS table. scripts/bench-ipvs runs it inside user-mode-linux, one fresh network
// namespace per repetition, beside `ipvsadm -R` of the same table.
import ArgumentParser
import Foundation
import IPVS
import IPVSModel
import Net
import Reconcile

/// Times every kernel call the engine makes, so a figure can be split into the kernel's part and ours.
final class TimedTable: IPVSTableAccess {
    let inner: any IPVSTableAccess
    var readTime = Duration.zero
    var executeTime = Duration.zero
    init(_ inner: any IPVSTableAccess) { self.inner = inner }
    func read(_ keys: [ServiceKey]) throws -> IPVSState {
        let c = ContinuousClock(), t = c.now
        defer { readTime += t.duration(to: c.now) }
        return try inner.read(keys)
    }
    func execute(_ ops: [IPVSOperation]) throws -> [IPVSOperationFailure] {
        let c = ContinuousClock(), t = c.now
        defer { executeTime += t.duration(to: c.now) }
        return try inner.execute(ops)
    }
    func reset() { readTime = .zero; executeTime = .zero }
}

@main
struct BenchIPVSCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tandem-bench-ipvs",
        abstract: "Time the daemon's reconcile engine against the kernel's IPVS table (writes the table: run it in scripts/uml-run).",
        subcommands: [BenchIPVS.self, BenchReport.self], defaultSubcommand: BenchIPVS.self)
}

/// One repetition against the kernel of the caller's network namespace.
struct BenchIPVS: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "run", abstract: "One repetition; prints one `ours …` line.")

    @Option(help: "Services.") var services = 1000
    @Option(help: "Destinations per service.") var destinations = 5
    @Option(help: "Services re-read per repair chunk (the daemon's default).") var repairChunk = 32
    @Option(help: "Also write the same table as `ipvsadm -R` input here, then exit.") var restoreFile: String?

    func run() throws {
        let full = IPVSBenchmark.table(services: services, destinations: destinations)
        if let restoreFile {
            try IPVSBenchmark.restoreFile(full).write(toFile: restoreFile, atomically: true, encoding: .utf8)
            return
        }
        let table = TimedTable(try IPVSClient())
        let engine = ReconcileEngine(table: table)
        let clock = ContinuousClock()
        func time(_ body: () throws -> ReconcilePass) throws -> (Duration, ReconcilePass) {
            table.reset()
            let t = clock.now
            let p = try body()
            guard p.failures.isEmpty else { throw ReconcileError(failures: p.failures, attempted: p.operations.count) }
            return (t.duration(to: clock.now), p)
        }
        // Cold start: an empty kernel to the whole table (what tandemd does at start).
        let (fullT, fullP) = try time { try engine.synchronize(full) }
        let fullExec = table.executeTime, fullRead = table.readTime
        guard engine.observed == full else { throw ValidationError("the kernel does not hold the table after the full sync") }
        // One health event: one destination's weight, in one service.
        let victim = full.services.keys.min()!
        var one = full.services[victim]!
        let dk = one.destinations.keys.min()!
        one.destinations[dk]!.weight = 0
        engine.setService(victim, one)
        let (eventT, eventP) = try time { try engine.pass() }
        // 1% of the destinations changed at once (a burst of events).
        let delta = IPVSBenchmark.changed(full, everyNth: 100, weight: 2)
        for (k, s) in delta.services where s != engine.desired.services[k] { engine.setService(k, s) }
        let (changeT, changeP) = try time { try engine.pass() }
        // Nothing changed.
        let (noopT, noopP) = try time { try engine.pass() }
        // A whole repair sweep in chunks, as the daemon runs it between events.
        var chunks: [Duration] = []
        var repairOps = 0
        table.reset()
        let sweepStart = clock.now
        repeat {
            let t = clock.now
            repairOps += try engine.repair(maxServices: repairChunk).operations.count
            chunks.append(t.duration(to: clock.now))
        } while engine.rotationPosition.position < engine.rotationPosition.count
        let sweepT = sweepStart.duration(to: clock.now)
        let maxChunk = chunks.max() ?? .zero
        func s(_ d: Duration) -> String { formatFixed(d.inSeconds, 4) }
        print("ours services=\(services) destinations=\(services * destinations) full=\(s(fullT)) full_execute=\(s(fullExec)) full_read=\(s(fullRead)) full_ops=\(fullP.operations.count) "
            + "event=\(s(eventT)) event_ops=\(eventP.operations.count) event_read=\(eventP.read) "
            + "change=\(s(changeT)) change_ops=\(changeP.operations.count) noop=\(s(noopT)) noop_ops=\(noopP.operations.count) "
            + "sweep=\(s(sweepT)) sweep_chunks=\(chunks.count) chunk_max=\(s(maxChunk)) sweep_ops=\(repairOps)")
    }
}

/// Medians of the `ours …` and `peer …` lines on standard input, with the ratios and targets.
struct BenchReport: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "report", abstract: "Summarize `ours`/`peer` lines read from standard input.")

    func run() throws {
        var ours: [Int: [[String: Double]]] = [:], peer: [Int: [[String: Double]]] = [:]
        while let line = readLine() {
            let words = line.split(separator: " ")
            guard let kind = words.first, kind == "ours" || kind == "peer" else { continue }
            var kv: [String: Double] = [:]
            for w in words.dropFirst() {
                let p = w.split(separator: "=", maxSplits: 1)
                if p.count == 2, let v = Double(p[1]) { kv[String(p[0])] = v }
            }
            guard let n = kv["services"].map(Int.init) else { continue }
            if kind == "ours" { ours[n, default: []].append(kv) } else { peer[n, default: []].append(kv) }
        }
        func median(_ rows: [[String: Double]], _ k: String) -> Double {
            let v = rows.compactMap { $0[k] }.sorted()
            return v.isEmpty ? .nan : v[v.count / 2]
        }
        func ms(_ s: Double) -> String { formatFixed(s * 1000, s < 0.01 ? 2 : 0) + " ms" }
        guard let largest = ours.keys.max(), let p = peer[largest] else {
            throw ValidationError("no `ours` and `peer` lines on standard input")
        }
        print("")
        print("medians of \(ours[largest]!.count) repetitions, each in a fresh network namespace")
        print("| services x dests | full sync (cold start) | of which kernel writes | event: 1 weight | 1% change | no-op | repair sweep | longest repair chunk | ipvsadm -R full | peer/ours full | peer full / ours event |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for n in ours.keys.sorted() {
            let o = ours[n]!, pr = median(peer[n] ?? [], "restore")
            let full = median(o, "full"), event = median(o, "event")
            print("| \(n) x \(Int(median(o, "destinations")) / n) | \(ms(full)) | \(ms(median(o, "full_execute"))) | \(ms(event)) (\(Int(median(o, "event_ops"))) op) | "
                + "\(ms(median(o, "change"))) (\(Int(median(o, "change_ops"))) ops) | \(ms(median(o, "noop"))) | \(formatFixed(median(o, "sweep"), 1)) s in \(Int(median(o, "sweep_chunks"))) chunks | "
                + "\(ms(median(o, "chunk_max"))) | \(ms(pr)) | \(formatFixed(pr / full, 1))x | \(formatFixed(pr / event, 0))x |")
        }
        let o = ours[largest]!
        let full = median(o, "full"), event = median(o, "event"), noop = median(o, "noop"), pr = median(p, "restore")
        let small = ours.keys.min().flatMap { ours[$0] }.map { median($0, "event") } ?? .nan
        print("")
        print("target full \(largest) x 5 < 1 s: \(formatFixed(full, 3)) s -> \(full < 1 ? "MET" : "MISSED")")
        print("target event at \(largest) within 2x of the event at \(ours.keys.min()!): \(ms(event)) vs \(ms(small)) -> \(event <= 2 * small ? "MET" : "MISSED")")
        print("target 1% change >= 50x faster than the peer's full restore: \(formatFixed(pr / median(o, "change"), 0))x -> \(pr / median(o, "change") >= 50 ? "MET" : "MISSED")")
        print("target no-op < 50 ms at \(largest): \(ms(noop)) -> \(noop < 0.05 ? "MET" : "MISSED")")
        print("target longest repair chunk < 5 ms (an event never waits longer behind the sweep): \(ms(median(o, "chunk_max"))) -> \(median(o, "chunk_max") < 0.005 ? "MET" : "MISSED")")
    }
}
