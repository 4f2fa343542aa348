import NIOCore
import XCTest
@testable import GridServices
@testable import GridModel


/// The byte-level HTTP/1.1 request parser and encoder of gridsvc (no sockets).
final class GridHTTPWireTests: XCTestCase {
    typealias Outcome = GridHTTPRequestParser.Outcome

    /// A fresh parser with `maxBody` given all of `s` at once.
    private func parser(_ s: String, maxBody: Int = 64) -> GridHTTPRequestParser {
        var p = GridHTTPRequestParser(limits: GridHTTPLimits(maxBodyBytes: maxBody))
        p.append(ByteBuffer(string: s))
        return p
    }

    private func first(_ s: String, maxBody: Int = 64) -> Outcome {
        var p = parser(s, maxBody: maxBody)
        return p.next()
    }

    private func request(_ s: String, maxBody: Int = 64, file: StaticString = #filePath, line: UInt = #line) -> GridHTTPRequestParser.Parsed? {
        switch first(s, maxBody: maxBody) {
        case .request(let p): return p
        case .incomplete: XCTFail("incomplete: \(s.debugDescription)", file: file, line: line)
        case .awaitingBody: XCTFail("awaiting body: \(s.debugDescription)", file: file, line: line)
        case .invalid(let status, let message): XCTFail("invalid \(status) \(message): \(s.debugDescription)", file: file, line: line)
        }
        return nil
    }

    private func invalidStatus(_ s: String, maxBody: Int = 64) -> Int? {
        var p = parser(s, maxBody: maxBody)
        while true {
            switch p.next() {
            case .invalid(let status, _): return status
            case .request(let r) where r.keepAlive: continue
            default: return nil
            }
        }
    }

    private func isIncomplete(_ o: Outcome) -> Bool { if case .incomplete = o { return true } else { return false } }
    private func isAwaitingBody(_ o: Outcome) -> Bool { if case .awaitingBody = o { return true } else { return false } }

    func testParsesMethodPathHeadersAndBodyAndStopsAtTheRequestEnd() throws {
        let first = "POST /gums/map?x=1 HTTP/1.1\r\nHost: a\r\ncontent-TYPE: Application/JSON\r\nContent-Length: 7\r\n\r\n{\"k\":1}"
        let second = "GET /healthz HTTP/1.1\r\n\r\n"
        var parser = parser(first + second)
        guard case .request(let p) = parser.next() else { return XCTFail("first request not parsed") }
        XCTAssertEqual(p.request.method, "POST")
        XCTAssertEqual(p.request.path, "/gums/map")
        XCTAssertEqual(p.request.contentType, "Application/JSON")
        XCTAssertEqual(p.request.contentLength, 7)
        XCTAssertEqual(String(buffer: p.request.body), "{\"k\":1}")
        XCTAssertFalse(p.request.bodyTooLarge)
        XCTAssertTrue(p.keepAlive)
        XCTAssertFalse(p.isHead)
        // The pipelined second request starts right after, and then the input is used up.
        guard case .request(let q) = parser.next() else { return XCTFail("second request not parsed") }
        XCTAssertEqual(q.request.method, "GET")
        XCTAssertEqual(q.request.path, "/healthz")
        XCTAssertTrue(isIncomplete(parser.next()))
        XCTAssertEqual(parser.bufferedBytes, 0)
        XCTAssertEqual(parser.phase, .idle)
    }

    func testEveryPrefixOfARequestIsIncomplete() {
        let full = "POST /saz/authorize HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"dn\":\"/x\"}"
        let bytes = Array(full.utf8)
        for n in 0..<bytes.count {
            var p = GridHTTPRequestParser(limits: GridHTTPLimits(maxBodyBytes: 64))
            p.append(ByteBuffer(bytes: bytes[0..<n]))
            XCTAssertTrue(isIncomplete(p.next()), "prefix of \(n) bytes was not incomplete")
        }
        XCTAssertEqual(request(full).map { String(buffer: $0.request.body) }, "{\"dn\":\"/x\"}")
    }

