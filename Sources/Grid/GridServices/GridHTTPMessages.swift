import NIOCore

/// One HTTP request as the grid services see it: the body is collected (bounded) before the responder
/// runs.
public struct GridHTTPRequest: Sendable {
    /// Method, e.g. `POST`.
    public var method: String
    /// Path without the query string.
    public var path: String
    /// `Content-Type` header, if any.
    public var contentType: String?
    /// `Content-Length` header, if any and numeric.
    public var contentLength: Int?
    /// The body (empty if none). Empty when ``bodyTooLarge``.
    public var body: ByteBuffer
    /// The body exceeded the server's limit; it was read and dropped.
    public var bodyTooLarge: Bool

    /// Creates a request (tests build these directly).
    public init(method: String, path: String, contentType: String? = nil, contentLength: Int? = nil,
                body: ByteBuffer = ByteBuffer(), bodyTooLarge: Bool = false) {
        self.method = method
        self.path = path
        self.contentType = contentType
        self.contentLength = contentLength
        self.body = body
        self.bodyTooLarge = bodyTooLarge
    }
}

/// One HTTP answer: status, content type, body and extra headers (`Retry-After`, `Allow`).
public struct GridHTTPResponse: Sendable {
    /// Status code.
    public var status: Int
    /// `Content-Type`.
    public var contentType: String
    /// Body bytes.
    public var body: [UInt8]
    /// Extra headers.
    public var headers: [(String, String)]

    /// Creates a response.
    public init(status: Int, contentType: String, body: [UInt8], headers: [(String, String)] = []) {
        self.status = status
        self.contentType = contentType
        self.body = body
        self.headers = headers
    }

    /// The value of header `name` (case-insensitive), including `Content-Type`.
    public func header(_ name: String) -> String? {
        if name.lowercased() == "content-type" { return contentType }
        return headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }
}
