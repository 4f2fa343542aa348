import TestSupport

extension TestHTTPServer {
    /// The body of `/ok`.
    static let memberOKBody = "tandem healthy"

    /// A member as the HTTP checks see one: `/ok` 200 "tandem healthy", `/chunked` 200 chunked
    /// "tandem " + "healthy", anything else 503 "down". Closes after each answer unless `keepAlive`.
    static func member(keepAlive: Bool = false) throws -> TestHTTPServer {
        try TestHTTPServer(routes: ["/ok": .text(memberOKBody), "/chunked": .chunks(["tandem ", "healthy"])],
                           fallback: .text("down", status: 503), keepAlive: keepAlive)
    }
}
