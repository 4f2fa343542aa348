import Foundation
import XCTest
import Yams
@testable import Topology
import TopologyFiles

/// The JSON Schema of the topology (docs/topology.schema.json) is generated from the loader's own
/// tables; the published copy is current, every shipped topology names it and passes it under a
/// real validator (Python's jsonschema), and the schema and the loader agree, key by key, on what
/// a file may hold.
final class JSONSchemaTests: XCTestCase {
    static let schemaPath = repoRoot.appendingPathComponent("docs/topology.schema.json").path
    static let schemaLine = "# yaml-language-server: $schema=../docs/topology.schema.json"

    static var shippedTopologies: [String] {
        let dir = repoRoot.appendingPathComponent("topology")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        // Drill files (`*.drills.yaml`) are read by the drill loader, not as topologies.
        return names.filter { $0.hasSuffix(".yaml") && !$0.hasSuffix(".drills.yaml") }.sorted().map { dir.appendingPathComponent($0).path }
    }

    func testPublishedSchemaIsWhatTheTablesGenerate() throws {
        let published = try String(contentsOfFile: Self.schemaPath, encoding: .utf8)
        XCTAssertTrue(published == TopologyJSONSchema.text(),
                      "docs/topology.schema.json is stale: regenerate it with `swift run tandemctl schema --output docs/topology.schema.json`")
    }

    func testEveryShippedTopologyNamesTheSchemaOnItsFirstLine() throws {
        XCTAssertGreaterThanOrEqual(Self.shippedTopologies.count, 5, "the shipped examples are missing")
        for path in Self.shippedTopologies {
            let first = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n", maxSplits: 1).first.map(String.init)
            XCTAssertEqual(first, Self.schemaLine, "\(path): the first line must name the schema for editors")
        }
    }

    func testEveryShippedTopologyPassesTheSchemaAndTheLoader() throws {
        let results = try validate(Self.shippedTopologies.map { ["name": $0, "path": $0] })
        XCTAssertEqual(results.count, Self.shippedTopologies.count)
        for r in results {
            XCTAssertEqual(r.errors, [], "\(r.name) fails the schema")
            XCTAssertNoThrow(try TopologyLoader.load(path: r.name), "\(r.name) fails the loader")
        }
    }

