// swift-tools-version:6.1
// Tandem: an LVS director controller and active-active service fabric for grid services.
//
// Targets are grouped by layer, as the folders are (docs/architecture.md draws the same tree):
//   Sources/Core      the pure core: model, placement, protocols, policies, planners (no I/O)
//   Sources/System    the system edges: C shims, one syscall wrapper, netlink, IPVS, MariaDB, VRRP transport
//   Sources/Services  the long-lived services: health checks, the ring monitor, the daemon
//   Sources/Grid      the grid services (VOMS/GUMS/SAZ-like) and their stress client
//   Sources/Apps      the executables: thin, they parse flags and wire modules
//   Tests/Support     shared test support: ManualClock, the real-ring fixture, the test HTTP server
// A module may import its own layer and the layers above it in this list, never one below.
import PackageDescription

let swift6: [SwiftSetting] = [.swiftLanguageMode(.v6)]
let log = Target.Dependency.product(name: "Logging", package: "swift-log")
let lifecycle = Target.Dependency.product(name: "ServiceLifecycle", package: "swift-service-lifecycle")
let nioCore = Target.Dependency.product(name: "NIOCore", package: "swift-nio")
let nioPosix = Target.Dependency.product(name: "NIOPosix", package: "swift-nio")
// NIOHTTP1's C parser, llhttp (the CNIOLLHTTP module), comes with this product; HTTPWire calls it directly.
let nioHTTP1 = Target.Dependency.product(name: "NIOHTTP1", package: "swift-nio")
let prometheus = Target.Dependency.product(name: "Prometheus", package: "swift-prometheus")
let argumentParser = Target.Dependency.product(name: "ArgumentParser", package: "swift-argument-parser")

func core(_ name: String, _ deps: [Target.Dependency] = []) -> Target {
    .target(name: name, dependencies: deps, path: "Sources/Core/\(name)", swiftSettings: swift6)
}
func system(_ name: String, _ deps: [Target.Dependency] = []) -> Target {
    .target(name: name, dependencies: deps, path: "Sources/System/\(name)", swiftSettings: swift6)
}
func service(_ name: String, _ deps: [Target.Dependency]) -> Target {
    .target(name: name, dependencies: deps, path: "Sources/Services/\(name)", swiftSettings: swift6)
}
func grid(_ name: String, _ deps: [Target.Dependency]) -> Target {
    .target(name: name, dependencies: deps, path: "Sources/Grid/\(name)", swiftSettings: swift6)
}
func app(_ name: String, _ deps: [Target.Dependency]) -> Target {
    .executableTarget(name: name, dependencies: deps, path: "Sources/Apps/\(name)", swiftSettings: swift6)
}
func tests(_ name: String, _ deps: [Target.Dependency], exclude: [String] = [], resources: [Resource]? = nil) -> Target {
    .testTarget(name: name, dependencies: deps, exclude: exclude, resources: resources, swiftSettings: swift6)
}

// MARK: - Core: pure, no I/O
let coreTargets: [Target] = [
    // The one address type, duration formatting, the seeded generator.
    core("Net"),
    core("Topology", ["Net", .product(name: "Yams", package: "Yams")]),
    core("Placement", ["Topology"]),
    // VRRPv3 (RFC 5798) codec and election, the fast detector, the split-brain rule.
    // Authenticated adverts name a MessageAuthenticator protocol; System's Cryptography implements it.
    core("VRRP", ["Net"]),
    // The kernel IPVS table as values: services, destinations, operations, the access protocol.
    core("IPVSModel", ["Net"]),
    // desired(topology, weights) → plan(desired, observed) → the one reconcile engine.
    core("Reconcile", ["IPVSModel", "Topology", "Net"]),
    // Judges a MariaDB ring from observations; the single-writer policy.
    core("RingHealth", ["Net"]),
    // Rise/fall, jitter, the passive-silence judge, health → weights.
    core("Health", ["Topology", "IPVSModel", "Reconcile", "RingHealth", "Net"]),
    // What tandemd's API answers, shared by the daemon and tandemctl.
    core("DaemonAPI", ["RingHealth"]),
    // Hypervisor hosts: what the controller needs from a host, fence-agent results, and the host
    // controller (lost host → fence → restore on survivors) as a pure state machine.
    core("Hosts", ["Placement", "Topology", "Net"]),
    // keepalived.conf read as keepalived reads it, imported into a topology and exported from one.
    core("Keepalived", ["Topology", "Net"]),
    // What tandem-stress reports (its JSON): written by the stress client, read by the drills.
    core("LoadReport"),
    // Drills as values: kinds, the drill file, the drill state machine, the analysis of probe
    // slots and director samples into figures, the verdict, and the reports (HTML with SVG, JSON, text).
    core("Drill", ["Topology", "DaemonAPI", "LoadReport", "Net", .product(name: "Yams", package: "Yams")]),
]

