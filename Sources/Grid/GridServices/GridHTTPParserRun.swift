import NIOCore

/// One input fed to a fresh ``GridHTTPRequestParser`` in pieces, and the promises the parser keeps for
/// any input whatever its bytes. The fuzzers check these: `HTTPParserFuzzTests` in the test suite and
/// the libFuzzer target `Sources/Apps/tandem-fuzz-http` (which compiles this file with the parser's).
struct GridHTTPParserRun {
    /// What the parser said, `awaitingBody` left out (whether it comes depends on where the input was
    /// split).
    enum Event: Equatable {
        case request(method: String, path: String, body: [UInt8], keepAlive: Bool, tooLarge: Bool)
        case refused(Int)
    }

    /// The statuses the parser may refuse with; never 500.
    static let refusalStatuses: Set<Int> = [400, 417, 431, 501, 505]

    var events: [Event] = []
    /// The most the parser held while it waited for input.
    var maxBuffered = 0
    /// Bytes the parser looked at in all.
    var examined = 0
    /// Bytes fed.
    var fed = 0

    /// Feeds `bytes` in pieces of `pieceSize()` bytes (at least 1) until the input ends or the parser
    /// stops (a refusal, or a request that closes the connection).
    static func feed(_ bytes: UnsafeRawBufferPointer, limits: GridHTTPLimits, pieceSize: () -> Int) -> GridHTTPParserRun {
        var parser = GridHTTPRequestParser(limits: limits)
        var run = GridHTTPParserRun()
        var open = true
        while run.fed < bytes.count, open {
            let n = min(bytes.count - run.fed, max(1, pieceSize()))
            parser.append(ByteBuffer(bytes: UnsafeRawBufferPointer(rebasing: bytes[run.fed..<(run.fed + n)])))
            run.fed += n
            loop: while true {
                switch parser.next() {
                case .incomplete, .awaitingBody:
                    run.maxBuffered = max(run.maxBuffered, parser.bufferedBytes)
                    break loop
                case .request(let p):
                    run.events.append(.request(method: p.request.method, path: p.request.path, body: Array(buffer: p.request.body),
                                               keepAlive: p.keepAlive, tooLarge: p.request.bodyTooLarge))
                    if !p.keepAlive { open = false; break loop }
                case .invalid(let status, _):
                    run.events.append(.refused(status))
                    open = false
                    break loop
                }
            }
        }
        run.examined = parser.examined
        return run
    }

    /// The promises this run broke (empty if none): a status other than 400/417/431/501/505, more
    /// bytes held than the limits allow, or work not linear in the input (at most 3 visits per byte).
    func violations(limits: GridHTTPLimits) -> [String] {
        var out: [String] = []
        for case .refused(let status) in events where !Self.refusalStatuses.contains(status) {
            out.append("refused with status \(status)")
        }
        if maxBuffered > limits.maxBufferedBytes {
            out.append("held \(maxBuffered) bytes while waiting, over the limit of \(limits.maxBufferedBytes)")
        }
        if examined > 3 * fed + 64 {
            out.append("looked at \(examined) bytes for \(fed) fed: not linear")
        }
        return out
    }
}
