import ArgumentParser
import Foundation

/// tandemctl's exit statuses (docs/deploy.md), the same for every command so that scripts and monitoring
/// can tell them apart: 0 ok; 1 a problem found (an invalid file, a member down, a refused
/// operation); 2 a usage error (the only case that prints usage); 3 tandemd cannot be reached.
enum Exit {
    /// A problem found: an invalid file, a member down, an operation refused.
    static let problem = ExitCode(1)
    /// The command line is wrong.
    static let usage = ExitCode(2)
    /// tandemd did not answer (not running, wrong `--url`, something else listening there).
    static let unreachable = ExitCode(3)
}

/// Prints `message` to standard error and gives the exit status to throw: `throw fail("…")`.
/// For runtime failures, which must never print usage (argument-parser's `ValidationError` does).
func fail(_ message: String, _ status: ExitCode = Exit.problem) -> ExitCode {
    printError(message)
    return status
}

/// Writes to standard error, where diagnostics belong.
func printError(_ text: String) {
    FileHandle.standardError.write(Data((text.hasSuffix("\n") ? text : text + "\n").utf8))
}

/// Pretty, sorted JSON for `--json` output.
func jsonText<T: Encodable>(_ value: T) throws -> String {
    let e = JSONEncoder()
    e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    return String(decoding: try e.encode(value), as: UTF8.self)
}

/// Prints `text` on standard output, or writes it to `path` (atomically) when one is given: what the
/// commands with `--output` do.
func emit(_ text: String, to path: String?) throws {
    guard let path else { print(text, terminator: ""); return }
    do { try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic) } catch {
        throw fail("cannot write \(path): \(error.localizedDescription)")
    }
}
