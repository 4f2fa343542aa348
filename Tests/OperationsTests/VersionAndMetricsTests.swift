import Foundation
import Glibc
import TestSupport
import XCTest
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// `--version` on every executable, and what Prometheus sees on tandemd's metrics-only listener.
final class VersionAndMetricsTests: OperationsTestCase {
    func testEveryExecutableSaysItsVersionAndCommit() throws {
        for tool in ["tandemd", "tandemctl", "tandem-vrrp", "gridsvc", "tandem-stress"] {
            let r = try run(tool, ["--version"])
            XCTAssertEqual(r.status, 0, "\(tool): \(r.output)")
            // A plain `swift build` says `unknown`; scripts/build-deb builds with the clone's commit.
            XCTAssertNotNil(r.output.range(of: "^\(tool) \\d+\\.\\d+\\.\\d+ \\(commit ([0-9a-f]{7,40}(-dirty)?|unknown)\\)\\n$", options: .regularExpression),
                            "\(tool) --version: \(r.output)")
        }
    }

    func testTheMetricsListenerServesOnlyMetricsWithBuildInfoAndEveryCounterFromTheFirstScrape() async throws {
        let api = try freePort(), metrics = try freePort()
        let topology = try write("site.yaml", site(upPort: api), mode: 0o644)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try binary("tandemd"))
        p.arguments = ["--topology", topology, "--node", "d1", "--dry-run-kernel", "--status-listen", "127.0.0.1:\(api)",
                       "--metrics-listen", "127.0.0.1:\(metrics)", "--state-dir", work + "/run"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        defer { p.terminate(); p.waitUntilExit() }
        func get(_ port: Int, _ path: String) async -> (Int, String)? {
            guard let (data, response) = try? await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)\(path)")!) else { return nil }
            return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
        }
        var scrape: (Int, String)?
        for _ in 0..<100 where scrape == nil {
            scrape = await get(metrics, "/metrics")
            if scrape == nil { try await Task.sleep(for: .milliseconds(100)) }
        }
        let (status, text) = try XCTUnwrap(scrape, "the metrics listener never answered")
        XCTAssertEqual(status, 200)
        let version = try run("tandemd", ["--version"]).output
        let commit = try XCTUnwrap(version.range(of: #"commit ([^)]+)"#, options: .regularExpression).map { String(version[$0].dropFirst(7)) })
        XCTAssertTrue(text.contains("tandem_build_info{version=\"0.1.0\",commit=\"\(commit)\"} 1") ||
                      text.contains("tandem_build_info{commit=\"\(commit)\",version=\"0.1.0\"} 1"), text)
        for series in ["tandem_reconcile_errors_total 0", "tandem_reloads_total{result=\"applied\"} 0", "tandem_reloads_total{result=\"refused\"} 0",
                       "tandem_reconcile_operations_total{op=\"delete_destination\"} 0", "tandem_reconcile_operations_total{op=\"edit_service\"} 0"] {
            XCTAssertTrue(text.contains(series), "\(series) missing from the first scrape:\n\(text)")
        }
        let status404 = await get(metrics, "/status")
        XCTAssertEqual(status404?.0, 404, "the metrics listener must not serve the admin API")
        let drain = await get(metrics, "/drain?service=gums&member=a")
        XCTAssertEqual(drain?.0, 404)
        let onAPI = await get(api, "/metrics")
        XCTAssertEqual(onAPI?.0, 200, "/metrics stays on the status API too")
    }
}
