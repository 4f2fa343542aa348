import Foundation
import MariaDB
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// A real MariaDB ring started with `scripts/ring up` for this test process, shared by all tests
/// (starting one costs ~1-2 s; one per test would blow the time budget).
///
/// Teardown is belt and braces: `scripts/ring down` when the test bundle finishes, a watchdog
/// started with `--owner-pid` that stops the ring if this process dies, and as a last resort a
/// direct SIGTERM/SIGKILL of the pids in the ring's pid files.
final class TestRing: @unchecked Sendable {
    // @unchecked Sendable: every property is immutable after init.
    let stateDir: String
    let nodes: Int
    let env: [String: String]
    let upSeconds: Double

    static let repoRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let script = repoRoot.appendingPathComponent("scripts/ring").path

    /// The shared ring, or the reason it could not start. Started on first use.
    static let shared: Result<TestRing, RingError> = start()

    struct RingError: Error, CustomStringConvertible {
        var description: String
    }

    /// The ring, or a failure that names what is missing (tests fail, never skip).
    static func get() throws -> TestRing {
        try shared.get()
    }

    private init(stateDir: String, nodes: Int, env: [String: String], upSeconds: Double) {
        self.stateDir = stateDir
        self.nodes = nodes
        self.env = env
        self.upSeconds = upSeconds
    }