// MARK: - System edges: the only code that talks to the kernel, libraries and the network
let systemTargets: [Target] = [
    .systemLibrary(name: "CLibNL", path: "Sources/System/CLibNL", pkgConfig: "libnl-genl-3.0",
                   providers: [.apt(["libnl-3-dev", "libnl-genl-3-dev"])]),
    .systemLibrary(name: "CMariaDB", path: "Sources/System/CMariaDB", pkgConfig: "libmariadb",
                   providers: [.apt(["libmariadb-dev"])]),
    // The system OpenSSL (Debian libssl-dev): HTTPS checks' client handshake over memory BIOs, and
    // libcrypto's digests for Cryptography. A system library costs no C build, unlike swift-nio-ssl's or
    // swift-crypto's bundled BoringSSL.
    // libvirt (Debian libvirt-dev, 9.0): the hypervisor hosts' API, whatever the hypervisor (Xen,
    // KVM, LXC); only the Hypervisor module imports it.
    .systemLibrary(name: "CLibvirt", path: "Sources/System/CLibvirt", pkgConfig: "libvirt",
                   providers: [.apt(["libvirt-dev"])]),
    .systemLibrary(name: "CTandemOpenSSL", path: "Sources/System/CTandemOpenSSL", pkgConfig: "openssl",
                   providers: [.apt(["libssl-dev"])]),
    // One wrapper for system calls: typed errors naming the call, EINTR retried; the secret reader;
    // systemd's notification protocol.
    system("Syscall"),
    // The commit a binary was built from: a C file that includes the header scripts/build-deb writes
    // (`commit.h`, git-ignored), so that a plain `swift build` says "unknown".
    .target(name: "CBuildInfo", path: "Sources/System/CBuildInfo"),
    // Version and commit, for every executable's --version and tandemd's tandem_build_info.
    system("BuildInfo", ["CBuildInfo"]),
    // The one log handler of every executable (journal or plain lines) and its --log-level.
    system("LogOutput", [log, argumentParser]),
    // SHA-256, HMAC-SHA256 (VRRP's MessageAuthenticator) and a constant-time compare, from libcrypto.
    system("Cryptography", ["CTandemOpenSSL", "VRRP"]),
    // HTTP/1.x parsing on llhttp: the one response parser (health checks, the stress client, the tests'
    // clients) and the llhttp driver gridsvc's request parser is built on.
    system("HTTPWire", [nioHTTP1]),
    system("Netlink", ["CLibNL"]),
    system("IPVS", ["Netlink", "IPVSModel", "Net"]),
    system("MariaDB", ["CMariaDB", log, nioPosix]),
    system("VRRPTransport", ["VRRP", "Topology", "Syscall", "Net", "Cryptography", log]),
    // Hosts through libvirt: one wrapper per C call, a connection on its own threads with
    // keepalive, the close callback and lifecycle events; the controller's HypervisorHost.
    system("Hypervisor", ["CLibvirt", "Hosts", log, nioPosix]),
    // Runs fence agents with the standard stdin protocol, bounded in time, secrets on stdin only.
    system("Fencing", ["Hosts", "Topology", "Syscall", "Net", log]),
    // Tandem's YAML files read from disk (a regular file, a size bound) for the pure loaders.
    system("TopologyFiles", ["Topology", "Drill", "Hosts", "Syscall"]),
    // The host lab's driver (scripts/lab/hosts): its hosts, faults, virsh, the lab site, HTTP from
    // the lab's switch namespace, and which domains have live processes on which host. Shared by
    // the hypervisor tests and the host drills.
    system("HostLab", ["Hosts", "Fencing", "Placement", "Topology", "Syscall", "Net", nioPosix]),
]

