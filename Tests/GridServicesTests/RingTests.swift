import Foundation
import GridServices
import MariaDB
import StressClient
import Synchronization
import XCTest
import GridModel

/// One seeded 2-node ring shared by the tests of ``GridServicesRingTests``.
actor SharedRing {
    static let shared = SharedRing()
    static let plan = SeedPlan(seed: 42, users: 3000)
    /// Set once the ring is up, for the synchronous class tearDown.
    static let started = Mutex<TestRing?>(nil)
    private var ring: Result<TestRing, any Error>?

    func get() async throws -> TestRing {
        if let ring { return try ring.get() }
        do {
            let r = try TestRing.up(nodes: 2)
            Self.started.withLock { $0 = r }
            let db = r.cluster([1])
            _ = try await db.withConnection { conn in
                _ = try await GridSchema.migrate(conn)
                return try await Seeder(plan: Self.plan).run(conn)
            }
            await db.shutdown()
            // The seed must have reached node 2 before instances use it.
            let expected = try await count(r, node: 1, "SELECT COUNT(*) AS n FROM gums_pool_account")
            let deadline = ContinuousClock.now + .seconds(20)
            while try await count(r, node: 2, "SELECT COUNT(*) AS n FROM gums_pool_account") != expected {
                guard ContinuousClock.now < deadline else { throw RingUnavailable(description: "seed did not replicate to node 2 within 20 s") }
                try await Task.sleep(for: .milliseconds(50))
            }
            ring = .success(r)
            return r
        } catch {
            ring = .failure(error)
            throw error
        }
    }

    func count(_ r: TestRing, node: Int, _ sql: String) async throws -> Int64 {
        let c = try await r.rootConnection(node)
        defer { Task { await c.close() } }
        return try await c.query(sql).rows.first?.int("n") ?? -1
    }
}

final class GridServicesRingTests: XCTestCase {
    override class func tearDown() {
        SharedRing.started.withLock { $0?.down(); $0 = nil }
        super.tearDown()
    }

    private func ring() async throws -> TestRing {
        do { return try await SharedRing.shared.get() } catch {
            XCTFail("real MariaDB ring unavailable: \(error)")
            throw error
        }
    }

    // MARK: GUMS lease safety

    func testTwoGUMSInstancesLeasingThroughDifferentNodesNeverShareAnAccountAndRingKeepsRunning() async throws {
        let ring = try await ring()
        let plan = SharedRing.plan
        // Fresh DNs with a pool-mapped FQAN, disjoint from other tests (indices 1000..<1600).
        let subjects: [(dn: String, fqan: String)] = {
            var out: [(dn: String, fqan: String)] = []
            for i in 1000..<3000 where out.count < 360 {
                let u = plan.user(i)
                if let f = u.fqans.first(where: { plan.pool(for: $0) != nil }) { out.append((u.dn, f)) }
            }
            return out
        }()
        XCTAssertEqual(subjects.count, 360)
        let a = makeService(ring, role: .gums, nodes: [1])
        let b = makeService(ring, role: .gums, nodes: [2])
        try await withServers([a, b]) { ports in
            // 240 DNs asked through both instances at the same moment, 60 only via A, 60 only via B.
            var calls: [ParallelCaller.Call] = []
            for (i, s) in subjects.enumerated() {
                let body = "{\"dn\":\(jsonString(s.dn)),\"fqan\":\(jsonString(s.fqan))}"
                if i < 240 || i % 2 == 0 { calls.append(.post(port: ports[0], path: "/gums/map", json: body)) }
                if i < 240 || i % 2 == 1 { calls.append(.post(port: ports[1], path: "/gums/map", json: body)) }
            }
            let answers = await ParallelCaller.runAsync(calls, concurrency: 48)
            var accountToDNs: [String: Set<String>] = [:]
            var dnToAccounts: [String: Set<String>] = [:]
            for (call, ans) in zip(calls, answers) {
                XCTAssertEqual(ans.status, 200, "\(ans.failure ?? "") \(ans.body)")
                guard ans.status == 200, let r = try? JSONDecoder().decode(GridAPI.GUMSResponse.self, from: Data(ans.body.utf8)) else { continue }
                XCTAssertEqual(r.kind, "pool")
                accountToDNs[r.account, default: []].insert(r.dn)
                dnToAccounts[r.dn, default: []].insert(r.account)
                _ = call
            }
            for (account, dns) in accountToDNs {
                XCTAssertEqual(dns.count, 1, "account \(account) was given to \(dns.count) DNs: \(dns)")
            }
            XCTAssertEqual(dnToAccounts.count, 360, "every DN got an answer")

            // Replication converges to identical lease tables on both nodes.
            let deadline = ContinuousClock.now + .seconds(20)
            var n1 = try await leasedRows(ring, node: 1), n2 = try await leasedRows(ring, node: 2)
            while n1 != n2 && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(100))
                n1 = try await leasedRows(ring, node: 1)
                n2 = try await leasedRows(ring, node: 2)
            }
            XCTAssertEqual(n1, n2, "lease tables differ between nodes")
            for (account, dns) in accountToDNs {
                XCTAssertEqual(n1[account], dns.first, "DB has \(account) → \(n1[account] ?? "nil"), clients were told \(dns)")
            }
            try await assertReplicationRunning(ring)

