import Fencing
import Foundation
import Hosts
import Syscall

#if canImport(Glibc)
import Glibc
#endif

/// Simulated hypervisor hosts started with `scripts/lab/hosts up N` in a private state directory:
/// each a real libvirtd (LXC driver) in its own network and mount namespace.
///
/// A missing piece (libvirtd, root) is an error that says what is missing; tests fail on it, never
/// skip. Cleanup: ``down()``, and the script's watchdog (`--owner-pid`) if the owning process dies.
/// Shared by the hypervisor tests and the host drills (`tandem-bench-hosts`).
public final class LabHosts: @unchecked Sendable {
    // @unchecked Sendable: every stored property is immutable after init.
    /// The lab's state directory (`--state-dir`).
    public let stateDir: String
    /// `hosts.env` as the script wrote it.
    public let env: [String: String]
    /// The hosts' names, h1…hN.
    public let hosts: [String]
    /// The repository whose `scripts/lab` drives this lab.
    public let repoRoot: String
    /// The gridsvc executable every lab domain runs as its init (`LAB_GRIDSVC` of scripts/lab/domain-xml).
    public let gridsvc: String

    /// What the lab lacks, or a lab script that failed; the message says what and what to do.
    public struct Unavailable: Error, CustomStringConvertible {
        /// What went wrong.
        public var description: String
        /// Creates an error with its message.
        public init(description: String) { self.description = description }
    }

    var script: String { repoRoot + "/scripts/lab/hosts" }

