import XCTest
import Synchronization
@testable import GridServices
@testable import GridModel


final class LeasePartitionTests: XCTestCase {
    func testSlicesCoverEveryAccountOnceAndBalance() {
        for ring in 1...5 {
            var counts = [Int: Int]()
            for i in 0..<1000 { counts[LeasePartition.slice(forAccountIndex: i, ringSize: ring), default: 0] += 1 }
            XCTAssertEqual(Set(counts.keys), Set(1...ring), "ring \(ring)")
            XCTAssertLessThanOrEqual(counts.values.max()! - counts.values.min()!, 1, "ring \(ring) unbalanced: \(counts)")
        }
    }

    func testOnlyTheOwningNodeWritesASlice() {
        XCTAssertTrue(LeasePartition.nodeOwns(offset: 2, slice: 2))
        XCTAssertFalse(LeasePartition.nodeOwns(offset: 1, slice: 2))
    }

    func testCanonicalLeaseIsEarliestThenLowestSliceThenAccount() {
        let a = LeasePartition.Lease(account: "cms00003", slice: 2, leasedAtMicros: 100)
        let b = LeasePartition.Lease(account: "cms00002", slice: 1, leasedAtMicros: 150)
        let c = LeasePartition.Lease(account: "cms00001", slice: 1, leasedAtMicros: 100)
        XCTAssertEqual(LeasePartition.canonical([a, b]), a)
        XCTAssertEqual(LeasePartition.canonical([a, b, c]), c)
        XCTAssertEqual(LeasePartition.canonical([b, c, a]), c, "order of rows must not matter")
        XCTAssertNil(LeasePartition.canonical([]))
    }

    func testFreshLeasesAreNotSettled() {
        XCTAssertFalse(LeasePartition.isSettled(ageMicros: 2_000, settleWindowMicros: 10_000_000))
        XCTAssertTrue(LeasePartition.isSettled(ageMicros: 10_000_000, settleWindowMicros: 10_000_000))
    }
}

final class MappingCacheTests: XCTestCase {
    func testSizeNeverExceedsCapacity() {
        let cache = MappingCache<Int, String>(capacity: 100)
        for i in 0..<10_000 {
            let l = cache.lookup(i)
            cache.insert(i, "v\(i)", epoch: l.epoch)
            XCTAssertLessThanOrEqual(cache.stats.count, 100)
        }
        XCTAssertGreaterThan(cache.stats.count, 40, "a bounded cache should still hold about its capacity")
    }

    func testRecentlyUsedEntrySurvivesChurn() {
        let cache = MappingCache<Int, Int>(capacity: 10)
        cache.insert(-1, -1, epoch: cache.lookup(-1).epoch)
        for i in 0..<1000 {
            XCTAssertEqual(cache.lookup(-1).value, -1, "hot entry evicted at step \(i)")
            cache.insert(i, i, epoch: cache.lookup(i).epoch)
        }
        XCTAssertNil(cache.lookup(0).value, "cold entry should have been evicted")
    }

    func testInvalidateAllDropsEverythingAndRejectsStaleFill() {
        let cache = MappingCache<String, String>(capacity: 10)
        let before = cache.lookup("dn")
        cache.insert("x", "1", epoch: before.epoch)
        cache.invalidateAll()
        XCTAssertNil(cache.lookup("x").value)
        XCTAssertFalse(cache.insert("dn", "old answer", epoch: before.epoch), "a fill that raced an invalidation must be dropped")
        XCTAssertNil(cache.lookup("dn").value)
        let after = cache.lookup("dn")
        XCTAssertTrue(cache.insert("dn", "new", epoch: after.epoch))
        XCTAssertEqual(cache.lookup("dn").value, "new")
        XCTAssertEqual(cache.stats.invalidations, 1)
    }

    func testInvalidateWhereDropsOnlyMatchingKeys() {
        let cache = MappingCache<MappingKey, Int>(capacity: 10)
        for (i, k) in [MappingKey(dn: "a", fqan: "/cms"), MappingKey(dn: "a", fqan: "/atlas"), MappingKey(dn: "b", fqan: "/cms")].enumerated() {
            cache.insert(k, i, epoch: cache.lookup(k).epoch)
        }
        cache.invalidate { $0.dn == "a" }
        XCTAssertNil(cache.lookup(MappingKey(dn: "a", fqan: "/cms")).value)
        XCTAssertEqual(cache.lookup(MappingKey(dn: "b", fqan: "/cms")).value, 2)
    }