            // After settling, both instances answer every DN with the same (canonical) account, and it is
            // one of the accounts that DN was given.
            let again = subjects.flatMap { s -> [ParallelCaller.Call] in
                let body = "{\"dn\":\(jsonString(s.dn)),\"fqan\":\(jsonString(s.fqan))}"
                return [.post(port: ports[0], path: "/gums/map", json: body), .post(port: ports[1], path: "/gums/map", json: body)]
            }
            let second = await ParallelCaller.runAsync(again, concurrency: 16)
            var doubles = 0
            for (i, s) in subjects.enumerated() {
                let x = try JSONDecoder().decode(GridAPI.GUMSResponse.self, from: Data(second[2 * i].body.utf8))
                let y = try JSONDecoder().decode(GridAPI.GUMSResponse.self, from: Data(second[2 * i + 1].body.utf8))
                XCTAssertEqual(x.account, y.account, "instances disagree on \(s.dn)")
                XCTAssertTrue(dnToAccounts[s.dn]!.contains(x.account), "\(s.dn) now maps to \(x.account), never handed out before")
                if dnToAccounts[s.dn]!.count > 1 { doubles += 1 }
            }
            print("lease hammer: \(calls.count) concurrent requests, \(n1.count) leases, \(doubles) DNs leased in both slices during the race")
        }
        await a.store.db.shutdown()
        await b.store.db.shutdown()
    }

    // MARK: SAZ tsunami

    func testSAZTsunamiGets503WithRetryAfterAtOnceAndEveryRequestIsAnswered() async throws {
        let ring = try await ring()
        let plan = SharedRing.plan
        let saz = makeService(ring, role: .saz, nodes: [1], maxInFlight: 4, pool: 2)
        try await withServers([saz]) { ports in
            let calls = (0..<1200).map { i -> ParallelCaller.Call in
                let u = plan.user(i % plan.users)
                return .post(port: ports[0], path: "/saz/authorize",
                             json: "{\"dn\":\(jsonString(u.dn)),\"ca\":\(jsonString(u.ca)),\"fqans\":[\(u.fqans.map(jsonString).joined(separator: ","))]}")
            }
            let answers = await ParallelCaller.runAsync(calls, concurrency: 200, timeoutMillis: 15_000)
            let failures = answers.filter { $0.status == nil }
            XCTAssertTrue(failures.isEmpty, "unanswered: \(failures.prefix(3).map { $0.failure ?? "" })")
            let ok = answers.filter { $0.status == 200 }
            let shed = answers.filter { $0.status == 503 }
            XCTAssertEqual(ok.count + shed.count, answers.count, "statuses: \(Set(answers.compactMap(\.status)))")
            XCTAssertGreaterThan(shed.count, 0, "200 concurrent clients against capacity 4 must be shed")
            XCTAssertGreaterThan(ok.count, 0)
            for s in shed.prefix(50) {
                XCTAssertEqual(s.header("Retry-After"), "1")
                XCTAssertTrue(s.body.contains("\"error\":\"overloaded\""), s.body)
            }
            let shedTimes = shed.map(\.seconds).sorted()
            let median = shedTimes[shedTimes.count / 2]
            XCTAssertLessThan(median, 0.5, "503s must be immediate, median took \(median) s")
            print("tsunami: \(ok.count) answered 200, \(shed.count) shed with 503 (median \(Int(median * 1e6)) µs), rejected counter \(saz.gate.rejected)")
            XCTAssertEqual(saz.gate.rejected, UInt64(shed.count))

            // Still healthy afterwards.
            let after = await ParallelCaller.runAsync([.get(port: ports[0], path: "/healthz"), calls[0]], concurrency: 1)
            XCTAssertEqual(after.map(\.status), [200, 200])
        }
        await saz.store.db.shutdown()
    }

    // MARK: bad requests

    func testBadRequestsGet4xxJSONErrorsAndWriteNothing() async throws {
        let ring = try await ring()
        let plan = SharedRing.plan
        let gums = makeService(ring, role: .gums, nodes: [1])
        let before = try await leasedRows(ring, node: 1)
        let fresh = plan.user(2999)
        try await withServers([gums]) { ports in
            let p = ports[0]
            let big = "{\"dn\":\"/CN=" + String(repeating: "x", count: 20_000) + "\",\"fqan\":\"/cms\"}"
            let cases: [(ParallelCaller.Call, Int, String)] = [
                (.post(port: p, path: "/gums/map", json: "{\"dn\":\"CN=no slash\",\"fqan\":\"/cms\"}"), 400, "malformed_dn"),
                (.post(port: p, path: "/gums/map", json: "{\"dn\":\(jsonString(fresh.dn)),\"fqan\":\"cms\"}"), 400, "malformed_fqan"),
                (.post(port: p, path: "/gums/map", json: "{\"dn\":\(jsonString(fresh.dn))}"), 400, "missing_field"),
                (.post(port: p, path: "/gums/map", json: "{\"dn\": 42, \"fqan\": \"/cms\"}"), 400, "bad_field"),
                (.post(port: p, path: "/gums/map", json: "{not json"), 400, "malformed_json"),
                (.post(port: p, path: "/gums/map", json: big), 413, "body_too_large"),
                (.post(port: p, path: "/gums/map", json: "{\"dn\":\(jsonString(fresh.dn)),\"fqan\":\"/cms\"}", contentType: "text/plain"), 415, "unsupported_media_type"),
                (.get(port: p, path: "/gums/map"), 405, "method_not_allowed"),
                (.post(port: p, path: "/saz/authorize", json: "{}"), 404, "not_found"),
                (.post(port: p, path: "/gums/map", json: "{\"dn\":\"/DC=org/CN=Nobody Known\",\"fqan\":\"/cms\"}"), 404, "not_member"),
                (.post(port: p, path: "/gums/map", json: "{\"dn\":\(jsonString(fresh.dn)),\"fqan\":\"/nosuchvo\"}"), 404, "not_member"),
            ]
            let answers = await ParallelCaller.runAsync(cases.map(\.0), concurrency: 1)
            for ((_, status, code), a) in zip(cases, answers) {
                XCTAssertEqual(a.status, status, "expected \(status) \(code), got \(a.status.map(String.init) ?? a.failure ?? "?"): \(a.body.prefix(200))")
                XCTAssertEqual(a.header("Content-Type"), "application/json", code)
                let body = try? JSONDecoder().decode(GridAPI.ErrorBody.self, from: Data(a.body.utf8))
                XCTAssertEqual(body?.error, code, a.body)
                XCTAssertFalse(body?.message.isEmpty ?? true)
            }
        }
        let after = try await leasedRows(ring, node: 1)
        XCTAssertEqual(before.count, after.count, "a rejected request leased an account")
        XCTAssertNil(after.values.first { $0 == fresh.dn })
        await gums.store.db.shutdown()
    }

    // MARK: cache

    func testGUMSCacheHitsAndIsInvalidatedByAMappingChangeOnTheOtherNode() async throws {
        let ring = try await ring()
        let plan = SharedRing.plan
        guard let u = (0..<plan.users).map(plan.user).first(where: { $0.fqans.contains { $0.contains("/cms") } }) else {
            return XCTFail("plan has no cms member")
        }
        let gums = makeService(ring, role: .gums, nodes: [1], cache: 100, poll: .milliseconds(100))
        try await withServers([gums]) { ports in
            let call = ParallelCaller.Call.post(port: ports[0], path: "/gums/map", json: "{\"dn\":\(jsonString(u.dn)),\"fqan\":\"/cms/Role=lcgadmin\"}")
            let first = await ParallelCaller.runAsync([call, call, call], concurrency: 1)
            XCTAssertEqual(first.map(\.status), [200, 200, 200], first.map(\.body).joined())
            XCTAssertTrue(first[2].body.contains("\"account\":\"cmslcgadmin\""), first[2].body)
            XCTAssertGreaterThanOrEqual(gums.store.cache.stats.hits, 2)

            // An admin changes the rule through node 2 and bumps node 2's data version.
            let c = try await ring.rootConnection(2)
            _ = try await c.query("UPDATE gums_mapping SET target = 'cmsadmin2' WHERE fqan = '/cms/Role=lcgadmin'")
            _ = try await c.query(GridStore.bumpDataVersionSQL)
            await c.close()
            let deadline = ContinuousClock.now + .seconds(5)
            var now = ""
            while ContinuousClock.now < deadline {
                now = await ParallelCaller.runAsync([call], concurrency: 1)[0].body
                if now.contains("cmsadmin2") { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            XCTAssertTrue(now.contains("\"account\":\"cmsadmin2\""), "cache not invalidated within 5 s: \(now)")
            XCTAssertGreaterThanOrEqual(gums.store.cache.stats.invalidations, 1)
            let c2 = try await ring.rootConnection(2)
            _ = try await c2.query("UPDATE gums_mapping SET target = 'cmslcgadmin' WHERE fqan = '/cms/Role=lcgadmin'")
            _ = try await c2.query(GridStore.bumpDataVersionSQL)
            await c2.close()
        }
        await gums.store.db.shutdown()
    }

    // MARK: VOMS and SAZ answers

    func testVOMSReturnsSeededFQANsAndSAZDeniesBannedSubjectCAAndGroup() async throws {
        let ring = try await ring()
        let plan = SharedRing.plan
        let voms = makeService(ring, role: .voms, nodes: [2])
        let saz = makeService(ring, role: .saz, nodes: [2])
        let sazSnap = makeService(ring, role: .saz, nodes: [1], sazMode: .snapshot)
        let banned = (0..<plan.users).first(where: plan.isBanned)!
        try await withServers([voms, saz, sazSnap]) { ports in
            let u = plan.user(5)
            let bannedUser = plan.user(banned)
            let v = await ParallelCaller.runAsync([.post(port: ports[0], path: "/voms/fqans", json: "{\"dn\":\(jsonString(u.dn))}")], concurrency: 1)[0]
            XCTAssertEqual(v.status, 200, v.body)
            XCTAssertEqual(try JSONDecoder().decode(GridAPI.VOMSResponse.self, from: Data(v.body.utf8)).fqans, u.fqans)
            for port in ports.dropFirst() {
                func ask(_ dn: String, _ ca: String, _ fqans: [String]) async -> String {
                    let json = "{\"dn\":\(jsonString(dn)),\"ca\":\(jsonString(ca)),\"fqans\":[\(fqans.map(jsonString).joined(separator: ","))]}"
                    return await ParallelCaller.runAsync([.post(port: port, path: "/saz/authorize", json: json)], concurrency: 1)[0].body
                }
                let permit = await ask(u.dn, u.ca, u.fqans)
                XCTAssertTrue(permit.contains("\"decision\":\"permit\""), permit)
                let byDN = await ask(bannedUser.dn, bannedUser.ca, bannedUser.fqans)
                XCTAssertTrue(byDN.contains("\"decision\":\"deny\""), byDN)
                let byCA = await ask(u.dn, SeedPlan.bannedCA, u.fqans)
                XCTAssertTrue(byCA.contains("\"decision\":\"deny\""), byCA)
                let byGroup = await ask(u.dn, u.ca, ["/des/desgw/Role=production"])
                XCTAssertTrue(byGroup.contains("\"decision\":\"deny\""), byGroup)
            }
        }
        for s in [voms, saz, sazSnap] { await s.store.db.shutdown() }
    }
}

func leasedRows(_ ring: TestRing, node: Int) async throws -> [String: String] {
    let c = try await ring.rootConnection(node)
    let r = try await c.query("SELECT account, dn FROM gums_pool_account WHERE dn IS NOT NULL")
    await c.close()
    var out: [String: String] = [:]
    for row in r.rows { out[row.string("account")!] = row.string("dn")! }
    return out
}

func assertReplicationRunning(_ ring: TestRing, file: StaticString = #filePath, line: UInt = #line) async throws {
    for n in 1...ring.nodes {
        let c = try await ring.rootConnection(n)
        let status = try await c.replicationStatus()
        await c.close()
        XCTAssertFalse(status.isEmpty, "node \(n) has no replication channel", file: file, line: line)
        for s in status {
            XCTAssertEqual(s.ioRunning, "Yes", "node \(n) IO thread: \(s.lastIOErrno) \(s.lastIOError)", file: file, line: line)
            XCTAssertEqual(s.sqlRunning, "Yes", "node \(n) SQL thread: \(s.lastSQLErrno) \(s.lastSQLError)", file: file, line: line)
            XCTAssertEqual(s.lastSQLErrno, 0, "node \(n) SQL error \(s.lastSQLError)", file: file, line: line)
        }
    }
}

/// /healthz against a ring that goes away (its own ring, so the shared one stays up).
final class HealthzRingDownTests: XCTestCase {
    func testHealthzIs200WithTheDatabaseAnd503WithReasonWhenItIsDown() async throws {
        let ring: TestRing
        do { ring = try TestRing.up(nodes: 2) } catch {
            XCTFail("real MariaDB ring unavailable: \(error)")
            throw error
        }
        defer { ring.down() }
        let service = makeService(ring, role: .saz, nodes: [1, 2])
        try await withServers([service]) { ports in
            let up = await ParallelCaller.runAsync([.get(port: ports[0], path: "/healthz")], concurrency: 1)[0]
            XCTAssertEqual(up.status, 200, up.body)
            ring.killNode(1)
            ring.killNode(2)
            try await Task.sleep(for: .milliseconds(200))
            let start = ContinuousClock.now
            let down = await ParallelCaller.runAsync([.get(port: ports[0], path: "/healthz")], concurrency: 1)[0]
            let took = ContinuousClock.now - start
            XCTAssertEqual(down.status, 503, down.body)
            XCTAssertTrue(down.body.contains("\"status\":\"unavailable\""), down.body)
            XCTAssertTrue(down.body.contains("unreachable"), down.body)
            XCTAssertTrue(down.body.contains("errno 20"), "reason should carry the client errno: \(down.body)")
            XCTAssertLessThan(took, .seconds(5), "healthz must answer promptly when the DB is down")
            // A service call gets a JSON 503 too, not a hang or a crash.
            let call = await ParallelCaller.runAsync([.post(port: ports[0], path: "/saz/authorize", json: "{\"dn\":\"/DC=org/CN=Jane Doe\"}")], concurrency: 1)[0]
            XCTAssertEqual(call.status, 503, call.body)
            XCTAssertTrue(call.body.contains("db_unavailable"), call.body)
        }
        await service.store.db.shutdown()
    }
}
