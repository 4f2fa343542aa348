import ArgumentParser
import Foundation
import Syscall
import RingHealth
import Topology
import RingMonitoring
import TopologyFiles

/// `tandemctl ring …`: the MariaDB replication ring as the ring monitor sees it.
struct RingCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ring",
        abstract: "Inspect the MariaDB replication ring (heartbeats on every node, not just SHOW SLAVE STATUS).",
        subcommands: [RingStatus.self])
}

/// `tandemctl ring status`: watches the ring for a moment and prints links, lag and the nodes to drain.
struct RingStatus: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Write heartbeats on every ring node for a few seconds and report the ring: links up/down, end-to-end lag, nodes to drain.",
        discussion: """
            Exit status: 0 when every link is up and no node must be drained; 1 when the ring is broken, \
            the topology is invalid or declares no ring, or the monitor cannot start (its password file); \
            2 when the command line is wrong. The monitor user needs SLAVE MONITOR and \
            SELECT, INSERT, UPDATE, CREATE on tandem_monitor.* (scripts/ring grants them).
            """)

    @Option(help: "Ring nodes in ring order (each replicates from the one before it), e.g. 127.0.0.1:13306,127.0.0.1:13307.")
    var nodes: String?
    @Option(help: "Take the ring, and the monitor account of its mariadb check, from this topology file.")
    var topology: String?
    @Option(help: "Monitor user (with --nodes).") var user = "monitor"
    @Option(help: "File with the monitor user's password (with --nodes).") var passwordFile: String?
    @Option(help: "How long to watch, in seconds (a stopped link shows after 4 heartbeat intervals).") var watch = 2.0
    @Option(help: "Heartbeat interval in milliseconds.") var intervalMs = 250
    @Flag(help: "Print the report as JSON.") var json = false

    func validate() throws {
        guard (nodes == nil) != (topology == nil) else { throw ValidationError("give exactly one of --nodes or --topology") }
        guard watch > 0, watch <= 600 else { throw ValidationError("--watch must be in (0, 600] seconds, got \(watch)") }
        guard intervalMs >= 10, intervalMs <= 60_000 else { throw ValidationError("--interval-ms must be 10..60000, got \(intervalMs)") }
        _ = try nodeAddresses()
    }

    func run() async throws {
        let policy = RingHealthPolicy(heartbeatInterval: .milliseconds(intervalMs))
        let monitorName = "tandemctl-" + (ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "host")
        let config = try makeConfig(policy: policy, monitorName: monitorName)
        let monitor: RingMonitor
        do { monitor = try RingMonitor(config: config) } catch {
            throw fail("tandemctl ring status: \(error)")
        }
        let report = await monitor.observe(for: .milliseconds(Int64(watch * 1000)))
        if json {
            print(try jsonText(report))
        } else {
            print(report.rendered(), terminator: "")
        }
        let ok = report.endToEnd.complete && report.nodesToDrain.isEmpty && report.problems.isEmpty
        if !ok { throw Exit.problem }
    }

    /// The ring from `--topology`, or from `--nodes` and the monitor account; an unusable file ends
    /// with exit status 1.
    private func makeConfig(policy: RingHealthPolicy, monitorName: String) throws -> RingMonitorConfig {
        if let topology {
            let t: Topology
            do { t = try TopologyLoader.load(path: topology) } catch {
                throw fail(error.description)
            }
            let config: RingMonitorConfig?
            do { config = try RingMonitorConfig.from(topology: t, monitorName: monitorName, policy: policy) } catch {
                throw fail("tandemctl ring status: \(topology): \(error)")
            }
            guard let config else {
                throw fail("tandemctl ring status: \(topology) declares no database ring (add a 'database: {ring: [...], port: ...}' section)")
            }
            return config
        }
        let password: String
        do { password = try passwordFile.map { path throws(SecretFileError) in try SecretFile.text(path, what: "--password-file") } ?? "" } catch {
            throw fail("tandemctl ring status: \(error)")
        }
        return RingMonitorConfig(members: try nodeAddresses(), user: user, password: password, monitorName: monitorName, policy: policy)
    }

    /// `--nodes` as ring members, in ring order (empty without `--nodes`); a malformed entry is a usage error.
    private func nodeAddresses() throws -> [RingMemberAddress] {
        guard let nodes else { return [] }
        var members: [RingMemberAddress] = []
        for part in nodes.split(separator: ",") {
            let text = part.trimmingCharacters(in: .whitespaces)
            guard let colon = text.lastIndex(of: ":"), let port = UInt16(text[text.index(after: colon)...]), port > 0 else {
                throw ValidationError("--nodes entry '\(text)' is not host:port (e.g. 127.0.0.1:13306)")
            }
            var host = String(text[..<colon])
            if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            members.append(RingMemberAddress(name: text, host: host, port: port))
        }
        guard members.count >= 2 else { throw ValidationError("--nodes needs at least 2 host:port entries, in ring order") }
        return members
    }
}
