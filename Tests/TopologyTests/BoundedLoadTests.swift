import Foundation
import Topology
import TopologyFiles
import XCTest

/// The reload path's load (`TopologyLoader.load(path:timeout:)`): read on a thread of its own,
/// abandoned past its bound, and no second reader while an abandoned one still runs.
final class BoundedLoadTests: XCTestCase {
    /// A valid site of `n` plain services: large enough that reading it takes far longer than 1 ms.
    func bigSite(_ n: Int) -> String {
        var text = "site: big\nservices:\n"
        for i in 0..<n {
            text += "  - {name: s\(i), vip: 10.1.\(i / 250).\(1 + i % 250), port: 80, members: [{address: 10.2.\(i / 250).\(1 + i % 250), port: 80}], check: {kind: tcp}}\n"
        }
        return text
    }

    func testALoadPastItsBoundIsRefusedAndNoSecondReaderStartsWhileItRuns() async throws {
        let path = NSTemporaryDirectory() + "tandem-bounded-\(getpid()).yaml"
        try bigSite(5000).write(toFile: path, atomically: true, encoding: .utf8)
        defer { unlink(path) }

        do {
            _ = try await TopologyLoader.load(path: path, timeout: .milliseconds(1))
            XCTFail("a 5,000-service file read within 1 ms: the bound was not applied")
        } catch {
            XCTAssertTrue(error.description.contains("took longer than"), error.description)
            XCTAssertTrue(error.description.hasPrefix(path + ":1:1: error:"), error.description)
        }
        // The abandoned reader is still parsing: a new load is refused at once, not queued.
        do {
            _ = try await TopologyLoader.load(path: path, timeout: .seconds(60))
            XCTFail("a second reader started while the abandoned one still ran")
        } catch {
            XCTAssertTrue(error.description.contains("an earlier reload is still reading its file"), error.description)
        }
        // Once it ends, a load within a generous bound succeeds (bounded wait: 120 tries of 0.5 s).
        var loaded: Topology?
        for _ in 0..<120 where loaded == nil {
            do { loaded = try await TopologyLoader.load(path: path, timeout: .seconds(60)) } catch {
                XCTAssertTrue(error.description.contains("still reading"), error.description)
                try await Task.sleep(for: .milliseconds(500))
            }
        }
        XCTAssertEqual(loaded?.services.count, 5000)
    }
}
