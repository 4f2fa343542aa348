// swift-tools-version:6.1
// Tandem: an LVS director controller and active-active service fabric for grid services.
//
// Targets are grouped by area. Each area owns its own array below, so work on one area
// does not touch another's lines. See docs/architecture.md for what each module does.
import PackageDescription

let swift6: [SwiftSetting] = [.swiftLanguageMode(.v6)]

// MARK: - Shared: small pure helpers more than one area needs
let sharedTargets: [Target] = [
    // SHA-256 and HMAC-SHA256, for VRRP's authenticated adverts and HTTP checks' body digests.
    .target(name: "Digest", swiftSettings: swift6),
    .testTarget(name: "DigestTests", dependencies: ["Digest"], swiftSettings: swift6),
]

// MARK: - Foundation: topology model, validation, placement (issue 2)
let topologyTargets: [Target] = [
    .target(
        name: "Topology",
        dependencies: [.product(name: "Yams", package: "Yams")],
        swiftSettings: swift6),
    .target(
        name: "Placement",
        dependencies: ["Topology"],
        swiftSettings: swift6),
    .testTarget(
        name: "TopologyTests",
        dependencies: ["Topology"],
        resources: [.copy("Fixtures")],
        swiftSettings: swift6),
    .testTarget(name: "PlacementTests", dependencies: ["Placement", "Topology"], swiftSettings: swift6),
]

// MARK: - Kernel: libnl, IPVS, reconciler (issue 3)
let kernelTargets: [Target] = [
    .systemLibrary(
        name: "CLibNL",
        pkgConfig: "libnl-genl-3.0",
        providers: [.apt(["libnl-3-dev", "libnl-genl-3-dev"])]),
    .target(
        name: "Netlink",
        dependencies: ["CLibNL"],
        swiftSettings: swift6),
    .target(
        name: "IPVS",
        dependencies: ["Netlink"],
        swiftSettings: swift6),
    .target(
        name: "Reconciler",
        dependencies: ["IPVS", "Topology", .product(name: "Logging", package: "swift-log")],
        swiftSettings: swift6),
    .testTarget(
        name: "IPVSTests",
        dependencies: ["IPVS", "Netlink"],
        swiftSettings: swift6),
    .testTarget(
        name: "ReconcilerTests",
        dependencies: ["Reconciler", "IPVS", "Topology"],
        swiftSettings: swift6),
    .testTarget(
        name: "KernelTests",
        dependencies: ["Reconciler", "IPVS", "Netlink", "Topology"],
        swiftSettings: swift6),
]

// MARK: - Database: libmariadb client layer (issue 4)
let databaseTargets: [Target] = [
    .systemLibrary(
        name: "CMariaDB",
        pkgConfig: "libmariadb",
        providers: [.apt(["libmariadb-dev"])]),
    .target(
        name: "MariaDB",
        dependencies: ["CMariaDB", "RingHealth", .product(name: "Logging", package: "swift-log")],
        swiftSettings: swift6),
    // The real-ring fixture (scripts/ring up) that MariaDBTests, GridServicesTests and RingCheckTests share.
    .target(
        name: "RingTestSupport",
        dependencies: ["MariaDB"],
        path: "Tests/RingTestSupport",
        swiftSettings: swift6),
    .testTarget(
        name: "MariaDBTests",
        dependencies: ["MariaDB", "RingTestSupport"],
        swiftSettings: swift6),
]

// MARK: - Grid services and the stress client (issue 4)
let gridTargets: [Target] = [
    .target(
        name: "GridServices",
        dependencies: [
            "MariaDB",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ],
        swiftSettings: swift6),
    .target(
        name: "StressClient",
        dependencies: ["GridServices", .product(name: "Histogram", package: "hdrhistogram-swift")],
        swiftSettings: swift6),
    .executableTarget(
        name: "gridsvc",
        dependencies: [
            "GridServices", "MariaDB",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ],
        swiftSettings: swift6),
    .executableTarget(
        name: "tandem-stress",
        dependencies: ["StressClient", "GridServices", .product(name: "ArgumentParser", package: "swift-argument-parser")],
        swiftSettings: swift6),
    .testTarget(
        name: "GridServicesTests",
        dependencies: ["GridServices", "StressClient", "MariaDB", "RingTestSupport", .product(name: "Logging", package: "swift-log"),
                       .product(name: "NIOCore", package: "swift-nio")],
        swiftSettings: swift6),
    .testTarget(
        name: "StressClientTests",
        dependencies: ["StressClient", "GridServices"],
        swiftSettings: swift6),
]

