import IPVSModel
import Net
import Reconcile
import XCTest

/// The one reconcile engine against a recording in-memory table: what it writes and what it reads,
/// per call. (The same engine runs against the real kernel in KernelTests and in the daemon.)
final class EngineTests: XCTestCase {
    func table(_ n: Int) -> IPVSState { engineTestTable(n) }
}

/// `n` services 10.0.0.(i+1):80, each with two destinations at weight 100.
func engineTestTable(_ n: Int) -> IPVSState {
    var s = IPVSState()
    for i in 0..<n {
        let key = ServiceKey.address(.tcp, IPAddress(ipv4: 0x0a00_0001 + UInt32(i)), port: 80)
        var d: [DestinationKey: IPVSDestination] = [:]
        for j in 0..<2 {
            let dest = IPVSDestination(address: IPAddress(ipv4: 0x0a01_0000 + UInt32(i * 2 + j)), port: 8080, weight: 100)
            d[dest.key] = dest
        }
        s.services[key] = ServiceState(service: IPVSService(key: key, scheduler: "wlc"), destinations: d)
    }
    return s
}

extension EngineTests {
    func testSynchronizeReadsEveryOwnedServiceOnceAndProgramsAnEmptyKernel() throws {
        let kernel = InMemoryIPVSTable()
        let engine = ReconcileEngine(table: kernel)
        let want = table(3)
        let pass = try engine.synchronize(want)
        XCTAssertEqual(pass.operations.count, 9, "3 services + 6 destinations")
        XCTAssertEqual(kernel.table, want)
        XCTAssertEqual(engine.observed, want)
        XCTAssertEqual(kernel.reads.first.map { Set($0) }, Set(want.services.keys), "one read of the owned keys first")
    }

    func testAWeightChangeWritesOneDestinationAndReadsBackOnlyItsService() throws {
        let kernel = InMemoryIPVSTable()
        let engine = ReconcileEngine(table: kernel)
        let want = table(1000)
        try engine.synchronize(want)
        let readsBefore = kernel.reads.count, opsBefore = kernel.operations.count
        let key = want.services.keys.sorted()[500]
        var one = want.services[key]!
        let dk = one.destinations.keys.min()!
        one.destinations[dk]!.weight = 0
        engine.setService(key, one)
        let pass = try engine.pass()
        XCTAssertEqual(pass.operations, [.editDestination(key, one.destinations[dk]!)])
        XCTAssertEqual(Array(kernel.operations[opsBefore...]), pass.operations)
        XCTAssertEqual(Array(kernel.reads[readsBefore...]), [[key]], "the read-back covers that one service only")
        XCTAssertEqual(kernel.table.services[key], one)
        XCTAssertEqual(pass.touched[key], .some(one))
    }

    func testAPassWithNothingChangedMakesNoKernelCall() throws {
        let kernel = InMemoryIPVSTable()
        let engine = ReconcileEngine(table: kernel)
        let want = table(10)
        try engine.synchronize(want)
        let before = (kernel.reads.count, kernel.operations.count)
        engine.setService(want.services.keys.first!, want.services.values.first!)   // the same state again
        XCTAssertEqual(try engine.pass().operations, [])
        XCTAssertEqual(kernel.reads.count, before.0)
        XCTAssertEqual(kernel.operations.count, before.1)
    }

    func testRepairFindsAChangeMadeBehindItsBackWithinOneSweepInBoundedChunks() throws {
        let kernel = InMemoryIPVSTable()
        let engine = ReconcileEngine(table: kernel)
        let want = table(100)
        try engine.synchronize(want)
        let victim = want.services.keys.sorted()[73]
        let dk = want.services[victim]!.destinations.keys.min()!
        kernel.tamper { $0.services[victim]!.destinations[dk]!.weight = 7 }   // ipvsadm -e by hand
        let readsBefore = kernel.reads.count
        var fixes: [IPVSOperation] = []
        var chunks = 0
        repeat {
            fixes += try engine.repair(maxServices: 8).operations
            chunks += 1
        } while engine.rotationPosition.position < engine.rotationPosition.count
        XCTAssertEqual(chunks, 13, "100 services in chunks of 8")
        XCTAssertTrue(kernel.reads[readsBefore...].allSatisfy { $0.count <= 8 || $0 == [victim] }, "no read larger than a chunk")
        XCTAssertEqual(fixes, [.editDestination(victim, want.services[victim]!.destinations[dk]!)])
        XCTAssertEqual(kernel.table, want)
    }

