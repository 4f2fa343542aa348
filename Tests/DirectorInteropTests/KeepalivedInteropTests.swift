// Interop with a real keepalived 2.2.7 in network namespaces, driven by scripts/vrrp-interop.
// IPv4 and IPv6 (VRRPv3 over ff02::12, hop limit 255): each side takes over when the other dies.
//
// Each test runs one scenario of the script against the tandem-vrrp this package just built and
// asserts the script's PASS line. Needs root, keepalived and iproute2; a missing one fails the test
// with its name (the script installs them through scripts/lib/ensure-packages when it can).
import Foundation
import TestSupport
import XCTest

final class KeepalivedInteropTests: XCTestCase {
    /// The repository root, found from this file's real location (the dev package symlinks into it).
    private static var repoRoot: URL {
        URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// The tandem-vrrp in the build products (``BuildProducts``), or $TANDEM_VRRP.
    private static func binary() -> String? {
        ProcessInfo.processInfo.environment["TANDEM_VRRP"] ?? BuildProducts.path("tandem-vrrp")?.path
    }

    private func run(_ scenario: String, file: StaticString = #filePath, line: UInt = #line) throws {
        guard let bin = Self.binary() else {
            return XCTFail("tandem-vrrp binary not found next to the test bundle; build it or set TANDEM_VRRP", file: file, line: line)
        }
        let script = Self.repoRoot.appendingPathComponent("scripts/vrrp-interop").path
        guard FileManager.default.isExecutableFile(atPath: script) else {
            return XCTFail("\(script) not found", file: file, line: line)
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = [script, "--binary", bin, scenario]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        // The script bounds every wait; this is a last-resort bound on the whole scenario.
        let deadline = Date().addingTimeInterval(120)
        var data = Data()
        let reader = out.fileHandleForReading
        while p.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
        if p.isRunning { p.terminate(); p.waitUntilExit(); XCTFail("scenario \(scenario) exceeded 120 s", file: file, line: line) }
        data = reader.readDataToEndOfFile()
        let text = String(decoding: data, as: UTF8.self)
        print(text)
        XCTAssertTrue(text.contains("PASS \(scenario)\n"), "scenario \(scenario) did not pass:\n\(text)", file: file, line: line)
        XCTAssertEqual(p.terminationStatus, 0, "scripts/vrrp-interop exited \(p.terminationStatus)", file: file, line: line)
    }

    func testKeepalivedMasterTandemBackupThenTandemTakesOver() throws { try run("ka-master-tandem-backup") }
    func testTandemMasterKeepalivedBackupThenKeepalivedTakesOver() throws { try run("tandem-master-ka-backup") }
    func testTandemPreemptsLowerPriorityKeepalived() throws { try run("tandem-preempts-ka") }
    func testKeepalivedPreemptsLowerPriorityTandem() throws { try run("ka-preempts-tandem") }
    func testTandemWithoutPreemptionStaysBackup() throws { try run("tandem-nopreempt") }
    func testTandemGracefulStopSendsPriorityZero() throws { try run("tandem-graceful-stop") }
    func testKeepalivedGracefulStopLetsTandemTakeOverAfterSkewTime() throws { try run("ka-graceful-stop") }
    func testEqualPriorityLowerAddressYieldsAfterPartitionHeals() throws { try run("equal-priority-tiebreak") }
    func testAuthenticatedPairRefusesForgedAdverts() throws { try run("tandem-auth-pair") }
    func testRestartedReceiverRefusesAReplayedRecording() throws { try run("tandem-auth-replay-after-restart") }
    func testFastDetectorTakesOverWellBeforeMasterDownInterval() throws { try run("tandem-fast-detector") }
    func testHeartbeatCutWithWitnessGivesNoDualMasterButDeathStillFailsOver() throws { try run("tandem-witness-partition") }
    func testIPv6PairElectsAndFailsOver() throws { try run("tandem-ipv6-pair") }
    func testIPv6KeepalivedMasterTandemBackupThenTandemTakesOver() throws { try run("ka6-master-tandem6-backup") }
    func testIPv6TandemMasterKeepalivedBackupThenKeepalivedTakesOver() throws { try run("tandem6-master-ka6-backup") }
    func testSIGHUPChangesTheMastersVIPsLiveAndRefusesAVRIDChange() throws { try run("tandem-reload-vips") }
}
