import Cryptography
import Foundation
import XCTest
@testable import VRRP
@testable import VRRPTransport
import Net

/// Issue 17, item 5: a restarted receiver in authenticated mode accepted a whole recorded sequence of
/// adverts ("replaying ten recorded priority-200 adverts moved a restarted master to backup, and nobody
/// held the VIP for about 6.2 s"). The recording attack, end to end through the real pieces: sealed
/// adverts (libcrypto HMAC), the replay guard, the replay record file written by the instance's
/// writer and read back at start, and the state machine that must not move.
final class ReplayAfterRestartTests: XCTestCase {
    private let key = HMACSHA256(key: Array("the pair's key, 0600".utf8))
    private let sender = IPAddress("10.0.0.1")!     // the priority-200 director whose adverts are recorded
    private let receiver = IPAddress("10.0.0.2")!   // the director that restarts

    /// The edge's receive path in miniature (VRRPInstance.receiveAdverts): open, replay guard, machine.
    struct Receiver {
        var rig: Rig
        var replay: ReplayGuard
        var drops: [String: Int] = [:]
        var accepted = 0

        mutating func receive(_ bytes: [UInt8], from source: IPAddress, authenticator: HMACSHA256, at t: Duration) -> [VRRPAction] {
            var out = rig.advance(to: t)
            switch AuthenticatedAdvert.open(bytes, source: source, destination: VRRPPacket.ipv4Group, authenticator: authenticator) {
            case .failure(let e): drops[e.code, default: 0] += 1
            case .success(let (p, seq)):
                if case .failure(let e) = replay.accept(seq, from: source) { drops[e.code, default: 0] += 1; return out }
                accepted += 1
                out += rig.on { .advertReceived(.init(from: source, priority: p.priority, interval: p.advertInterval), now: $0) }
            }
            return out
        }
    }

    /// `count` priority-200 adverts as the sender seals them, one a second, from a sequence seeded by
    /// its wall clock at start (what an attacker on the link records).
    private func recording(_ count: Int, sequenceStart: UInt64 = 1_765_000_000_000_000) throws -> [[UInt8]] {
        var seq = SequenceNumbers(start: sequenceStart)
        let advert = VRRPPacket(vrid: 51, priority: 200, maxAdvertIntervalCentiseconds: 100,
                                addresses: [IPAddress("10.0.0.100")!], family: .v4)
        return try (0..<count).map { _ in
            try AuthenticatedAdvert.seal(advert.encode(source: sender, destination: VRRPPacket.ipv4Group), source: sender,
                                         sequence: seq.take(), authenticator: key)
        }
    }

    /// A receiver (priority 100) that started and, hearing nobody, became master.
    private func restartedMaster(replay: ReplayGuard) -> Receiver {
        var r = Receiver(rig: Rig(config(100, receiver)), replay: replay)
        _ = r.rig.on { .startup(now: $0) }
        _ = r.rig.advance(to: .seconds(5))   // Master_Down_Interval 3.61 s of silence
        XCTAssertEqual(r.rig.m.state, .master)
        return r
    }

