import Foundation
import XCTest
@testable import Topology
import TopologyFiles

/// Repository root, found from this file's path, so tests read the shipped topology files.
let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// A small valid site; tests break one thing at a time. Line numbers in tests refer to this text.
let baseSite = """
site: lab
hosts:
  - {name: h1, address: 192.0.2.1, cpus: 4, memory: 8GiB, labels: {rack: r1}}
  - {name: h2, address: 192.0.2.2, cpus: 4, memory: 8GiB, labels: {rack: r2}}
vms:
  - {name: d1, role: director, vcpus: 1, memory: 1GiB, addresses: [10.0.0.1/24]}
  - {name: d2, role: director, vcpus: 1, memory: 1GiB, addresses: [10.0.0.2/24]}
  - {name: g1, role: gums, vcpus: 1, memory: 1GiB, addresses: [10.0.1.1/24, "2001:db8::1/64"]}
  - {name: g2, role: gums, vcpus: 1, memory: 1GiB, addresses: [10.0.1.2/24, "2001:db8::2/64"]}
services:
  - name: gums
    vip: 10.0.9.1
    port: 8443
    scheduler: wlc
    forwarding: nat
    members:
      - {vm: g1, port: 8443}
      - {vm: g2, port: 8443}
    check: {kind: http, path: /healthz, interval: 1s, timeout: 500ms, rise: 2, fall: 3}
directors:
  members: [d1, d2]
  vrid: 7
  priorities: {d1: 150, d2: 100}
  interface: eth0
"""

/// Parses `text` and returns its diagnostics (empty if valid).
func diagnostics(_ text: String, file: String = "site.yaml") -> [Diagnostic] {
    do {
        _ = try TopologyLoader.parse(data: Data(text.utf8), file: file)
        return []
    } catch {
        return error.diagnostics
    }
}

/// `baseSite` with `old` replaced by `new`; fails the test if `old` is not there (a stale edit).
func edited(_ old: String, _ new: String, file: StaticString = #filePath, line: UInt = #line) -> String {
    XCTAssertTrue(baseSite.contains(old), "test edit target not found: \(old)", file: file, line: line)
    return baseSite.replacingOccurrences(of: old, with: new)
}

/// Asserts that exactly one diagnostic has `code`, at `line`:`column`, and mentions `text`.
@discardableResult
func assertDiagnostic(_ diags: [Diagnostic], _ code: Diagnostic.Code, line: Int, column: Int, mentions text: String,
                      file: StaticString = #filePath, testLine: UInt = #line) -> Diagnostic? {
    let matching = diags.filter { $0.code == code }
    guard let d = matching.first else {
        XCTFail("no \(code) diagnostic; got:\n\(diags.map(\.description).joined(separator: "\n"))", file: file, line: testLine)
        return nil
    }
    XCTAssertEqual(matching.count, 1, "expected one \(code), got \(matching.map(\.description))", file: file, line: testLine)
    XCTAssertEqual(d.location.line, line, "line of \(d)", file: file, line: testLine)
    XCTAssertEqual(d.location.column, column, "column of \(d)", file: file, line: testLine)
    XCTAssertTrue(d.description.contains(text), "'\(d)' should mention '\(text)'", file: file, line: testLine)
    return d
}

/// Line and column (1-based) of the `occurrence`-th appearance of `token` in `text`: the
/// expected location, computed independently of the loader.
func locate(_ token: String, in text: String, occurrence: Int = 1) -> (line: Int, column: Int) {
    var seen = 0
    for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
        var search = line[...]
        while let r = search.range(of: token) {
            seen += 1
            if seen == occurrence { return (i + 1, line.distance(from: line.startIndex, to: r.lowerBound) + 1) }
            search = line[r.upperBound...]
        }
    }
    return (0, 0)
}

/// Asserts one diagnostic with `code` located at `token` in `text`, mentioning `mentions`.
@discardableResult
func assertDiagnostic(in text: String, _ code: Diagnostic.Code, at token: String, occurrence: Int = 1, mentions: String,
                      file: StaticString = #filePath, line: UInt = #line) -> Diagnostic? {
    let where_ = locate(token, in: text, occurrence: occurrence)
    XCTAssertNotEqual(where_.line, 0, "token '\(token)' not in text", file: file, line: line)
    return assertDiagnostic(diagnostics(text), code, line: where_.line, column: where_.column, mentions: mentions, file: file, testLine: line)
}

/// The outcome of one load: the topology, or every diagnostic.
typealias LoadOutcome = Result<Topology, TopologyDiagnostics>

/// Runs `load` on its own thread and waits at most `seconds`: a load that blocks (a FIFO with no
/// writer) or spins (an exponential alias key) fails the calling test instead of hanging the suite.
/// `nil` means it did not finish in time; `unblock` then runs, to release a blocked thread.
func bounded(_ seconds: Double, unblock: @escaping @Sendable () -> Void = {},
             _ load: @escaping @Sendable () -> LoadOutcome) -> LoadOutcome? {
    final class Slot: @unchecked Sendable {
        // @unchecked Sendable: `value` is written once by the worker before `done` is signalled
        // and read only after a successful wait on `done`.
        var value: LoadOutcome?
        let done = DispatchSemaphore(value: 0)
    }
    let slot = Slot()
    let worker = Thread {
        slot.value = load()
        slot.done.signal()
    }
    worker.stackSize = 8 << 20
    worker.start()
    guard slot.done.wait(timeout: .now() + seconds) == .success else {
        unblock()
        return nil
    }
    return slot.value
}

/// Loads `path` within `seconds`; a load that does not finish is a test failure naming the path.
func load(path: String, within seconds: Double = 5, limits: TopologyLimits = .standard, unblock: @escaping @Sendable () -> Void = {},
          file: StaticString = #filePath, line: UInt = #line) -> LoadOutcome? {
    let outcome = bounded(seconds, unblock: unblock) {
        do throws(TopologyDiagnostics) { return .success(try TopologyLoader.load(path: path, limits: limits)) } catch { return .failure(error) }
    }
    if outcome == nil { XCTFail("loading \(path) did not finish within \(seconds) s", file: file, line: line) }
    return outcome
}

/// Parses `text` within `seconds`; a parse that does not finish is a test failure.
func parse(_ text: String, within seconds: Double = 5, limits: TopologyLimits = .standard,
           file: StaticString = #filePath, line: UInt = #line) -> LoadOutcome? {
    let outcome = bounded(seconds) {
        do throws(TopologyDiagnostics) { return .success(try TopologyLoader.parse(data: Data(text.utf8), file: "site.yaml", limits: limits).topology) } catch { return .failure(error) }
    }
    if outcome == nil { XCTFail("parsing did not finish within \(seconds) s", file: file, line: line) }
    return outcome
}

extension Result where Failure == TopologyDiagnostics {
    /// The diagnostics of a refused load; empty if it was accepted.
    var diagnostics: [Diagnostic] {
        if case .failure(let d) = self { return d.diagnostics }
        return []
    }
}
