import XCTest
@testable import StressClient
import LoadReport
import GridModel
import Net
import TestSupport

final class StressAnalysisTests: XCTestCase {
    func testPercentilesOfAUniformSetMatchWithinHdrPrecision() {
        // 1..1000 ms.
        let lat = (1...1000).map { UInt64($0) * 1_000_000 }
        let s = StressAnalysis.latency(lat.shuffled())
        XCTAssertEqual(s.p50, 500, accuracy: 1)
        XCTAssertEqual(s.p90, 900, accuracy: 1)
        XCTAssertEqual(s.p99, 990, accuracy: 1)
        XCTAssertEqual(s.max, 1000, accuracy: 1)
        XCTAssertEqual(s.mean, 500.5, accuracy: 1)
    }

    func testEmptySampleGivesZeros() {
        XCTAssertEqual(StressAnalysis.latency([]).p99, 0)
    }

    func testTimeSeriesKeepsEmptySlotsSoAnOutageIsVisible() {
        var samples: [CallSample] = []
        for t in stride(from: 0, to: 1_000_000_000, by: 10_000_000) where !(300_000_000..<600_000_000).contains(t) {
            samples.append(CallSample(endNanos: UInt64(t), latencyNanos: 1_000_000, failure: nil))
        }
        samples.append(CallSample(endNanos: 350_000_000, latencyNanos: 2_000_000_000, failure: "connect_refused"))
        let series = StressAnalysis.timeSeries(samples, durationNanos: 1_000_000_000)
        XCTAssertEqual(series.count, 10)
        XCTAssertEqual(series.map(\.ok), [10, 10, 10, 0, 0, 0, 10, 10, 10, 10])
        XCTAssertEqual(series[3].errors, 1)
        XCTAssertEqual(series[3].p99Millis, 2000, accuracy: 2)
        XCTAssertEqual(series[0].p99Millis, 1, accuracy: 0.01)
        XCTAssertEqual(series[4].t, 0.4, accuracy: 1e-9)
    }

    func testLargestGapFindsTheOutageAndCountsTheEdges() {
        let ok = [100, 200, 300, 900, 1000].map { CallSample(endNanos: UInt64($0) * 1_000_000, latencyNanos: 1, failure: nil) }
        let err = CallSample(endNanos: 500_000_000, latencyNanos: 1, failure: "timeout")
        let g = StressAnalysis.largestSuccessGap(ok + [err], durationNanos: 1_000_000_000)
        XCTAssertEqual(g.seconds, 0.6, accuracy: 1e-9)
        XCTAssertEqual(g.startSeconds, 0.3, accuracy: 1e-9)
        // No success at all: the whole run is the gap.
        XCTAssertEqual(StressAnalysis.largestSuccessGap([err], durationNanos: 2_000_000_000).seconds, 2, accuracy: 1e-9)
        // Trailing outage counts up to the end of the run.
        XCTAssertEqual(StressAnalysis.largestSuccessGap(ok, durationNanos: 3_000_000_000).seconds, 2, accuracy: 1e-9)
    }

    func testReportCountsErrorsByKindAndCallsPerDay() {
        let config = StressConfig(targets: [.gums: ("127.0.0.1", 1)], mix: [.gums: 1], mode: .closed(workers: 2),
                                  maxRequests: 10, maxDuration: .seconds(1))
        let samples = (0..<8).map { CallSample(endNanos: UInt64($0) * 100_000_000, latencyNanos: 1_000_000, failure: nil) }
            + [CallSample(endNanos: 1, latencyNanos: 1, failure: "http_503"), CallSample(endNanos: 2, latencyNanos: 1, failure: "http_503")]
        let r = StressRunner.report(samples, config: config, threads: 2, rate: nil, durationNanos: 2_000_000_000, stoppedBy: "max-requests")
        XCTAssertEqual(r.requests, 10)
        XCTAssertEqual(r.successes, 8)
        XCTAssertEqual(r.errors, ["http_503": 2])
        XCTAssertEqual(r.throughput, 4, accuracy: 1e-9)
        XCTAssertEqual(r.callsPerDay, 4 * 86_400, accuracy: 1e-6)
        XCTAssertEqual(r.timeSeries.count, 20)
        XCTAssertTrue(r.summary.contains("http_503 2"), r.summary)
    }