    /// Fed one byte at a time, the parser resumes where it stopped: the bytes it looks at grow linearly
    /// with the input (the old parser re-scanned its whole buffer per read: 16 KiB of head one byte per
    /// read was ~134 million byte visits).
    func testInputSplitIntoSingleBytesIsParsedInLinearWork() {
        let head = "POST /saz/authorize HTTP/1.1\r\nX-Pad: " + String(repeating: "p", count: 12_000) + "\r\nTransfer-Encoding: chunked\r\n\r\n"
        let body = "3;e=\"x\"\r\n{}\n\r\n0\r\nX-T: " + String(repeating: "t", count: 3000) + "\r\n\r\n"
        let bytes = Array((head + body + "\r\nGET /next HTTP/1.1\r\n\r\n").utf8)
        var p = GridHTTPRequestParser(limits: GridHTTPLimits(maxBodyBytes: 64))
        var outcomes: [String] = []
        for b in bytes {
            p.append(ByteBuffer(bytes: [b]))
            switch p.next() {
            case .request(let r): outcomes.append("\(r.request.path) \(String(buffer: r.request.body))")
            case .invalid(let status, let message): outcomes.append("\(status) \(message)")
            case .incomplete, .awaitingBody: break
            }
            XCTAssertLessThanOrEqual(p.bufferedBytes, p.limits.maxBufferedBytes)
        }
        XCTAssertEqual(outcomes, ["/saz/authorize {}\n", "/next "])
        XCTAssertLessThanOrEqual(p.examined, 3 * bytes.count, "work per byte must not grow with the buffer")
    }

    func testKeepAliveFollowsVersionAndConnectionHeader() {
        XCTAssertEqual(request("GET / HTTP/1.1\r\n\r\n")?.keepAlive, true)
        XCTAssertEqual(request("GET / HTTP/1.1\r\nConnection: Close\r\n\r\n")?.keepAlive, false)
        XCTAssertEqual(request("GET / HTTP/1.0\r\n\r\n")?.keepAlive, false)
        XCTAssertEqual(request("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")?.keepAlive, true)
        XCTAssertEqual(request("HEAD / HTTP/1.1\r\nHost: x\r\n\r\n")?.isHead, true)
        XCTAssertEqual(invalidStatus("HEAD / HTTP/1.1\nHost: x\n\n"), 400, "llhttp's strict mode: a line ends in CRLF")
        XCTAssertEqual(request("GET / HTTP/1.2\r\n\r\n")?.keepAlive, true, "a higher minor version is served as 1.1")
    }