    /// Starts `n` hosts with `scripts/lab/hosts up N` in a fresh state directory under /tmp named
    /// after `label`; the script's watchdog stops them if this process exits without ``down()``.
    /// `gridsvc` is the built gridsvc executable (an absolute path) the domains run.
    public static func up(_ n: Int, label: String = "hosts", repoRoot: String, gridsvc: String) throws -> LabHosts {
        let script = repoRoot + "/scripts/lab/hosts"
        guard getuid() == 0 else {
            throw Unavailable(description: "the lab hosts need root (network and mount namespaces, libvirtd); run it as root")
        }
        guard FileManager.default.isExecutableFile(atPath: script) else {
            throw Unavailable(description: "\(script) is missing or not executable; it starts the libvirtd hosts the host lab needs")
        }
        guard gridsvc.hasPrefix("/"), FileManager.default.isExecutableFile(atPath: gridsvc) else {
            throw Unavailable(description: "gridsvc '\(gridsvc)' is missing or not executable (an absolute path); the lab's domains run it: build it with swift build --product gridsvc")
        }
        let dir = "/tmp/tandem-\(label)-\(getpid())-\(UInt16.random(in: 0...UInt16.max))"
        let up = Subprocess.runBlocking(["/bin/bash", script, "up", "\(n)", "--state-dir", dir, "--owner-pid", "\(getpid())"],
                                            timeout: 300, what: "scripts/lab/hosts up")
        guard up.status == 0, let text = try? String(contentsOfFile: dir + "/hosts.env", encoding: .utf8) else {
            _ = Subprocess.runBlocking(["/bin/bash", script, "down", "--state-dir", dir], timeout: 60, what: "scripts/lab/hosts down")
            throw Unavailable(description: "scripts/lab/hosts up \(n) failed (exit \(up.status)); it installs libvirt-daemon, libvirt-clients, libvirt-daemon-driver-lxc and fence-agents itself:\n\(up.output)")
        }
        var env: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard let eq = line.firstIndex(of: "=") else { continue }
            env[String(line[..<eq])] = String(line[line.index(after: eq)...]).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        }
        let hosts = (env["LAB_HOSTS"] ?? "").split(separator: " ").map(String.init)
        guard hosts.count == n else { throw Unavailable(description: "hosts.env in \(dir) lists \(hosts) for \(n) hosts") }
        return LabHosts(stateDir: dir, env: env, hosts: hosts, repoRoot: repoRoot, gridsvc: gridsvc)
    }

    private init(stateDir: String, env: [String: String], hosts: [String], repoRoot: String, gridsvc: String) {
        self.stateDir = stateDir; self.env = env; self.hosts = hosts; self.repoRoot = repoRoot; self.gridsvc = gridsvc
    }

    /// Stops every host, deletes the namespaces and the state directory.
    public func down() {
        let r = run("down")
        if r.status != 0 { print("scripts/lab/hosts down failed (exit \(r.status)): \(r.output)") }
        try? FileManager.default.removeItem(atPath: stateDir)
    }

    /// Runs `scripts/lab/hosts ARGS --state-dir DIR`.
    @discardableResult
    public func run(_ args: String..., timeout: Double = 60) -> (status: Int32, output: String) {
        Subprocess.runBlocking(["/bin/bash", script] + args + ["--state-dir", stateDir], timeout: timeout,
                            what: "scripts/lab/hosts \(args.joined(separator: " "))")
    }

    /// ``fault(_:_:)`` with its arguments listed.
    public func fault(_ command: String, _ args: String...) throws -> Double { try fault(command, args) }

    /// Runs a fault command (crash, hang, partition) and returns when its signals went out, as
    /// seconds of CLOCK_REALTIME (the script prints `at=EPOCHREALTIME`).
    public func fault(_ command: String, _ args: [String]) throws -> Double {
        let args = [command] + args
        let r = Subprocess.runBlocking(["/bin/bash", script] + args + ["--state-dir", stateDir], timeout: 60,
                                    what: "scripts/lab/hosts \(args.joined(separator: " "))")
        guard r.status == 0, let line = r.output.split(separator: "\n").first(where: { $0.hasPrefix("at=") }),
              let at = Double(line.dropFirst(3)) else {
            throw Unavailable(description: "scripts/lab/hosts \(args.joined(separator: " ")) failed (exit \(r.status)): \(r.output)")
        }
        return at
    }

    /// The XML of lab database domain `name`: the real mariadbd as its init on `address`:3306, its
    /// data in `directory` (made by ``mariadbInit(_:)``; on the machine's file system, as shared
    /// storage, so the domain restarts on another host with its data).
    public func mariadbDomain(_ name: String, address: String, mac: String, directory: String, gateway: String? = nil) throws -> DomainDefinition {
        try renderDomain(name, address: address, port: 3306, mac: mac, gateway: gateway, kind: "LAB_MARIADB_DIR=\(directory)")
    }

    /// Makes `directory` a MariaDB data directory for a database domain (`scripts/lab/hosts
    /// mariadb-init`); returns the password of its user `tandem` (all rights on the database `lab`).
    public func mariadbInit(_ directory: String) throws -> String {
        let r = run("mariadb-init", directory, timeout: 120)
        guard r.status == 0 else {
            throw Unavailable(description: "scripts/lab/hosts mariadb-init \(directory) failed (exit \(r.status)): \(r.output)")
        }
        do {
            return try SecretFile.text(directory + "/password", what: "the lab database's password")
        } catch {
            throw Unavailable(description: "scripts/lab/hosts mariadb-init \(directory): \(error)")
        }
    }

    /// The director's address on the domains' side: their gateway when it fronts them.
    public static let directorGateway = "10.79.0.254"
    /// Where the director's tandemd serves `/status` (from the switch namespace).
    public static let directorStatus = (address: "10.79.1.254", port: UInt16(9595))

    /// Starts the lab's director (`scripts/lab/hosts director`): `tandemd` with real IPVS in a
    /// user-mode-linux kernel on the switch, loaded with `topology` (a file), the `vips` (in
    /// 10.79.9.0/24) on its lo, NAT to the domains. Returns once its `/status` answers; ``down()``
    /// stops it with the rest.
    public func startDirector(tandemd: String, topology: String, vips: [String]) throws {
        let r = Subprocess.runBlocking(["/bin/bash", script, "director", tandemd, topology] + vips + ["--state-dir", stateDir],
                                       timeout: 180, what: "scripts/lab/hosts director")
        guard r.status == 0 else { throw Unavailable(description: "scripts/lab/hosts director failed (exit \(r.status)):\n\(r.output)") }
    }

    /// What the director's tandemd logged, for a failed drill's report.
    public var directorLog: String { (try? String(contentsOfFile: stateDir + "/director/tandemd.log", encoding: .utf8)) ?? "" }

    /// The libvirt URI of `host`.
    public func uri(_ host: String) -> String { env["HOST_\(host)_URI"] ?? "" }
    /// The switch namespace, where the lab's clients sit (10.79.0.1).
    public var switchNamespace: String { env["LAB_SWITCH_NS"] ?? "" }

    /// `virsh -c URI ARGS` (the peer that reads back what the edge wrote).
    public func virsh(_ host: String, _ args: String...) -> (status: Int32, output: String) {
        Subprocess.runBlocking(["/usr/bin/virsh", "-q", "-c", uri(host)] + args, timeout: 10, what: "virsh \(args.joined(separator: " "))")
    }

    /// Defines `domain` on `host` with `virsh define` (the peer writes, the edge reads).
    public func virshDefine(_ host: String, _ domain: DomainDefinition) throws {
        let file = "\(stateDir)/\(domain.name).xml"
        try domain.xml.write(toFile: file, atomically: true, encoding: .utf8)
        let r = virsh(host, "define", file)
        guard r.status == 0 else { throw Unavailable(description: "virsh define \(domain.name) on \(host) failed: \(r.output)") }
    }

    /// Names of the domains `virsh list` shows running on `host` (empty when the host is off).
    public func running(on host: String) -> Set<String> {
        let r = virsh(host, "list", "--name")
        guard r.status == 0 else { return [] }
        return Set(r.output.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
    }

    /// Names of every domain defined on `host`.
    public func defined(on host: String) -> Set<String> {
        let r = virsh(host, "list", "--all", "--name")
        guard r.status == 0 else { return [] }
        return Set(r.output.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
    }

    /// The lab fence device for `host`: fence_tandemlab, the lab dir as its address, the password on stdin.
    public func fenceDevice(_ host: String, timeout: Duration = .seconds(10)) -> FenceDevice {
        FenceDevice(agent: env["LAB_FENCE_AGENT"] ?? "", options: ["plug": host, "lab_dir": stateDir],
                    secretFiles: ["passwd": env["LAB_FENCE_PASSWORD_FILE"] ?? ""], timeout: timeout)
    }

    /// The XML of lab domain `name` (scripts/lab/domain-xml): ``gridsvc`` as its init, answering
    /// `{"vm":"NAME"}` on `address`:8080; with `gateway`, its default route goes there (the
    /// lab's director, ``startDirector(tandemd:topology:vips:)``, for IPVS NAT).
    public func domain(_ name: String, address: String, mac: String, gateway: String? = nil) throws -> DomainDefinition {
        try renderDomain(name, address: address, port: 8080, mac: mac, gateway: gateway, kind: "LAB_GRIDSVC=\(gridsvc)")
    }

    /// `scripts/lab/domain-xml NAME ADDRESS PORT MAC` with `kind` (what the domain runs) and the gateway in its environment.
    private func renderDomain(_ name: String, address: String, port: Int, mac: String, gateway: String?, kind: String) throws -> DomainDefinition {
        let r = Subprocess.runBlocking(["/usr/bin/env", kind, "LAB_GATEWAY=\(gateway ?? "")",
                                        "/bin/bash", repoRoot + "/scripts/lab/domain-xml", name, address, "\(port)", mac],
                                       timeout: 10, what: "scripts/lab/domain-xml")
        guard r.status == 0 else { throw Unavailable(description: "scripts/lab/domain-xml \(name) failed: \(r.output)") }
        return DomainDefinition(name: name, xml: r.output)
    }
}

