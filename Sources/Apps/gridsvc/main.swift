// gridsvc: the VOMS-, GUMS- and SAZ-like grid services over a MariaDB ring (docs/gridservices.md).
// Thin: parses flags, wires GridServices, runs. See docs/gridservices.md.
import ArgumentParser
import BuildInfo
import Foundation
import LogOutput
import Syscall
import GridServices
import Logging
import MariaDB
import ServiceLifecycle
import GridModel

struct DBOptions: ParsableArguments {
    @Option(help: "Ring nodes, in preference order: HOST:PORT[,HOST:PORT].")
    var db: String = "127.0.0.1:3306"
    @Option(name: .customLong("db-user"), help: "MariaDB user.")
    var dbUser: String = "gridsvc"
    @Option(name: .customLong("db-password-file"), help: "File holding the password (mode 0600, owned by this user).")
    var dbPasswordFile = "/etc/tandem/secrets/gridsvc-db-password"
    @Option(name: .customLong("db-name"), help: "Database.")
    var dbName: String = "grid"
    @Option(name: .customLong("db-pool"), help: "Connections per ring node.")
    var dbPool: Int = 8

    func password() throws -> String {
        do { return try SecretFile.text(dbPasswordFile, what: "--db-password-file") } catch {
            throw ValidationError("\(error) (scripts/ring writes it under <state-dir>/secrets/)")
        }
    }

    func cluster(acquireTimeout: Duration = .milliseconds(500)) throws -> DatabaseCluster {
        let endpoints: [DatabaseEndpoint]
        do { endpoints = try DatabaseEndpoint.list(db) } catch { throw ValidationError("--db: \(error)") }
        return DatabaseCluster(endpoints: endpoints, user: dbUser, password: try password(), database: dbName,
                               maxConnections: dbPool, acquireTimeout: acquireTimeout)
    }
}

func parseListen(_ s: String) throws -> (String, Int) {
    guard let c = s.lastIndex(of: ":"), let port = Int(s[s.index(after: c)...]), (0...65535).contains(port) else {
        throw ValidationError("--listen '\(s)' is not ADDR:PORT (e.g. 127.0.0.1:8443)")
    }
    return (String(s[..<c]), port)
}

/// The HTTP options of every serving subcommand.
struct HTTPOptions: ParsableArguments {
    @Option(name: .customLong("header-timeout"), help: "Seconds a request head may take from its first byte; then 408 and close.")
    var headerTimeout: Double = 10
    @Option(name: .customLong("body-timeout"), help: "Seconds a request body may take after its head; then 408 and close.")
    var bodyTimeout: Double = 10
    @Option(name: .customLong("idle-timeout"), help: "Seconds a keep-alive connection may wait for its next request (or for its client to read answers); then it closes.")
    var idleTimeout: Double = 60

    func timeouts() throws -> GridHTTPTimeouts {
        for (name, v) in [("--header-timeout", headerTimeout), ("--body-timeout", bodyTimeout), ("--idle-timeout", idleTimeout)]
        where !(v > 0 && v <= 86_400) {
            throw ValidationError("\(name) must be more than 0 and at most 86400 seconds, got \(v)")
        }
        return GridHTTPTimeouts(head: .milliseconds(Int64(headerTimeout * 1000)), body: .milliseconds(Int64(bodyTimeout * 1000)),
                                idle: .milliseconds(Int64(idleTimeout * 1000)))
    }
}

/// Sends a systemd notice when systemd asked for them; a failure is logged, not fatal.
func notify(_ notifier: SystemdNotifier?, _ logger: Logger, _ body: (SystemdNotifier) throws -> Void) {
    guard let notifier else { return }
    do { try body(notifier) } catch { logger.warning("cannot notify systemd", metadata: ["error": "\(error)"]) }
}

/// Waits for graceful shutdown and says STOPPING=1 to systemd.
struct StoppingNotice: Service {
    let notifier: SystemdNotifier?
    let logger: Logger
    func run() async throws {
        try? await gracefulShutdown()
        notify(notifier, logger) { try $0.stopping() }
    }
}