    private static func start() -> Result<TestRing, RingError> {
        let candidates = ["/usr/sbin/mariadbd", "/usr/bin/mariadbd", "/usr/local/sbin/mariadbd"]
        guard candidates.contains(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            return .failure(RingError(description:
                "mariadbd not found (looked in \(candidates.joined(separator: ", "))): install the Debian package mariadb-server (scripts/ring up does it with apt-get)"))
        }
        guard FileManager.default.isExecutableFile(atPath: script) else {
            return .failure(RingError(description: "\(script) is missing or not executable"))
        }
        let stateDir = NSTemporaryDirectory() + "tandem-ring-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let nodes = 2
        guard let basePort = freePortRange(count: nodes) else {
            return .failure(RingError(description: "found no \(nodes) consecutive free TCP ports on 127.0.0.1"))
        }
        let started = Date()
        let up = runScript(["up", "--nodes", "\(nodes)", "--base-port", "\(basePort)", "--state-dir", stateDir,
                            "--owner-pid", "\(getpid())"], timeout: 90)
        let elapsed = Date().timeIntervalSince(started)
        guard up.status == 0 else {
            killFromPidFiles(stateDir: stateDir, nodes: nodes)
            try? FileManager.default.removeItem(atPath: stateDir)
            return .failure(RingError(description: "scripts/ring up failed (exit \(up.status)):\n\(up.output)"))
        }
        print("scripts/ring up took \(String(format: "%.2f", elapsed)) s: \(up.output.split(separator: "\n").last ?? "")")
        guard let text = try? String(contentsOfFile: stateDir + "/ring.env", encoding: .utf8) else {
            killFromPidFiles(stateDir: stateDir, nodes: nodes)
            return .failure(RingError(description: "scripts/ring up did not write \(stateDir)/ring.env"))
        }
        var env: [String: String] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let eq = line.firstIndex(of: "=") else { continue }
            env[String(line[..<eq])] = String(line[line.index(after: eq)...])
        }
        let ring = TestRing(stateDir: stateDir, nodes: nodes, env: env, upSeconds: elapsed)
        TeardownObserver.register(ring)
        return .success(ring)
    }

    /// Stops the ring: the script first, then pid files directly if that failed.
    func stop() {
        let down = Self.runScript(["down", "--state-dir", stateDir], timeout: 30)
        if down.status != 0 { print("scripts/ring down failed (exit \(down.status)): \(down.output)") }
        Self.killFromPidFiles(stateDir: stateDir, nodes: nodes)
        try? FileManager.default.removeItem(atPath: stateDir)
    }

    static func killFromPidFiles(stateDir: String, nodes: Int) {
        for n in 1...nodes {
            let file = "\(stateDir)/node\(n)/tandem.pid"
            guard let text = try? String(contentsOfFile: file, encoding: .utf8),
                  let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)),
                  let cmd = try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8),
                  cmd.contains("\(stateDir)/node\(n)/data")  // our mariadbd, not a reused pid
            else { continue }
            kill(pid, SIGTERM)
            for _ in 0..<100 where kill(pid, 0) == 0 { usleep(50_000) }
            if kill(pid, 0) == 0 { kill(pid, SIGKILL) }
        }
    }

    // MARK: Accounts

    func password(_ user: String) throws -> String {
        let key = "RING_\(user.uppercased())_PASSWORD_FILE"
        guard let path = env[key] else { throw RingError(description: "ring.env has no \(key)") }
        return try String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func port(_ node: Int) -> Int { Int(env["RING_NODE\(node)_PORT"] ?? "") ?? 0 }

    /// `gridsvc` over TCP to `node`, database `grid`.
    func gridConfig(_ node: Int, readTimeout: Duration = .seconds(5)) throws -> MariaDBConfig {
        MariaDBConfig(port: port(node), user: "gridsvc", password: try password("gridsvc"), database: "grid",
                      readTimeout: readTimeout)
    }

    /// `monitor` over TCP to `node`.
    func monitorConfig(_ node: Int) throws -> MariaDBConfig {
        MariaDBConfig(port: port(node), user: "monitor", password: try password("monitor"))
    }

    /// `root` over the unix socket of `node` (root has no TCP account).
    func rootConfig(_ node: Int) throws -> MariaDBConfig {
        MariaDBConfig(user: "root", password: try password("root"), unixSocket: env["RING_NODE\(node)_SOCKET"])
    }

    /// Waits until every node has applied every node's own GTID domain up to the sequence it had
    /// when this was called: after that, no earlier write is still travelling round the ring.
    func waitForConvergence(timeout: Duration) async throws -> Bool {
        var targets: [UInt32: UInt64] = [:]
        var monitors: [MariaDBConnection] = []
        for n in 1...nodes {
            let m = try await MariaDBConnection.connect(try monitorConfig(n))
            monitors.append(m)
            targets[UInt32(n)] = GTIDPosition(try await m.gtidPositions().binlog).sequence(domain: UInt32(n))
        }
        let ok = await eventually(timeout: timeout) {
            for m in monitors {
                guard let pos = try? await m.gtidPositions().binlog else { return false }
                let p = GTIDPosition(pos)
                if targets.contains(where: { p.sequence(domain: $0.key) < $0.value }) { return false }
            }
            return true
        }
        for m in monitors { await m.close() }
        return ok
    }

    // MARK: Processes and ports

    /// Runs scripts/ring with output in a temp file (no pipe a straggler could hold open), killing
    /// it after `timeout` seconds. Uses posix_spawn + waitpid rather than Foundation's Process,
    /// whose exit detection on Linux missed the script's exit here (it stayed a zombie).
    static func runScript(_ args: [String], timeout: Double) -> (status: Int32, output: String) {
        let outPath = NSTemporaryDirectory() + "tandem-ring-out-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { unlink(outPath) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv = ["/bin/bash", script] + args
        var cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { for a in cArgs { free(a) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, "/bin/bash", &actions, nil, &cArgs, environ)
        guard rc == 0 else { return (-1, "posix_spawn /bin/bash \(script) failed: errno \(rc)") }
        let output = { (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "" }
        let deadline = Date().addingTimeInterval(timeout)
        var status: Int32 = 0
        while true {
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid { break }
            if r < 0 && errno != EINTR { return (-1, "waitpid failed: errno \(errno)\n" + output()) }
            if Date() >= deadline {
                kill(pid, SIGTERM)
                _ = waitpid(pid, &status, 0)
                return (-1, "scripts/ring \(args.first ?? "") timed out after \(timeout) s\n" + output())
            }
            usleep(20_000)
        }
        // WIFEXITED/WEXITSTATUS are macros: decode the wait status by hand.
        let exited = status & 0x7f == 0
        return (exited ? (status >> 8) & 0xff : 128 + (status & 0x7f), output())
    }

    /// A port where `count` consecutive ports are free on 127.0.0.1 right now.
    static func freePortRange(count: Int) -> Int? {
        for _ in 0..<50 {
            let base = Int.random(in: 20000...60000)
            if (base..<base + count).allSatisfy(isFree) { return base }
        }
        return nil
    }

    static func isFree(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
    }
}

/// Stops the shared ring when the test bundle finishes.
final class TeardownObserver: NSObject, XCTestObservation, @unchecked Sendable {
    // @unchecked Sendable: `ring` is immutable; XCTest calls observers on the main thread.
    let ring: TestRing
    init(ring: TestRing) { self.ring = ring }

    static func register(_ ring: TestRing) {
        XCTestObservationCenter.shared.addTestObserver(TeardownObserver(ring: ring))
    }

    func testBundleDidFinish(_ testBundle: Bundle) {
        ring.stop()
    }
}

/// Polls `condition` every 20 ms until it is true or `timeout` passes; returns whether it became true.
func eventually(timeout: Duration, _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return try await condition()
}