// MARK: - Executables (thin: parse flags, wire modules, run)
let executableTargets: [Target] = [
    .executableTarget(
        name: "tandemctl",
        dependencies: [
            "Topology", "Placement", "IPVS", "Reconciler", "Daemon", "HealthCheck", "RingHealth",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ],
        swiftSettings: swift6),
    .executableTarget(name: "tandem-bench-placement", dependencies: ["Topology", "Placement"], path: "Sources/Benchmarks/PlacementBench", swiftSettings: swift6),
]

// MARK: - Director pair: VRRP (issue 6)
let directorTargets: [Target] = [
    .target(
        name: "VRRP",
        dependencies: ["Topology", "Digest"],
        swiftSettings: swift6),
    .target(
        name: "VRRPTransport",
        dependencies: ["VRRP", "Topology", "Digest", .product(name: "Logging", package: "swift-log")],
        swiftSettings: swift6),
    .executableTarget(
        name: "tandem-vrrp",
        dependencies: [
            "VRRP", "VRRPTransport", "Topology",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ],
        swiftSettings: swift6),
    .testTarget(
        name: "VRRPTests",
        dependencies: ["VRRP", "VRRPTransport", "Topology", "Digest"],
        swiftSettings: swift6),
    .testTarget(
        name: "DirectorInteropTests",
        dependencies: ["tandem-vrrp"],
        swiftSettings: swift6),
]

// MARK: - Health checks and the daemon (issue 5)
let daemonTargets: [Target] = [
    .target(
        name: "HealthCheck",
        dependencies: [
            "Topology", "MariaDB", "Digest", "RingHealth", "CTandemOpenSSL",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            // Non-blocking sockets for the checks. swift-nio is already in the graph through
            // Hummingbird, so naming it costs no build time; it keeps the dependency explicit.
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "HummingbirdCore", package: "hummingbird"),
        ],
        swiftSettings: swift6),
    .target(
        name: "Daemon",
        dependencies: [
            "HealthCheck", "Topology", "IPVS", "Reconciler", "Netlink", "VRRP", "VRRPTransport", "RingHealth",
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Prometheus", package: "swift-prometheus"),
        ],
        swiftSettings: swift6),
    .executableTarget(
        name: "tandemd",
        dependencies: [
            "Daemon",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ],
        swiftSettings: swift6),
    .executableTarget(
        name: "tandem-bench-health",
        dependencies: ["HealthCheck", "Topology", .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio")],
        path: "Sources/Benchmarks/HealthBench",
        swiftSettings: swift6),
    // The system OpenSSL (Debian libssl-dev) for HTTPS checks: client handshake over memory BIOs.
    // A system library costs no C build, unlike swift-nio-ssl's bundled BoringSSL.
    .systemLibrary(
        name: "CTandemOpenSSL",
        pkgConfig: "openssl",
        providers: [.apt(["libssl-dev"])]),
    // Pure judgement of a MariaDB replication ring from heartbeats and slave status (no I/O).
    .target(name: "RingHealth", swiftSettings: swift6),
    .testTarget(name: "RingHealthTests", dependencies: ["RingHealth"], swiftSettings: swift6),
    // The ring monitor against a real 3-node ring started with scripts/ring.
    .testTarget(
        name: "RingCheckTests",
        dependencies: ["HealthCheck", "RingHealth", "MariaDB", "Topology", "RingTestSupport"],
        swiftSettings: swift6),
    .testTarget(
        name: "HealthCheckTests",
        dependencies: ["HealthCheck", "Topology", "Digest"],
        swiftSettings: swift6),
    .testTarget(
        name: "DaemonTests",
        dependencies: ["Daemon", "HealthCheck", "Topology", "IPVS", "Reconciler", "VRRP", "VRRPTransport", "RingHealth",
                       "MariaDB", "RingTestSupport"],
        exclude: ["Fixtures"],
        swiftSettings: swift6),
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
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.0.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.1.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
    ],
    targets: sharedTargets + topologyTargets + kernelTargets + databaseTargets + gridTargets + executableTargets + directorTargets + daemonTargets
)
