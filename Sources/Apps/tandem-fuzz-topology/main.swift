// libFuzzer entry point for the topology loader. Not a SwiftPM target (it needs -sanitize=fuzzer,
// which the package must not impose on everyone): build and run it with scripts/fuzz-topology-loader.
// The CI-sized version of this is LoaderFuzzTests, a seeded mutation corpus run by every test run.
import Foundation
import Topology

/// Loads one input. It must not crash (libFuzzer and ASan report that), and every refusal must
/// be one located line per problem with no `internalError` (an entry dropped without a reason).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    do {
        let doc = try TopologyLoader.parse(data: Data(bytes: data, count: size), file: "fuzz.yaml")
        precondition(!doc.topology.site.isEmpty, "accepted a topology without a site name")
    } catch {
        precondition(!error.diagnostics.isEmpty, "refused without a diagnostic")
        for d in error.diagnostics {
            precondition(d.location.line >= 1 && d.location.column >= 1, "unlocated diagnostic: \(d)")
            precondition(d.code != .internalError, "an entry vanished: \(d)")
            precondition(!d.description.contains("\n"), "a diagnostic spans lines: \(d)")
        }
    }
    return 0
}
