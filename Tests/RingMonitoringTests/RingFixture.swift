import Foundation
import HealthCheck
import MariaDB
import RingHealth
import TestSupport
import RingMonitoring

/// The ring-monitor tests start a real 3-node ring per test (``RealRing`` from RingTestSupport, ~2-4 s),
/// so a scenario that breaks the ring cannot leak into the next one. These are the monitor's views of it.
extension RealRing {
    /// A 3-node ring (by default) in a private state dir.
    static func start() throws -> RealRing { try start(nodes: 3, label: "ringcheck") }

    func name(_ n: Int) -> String { "node\(n)" }

    var members: [RingMemberAddress] { (1...nodes).map { RingMemberAddress(name: name($0), host: "127.0.0.1", port: UInt16(port($0))) } }

    func monitorConfig(policy: RingHealthPolicy) throws -> RingMonitorConfig {
        RingMonitorConfig(members: members, user: "monitor", password: try password("monitor"), monitorName: "ringcheck-test", policy: policy)
    }

    /// Root over node `n`'s unix socket (root has no TCP account).
    func root(_ n: Int) async throws -> MariaDBConnection { try await MariaDBConnection.connect(try rootConfig(n)) }

    /// Monitor user over TCP to node `n`.
    func monitor(_ n: Int) async throws -> MariaDBConnection { try await MariaDBConnection.connect(try monitorConfig(n)) }
}
