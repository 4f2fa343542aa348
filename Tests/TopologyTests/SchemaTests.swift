import Foundation
import XCTest
import Yams
@testable import Topology

/// `TopologySchema` is the one source of truth for the file format: the loader reads through it,
/// its defaults are the model's, every key is documented, and every required key it declares is
/// enforced.
final class SchemaTests: XCTestCase {
    /// Every mapping spec reachable from the root, each once.
    static var allSpecs: [MappingSpec] {
        var out: [MappingSpec] = [], queue = [TopologySchema.root]
        func nested(_ t: ValueType) -> [MappingSpec] {
            switch t {
            case .mapping(let m): return [m]
            case .list(let e, _), .dictionary(let e): return nested(e)
            case .oneOf(let ts): return ts.flatMap(nested)
            default: return []
            }
        }
        while let spec = queue.popLast() {
            guard !out.contains(where: { $0.name == spec.name }) else { continue }
            out.append(spec)
            queue += spec.allowedKeys(selector: nil).flatMap { nested($0.type) }
        }
        return out
    }

    func testEveryMappingOfTheFormatIsReachableAndDeclaresEachKeyOnce() {
        XCTAssertEqual(Set(Self.allSpecs.map(\.name)), ["topology", "placement", "host", "vm", "machine", "service", "member", "persistence",
                                                         "check", "sorry_server", "passive", "directors", "director_node", "fast_detector",
                                                         "database", "anti_affinity", "daemon", "fence", "domain"])
        for spec in Self.allSpecs {
            XCTAssertEqual(Set(spec.keys.map(\.name)).count, spec.keys.count, "\(spec.name) declares a key twice")
            for variant in spec.variants?.cases ?? [] {
                XCTAssertTrue(Set(variant.keys.map(\.name)).isDisjoint(with: spec.keys.map(\.name)), "\(spec.name)/\(variant.value)")
            }
            if let v = spec.variants {
                XCTAssertNotNil(spec.keys.first { $0.name == v.key }, "\(spec.name): discriminator \(v.key) is not a key")
            }
            for key in spec.allowedKeys(selector: nil) {
                XCTAssertFalse(key.doc.isEmpty, "\(spec.name).\(key.name) has no doc")
                XCTAssertFalse(key.required && key.defaultValue != nil, "\(spec.name).\(key.name) is required and has a default")
            }
        }
    }

    func testEveryKeyIsDocumentedInDocsTopology() throws {
        let doc = try String(contentsOfFile: repoRoot.appendingPathComponent("docs/topology.md").path, encoding: .utf8)
        for spec in Self.allSpecs {
            for key in spec.allowedKeys(selector: nil) {
                XCTAssertTrue(doc.contains("`\(key.name)`"), "docs/topology.md does not mention `\(key.name)` (\(spec.name))")
            }
        }
    }

    func testDefaultsComeFromTheSchemaAndMatchTheModel() throws {
        let minimal = edited("check: {kind: http, path: /healthz, interval: 1s, timeout: 500ms, rise: 2, fall: 3}", "check: {kind: http}")
            .replacingOccurrences(of: "    scheduler: wlc\n    forwarding: nat\n", with: "")
            .replacingOccurrences(of: "  priorities: {d1: 150, d2: 100}\n", with: "")
            + "\ndatabase:\n  ring: [g1, g2]\n"
        let t = try TopologyLoader.parse(data: Data(minimal.utf8), file: "site.yaml").topology
        let s = try XCTUnwrap(t.services.first)
        let model = VirtualService(name: s.name, vip: s.vip, port: s.port, members: s.members, check: HealthCheckSpec(kind: .http(HTTPCheck())))
        XCTAssertEqual(s, model, "service defaults: tcp, wlc, nat, no flags, keep last; check 1s/1s/2/2, GET / 200")
        XCTAssertEqual(s.members.map(\.weight), [1, 1])
        XCTAssertEqual(t.directors, DirectorPair(members: ["d1", "d2"], vrid: 7, priorities: [:], advertIntervalMs: 1000, interface: "eth0"))
        XCTAssertEqual(t.database?.port, 3306)
        let passive = try TopologyLoader.parse(data: Data(edited("rise: 2, fall: 3}", "rise: 2, fall: 3}\n    passive: {}").utf8), file: "x").topology
        XCTAssertEqual(passive.services[0].passive, PassiveDetection())
    }

    /// Removes each required key the base site has, one at a time, from the YAML tree itself,
    /// and expects the loader to name it: the table's `required` is what the reader enforces.
    func testEveryRequiredKeyOfTheTableIsEnforced() throws {
        let root = try XCTUnwrap(try Yams.compose(yaml: baseSite))
        let places: [(path: [Any], spec: MappingSpec, keyPath: String)] = [
            ([], TopologySchema.root, ""), (["hosts", 0], TopologySchema.host, "hosts[0]"), (["vms", 0], TopologySchema.vm, "vms[0]"),
            (["services", 0], TopologySchema.service, "services[0]"), (["services", 0, "members", 0], TopologySchema.member, "services[0].members[0]"),
            (["services", 0, "check"], TopologySchema.check, "services[0].check"), (["directors"], TopologySchema.directors, "directors"),
        ]
        var checked = 0
        for place in places {
            for key in place.spec.keys where key.required {
                let edited = try Self.removing(key.name, at: place.path, in: root)
                let text = try Yams.serialize(node: edited)
                let path = place.keyPath.isEmpty ? key.name : "\(place.keyPath).\(key.name)"
                XCTAssertTrue(diagnostics(text).contains { $0.code == .missingKey && $0.keyPath == path },
                              "removing \(path) must be reported: \(diagnostics(text).map(\.description))")
                checked += 1
            }
        }
        // 18 since issue 16 made hosts, vms and a member's vm optional (the rules test covers those).
        XCTAssertGreaterThanOrEqual(checked, 18)
    }

    static func removing(_ key: String, at path: [Any], in node: Node) throws -> Node {
        guard let first = path.first else {
            guard case .mapping(var m) = node else { throw CocoaError(.coderReadCorrupt) }
            m[key] = nil
            return .mapping(m)
        }
        switch (node, first) {
        case (.mapping(var m), let k as String):
            m[k] = try removing(key, at: Array(path.dropFirst()), in: try XCTUnwrap(m[k]))
            return .mapping(m)
        case (.sequence(var s), let i as Int):
            s[i] = try removing(key, at: Array(path.dropFirst()), in: s[i])
            return .sequence(s)
        default:
            throw CocoaError(.coderReadCorrupt)
        }
    }
}
