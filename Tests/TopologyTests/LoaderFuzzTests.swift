import Foundation
import Net
import XCTest
import Yams
@testable import Topology

/// The loader's mutation corpus, run on every CI run within a few seconds.
///
/// Seeds are `Fixtures/fuzz/seeds/*.yaml` (valid, every key used), the shipped `topology/*.yaml`
/// and `Fixtures/fuzz/refuse/*.yaml` (one file per defect of issue 17, each naming the code it
/// must be refused with on its first line, `# expect: CODE`). A seeded ``SplitMix64`` mutates them
/// (lines deleted, doubled, swapped, re-indented; values swapped for hostile ones; bytes flipped),
/// and every mutant must load without a crash, within a time bound, with a position on every
/// refusal, no ``Diagnostic/Code/internalError``, and, when accepted, with every entry the YAML
/// holds present in the topology.
///
/// `TANDEM_FUZZ_SEED` replays a run; `TANDEM_FUZZ_SECONDS` (default 3) sets the budget.
final class LoaderFuzzTests: XCTestCase {
    static let fuzzDir = repoRoot.appendingPathComponent("Tests/TopologyTests/Fixtures/fuzz")

    static func files(_ dir: String) -> [String] {
        let path = fuzzDir.appendingPathComponent(dir).path
        return ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).filter { $0.hasSuffix(".yaml") }.sorted()
            .map { "\(path)/\($0)" }
    }

    /// Per-load bound: far above what any input costs (milliseconds), far below a hang.
    let perLoad = 2.0

    func testEverySeedIsValid() throws {
        let seeds = Self.files("seeds")
        XCTAssertFalse(seeds.isEmpty, "no seed files in \(Self.fuzzDir.path)/seeds")
        for path in seeds {
            guard let outcome = load(path: path, within: perLoad) else { continue }
            XCTAssertEqual(outcome.diagnostics, [], path)
        }
    }

    func testEveryFileThatMustBeRefusedIsRefusedWithItsCode() throws {
        let refuse = Self.files("refuse")
        XCTAssertGreaterThanOrEqual(refuse.count, 10, "the must-refuse corpus is missing from \(Self.fuzzDir.path)/refuse")
        for path in refuse {
            let text = try String(contentsOfFile: path, encoding: .utf8)
            let expect = text.split(separator: "\n").first.flatMap { $0.hasPrefix("# expect: ") ? String($0.dropFirst(10)) : nil }
            let code = try XCTUnwrap(expect.flatMap(Diagnostic.Code.init(rawValue:)), "\(path): first line must be `# expect: CODE`")
            guard let outcome = load(path: path, within: perLoad) else { continue }
            guard case .failure(let d) = outcome else { XCTFail("\(path) was accepted; it must be refused with \(code)"); continue }
            XCTAssertTrue(d.codes.contains(code), "\(path): expected \(code), got \(d)")
            assertWellFormed(d.diagnostics, file: path, lines: text.split(separator: "\n", omittingEmptySubsequences: false).count, context: path)
        }
    }

    func testMutatedTopologiesNeverCrashHangOrLoseAnEntry() throws {
        let env = ProcessInfo.processInfo.environment
        let seed = env["TANDEM_FUZZ_SEED"].flatMap { UInt64($0) } ?? 17
        let budget = env["TANDEM_FUZZ_SECONDS"].flatMap { Double($0) } ?? 3
        var valid = try Self.files("seeds").map { try String(contentsOfFile: $0, encoding: .utf8) } + [baseSite]
        for name in (try? FileManager.default.contentsOfDirectory(atPath: repoRoot.appendingPathComponent("topology").path)) ?? [] where name.hasSuffix(".yaml") {
            valid.append(try String(contentsOfFile: repoRoot.appendingPathComponent("topology/\(name)").path, encoding: .utf8))
        }
        let refused = try Self.files("refuse").map { try String(contentsOfFile: $0, encoding: .utf8) }
        XCTAssertGreaterThan(valid.count, 3, "the valid seeds are missing")
        XCTAssertGreaterThan(refused.count, 10, "the must-refuse seeds are missing")
        var rng = SplitMix64(seed: seed)
        var mutator = Mutator()
        let clock = ContinuousClock()
        let deadline = clock.now + .milliseconds(Int(budget * 1000))
        var runs = 0, accepted = 0, slowest = Duration.zero
        // Bounded in count as well as time, so a fast machine does not spin for long either.
        while clock.now < deadline && runs < 20_000 {
            // Mostly valid seeds, so that many mutants stay valid and the checks on accepted files run.
            let pool = rng.next() % 4 == 0 ? refused : valid
            let input = mutator.mutate(pool[Int(rng.next() % UInt64(pool.count))], &rng)
            let context = "seed \(seed), run \(runs) (replay: TANDEM_FUZZ_SEED=\(seed)); input:\n\(String(decoding: input.prefix(2000), as: UTF8.self))"
            let start = clock.now
            let outcome = bounded(perLoad) {
                do throws(TopologyDiagnostics) { return .success(try TopologyLoader.parse(data: input, file: "fuzz.yaml").topology) } catch { return .failure(error) }
            }
            guard let outcome else { return XCTFail("a load did not finish within \(perLoad) s; \(context)") }
            slowest = max(slowest, clock.now - start)
            switch outcome {
            case .failure(let d):
                let lines = input.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).count
                if !assertWellFormed(d.diagnostics, file: "fuzz.yaml", lines: lines, context: context) { return }
            case .success(let t):
                accepted += 1
                if !assertNothingVanished(t, input: input, context: context) { return }
            }
            runs += 1
        }
        print("LoaderFuzzTests: \(runs) mutants in \(budget) s (seed \(seed)): \(accepted) accepted, \(runs - accepted) refused; slowest load \(slowest)")
        XCTAssertGreaterThan(runs, 100, "the fuzz loop must actually run")
        XCTAssertGreaterThan(accepted, 0, "some mutants must stay valid, or the checks on accepted files never run")
    }

    /// Every diagnostic has a position inside the file, a message and a hint, fits on one line,
    /// and none is an internal error. Returns false (after failing) at the first that is not.
    @discardableResult
    func assertWellFormed(_ diags: [Diagnostic], file: String, lines: Int, context: String) -> Bool {
        guard !diags.isEmpty else { XCTFail("refused without a diagnostic; \(context)"); return false }
        for d in diags {
            let ok = d.location.file == file && d.location.line >= 1 && d.location.line <= lines + 1 && d.location.column >= 1
                && !d.message.isEmpty && !d.hint.isEmpty && d.code != .internalError && !d.description.contains("\n")
            if !ok { XCTFail("malformed diagnostic \(d); \(context)"); return false }
        }
        return true
    }

    /// An accepted file's topology holds every host, VM, service, member, pair and group its
    /// YAML lists, counted here from Yams' own tree, not by the loader.
    func assertNothingVanished(_ t: Topology, input: Data, context: String) -> Bool {
        guard let root = try? Yams.compose(yaml: String(decoding: input, as: UTF8.self)), case .mapping(let top) = root else {
            XCTFail("accepted, but Yams cannot read it back; \(context)"); return false
        }
        func count(_ key: String) -> Int {
            switch top[key] {
            case nil: return 0
            case .sequence(let s)?: return s.count
            case .scalar(let s)? where s.style == .plain && ["", "~", "null"].contains(s.string): return 0
            default: return 1
            }
        }
        var found = [count("hosts"), count("vms"), count("services"), count("directors"), count("anti_affinity")]
        var built = [t.hosts.count, t.vms.count, t.services.count, t.directorPairs.count, t.antiAffinity.count]
        if case .sequence(let services)? = top["services"] {
            for (s, built_) in zip(services, t.services) {
                if case .sequence(let members)? = s["members"] { found.append(members.count); built.append(built_.members.count) }
            }
        }
        if found != built { XCTFail("accepted, but entries vanished: YAML has \(found), topology has \(built); \(context)"); return false }
        return true
    }
}

