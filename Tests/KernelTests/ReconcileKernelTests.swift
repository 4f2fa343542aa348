import Foundation
import IPVS
import Netlink
import Reconcile
import Topology
import XCTest
import IPVSModel
import Net
import TopologyFiles

private func ip(_ s: String) -> IPAddress { IPAddress(s)! }

/// A small site: IPv4 NAT with persistence, IPv6 DR with mh flags, an fwmark tunnel service.
let reconcileTopologyYAML = """
site: kerneltest
hosts:
  - {name: h1, address: 192.0.2.1, cpus: 4, memory: 8GiB}
  - {name: h2, address: 192.0.2.2, cpus: 4, memory: 8GiB}
vms:
  - {name: a, role: voms, vcpus: 1, memory: 1GiB, addresses: [10.1.0.1/24, "fd00::a/64"]}
  - {name: b, role: voms, vcpus: 1, memory: 1GiB, addresses: [10.1.0.2/24, "fd00::b/64"]}
services:
  - name: voms
    vip: 10.0.0.11
    port: 8443
    scheduler: wlc
    forwarding: nat
    persistence: {timeout: 300s, netmask: 255.255.255.0}
    members:
      - {vm: a, port: 8443, weight: 100}
      - {vm: b, port: 8443, weight: 50}
    check: {kind: tcp, interval: 1s, timeout: 1s}
  - name: voms6
    vip: "fd00::11"
    port: 8443
    scheduler: mh
    scheduler_flags: [mh-port]
    forwarding: dr
    members:
      - {vm: a, port: 8443}
      - {vm: b, port: 8443}
    check: {kind: tcp, interval: 1s, timeout: 1s}
"""

final class ReconcileKernelTests: XCTestCase {
    func writeTopology(_ text: String, name: String = "site.yaml") throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent(name)
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    /// `$TANDEMCTL`, or the tandemctl built beside this test bundle.
    var tandemctl: String {
        ProcessInfo.processInfo.environment["TANDEMCTL"] ?? UML.productsDirectory.appendingPathComponent("tandemctl").path
    }

    func testReconcileFromEmptyPartlyWrongAndBesideUnrelatedServicesThenIdempotent() throws {
        try inKernel {
            let client = try IPVSClient()
            // A service somebody added by hand: not the topology's, must survive everything.
            must("ipvsadm -A -t 10.0.0.99:22 -s rr && ipvsadm -a -t 10.0.0.99:22 -r 10.0.5.5:22 -m -w 7")
            let unrelated = ServiceKey.address(.tcp, ip("10.0.0.99"), port: 22)
            let unrelatedBefore = try client.state(of: [unrelated])

            let file = try writeTopology(reconcileTopologyYAML)
            let topology = try TopologyLoader.load(path: file)
            let want = desired(topology)
            XCTAssertEqual(want.services.count, 2)
            XCTAssertEqual(want.destinationCount, 4)

            // From empty.
            let first = try reconcile(want, table: client)
            XCTAssertEqual(first.count, 6, "\(first)")
            XCTAssertEqual(try client.state(of: want.services.keys), want)
            XCTAssertEqual(try client.state(of: [unrelated]), unrelatedBefore)

            // Idempotence: the second pass plans nothing and writes nothing.
            XCTAssertEqual(try reconcile(want, table: client), [])
            let engine = ReconcileEngine(table: client)
            try engine.synchronize(want)
            XCTAssertEqual(try engine.pass().operations, [], "nothing changed: nothing written")

            // Partly wrong, by hand: scheduler, a weight, a missing and an extra destination.
            must("ipvsadm -E -t 10.0.0.11:8443 -s rr -p 300 -M 255.255.255.0")
            must("ipvsadm -e -t 10.0.0.11:8443 -r 10.1.0.1:8443 -m -w 1")
            must("ipvsadm -d -t 10.0.0.11:8443 -r 10.1.0.2:8443")
            must("ipvsadm -a -t 10.0.0.11:8443 -r 10.1.0.3:8443 -m -w 5")
            must("ipvsadm -e -u [fd00::11]:8443 -r [fd00::a]:8443 -g -w 1 2>/dev/null; true") // (different protocol: no effect)
            let voms = ServiceKey.address(.tcp, ip("10.0.0.11"), port: 8443)
            let fixes = try reconcile(want, table: client)
            XCTAssertEqual(fixes, [
                .editService(want.services[voms]!.service),
                .deleteDestination(voms, DestinationKey(address: ip("10.1.0.3"), port: 8443)),
                .editDestination(voms, IPVSDestination(address: ip("10.1.0.1"), port: 8443, weight: 100)),
                .addDestination(voms, IPVSDestination(address: ip("10.1.0.2"), port: 8443, weight: 50)),
            ])
            XCTAssertEqual(try client.state(of: want.services.keys), want)
            XCTAssertEqual(try reconcile(want, table: client), [])
            XCTAssertEqual(try client.state(of: [unrelated]), unrelatedBefore, "the hand-made service survived")

            // The same through tandemctl's kernel-direct commands (no tandemd runs here): apply is a
            // no-op, drain/undrain flip one weight. `tandemctl apply` is the alias of `ipvs apply`.
            guard FileManager.default.isExecutableFile(atPath: tandemctl) else {
                XCTFail("\(tandemctl) missing: build it with `swift build --scratch-path .build-kernel --product tandemctl`")
                return
            }
            XCTAssertTrue(must("\(tandemctl) apply \(file)").contains("0 operations applied"))
            let drained = must("\(tandemctl) ipvs drain voms b --topology \(file)")
            XCTAssertTrue(drained.contains("edit-destination TCP 10.0.0.11:8443 -> 10.1.0.2:8443 Masq weight 0"), drained)
            XCTAssertTrue(must("ipvsadm -Ln").contains("  -> 10.1.0.2:8443                Masq    0"))
            XCTAssertEqual(try client.state(of: [voms]).services[voms]!.destinations.count, 2, "drain keeps the destination")
            XCTAssertTrue(must("\(tandemctl) ipvs apply --dry-run \(file)").contains("1 operation (dry run"))
            must("\(tandemctl) ipvs undrain voms b --topology \(file)")
            XCTAssertTrue(must("ipvsadm -Ln").contains("  -> 10.1.0.2:8443                Masq    50"))
            let list = must("\(tandemctl) ipvs list")
            XCTAssertTrue(list.contains("TCP  10.0.0.11:8443 wlc persistent 300 mask 255.255.255.0"), list)
            XCTAssertTrue(list.contains("TCP  10.0.0.99:22 rr"), list)
            let json = must("\(tandemctl) ipvs list --json")
            let decoded = try JSONDecoder().decode([ServiceSnapshot].self, from: Data(json.utf8))
            XCTAssertEqual(IPVSState(snapshots: decoded), try client.state())

            // A bad topology never reaches the kernel.
            let before = must("ipvsadm -Sn")
            let bad = try writeTopology(reconcileTopologyYAML.replacingOccurrences(of: "scheduler: wlc", with: "scheduler: fastest"), name: "bad.yaml")
            let r = sh("\(tandemctl) ipvs apply \(bad)")
            XCTAssertEqual(r.status, 1, r.output)
            XCTAssertTrue(r.output.contains("bad.yaml:"), "diagnostic names the file: \(r.output)")
            XCTAssertEqual(must("ipvsadm -Sn"), before)
            print("KERNEL: reconcile ok: \(first.count) ops from empty, \(fixes.count) fixes, then 0")
        }
    }

