import HTTPWire
import XCTest

/// The one response parser, byte by byte: framing, keep-alive, limits, and what it refuses.
final class HTTPResponseParserTests: XCTestCase {
    private func parse(_ s: String, eof: Bool = false, head: Bool = false,
                       limits: HTTPResponseParser.Limits = .init()) -> HTTPResponseParser.Outcome {
        HTTPResponseParser.parse(Array(s.utf8), eof: eof, headRequest: head, limits: limits)
    }

    /// The response, its body as text, and whether the connection may carry the next request.
    private func complete(_ s: String, eof: Bool = false, head: Bool = false,
                          file: StaticString = #filePath, line: UInt = #line) -> (HTTPResponse, String)? {
        guard case .complete(let r) = parse(s, eof: eof, head: head) else {
            XCTFail("not complete: \(parse(s, eof: eof, head: head))", file: file, line: line)
            return nil
        }
        return (r, String(decoding: r.body(in: Array(s.utf8)), as: UTF8.self))
    }

    func testContentLengthBodyOnAKeptAliveConnection() throws {
        let text = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi"
        let (r, body) = try XCTUnwrap(complete(text))
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(body, "hi")
        XCTAssertEqual(r.framing, .length)
        XCTAssertEqual(r.head.contentLength, 2)
        XCTAssertTrue(r.reusable)
        XCTAssertEqual(r.length, text.utf8.count)
        XCTAssertEqual(r.head.length, text.utf8.count - 2)
    }

    func testEveryPrefixOfAResponseIsIncompleteAndTheWholeIsComplete() {
        for text in ["HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
                     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhe\r\n3;x=y\r\nllo\r\n0\r\nT: 1\r\n\r\n",
                     "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"] {
            let bytes = Array(text.utf8)
            for n in 0..<bytes.count {
                XCTAssertEqual(HTTPResponseParser.parse(bytes, count: n, eof: false), .incomplete, "\(n) bytes of \(text.debugDescription)")
            }
            guard case .complete(let r) = HTTPResponseParser.parse(bytes, eof: false) else { return XCTFail(text) }
            XCTAssertEqual(r.length, bytes.count)
        }
    }

    func testPipelinedAnswersAreTakenOneAtATime() throws {
        let two = Array("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 503 Service Unavailable\r\nContent-Length: 1\r\n\r\nb".utf8)
        guard case .complete(let first) = HTTPResponseParser.parse(two, eof: false) else { return XCTFail() }
        XCTAssertEqual(first.status, 200)
        let rest = Array(two[first.length...])
        guard case .complete(let second) = HTTPResponseParser.parse(rest, eof: false) else { return XCTFail() }
        XCTAssertEqual(second.status, 503)
        XCTAssertEqual(second.body(in: rest), Array("b".utf8))
        XCTAssertEqual(first.length + second.length, two.count)
    }