/// Mutations of a topology file, chosen by a seeded generator: structural edits a careless hand
/// makes, values from issue 17's hostile files, and raw byte flips.
struct Mutator {
    /// Values that broke, or could break, a reader: out-of-range numbers, empty lists, aliases,
    /// unusable addresses, bad interface names, YAML oddities.
    static let hostile = [
        "1e300s", "-1e300s", "9e18s", "1e20", "9.3e15ms", "nan", ".inf", "-.inf", "0x10", "1_000", "99999999999999999999", "-1", "0",
        "[]", "{}", "~", "\"\"", "''", "[[]]", "[{}]", "*a", "&a x", "&a [1, 2]", "[*a, *a]", "{? *a : b}", "!!binary aGk=", "!!str 5",
        "0.0.0.0", "\"::\"", "127.0.0.1", "224.0.0.18", "255.255.255.255", "\"ff02::12\"", "\"::ffff:1.2.3.4\"", "10.0.0.1/33",
        "abcdefghijklmnopqrst", "\"eth 0\"", "\"a/b\"", "\".\"", "\"\\u0000\"", "yes", "- x", "| block", ">", "? x", "@x", "`x`",
        "%YAML 1.1", "---", "...", "\"2001:db8::1\"", "[d1, d1]", "{kind: exec, command: []}", "{kind: tcp}", "sorry", "fwmark", "mh",
    ]
    /// Keys of the format, so inserted lines are often keys the reader knows.
    static let keys = Set(([TopologySchema.root, TopologySchema.host, TopologySchema.vm, TopologySchema.machine, TopologySchema.service, TopologySchema.member,
                            TopologySchema.check, TopologySchema.directors, TopologySchema.database, TopologySchema.passive,
                            TopologySchema.persistence, TopologySchema.sorryServer, TopologySchema.antiAffinityGroup])
        .flatMap { $0.allowedKeys(selector: nil).map(\.name) }).sorted()

