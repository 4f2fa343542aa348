import Foundation
import GridServices
import Logging
import MariaDB
import XCTest

/// Why a real-ring test could not even start; the message names what is missing and how to get it.
struct RingUnavailable: Error, CustomStringConvertible {
    var description: String
}

/// A real N-node MariaDB ring started with `scripts/ring up` in a unique temp state dir, for one test class.
/// Missing `mariadbd` or `scripts/ring` is a test FAILURE (never a skip).
final class TestRing: @unchecked Sendable {
    // @unchecked: every stored property is a `let` set in init; `down()` only runs a process.
    let stateDir: String
    let env: [String: String]
    let repoRoot: String

    static var repoRootPath: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    }

    static func up(nodes: Int = 2) throws -> TestRing {
        let root = repoRootPath
        let script = root + "/scripts/ring"
        guard FileManager.default.isExecutableFile(atPath: script) else {
            throw RingUnavailable(description: "scripts/ring not found or not executable at \(script); it starts the MariaDB ring these tests need")
        }
        let mariadbd = ["/usr/sbin/mariadbd", "/usr/bin/mariadbd", "/usr/local/sbin/mariadbd"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard mariadbd != nil else {
            throw RingUnavailable(description: "mariadbd not found (looked in /usr/sbin, /usr/bin, /usr/local/sbin); install it with 'apt-get install -y mariadb-server mariadb-client libmariadb-dev'")
        }
        let stem = FileManager.default.temporaryDirectory.appendingPathComponent("gridsvc-ring-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        var lastError = ""
        for attempt in 0..<5 {
            // A fresh state dir per attempt: a half-provisioned node left by a failed attempt would make
            // the next `up` treat it as provisioned (root already has a password) and fail on access.
            let dir = "\(stem)-\(attempt)"
            let base = Int.random(in: 20_000...60_000)
            let (code, out) = run(script, ["up", "--nodes", "\(nodes)", "--base-port", "\(base)", "--state-dir", dir, "--owner-pid", "\(getpid())"], timeout: 60)
            if code == 0 {
                let text = (try? String(contentsOfFile: dir + "/ring.env", encoding: .utf8)) ?? ""
                var env: [String: String] = [:]
                for line in text.split(separator: "\n") where !line.hasPrefix("#") {
                    if let eq = line.firstIndex(of: "=") { env[String(line[..<eq])] = String(line[line.index(after: eq)...]) }
                }
                guard env["RING_NODE1_PORT"] != nil else { throw RingUnavailable(description: "scripts/ring up succeeded but \(dir)/ring.env has no RING_NODE1_PORT") }
                return TestRing(stateDir: dir, env: env, repoRoot: root)
            }
            lastError = out
            _ = run(script, ["down", "--state-dir", dir], timeout: 30)
            try? FileManager.default.removeItem(atPath: dir)
            if !out.contains("in use") { break }
        }
        throw RingUnavailable(description: "scripts/ring up failed: \(lastError)")
    }

    private init(stateDir: String, env: [String: String], repoRoot: String) {
        self.stateDir = stateDir
        self.env = env
        self.repoRoot = repoRoot
    }

    func down() {
        _ = Self.run(repoRoot + "/scripts/ring", ["down", "--state-dir", stateDir], timeout: 30)
        try? FileManager.default.removeItem(atPath: stateDir)
    }

    /// Stops the mariadbd of node `n` (SIGKILL) by the pid the ring wrote.
    func killNode(_ n: Int) {
        guard let pidFile = env["RING_NODE\(n)_PID_FILE"], let text = try? String(contentsOfFile: pidFile, encoding: .utf8),
              let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) else { return }
        kill(pid, SIGKILL)
    }

    func port(_ n: Int) -> Int { Int(env["RING_NODE\(n)_PORT"]!)! }
    var nodes: Int { Int(env["RING_NODES"] ?? "2") ?? 2 }

    func password(_ user: String) -> String {
        let file = env["RING_\(user.uppercased())_PASSWORD_FILE"]!
        return ((try? String(contentsOfFile: file, encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func endpoint(_ n: Int) -> DatabaseEndpoint { DatabaseEndpoint(host: "127.0.0.1", port: port(n)) }

    /// A root connection over node n's socket (for checks the service user may not run).
    func rootConnection(_ n: Int) async throws -> MariaDBConnection {
        try await MariaDBConnection.connect(MariaDBConfig(user: "root", password: password("root"), database: "grid",
                                                           unixSocket: env["RING_NODE\(n)_SOCKET"]))
    }

    func cluster(_ nodes: [Int], pool: Int = 8) -> DatabaseCluster {
        DatabaseCluster(endpoints: nodes.map(endpoint), user: "gridsvc", password: password("gridsvc"), database: "grid",
                        maxConnections: pool, acquireTimeout: .milliseconds(500))
    }

    /// Runs `path args` with posix_spawn and waitpid (Foundation.Process on Linux did not notice this
    /// script's exit here), output to a temp file; kills it after `timeout` seconds.
    @discardableResult
    static func run(_ path: String, _ args: [String], timeout: TimeInterval) -> (Int32, String) {
        let outPath = FileManager.default.temporaryDirectory.appendingPathComponent("ringout-\(UUID().uuidString)").path
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + args).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, path, &actions, nil, argv, environ)
        guard rc == 0 else { return (-1, "cannot run \(path): errno \(rc)") }
        let deadline = Date().addingTimeInterval(timeout)
        var status: Int32 = 0
        var exited = false
        while Date() < deadline {
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid { exited = true; break }
            if r < 0 { break }
            usleep(20_000)
        }
        if !exited {
            kill(pid, SIGKILL)
            waitpid(pid, &status, 0)
        }
        let out = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
        try? FileManager.default.removeItem(atPath: outPath)
        let code: Int32 = (status & 0x7f) == 0 ? (status >> 8) & 0xff : -1
        return (exited ? code : -1, exited ? out : "timed out after \(timeout) s: \(out)")
    }
}

/// Runs in-process gridsvc instances on free ports for the duration of `body`.
func withServers<T: Sendable>(_ services: [GridService], _ body: @Sendable ([Int]) async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        var ports: [Int] = []
        for s in services {
            let (stream, cont) = AsyncStream<Int>.makeStream()
            let app = s.application(host: "127.0.0.1", port: 0) { cont.yield($0); cont.finish() }
            group.addTask {
                try await app.run()
                return nil
            }
            var it = stream.makeAsyncIterator()
            guard let port = await it.next() else { throw RingUnavailable(description: "server did not start") }
            ports.append(port)
        }
        do {
            let r = try await body(ports)
            group.cancelAll()
            return r
        } catch {
            group.cancelAll()
            throw error
        }
    }
}

func quietLogger(_ label: String) -> Logger {
    var l = Logger(label: label)
    l.logLevel = .error
    return l
}

/// Builds a service of `role` on the ring nodes `nodes` (first preferred).
func makeService(_ ring: TestRing, role: GridRole, nodes: [Int], cache: Int = 10_000, maxInFlight: Int = 64, pool: Int = 8,
                 sazMode: SAZMode = .db, poll: Duration = .milliseconds(200)) -> GridService {
    GridService(settings: GridServerSettings(role: role, maxInFlight: maxInFlight, sazMode: sazMode, pollInterval: poll),
                store: GridStore(db: ring.cluster(nodes, pool: pool), cacheCapacity: cache),
                logger: quietLogger("test.\(role.rawValue)"))
}

/// JSON string literal.
func jsonString(_ s: String) -> String {
    String(decoding: try! JSONEncoder().encode(s), as: UTF8.self)
}
