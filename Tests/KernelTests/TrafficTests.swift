import Foundation
import IPVS
import Reconcile
import Topology
import XCTest
import IPVSModel
import Net

/// Real TCP through a NAT VIP: a client namespace, the director (the UML's root namespace) and two
/// real-server namespaces, all inside one UML.
final class TrafficTests: XCTestCase {
    static let server = """
    import os, socket, sys
    # Drop every descriptor inherited from the test process, so the test's child-exit
    # bookkeeping is not held open by this long-lived server.
    os.closerange(3, 4096)
    name = sys.argv[1].encode()
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", 80))
    s.listen(128)
    while True:
        c, _ = s.accept()
        c.sendall(name + b"\\n")
        c.close()
    """
    static let client = """
    import socket, sys, json, collections
    counts = collections.Counter()
    for i in range(int(sys.argv[2])):
        c = socket.create_connection((sys.argv[1], 80), timeout=5)
        data = b""
        while not data.endswith(b"\\n"):
            chunk = c.recv(64)
            if not chunk: break
            data += chunk
        c.close()
        counts[data.decode().strip()] += 1
    print(json.dumps(counts, sort_keys=True))
    """

    static func addr(_ s: String) -> IPAddress { IPAddress(s)! }

    func topology(scheduler: Scheduler) -> Topology {
        let vms = [
            DomU(name: "r1", role: .other, vcpus: 1, memoryMiB: 256, addresses: [InterfaceAddress(address: Self.addr("10.2.0.2"))]),
            DomU(name: "r2", role: .other, vcpus: 1, memoryMiB: 256, addresses: [InterfaceAddress(address: Self.addr("10.3.0.2"))]),
        ]
        let svc = VirtualService(name: "web", vip: Self.addr("10.9.9.9"), port: 80, scheduler: scheduler, forwarding: .nat,
                                 members: [ServiceMember(vm: "r1", port: 80, weight: 1), ServiceMember(vm: "r2", port: 80, weight: 1)],
                                 check: HealthCheckSpec(kind: .tcp))
        return Topology(site: "lab", hosts: [], vms: vms, services: [svc])
    }

    func counts(_ n: Int) throws -> [String: Int] {
        note("client: \(n) connections")
        let out = must("timeout 40 ip netns exec c /usr/bin/python3 /tmp/client.py 10.9.9.9 \(n)")
        note("client: \(out)")
        return try JSONDecoder().decode([String: Int].self, from: Data(out.utf8))
    }

    func testNATTrafficThroughTheVIPIsDistributedAcrossTwoRealServers() throws {
        try inKernel(timeout: 120) {
            try Self.server.write(toFile: "/tmp/server.py", atomically: true, encoding: .utf8)
            try Self.client.write(toFile: "/tmp/client.py", atomically: true, encoding: .utf8)
            note("setting up namespaces")
            must("""
            set -e
            sysctl -qw net.ipv4.ip_forward=1
            ip addr add 10.9.9.9/32 dev lo
            n=1
            for ns in c r1 r2; do
                n=$((n+1))
                ip netns add $ns
                ip link add v$ns type veth peer name eth0 netns $ns
                ip addr add 10.$((n-1)).0.1/24 dev v$ns
                ip link set v$ns up
                ip -n $ns addr add 10.$((n-1)).0.2/24 dev eth0
                ip -n $ns link set eth0 up
                ip -n $ns link set lo up
                ip -n $ns route add default via 10.$((n-1)).0.1
            done
            setsid ip netns exec r1 /usr/bin/python3 /tmp/server.py r1 </dev/null >/dev/null 2>&1 &
            setsid ip netns exec r2 /usr/bin/python3 /tmp/server.py r2 </dev/null >/dev/null 2>&1 &
            for i in $(seq 1 100); do
                if timeout 2 ip netns exec c bash -c 'exec 3<>/dev/tcp/10.2.0.2/80 && exec 3<>/dev/tcp/10.3.0.2/80' 2>/dev/null; then break; fi
                sleep 0.1
            done
            """)
            note("namespaces ready")
            let client = try IPVSClient()
            let vip = ServiceKey.address(.tcp, IPAddress("10.9.9.9")!, port: 80)

            // Round robin, equal weights: an even split.
            try reconcile(desired(topology(scheduler: .rr)), table: client)
            XCTAssertEqual(try counts(20), ["r1": 10, "r2": 10])
            let snap = try XCTUnwrap(try client.snapshot().first { $0.service.key == vip })
            XCTAssertEqual(snap.destinations.map { $0.activeConnections + $0.inactiveConnections }, [10, 10],
                           "per-destination connection counters")

            // Weighted round robin 3:1 via weight overrides: an edit in place, then a 15/5 split.
            let weighted = desired(topology(scheduler: .wrr), weights: [MemberRef(service: "web", member: "r1"): 3])
            let ops = try reconcile(weighted, table: client)
            XCTAssertEqual(ops.count, 2, "\(ops)") // edit-service + edit-destination
            XCTAssertEqual(try counts(20), ["r1": 15, "r2": 5])

            // Drain r2: weight 0, destination kept, no new connections go there.
            try reconcile(desired(topology(scheduler: .wrr), weights: [MemberRef(service: "web", member: "r2"): 0]), table: client)
            XCTAssertEqual(try client.state(of: [vip]).services[vip]?.destinations.count, 2)
            XCTAssertEqual(try counts(10), ["r1": 10])

            // Service counters (the kernel folds them in every ~2 s).
            Thread.sleep(forTimeInterval: 2.5)
            let total = try XCTUnwrap(try client.snapshot().first { $0.service.key == vip })
            XCTAssertEqual(total.stats.connections, 50)
            XCTAssertGreaterThan(total.stats.inPackets, 0)
            print("KERNEL: traffic ok: rr 10/10, wrr 15/5, drained 10/0, \(total.stats.connections) connections counted")
        }
    }
}