    func testConfigValidationNamesTheMissingTarget() {
        let c = StressConfig(targets: [:], mix: [.saz: 1], mode: .closed(workers: 1), maxRequests: 1, maxDuration: .seconds(1))
        XCTAssertThrowsError(try c.validate()) { XCTAssertTrue("\($0)".contains("saz"), "\($0)") }
        let d = StressConfig(targets: [.saz: ("127.0.0.1", 1)], mix: [.saz: 1], mode: .closed(workers: 1), maxRequests: 0, maxDuration: .seconds(1))
        XCTAssertThrowsError(try d.validate())
    }
}

/// Drives a real loopback HTTP server (TestSupport's) with the real runner, bounded.
final class StressRunnerLoopbackTests: XCTestCase {
    func testClosedLoopAgainstALoopbackServerIsBoundedByMaxRequests() throws {
        let server = try TestHTTPServer(fallback: .text("{\"ok\":true}", contentType: "application/json"))
        defer { server.stop() }
        let config = StressConfig(targets: [.static: ("127.0.0.1", Int(server.port))], mix: [.static: 1], mode: .closed(workers: 4),
                                  maxRequests: 2000, maxDuration: .seconds(10), staticPath: "/x")
        let r = try StressRunner.run(config)
        XCTAssertEqual(r.requests, 2000)
        XCTAssertEqual(r.successes, 2000, "\(r.errors)")
        XCTAssertEqual(r.stoppedBy, "max-requests")
        XCTAssertGreaterThan(r.throughput, 0)
        XCTAssertEqual(r.timeSeries.reduce(0) { $0 + $1.ok }, 2000)
        XCTAssertEqual(Set(server.requestLines), ["GET /x"])
        XCTAssertEqual(server.accepted, 4, "one keep-alive connection per worker")
    }

    func testClosedLoopReadsChunkedAnswersAndServersThatCloseEachConnection() throws {
        // The poll loop reads answers with HTTPWire: a chunked one on a kept-alive connection, and
        // one per connection from a server that says Connection: close.
        for (server, connections) in [
            (try TestHTTPServer(fallback: .chunks(["{\"ok\"", ":true}"], contentType: "application/json")), 2),
            (try TestHTTPServer(fallback: .text("{\"ok\":true}"), keepAlive: false), 300),
        ] {
            defer { server.stop() }
            let config = StressConfig(targets: [.static: ("127.0.0.1", Int(server.port))], mix: [.static: 1], mode: .closed(workers: 2),
                                      maxRequests: 300, maxDuration: .seconds(10), staticPath: "/x")
            let r = try StressRunner.run(config)
            XCTAssertEqual(r.successes, 300, "\(r.errors)")
            XCTAssertEqual(server.requestLines.count, 300)
            XCTAssertEqual(server.accepted, connections)
        }
    }

    func testClosedLoopCountsRefusedConnectionsWithBackOffAndEndsOnTime() throws {
        // The poll-loop driver: a dead port gives connect_refused, each worker waits 10 ms before retrying.
        let port = Int(try LoopbackListener.unusedPort())
        let config = StressConfig(targets: [.static: ("127.0.0.1", port)], mix: [.static: 1], mode: .closed(workers: 3),
                                  maxRequests: 1_000_000, maxDuration: .milliseconds(500), staticPath: "/x")
        let start = Date()
        let r = try StressRunner.run(config)
        XCTAssertLessThan(Date().timeIntervalSince(start), 3)
        XCTAssertEqual(r.successes, 0)
        let refused = r.errors["connect_refused"] ?? 0
        XCTAssertGreaterThan(refused, 0, "\(r.errors)")
        XCTAssertLessThan(refused, 3 * 60, "back-off: at most ~50 attempts per worker in 0.5 s, got \(refused)")
        XCTAssertEqual(r.stoppedBy, "max-duration")
    }

