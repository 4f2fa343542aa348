import Foundation
import XCTest

/// Runs a kernel test's body inside a fresh user-mode-linux kernel.
///
/// On the host, `inKernel` boots `scripts/uml-run` with this very test binary and the one test
/// name, and asserts that it passed there; inside the UML (`UML_RUN=1`, set by uml-run) it runs
/// the body against the real IPVS kernel. So every assertion runs in a real kernel, and a missing
/// `linux.uml` is a failure that names it, never a skip.
enum UML {
    static var inside: Bool { ProcessInfo.processInfo.environment["UML_RUN"] == "1" }

    /// The package root, from this file's path (Tests/KernelTests/Harness.swift).
    static let root: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The running test binary.
    static var testBinary: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }

    /// The directory of the build products (tandemctl sits beside the test bundle).
    static var productsDirectory: URL {
        var u = URL(fileURLWithPath: testBinary)
        while u.path != "/" && !u.lastPathComponent.hasSuffix(".xctest") { u.deleteLastPathComponent() }
        return u.path == "/" ? URL(fileURLWithPath: testBinary).deletingLastPathComponent() : u.deletingLastPathComponent()
    }

    static func findUML() -> String? {
        for p in ["/usr/bin/linux.uml", "/usr/local/bin/linux.uml"] where FileManager.default.isExecutableFile(atPath: p) { return p }
        return nil
    }
}

extension XCTestCase {
    /// Host: boots a UML running only this test and asserts it passed. UML: runs `body`.
    func inKernel(timeout: Int = 150, _ test: String = #function, file: StaticString = #filePath, line: UInt = #line,
                  _ body: () throws -> Void) rethrows {
        if UML.inside {
            try body()
            return
        }
        guard UML.findUML() != nil else {
            XCTFail("linux.uml not found: install the user-mode-linux package (apt-get install -y user-mode-linux); kernel tests need a kernel with IPVS", file: file, line: line)
            return
        }
        let name = test.hasSuffix("()") ? String(test.dropLast(2)) : test
        let spec = "KernelTests.\(type(of: self))/\(name)"
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("kerneltest-\(getpid())-\(name).log")
        FileManager.default.createFile(atPath: out.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: out) }
        let p = Process()
        p.executableURL = UML.root.appendingPathComponent("scripts/uml-run")
        p.arguments = ["--timeout", "\(timeout)", "--", UML.testBinary, spec]
        p.currentDirectoryURL = UML.root
        let h = try! FileHandle(forWritingTo: out)
        p.standardOutput = h
        p.standardError = h
        p.standardInput = FileHandle.nullDevice
        do { try p.run() } catch {
            XCTFail("could not start scripts/uml-run: \(error)", file: file, line: line)
            return
        }
        p.waitUntilExit()
        try? h.close()
        let text = (try? String(contentsOf: out, encoding: .utf8)) ?? ""
        let executed = text.contains("Executed 1 test")
        if p.terminationStatus != 0 || !executed {
            XCTFail("\(spec) failed inside user-mode-linux (exit \(p.terminationStatus)):\n\(text)", file: file, line: line)
        } else {
            print(text.split(separator: "\n").filter { $0.hasPrefix("KERNEL:") }.joined(separator: "\n"))
        }
    }
}

/// Runs a shell command inside the UML and returns its status and combined output.
@discardableResult
func sh(_ command: String) -> (status: Int32, output: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/bin/bash")
    p.arguments = ["-c", command]
    p.currentDirectoryURL = UML.root
    var env = ProcessInfo.processInfo.environment
    env["PATH"] = "/usr/sbin:/usr/bin:/sbin:/bin"
    p.environment = env
    // Output goes to a file, not a pipe: a background child (a test server) may inherit the
    // write end and would keep a pipe open forever.
    let out = FileManager.default.temporaryDirectory.appendingPathComponent("sh-\(UUID().uuidString).out")
    FileManager.default.createFile(atPath: out.path, contents: nil)
    defer { try? FileManager.default.removeItem(at: out) }
    guard let h = try? FileHandle(forWritingTo: out) else { return (127, "cannot create \(out.path)") }
    p.standardOutput = h
    p.standardError = h
    p.standardInput = FileHandle.nullDevice
    do { try p.run() } catch { return (127, "\(error)") }
    p.waitUntilExit()
    try? h.close()
    let data = (try? Data(contentsOf: out)) ?? Data()
    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// `sh` that fails the test on a non-zero exit.
@discardableResult
func must(_ command: String, file: StaticString = #filePath, line: UInt = #line) -> String {
    let r = sh(command)
    XCTAssertEqual(r.status, 0, "`\(command)` failed:\n\(r.output)", file: file, line: line)
    return r.output
}

/// Progress to stderr (unbuffered), so a test killed by the uml-run timeout still shows where it was.
func note(_ text: String) {
    FileHandle.standardError.write(Data("KERNEL: \(text)\n".utf8))
}
