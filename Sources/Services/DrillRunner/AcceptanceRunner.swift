import Drill
import Foundation
import LoadReport
import Net
import Topology

/// Runs FermiGrid's three acceptance tests on a site (``AcceptanceResult``): each copy probed
/// directly and each service through its VIP; a failover drill of each service; a capacity run.
public struct AcceptanceRunner<C: Clock<Duration>>: Sendable {
    let settings: DrillSettings
    let clock: C
    let progress: @Sendable (String) -> Void

    /// A runner; `settings.kind` is ignored (the drill file's `acceptance.failover` is used).
    public init(_ settings: DrillSettings, clock: C, progress: @escaping @Sendable (String) -> Void) {
        self.settings = settings; self.clock = clock; self.progress = progress
    }

    /// Runs the three tests and writes the report.
    public func run() async throws(DrillRunError) -> (result: AcceptanceResult, htmlPath: String, jsonPath: String) {
        let s = settings, t = s.topology
        guard let a = s.drills.acceptance else {
            throw DrillRunError("\(s.drills.file) has no `acceptance:` section", hint: "add acceptance.services with each service's call (see docs/drills.md)")
        }
        let started = DrillRunner<C>.now()
        let p = s.drills.probe
        // 1. Every copy answers: each member at its own address, then the service through its VIP.
        var probes: [AcceptanceResult.Probe] = []
        var targets: [(service: String, member: String, host: String, port: Int, call: String, path: String)] = []
        for svc in a.services {
            guard let service = t.service(named: svc.name) else { continue }
            for m in service.members {
                guard let addr = t.address(of: m, in: service), addr.family == .v4 else {
                    probes.append(.init(service: svc.name, member: m.name, target: "?", report: nil, passed: false,
                                        detail: "no IPv4 address for \(m.name) in the topology: the probe calls IPv4 addresses"))
                    continue
                }
                targets.append((svc.name, m.name, "\(addr)", Int(m.port == 0 ? service.port : m.port), svc.call, svc.path))
            }
            targets.append((svc.name, "VIP", "\(service.vip)", Int(service.port), svc.call, svc.path))
        }
        progress("acceptance 1/3: every active-active copy answers (\(targets.count) probes of \(a.probeSeconds) s)")
        for (i, x) in targets.enumerated() {
            let argv = StressCommand.argv(stress: s.stress, targets: [.init(call: x.call, host: x.host, port: x.port)], mix: [(x.call, 1)],
                                          load: .closed(workers: 2), timeoutMillis: 2000, slotMillis: 100, seconds: a.probeSeconds,
                                          path: x.path, seed: p.seed, users: p.users)
            let outcome = await StressCommand.run(argv, bound: .seconds(a.probeSeconds + 30), progress: nil)
            let report = try? outcome.get()
            var (ok, detail) = AcceptanceResult.judge(probe: report)
            if case .failure(let e) = outcome { ok = false; detail = e.description }
            probes.append(.init(service: x.service, member: x.member, target: "\(x.host):\(x.port)", report: report, passed: ok, detail: detail))
            progress("  [\(i + 1)/\(targets.count)] \(x.service) \(x.member) \(x.host):\(x.port): \(ok ? "answers" : "FAILS"): \(detail)")
        }
        // 2. Failover: one drill per service, its first member hurt, the probe through the VIP.
        var failovers: [DrillResult] = []
        var refusals: [String] = []
        progress("acceptance 2/3: a failover of each service (\(a.failover) of its first member, \(a.services.count) drill(s))")
        for (i, svc) in a.services.enumerated() {
            guard let service = t.service(named: svc.name), let first = service.members.first else { continue }
            var ds = s
            ds.kind = a.failover
            ds.service = svc.name
            ds.target = first.name
            ds.drills.probe.call = svc.call
            ds.drills.probe.path = svc.path
            ds.drills.probe.target = nil
            ds.reportName = nil
            progress("  [\(i + 1)/\(a.services.count)] \(svc.name): \(a.failover) of \(first.name)")
            do {
                let outcome = try await DrillRunner(ds, clock: clock, progress: { progress("    " + $0) }).run()
                failovers.append(outcome.result)
                progress("    \(outcome.result.verdict.passed ? "pass" : "FAIL"): outage \(outcome.result.figures.outage), report \(outcome.htmlPath)")
            } catch {
                refusals.append("\(svc.name): \(error)")
                progress("    refused: \(error)")
            }
        }
        // 3. Capacity: every service at once through its VIP, closed loop, the mix of the file.
        progress("acceptance 3/3: stress capacity (\(a.capacityWorkers) workers, \(a.capacitySeconds) s)")
        var stressTargets: [StressCommand.Target] = []
        var mix: [(call: String, weight: Int)] = []
        var used: [String: String] = [:]
        var capacityRefusal: String?
        for svc in a.services {
            guard let service = t.service(named: svc.name) else { continue }
            let w = a.mix[svc.name] ?? 1
            guard w > 0 else { continue }
            if let other = used[svc.call] {
                capacityRefusal = "services \(other) and \(svc.name) both use call '\(svc.call)'; tandem-stress sends one kind of call to one address"
                break
            }
            used[svc.call] = svc.name
            stressTargets.append(.init(call: svc.call, host: "\(service.vip)", port: Int(service.port)))
            mix.append((svc.call, w))
        }
        var capacity: StressReport?
        if let why = capacityRefusal {
            refusals.append("capacity: \(why)")
        } else if !mix.isEmpty {
            let argv = StressCommand.argv(stress: s.stress, targets: stressTargets, mix: mix, load: .closed(workers: a.capacityWorkers),
                                          timeoutMillis: 2000, slotMillis: 100, seconds: a.capacitySeconds, path: p.path, seed: p.seed, users: p.users)
            switch await StressCommand.run(argv, bound: .seconds(a.capacitySeconds + 60), progress: progress) {
            case .success(let r): capacity = r
            case .failure(let e): progress("  capacity run failed: \(e)")
            }
        }
        let mixText = a.services.map { "\($0.name)=\(a.mix[$0.name] ?? 1)" }.joined(separator: ",")
        var result = AcceptanceResult(site: t.site, startedAt: started, endedAt: DrillRunner<C>.now(), probes: probes, failovers: failovers,
                                      failoverRefusals: refusals, capacity: capacity, capacityMix: mixText,
                                      minCallsPerDay: a.minCallsPerDay, maxErrorRatio: a.maxErrorRatio)
        result.endedAt = DrillRunner<C>.now()
        let base = s.reportName ?? "\(t.site)-acceptance-\(DrillReport.timestampCompact(started))"
        do {
            try FileManager.default.createDirectory(atPath: s.reportDirectory, withIntermediateDirectories: true)
            let html = "\(s.reportDirectory)/\(base).html", json = "\(s.reportDirectory)/\(base).json"
            try result.html().write(toFile: html, atomically: true, encoding: .utf8)
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            try enc.encode(result).write(to: URL(fileURLWithPath: json))
            return (result, html, json)
        } catch {
            throw DrillRunError("cannot write the reports into \(s.reportDirectory): \(error.localizedDescription)", hint: "pass --report-dir to a writable directory")
        }
    }
}
