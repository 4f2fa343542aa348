import HTTPWire
import XCTest

/// The llhttp driver both parsers are built on: where it pauses, what it records (as offsets in the
/// caller's buffer, across calls), and what it refuses on top of llhttp.
final class LLHTTPParserTests: XCTestCase {
    /// Runs `parser` over `bytes` from `from`, `piece` bytes per call, until it stops for something other
    /// than more input; returns that stop, where it happened, and every pause on the way.
    private func drive(_ parser: inout LLHTTPParser, _ bytes: [UInt8], from: Int = 0, piece: Int) -> (stops: [LLHTTPParser.Stop], position: Int) {
        var at = from, stops: [LLHTTPParser.Stop] = []
        bytes.withUnsafeBytes { raw in
            var end = min(raw.count, at + piece)
            while true {
                let (stop, position) = parser.execute(raw, from: at, to: end)
                at = position
                if stop == .needMore {
                    if end == raw.count { break }
                    end = min(raw.count, end + piece)
                    continue
                }
                stops.append(stop)
                if stop == .messageComplete { break }
                if case .failed = stop { break }
            }
        }
        return (stops, at)
    }

    func testRequestPausesAfterTheHeadTheLastChunkAndTheMessageWhateverTheSplit() {
        let first = "POST /a?b=1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nX-Long: \(String(repeating: "v", count: 100))\r\n\r\n"
            + "3;e=1\r\nabc\r\n2\r\nde\r\n0\r\nT: 1\r\n\r\n"
        let bytes = Array((first + "GET /next HTTP/1.1\r\n\r\n").utf8)
        for piece in [1, 2, 7, 64, bytes.count] {
            var p = LLHTTPParser(.request, recordsFields: true)
            p.recordsBodySpans = true
            let (stops, end) = drive(&p, bytes, piece: piece)
            XCTAssertEqual(stops, [.headComplete, .trailersNext, .messageComplete], "pieces of \(piece)")
            XCTAssertEqual(end, first.utf8.count, "the next request is left unread")
            XCTAssertEqual(p.method, "POST")
            XCTAssertEqual(p.target.map { Array(bytes[$0]) }, Array("/a?b=1".utf8))
            XCTAssertEqual(p.fields.map { String(decoding: bytes[$0.name], as: UTF8.self) }, ["Host", "Transfer-Encoding", "X-Long"],
                           "trailer fields are not recorded")
            XCTAssertEqual(p.fields.last.map { $0.value.count }, 100)
            XCTAssertEqual(p.bodySpans.flatMap { bytes[$0] }, Array("abcde".utf8), "the chunk data without its framing")
            XCTAssertEqual(p.bodyCount, 5)
            XCTAssertTrue(p.chunked)
            XCTAssertEqual(p.phase, .idle)
        }
    }

    func testResponseBodyInOnePieceAndFlagsForFraming() {
        let text = Array("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 4\r\n\r\nbodyX".utf8)
        var p = LLHTTPParser(.response)
        let (stops, end) = drive(&p, text, piece: 5)
        XCTAssertEqual(stops, [.headComplete, .messageComplete])
        XCTAssertEqual(end, text.count - 1)
        XCTAssertEqual(p.body.map { Array(text[$0]) }, Array("body".utf8))
        XCTAssertEqual([p.status, p.httpMajor, p.httpMinor, p.contentLength ?? -1], [200, 1, 0, 0],
                       "llhttp counts Content-Length down as the body arrives")
        XCTAssertTrue(p.connectionKeepAlive)
        XCTAssertFalse(p.connectionClose)
        XCTAssertTrue(p.fields.isEmpty, "fields are recorded only when asked")
    }

    func testBodyLimitVersionAndEmptyChunkExtensionAreRefusedWithWhere() {
        func failure(_ kind: LLHTTPParser.Kind, _ s: String, maxBody: Int = .max) -> LLHTTPError? {
            var p = LLHTTPParser(kind, maxBodyBytes: maxBody)
            if case .failed(let e) = drive(&p, Array(s.utf8), piece: 3).stops.last { return e }
            return nil
        }
        let chunked = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        let big = failure(.request, chunked + "4\r\nabcd\r\n3\r\n", maxBody: 6)
        XCTAssertEqual(big?.kind, .bodyTooLarge, "refused at the size line, before the data")
        XCTAssertEqual(big?.phase, .body)
        XCTAssertEqual(failure(.response, "HTTP/1.0 200 OK\r\n\r\n1234567", maxBody: 6)?.kind, .bodyTooLarge)
        XCTAssertEqual(failure(.request, "GET / HTTP/2.0\r\n\r\n")?.kind, .unsupportedVersion(major: 2, minor: 0))
        XCTAssertEqual(failure(.request, chunked + "5;a=\r\nhello\r\n0\r\n\r\n")?.kind, .syntax)
        let bareCR = failure(.request, "GET / HTTP/1.1\r\nX-A: b\rc\r\n\r\n")
        XCTAssertEqual(bareCR?.kind, .syntax)
        XCTAssertEqual(bareCR?.offset, 23, "the byte after the bare CR")
        XCTAssertEqual(bareCR?.name, "HPE_LF_EXPECTED")
        XCTAssertEqual(failure(.request, "GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx")?.kind, .contentLength)
    }

    func testTheInputEndingInsideAMessageIsTruncatedAndACloseDelimitedBodyEndsThere() {
        var cut = LLHTTPParser(.response)
        _ = drive(&cut, Array("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhi".utf8), piece: 100)
        guard case .failed(let e) = cut.finish() else { return XCTFail("a cut body is not a message") }
        XCTAssertEqual([e.kind == .truncated, e.phase == .body], [true, true])
        var close = LLHTTPParser(.response)
        _ = drive(&close, Array("HTTP/1.1 200 OK\r\n\r\nuntil the close".utf8), piece: 4)
        XCTAssertEqual(close.finish(), .messageComplete)
        XCTAssertEqual(close.bodyCount, 15)
        var nothing = LLHTTPParser(.response)
        XCTAssertEqual(nothing.finish(), .needMore, "no message had begun")
    }

    func testHeadWithoutItsEmptyLineLeavesThePartialField() {
        let head = Array("HTTP/1.1 503 Busy\r\nRetry-After: 1 \r\nContent-Length: 12".utf8)
        var p = LLHTTPParser(.response, recordsFields: true)
        XCTAssertEqual(drive(&p, head, piece: head.count).stops, [])
        XCTAssertEqual(p.fields.count, 1)
        head.withUnsafeBytes { raw in
            XCTAssertEqual(p.fields.first.map { Array(raw[LLHTTPParser.trimmed($0.value, in: raw)]) }, Array("1".utf8))
        }
        XCTAssertEqual(p.partialField.map { Array(head[$0.value]) }, Array("12".utf8))
    }
}
