import NIOCore
import XCTest
@testable import GridServices
@testable import GridModel


/// The byte-level HTTP/1.1 parser and encoder of gridsvc (no sockets).
final class GridHTTPWireTests: XCTestCase {
    private func buffer(_ s: String) -> ByteBuffer { ByteBuffer(string: s) }

    private func request(_ s: String, maxBody: Int = 64, file: StaticString = #filePath, line: UInt = #line) -> GridHTTPWire.Parsed? {
        switch GridHTTPWire.parse(buffer(s), maxBody: maxBody) {
        case .request(let p): return p
        case .incomplete: XCTFail("incomplete: \(s.debugDescription)", file: file, line: line)
        case .awaitingBody: XCTFail("awaiting body: \(s.debugDescription)", file: file, line: line)
        case .invalid(let status, let message): XCTFail("invalid \(status) \(message): \(s.debugDescription)", file: file, line: line)
        }
        return nil
    }

    private func invalidStatus(_ s: String) -> Int? {
        if case .invalid(let status, _) = GridHTTPWire.parse(buffer(s), maxBody: 64) { return status }
        return nil
    }

    func testParsesMethodPathHeadersAndBodyAndStopsAtTheRequestEnd() throws {
        let first = "POST /gums/map?x=1 HTTP/1.1\r\nHost: a\r\ncontent-TYPE: Application/JSON\r\nContent-Length: 7\r\n\r\n{\"k\":1}"
        let second = "GET /healthz HTTP/1.1\r\n\r\n"
        let p = try XCTUnwrap(request(first + second))
        XCTAssertEqual(p.request.method, "POST")
        XCTAssertEqual(p.request.path, "/gums/map")
        XCTAssertEqual(p.request.contentType, "Application/JSON")
        XCTAssertEqual(p.request.contentLength, 7)
        XCTAssertEqual(String(buffer: p.request.body), "{\"k\":1}")
        XCTAssertFalse(p.request.bodyTooLarge)
        XCTAssertTrue(p.keepAlive)
        XCTAssertFalse(p.isHead)
        XCTAssertEqual(p.consumed, first.utf8.count)
        XCTAssertEqual(p.skip, 0)
        // The pipelined second request starts right after.
        var rest = buffer(first + second)
        rest.moveReaderIndex(forwardBy: p.consumed)
        guard case .request(let q) = GridHTTPWire.parse(rest, maxBody: 64) else { return XCTFail("second request not parsed") }
        XCTAssertEqual(q.request.method, "GET")
        XCTAssertEqual(q.request.path, "/healthz")
        XCTAssertEqual(q.consumed, second.utf8.count)
    }

    func testEveryPrefixOfARequestIsIncomplete() {
        let full = "POST /saz/authorize HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"dn\":\"/x\"}"
        let bytes = Array(full.utf8)
        for n in 0..<bytes.count {
            guard case .incomplete = GridHTTPWire.parse(ByteBuffer(bytes: bytes[0..<n]), maxBody: 64) else {
                return XCTFail("prefix of \(n) bytes was not incomplete")
            }
        }
        XCTAssertEqual(request(full)?.consumed, bytes.count)
    }

    func testKeepAliveFollowsVersionAndConnectionHeader() {
        XCTAssertEqual(request("GET / HTTP/1.1\r\n\r\n")?.keepAlive, true)
        XCTAssertEqual(request("GET / HTTP/1.1\r\nConnection: Close\r\n\r\n")?.keepAlive, false)
        XCTAssertEqual(request("GET / HTTP/1.0\r\n\r\n")?.keepAlive, false)
        XCTAssertEqual(request("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")?.keepAlive, true)
        XCTAssertEqual(request("HEAD / HTTP/1.1\nHost: x\n\n")?.isHead, true, "bare LF line ends are accepted")
    }