@main
struct GridSvc: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gridsvc",
        abstract: "VOMS-, GUMS- and SAZ-like grid services over a MariaDB ring.",
        version: TandemBuild.versionText("gridsvc"),
        subcommands: [Serve.self, Migrate.self, Seed.self, Static.self],
        defaultSubcommand: Serve.self)
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Serve one role over HTTP/1.1 JSON (the default subcommand).")

    @Option(help: "voms | gums | saz")
    var role: String
    @Option(help: "ADDR:PORT to listen on (port 0 picks one; the bound port is printed).")
    var listen: String = "127.0.0.1:8080"
    @OptionGroup var dbOptions: DBOptions
    @Option(name: .customLong("max-in-flight"), help: "Requests worked on at once; more get 503 + Retry-After.")
    var maxInFlight: Int = 64
    @Option(name: .customLong("cache-size"), help: "GUMS mapping cache entries (0 = off).")
    var cacheSize: Int = 100_000
    @Option(name: .customLong("saz-mode"), help: "db (query per request) | snapshot (in-memory ban lists).")
    var sazMode: String = "db"
    @Option(name: .customLong("poll-ms"), help: "Data version poll interval (cache invalidation, ban reload).")
    var pollMillis: Int = 500
    @Option(name: .customLong("max-body"), help: "Largest request body in bytes.")
    var maxBody: Int = 16 * 1024
    @Option(help: "Event loop threads (0 = one per CPU this process may run on, e.g. 1 under 'taskset -c 0').")
    var threads: Int = 0
    @OptionGroup var http: HTTPOptions
    @OptionGroup var log: LogOptions

    func run() async throws {
        guard let role = GridRole(rawValue: role) else { throw ValidationError("--role must be voms, gums or saz, got '\(role)'") }
        guard let mode = SAZMode(rawValue: sazMode) else { throw ValidationError("--saz-mode must be db or snapshot, got '\(sazMode)'") }
        let (host, port) = try parseListen(listen)
        let logger = log.bootstrap(label: "gridsvc.\(role.rawValue)")
        // Run by systemd (Type=notify): READY=1 once the listener is bound, STOPPING=1 at SIGTERM.
        let notifier = SystemdNotifier.fromEnvironment(ProcessInfo.processInfo.environment)
        let db = try dbOptions.cluster()
        let store = GridStore(db: db, cacheCapacity: role == .gums ? cacheSize : 0)
        let service = GridService(
            settings: GridServerSettings(role: role, maxInFlight: maxInFlight, maxBodyBytes: maxBody, sazMode: mode,
                                         pollInterval: .milliseconds(pollMillis), timeouts: try http.timeouts()),
            store: store, logger: logger)
        guard threads >= 0 else { throw ValidationError("--threads must be >= 0") }
        let app = service.application(host: host, port: port, threads: threads) { bound in
            print("gridsvc \(role.rawValue) listening on \(host):\(bound)")
            fflush(nil)
            notify(notifier, logger) { try $0.ready(status: "\(role.rawValue) listening on \(host):\(bound)") }
        }
        // Last in the group, so it hears of SIGTERM first and says STOPPING=1 before the listener closes.
        let stopping = StoppingNotice(notifier: notifier, logger: logger)
        try await ServiceGroup(services: [app, stopping], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger).run()
        await db.shutdown()
    }
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create or upgrade the schema (idempotent; safe on a live ring, even on several nodes at once).")
    @OptionGroup var dbOptions: DBOptions

    func run() async throws {
        let db = try dbOptions.cluster(acquireTimeout: .seconds(5))
        let applied = try await db.withConnection { try await GridSchema.migrate($0) }
        print(applied.isEmpty ? "schema already at version \(GridSchema.latestVersion) on \(db.activeEndpoint)"
                              : "applied migrations \(applied.map(String.init).joined(separator: ",")) on \(db.activeEndpoint)")
        await db.shutdown()
    }
}

struct Seed: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a deterministic, realistic data set through ONE ring node (re-runnable; never on two nodes at once).")
    @OptionGroup var dbOptions: DBOptions
    @Option(help: "PRNG seed (tandem-stress --seed must match).")
    var seed: UInt64 = 42
    @Option(help: "Number of users (DNs).")
    var users: Int = 20_000
    @Flag(help: "Print the summary as JSON.")
    var json = false
    @Flag(name: .customLong("prelease"), help: "Lease a pool account to every member up front (steady state for benchmarks).")
    var preLease = false

    func run() async throws {
        guard users > 0 && users <= 2_000_000 else { throw ValidationError("--users must be 1...2000000") }
        let db = try dbOptions.cluster(acquireTimeout: .seconds(5))
        let start = ContinuousClock.now
        let plan = SeedPlan(seed: seed, users: users)
        let summary = try await db.withConnection { conn in
            _ = try await GridSchema.migrate(conn)
            return try await Seeder(plan: plan, preLease: preLease).run(conn)
        }
        let took = ContinuousClock.now - start
        if json {
            print(String(decoding: try JSONEncoder().encode(summary), as: UTF8.self))
        } else {
            print("seeded \(db.activeEndpoint) in \(took): \(summary.users) users, \(summary.memberships) memberships, \(summary.rules) rules, \(summary.poolAccounts) pool accounts in \(summary.ringSize) slices, \(summary.bans) bans")
        }
        await db.shutdown()
    }
}

struct Static: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve a trivial static JSON answer on every path with the same HTTP stack as the services (a baseline to show the stress client is not the bottleneck).")
    @Option(help: "ADDR:PORT to listen on.")
    var listen: String = "127.0.0.1:8079"
    @Option(help: "Event loop threads (0 = one per CPU this process may run on).")
    var threads: Int = 0
    @Option(help: "The JSON answer to every request (e.g. one naming this instance, so a client sees which copy answered).")
    var body = "{\"ok\":true}"
    @OptionGroup var http: HTTPOptions

    func run() async throws {
        let (host, port) = try parseListen(listen)
        guard (try? JSONSerialization.jsonObject(with: Data(body.utf8), options: .fragmentsAllowed)) != nil else {
            throw ValidationError("--body '\(body)' is not JSON (e.g. '{\"vm\":\"p1a\"}')")
        }
        LogOutput.bootstrap(level: .info)
        let logger = Logger(label: "gridsvc.static")
        let app = GridHTTPServer(
            host: host, port: port, threads: threads, limits: GridHTTPLimits(), timeouts: try http.timeouts(),
            responder: StaticJSONResponder(body: body), logger: logger,
            onRunning: { bound in
                print("gridsvc static listening on \(host):\(bound)")
                fflush(nil)
            })
        try await ServiceGroup(services: [app], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger).run()
    }
}
