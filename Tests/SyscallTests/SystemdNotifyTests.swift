import Glibc
import Syscall
import XCTest

/// sd_notify's wire protocol against a datagram socket the test binds, as systemd binds its own:
/// a path, or an abstract name written with `@`.
final class SystemdNotifyTests: XCTestCase {
    func testNoticesArriveAsOneDatagramOfAssignmentsOnAnAbstractSocket() throws {
        let name = "@tandem-notify-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let socket = try NotifySocket(name)
        defer { socket.close() }
        let n = SystemdNotifier(socket: name)
        try n.ready(status: "first reconcile done")
        XCTAssertEqual(try socket.receive(), "READY=1\nSTATUS=first reconcile done")
        try n.reloading()
        let reloading = try socket.receive()
        XCTAssertTrue(reloading.hasPrefix("RELOADING=1\nMONOTONIC_USEC="), reloading)
        let usec = try XCTUnwrap(UInt64(reloading.split(separator: "=").last ?? ""))
        let now = Clocks.monotonic()
        let nowUsec = UInt64(now.components.seconds) * 1_000_000 + UInt64(now.components.attoseconds / 1_000_000_000_000)
        XCTAssertLessThanOrEqual(usec, nowUsec)
        XCTAssertLessThan(nowUsec - usec, 5_000_000, "MONOTONIC_USEC is CLOCK_MONOTONIC in microseconds")
        try n.watchdog()
        XCTAssertEqual(try socket.receive(), "WATCHDOG=1")
        try n.stopping(status: "bye\nnow")
        XCTAssertEqual(try socket.receive(), "STOPPING=1\nSTATUS=bye now", "a newline inside a value would start a new assignment")
    }

    func testAPathSocketWorksToo() throws {
        let path = NSTemporaryDirectory() + "notify-\(getpid()).sock"
        let socket = try NotifySocket(path)
        defer { socket.close(); unlink(path) }
        try SystemdNotifier(socket: path).ready()
        XCTAssertEqual(try socket.receive(), "READY=1")
    }

    func testEnvironmentDecidesWhetherAndHowOften() {
        XCTAssertNil(SystemdNotifier.fromEnvironment([:]))
        XCTAssertEqual(SystemdNotifier.fromEnvironment(["NOTIFY_SOCKET": "/run/systemd/notify"])?.socket, "/run/systemd/notify")
        XCTAssertEqual(SystemdNotifier.watchdogPeriod(["WATCHDOG_USEC": "30000000"], pid: 42), .seconds(30))
        XCTAssertEqual(SystemdNotifier.watchdogPeriod(["WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "42"], pid: 42), .seconds(30))
        XCTAssertNil(SystemdNotifier.watchdogPeriod(["WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "7"], pid: 42), "meant for another process")
        XCTAssertNil(SystemdNotifier.watchdogPeriod(["WATCHDOG_USEC": "0"], pid: 42))
        XCTAssertNil(SystemdNotifier.watchdogPeriod([:], pid: 42))
    }

    func testABadSocketNameIsRefusedNamingIt() {
        XCTAssertThrowsError(try SystemdNotifier(socket: "relative/path").ready()) { error in
            XCTAssertEqual((error as? SystemCallError)?.errno, EINVAL)
            XCTAssertTrue("\(error)".contains("NOTIFY_SOCKET relative/path"), "\(error)")
        }
        XCTAssertThrowsError(try SystemdNotifier(socket: "/" + String(repeating: "x", count: 200)).ready()) { error in
            XCTAssertEqual((error as? SystemCallError)?.errno, ENAMETOOLONG)
        }
        // Nobody listening: ECONNREFUSED (path) is reported, not swallowed.
        XCTAssertThrowsError(try SystemdNotifier(socket: NSTemporaryDirectory() + "nobody-\(getpid()).sock").ready())
    }
}

/// A bound AF_UNIX datagram socket that receives notices, with a 5 s receive timeout.
struct NotifySocket {
    let fd: Int32

    init(_ name: String) throws {
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemCallError(function: "socket", errno: errno) }
        var (address, length) = try SystemdNotifier.address(name)
        let r = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        guard r == 0 else { throw SystemCallError(function: "bind", context: name, errno: errno) }
        var tv = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    func receive() throws -> String {
        var buf = [UInt8](repeating: 0, count: 4096)
        let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        guard n >= 0 else { throw SystemCallError(function: "recv", context: "no notice within 5 s", errno: errno) }
        return String(decoding: buf[0..<n], as: UTF8.self)
    }

    func close() { Glibc.close(fd) }
}
