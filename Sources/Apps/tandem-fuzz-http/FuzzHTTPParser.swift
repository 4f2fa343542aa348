// libFuzzer entry point for gridsvc's HTTP request parser. Not a SwiftPM target (it needs
// -sanitize=fuzzer, which the package must not impose on everyone): scripts/fuzz-http-parser compiles it
// with the parser's own files into one module, over llhttp and HTTPWire instrumented as well, and runs it
// over Tests/GridServicesTests/HTTPCorpus.
// It checks the promises of GridHTTPParserRun (as HTTPParserFuzzTests does) with preconditions, so that
// libFuzzer reports a broken one as a crash and keeps the input.
import NIOCore

/// Small limits, so that inputs of a few KiB reach every budget.
private let limits = GridHTTPLimits(maxHeadBytes: 2048, maxBodyBytes: 256, maxEmptyLineBytes: 16, maxTrailerBytes: 512,
                                    maxChunkFramingBytes: 512, maxDiscardBytes: 1024)

/// Feeds one input whole and in pieces (its first byte picks the piece size); both runs must keep the
/// parser's promises and say the same.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 1 else { return 0 }
    let input = UnsafeRawBufferPointer(start: data + 1, count: size - 1)
    let piece = 1 + Int(data[0] % 64)
    let whole = GridHTTPParserRun.feed(input, limits: limits) { input.count }
    let split = GridHTTPParserRun.feed(input, limits: limits) { piece }
    precondition(whole.violations(limits: limits).isEmpty, "\(whole.violations(limits: limits))")
    precondition(split.violations(limits: limits).isEmpty, "\(split.violations(limits: limits))")
    precondition(whole.events == split.events, "outcome depends on the split: \(whole.events) vs \(split.events)")
    return 0
}
