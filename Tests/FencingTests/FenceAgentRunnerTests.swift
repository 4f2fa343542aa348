import Fencing
import Foundation
import Hosts
import Logging
import XCTest

/// The fence-agent runner against agents that record what they were given, and against Debian's
/// reference agent `fence_dummy` (fence-agents): the protocol, the exit codes, the time bound and
/// where secrets go.
final class FenceAgentRunnerTests: XCTestCase {
    var dir = ""
    let runner = FenceAgentRunner(logger: Logger(label: "tandem.test.fencing"))

    override func setUp() {
        dir = NSTemporaryDirectory() + "tandem-fence-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    /// Writes an executable bash agent.
    func agent(_ name: String, _ body: String) throws -> String {
        let path = "\(dir)/\(name)"
        try ("#!/bin/bash\n" + body).write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o755)
        return path
    }

    func secret(_ value: String, mode: mode_t = 0o600) throws -> String {
        let path = "\(dir)/secret"
        try (value + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, mode)
        return path
    }

    func testSecretsTravelOnStdinOnlyAndNeverReachTheOutput() async throws {
        // This agent records its arguments and its input, and then (badly) echoes the password.
        let path = try agent("recorder", """
            printf '%s\\n' "$0" "$@" > \(dir)/argv
            cat > \(dir)/stdin
            pw=$(sed -n 's/^passwd=//p' \(dir)/stdin)
            echo "logging in with $pw" >&2
            echo "Success: Powered OFF"
            exit 0
            """)
        let device = FenceDevice(agent: path, options: ["ipaddr": "192.0.2.7", "login": "admin", "plug": "xen3"],
                                 secretFiles: ["passwd": try secret("s3cr3t-Pa55")], timeout: .seconds(10))
        let run = await runner.run(.off, device: device, host: "xen3")
        XCTAssertEqual(run.outcome, .succeeded)
        XCTAssertEqual(run.termination, .exited(0))
        let argv = try String(contentsOfFile: "\(dir)/argv", encoding: .utf8)
        XCTAssertEqual(argv, path + "\n", "the agent got arguments")
        let stdin = try String(contentsOfFile: "\(dir)/stdin", encoding: .utf8)
        XCTAssertEqual(stdin, "action=off\nipaddr=192.0.2.7\nlogin=admin\nnodename=xen3\npasswd=s3cr3t-Pa55\nplug=xen3\n")
        XCTAssertFalse(run.output.contains("s3cr3t-Pa55"), run.output)
        XCTAssertTrue(run.output.contains("logging in with ***"), run.output)
    }

    func testExitStatusMeansWhatTheProtocolSays() async throws {
        // Exits with the status it is given as an option.
        let path = try agent("exits", "code=$(sed -n 's/^exit_code=//p'); echo \"answer $code\"; exit $code\n")
        func run(_ action: FenceAction, _ code: Int) async -> FenceOutcome {
            await runner.run(action, device: FenceDevice(agent: path, options: ["exit_code": "\(code)"], timeout: .seconds(10)), host: "h1").outcome
        }
        let statusOn = await run(.status, 0), statusOff = await run(.status, 2), statusUnknown = await run(.status, 1)
        let statusOther = await run(.status, 3), offOK = await run(.off, 0), offFailed = await run(.off, 1)
        XCTAssertEqual(statusOn, .power(.on))
        XCTAssertEqual(statusOff, .power(.off))
        XCTAssertEqual(statusUnknown, .failed(reason: "status unknown: the device could not be reached (exit status 1): answer 1"))
        XCTAssertEqual(statusOther, .failed(reason: "status answered exit status 3, which the protocol does not define: answer 3"))
        XCTAssertEqual(offOK, .succeeded)
        XCTAssertEqual(offFailed, .failed(reason: "off failed (exit status 1): answer 1"))
    }

    func testAnAgentThatHangsIsKilledAndTheRunFails() async throws {
        let path = try agent("hangs", "sleep 30 & echo $! > \(dir)/child\nwait\n")
        let started = ContinuousClock.now
        let run = await runner.run(.off, device: FenceDevice(agent: path, timeout: .milliseconds(300)), host: "h1")
        let took = ContinuousClock.now - started
        XCTAssertEqual(run.outcome, .timedOut(after: .milliseconds(300)), "a timeout is a failure, not success")
        XCTAssertEqual(run.termination, .timedOut)
        XCTAssertLessThan(took, .seconds(3))
        let child = try XCTUnwrap(Int32(try String(contentsOfFile: "\(dir)/child", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        var gone = false
        for _ in 0..<200 {
            let stat = (try? String(contentsOfFile: "/proc/\(child)/stat", encoding: .utf8)) ?? ""
            gone = stat.isEmpty || stat.contains(") Z ")
            if gone { break }
            try await Task.sleep(for: .milliseconds(10))
        }
        XCTAssertTrue(gone, "the agent's child \(child) outlived the timeout")
    }

    func testASecretFileOthersCanReadIsRefusedAndTheAgentNeverRuns() async throws {
        let path = try agent("marker", "touch \(dir)/ran\nexit 0\n")
        let file = try secret("pw", mode: 0o644)
        let run = await runner.run(.off, device: FenceDevice(agent: path, secretFiles: ["passwd": file]), host: "xen3")
        guard case .failed(let reason) = run.outcome else { return XCTFail("ran with a readable secret: \(run.outcome)") }
        XCTAssertTrue(reason.contains("chmod 600 \(file)"), reason)
        XCTAssertTrue(reason.contains("'passwd' of host xen3"), reason)
        XCTAssertNil(run.termination)
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(dir)/ran"))
    }

    func testAnOptionWithALineBreakIsRefused() async throws {
        let path = try agent("marker", "touch \(dir)/ran\nexit 0\n")
        let run = await runner.run(.off, device: FenceDevice(agent: path, options: ["plug": "h1\naction=on"]), host: "h1")
        XCTAssertEqual(run.outcome, .failed(reason: "fence option 'plug' of host h1 contains a line break, which the fence-agent protocol cannot carry"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(dir)/ran"))
    }

    func testAMissingAgentIsAFailureThatNamesIt() async {
        let run = await runner.run(.status, device: FenceDevice(agent: "/nonexistent/fence_nothing"), host: "h1")
        guard case .failed(let reason) = run.outcome else { return XCTFail("\(run.outcome)") }
        XCTAssertTrue(reason.contains("/nonexistent/fence_nothing"), reason)
    }

    func testDebiansFenceDummySpeaksTheSameProtocol() async throws {
        let dummy = "/usr/sbin/fence_dummy"
        guard FileManager.default.isExecutableFile(atPath: dummy) else {
            return XCTFail("\(dummy) is missing: install Debian's fence-agents (scripts/test does it through scripts/lib/packages)")
        }
        let device = FenceDevice(agent: dummy, options: ["status_file": "\(dir)/dummy.status"], timeout: .seconds(30))
        let off = await runner.run(.off, device: device, host: "h1")
        XCTAssertEqual(off.outcome, .succeeded, off.output)
        let statusOff = await runner.run(.status, device: device, host: "h1")
        XCTAssertEqual(statusOff.outcome, .power(.off), statusOff.output)
        let on = await runner.run(.on, device: device, host: "h1")
        XCTAssertEqual(on.outcome, .succeeded, on.output)
        let statusOn = await runner.run(.status, device: device, host: "h1")
        XCTAssertEqual(statusOn.outcome, .power(.on), statusOn.output)
    }
}
