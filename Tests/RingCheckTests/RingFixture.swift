import Foundation
import HealthCheck
import MariaDB
import RingHealth
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// A real 3-node ring from `scripts/ring up` in a private state dir, one per test (~2-4 s), so a
/// scenario that breaks the ring cannot leak into the next one.
///
/// Cleanup: `stop()` from the test's teardown block, plus `--owner-pid` (the script's watchdog
/// stops the ring if this process dies), plus a direct kill of the pids in the pid files.
/// A missing `mariadbd` is a test failure that says what to install, never a skip.
final class RealRing: @unchecked Sendable {
    // @unchecked Sendable: every property is immutable after init.
    let stateDir: String
    let nodes: Int
    let env: [String: String]

    static let repoRoot: String = ProcessInfo.processInfo.environment["TANDEM_PACKAGE_DIR"]
        ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    static var script: String { repoRoot + "/scripts/ring" }

    struct Unavailable: Error, CustomStringConvertible { var description: String }

    /// Starts a ring of `nodes` nodes; throws (failing the test) with what is missing.
    static func start(nodes: Int = 3) throws -> RealRing {
        let candidates = ["/usr/sbin/mariadbd", "/usr/bin/mariadbd", "/usr/local/sbin/mariadbd"]
        guard candidates.contains(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw Unavailable(description: "mariadbd not found (looked in \(candidates.joined(separator: ", "))): install it with 'apt-get install -y mariadb-server mariadb-client libmariadb-dev' (scripts/ring up does it too)")
        }
        guard FileManager.default.isExecutableFile(atPath: script) else {
            throw Unavailable(description: "\(script) is missing or not executable")
        }
        let stateDir = NSTemporaryDirectory() + "tandem-ringcheck-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        guard let base = freePortRange(count: nodes) else { throw Unavailable(description: "no \(nodes) consecutive free ports on 127.0.0.1") }
        let up = run(["up", "--nodes", "\(nodes)", "--base-port", "\(base)", "--state-dir", stateDir, "--owner-pid", "\(getpid())"], timeout: 90)
        guard up.status == 0 else {
            killFromPidFiles(stateDir: stateDir, nodes: nodes)
            try? FileManager.default.removeItem(atPath: stateDir)
            throw Unavailable(description: "scripts/ring up failed (exit \(up.status)):\n\(up.output)")
        }
        let text = try String(contentsOfFile: stateDir + "/ring.env", encoding: .utf8)
        var env: [String: String] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let eq = line.firstIndex(of: "=") else { continue }
            env[String(line[..<eq])] = String(line[line.index(after: eq)...])
        }
        return RealRing(stateDir: stateDir, nodes: nodes, env: env)
    }

    private init(stateDir: String, nodes: Int, env: [String: String]) {
        self.stateDir = stateDir; self.nodes = nodes; self.env = env
    }

    func stop() {
        // A SIGSTOPped node ignores SIGTERM until continued.
        for n in 1...nodes { if let p = pid(n) { kill(p, SIGCONT) } }
        let down = Self.run(["down", "--state-dir", stateDir], timeout: 60)
        if down.status != 0 { print("scripts/ring down failed (exit \(down.status)): \(down.output)") }
        Self.killFromPidFiles(stateDir: stateDir, nodes: nodes)
        try? FileManager.default.removeItem(atPath: stateDir)
    }

    /// `scripts/ring up` again: restarts stopped nodes and runs START ALL SLAVES.
    func up() -> (status: Int32, output: String) { Self.run(["up", "--state-dir", stateDir], timeout: 90) }

    func port(_ n: Int) -> UInt16 { UInt16(env["RING_NODE\(n)_PORT"] ?? "") ?? 0 }
    func name(_ n: Int) -> String { "node\(n)" }

    func password(_ user: String) throws -> String {
        let key = "RING_\(user.uppercased())_PASSWORD_FILE"
        guard let path = env[key] else { throw Unavailable(description: "ring.env has no \(key)") }
        return try String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    var members: [RingMemberAddress] { (1...nodes).map { RingMemberAddress(name: name($0), host: "127.0.0.1", port: port($0)) } }

    func monitorConfig(policy: RingHealthPolicy) throws -> RingMonitorConfig {
        RingMonitorConfig(members: members, user: "monitor", password: try password("monitor"), monitorName: "ringcheck-test", policy: policy)
    }

    /// Root over node `n`'s unix socket (root has no TCP account).
    func root(_ n: Int) async throws -> MariaDBConnection {
        try await MariaDBConnection.connect(MariaDBConfig(user: "root", password: try password("root"), unixSocket: env["RING_NODE\(n)_SOCKET"]))
    }

    /// Monitor user over TCP to node `n`.
    func monitor(_ n: Int) async throws -> MariaDBConnection {
        try await MariaDBConnection.connect(MariaDBConfig(port: Int(port(n)), user: "monitor", password: try password("monitor")))
    }

    /// The mariadbd of node `n`, verified by its command line.
    func pid(_ n: Int) -> pid_t? {
        guard let text = try? String(contentsOfFile: "\(stateDir)/node\(n)/tandem.pid", encoding: .utf8),
              let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)),
              let cmd = try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8),
              cmd.contains("\(stateDir)/node\(n)/data") else { return nil }
        return pid
    }

    func signal(_ n: Int, _ sig: Int32) throws {
        guard let p = pid(n) else { throw Unavailable(description: "node\(n) has no running mariadbd") }
        guard kill(p, sig) == 0 else { throw Unavailable(description: "kill(\(p), \(sig)) failed: errno \(errno)") }
        if sig == SIGKILL { var st: Int32 = 0; _ = waitpid(p, &st, WNOHANG) }
    }

    static func killFromPidFiles(stateDir: String, nodes: Int) {
        for n in 1...nodes {
            guard let text = try? String(contentsOfFile: "\(stateDir)/node\(n)/tandem.pid", encoding: .utf8),
                  let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)),
                  let cmd = try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8),
                  cmd.contains("\(stateDir)/node\(n)/data") else { continue }
            kill(pid, SIGCONT)
            kill(pid, SIGTERM)
            for _ in 0..<100 where kill(pid, 0) == 0 { usleep(50_000) }
            if kill(pid, 0) == 0 { kill(pid, SIGKILL) }
        }
    }

    /// Runs scripts/ring with its output in a temp file, killed after `timeout` seconds.
    /// posix_spawn + waitpid (Foundation's Process missed the script's exit on Linux here).
    static func run(_ args: [String], timeout: Double) -> (status: Int32, output: String) {
        let outPath = NSTemporaryDirectory() + "tandem-ringcheck-out-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
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
        guard posix_spawn(&pid, "/bin/bash", &actions, nil, &cArgs, environ) == 0 else { return (-1, "posix_spawn failed") }
        let output = { (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "" }
        let deadline = Date().addingTimeInterval(timeout)
        var status: Int32 = 0
        while true {
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid { break }
            if r < 0 && errno != EINTR { return (-1, "waitpid failed\n" + output()) }
            if Date() >= deadline {
                kill(pid, SIGTERM); _ = waitpid(pid, &status, 0)
                return (-1, "scripts/ring \(args.first ?? "") timed out after \(timeout) s\n" + output())
            }
            usleep(20_000)
        }
        let exited = status & 0x7f == 0
        return (exited ? (status >> 8) & 0xff : 128 + (status & 0x7f), output())
    }

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