    func testChunkedBodyIsDecoded() {
        let message = "POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"k\"\r\n3;ext=1;q=\"a\\\"b\"\r\n:1}\r\n0\r\nX-Trailer: y\r\n\r\n"
        var p = parser(message + "POST")
        guard case .request(let r) = p.next() else { return XCTFail("chunked request not parsed") }
        XCTAssertEqual(String(buffer: r.request.body), "{\"k\":1}")
        XCTAssertTrue(isIncomplete(p.next()))
        XCTAssertEqual(p.bufferedBytes, 4, "only the next request's first bytes stay")
        XCTAssertEqual(p.phase, .head)
        XCTAssertTrue(isIncomplete(first("POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"k")), "a cut chunk")
    }

    func testExpectContinueWaitsForTheBodyOnceAndOtherExpectationsFail() {
        let head = "POST /b HTTP/1.1\r\nContent-Length: 7\r\nExpect: 100-Continue\r\n\r\n"
        var p = parser(head)
        XCTAssertTrue(isAwaitingBody(p.next()), "head alone must await the body")
        XCTAssertTrue(isIncomplete(p.next()), "100 Continue is asked for once")
        XCTAssertEqual(p.phase, .body)
        p.append(ByteBuffer(string: "{\"k\":1}"))
        guard case .request(let r) = p.next() else { return XCTFail("body after 100 Continue not parsed") }
        XCTAssertEqual(String(buffer: r.request.body), "{\"k\":1}")
        XCTAssertTrue(isAwaitingBody(first(head + "{\"k\"")), "part of the body must await the rest")
        // A request whose body came with its head leaves no expectation to the next one.
        var pipelined = parser(head + "{\"k\":1}" + "POST /n HTTP/1.1\r\nContent-Length: 7\r\n\r\n{")
        guard case .request = pipelined.next() else { return XCTFail("first pipelined request") }
        XCTAssertTrue(isIncomplete(pipelined.next()), "the next request did not ask for 100 Continue")
        // Without Expect the same head is merely incomplete; a cut head is incomplete either way.
        XCTAssertTrue(isIncomplete(first("POST /b HTTP/1.1\r\nContent-Length: 7\r\n\r\n")))
        XCTAssertTrue(isIncomplete(first("POST /b HTTP/1.1\r\nExpect: 100-continue\r\n")))
        XCTAssertTrue(isAwaitingBody(first("POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n")))
        // A body over the limit is refused before it is sent, and the connection closes.
        let big = request("POST /c HTTP/1.1\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n", maxBody: 64)
        XCTAssertEqual(big?.request.bodyTooLarge, true)
        XCTAssertEqual(big?.keepAlive, false)
        XCTAssertEqual(invalidStatus("POST /b HTTP/1.1\r\nContent-Length: 7\r\nExpect: fast\r\n\r\n"), 417)
        // HTTP/1.0 has no Expect (RFC 9110 section 10.1.1): ignored.
        XCTAssertEqual(request("POST /b HTTP/1.0\r\nContent-Length: 2\r\nExpect: fast\r\n\r\nhi")?.request.body.readableBytes, 2)
    }

    func testBodyOverTheLimitIsDroppedAndTheConnectionGoesOn() {
        var p = parser("POST /c HTTP/1.1\r\nContent-Length: 100\r\n\r\n0123456789")
        guard case .request(let r) = p.next() else { return XCTFail("oversized request not handed on") }
        XCTAssertEqual(r.request.bodyTooLarge, true)
        XCTAssertEqual(r.request.body.readableBytes, 0)
        XCTAssertEqual(r.keepAlive, true)
        XCTAssertEqual(p.phase, .discarding)
        p.append(ByteBuffer(string: String(repeating: "x", count: 90) + "GET /after HTTP/1.1\r\n\r\n"))
        guard case .request(let after) = p.next() else { return XCTFail("the request after the dropped body") }
        XCTAssertEqual(after.request.path, "/after")
        // Beyond the discard allowance the body is not read: the connection closes after the answer.
        let huge = request("POST /c HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n", maxBody: 64)
        XCTAssertEqual(huge?.request.bodyTooLarge, true)
        XCTAssertEqual(huge?.keepAlive, false)
        // A chunked body over the limit is cut off as soon as its size line says so.
        let chunked = request("POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nffffff\r\nabc", maxBody: 64)
        XCTAssertEqual(chunked?.request.bodyTooLarge, true)
        XCTAssertEqual(chunked?.keepAlive, false)
    }

    func testUnreadableRequestsGetTheirStatus() {
        XCTAssertEqual(invalidStatus("GARBAGE\r\n\r\n"), 400)
        XCTAssertEqual(invalidStatus("GET /\r\n\r\n"), 400)
        XCTAssertEqual(invalidStatus("GET / HTTP/1.1 \r\n\r\n"), 400)
        XCTAssertEqual(invalidStatus("GET / HTTX/1.1\r\n\r\n"), 400)
        XCTAssertEqual(invalidStatus("PRI * HTTP/2.0\r\n\r\n"), 505)
        XCTAssertEqual(invalidStatus("GET / HTTP/0.9\r\n\r\n"), 505)
        XCTAssertEqual(invalidStatus("GET / HTTP/1.1\r\nNo colon here\r\n\r\n"), 400)
        XCTAssertEqual(invalidStatus("GET / HTTP/1.1\r\nHost : x\r\n\r\n"), 400, "whitespace before the colon")
        XCTAssertEqual(invalidStatus("GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n"), 400, "obs-fold")
        XCTAssertEqual(invalidStatus("GET / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n"), 400)
        XCTAssertEqual(invalidStatus("GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"), 400)
        XCTAssertEqual(invalidStatus("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n"), 501)
        XCTAssertEqual(invalidStatus("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"), 400)
        XCTAssertEqual(invalidStatus("GET / HTTP/1.1\r\nX: " + String(repeating: "a", count: GridHTTPLimits().maxHeadBytes)), 431)
        // llhttp knows the registered methods only; a request line without a version is HTTP/0.9.
        XCTAssertEqual(invalidStatus("FROB / HTTP/1.1\r\n\r\n"), 400)
        XCTAssertEqual(invalidStatus("GET /x\nHost: a\r\nContent-Length: 5\r\n\r\nhello"), 400)
        XCTAssertEqual(invalidStatus("GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx"), 400, "even an agreeing second one")
    }

    /// `Upgrade` and `CONNECT` requests are read as plain requests (answered as any other), never as a
    /// switch to another protocol: the bytes after them are the next request.
    func testUpgradeAndConnectAreReadAsPlainRequests() {
        var p = parser("GET /ws HTTP/1.1\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\nCONNECT gums:443 HTTP/1.1\r\n\r\nGET /after HTTP/1.1\r\n\r\n")
        var paths: [String] = []
        while case .request(let r) = p.next() { paths.append("\(r.request.method) \(r.request.path)") }
        XCTAssertEqual(paths, ["GET /ws", "CONNECT gums:443", "GET /after"])
    }

    // MARK: issue 17, item 7: each lenient case of the old parser, refused as RFC 9112 says.

    func testTransferCodingOtherThanChunkedIs501AndChunkedTwiceIs400() {
        let body = "\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
        XCTAssertEqual(invalidStatus("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip" + body), 501)
        XCTAssertEqual(invalidStatus("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked" + body), 501)
        XCTAssertEqual(invalidStatus("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip" + body), 501)
        XCTAssertEqual(invalidStatus("POST / HTTP/1.1\r\nTransfer-Encoding: chunked;x=1" + body), 501)
        XCTAssertEqual(invalidStatus("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked" + body), 400)
        XCTAssertEqual(invalidStatus("POST / HTTP/1.1\r\nTransfer-Encoding: ," + body), 400)
        XCTAssertEqual(request("POST / HTTP/1.1\r\nTransfer-Encoding: , CHUNKED" + body).map { String(buffer: $0.request.body) }, "hello")
    }

    func testChunkSizeIsHexDigitsThenExtensionsThenCRLF() {
        let head = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        for bad in ["5zzz\r\nhello\r\n0\r\n\r\n", "0x5\r\nhello\r\n0\r\n\r\n", "5 \r\nhello\r\n0\r\n\r\n", "5\nhello\r\n0\r\n\r\n",
                    "\r\nhello\r\n0\r\n\r\n", "-5\r\nhello\r\n0\r\n\r\n", "5;\r\nhello\r\n0\r\n\r\n", "5;a=\r\nhello\r\n0\r\n\r\n",
                    "5;a=\"b\r\nhello\r\n0\r\n\r\n", "5\r\nhelloX\r\n0\r\n\r\n", "5\r\nhello\n0\r\n\r\n", "5\r\r\nhello\r\n0\r\n\r\n",
                    // llhttp takes no whitespace around ';' and '=' (RFC 9112 section 7.1.1 allows BWS there):
                    // stricter than the RFC, which is the side to err on for framing.
                    "5 ; a = b ;c=\"d e\"\r\nhello\r\n0\r\n\r\n", "5;a =b\r\nhello\r\n0\r\n\r\n"] {
            XCTAssertEqual(invalidStatus(head + bad), 400, bad.debugDescription)
        }
        for good in ["5\r\nhello\r\n0\r\n\r\n", "05;a\r\nhello\r\n0\r\n\r\n", "5;a=b;c=\"d \\\"e\"\r\nhello\r\n0\r\n\r\n", "5\r\nhello\r\n000\r\n\r\n"] {
            XCTAssertEqual(request(head + good).map { String(buffer: $0.request.body) }, "hello", good.debugDescription)
        }
    }

    func testBareCRAndControlCharactersAreRefusedWherever() {
        let refused = [
            "GET / HTTP/1.1\r\nX-A: b\rc\r\n\r\n", "GET / HTTP/1.1\r\nX-A: b\r\r\n\r\n", "GET / HTTP/1.1\r\nX\r-A: b\r\n\r\n",
            "GET /a\rb HTTP/1.1\r\n\r\n", "GET / HTTP/1.1\r\r\n\r\n", "\rGET / HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\r\nX-A: a\u{0}b\r\n\r\n", "GET / HTTP/1.1\r\nX-A: a\u{7f}b\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: a\rb\r\n\r\n",  // in a trailer
        ]
        for bad in refused { XCTAssertEqual(invalidStatus(bad), 400, bad.debugDescription) }
        // Tabs and obs-text are field content.
        XCTAssertNotNil(request("GET / HTTP/1.1\r\nX-A: a\tb\u{e9}\r\n\r\n"))
    }

    func testChunkedFramingInHTTP10IsRefused() {
        XCTAssertEqual(invalidStatus("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"), 400)
    }

    // MARK: issue 17, item 4: budgets for every byte a client sends.

    func testEmptyLinesBeforeARequestHaveABudget() {
        let limits = GridHTTPLimits(maxBodyBytes: 64)
        let allowed = String(repeating: "\r\n", count: limits.maxEmptyLineBytes / 2)
        XCTAssertEqual(request(allowed + "GET /x HTTP/1.1\r\n\r\n")?.request.path, "/x")
        XCTAssertEqual(invalidStatus(allowed + "\n" + "GET /x HTTP/1.1\r\n\r\n"), 400)
        // 5 MB of empty lines, fed as a socket would deliver them: refused within the first read, and
        // what the parser holds never exceeds its limits.
        let refused = feed(unit: Array("\r\n".utf8), total: 5 << 20, after: [], limits: limits)
        XCTAssertEqual(refused.status, 400)
        XCTAssertLessThanOrEqual(refused.fed, 65536, "refused within the first 64 KiB read")
        XCTAssertLessThanOrEqual(refused.maxBuffered, limits.maxBufferedBytes)
    }

    func testTrailersHaveABudget() {
        let limits = GridHTTPLimits(maxBodyBytes: 64)
        let head = Array("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n".utf8)
        let refused = feed(unit: Array("X-T: 0123456789abcdef\r\n".utf8), total: 5 << 20, after: head, limits: limits)
        XCTAssertEqual(refused.status, 431)
        XCTAssertLessThanOrEqual(refused.fed, 65536 + head.count)
        XCTAssertLessThanOrEqual(refused.maxBuffered, limits.maxBufferedBytes)
        // One trailer line that never ends is refused too.
        let endless = feed(unit: Array("a".utf8), total: 1 << 20, after: head + Array("X-T: ".utf8), limits: limits)
        XCTAssertEqual(endless.status, 431)
        XCTAssertLessThanOrEqual(endless.maxBuffered, limits.maxBufferedBytes)
    }

    func testChunkFramingHasABudget() {
        let limits = GridHTTPLimits(maxBodyBytes: 64)
        // Chunk extensions cost framing, not body: an endless one ends the request as too large.
        var p = GridHTTPRequestParser(limits: limits)
        p.append(ByteBuffer(string: "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1;x=" + String(repeating: "y", count: limits.maxChunkFramingBytes)))
        guard case .request(let r) = p.next() else { return XCTFail("an endless chunk extension must end the request") }
        XCTAssertTrue(r.request.bodyTooLarge)
        XCTAssertFalse(r.keepAlive)
    }

    /// Feeds `after` and then `unit` repeated up to `total` bytes in 64 KiB pieces until the parser refuses
    /// the input; returns the status, the bytes fed and the most the parser held between pieces.
    private func feed(unit: [UInt8], total: Int, after prefix: [UInt8], limits: GridHTTPLimits) -> (status: Int?, fed: Int, maxBuffered: Int) {
        var p = GridHTTPRequestParser(limits: limits)
        let piece = ByteBuffer(bytes: Array([[UInt8]](repeating: unit, count: 65536 / unit.count).joined()))
        p.append(ByteBuffer(bytes: prefix))
        var fed = prefix.count, maxBuffered = 0
        while fed < total + prefix.count {
            p.append(piece)
            fed += piece.readableBytes
            switch p.next() {
            case .invalid(let status, _): return (status, fed, maxBuffered)
            case .request(let r): XCTFail("unexpected request \(r.request.path)"); return (nil, fed, maxBuffered)
            case .incomplete, .awaitingBody: maxBuffered = max(maxBuffered, p.bufferedBytes)
            }
        }
        return (nil, fed, maxBuffered)
    }

    func testEncodesOneAnswerWithLengthHeadersAndClose() {
        var out = ByteBuffer()
        GridHTTPWire.encode(GridHTTPResponse(status: 200, contentType: "application/json", body: Array("{}".utf8)), keepAlive: true, isHead: false, into: &out)
        XCTAssertEqual(String(buffer: out), "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
        out.clear()
        let busy = GridHTTPResponse(status: 503, contentType: "application/json", body: Array("{\"error\":\"overloaded\"}".utf8), headers: [("Retry-After", "1")])
        GridHTTPWire.encode(busy, keepAlive: false, isHead: false, into: &out)
        XCTAssertEqual(String(buffer: out), "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: 22\r\nRetry-After: 1\r\nConnection: close\r\n\r\n{\"error\":\"overloaded\"}")
        XCTAssertLessThanOrEqual(out.readableBytes, GridHTTPWire.encodedSizeBound(busy))
        out.clear()
        GridHTTPWire.encode(GridHTTPResponse(status: 404, contentType: "text/plain", body: Array("no such path here".utf8)), keepAlive: true, isHead: true, into: &out)
        XCTAssertEqual(String(buffer: out), "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 17\r\n\r\n")
    }
}

/// The byte-level fast paths of the request path give exactly the answers of the full parsers.
final class FastPathEquivalenceTests: XCTestCase {
    func testDNFastCheckAcceptsOnlyWhatTheFullParseAccepts() throws {
        let subjects = [
            "/DC=org/DC=example/OU=People/CN=Jane Doe 12345", "/DC=org/OU=Services/CN=http/fg5x1.fnal.gov", "/CN=x",
            "/DC=org/CN=a/b/c", "/DC=org/CN=a/=b", "/DC=org/CN=a/x.y=z", "/DC=org/CN=a/9x=z", "/DC=org/CN=a/XX=b", "/XX=a/CN=b",
            "/DC=org/OU=People", "/DC=org//CN=x", "/DC=org/CN=x/", "/DC=org/CN=", "/DC=org/CN= x", "/DC=org/CN=x ",
            "/DC=org/CN=/x", "/CN=x/ y", "/CN=x/y ", "/", "", "CN=x", "/C=DE/O=GridKa/CN=Jürgen Müller", "/cn=x",
            "/DC=org/CN=a\tb", "/emailAddress=a@b/CN=c", "/CN=" + String(repeating: "x", count: 600), "/CN=a=b", "/DC=org=x/CN=y",
        ]
        var fastAccepted = 0
        for s in subjects {
            var t = s
            let fast = t.withUTF8 { DistinguishedName.isPlainValid($0) }
            let full = Result { () throws(DNError) -> [DistinguishedName.Attribute] in try DistinguishedName.parseAttributes(s) }
            if fast {
                fastAccepted += 1
                XCTAssertNoThrow(try full.get(), "fast check accepted \(s.debugDescription), the full parse did not")
            }
            // The public initialiser agrees with the full parse either way, error code included.
            switch (Result { () throws(DNError) -> DistinguishedName in try DistinguishedName(s) }, full) {
            case (.success(let dn), .success(let attrs)):
                XCTAssertEqual(dn.attributes, attrs)
                XCTAssertEqual(dn.text, s)
            case (.failure(let a), .failure(let b)):
                XCTAssertEqual(a, b)
            default:
                XCTFail("init and full parse disagree on \(s.debugDescription)")
            }
        }
        XCTAssertGreaterThanOrEqual(fastAccepted, 8, "the fast check should take the ordinary subjects")
    }

    func testFQANFastPathMatchesTheFullParse() throws {
        let fqans = [
            "/cms", "/cms/uscms", "/cms/uscms/Role=pilot", "/cms/Role=NULL", "/cms/Role=NULL/Capability=NULL", "/cms/Capability=NULL",
            "/cms/Role=a/b", "/cms/Role=a/Role=b", "/", "", "/cms/", "/cms//x", "/Role=x", "/cms/Role=", "/cms/Role=a b",
            "/a.b-c_d/e", "/cms/uscms/higgs/Role=production", "/" + String(repeating: "x", count: 65), "cms",
        ]
        var fastTaken = 0
        for f in fqans {
            var t = f
            if t.withUTF8({ FQAN.canonicalParts($0) }) != nil { fastTaken += 1 }
            let fast = Result { () throws(FQANError) -> FQAN in try FQAN(f) }
            let full = Result { () throws(FQANError) -> FQAN in try FQAN(parsing: f) }
            switch (fast, full) {
            case (.success(let a), .success(let b)):
                XCTAssertEqual([a.vo, a.group, a.role ?? "-", a.description], [b.vo, b.group, b.role ?? "-", b.description], f)
            case (.failure(let a), .failure(let b)):
                XCTAssertEqual(a, b, f)
            default:
                XCTFail("fast and full FQAN parse disagree on \(f.debugDescription)")
            }
        }
        XCTAssertEqual(fastTaken, 5)
    }

    func testBanScanGivesTheSameDecisionAsFallbackLookups() throws {
        let bans = ["/des/desgw": "g", "/cms/uscms/Role=pilot": "r", "/cms": "vo", "/atlas/Role=prod": "ar", "/lsst/a": "x"]
        var many = bans
        for i in 0..<(BanSnapshot.linearScanLimit + 1) { many["/filler\(i)/g"] = "f" }
        let small = BanSnapshot(fqans: bans), large = BanSnapshot(fqans: many)
        XCTAssertLessThanOrEqual(small.fqans.count, BanSnapshot.linearScanLimit)
        XCTAssertGreaterThan(large.fqans.count, BanSnapshot.linearScanLimit)
        let requests = ["/des/desgw/sub", "/des/desgwx", "/des", "/cms/uscms/Role=pilot", "/cms/uscms", "/cms/Role=x", "/atlas/Role=prod",
                        "/atlas/Role=pro", "/atlas", "/lsst/a/b/Role=r", "/lsst/ab", "/dune"]
        var denied = 0
        for r in requests {
            let f = try FQAN(r)
            let a = small.decide(dn: "/CN=x", ca: nil, fqans: [f]), b = large.decide(dn: "/CN=x", ca: nil, fqans: [f])
            XCTAssertEqual(a, b, r)
            if a.decision == "deny" { denied += 1 }
        }
        XCTAssertEqual(denied, 6)
        XCTAssertEqual(small.decide(dn: "/CN=x", ca: nil, fqans: [try FQAN("/cms/uscms/Role=pilot")]).reason, "fqan /cms/uscms/Role=pilot banned: r")
        XCTAssertEqual(small.decide(dn: "/CN=x", ca: nil, fqans: [try FQAN("/cms/uscms")]).reason, "fqan /cms banned: vo")
    }
}
