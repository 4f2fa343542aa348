import Foundation
import XCTest

/// The `tandemd` built next to the test bundle; a missing one fails the test with what to do
/// (never a skip) and gives nil.
func tandemdBinary(file: StaticString = #filePath, line: UInt = #line) -> URL? {
    let binDir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
    var tandemd = binDir.appendingPathComponent("tandemd")
    for _ in 0..<4 where !FileManager.default.isExecutableFile(atPath: tandemd.path) {
        tandemd = tandemd.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("tandemd")
    }
    guard FileManager.default.isExecutableFile(atPath: tandemd.path) else {
        XCTFail("tandemd binary not found next to the test bundle (\(binDir.path)): build it first (swift build --product tandemd)",
                file: file, line: line)
        return nil
    }
    return tandemd
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

    /// Runs `Fixtures/<name>` as `bash FIXTURE TANDEMD ARGUMENTS...` under `scripts/uml-run --timeout`.
    /// A missing `scripts/uml-run` or `tandemd` fails the test with what to do (never a skip); the run
    /// is then `nil`.
    static func run(_ name: String, arguments: [String] = [], timeoutSeconds: Int,
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
        guard var tandemd = tandemdBinary(file: file, line: line) else { return nil }
        // Inside the UML, /tmp, /var/tmp, /run, /dev/shm and /mnt are fresh tmpfs mounts (uml-run):
        // a binary built under one of them is invisible there, so copy it under $HOME for the run.
        var copyDir: URL?
        if ["/tmp/", "/var/tmp/", "/run/", "/dev/shm/", "/mnt/"].contains(where: { tandemd.path.hasPrefix($0) }) {
            let dir = FileManager.default.homeDirectoryForCurrentUser
                .appendingPathComponent(".cache/tandem-tests/\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            try FileManager.default.copyItem(at: tandemd, to: dir.appendingPathComponent("tandemd"))
            tandemd = dir.appendingPathComponent("tandemd")
            copyDir = dir
        }
        defer { if let copyDir { try? FileManager.default.removeItem(at: copyDir) } }

        let p = Process()
        p.executableURL = uml
        p.arguments = ["--timeout", "\(timeoutSeconds)", "--", "/bin/bash", fixture.path, tandemd.path] + arguments
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
