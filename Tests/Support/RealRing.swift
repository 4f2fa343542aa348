import Foundation
import MariaDB
import Syscall

#if canImport(Glibc)
import Glibc
#endif

/// A real MariaDB ring started with `scripts/ring up` in a private state directory: the one test
/// fixture every ring-backed test target shares (MariaDBTests, GridServicesTests, RingCheckTests).
///
/// - A missing `mariadbd` or `scripts/ring` is an error that names what is missing and how to get
///   it; tests turn it into a failure, never a skip.
/// - Each start attempt gets a fresh state directory: a half-provisioned node left by a failed
///   attempt would make the next `up` treat it as provisioned and fail on access.
/// - Cleanup is belt and braces: ``stop()``; the script's watchdog (`--owner-pid`) that stops the
///   ring if the test process dies; a direct kill of the pids in the pid files.
public final class RealRing: @unchecked Sendable {
    // @unchecked Sendable: every stored property is immutable after init.
    /// The state directory (`--state-dir`).
    public let stateDir: String
    /// Number of nodes.
    public let nodes: Int
    /// `ring.env` as written by `scripts/ring up`.
    public let env: [String: String]
    /// Wall time `scripts/ring up` took.
    public let upSeconds: Double

    /// Why a ring could not start; the message says what is missing and what to do.
    public struct Unavailable: Error, CustomStringConvertible {
        public var description: String
        public init(description: String) { self.description = description }
    }

    /// The repository root (`TANDEM_PACKAGE_DIR`, or two levels above this file).
    public static let repoRoot: String = ProcessInfo.processInfo.environment["TANDEM_PACKAGE_DIR"]
        ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    /// `scripts/ring`.
    public static var script: String { repoRoot + "/scripts/ring" }

    /// Starts a ring of `nodes` nodes; retries (fresh state dir, fresh ports) when a port was taken.
    public static func start(nodes: Int, label: String = "ring", attempts: Int = 4) throws -> RealRing {
        let candidates = ["/usr/sbin/mariadbd", "/usr/bin/mariadbd", "/usr/local/sbin/mariadbd"]
        guard candidates.contains(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw Unavailable(description: "mariadbd not found (looked in \(candidates.joined(separator: ", "))): install it with 'apt-get install -y mariadb-server mariadb-client libmariadb-dev' (scripts/ring up does it too)")
        }
        guard FileManager.default.isExecutableFile(atPath: script) else {
            throw Unavailable(description: "\(script) is missing or not executable; it starts the MariaDB ring these tests need")
        }
        let stem = NSTemporaryDirectory() + "tandem-\(label)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        var lastError = ""
        for attempt in 0..<max(1, attempts) {
            let dir = "\(stem)-\(attempt)"
            guard let base = freePortRange(count: nodes) else {
                throw Unavailable(description: "found no \(nodes) consecutive free TCP ports on 127.0.0.1")
            }
            let started = Date()
            let up = run(["up", "--nodes", "\(nodes)", "--base-port", "\(base)", "--state-dir", dir,
                          "--owner-pid", "\(getpid())"], timeout: 90)
            let took = Date().timeIntervalSince(started)
            if up.status == 0 {
                guard let text = try? String(contentsOfFile: dir + "/ring.env", encoding: .utf8) else {
                    discard(dir, nodes: nodes)
                    throw Unavailable(description: "scripts/ring up did not write \(dir)/ring.env")
                }
                var env: [String: String] = [:]
                for line in text.split(separator: "\n") where !line.hasPrefix("#") {
                    guard let eq = line.firstIndex(of: "=") else { continue }
                    env[String(line[..<eq])] = String(line[line.index(after: eq)...])
                }
                guard env["RING_NODE1_PORT"] != nil else {
                    discard(dir, nodes: nodes)
                    throw Unavailable(description: "scripts/ring up succeeded but \(dir)/ring.env has no RING_NODE1_PORT")
                }
                return RealRing(stateDir: dir, nodes: nodes, env: env, upSeconds: took)
            }
            lastError = "scripts/ring up failed (exit \(up.status)):\n\(up.output)"
            discard(dir, nodes: nodes)
            if !up.output.contains("in use") { break }
        }
        throw Unavailable(description: lastError)
    }

    private init(stateDir: String, nodes: Int, env: [String: String], upSeconds: Double) {
        self.stateDir = stateDir; self.nodes = nodes; self.env = env; self.upSeconds = upSeconds
    }

    private static func discard(_ dir: String, nodes: Int) {
        _ = run(["down", "--state-dir", dir], timeout: 30)
        killFromPidFiles(stateDir: dir, nodes: nodes)
        try? FileManager.default.removeItem(atPath: dir)
    }