    private func temporaryKeyFile() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tandem-replay-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir.appendingPathComponent("vrrp.key").path
    }

    /// Run 1 hears the sender's adverts live and stores its record the way VRRPInstance does (its
    /// background writer, last write on stop); returns the record file's path.
    private func firstRunStoringItsRecord(hearing adverts: [[UInt8]]) throws -> String {
        var run1 = Receiver(rig: Rig(config(100, receiver)), replay: ReplayGuard())
        _ = run1.rig.on { .startup(now: $0) }
        let path = ReplayRecordFile.path(keyFile: try temporaryKeyFile(), vrid: 51)
        let writer = BackgroundFileWriter(path: path, what: "replay record", logger: .init(label: "test"))
        for (i, bytes) in adverts.enumerated() {
            _ = run1.receive(bytes, from: sender, authenticator: key, at: .milliseconds(500 + 1000 * i))
            writer.submit(ReplayRecordFile.encode(run1.replay.record))
        }
        XCTAssertEqual(run1.accepted, adverts.count, "run 1 must accept the live adverts")
        XCTAssertEqual(run1.rig.m.state, .backup)
        writer.finish(with: ReplayRecordFile.encode(run1.replay.record))
        return path
    }

    func testRestartedMasterRefusesTenRecordedAdverts() throws {
        let recorded = try recording(10)
        let path = try firstRunStoringItsRecord(hearing: recorded)
        // The sender is gone; the receiver restarts, restores its record, and becomes master.
        let record = try XCTUnwrap(try ReplayRecordFile.load(path), "the replay record was not stored at \(path)")
        XCTAssertEqual(record.senders.map(\.address), [sender])
        var run2 = restartedMaster(replay: ReplayGuard(restoring: record))
        // The attacker replays the whole recording, one advert a second.
        for (i, bytes) in recorded.enumerated() {
            let out = run2.receive(bytes, from: sender, authenticator: key, at: .seconds(6 + i))
            XCTAssertEqual(transitions(out), [], "replayed advert \(i + 1) moved the restarted master")
            XCTAssertFalse(out.contains { if case .removeVIPs = $0 { true } else { false } }, "replayed advert \(i + 1) removed the VIPs")
        }
        XCTAssertEqual(run2.rig.m.state, .master)
        XCTAssertEqual(run2.drops, ["auth_replayed": 10])
        XCTAssertEqual(run2.accepted, 0)
    }

    /// The attack as the issue saw it: without the stored record the first replayed advert demotes the
    /// restarted master (so the test above fails when the record is not kept or not restored).
    func testWithoutAStoredRecordTheReplayDemotesTheRestartedMaster() throws {
        let recorded = try recording(10)
        var run2 = restartedMaster(replay: ReplayGuard())
        let out = run2.receive(recorded[0], from: sender, authenticator: key, at: .seconds(6))
        XCTAssertEqual(transitions(out), [.backup])
        XCTAssertEqual(run2.accepted, 1)
    }

    /// A restarted receiver still hears a sender that restarted too: the sender's new sequence starts
    /// at its wall clock, above everything the record holds.
    func testARestartedSenderIsHeardByARestartedReceiver() throws {
        let path = try firstRunStoringItsRecord(hearing: try recording(3))
        var run2 = restartedMaster(replay: ReplayGuard(restoring: try XCTUnwrap(try ReplayRecordFile.load(path))))
        let fresh = try recording(1, sequenceStart: 1_765_000_000_000_000 + 60_000_000)   // a minute later
        let out = run2.receive(fresh[0], from: sender, authenticator: key, at: .seconds(6))
        XCTAssertEqual(transitions(out), [.backup], "an authentic new advert of priority 200 must still win")
        XCTAssertEqual(run2.drops, [:])
    }

    func testRecordFileRoundTripsAndBadFilesAreNamed() throws {
        let keyFile = try temporaryKeyFile()
        let path = ReplayRecordFile.path(keyFile: keyFile, vrid: 7)
        XCTAssertEqual(path, keyFile + ".vrid7.replay.json")
        XCTAssertNil(try ReplayRecordFile.load(path), "no file yet is a first start, not an error")
        var g = ReplayGuard()
        _ = g.accept(42, from: sender); _ = g.accept(7, from: IPAddress("fd00::2")!)
        let bytes = ReplayRecordFile.encode(g.record)
        XCTAssertEqual(String(decoding: bytes, as: UTF8.self),
                       "{\"senders\":[{\"address\":\"10.0.0.1\",\"highest_sequence\":42},{\"address\":\"fd00::2\",\"highest_sequence\":7}]}\n")
        FileManager.default.createFile(atPath: path, contents: Data(bytes))
        XCTAssertEqual(try ReplayRecordFile.load(path), g.record)
        FileManager.default.createFile(atPath: path, contents: Data("{\"senders\":[{\"address\":\"10.0.0.300\",\"highest_sequence\":1}]}".utf8))
        XCTAssertThrowsError(try ReplayRecordFile.load(path)) { e in
            let text = "\(e)"
            XCTAssertTrue(text.contains(path) && text.contains("10.0.0.300"), text)
        }
        FileManager.default.createFile(atPath: path, contents: Data("garbage".utf8))
        XCTAssertThrowsError(try ReplayRecordFile.load(path)) { e in XCTAssertTrue("\(e)".contains("not a replay record"), "\(e)") }
    }
}