    func testChunkedBodyIsDechunkedWithExtensionsTrailersAndBareLineFeeds() throws {
        let (r, body) = try XCTUnwrap(complete("HTTP/1.1 200 OK\nTransfer-Encoding: gzip, Chunked\r\n\r\n7;name=v\r\ntandem \r\nA\r\nhealthy!!!\n0\r\nX-Trailer: y\r\n\r\n"))
        XCTAssertEqual(body, "tandem healthy!!!")
        XCTAssertEqual(r.framing, .chunked)
        XCTAssertEqual(r.bodyCount, 17)
        XCTAssertTrue(r.reusable, "trailers do not stop keep-alive")
        // llhttp takes a bare LF after a status line, a field line and chunk data, not after a chunk size.
        XCTAssertEqual(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nA\nhealthy!!!\r\n0\r\n\r\n"), .invalid(.badChunk))
        let (bareLF, text) = try XCTUnwrap(complete("HTTP/1.1 200 OK\nContent-Length: 2\n\nhi"))
        XCTAssertEqual([bareLF.status, bareLF.head.length], [200, 35])
        XCTAssertEqual(text, "hi")
    }

    func testCloseDelimitedBodyEndsOnlyAtTheClose() throws {
        let text = "HTTP/1.0 404 Not Found\r\n\r\nnope"
        XCTAssertEqual(parse(text), .incomplete)
        let (r, body) = try XCTUnwrap(complete(text, eof: true))
        XCTAssertEqual([r.status, r.head.minorVersion], [404, 0])
        XCTAssertEqual(body, "nope")
        XCTAssertEqual(r.framing, .close)
        XCTAssertFalse(r.reusable)
        // A transfer coding that is not finally chunked reads to the close too (RFC 9112 section 6.3).
        XCTAssertEqual(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 2\r\n\r\nhi"), .incomplete)
    }

    func testKeepAliveFollowsVersionAndConnectionHeader() throws {
        func reusable(_ head: String) -> Bool? {
            guard case .complete(let r) = parse(head + "Content-Length: 0\r\n\r\n") else { return nil }
            return r.reusable
        }
        XCTAssertEqual(reusable("HTTP/1.1 200 OK\r\n"), true)
        XCTAssertEqual(reusable("HTTP/1.1 200 OK\r\nConnection: Close\r\n"), false)
        XCTAssertEqual(reusable("HTTP/1.1 200 OK\r\nConnection: upgrade, close\r\n"), false)
        XCTAssertEqual(reusable("HTTP/1.0 200 OK\r\n"), false)
        XCTAssertEqual(reusable("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\n"), true)
        // Both framings at once may be a smuggling attempt: close after it.
        guard case .complete(let both) = parse("HTTP/1.1 200 OK\r\nContent-Length: 9\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n") else { return XCTFail() }
        XCTAssertEqual(both.framing, .chunked)
        XCTAssertFalse(both.reusable)
        guard case .complete(let upgraded) = parse("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n") else { return XCTFail() }
        XCTAssertEqual([upgraded.status, upgraded.bodyCount], [101, 0])
        XCTAssertFalse(upgraded.reusable, "the connection speaks another protocol now")
    }

    func testNoBodyAfterHeadAnd204And304AndInterimAnswersAreSkipped() throws {
        let (afterHead, _) = try XCTUnwrap(complete("HTTP/1.1 200 OK\r\nContent-Length: 14\r\n\r\n", head: true))
        XCTAssertEqual(afterHead.framing, .none)
        XCTAssertTrue(afterHead.reusable)
        XCTAssertEqual(parse("HTTP/1.1 200 OK\r\nContent-Length: 14\r\n\r\n"), .incomplete, "the same answer to GET waits for the body")
        XCTAssertEqual(try XCTUnwrap(complete("HTTP/1.1 204 No Content\r\n\r\n")).0.status, 204)
        XCTAssertEqual(try XCTUnwrap(complete("HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n")).0.bodyCount, 0)
        let (final, body) = try XCTUnwrap(complete("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"))
        XCTAssertEqual(final.status, 201)
        XCTAssertEqual(body, "ok")
        XCTAssertEqual(final.headRange, 65..<108, "the final answer's head, after two interim ones")
        // The head alone, for a caller that wants to see the interim answer.
        guard case .head(let interim) = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8).withUnsafeBytes({ HTTPResponseParser.parseHead($0) }) else { return XCTFail() }
        XCTAssertEqual([interim.status, interim.length], [100, 25])
    }

    func testWhatIsRefusedAndWhy() {
        XCTAssertEqual(parse("SSH-2.0-OpenSSH_9.2\r\n"), .invalid(.badStatusLine))
        XCTAssertEqual(parse("SSH-"), .invalid(.badStatusLine), "refused before a line end arrives")
        XCTAssertEqual(parse("HTTP/2 200\r\n\r\n"), .invalid(.badStatusLine))
        XCTAssertEqual(parse("HTTP/1.1 20 OK\r\n\r\n"), .invalid(.badStatusLine))
        XCTAssertEqual(parse("HTTP/1.1 200OK\r\n\r\n"), .invalid(.badStatusLine))
        XCTAssertEqual(parse("HTTP/1.1 200 OK\r\nno colon\r\n\r\n"), .invalid(.badHeaderLine))
        XCTAssertEqual(parse("HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n"), .invalid(.badContentLength))
        XCTAssertEqual(parse("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"), .invalid(.badContentLength))
        XCTAssertEqual(parse("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx"), .invalid(.badContentLength),
                       "llhttp refuses a second Content-Length even when it agrees")
        XCTAssertEqual(parse("HTTP/2.0 200 OK\r\n\r\n"), .invalid(.badStatusLine), "only HTTP/1.x")
        XCTAssertEqual(parse("HTTP/1.1 200 OK\r\nX: a\u{1}b\r\n\r\n"), .invalid(.badHeaderLine), "a control character in a field value")
        XCTAssertEqual(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"), .invalid(.badChunk))
        XCTAssertEqual(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhiX"), .invalid(.badChunk))
        XCTAssertEqual(parse("", eof: true), .invalid(.closedBeforeResponse))
        XCTAssertEqual(parse("HTTP/1.1 200 OK\r\n", eof: true), .invalid(.truncatedHead))
        XCTAssertEqual(parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhi", eof: true), .invalid(.truncatedBody))
        XCTAssertEqual(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhi", eof: true), .invalid(.truncatedChunk))
        XCTAssertEqual(HTTPResponseError.badStatusLine.code, "bad_status_line")
    }

    func testLimitsOnHeadAndBody() {
        let small = HTTPResponseParser.Limits(maxHeadBytes: 64, maxBodyBytes: 4)
        XCTAssertEqual(parse("HTTP/1.1 200 OK\r\nX: " + String(repeating: "a", count: 80), limits: small), .invalid(.headTooLarge(limit: 64)))
        XCTAssertEqual(parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", limits: small), .invalid(.bodyTooLarge(limit: 4)),
                       "refused from the header, before the body comes")
        XCTAssertEqual(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\n", limits: small), .invalid(.bodyTooLarge(limit: 4)))
        XCTAssertEqual(parse("HTTP/1.0 200 OK\r\n\r\nabcde", limits: small), .invalid(.bodyTooLarge(limit: 4)))
        XCTAssertEqual(HTTPResponseError.bodyTooLarge(limit: 1 << 20).description, "body over 1 MiB")
        XCTAssertEqual(HTTPResponseError.headTooLarge(limit: 64 * 1024).description, "response header over 64 KiB")
    }

    func testHeaderValueLookupIgnoresCaseAndTrims() {
        let head = "HTTP/1.1 503 Service Unavailable\r\nretry-after:  1 \r\nContent-Length: 12"
        XCTAssertEqual(HTTPResponseParser.headerValue("Retry-After", in: head.utf8), "1")
        XCTAssertEqual(HTTPResponseParser.headerValue("content-length", in: head.utf8), "12", "the last line needs no line end")
        XCTAssertNil(HTTPResponseParser.headerValue("Connection", in: head.utf8))
        XCTAssertNil(HTTPResponseParser.headerValue("X", in: "HTTP/1.1 200 OK\r\n\r\nX: body".utf8), "the body is not the head")
    }
}
