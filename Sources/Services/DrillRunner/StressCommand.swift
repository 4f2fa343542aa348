import Drill
import Foundation
import LoadReport

/// The tandem-stress command lines drills and acceptance runs use, and a bounded run to its report.
enum StressCommand {
    /// How the load is offered.
    enum Load {
        /// `rate` calls/s over `connections` (a drill's probe: a fault must not slow the offered load).
        case open(rate: Int, connections: Int)
        /// `workers` calls in flight at all times (a capacity run: as fast as the site answers).
        case closed(workers: Int)
    }

    /// One kind of call to one address.
    struct Target {
        var call: String
        var host: String
        var port: Int
    }

    /// The argv of one run, with `--json --progress` (its report on stdout, its t = 0 on stderr).
    static func argv(stress: String, targets: [Target], mix: [(call: String, weight: Int)], load: Load, timeoutMillis: Int,
                     slotMillis: Int, seconds: Int, path: String, seed: Int, users: Int, holdConnectionMillis: Int = 0) -> [String] {
        var argv = [stress]
        for t in targets { argv += ["--target", "\(t.call)=\(t.host):\(t.port)"] }
        argv += ["--mix", mix.map { "\($0.call)=\($0.weight)" }.joined(separator: ",")]
        let maxRequests: Int
        switch load {
        case .open(let rate, let connections):
            argv += ["--rate", "\(rate)", "--connections", "\(connections)"]
            maxRequests = rate * seconds + 1000
        case .closed(let workers):
            argv += ["--workers", "\(workers)"]
            // A bound the run cannot reach at this machine's speed: the duration ends it.
            maxRequests = 20_000_000
        }
        argv += ["--timeout-ms", "\(timeoutMillis)", "--slot-ms", "\(slotMillis)", "--duration", "\(seconds)",
                 "--max-requests", "\(maxRequests)", "--static-path", path, "--seed", "\(seed)", "--users", "\(users)", "--json", "--progress"]
        if holdConnectionMillis > 0 { argv += ["--hold-connection-ms", "\(holdConnectionMillis)"] }
        return argv
    }

    /// Runs `argv` to its end (bounded by `bound`, then killed) and reads its report; the error says
    /// why there is none.
    static func run(_ argv: [String], bound: Duration, progress: (@Sendable (String) -> Void)?) async -> Result<StressReport, DrillRunError> {
        let file = NSTemporaryDirectory() + "tandem-stress-\(getpid())-\(UUID().uuidString).json"
        defer { try? FileManager.default.removeItem(atPath: file) }
        let out = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard out >= 0 else { return .failure(DrillRunError("cannot write \(file): errno \(errno)", hint: "check the temporary directory")) }
        let child: ChildProcess
        do {
            defer { close(out) }   // the child has its own copy once started
            child = try ChildProcess(argv, environment: [:], stdout: out) { line in
                if line.hasPrefix("tandem-stress: t="), let progress { progress("  " + line.dropFirst("tandem-stress: ".count)) }
            }
            try child.start()
        } catch {
            return .failure(error)
        }
        let (end, timedOut) = await child.wait(bound: bound)
        guard let data = FileManager.default.contents(atPath: file), !data.isEmpty,
              let report = try? JSONDecoder().decode(StressReport.self, from: data) else {
            let how = timedOut ? "it ran past \(bound) and was killed" : end.description
            return .failure(DrillRunError("tandem-stress gave no report (\(how)): \(child.output.suffix(400))",
                                          hint: "run the same command by hand: \(argv.joined(separator: " "))"))
        }
        return .success(report)
    }
}
