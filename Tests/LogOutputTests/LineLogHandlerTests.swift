import ArgumentParser
import Logging
import LogOutput
import Synchronization
import XCTest

/// The one log handler: journal lines carry sd-daemon priorities and no timestamp, plain lines a
/// UTC timestamp; metadata is `key=value`, quoted where needed, and a record is always one line.
final class LineLogHandlerTests: XCTestCase {
    func testJournalLinesStartWithTheSyslogPriorityAndHaveNoTimestamp() {
        let lines = Lines()
        var logger = Logger(label: "tandemd") { LineLogHandler(label: $0, level: .trace, destination: .journal, write: lines.append) }
        logger[metadataKey: "node"] = "d1"
        logger.notice("tandemd started", metadata: ["topology": "/etc/tandem/topology.yaml"])
        logger.error("reconcile failed", metadata: ["error": "EPERM: operation not permitted"])
        logger.debug("probe")
        logger.critical("cannot start")
        XCTAssertEqual(lines.all, [
            "<5>tandemd: tandemd started node=d1 topology=/etc/tandem/topology.yaml\n",
            "<3>tandemd: reconcile failed error=\"EPERM: operation not permitted\" node=d1\n",
            "<7>tandemd: probe node=d1\n",
            "<2>tandemd: cannot start node=d1\n",
        ])
    }

    func testEveryLevelMapsToTheSdDaemonPriority() {
        let expected: [Logger.Level: Int] = [.trace: 7, .debug: 7, .info: 6, .notice: 5, .warning: 4, .error: 3, .critical: 2]
        for (level, priority) in expected { XCTAssertEqual(LineLogHandler.priority(level), priority, "\(level)") }
    }

    func testPlainLinesCarryAUTCTimestampAndTheLevel() {
        let line = LineLogHandler.line(level: .warning, message: "slow", metadata: [:], label: "gridsvc.gums",
                                       destination: .plain, now: (seconds: 1_747_699_200, milliseconds: 7))
        XCTAssertEqual(line, "2025-05-20T00:00:00.007Z warning gridsvc.gums: slow")
    }

    func testAMultiLineRecordStaysOneLineAndValuesSplitUnambiguously() {
        let line = LineLogHandler.line(level: .error, message: "reload refused", metadata: [
            "diagnostics": "a.yaml:3:5: error: x\na.yaml:9:1: error: \"y\"", "empty": "", "eq": "a=b", "n": "3",
        ], label: "tandemd", destination: .journal, now: (0, 0))
        XCTAssertEqual(line, #"<3>tandemd: reload refused diagnostics="a.yaml:3:5: error: x\na.yaml:9:1: error: \"y\"" empty="" eq="a=b" n=3"#)
        XCTAssertFalse(line.contains("\n"))
        let message = LineLogHandler.line(level: .info, message: "two\nlines", metadata: [:], label: "t", destination: .journal, now: (0, 0))
        XCTAssertEqual(message, #"<6>t: two\nlines"#)
    }

    func testJournalStreamMustNameStandardErrorItself() {
        XCTAssertTrue(LogDestination.journalStreamMatches("8:12345", device: 8, inode: 12345))
        XCTAssertFalse(LogDestination.journalStreamMatches("8:12345", device: 8, inode: 99))
        XCTAssertFalse(LogDestination.journalStreamMatches("garbage", device: 8, inode: 12345))
        XCTAssertEqual(LogDestination.detect(environment: [:]), .plain)
        // A stale JOURNAL_STREAM (inherited, but stderr redirected elsewhere) keeps plain lines.
        XCTAssertEqual(LogDestination.detect(environment: ["JOURNAL_STREAM": "1:1"]), .plain)
        // The real thing: a file standing in for the journal stream, its device and inode in the variable.
        let path = NSTemporaryDirectory() + "journal-\(getpid())"
        let fd = open(path, O_CREAT | O_WRONLY, 0o600)
        defer { close(fd); unlink(path) }
        var st = stat()
        XCTAssertEqual(fstat(fd, &st), 0)
        XCTAssertEqual(LogDestination.detect(environment: ["JOURNAL_STREAM": "\(st.st_dev):\(st.st_ino)"], fd: fd), .journal)
    }

    func testAnUnknownLogLevelIsAUsageErrorNamingTheLevels() throws {
        XCTAssertThrowsError(try LogOptions.parse(["--log-level", "loud"])) { error in
            let text = LogOptions.message(for: error)
            XCTAssertTrue(text.contains("--log-level loud: want one of trace, debug, info, notice, warning, error, critical"), text)
        }
        XCTAssertEqual(try LogOptions.parse(["--log-level", "notice"]).level, .notice)
        XCTAssertEqual(try LogOptions.parse([]).level, .info)
    }
}

/// Lines a handler wrote, in order.
final class Lines: Sendable {
    private let lines = Mutex<[String]>([])
    var all: [String] { lines.withLock { $0 } }
    @Sendable func append(_ line: String) { lines.withLock { $0.append(line) } }
}