    /// The schema's keys, required keys and nested mappings are the tables' (one source of truth).
    func testSchemaDeclaresExactlyTheKeysOfEveryTable() throws {
        let doc = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(TopologyJSONSchema.text().utf8)) as? [String: Any])
        let definitions = try XCTUnwrap(doc["definitions"] as? [String: Any])
        XCTAssertEqual(Set(definitions.keys).union([TopologySchema.root.name]), Set(SchemaTests.allSpecs.map(\.name)))
        for spec in SchemaTests.allSpecs {
            let object = try XCTUnwrap(spec.name == TopologySchema.root.name ? doc : definitions[spec.name] as? [String: Any], spec.name)
            let properties = try XCTUnwrap(object["properties"] as? [String: Any], spec.name)
            XCTAssertEqual(Set(properties.keys), Set(spec.allowedKeys(selector: nil).map(\.name)), spec.name)
            XCTAssertEqual((object["required"] as? [String]) ?? [], spec.keys.filter(\.required).map(\.name), spec.name)
            XCTAssertEqual(object["additionalProperties"] as? Bool, false, "\(spec.name): unknown keys must be refused, as the loader does")
        }
    }

    /// Every key of every table, in a document that holds them all, is deleted, renamed to an
    /// unknown key, given the wrong shape and given a bad scalar, one at a time; for each mutant
    /// the loader's reader (the tables' side: types, required keys, rules) and the JSON Schema
    /// must both accept or both refuse. Cross-entry checks (references, duplicates, capacity)
    /// are the validator's, which no schema can state, and are left out of the comparison.
    func testSchemaAndLoaderAgreeOnEveryKey() throws {
        var mutants: [(name: String, node: Node)] = []
        for (label, text) in [("rich", Self.richSite), ("rich, directors as a list", Self.richSiteWithPairList)] {
            let root = try XCTUnwrap(try Yams.compose(yaml: text))
            XCTAssertEqual(readDiagnostics(root), [], "\(label): the base document must read cleanly")
            if label == "rich" { XCTAssertNoThrow(try TopologyLoader.parse(data: Data(text.utf8), file: "rich.yaml"), "the rich site must be valid") }
            mutants.append((label, root))
            for m in Self.mutants(of: root) { mutants.append(("\(label): \(m.name)", m.node)) }
        }
        // Every key of every table appears in the base documents, so every key was mutated.
        let written = Self.keysWritten(in: try XCTUnwrap(try Yams.compose(yaml: Self.richSite)))
        for spec in SchemaTests.allSpecs {
            for key in spec.allowedKeys(selector: nil) {
                XCTAssertTrue(written.contains(key.name), "the rich site never writes \(spec.name).\(key.name): add it, so the agreement covers it")
            }
        }
        let texts = try mutants.map { (name: $0.name, yaml: try Yams.serialize(node: $0.node)) }
        let results = try validate(texts.map { ["name": $0.name, "yaml": $0.yaml] })
        XCTAssertEqual(results.count, texts.count)
        var refused = 0, disagreements: [String] = []
        for (t, r) in zip(texts, results) {
            // A reference to another entry (a `directors.nodes` key that is not a member of the pair)
            // is a cross-entry check the reader makes early; no schema can state it.
            let loader = readDiagnostics(try XCTUnwrap(try Yams.compose(yaml: t.yaml))).filter { $0.code != .unknownReference }
            if !loader.isEmpty { refused += 1 }
            if loader.isEmpty != r.errors.isEmpty {
                disagreements.append("\(t.name): loader \(loader.isEmpty ? "accepts" : "refuses: \(loader.map(\.description))"); "
                                     + "schema \(r.errors.isEmpty ? "accepts" : "refuses: \(r.errors)")\n\(t.yaml)")
            }
        }
        print("JSONSchemaTests: \(texts.count) documents compared, \(refused) refused by both, \(texts.count - refused) accepted by both, \(disagreements.count) disagreements")
        XCTAssertGreaterThan(refused, 100, "the mutants must exercise refusals")
        XCTAssertGreaterThan(texts.count - refused, 50, "the mutants must exercise acceptance")
        XCTAssertEqual(disagreements.count, 0, disagreements.prefix(5).joined(separator: "\n\n"))
    }

    // MARK: - The loader's side

    /// What the tables refuse: the diagnostics of reading the file, before cross-entry validation.
    func readDiagnostics(_ root: Node) -> [Diagnostic] {
        let reader = YAMLReader(file: "mutant.yaml")
        _ = TopologyDraft.read(root, reader)
        return reader.diagnostics
    }

    // MARK: - The schema's side

    struct SchemaResult { var name: String; var errors: [String] }

    /// Runs Fixtures/schema-validate.py under Debian's python3 on `items` (`name` and `path` or
    /// `yaml`). A missing interpreter or module fails the test naming the package to install.
    func validate(_ items: [[String: String]], file: StaticString = #filePath, line: UInt = #line) throws -> [SchemaResult] {
        let python = "/usr/bin/python3"
        guard FileManager.default.isExecutableFile(atPath: python) else {
            XCTFail("\(python) is missing: install the Debian packages python3, python3-jsonschema and python3-yaml (scripts/lib/packages)", file: file, line: line)
            return []
        }
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/schema-validate.py").path
        let input = FileManager.default.temporaryDirectory.appendingPathComponent("schema-input-\(UUID().uuidString).json")
        try JSONSerialization.data(withJSONObject: items).write(to: input)
        defer { try? FileManager.default.removeItem(at: input) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = [script, Self.schemaPath, input.path]
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let errText = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            XCTFail("schema-validate.py exited \(p.terminationStatus): \(errText)", file: file, line: line)
            return []
        }
        let array = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [[String: Any]], "schema-validate.py printed no JSON: \(errText)")
        return array.map { SchemaResult(name: $0["name"] as? String ?? "?", errors: $0["errors"] as? [String] ?? ["(no errors field)"]) }
    }

    // MARK: - Mutants

    enum Step { case key(String), index(Int) }

    /// Rebuilds `node` with `change` applied at `path`; `change` returning nil removes that entry.
    static func replacing(_ node: Node, at path: ArraySlice<Step>, _ change: (Node) -> Node?) -> Node? {
        guard let step = path.first else { return change(node) }
        switch (node, step) {
        case (.mapping(let m), .key(let k)):
            var pairs: [(Node, Node)] = []
            for (key, value) in m {
                if key.scalar?.string == k {
                    if let v = replacing(value, at: path.dropFirst(), change) { pairs.append((key, v)) }
                } else { pairs.append((key, value)) }
            }
            return .mapping(Node.Mapping(pairs, m.tag, m.style))
        case (.sequence(let s), .index(let i)):
            var items = Array(s)
            if let v = replacing(items[i], at: path.dropFirst(), change) { items[i] = v } else { items.remove(at: i) }
            return .sequence(Node.Sequence(items, s.tag, s.style))
        default:
            return node
        }
    }

    /// For every mapping entry: delete it, rename its key, give it the wrong shape, and (for a
    /// scalar) a bad scalar; for every scalar list item: the wrong shape and a bad scalar.
    static func mutants(of root: Node) -> [(name: String, node: Node)] {
        var out: [(String, Node)] = []
        let wrongShape: (Node) -> Node? = { n in
            if case .scalar = n { return .mapping(Node.Mapping([(Node("x"), Node("1"))])) }
            return Node("x")
        }
        let badScalar: (Node) -> Node? = { _ in Node("not valid!") }
        func walk(_ node: Node, _ path: [Step], _ label: String) {
            switch node {
            case .mapping(let m):
                for (key, value) in m {
                    guard let k = key.scalar?.string else { continue }
                    let here = label.isEmpty ? k : "\(label).\(k)"
                    let p = path + [.key(k)]
                    func add(_ what: String, _ at: [Step], _ f: (Node) -> Node?) {
                        if let n = replacing(root, at: at[...], f) { out.append(("\(here) \(what)", n)) }
                    }
                    add("deleted", path) { n in
                        guard case .mapping(let mm) = n else { return n }
                        return .mapping(Node.Mapping(mm.filter { $0.key.scalar?.string != k }, mm.tag, mm.style))
                    }
                    add("renamed", path) { n in
                        guard case .mapping(let mm) = n else { return n }
                        return .mapping(Node.Mapping(mm.map { ($0.key.scalar?.string == k ? Node("\(k)_x") : $0.key, $0.value) }, mm.tag, mm.style))
                    }
                    add("with the wrong shape", p, wrongShape)
                    if case .scalar = value { add("set to a bad scalar", p, badScalar) }
                    walk(value, p, here)
                }
            case .sequence(let s):
                for (i, item) in s.enumerated() {
                    let here = "\(label)[\(i)]"
                    if case .scalar = item {
                        if let n = replacing(root, at: (path + [.index(i)])[...], wrongShape) { out.append(("\(here) with the wrong shape", n)) }
                        if let n = replacing(root, at: (path + [.index(i)])[...], badScalar) { out.append(("\(here) set to a bad scalar", n)) }
                    }
                    walk(item, path + [.index(i)], here)
                }
            default:
                break
            }
        }
        walk(root, [], "")
        return out
    }

    static func keysWritten(in node: Node) -> Set<String> {
        switch node {
        case .mapping(let m): return m.reduce(into: Set<String>()) { s, e in s.insert(e.key.scalar?.string ?? ""); s.formUnion(keysWritten(in: e.value)) }
        case .sequence(let s): return s.reduce(into: Set<String>()) { $0.formUnion(keysWritten(in: $1)) }
        default: return []
        }
    }

    /// Every key of every table, each written at least once (`testSchemaAndLoaderAgreeOnEveryKey`
    /// checks that), and valid as a whole.
    static var richSite: String { """
    site: rich
    placement: {spread: [rack]}
    hosts:
      - {name: h1, address: 192.0.2.1, cpus: 8, memory: 16GiB, labels: {rack: r1}, libvirt: "xen+ssh://root@192.0.2.1/system",
         fence: {agent: fence_ipmilan, options: {ip: 192.0.2.101, username: admin, lanplus: 1}, secret_files: {passwd: /etc/tandem/secrets/fence-h1},
                 timeout: 20s, attempts: 3}}
      - {name: h2, address: 192.0.2.2, cpus: 8, memory: 16GiB, labels: {rack: r2}, fence: {agent: /usr/sbin/fence_redfish}}
      - {name: h3, address: 192.0.2.3, cpus: 8, memory: 16GiB, labels: {rack: r3}}
    domain_templates: {director: /etc/tandem/domains/director.xml}
    vms:
      - {name: d1, role: director, vcpus: 1, memory: 1GiB, addresses: [10.0.0.1/24], host: h1, domain: {template: director, values: {bridge: br0}}}
      - {name: d2, role: director, vcpus: 1, memory: 1GiB, addresses: [10.0.0.2/24], domain: {xml_file: /etc/tandem/domains/d2.xml}}
      - {name: g1, role: gums, vcpus: 1, memory: 1GiB, addresses: [10.0.1.1/24, "2001:db8::1/64"]}
      - {name: g2, role: gums, vcpus: 1, memory: 1GiB, addresses: [10.0.1.2/24]}
      - {name: db1, role: database, vcpus: 1, memory: 1GiB, addresses: [10.0.2.1/24]}
    machines:
      - {name: db2, addresses: [10.0.2.2/24]}
    services:
      - name: gums
        vip: 10.0.9.1
        port: 8443
        protocol: tcp
        scheduler: sh
        scheduler_flags: [sh-port]
        forwarding: nat
        persistence: {timeout: 300s, netmask: 255.255.255.0}
        members:
          - {vm: g1, port: 8443, weight: 2, address: 10.0.1.1}
          - {name: metal, address: 10.0.1.9, port: 8443, weight: 1}
        check: {kind: http, method: GET, path: /healthz, expect_status: 200, body_contains: ok, body_sha256: abc, interval: 1s, timeout: 500ms, rise: 2, fall: 3}
        last_member: sorry
        sorry_server: {address: 10.0.9.99, port: 80}
        passive: {window: 300ms, min_connections: 3}
      - name: marked
        vip: 10.0.9.2
        protocol: fwmark
        fwmark: 12
        members: [{vm: g1, port: 0}, {vm: g2}]
        check: {kind: https}
      - name: probe
        vip: 10.0.9.3
        port: 80
        members: [{vm: g2}]
        check: {kind: exec, command: [/bin/true]}
      - name: db
        vip: 10.0.9.4
        port: 3306
        scheduler: fo
        members: [{vm: db1}, {name: db2, address: 10.0.2.2}]
        check: {kind: mariadb, user: monitor, password_file: /etc/tandem/monitor.pw}
      - name: plain
        vip: 10.0.9.5
        port: 25
        members: [{address: 10.0.3.1}]
        check: {kind: tcp}
    directors:
      name: main
      members: [d1, d2]
      vrid: 7
      priorities: {d1: 150, d2: 100}
      advert_interval: 1s
      interface: eth0
      services: [gums, marked]
      witness: 10.0.0.254
      fence_command: [xl, destroy, "{peer}"]
    \(richDirectorSettings)
    database: {ring: [db1, db2], port: 3306}
    anti_affinity: [{name: gums-pair, members: [g1, g2]}]
    daemon: {token_file: /etc/tandem/secrets/api-token, repair_interval: 5s}
    """ }

    /// The pair's director settings and one director's own, in ``richSite`` (the list form leaves them out).
    static let richDirectorSettings = """
      vip_interface: eth1
      key_file: /etc/tandem/secrets/vrrp.key
      preempt: true
      preempt_delay: 2s
      fast_detector: {interval: 20ms, misses: 3, priority: 10}
      connection_sync: true
      sync_interface: eth2
      nodes:
        d1: {interface: eth0, primary_address: 10.0.0.1, unicast_peers: [10.0.0.2], vip_interface: eth1, key_file: /etc/tandem/secrets/vrrp.key, preempt: false, preempt_delay: 1s, fast_detector: {interval: 30ms}, connection_sync: false, sync_interface: eth3}
    """

    static var richSiteWithPairList: String {
        richSite.replacingOccurrences(of: richDirectorSettings + "\n", with: "")
            .replacingOccurrences(of: "directors:\n  name: main", with: "directors:\n- name: main")
            .replacingOccurrences(of: "\n  members: [d1, d2]\n  vrid: 7\n  priorities: {d1: 150, d2: 100}\n  advert_interval: 1s\n  interface: eth0\n  services: [gums, marked]\n  witness: 10.0.0.254\n  fence_command: [xl, destroy, \"{peer}\"]",
                                  with: "\n  members: [d1, d2]\n  vrid: 7\n  interface: eth0\n- {name: second, members: [g1, g2], vrid: 8, interface: eth1}")
    }
}