    func testZeroCapacityIsOff() {
        let cache = MappingCache<Int, Int>(capacity: 0)
        XCTAssertFalse(cache.insert(1, 1, epoch: cache.lookup(1).epoch))
        XCTAssertNil(cache.lookup(1).value)
        XCTAssertEqual(cache.stats.misses, 2)
    }
}

final class AdmissionGateTests: XCTestCase {
    func testRefusesBeyondCapacityAndAdmitsAgainAfterLeave() {
        let gate = AdmissionGate(capacity: 2)
        XCTAssertTrue(gate.tryEnter())
        XCTAssertTrue(gate.tryEnter())
        XCTAssertFalse(gate.tryEnter())
        XCTAssertEqual(gate.current, 2)
        gate.leave()
        XCTAssertTrue(gate.tryEnter())
        XCTAssertEqual(gate.rejected, 1)
        XCTAssertEqual(gate.admitted, 3)
    }

    func testConcurrentEntriesNeverExceedCapacity() {
        let gate = AdmissionGate(capacity: 3)
        let peak = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: 20_000) { _ in
            if gate.tryEnter() {
                let now = gate.current
                var p = peak.load(ordering: .relaxed)
                while now > p, !peak.compareExchange(expected: p, desired: now, ordering: .relaxed).exchanged {
                    p = peak.load(ordering: .relaxed)
                }
                gate.leave()
            }
        }
        XCTAssertLessThanOrEqual(peak.load(ordering: .relaxed), 3)
        XCTAssertEqual(gate.current, 0)
        XCTAssertEqual(gate.admitted + gate.rejected, 20_000)
    }
}

final class BanSnapshotTests: XCTestCase {
    func testDenyByDNCAOrParentGroupElsePermit() throws {
        let s = BanSnapshot(dns: ["/DC=org/CN=Bad": "compromised"], cas: ["/CN=Evil CA": "revoked"], fqans: ["/des/desgw": "suspended"])
        XCTAssertEqual(s.decide(dn: "/DC=org/CN=Bad", ca: nil, fqans: []).decision, "deny")
        XCTAssertEqual(s.decide(dn: "/DC=org/CN=Good", ca: "/CN=Evil CA", fqans: []).decision, "deny")
        let sub = s.decide(dn: "/DC=org/CN=Good", ca: nil, fqans: [try FQAN("/des/desgw/Role=production")])
        XCTAssertEqual(sub.decision, "deny")
        XCTAssertTrue(sub.reason.contains("/des/desgw"), sub.reason)
        XCTAssertEqual(s.decide(dn: "/DC=org/CN=Good", ca: "/CN=Good CA", fqans: [try FQAN("/des")]), .permit)
    }
}

final class SeedPlanTests: XCTestCase {
    func testSameSeedGivesSameUsersAndDifferentSeedDiffers() {
        let a = SeedPlan(seed: 7, users: 100), b = SeedPlan(seed: 7, users: 100), c = SeedPlan(seed: 8, users: 100)
        XCTAssertEqual((0..<100).map(a.user), (0..<100).map(b.user))
        XCTAssertNotEqual((0..<100).map(a.user), (0..<100).map(c.user))
    }

    func testEveryUserHasAValidUniqueSubjectAndMappableFQANs() throws {
        let plan = SeedPlan(seed: 42, users: 5000)
        var seen = Set<String>()
        let rules = Set(SeedPlan.mappingRules.map(\.fqan))
        for i in 0..<plan.users {
            let u = plan.user(i)
            XCTAssertTrue(seen.insert(u.dn).inserted, "duplicate subject \(u.dn)")
            XCTAssertNoThrow(try DistinguishedName(u.dn))
            XCTAssertNoThrow(try DistinguishedName(u.ca))
            for f in u.fqans {
                let parsed = try FQAN(f)
                XCTAssertTrue(parsed.fallbacks.contains(where: rules.contains), "\(f) has no mapping rule")
            }
        }
    }

    func testAccountNamesArePaddedAndUnique() {
        XCTAssertEqual(Seeder.accountName(pool: "uscms", index: 42), "uscms00042")
        XCTAssertEqual(Seeder.accountName(pool: "cms", index: 123456), "cms123456")
    }
}

