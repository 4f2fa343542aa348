import Foundation
import Syscall
import XCTest

/// The ownership lock against itself (two `open`s conflict even in one process) and against
/// util-linux `flock(1)`, a real peer that takes the same kind of lock from another process.
final class OwnershipLockTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "tandem-lock-\(getpid())-\(UUID().uuidString)"
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: dir)
    }

    func testExclusiveHolderIsNamedToThoseRefusedAndItsRecordGoesWithIt() throws {
        let path = dir + "/state/ipvs.lock"
        let owner = try OwnershipLock.acquire(path, mode: .exclusive, record: ["node": "d1", "status": "http://127.0.0.1:9595"])
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "pid=\(getpid())\nnode=d1\nstatus=http://127.0.0.1:9595\n",
                       "the directory is made and the record starts with the pid")
        for mode in [OwnershipLock.Mode.shared, .exclusive] {
            XCTAssertThrowsError(try OwnershipLock.acquire(path, mode: mode)) { e in
                XCTAssertEqual(e as? OwnershipLockError,
                               .held(path: path, record: ["pid": "\(getpid())", "node": "d1", "status": "http://127.0.0.1:9595"]))
                XCTAssertEqual((e as? OwnershipLockError)?.code, "held")
            }
        }
        owner.release()
        owner.release()  // idempotent
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "", "a released lock leaves no stale record")
        let shared = try OwnershipLock.acquire(path, mode: .shared)
        withExtendedLifetime(shared) {}
    }

    func testSharedHoldersCoexistAndKeepAnExclusiveOneOut() throws {
        let path = dir + "/ipvs.lock"
        let a = try OwnershipLock.acquire(path, mode: .shared)
        let b = try OwnershipLock.acquire(path, mode: .shared)
        XCTAssertThrowsError(try OwnershipLock.acquire(path, mode: .exclusive, record: ["node": "d1"])) { e in
            XCTAssertEqual(e as? OwnershipLockError, .held(path: path, record: [:]), "shared holders write no record")
        }
        a.release()
        XCTAssertThrowsError(try OwnershipLock.acquire(path, mode: .exclusive), "one shared holder is enough to refuse")
        b.release()
        XCTAssertNoThrow(try OwnershipLock.acquire(path, mode: .exclusive).release())
    }

    func testPatientAcquireWaitsOutAShortHolderButNotALongOne() async throws {
        let path = dir + "/ipvs.lock"
        let brief = try OwnershipLock.acquire(path, mode: .shared)
        let releaser = Task {
            try await Task.sleep(for: .milliseconds(200))
            brief.release()
        }
        let started = ContinuousClock.now
        let lock = try await OwnershipLock.acquire(path, mode: .exclusive, patience: .seconds(3))
        let waited = ContinuousClock.now - started
        XCTAssertGreaterThanOrEqual(waited, .milliseconds(150), "it waited for the shared holder")
        XCTAssertLessThan(waited, .seconds(2))
        try await releaser.value

        let refusedStart = ContinuousClock.now
        do {
            _ = try await OwnershipLock.acquire(path, mode: .shared, patience: .milliseconds(300))
            XCTFail("a shared lock was granted while an exclusive one is held")
        } catch {
            XCTAssertEqual(error.code, "held")
            XCTAssertGreaterThanOrEqual(ContinuousClock.now - refusedStart, .milliseconds(300), "it tried for its whole patience")
        }
        lock.release()
    }

    func testAKilledHolderFreesTheLock() throws {
        let path = dir + "/ipvs.lock"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let flock = "/usr/bin/flock"
        guard FileManager.default.isExecutableFile(atPath: flock) else {
            return XCTFail("\(flock) not found: install util-linux (it is the peer holding the lock in this test)")
        }
        // One process holds it: the shell locks its fd 9 with flock(1), then becomes `sleep`.
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/bin/sh")
        holder.arguments = ["-c", "exec 9>\"$0\" && \(flock) --exclusive 9 && exec sleep 30", path]
        try holder.run()
        defer { if holder.isRunning { kill(holder.processIdentifier, SIGKILL) } }
        var refused = false
        for _ in 0..<100 {
            do { try OwnershipLock.acquire(path, mode: .shared).release() } catch { refused = true; break }
            usleep(20_000)
        }
        XCTAssertTrue(refused, "flock(1) never took the lock")
        kill(holder.processIdentifier, SIGKILL)
        holder.waitUntilExit()
        var freed = false
        for _ in 0..<100 {
            if let l = try? OwnershipLock.acquire(path, mode: .exclusive) { l.release(); freed = true; break }
            usleep(20_000)
        }
        XCTAssertTrue(freed, "the lock outlived the killed holder")
    }

    func testAnUnusableDirectoryIsASystemErrorNamingTheCall() {
        XCTAssertThrowsError(try OwnershipLock.acquire("/proc/self/tandem/ipvs.lock", mode: .exclusive)) { e in
            guard case .system(let s) = e as? OwnershipLockError else { return XCTFail("\(e)") }
            XCTAssertEqual(s.function, "mkdir")
            XCTAssertEqual(s.context, "/proc/self/tandem")
        }
    }

    func testNetworkNamespaceInodeIsThatOfProcSelfNsNet() throws {
        let link = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/net")  // "net:[4026531840]"
        XCTAssertEqual(link, "net:[\(try networkNamespaceInode())]")
    }
}