    func testRepairRecreatesAServiceDeletedBehindItsBack() throws {
        let kernel = InMemoryIPVSTable()
        let engine = ReconcileEngine(table: kernel)
        let want = table(4)
        try engine.synchronize(want)
        let gone = want.services.keys.sorted()[2]
        kernel.tamper { $0.services[gone] = nil }   // ipvsadm -D by hand
        var ops: [IPVSOperation] = []
        for _ in 0..<2 { ops += try engine.repair(maxServices: 2).operations }
        XCTAssertEqual(ops.first, .addService(want.services[gone]!.service))
        XCTAssertEqual(ops.count, 3)
        XCTAssertEqual(kernel.table, want)
    }

    func testARefusedOperationIsRetriedByTheNextPassNotInALoop() throws {
        let kernel = InMemoryIPVSTable()
        let engine = ReconcileEngine(table: kernel)
        let want = table(2)
        let key = want.services.keys.min()!
        kernel.refuse[.addService(want.services[key]!.service)] = 12   // ENOMEM, once
        let p1 = try engine.synchronize(want)
        XCTAssertEqual(p1.failures.map(\.errno), [12, 3, 3], "the service and then its two destinations")
        XCTAssertNil(kernel.table.services[key])
        XCTAssertTrue(engine.dirty.contains(key), "still different: marked for the next pass")
        kernel.refuse = [:]
        let p2 = try engine.pass()
        XCTAssertEqual(p2.failures, [])
        XCTAssertEqual(p2.operations.count, 3)
        XCTAssertEqual(kernel.table, want)
        XCTAssertEqual(try engine.pass().operations, [])
    }

    func testAServiceNoLongerOwnedIsLeftInTheKernelAndNeverRead() throws {
        let kernel = InMemoryIPVSTable()
        let engine = ReconcileEngine(table: kernel)
        let want = table(3)
        try engine.synchronize(want)
        let dropped = want.services.keys.min()!
        engine.setService(dropped, nil)
        XCTAssertNotNil(kernel.table.services[dropped], "ownership rule: never deleted")
        let readsBefore = kernel.reads.count
        repeat { try engine.repair(maxServices: 10) } while engine.rotationPosition.position < engine.rotationPosition.count
        XCTAssertFalse(kernel.reads[readsBefore...].joined().contains(dropped))
    }
}

/// Services taken out of the topology leave the kernel; services never owned stay.
final class ReleaseTests: XCTestCase {
    func testReleaseDeletesOnlyTheReleasedServicesTheKernelHolds() throws {
        let kernel = InMemoryIPVSTable()
        let engine = ReconcileEngine(table: kernel)
        let want = engineTestTable(3)
        try engine.synchronize(want)
        let manual = ServiceKey.address(.tcp, IPAddress("10.9.9.9")!, port: 22)
        kernel.tamper { $0.services[manual] = ServiceState(service: IPVSService(key: manual, scheduler: "rr")) }   // by hand
        let gone = want.services.keys.min()!
        let never = ServiceKey.address(.tcp, IPAddress("10.8.8.8")!, port: 80)   // in the record, not in the kernel
        let pass = try engine.release([gone, never])
        XCTAssertEqual(pass.operations, [.deleteService(gone)])
        XCTAssertNil(kernel.table.services[gone])
        XCTAssertNotNil(kernel.table.services[manual], "a service never owned is never touched")
        XCTAssertEqual(kernel.table.services.count, 3)
        XCTAssertNil(engine.desired.services[gone], "no longer owned")
    }
}