// MARK: - Services: long-lived parts of tandemd
let serviceTargets: [Target] = [
    service("HealthCheck", ["Health", "HTTPWire", "Syscall", "Topology", "MariaDB", "Cryptography", "CTandemOpenSSL", "Net", log, lifecycle, nioCore, nioPosix]),
    service("RingMonitoring", ["HealthCheck", "Syscall", "Health", "RingHealth", "MariaDB", "Topology", log, lifecycle, nioPosix]),
    // Runs the host controller against the hosts: connections, checks, fences, starts, timers.
    service("HostControl", ["Hosts", "Fencing", "Placement", "Net", log, lifecycle]),
    // HostControl over a HostLab lab (the rig the hypervisor tests use) and the host drills:
    // faults, a bounded client of the affected pairs, the running-twice sampler, the report; with a
    // director in front (tandemd and IPVS in a UML kernel), the VIPs' clients and tandemd's /status.
    service("HostDrill", ["HostLab", "HostControl", "Hosts", "Hypervisor", "Fencing", "Placement", "DaemonAPI", "Net", log]),
    // Runs drills and acceptance tests on a site: fault hooks, the tandem-stress probe, the
    // directors' /status polled, the drill machine's actions executed, reports written.
    service("DrillRunner", ["Drill", "DaemonAPI", "LoadReport", "Topology", "HTTPWire", "Syscall", "Net"]),
    service("Daemon", [
        "TopologyFiles",
        "HealthCheck", "RingMonitoring", "Health", "DaemonAPI", "Topology", "IPVS", "IPVSModel", "Reconcile",
        "VRRP", "VRRPTransport", "RingHealth", "Net", "Syscall", "Cryptography", "BuildInfo",
        "Hosts", "HostControl", "Hypervisor", "Fencing", "Placement",
        nioPosix, log, lifecycle,
        .product(name: "UnixSignals", package: "swift-service-lifecycle"),
        .product(name: "Hummingbird", package: "hummingbird"),
        prometheus,
    ]),
]

// MARK: - Grid services and their stress client
let gridTargets: [Target] = [
    // Pure grid logic both sides share: the seeded data set, DNs, lease partitions.
    grid("GridModel", ["Net"]),
    grid("GridServices", ["GridModel", "HTTPWire", "MariaDB", "Syscall", "Net", nioCore, nioPosix, log, lifecycle, prometheus]),
    grid("StressClient", ["GridModel", "HTTPWire", "LoadReport", "Net", "Syscall", .product(name: "Histogram", package: "hdrhistogram-swift")]),
]

// MARK: - Executables (thin: parse flags, wire modules, run)
let appTargets: [Target] = [
    app("tandemd", ["Daemon", "BuildInfo", "LogOutput", argumentParser, log]),
    app("tandemctl", ["Topology", "TopologyFiles", "Placement", "Keepalived", "Net", "IPVS", "IPVSModel", "Reconcile", "DaemonAPI", "RingMonitoring", "RingHealth", "Syscall",
                      "Drill", "DrillRunner", "LoadReport", "Hosts", "Hypervisor", "BuildInfo", "LogOutput", argumentParser, log]),
    app("tandem-vrrp", ["VRRP", "TopologyFiles", "VRRPTransport", "Topology", "Syscall", "Net", "BuildInfo", "LogOutput", argumentParser, log,
                        .product(name: "UnixSignals", package: "swift-service-lifecycle")]),
    app("gridsvc", ["GridServices", "GridModel", "MariaDB", "Syscall", "BuildInfo", "LogOutput", argumentParser, log, lifecycle]),
    app("tandem-stress", ["StressClient", "GridModel", "LoadReport", "BuildInfo", "LogOutput", argumentParser]),
    app("tandem-bench-placement", ["Topology", "Placement", "Net"]),
    app("tandem-bench-health", ["HealthCheck", "HTTPWire", "Health", "Topology", "Net", nioCore, nioPosix,
                                nioHTTP1,
                                .product(name: "NIOEmbedded", package: "swift-nio")]),
    app("tandem-bench-ipvs", ["IPVS", "IPVSModel", "Reconcile", "Net", argumentParser]),
    app("tandem-bench-hosts", ["HostDrill", "HostLab", "LogOutput", argumentParser]),
    app("tandem-bench-daemon", ["IPVS", "IPVSModel", "DaemonAPI", "Net", "Syscall", nioCore, nioPosix, argumentParser]),
]