    mutating func mutate(_ text: String, _ rng: inout SplitMix64) -> Data {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        func pick(_ n: Int) -> Int { Int(rng.next() % UInt64(max(n, 1))) }
        for _ in 0...(pick(3) == 0 ? pick(4) : 0) where !lines.isEmpty {
            let i = pick(lines.count)
            switch pick(9) {
            case 0: lines.remove(at: i)
            case 1: lines.insert(lines[i], at: i)
            case 2: lines.swapAt(i, pick(lines.count))
            case 3, 4:
                // Replace the value after a `key: ` (or a flow item) with a hostile one.
                let line = lines[i]
                let cuts = line.indices.filter { line[$0] == ":" || line[$0] == "," || line[$0] == "[" }
                if let cut = cuts.isEmpty ? nil : cuts[pick(cuts.count)] {
                    let rest = line[line.index(after: cut)...]
                    let end = rest.firstIndex { $0 == "," || $0 == "}" || $0 == "]" } ?? line.endIndex
                    lines[i] = String(line[...cut]) + " " + Self.hostile[pick(Self.hostile.count)] + String(line[end...])
                }
            case 5:
                let indent = String(lines[i].prefix { $0 == " " })
                lines.insert("\(indent)\(Self.keys[pick(Self.keys.count)]): \(Self.hostile[pick(Self.hostile.count)])", at: i)
            case 6: lines[i] = pick(2) == 0 ? "  " + lines[i] : String(lines[i].drop { $0 == " " })
            case 7: lines.removeSubrange(i...)
            default:
                var chars = Array(lines[i])
                if !chars.isEmpty { chars[pick(chars.count)] = Array("[]{}:,&*!?-\"'#|> \t")[pick(18)] }
                lines[i] = String(chars)
            }
        }
        var bytes = Array(lines.joined(separator: "\n").utf8)
        // Now and then a raw byte flip: invalid UTF-8, NULs, control bytes.
        if pick(8) == 0, !bytes.isEmpty { bytes[pick(bytes.count)] = UInt8(truncatingIfNeeded: rng.next()) }
        return Data(bytes)
    }
}
