import Foundation
import Net
import NIOCore
import XCTest
@testable import GridServices

/// The connection deadline machine as lines of events → expected actions (no sockets, no sleeps).
final class ConnectionDeadlineTests: XCTestCase {
    private let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000)
    private func at(_ ms: Int64) -> NIODeadline { t0 + .milliseconds(ms) }

    func testEachStateHasItsDeadlineAndItsAction() {
        var d = ConnectionDeadline(timeouts: GridHTTPTimeouts(head: .seconds(10), body: .seconds(5), idle: .seconds(60)), now: at(0))
        XCTAssertEqual(d.fired(now: at(59_999)), .wait(until: at(60_000)))
        XCTAssertEqual(d.fired(now: at(60_000)), .close, "idle: closed without an answer")
        // A head's deadline runs from its first byte, however long it keeps trickling in.
        d.enter(.head, now: at(1_000), newRequest: false)
        d.enter(.head, now: at(9_000), newRequest: false)
        XCTAssertEqual(d.fired(now: at(10_999)), .wait(until: at(11_000)))
        guard case .timeout(let message) = d.fired(now: at(11_000)) else { return XCTFail("head over time must be answered 408") }
        XCTAssertTrue(message.contains("10.00 s"), message)
        // The next request's head starts its own clock.
        d.enter(.head, now: at(12_000), newRequest: true)
        XCTAssertEqual(d.deadline, at(22_000))
        d.enter(.body, now: at(13_000), newRequest: false)
        XCTAssertEqual(d.deadline, at(18_000))
        guard case .timeout = d.fired(now: at(18_000)) else { return XCTFail("body over time must be answered 408") }
        // The server's own work has no deadline; a client that does not read its answers has the idle one.
        d.enter(.busy, now: at(19_000), newRequest: false)
        XCTAssertEqual(d.fired(now: at(999_000)), .wait(until: nil))
        d.enter(.blockedOutput, now: at(20_000), newRequest: true)
        XCTAssertEqual(d.fired(now: at(80_000)), .close)
        d.enter(.discarding, now: at(81_000), newRequest: true)
        XCTAssertEqual(d.fired(now: at(86_000)), .close, "an oversized body already answered: closed without a second answer")
        // Idle is renewed by every burst of requests.
        d.enter(.idle, now: at(90_000), newRequest: true)
        d.enter(.idle, now: at(100_000), newRequest: true)
        XCTAssertEqual(d.fired(now: at(150_000)), .wait(until: at(160_000)))
    }
}

/// A mutation fuzzer for the request parser, run with every test run: a corpus of requests kept in
/// `Tests/GridServicesTests/HTTPCorpus` (the file name says what the parser must answer), mutated with a
/// seeded `SplitMix64` and fed in random pieces. It asserts that the parser never answers 500 (nor any
/// 5xx but 501 and 505), that it never holds more than its limits while it waits for input, that its work
/// stays linear in the input, and that the outcome does not depend on how the input was split.
final class HTTPParserFuzzTests: XCTestCase {
    static let corpusDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("HTTPCorpus")
    static let limits = GridHTTPLimits()

    /// What a corpus file must produce: `ok-*` only requests, `413-*` a request marked too large,
    /// `NNN-*` a refusal with status NNN.
    enum Expectation: Equatable { case ok, tooLarge, refused(Int) }

    private func corpus() throws -> [(name: String, bytes: [UInt8], expect: Expectation)] {
        let names = try FileManager.default.contentsOfDirectory(atPath: Self.corpusDirectory.path).filter { $0.hasSuffix(".http") }.sorted()
        return try names.map { name in
            let bytes = Array(try Data(contentsOf: Self.corpusDirectory.appendingPathComponent(name)))
            let prefix = name.prefix { $0 != "-" }
            let expect: Expectation = prefix == "ok" ? .ok : prefix == "413" ? .tooLarge : .refused(Int(prefix) ?? -1)
            return (name, bytes, expect)
        }
    }

    private func run(_ bytes: [UInt8], pieces: () -> Int) -> GridHTTPParserRun {
        bytes.withUnsafeBytes { GridHTTPParserRun.feed($0, limits: Self.limits, pieceSize: pieces) }
    }

    func testEveryCorpusRequestGetsItsExpectedAnswerHoweverItIsSplit() throws {
        let seeds = try corpus()
        XCTAssertGreaterThanOrEqual(seeds.count, 30, "corpus missing in \(Self.corpusDirectory.path)")
        for seed in seeds {
            let whole = run(seed.bytes) { Int.max }
            let bytewise = run(seed.bytes) { 1 }
            XCTAssertEqual(whole.events, bytewise.events, seed.name)
            XCTAssertFalse(whole.events.isEmpty, seed.name)
            switch seed.expect {
            case .ok:
                XCTAssertTrue(whole.events.allSatisfy { if case .request(_, _, _, _, false) = $0 { true } else { false } }, "\(seed.name): \(whole.events)")
            case .tooLarge:
                XCTAssertTrue(whole.events.contains { if case .request(_, _, _, _, true) = $0 { true } else { false } }, "\(seed.name): \(whole.events)")
            case .refused(let status):
                XCTAssertEqual(whole.events.last, .refused(status), seed.name)
            }
            XCTAssertEqual(bytewise.violations(limits: Self.limits), [], seed.name)
        }
    }