    func testBadInputIsATypedErrorAndTheNextPassConverges() throws {
        try inKernel {
            let client = try IPVSClient()
            let good = ServiceKey.address(.tcp, ip("10.0.0.1"), port: 80)
            let other = ServiceKey.address(.tcp, ip("10.0.0.2"), port: 80)
            let missing = ServiceKey.address(.tcp, ip("10.0.0.3"), port: 80)
            let goodDest = IPVSDestination(address: ip("10.0.1.1"), port: 80, weight: 2)
            let ops: [IPVSOperation] = [
                .addService(IPVSService(key: good, scheduler: "rr")),
                .addService(IPVSService(key: other, scheduler: "fastest")),                 // unknown scheduler
                .addService(IPVSService(key: good, scheduler: "wrr")),                      // duplicate service
                .addDestination(missing, goodDest),                                          // service missing
                .addDestination(good, IPVSDestination(address: ip("fd00::1"), port: 80)),   // wrong family for NAT
                .addDestination(good, goodDest),
            ]
            let failures = try client.execute(ops)
            for f in failures { print("KERNEL: expected failure: \(f)") }
            XCTAssertEqual(failures.map(\.operation), Array(ops[1...4]))
            XCTAssertEqual(failures.map(\.errno), [ENOENT, EEXIST, ESRCH, EINVAL])
            XCTAssertTrue(failures[0].description.contains("IPVS_CMD_NEW_SERVICE"), failures[0].description)
            // The good operations took effect despite the bad ones between them.
            XCTAssertEqual(try client.state(of: [good]).services[good]?.destinations, [goodDest.key: goodDest])

            // Single-operation path: the same typed error.
            XCTAssertThrowsError(try client.perform(.addService(IPVSService(key: good, scheduler: "rr")))) { e in
                XCTAssertEqual((e as? IPVSOperationFailure)?.errno, EEXIST)
            }

            // A reconcile pass with a bad desired state: clear error, the rest applied.
            var want = IPVSState()
            want.services[good] = ServiceState(service: IPVSService(key: good, scheduler: "wrr"),
                                               destinations: [goodDest.key: goodDest])
            want.services[other] = ServiceState(service: IPVSService(key: other, scheduler: "fastest"),
                                                destinations: [goodDest.key: goodDest])
            XCTAssertThrowsError(try reconcile(want, table: client)) { e in
                let r = e as? ReconcileError
                XCTAssertNotNil(r, "\(e)")
                XCTAssertEqual(r?.failures.map(\.errno), [ENOENT, ESRCH], "\(e)")
                print("KERNEL: \(e)")
            }
            XCTAssertEqual(try client.service(good)?.service.scheduler, "wrr", "the good edit was applied")
            // Next pass with the input fixed converges, and the one after is empty.
            want.services[other]!.service.scheduler = "lc"
            XCTAssertEqual(try reconcile(want, table: client).count, 2)
            XCTAssertEqual(try client.state(of: want.services.keys), want)
            XCTAssertEqual(try reconcile(want, table: client), [])
        }
    }
}