// MARK: - Tests: one target per library, real-kernel and real-MariaDB tiers included
let testTargets: [Target] = [
    .target(name: "TestSupport", dependencies: ["MariaDB", "Syscall", "Hosts", "HostControl"], path: "Tests/Support", swiftSettings: swift6),
    tests("NetTests", ["Net"]),
    tests("CryptographyTests", ["Cryptography"]),
    tests("SyscallTests", ["Syscall"]),
    tests("LogOutputTests", ["LogOutput", log, argumentParser]),
    tests("DaemonAPITests", ["DaemonAPI"]),
    // Yams, to count a file's entries independently of the loader in the fuzz corpus.
    tests("TopologyTests", ["TopologyFiles", "Topology", "Net", .product(name: "Yams", package: "Yams")], resources: [.copy("Fixtures")]),
    tests("PlacementTests", ["TopologyFiles", "Placement", "Topology", "Net"]),
    tests("HostsTests", ["Hosts", "Placement", "Topology", "Net"]),
    // The fence-agent runner against scripted agents and Debian's fence_dummy.
    tests("FencingTests", ["Fencing", "Hosts", "Topology", "Syscall", log]),
    // The host controller's loop with recording hosts.
    tests("HostControlTests", ["HostControl", "Hosts", "Fencing", "Placement", "Topology", "Net", "TestSupport", log]),
    // Real libvirtd hosts (scripts/lab/hosts): the edge, the fence agent, crash/hang/partition restores.
    // The host drills' verdicts and report, on trials made by hand.
    tests("HostDrillTests", ["HostDrill"]),
    tests("HypervisorTests", ["HostLab", "HostDrill", "Hypervisor", "Hosts", "HostControl", "Fencing", "Placement", "Topology", "Net", "Syscall",
                              "TestSupport", "Daemon", "DaemonAPI", "HealthCheck", "Health", log, nioPosix]),
    // keepalived's own samples are read where the Debian package installs them (Fixtures/README.md).
    tests("KeepalivedTests", ["TopologyFiles", "Keepalived", "Topology", "Net", "Syscall", "TestSupport"], exclude: ["Fixtures"]),
    tests("VRRPTests", ["VRRP", "VRRPTransport", "Topology", "Cryptography", "Net"], exclude: ["Corpus"]),
    tests("IPVSTests", ["IPVS", "IPVSModel", "Netlink", "Net"]),
    tests("ReconcileTests", ["Reconcile", "IPVSModel", "Topology", "Net"]),
    tests("KernelTests", ["TopologyFiles", "Reconcile", "IPVS", "IPVSModel", "Netlink", "Topology", "Net"]),
    tests("RingHealthTests", ["RingHealth"]),
    tests("HTTPWireTests", ["HTTPWire"]),
    tests("MariaDBTests", ["MariaDB", "Net", "TestSupport"]),
    tests("HealthCheckTests", ["HealthCheck", "HTTPWire", "Health", "Topology", "Cryptography", "Net", "TestSupport"]),
    tests("RingMonitoringTests", ["RingMonitoring", "HealthCheck", "Health", "RingHealth", "MariaDB", "Topology", "Net", "TestSupport"]),
    tests("DaemonTests", ["TopologyFiles", "Daemon", "HealthCheck", "Health", "DaemonAPI", "Topology", "IPVS", "IPVSModel", "Reconcile",
                          "VRRP", "VRRPTransport", "RingHealth", "RingMonitoring", "Net", "TestSupport", "Hosts", "HostControl", "Fencing", "Placement"],
          exclude: ["Fixtures"]),
    tests("DirectorInteropTests", ["tandem-vrrp", "TestSupport"]),
    // tandemctl as scripts see it: the built executable, its output and exit statuses, against a
    // dry-run tandemd on loopback (the real-kernel half is in DaemonTests' uml-daemon.sh).
    tests("TandemCtlTests", ["DaemonAPI", "Syscall", "TestSupport"]),
    // An installed Tandem as an operator meets it: systemd notices, exit statuses, journal lines,
    // versions, the metrics listener, and every secret path refusing a loose file.
    tests("OperationsTests", ["Syscall", "HealthCheck", "RingMonitoring", "VRRPTransport", "Topology", "Net", "TestSupport"]),
    // HTTPCorpus: the request parser's fuzz corpus, read from the source tree.
    tests("GridServicesTests", ["GridServices", "GridModel", "StressClient", "HTTPWire", "Net", "MariaDB", "Syscall", "TestSupport", log, nioCore],
          exclude: ["HTTPCorpus"]),
    tests("StressClientTests", ["StressClient", "GridModel", "LoadReport", "HTTPWire", "Net", "TestSupport"]),
    // Drill logic as event lines, the analysis on synthetic series, the drill file, the reports.
    tests("DrillTests", ["TopologyFiles", "Drill", "Topology", "DaemonAPI", "LoadReport", "Net"]),
    // The runner end to end on loopback: a dry-run tandemd, gridsvc backends, real hooks and probe.
    tests("DrillRunnerTests", ["TopologyFiles", "DrillRunner", "Drill", "DaemonAPI", "LoadReport", "Topology", "Syscall", "TestSupport"]),
]

let package = Package(
    name: "Tandem",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "tandemctl", targets: ["tandemctl"]),
        .executable(name: "tandemd", targets: ["tandemd"]),
        .executable(name: "gridsvc", targets: ["gridsvc"]),
        .executable(name: "tandem-stress", targets: ["tandem-stress"]),
        .executable(name: "tandem-vrrp", targets: ["tandem-vrrp"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.0.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.1.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
    ],
    targets: coreTargets + systemTargets + serviceTargets + gridTargets + appTargets + testTargets
)