    func testMutatedCorpusNeverCrashesNeverAnswers500AndStaysBounded() throws {
        let seeds = try corpus()
        XCTAssertFalse(seeds.isEmpty, "corpus missing in \(Self.corpusDirectory.path)")
        var rng = SplitMix64(seed: 0x17_4_7)
        let tokens: [[UInt8]] = ["\r", "\n", "\r\n", "\r\n\r\n", " ", "\t", ":", ";", ",", "=", "\"", "\\", "0", "f", "ffffffff", "\u{0}",
                                 "chunked", "gzip", "HTTP/1.0", "HTTP/2.0", "Transfer-Encoding: chunked\r\n", "Content-Length: 5\r\n",
                                 "Content-Length: 99999\r\n", "Expect: 100-continue\r\n", "Connection: close\r\n", "0\r\n\r\n",
                                 "5\r\nhello\r\n", "X-T: v\r\n"].map { Array($0.utf8) }
        let iterations = 10_000
        let started = ContinuousClock.now
        var tries = 0, refusals: [Int: Int] = [:], requests = 0, maxBuffered = 0
        while tries < iterations, ContinuousClock.now - started < .seconds(60) {
            tries += 1
            var input = seeds[Int(rng.next() % UInt64(seeds.count))].bytes
            for _ in 0..<(1 + Int(rng.next() % 4)) {
                mutate(&input, tokens: tokens, seeds: seeds, rng: &rng)
            }
            let whole = run(input) { Int.max }
            var pieceRNG = SplitMix64(seed: rng.next())
            let split = run(input) { 1 + Int(pieceRNG.next() % (pieceRNG.next() % 2 == 0 ? 8 : 4096)) }
            XCTAssertEqual(whole.events, split.events, "outcome depends on the split for input \(String(decoding: input.prefix(300), as: UTF8.self).debugDescription)")
            XCTAssertEqual(whole.violations(limits: Self.limits), [])
            XCTAssertEqual(split.violations(limits: Self.limits), [])
            for e in whole.events {
                switch e {
                case .refused(let status): refusals[status, default: 0] += 1
                case .request: requests += 1
                }
            }
            maxBuffered = max(maxBuffered, split.maxBuffered)
            if testRun?.failureCount ?? 0 > 20 { break }
        }
        XCTAssertEqual(tries, iterations, "the fuzz run hit its time bound")
        XCTAssertGreaterThan(requests, tries / 10, "mutations should leave many requests readable")
        XCTAssertGreaterThan(refusals.values.reduce(0, +), tries / 10, "mutations should break many requests")
        print("HTTP parser fuzz: \(tries) mutated inputs in \(ContinuousClock.now - started), \(requests) requests, refusals \(refusals.sorted { $0.key < $1.key }), most bytes held \(maxBuffered) (limit \(Self.limits.maxBufferedBytes))")
    }

    /// Changes `input` once: one of the mutations a fuzzer makes, chosen and placed by `rng`.
    private func mutate(_ input: inout [UInt8], tokens: [[UInt8]], seeds: [(name: String, bytes: [UInt8], expect: Expectation)], rng: inout SplitMix64) {
        let at = input.isEmpty ? 0 : Int(rng.next() % UInt64(input.count + 1))
        switch rng.next() % 8 {
        case 0 where !input.isEmpty:  // replace a byte
            input[min(at, input.count - 1)] = UInt8(truncatingIfNeeded: rng.next())
        case 1:  // insert a token
            input.insert(contentsOf: tokens[Int(rng.next() % UInt64(tokens.count))], at: at)
        case 2 where !input.isEmpty:  // delete a range
            let n = min(input.count - min(at, input.count - 1), 1 + Int(rng.next() % 16))
            input.removeSubrange(min(at, input.count - 1)..<(min(at, input.count - 1) + n))
        case 3 where !input.isEmpty:  // duplicate a range
            let from = Int(rng.next() % UInt64(input.count))
            let n = min(input.count - from, 1 + Int(rng.next() % 64))
            input.insert(contentsOf: Array(input[from..<(from + n)]), at: at)
        case 4:  // splice in part of another seed
            let other = seeds[Int(rng.next() % UInt64(seeds.count))].bytes
            let from = Int(rng.next() % UInt64(other.count))
            input.insert(contentsOf: other[from...], at: at)
        case 5:  // truncate
            input.removeSubrange(at...)
        case 6:  // a run of a token (floods)
            let token = tokens[Int(rng.next() % UInt64(tokens.count))]
            input.insert(contentsOf: Array([[UInt8]](repeating: token, count: 1 + Int(rng.next() % 400)).joined()), at: at)
        default:  // flip case of a letter (field names and codings are case-insensitive)
            if at < input.count, (0x41...0x5A).contains(input[at] & 0xDF) { input[at] ^= 0x20 }
        }
    }
}
