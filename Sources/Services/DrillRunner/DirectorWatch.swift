import DaemonAPI
import Drill
import Foundation
import Net
import HTTPWire
import Synchronization
import Syscall

/// Reads the directors through a drill: each one's `/status` every poll interval on a thread of
/// its own (blocking sockets never run on the cooperative pool), or a VIP watch command's lines.
/// Every reading becomes a ``DirectorSample`` stamped with this machine's wall clock.
final class DirectorWatch: Sendable {
    private let samples = Mutex<[DirectorSample]>([])
    private let latest = Mutex<[String: DirectorSample]>([:])
    private let stopped = Mutex(false)
    private let running = Mutex(0)
    private let watches = Mutex<[ChildProcess]>([])
    private let service: String?

    /// Watches for the members of `service` (the drill's target service), if any.
    init(service: String?) { self.service = service }

    /// Starts one reader per director.
    func start(_ directors: [(name: String, source: DrillFile.DirectorSource)], every interval: Duration) throws(DrillRunError) {
        for (name, source) in directors {
            switch source {
            case .status(let host, let port):
                running.withLock { $0 += 1 }
                let t = Thread { [self] in
                    poll(name, host: host, port: port, every: interval)
                    running.withLock { $0 -= 1 }
                }
                t.stackSize = 1 << 20
                t.start()
            case .watch(let argv):
                let child = try ChildProcess(argv, environment: ["TANDEM_DRILL_DIRECTOR": name]) { [self] line in
                    // `EPOCH_MS 1|0`: holds the VIP from then on, or not.
                    let parts = line.split(separator: " ")
                    guard parts.count == 2, let at = Double(parts[0]), parts[1] == "1" || parts[1] == "0" else { return }
                    record(DirectorSample(at: at, director: name, reachable: true, holdsVIP: parts[1] == "1"))
                }
                try child.start()
                watches.withLock { $0.append(child) }
            }
        }
    }

    /// Stops every reader and waits (bounded) for the pollers to finish their last request.
    func stop() async {
        stopped.withLock { $0 = true }
        for w in watches.withLock({ $0 }) {
            w.terminate()
            _ = await w.wait(bound: .seconds(3))
        }
        for _ in 0..<100 where running.withLock({ $0 }) > 0 { try? await Task.sleep(for: .milliseconds(20)) }
    }

    /// Every sample so far, in time order.
    var all: [DirectorSample] { samples.withLock { $0 }.sorted { $0.at < $1.at } }

    /// The latest sample of each director.
    var current: [String: DirectorSample] { latest.withLock { $0 } }

    private func record(_ s: DirectorSample) {
        samples.withLock { $0.append(s) }
        latest.withLock { l in if (l[s.director]?.at ?? -.infinity) <= s.at { l[s.director] = s } }
    }

    private func poll(_ name: String, host: String, port: Int, every: Duration) {
        let pause = max(1, every.wholeMicroseconds)
        // A director that does not answer within this is counted as not answering; the next poll tries again.
        let conn = HTTPConnection(host: host, port: port, timeoutMillis: 250)
        let request = Array("GET /status HTTP/1.1\r\nHost: \(host):\(port)\r\nAccept: application/json\r\n\r\n".utf8)
        let decoder = JSONDecoder()
        while !stopped.withLock({ $0 }) {
            let began = Clocks.wallMicroseconds()
            var sample = DirectorSample(at: Double(began) / 1000, director: name, reachable: false, holdsVIP: nil)
            do throws(CallFailure) {
                let (status, body) = try conn.roundTrip(request)
                if status == 200, let r = try? decoder.decode(StatusReport.self, from: Data(body)) {
                    sample = Self.sample(r, at: sample.at, director: name, service: service)
                }
            } catch {
                conn.close()
            }
            record(sample)
            let spent = Int64(Clocks.wallMicroseconds() - began)
            if spent < pause { usleep(UInt32(pause - spent)) }
        }
        conn.close()
    }

    /// One status report as a sample.
    static func sample(_ r: StatusReport, at: EpochMillis, director: String, service: String?) -> DirectorSample {
        let svc = service.flatMap { s in r.services.first { $0.name == s } }
        let members = svc?.members.map {
            MemberSample(service: svc!.name, member: $0.member, state: $0.state, drained: $0.drained, weight: $0.weight,
                         topologyWeight: $0.topologyWeight, kernelWeight: $0.kernelWeight)
        } ?? []
        return DirectorSample(at: at, director: director, reachable: true, holdsVIP: r.director.map(\.vipsHeld),
                              state: r.director?.state, members: members, serviceNote: svc?.lastMemberAction)
    }
}