    func testChunkedBodyIsDecoded() {
        let p = request("POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"k\"\r\n3;ext=1\r\n:1}\r\n0\r\nX-Trailer: y\r\n\r\nNEXT")
        XCTAssertEqual(p.map { String(buffer: $0.request.body) }, "{\"k\":1}")
        XCTAssertEqual(p?.consumed, "POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"k\"\r\n3;ext=1\r\n:1}\r\n0\r\nX-Trailer: y\r\n\r\n".utf8.count)
        guard case .incomplete = GridHTTPWire.parse(buffer("POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"k"), maxBody: 64) else {
            return XCTFail("a cut chunk must be incomplete")
        }
    }

    func testExpectContinueWaitsForTheBodyAndOtherExpectationsFail() {
        let head = "POST /b HTTP/1.1\r\nContent-Length: 7\r\nExpect: 100-Continue\r\n\r\n"
        guard case .awaitingBody = GridHTTPWire.parse(buffer(head), maxBody: 64) else { return XCTFail("head alone must await the body") }
        guard case .awaitingBody = GridHTTPWire.parse(buffer(head + "{\"k\""), maxBody: 64) else { return XCTFail("part of the body must await the rest") }
        XCTAssertEqual(request(head + "{\"k\":1}").map { String(buffer: $0.request.body) }, "{\"k\":1}")
        // Without Expect the same head is merely incomplete; a cut head is incomplete either way.
        guard case .incomplete = GridHTTPWire.parse(buffer("POST /b HTTP/1.1\r\nContent-Length: 7\r\n\r\n"), maxBody: 64) else { return XCTFail("no Expect") }
        guard case .incomplete = GridHTTPWire.parse(buffer("POST /b HTTP/1.1\r\nExpect: 100-continue\r\n"), maxBody: 64) else { return XCTFail("cut head") }
        let chunked = "POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n"
        guard case .awaitingBody = GridHTTPWire.parse(buffer(chunked), maxBody: 64) else { return XCTFail("chunked head alone must await the body") }
        // A body over the limit is refused before it is sent, and the connection closes.
        let big = request("POST /c HTTP/1.1\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n", maxBody: 64)
        XCTAssertEqual(big?.request.bodyTooLarge, true)
        XCTAssertEqual(big?.keepAlive, false)
        XCTAssertEqual(big?.skip, 0)
        XCTAssertEqual(invalidStatus("POST /b HTTP/1.1\r\nContent-Length: 7\r\nExpect: fast\r\n\r\n"), 417)
        // HTTP/1.0 has no Expect (RFC 9110 section 10.1.1): ignored.
        XCTAssertEqual(request("POST /b HTTP/1.0\r\nContent-Length: 2\r\nExpect: fast\r\n\r\nhi")?.request.body.readableBytes, 2)
    }

    func testBodyOverTheLimitIsDroppedAndTheRestSkipped() {
        let p = request("POST /c HTTP/1.1\r\nContent-Length: 100\r\n\r\n0123456789", maxBody: 64)
        XCTAssertEqual(p?.request.bodyTooLarge, true)
        XCTAssertEqual(p?.request.body.readableBytes, 0)
        XCTAssertEqual(p?.skip, 90)
        XCTAssertEqual(p?.keepAlive, true)
    }

    func testUnreadableRequestsGetTheirStatus() {
        XCTAssertEqual(invalidStatus("GARBAGE\r\n\r\n"), 400)
        XCTAssertEqual(invalidStatus("GET /\r\n\r\n"), 400)
        XCTAssertEqual(invalidStatus("PRI * HTTP/2.0\r\n\r\n"), 505)
        XCTAssertEqual(invalidStatus("GET / HTTP/1.1\r\nNo colon here\r\n\r\n"), 400)
        XCTAssertEqual(invalidStatus("GET / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n"), 400)
        XCTAssertEqual(invalidStatus("GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"), 400)
        XCTAssertEqual(invalidStatus("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n"), 501)
        XCTAssertEqual(invalidStatus("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"), 400)
        XCTAssertEqual(invalidStatus("GET / HTTP/1.1\r\nX: " + String(repeating: "a", count: GridHTTPWire.maxHeadBytes)), 431)
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
