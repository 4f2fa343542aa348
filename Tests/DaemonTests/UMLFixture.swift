import Foundation
import TestSupport
import XCTest

/// The `tandemd` built next to the test bundle; a missing one fails the test with what to do
/// (never a skip) and gives nil.
func tandemdBinary(file: StaticString = #filePath, line: UInt = #line) -> URL? {
    productBinary("tandemd", file: file, line: line)
}

/// The executable `name` (tandemd, tandemctl) built next to the test bundle; a missing one fails the
/// test with what to do (never a skip) and gives nil.
func productBinary(_ name: String, file: StaticString = #filePath, line: UInt = #line) -> URL? {
    guard let binary = BuildProducts.path(name) else {
        XCTFail("\(name) binary not found next to the test bundle (\(BuildProducts.directory.path)): build it first (swift build --product \(name))",
                file: file, line: line)
        return nil
    }
    return binary
}

/// `Fixtures/<name>` of this test target.
func fixturePath(_ name: String) -> String {
    URL(fileURLWithPath: #filePath).resolvingSymlinksInPath().deletingLastPathComponent().appendingPathComponent("Fixtures/\(name)").path
}

/// One run of a `Fixtures/*.sh` script inside a real IPVS kernel (`scripts/uml-run`), with the
/// `tandemd` built next to the test bundle. Shared by the daemon's UML tests.
struct UMLFixtureRun {
    /// uml-run's exit status (the fixture's).
    var status: Int32
    /// Everything the fixture printed (stdout and stderr).
    var text: String
    /// The fixture's `RESULT key=value` lines.
    var results: [String: String]

    /// Runs `Fixtures/<name>` as `bash FIXTURE TANDEMD PRODUCTS... ARGUMENTS...` under
    /// `scripts/uml-run --timeout`, where PRODUCTS are the paths of the other executables named in
    /// `products` (e.g. tandemctl). A missing `scripts/uml-run` or executable fails the test with what
    /// to do (never a skip); the run is then `nil`.
    static func run(_ name: String, products: [String] = [], arguments: [String] = [], timeoutSeconds: Int,
                    file: StaticString = #filePath, line: UInt = #line) throws -> UMLFixtureRun? {
        let fixture = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
            .deletingLastPathComponent().appendingPathComponent("Fixtures/\(name)")
        var root = fixture
        var umlRun: URL?
        for _ in 0..<6 {
            root = root.deletingLastPathComponent()
            let candidate = root.appendingPathComponent("scripts/uml-run")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { umlRun = candidate; break }
        }
        let uml = try XCTUnwrap(umlRun, "scripts/uml-run not found above \(fixture.path): it is needed to boot an IPVS kernel",
                                file: file, line: line)
        var binaries: [URL] = []
        for product in ["tandemd"] + products {
            guard let b = productBinary(product, file: file, line: line) else { return nil }
            binaries.append(b)
        }
        // Inside the UML, /tmp, /var/tmp, /run, /dev/shm and /mnt are fresh tmpfs mounts (uml-run):
        // a binary built under one of them is invisible there, so copy it under $HOME for the run.
        var copyDir: URL?
        for (i, b) in binaries.enumerated() where ["/tmp/", "/var/tmp/", "/run/", "/dev/shm/", "/mnt/"].contains(where: { b.path.hasPrefix($0) }) {
            let dir = copyDir ?? FileManager.default.homeDirectoryForCurrentUser
                .appendingPathComponent(".cache/tandem-tests/\(UUID().uuidString)")
            if copyDir == nil { try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true) }
            try FileManager.default.copyItem(at: b, to: dir.appendingPathComponent(b.lastPathComponent))
            binaries[i] = dir.appendingPathComponent(b.lastPathComponent)
            copyDir = dir
        }
        defer { if let copyDir { try? FileManager.default.removeItem(at: copyDir) } }

        let p = Process()
        p.executableURL = uml
        p.arguments = ["--timeout", "\(timeoutSeconds)", "--", "/bin/bash", fixture.path] + binaries.map(\.path) + arguments
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        var results: [String: String] = [:]
        for l in text.split(separator: "\n") where l.hasPrefix("RESULT ") {
            let kv = l.dropFirst("RESULT ".count).split(separator: "=", maxSplits: 1)
            if kv.count == 2 { results[String(kv[0])] = String(kv[1]) }
        }
        return UMLFixtureRun(status: p.terminationStatus, text: text, results: results)
    }
}
