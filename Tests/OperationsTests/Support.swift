import Foundation
import Glibc
import Syscall
import TestSupport
import XCTest

/// A scratch directory per test, removed afterwards.
class OperationsTestCase: XCTestCase {
    var work = ""

    override func setUpWithError() throws {
        work = NSTemporaryDirectory() + "tandem-ops-\(getpid())-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: work) }

    /// Writes `text` to `work/name` with `mode`.
    func write(_ name: String, _ text: String, mode: mode_t = 0o600) throws -> String {
        let path = work + "/" + name
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertEqual(chmod(path, mode), 0)
        return path
    }

    /// The built executable `name`; a missing one fails the test, naming the build that makes it.
    func binary(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws -> String {
        try XCTUnwrap(BuildProducts.path(name), "\(name) not built beside the tests (\(BuildProducts.directory.path)): swift build --build-tests",
                      file: file, line: line).path
    }

    /// Runs a built executable to its end (at most 30 s): exit status and stdout+stderr.
    func run(_ name: String, _ args: [String], file: StaticString = #filePath, line: UInt = #line) throws -> (status: Int32, output: String) {
        RealRing.runProcess([try binary(name, file: file, line: line)] + args, timeout: 30, what: "\(name) \(args.joined(separator: " "))")
    }

    func freePort() throws -> Int { try XCTUnwrap(RealRing.freePortRange(count: 1), "no free port on 127.0.0.1") }

    /// ``DryRunSite`` with member `a` checked on `upPort` (tandemd's own API port: up while it runs)
    /// and member `b` on a port where nothing listens.
    func site(upPort: Int, extra: String = "") -> String {
        DryRunSite.yaml(upPort: upPort, downPort: RealRing.freePortRange(count: 1) ?? 1, extra: extra)
    }
}

/// A bound AF_UNIX datagram socket standing in for systemd's notification socket.
final class FakeNotifySocket {
    let name: String
    let fd: Int32

    /// Binds an abstract socket (`@…`), as systemd's own NOTIFY_SOCKET is.
    init() throws {
        name = "@tandem-ops-notify-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemCallError(function: "socket", errno: errno) }
        var (address, length) = try SystemdNotifier.address(name)
        let r = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        guard r == 0 else { throw SystemCallError(function: "bind", context: name, errno: errno) }
    }

    deinit { close(fd) }

    /// The next notice, or nil after `timeout`.
    func receive(timeout: Duration) -> String? {
        // A zero timeval would mean "block forever".
        let timeout = max(timeout, .milliseconds(1))
        var tv = timeval(tv_sec: Int(timeout.components.seconds), tv_usec: Int(timeout.components.attoseconds / 1_000_000_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var buf = [UInt8](repeating: 0, count: 4096)
        let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        return n < 0 ? nil : String(decoding: buf[0..<n], as: UTF8.self)
    }

    /// Notices until one starts with `prefix` (returned with the time it arrived, and the ones before it), or nil within `timeout`.
    func waitFor(_ prefix: String, timeout: Duration) -> (notice: String, at: ContinuousClock.Instant, before: [String])? {
        let deadline = ContinuousClock.now + timeout
        var before: [String] = []
        while ContinuousClock.now < deadline {
            guard let n = receive(timeout: ContinuousClock.now.duration(to: deadline)) else { return nil }
            if n.hasPrefix(prefix) { return (n, .now, before) }
            before.append(n)
        }
        return nil
    }
}
