import NIOCore

/// HTTP/1.1 on the wire for gridsvc, without NIOHTTP1: the request head parser behind
/// ``GridHTTPRequestParser`` and the response encoder. Pure (no I/O): ``GridHTTPHandler`` feeds a
/// connection's parser the bytes it received and writes what this encodes.
///
/// Why not NIOHTTP1: its decoder (llhttp callbacks, an `HTTPHeaders` array of strings per request), the
/// pipelining handler and the response encoder (head, body and end as three writes, headers re-encoded
/// per answer) cost more CPU per call than the whole GUMS service logic. The services need only the
/// method, path, `Content-Type`, `Content-Length`, keep-alive and a bounded body; every other field in a
/// request head is checked for syntax and skipped.
public enum GridHTTPWire {
    /// The interim answer to `Expect: 100-continue`.
    public static let continueResponse: [UInt8] = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)

    // MARK: responses

    private static let statusLines: [Int: [UInt8]] = {
        let reasons: [(Int, String)] = [
            (100, "Continue"), (200, "OK"), (201, "Created"), (202, "Accepted"), (204, "No Content"),
            (400, "Bad Request"), (401, "Unauthorized"), (403, "Forbidden"), (404, "Not Found"),
            (405, "Method Not Allowed"), (408, "Request Timeout"), (409, "Conflict"), (411, "Length Required"),
            (413, "Content Too Large"), (415, "Unsupported Media Type"), (429, "Too Many Requests"),
            (431, "Request Header Fields Too Large"), (500, "Internal Server Error"), (501, "Not Implemented"),
            (502, "Bad Gateway"), (503, "Service Unavailable"), (504, "Gateway Timeout"), (505, "HTTP Version Not Supported"),
        ]
        var out: [Int: [UInt8]] = [:]
        for (code, reason) in reasons { out[code] = Array("HTTP/1.1 \(code) \(reason)\r\n".utf8) }
        return out
    }()

    /// The fixed start of the commonest answer: 200 with a JSON body.
    private static let okJSONPrefix = Array("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ".utf8)

    /// Bytes of the encoded answer (an upper bound, for the buffer size).
    static func encodedSizeBound(_ r: GridHTTPResponse) -> Int {
        var n = 96 + r.contentType.utf8.count + r.body.count
        for (k, v) in r.headers { n += k.utf8.count + v.utf8.count + 4 }
        return n
    }

    /// Appends `r` as one HTTP/1.1 answer (status line, `Content-Type`, `Content-Length`, the extra
    /// headers, `Connection: close` unless `keepAlive`, and the body unless `isHead`).
    public static func encode(_ r: GridHTTPResponse, keepAlive: Bool, isHead: Bool, into out: inout ByteBuffer) {
        if r.status == 200, r.contentType == "application/json" {
            out.writeBytes(okJSONPrefix)
        } else {
            if let line = statusLines[r.status] {
                out.writeBytes(line)
            } else {
                out.writeString("HTTP/1.1 \(r.status) Status \(r.status)\r\n")
            }
            out.writeStaticString("Content-Type: ")
            out.writeString(r.contentType)
            out.writeStaticString("\r\nContent-Length: ")
        }
        writeDecimal(r.body.count, into: &out)
        out.writeStaticString("\r\n")
        for (name, value) in r.headers {
            out.writeString(name)
            out.writeStaticString(": ")
            out.writeString(value)
            out.writeStaticString("\r\n")
        }
        if !keepAlive { out.writeStaticString("Connection: close\r\n") }
        out.writeStaticString("\r\n")
        if !isHead { out.writeBytes(r.body) }
    }

    private static func writeDecimal(_ v: Int, into out: inout ByteBuffer) {
        if v < 10 { out.writeInteger(UInt8(0x30 + v)); return }
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var x = v
        var n = 0
        withUnsafeMutableBytes(of: &digits) { d in
            while x > 0 { d[19 - n] = UInt8(0x30 + x % 10); x /= 10; n += 1 }
            out.writeBytes(UnsafeRawBufferPointer(rebasing: d[(20 - n)...]))
        }
    }

    /// The answer to a request this server cannot read (``GridHTTPRequestParser/Outcome/invalid(status:message:)``)
    /// or did not receive in time (408): a JSON error body whose code names the status, and the
    /// connection is closed after it.
    public static func errorResponse(status: Int, message: String) -> GridHTTPResponse {
        var w = GridJSON.ObjectWriter(capacity: 64 + message.utf8.count)
        w.string("error", errorCode(status))
        w.string("message", message)
        return GridHTTPResponse(status: status, contentType: "application/json", body: w.finish())
    }

    /// The stable error code for a status the HTTP layer answers itself.
    static func errorCode(_ status: Int) -> String {
        switch status {
        case 408: "request_timeout"
        case 417: "expectation_failed"
        case 431: "header_fields_too_large"
        case 501: "not_implemented"
        case 505: "http_version_not_supported"
        default: "bad_request"
        }
    }
}
