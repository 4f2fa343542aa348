import Foundation
import Synchronization

/// A child process of a drill (a hook, the probe, a VIP watch), started with Foundation's
/// `Process`: its output read line by line as it comes, its end reported once, and a bound on how
/// long it may run (SIGTERM, then SIGKILL two seconds later).
///
/// A hook that starts a daemon (a restarted director) must send the daemon's output elsewhere: the
/// drill waits for the hook's own exit, not for the end of its output, and closes its end of the
/// pipe then.
final class ChildProcess: @unchecked Sendable {
    // @unchecked: `process` is configured before `start()` and only read after; every mutable
    // field is behind `state`.
    private let process = Process()
    private let pipe = Pipe()
    private let state = Mutex<State>(State())
    let argv: [String]

    private struct State {
        var partial = Data()
        var output = ""
        var outputCut = false
        var ended = false
        var timedOut = false
        var onEnd: [@Sendable (Int32, Process.TerminationReason) -> Void] = []
    }

    /// Output kept for reports, at most this many bytes.
    static let outputLimit = 16 << 10

    /// A child for `argv` (`argv[0]` a path, or a name looked up on PATH) with this process's
    /// environment plus `environment`; stdout goes to `stdout` when given (a file), else, like
    /// stderr, to the line reader.
    init(_ argv: [String], environment: [String: String], stdout: FileHandle? = nil, onLine: (@Sendable (String) -> Void)? = nil) throws(DrillRunError) {
        precondition(!argv.isEmpty)
        self.argv = argv
        guard let exe = Self.resolve(argv[0]) else {
            throw DrillRunError("cannot run '\(argv[0])': no such executable" + (argv[0].contains("/") ? "" : " on PATH"),
                                hint: "give its full path, or install it")
        }
        process.executableURL = URL(fileURLWithPath: exe)
        process.arguments = Array(argv.dropFirst())
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = stdout ?? pipe
        process.standardError = pipe
        pipe.fileHandleForReading.readabilityHandler = { [weak self] h in
            let data = h.availableData
            guard let self, !data.isEmpty else { return }
            self.take(data, onLine: onLine)
        }
        process.terminationHandler = { [weak self] p in self?.ended(p.terminationStatus, p.terminationReason) }
    }

    /// Starts it.
    func start() throws(DrillRunError) {
        do { try process.run() } catch {
            pipe.fileHandleForReading.readabilityHandler = nil
            throw DrillRunError("cannot start \(argv.joined(separator: " ")): \(error.localizedDescription)", hint: "check that it is executable")
        }
    }

    /// Its process id.
    var pid: Int32 { process.processIdentifier }

    /// Sends SIGTERM.
    func terminate() { if process.isRunning { process.terminate() } }

    /// Sends SIGKILL.
    func kill() { if process.isRunning { _ = Foundation.kill(process.processIdentifier, SIGKILL) } }

    /// Waits for the end, at most `bound`: then SIGTERM, and SIGKILL 2 s later. Returns how it ended.
    func wait(bound: Duration) async -> (status: Int32, signalled: Bool, timedOut: Bool) {
        let result = await withTaskGroup(of: Void.self, returning: (Int32, Process.TerminationReason).self) { group in
            group.addTask {
                do { try await Task.sleep(for: bound) } catch { return }
                guard !self.hasEnded else { return }
                self.state.withLock { $0.timedOut = true }
                self.terminate()
                do { try await Task.sleep(for: .seconds(2)) } catch { return }
                self.kill()
            }
            let r = await withCheckedContinuation { (c: CheckedContinuation<(Int32, Process.TerminationReason), Never>) in
                self.onEnd { s, r in c.resume(returning: (s, r)) }
            }
            group.cancelAll()
            return r
        }
        return (result.0, result.1 == .uncaughtSignal, state.withLock { $0.timedOut })
    }

    /// Whether it has ended.
    var hasEnded: Bool { state.withLock { $0.ended } }

    /// Its output so far (cut at ``outputLimit``).
    var output: String { state.withLock { $0.output + ($0.outputCut ? "\n[output cut]" : "") } }

    /// Calls `f` once it has ended (at once if it has).
    func onEnd(_ f: @escaping @Sendable (Int32, Process.TerminationReason) -> Void) {
        let already = state.withLock { s -> Bool in
            if s.ended { return true }
            s.onEnd.append(f)
            return false
        }
        if already { f(process.terminationStatus, process.terminationReason) }
    }

    private func take(_ data: Data, onLine: (@Sendable (String) -> Void)?) {
        let lines: [String] = state.withLock { s in
            s.partial.append(data)
            var out: [String] = []
            while let nl = s.partial.firstIndex(of: 10) {
                let line = String(decoding: s.partial[s.partial.startIndex..<nl], as: UTF8.self)
                s.partial.removeSubrange(s.partial.startIndex...nl)
                out.append(line)
                if s.output.utf8.count < Self.outputLimit { s.output += line + "\n" } else { s.outputCut = true }
            }
            return out
        }
        if let onLine { lines.forEach(onLine) }
    }

    private func ended(_ status: Int32, _ reason: Process.TerminationReason) {
        // What is left in the pipe now belongs to nobody: a daemon the hook started may hold it.
        pipe.fileHandleForReading.readabilityHandler = nil
        let callbacks = state.withLock { s -> [@Sendable (Int32, Process.TerminationReason) -> Void] in
            s.ended = true
            if !s.partial.isEmpty, s.output.utf8.count < Self.outputLimit { s.output += String(decoding: s.partial, as: UTF8.self) }
            s.partial.removeAll()
            defer { s.onEnd.removeAll() }
            return s.onEnd
        }
        callbacks.forEach { $0(status, reason) }
    }

    /// `name` as an executable path: as given when it has a `/`, else the first match on PATH.
    static func resolve(_ name: String) -> String? {
        if name.contains("/") { return FileManager.default.isExecutableFile(atPath: name) ? name : nil }
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let p = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return nil
    }
}

/// A drill that could not run, with what to do about it.
public struct DrillRunError: Error, Sendable, CustomStringConvertible {
    /// What went wrong.
    public var message: String
    /// What to do.
    public var hint: String
    /// Creates an error.
    public init(_ message: String, hint: String) { self.message = message; self.hint = hint }
    /// `message — hint`.
    public var description: String { "\(message) — \(hint)" }
}