    func testOpenLoopIsBoundedByDurationAndCountsRefusedConnections() throws {
        // Nothing listens on this port: every call fails fast with connect_refused, the run still ends on time.
        let port = Int(try LoopbackListener.unusedPort())
        let config = StressConfig(targets: [.static: ("127.0.0.1", port)], mix: [.static: 1], mode: .open(rate: 200, connections: 2),
                                  maxRequests: 1_000_000, maxDuration: .milliseconds(500), staticPath: "/x")
        let start = Date()
        let r = try StressRunner.run(config)
        XCTAssertLessThan(Date().timeIntervalSince(start), 3)
        XCTAssertEqual(r.successes, 0)
        XCTAssertGreaterThan(r.errors["connect_refused"] ?? 0, 0, "\(r.errors)")
        XCTAssertEqual(r.stoppedBy, "max-duration")
        XCTAssertGreaterThanOrEqual(r.largestGapSeconds, 0.45)
    }
}

final class RequestFactoryTests: XCTestCase {
    private func config(sweep: Bool) -> StressConfig {
        StressConfig(targets: [.gums: ("127.0.0.1", 1)], mix: [.gums: 1], mode: .closed(workers: 1), maxRequests: 1,
                     maxDuration: .seconds(1), seed: 7, users: 50, sweep: sweep)
    }

    func testSweepVisitsEveryGUMSKeyOnceInOrderThenWraps() {
        let plan = SeedPlan(seed: 7, users: 50)
        let f = StressRunner.RequestFactory(plan: plan, kinds: [.gums], config: config(sweep: true))
        let keys = (0..<50).flatMap { i in plan.user(i).fqans.map { (plan.user(i).dn, $0) } }
        var rng = SplitMix64(seed: 1)
        var bodies: [String] = []
        for k in 0..<(keys.count + 1) {
            let (kind, bytes) = f.make(&rng, call: k)
            XCTAssertEqual(kind, .gums)
            let text = String(decoding: bytes, as: UTF8.self)
            bodies.append(String(text[text.range(of: "\r\n\r\n")!.upperBound...]))
        }
        XCTAssertEqual(Set(bodies.prefix(keys.count)).count, keys.count, "each key once")
        for (body, (dn, fqan)) in zip(bodies, keys) {
            XCTAssertTrue(body.contains(dn) && body.contains("\"fqan\":\"\(fqan)\""), body)
        }
        XCTAssertEqual(bodies.last, bodies.first, "wraps around")
    }

    func testPrebuiltRequestsEqualRequestsBuiltPerCall() {
        let plan = SeedPlan(seed: 7, users: 50)
        let cfg = StressConfig(targets: [.gums: ("127.0.0.1", 1), .saz: ("127.0.0.1", 2)], mix: [.gums: 1, .saz: 1],
                               mode: .closed(workers: 1), maxRequests: 1, maxDuration: .seconds(1), seed: 7, users: 50)
        let f = StressRunner.RequestFactory(plan: plan, kinds: [.gums, .saz], config: cfg)
        XCTAssertNotNil(f.prebuilt)
        var a = SplitMix64(seed: 3), b = SplitMix64(seed: 3)
        for _ in 0..<500 {
            let (kind, bytes) = f.make(&a)
            // The same PRNG draws, built on the fly.
            let k = [CallKind.gums, .saz][Int(b.next() % 2)]
            let user = plan.user(Int(b.next() % 50))
            let expected: [UInt8]
            if k == .gums {
                expected = StressRunner.RequestFactory.request(k, user, fqan: user.fqans[Int(b.next() % UInt64(user.fqans.count))], ca: user.ca, cfg)
            } else {
                expected = StressRunner.RequestFactory.request(k, user, fqan: "", ca: b.next() % 200 == 0 ? SeedPlan.bannedCA : user.ca, cfg)
            }
            XCTAssertEqual(kind, k)
            XCTAssertEqual(bytes, expected)
        }
    }
}
