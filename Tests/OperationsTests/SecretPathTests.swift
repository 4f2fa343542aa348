import Foundation
import Glibc
import HealthCheck
import Net
import RingMonitoring
import Syscall
import TestSupport
import Topology
import VRRPTransport
import XCTest

/// Every secret path refuses a file that others can read (0644), with the command that fixes it:
/// tandemd's API token, the VRRP key, the MariaDB check's password, the ring monitor's password,
/// gridsvc's database password, tandemctl's --token-file and tandemctl ring's --password-file.
/// Each goes through `SecretFile`; these tests hold each caller to it.
final class SecretPathTests: OperationsTestCase {
    let secret = "s3cret-value-0123456789abcdef"

    /// The refusal every path must give: the mode, and the chmod that fixes it, naming the file.
    func assertRefusedAsTooOpen(_ text: String, _ path: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertTrue(text.contains("has mode 644"), "the mode is named: \(text)", file: file, line: line)
        XCTAssertTrue(text.contains("chmod 600 \(path)"), "the fix is named: \(text)", file: file, line: line)
        XCTAssertFalse(text.contains(secret), "the secret never appears in a message: \(text)", file: file, line: line)
    }

    func testTandemdRefusesALooseAPITokenAndExitsSeventyEight() throws {
        let port = try freePort()
        let token = try write("api-token", secret, mode: 0o644)
        let topology = try write("site.yaml", site(upPort: port, extra: "daemon: {token_file: \(token)}"), mode: 0o644)
        let r = try run("tandemd", ["--topology", topology, "--node", "d1", "--dry-run-kernel", "--status-listen", "127.0.0.1:\(port)",
                                    "--state-dir", work + "/run"])
        XCTAssertEqual(r.status, 78, r.output)
        assertRefusedAsTooOpen(r.output, token)
    }

    func testTheVRRPKeyFileNamedByTheTopologyIsRefusedWhenLoose() throws {
        let key = try write("vrrp.key", secret, mode: 0o644)
        let text = site(upPort: 1, extra: """
            directors:
              members: [d1, d2]
              vrid: 9
              interface: eth0
              key_file: \(key)
            """).replacingOccurrences(of: "vms:\n", with: """
            vms:
              - {name: d1, role: director, vcpus: 1, memory: 1GiB, addresses: [10.0.0.1/24]}
              - {name: d2, role: director, vcpus: 1, memory: 1GiB, addresses: [10.0.0.2/24]}

            """)
        let t = try TopologyLoader.parse(data: Data(text.utf8), file: "site.yaml").topology
        XCTAssertThrowsError(try DirectorSetup.loadKey(topology: t, node: "d1")) { assertRefusedAsTooOpen("\($0)", key) }
        XCTAssertEqual(chmod(key, 0o600), 0)
        XCTAssertEqual(try DirectorSetup.loadKey(topology: t, node: "d1"), Array(secret.utf8))
        // 0640 is allowed (a dedicated group may read it), group write is not.
        XCTAssertEqual(chmod(key, 0o640), 0)
        XCTAssertNoThrow(try DirectorSetup.loadKey(topology: t, node: "d1"))
        XCTAssertEqual(chmod(key, 0o660), 0)
        XCTAssertThrowsError(try DirectorSetup.loadKey(topology: t, node: "d1"))
    }

    func testTheMariaDBCheckFailsWithTheReasonWhenItsPasswordFileIsLoose() async throws {
        let password = try write("monitor-password", secret, mode: 0o644)
        let checker = MariaDBChecker(address: IPAddress("127.0.0.1")!, port: 1, user: "monitor", passwordFile: password)
        let outcome = await checker.check(timeout: .seconds(2))
        guard case .failure(let reason, _) = outcome else { return XCTFail("a loose password file must fail the check, got \(outcome)") }
        assertRefusedAsTooOpen(reason, password)
    }

    func testTheRingMonitorRefusesALoosePasswordFile() throws {
        let password = try write("monitor-password", secret, mode: 0o644)
        let text = site(upPort: 1).replacingOccurrences(of: "check: {kind: tcp, interval: 200ms, timeout: 150ms, rise: 1, fall: 1}",
                                                         with: "check: {kind: mariadb, user: monitor, password_file: \(password)}")
            + "\ndatabase: {ring: [a, b], port: 3306}\n"
        let t = try TopologyLoader.parse(data: Data(text.utf8), file: "site.yaml").topology
        XCTAssertThrowsError(try RingMonitorConfig.from(topology: t, monitorName: "test")) { assertRefusedAsTooOpen("\($0)", password) }
    }

    func testGridsvcRefusesALooseDatabasePasswordFile() throws {
        let password = try write("gridsvc-db-password", secret, mode: 0o644)
        let r = try run("gridsvc", ["migrate", "--db", "127.0.0.1:1", "--db-password-file", password])
        XCTAssertNotEqual(r.status, 0, r.output)
        assertRefusedAsTooOpen(r.output, password)
    }

    func testTandemctlRefusesALooseTokenFileBeforeSendingAnything() throws {
        let token = try write("token", secret, mode: 0o644)
        let port = try freePort()  // nobody listens: a refusal must come before any request
        let r = try run("tandemctl", ["drain", "gums", "a", "--url", "http://127.0.0.1:\(port)", "--token-file", token])
        XCTAssertEqual(r.status, 1, r.output)
        assertRefusedAsTooOpen(r.output, token)
    }

    func testTandemctlRingRefusesALoosePasswordFile() throws {
        let password = try write("ring-password", secret, mode: 0o644)
        let r = try run("tandemctl", ["ring", "status", "--nodes", "127.0.0.1:1,127.0.0.1:2", "--password-file", password, "--watch", "0.1"])
        XCTAssertEqual(r.status, 1, r.output)
        assertRefusedAsTooOpen(r.output, password)
    }

    func testEverySecretPathGoesThroughSecretFile() throws {
        // The readers of secret files in the sources: each must be SecretFile (or AuthKeyFile, which
        // wraps it). A new `contentsOfFile:` or `readWholeFile` on a key, token or password fails here.
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let sources = root.appendingPathComponent("Sources")
        let files = FileManager.default.enumerator(atPath: sources.path)?.compactMap { $0 as? String }.filter { $0.hasSuffix(".swift") } ?? []
        XCTAssertFalse(files.isEmpty, "no sources found under \(sources.path)")
        var offenders: [String] = []
        for f in files {
            let text = try String(contentsOfFile: sources.appendingPathComponent(f).path, encoding: .utf8)
            for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let l = line.lowercased()
                let readsFile = l.contains("contentsoffile") || l.contains("readwholefile(") || l.contains("filehandle(forreadingatpath")
                if readsFile && (l.contains("password") || l.contains("token") || l.contains("keyfile") || l.contains("secret")) {
                    offenders.append("\(f):\(n + 1): \(line.trimmingCharacters(in: .whitespaces))")
                }
            }
        }
        XCTAssertEqual(offenders, [], "secret files must be read through SecretFile")
    }
}
