import Foundation
import XCTest

/// tandemd's kernel half in a real IPVS kernel: `scripts/uml-run` boots user-mode-linux and runs
/// `Fixtures/uml-daemon.sh`, which starts tandemd against two HTTP servers and reads the table
/// back with `ipvsadm -Ln`. Real-time numbers are printed; the bound asserted is the issue's
/// `fall × interval + timeout` plus one second of slack for the UML's slow syscalls and the
/// 50 ms polling of ipvsadm.
final class KernelIntegrationTests: XCTestCase {
    func testKilledBackendIsDrainedInTheRealKernelAndBadReloadChangesNothing() throws {
        let fixture = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
            .deletingLastPathComponent().appendingPathComponent("Fixtures/uml-daemon.sh")
        var root = fixture
        var umlRun: URL?
        for _ in 0..<6 {
            root = root.deletingLastPathComponent()
            let candidate = root.appendingPathComponent("scripts/uml-run")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { umlRun = candidate; break }
        }
        let uml = try XCTUnwrap(umlRun, "scripts/uml-run not found above \(fixture.path): it is needed to boot an IPVS kernel")
        let binDir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        var tandemd = binDir.appendingPathComponent("tandemd")
        for _ in 0..<4 where !FileManager.default.isExecutableFile(atPath: tandemd.path) {
            tandemd = tandemd.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("tandemd")
        }
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: tandemd.path),
                      "tandemd binary not found next to the test bundle (\(binDir.path)): build it first (swift build --product tandemd)")
        guard FileManager.default.isExecutableFile(atPath: tandemd.path) else { return }
        // Inside the UML, /tmp, /var/tmp, /run, /dev/shm and /mnt are fresh tmpfs mounts (uml-run):
        // a binary built under one of them is invisible there, so copy it under $HOME for the run.
        var copyDir: URL?
        if ["/tmp/", "/var/tmp/", "/run/", "/dev/shm/", "/mnt/"].contains(where: { tandemd.path.hasPrefix($0) }) {
            let dir = FileManager.default.homeDirectoryForCurrentUser
                .appendingPathComponent(".cache/tandem-tests/\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            try FileManager.default.copyItem(at: tandemd, to: dir.appendingPathComponent("tandemd"))
            tandemd = dir.appendingPathComponent("tandemd")
            copyDir = dir
        }
        defer { if let copyDir { try? FileManager.default.removeItem(at: copyDir) } }

        let p = Process()
        p.executableURL = uml
        p.arguments = ["--timeout", "240", "--", "/bin/bash", fixture.path, tandemd.path]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        print(text)
        var r: [String: String] = [:]
        for line in text.split(separator: "\n") where line.hasPrefix("RESULT ") {
            let kv = line.dropFirst("RESULT ".count).split(separator: "=", maxSplits: 1)
            if kv.count == 2 { r[String(kv[0])] = String(kv[1]) }
        }
        XCTAssertEqual(p.terminationStatus, 0, "uml-run failed:\n\(text)")
        let bound = try XCTUnwrap(Int(r["bound_ms"] ?? ""), "no bound in output")
        XCTAssertNotNil(Int(r["up1_ms"] ?? ""), "be1 never reached weight 100")
        XCTAssertNotNil(Int(r["up2_ms"] ?? ""), "be2 never reached weight 100")
        let drain = try XCTUnwrap(Int(r["drain_ms"] ?? ""), "killed backend never drained: \(r["drain_ms"] ?? "-")")
        XCTAssertLessThanOrEqual(drain, bound + 1000, "drain took \(drain) ms, bound \(bound) ms")
        XCTAssertEqual(r["other_weight"], "100", "the healthy member must keep its weight")
        XCTAssertNotNil(Int(r["back_ms"] ?? ""), "restarted backend never came back")
        XCTAssertEqual(r["badreload_table"], "unchanged")
        XCTAssertEqual(r["badreload_log"], "refused")
        XCTAssertEqual(r["alive_after_bad_reload"], "yes")
        XCTAssertEqual(r["stopped"], "yes")
        XCTAssertEqual(r["after_term_weights"], "100,100", "SIGTERM must leave the table as it is")
    }
}
