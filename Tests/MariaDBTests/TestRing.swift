import Foundation
import TestSupport
import XCTest

/// The MariaDB tests share one 2-node ring for the whole test process (starting one costs 1-2 s;
/// one per test would blow the time budget). The fixture itself is ``RealRing`` (RingTestSupport).
typealias TestRing = RealRing

extension RealRing {
    /// The shared ring, or the reason it could not start. Started on first use.
    static let shared: Result<RealRing, RealRing.Unavailable> = {
        do {
            let ring = try RealRing.start(nodes: 2, label: "mariadbtests")
            print("scripts/ring up took \(String(format: "%.2f", ring.upSeconds)) s")
            TeardownObserver.register(ring)
            return .success(ring)
        } catch let e as RealRing.Unavailable {
            return .failure(e)
        } catch {
            return .failure(RealRing.Unavailable(description: "\(error)"))
        }
    }()

    /// The shared ring, or a failure that names what is missing (tests fail, never skip).
    static func get() throws -> RealRing { try shared.get() }
}

/// Stops the shared ring when the test bundle finishes.
final class TeardownObserver: NSObject, XCTestObservation, @unchecked Sendable {
    // @unchecked Sendable: `ring` is immutable; XCTest calls observers on the main thread.
    let ring: RealRing
    init(ring: RealRing) { self.ring = ring }

    static func register(_ ring: RealRing) {
        XCTestObservationCenter.shared.addTestObserver(TeardownObserver(ring: ring))
    }

    func testBundleDidFinish(_ testBundle: Bundle) {
        ring.stop()
    }
}
