// libFuzzer entry point for gridsvc's HTTP request parser. Not a SwiftPM target (it needs
// -sanitize=fuzzer, which the package must not impose on everyone): scripts/fuzz-http-parser compiles it
// with the parser's own files into one module and runs it over Tests/GridServicesTests/HTTPCorpus.
// The same properties as HTTPParserFuzzTests, checked with preconditions so libFuzzer reports them.
import NIOCore

/// Small limits, so that inputs of a few KiB reach every budget.
private let limits = GridHTTPLimits(maxHeadBytes: 2048, maxBodyBytes: 256, maxEmptyLineBytes: 16, maxTrailerBytes: 512,
                                    maxChunkFramingBytes: 512, maxDiscardBytes: 1024)

/// What the parser said, `awaitingBody` left out (it depends on where the input was split).
private func outcomes(_ bytes: UnsafeBufferPointer<UInt8>, piece: Int) -> [String] {
    var parser = GridHTTPRequestParser(limits: limits)
    var out: [String] = []
    var offset = 0
    while offset < bytes.count {
        let n = min(piece, bytes.count - offset)
        parser.append(ByteBuffer(bytes: UnsafeBufferPointer(rebasing: bytes[offset..<(offset + n)])))
        offset += n
        loop: while true {
            switch parser.next() {
            case .incomplete, .awaitingBody:
                precondition(parser.bufferedBytes <= limits.maxBufferedBytes, "parser holds \(parser.bufferedBytes) bytes")
                break loop
            case .request(let p):
                out.append("\(p.request.method) \(p.request.path) \(p.request.body.readableBytes) \(p.keepAlive) \(p.request.bodyTooLarge)")
                if !p.keepAlive { return out }
            case .invalid(let status, _):
                precondition([400, 417, 431, 501, 505].contains(status), "status \(status)")
                out.append("\(status)")
                return out
            }
        }
    }
    precondition(parser.examined <= 3 * bytes.count + 64, "work not linear: \(parser.examined) for \(bytes.count) bytes")
    return out
}

/// Feeds one input whole and in pieces (the first byte picks the piece size); both must agree.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 1 else { return 0 }
    let all = UnsafeBufferPointer(start: data, count: size)
    let input = UnsafeBufferPointer(rebasing: all[1...])
    let whole = outcomes(input, piece: input.count)
    let split = outcomes(input, piece: 1 + Int(all[0] % 64))
    precondition(whole == split, "outcome depends on the split: \(whole) vs \(split)")
    return 0
}