final class MetricsTests: XCTestCase {
    func testEverySeriesExistsFromTheFirstScrapeAndCountsWithCumulativeBuckets() {
        let m = ServiceMetrics(endpoints: ["/gums/map", "/healthz"])
        let fresh = m.render(gauges: [:], counters: [:])
        for status in ServiceMetrics.answeredStatuses {
            XCTAssertTrue(fresh.contains("gridsvc_requests_total{endpoint=\"/gums/map\",status=\"\(status)\"} 0\n"), fresh)
            XCTAssertTrue(fresh.contains("gridsvc_requests_total{endpoint=\"other\",status=\"\(status)\"} 0\n"), fresh)
        }
        XCTAssertTrue(fresh.contains("gridsvc_request_duration_seconds_count{endpoint=\"/healthz\"} 0\n"), fresh)
        XCTAssertTrue(fresh.contains("# TYPE gridsvc_rejected_total counter\ngridsvc_rejected_total 0\n"), fresh)
        XCTAssertTrue(fresh.contains("# TYPE gridsvc_gums_cache_hits_total counter\ngridsvc_gums_cache_hits_total 0\n"), fresh)

        let gums = m.endpoint("/gums/map")
        XCTAssertTrue(m.endpoint("/no/such/path") === m.other)
        gums.record(status: 200, duration: .microseconds(200))
        gums.record(status: 200, duration: .milliseconds(3))
        gums.record(status: 503, duration: .microseconds(10))
        gums.record(status: 418, duration: .microseconds(10))  // not a status the service answers: made on first use
        m.recordDBError(errno: 2013)
        let text = m.render(gauges: ["gridsvc_in_flight": 3], counters: ["gridsvc_rejected": 5])
        let expected = [
            "gridsvc_requests_total{endpoint=\"/gums/map\",status=\"200\"} 2",
            "gridsvc_requests_total{endpoint=\"/gums/map\",status=\"503\"} 1",
            "gridsvc_requests_total{endpoint=\"/gums/map\",status=\"418\"} 1",
            "# TYPE gridsvc_request_duration_seconds histogram",
            "gridsvc_request_duration_seconds_bucket{endpoint=\"/gums/map\",le=\"0.0001\"} 2",
            "gridsvc_request_duration_seconds_bucket{endpoint=\"/gums/map\",le=\"0.00025\"} 3",
            "gridsvc_request_duration_seconds_bucket{endpoint=\"/gums/map\",le=\"5.0\"} 4",
            "gridsvc_request_duration_seconds_bucket{endpoint=\"/gums/map\",le=\"+Inf\"} 4",
            "gridsvc_request_duration_seconds_sum{endpoint=\"/gums/map\"} 0.00322",
            "gridsvc_db_errors_total{errno=\"2013\"} 1",
            "# TYPE gridsvc_in_flight gauge\ngridsvc_in_flight 3.0",
            "gridsvc_rejected_total 5",
        ]
        for line in expected { XCTAssertTrue(text.contains(line + "\n"), "\(line) missing from:\n\(text)") }
        // A total kept elsewhere: each scrape adds only what is new, never the whole total again.
        let again = m.render(gauges: [:], counters: ["gridsvc_rejected": 7])
        XCTAssertTrue(again.contains("gridsvc_rejected_total 7\n"), again)
        XCTAssertEqual(requestsAnswered(again, status: 200), 2)
    }

    func testEndpointParsingRejectsBadInput() {
        XCTAssertEqual(try DatabaseEndpoint.list("127.0.0.1:3306,[::1]:3307"), [DatabaseEndpoint(host: "127.0.0.1", port: 3306), DatabaseEndpoint(host: "::1", port: 3307)])
        XCTAssertThrowsError(try DatabaseEndpoint.list("127.0.0.1"))
        XCTAssertThrowsError(try DatabaseEndpoint.list("host:99999"))
        XCTAssertThrowsError(try DatabaseEndpoint.list(""))
    }
}

final class SeederLiteralTests: XCTestCase {
    func testLiteralsEscapeQuotesBackslashesAndControlCharacters() {
        XCTAssertEqual(Seeder.literal(.text("O'Brien \\ x")), "'O\\'Brien \\\\ x'")
        XCTAssertEqual(Seeder.literal(.text("a\nb\u{0}")), "'a\\nb\\0'")
        XCTAssertEqual(Seeder.literal(.int(-3)), "-3")
        XCTAssertEqual(Seeder.literal(.null), "NULL")
    }
}

/// The sum of every `gridsvc_requests_total` series with `status` in a `/metrics` text.
func requestsAnswered(_ exposition: String, status: Int) -> Double {
    exposition.split(separator: "\n")
        .filter { $0.hasPrefix("gridsvc_requests_total{") && $0.contains("status=\"\(status)\"}") }
        .compactMap { $0.split(separator: " ").last.flatMap { Double($0) } }
        .reduce(0, +)
}