    /// Stops the ring (continuing any SIGSTOPped node first) and removes its state directory.
    public func stop() {
        for n in 1...nodes { if let p = pid(n) { kill(p, SIGCONT) } }
        let down = Self.run(["down", "--state-dir", stateDir], timeout: 60)
        if down.status != 0 { print("scripts/ring down failed (exit \(down.status)): \(down.output)") }
        Self.killFromPidFiles(stateDir: stateDir, nodes: nodes)
        try? FileManager.default.removeItem(atPath: stateDir)
    }

    /// `scripts/ring up` again on this state dir: restarts stopped nodes and runs START ALL SLAVES.
    public func up() -> (status: Int32, output: String) { Self.run(["up", "--state-dir", stateDir], timeout: 90) }

    // MARK: Nodes and accounts

    /// TCP port of node `n` (1-based).
    public func port(_ n: Int) -> Int { Int(env["RING_NODE\(n)_PORT"] ?? "") ?? 0 }

    /// The password of `user` (root, repl, monitor, gridsvc), from its 0600 file.
    public func password(_ user: String) throws -> String {
        let key = "RING_\(user.uppercased())_PASSWORD_FILE"
        guard let path = env[key] else { throw Unavailable(description: "ring.env has no \(key)") }
        return try String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// `gridsvc` over TCP to node `n`, database `grid`.
    public func gridConfig(_ n: Int, readTimeout: Duration = .seconds(5)) throws -> MariaDBConfig {
        MariaDBConfig(port: port(n), user: "gridsvc", password: try password("gridsvc"), database: "grid", readTimeout: readTimeout)
    }

    /// `monitor` over TCP to node `n`.
    public func monitorConfig(_ n: Int) throws -> MariaDBConfig {
        MariaDBConfig(port: port(n), user: "monitor", password: try password("monitor"))
    }

    /// `root` over node `n`'s unix socket (root has no TCP account), optionally into `database`.
    public func rootConfig(_ n: Int, database: String? = nil) throws -> MariaDBConfig {
        MariaDBConfig(user: "root", password: try password("root"), database: database, unixSocket: env["RING_NODE\(n)_SOCKET"])
    }

    /// The mariadbd of node `n`, verified by its command line (not a reused pid).
    public func pid(_ n: Int) -> pid_t? { Self.verifiedPid(stateDir: stateDir, node: n) }

    /// Sends `sig` to node `n`'s mariadbd.
    public func signal(_ n: Int, _ sig: Int32) throws {
        guard let p = pid(n) else { throw Unavailable(description: "node\(n) has no running mariadbd") }
        guard kill(p, sig) == 0 else { throw Unavailable(description: "kill(\(p), \(sig)) failed: errno \(errno)") }
        if sig == SIGKILL { var st: Int32 = 0; _ = waitpid(p, &st, WNOHANG) }
    }

    /// Waits until every node has applied every node's own GTID domain up to the sequence it had
    /// when this was called: after that, no earlier write is still travelling round the ring.
    public func waitForConvergence(timeout: Duration) async throws -> Bool {
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

    static func verifiedPid(stateDir: String, node n: Int) -> pid_t? {
        guard let text = try? String(contentsOfFile: "\(stateDir)/node\(n)/tandem.pid", encoding: .utf8),
              let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)),
              let cmd = try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8),
              cmd.contains("\(stateDir)/node\(n)/data") else { return nil }
        return pid
    }

    /// SIGTERM (then SIGKILL after 5 s) to every verified mariadbd of `stateDir`.
    public static func killFromPidFiles(stateDir: String, nodes: Int) {
        for n in 1...max(1, nodes) {
            guard let pid = verifiedPid(stateDir: stateDir, node: n) else { continue }
            kill(pid, SIGCONT)
            kill(pid, SIGTERM)
            for _ in 0..<100 where kill(pid, 0) == 0 { usleep(50_000) }
            if kill(pid, 0) == 0 { kill(pid, SIGKILL) }
        }
    }

    /// Runs `scripts/ring ARGS` with its output in a temp file (no pipe a straggler could hold open),
    /// killed after `timeout` seconds. posix_spawn + waitpid: Foundation's Process on Linux missed
    /// this script's exit here (it stayed a zombie).
    public static func run(_ args: [String], timeout: Double) -> (status: Int32, output: String) {
        runProcess(["/bin/bash", script] + args, timeout: timeout, what: "scripts/ring \(args.first ?? "")")
    }

    /// Runs `argv` (argv[0] an absolute path), killed after `timeout` seconds: Syscall's
    /// ``Subprocess/runBlocking(_:timeout:what:)``, which the lab drivers share.
    public static func runProcess(_ argv: [String], timeout: Double, what: String) -> (status: Int32, output: String) {
        Subprocess.runBlocking(argv, timeout: timeout, what: what)
    }

    /// A port where `count` consecutive ports are free on 127.0.0.1 right now.
    public static func freePortRange(count: Int) -> Int? {
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

/// Polls `condition` every 20 ms until it is true or `timeout` passes; returns whether it became true.
public func eventually(timeout: Duration, _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return try await condition()
}
