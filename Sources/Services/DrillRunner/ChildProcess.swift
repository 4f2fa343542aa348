import Foundation
import Synchronization
import Syscall

/// A child process of a drill (a hook, the probe, a VIP watch): started with ``spawnProcess``,
/// its output read line by line as it comes, its end reported once, and a bound on how long it may
/// run (SIGTERM, then SIGKILL of its process group two seconds later).
///
/// The end is the child's own exit (`waitpid` on a thread of its own), not the end of its output:
/// a hook that starts a daemon (a restarted director) returns when the hook does, even if the
/// daemon kept the output pipe. What the pipe holds then is read for a moment more, and dropped.
final class ChildProcess: Sendable {
    private let state = Mutex<State>(State())
    let argv: [String]
    private let environment: [String: String]
    private let stdoutFD: Int32?
    private let onLine: (@Sendable (String) -> Void)?

    private struct State {
        var pid: pid_t = 0
        var partial: [UInt8] = []
        var output = ""
        var outputCut = false
        var end: ChildTermination?
        var timedOut = false
        var onEnd: [@Sendable (ChildTermination) -> Void] = []
    }

    /// Output kept for reports, at most this many bytes.
    static let outputLimit = 16 << 10

    /// A child for `argv` (`argv[0]` a path, or a name on PATH) with this process's environment plus
    /// `environment`; stdout goes to `stdout` (an open file) when given, else, like stderr, to the
    /// line reader `onLine`.
    init(_ argv: [String], environment: [String: String], stdout: Int32? = nil, onLine: (@Sendable (String) -> Void)? = nil) throws(DrillRunError) {
        precondition(!argv.isEmpty)
        guard Self.resolve(argv[0]) != nil else {
            throw DrillRunError("cannot run '\(argv[0])': no such executable" + (argv[0].contains("/") ? "" : " on PATH"),
                                hint: "give its full path, or install it")
        }
        self.argv = argv; self.environment = environment; self.stdoutFD = stdout; self.onLine = onLine
    }

    /// Starts it, with the threads that wait for its end and read its output.
    func start() throws(DrillRunError) {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { throw DrillRunError("pipe: errno \(errno)", hint: "too many open files?") }
        // Close-on-exec on both ends: only the child's dup2 copies cross into it.
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        let readEnd = fds[0], writeEnd = fds[1]
        let pid: pid_t
        do { pid = try spawnProcess(argv, environment: environment, stdout: stdoutFD ?? writeEnd, stderr: writeEnd) } catch {
            close(readEnd); close(writeEnd)
            throw DrillRunError("cannot start \(argv.joined(separator: " ")): \(error)", hint: "check that it exists and is executable")
        }
        close(writeEnd)
        state.withLock { $0.pid = pid }
        let reader = Thread { [self] in read(readEnd) }
        reader.stackSize = 256 << 10
        reader.start()
        let waiter = Thread { [self] in
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            ended(ChildTermination(waitStatus: status))
        }
        waiter.stackSize = 256 << 10
        waiter.start()
    }

    /// Its process id (0 before ``start()``).
    var pid: pid_t { state.withLock { $0.pid } }

    /// Sends SIGTERM (to the child only: a daemon it started is left alone).
    func terminate() {
        let (p, done) = state.withLock { ($0.pid, $0.end != nil) }
        if p > 0 && !done { Foundation.kill(p, SIGTERM) }
    }

    /// Sends SIGKILL to its whole process group.
    func kill() {
        let (p, done) = state.withLock { ($0.pid, $0.end != nil) }
        if p > 0 && !done { Foundation.kill(-p, SIGKILL); Foundation.kill(p, SIGKILL) }
    }

    /// Waits for the end, at most `bound`: then SIGTERM, and SIGKILL 2 s later. Returns how it ended.
    func wait(bound: Duration) async -> (end: ChildTermination, timedOut: Bool) {
        let end = await withTaskGroup(of: Void.self, returning: ChildTermination.self) { group in
            group.addTask {
                do { try await Task.sleep(for: bound) } catch { return }
                guard !self.hasEnded else { return }
                self.state.withLock { $0.timedOut = true }
                self.terminate()
                do { try await Task.sleep(for: .seconds(2)) } catch { return }
                self.kill()
            }
            let e = await withCheckedContinuation { (c: CheckedContinuation<ChildTermination, Never>) in
                self.onEnd { c.resume(returning: $0) }
            }
            group.cancelAll()
            return e
        }
        return (end, state.withLock { $0.timedOut })
    }

    /// Whether it has ended.
    var hasEnded: Bool { state.withLock { $0.end != nil } }

    /// Its output so far (cut at ``outputLimit``).
    var output: String { state.withLock { $0.output + ($0.outputCut ? "\n[output cut]" : "") } }

    /// Calls `f` once it has ended (at once if it has).
    func onEnd(_ f: @escaping @Sendable (ChildTermination) -> Void) {
        let already = state.withLock { s -> ChildTermination? in
            if let e = s.end { return e }
            s.onEnd.append(f)
            return nil
        }
        if let already { f(already) }
    }

    /// Reads the pipe until EOF, or until a short while after the child's end (a daemon it started
    /// may hold the pipe open for ever).
    private func read(_ fd: Int32) {
        defer { close(fd) }
        var buf = [UInt8](repeating: 0, count: 1 << 14)
        var lingerAfterEnd = 5   // polls of 50 ms once the child has ended
        while true {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&p, 1, 50)
            if ready > 0 {
                let n = buf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
                if n > 0 { take(buf[0..<n]); continue }
                if n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN) { break }
            }
            if hasEnded {
                lingerAfterEnd -= 1
                if lingerAfterEnd <= 0 { break }
            }
        }
        flush()
    }

    private func take(_ data: ArraySlice<UInt8>) {
        let lines: [String] = state.withLock { s in
            s.partial.append(contentsOf: data)
            var out: [String] = []
            while let nl = s.partial.firstIndex(of: 10) {
                let line = String(decoding: s.partial[..<nl], as: UTF8.self)
                s.partial.removeSubrange(...nl)
                out.append(line)
                if s.output.utf8.count < Self.outputLimit { s.output += line + "\n" } else { s.outputCut = true }
            }
            return out
        }
        if let onLine { lines.forEach(onLine) }
    }

    private func flush() {
        let last: String? = state.withLock { s in
            guard !s.partial.isEmpty else { return nil }
            let line = String(decoding: s.partial, as: UTF8.self)
            s.partial.removeAll()
            if s.output.utf8.count < Self.outputLimit { s.output += line }
            return line
        }
        if let last, let onLine { onLine(last) }
    }

    private func ended(_ end: ChildTermination) {
        let callbacks = state.withLock { s -> [@Sendable (ChildTermination) -> Void] in
            s.end = end
            defer { s.onEnd.removeAll() }
            return s.onEnd
        }
        callbacks.forEach { $0(end) }
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
