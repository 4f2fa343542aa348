// A child run to completion on the calling thread, for lab scripts driven from synchronous code
// (tests' assertions, the host drills' set-up). Services use ``Subprocess/run(_:input:environment:timeout:captureOutput:outputLimit:)``,
// which never blocks a thread.
#if canImport(Glibc)
import Glibc
#endif

extension Subprocess {
    /// Runs `argv` (`argv[0]` an absolute path) with stdin from /dev/null and stdout+stderr in a
    /// temporary file (no pipe a straggler could hold open), killed after `timeout` seconds: SIGTERM,
    /// then SIGKILL 2 s later (virsh blocked on a hung libvirtd ignores SIGTERM). Returns the exit
    /// status (128+signal when killed by one, -1 when it could not run or timed out) and the output.
    /// `what` names the command in the timeout message. Blocks the calling thread: never call it
    /// on the cooperative pool of a long-lived service.
    public static func runBlocking(_ argv: [String], timeout: Double, what: String) -> (status: Int32, output: String) {
        let outPath = "/tmp/tandem-run-out-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { unlink(outPath) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { for a in cArgs { free(a) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, argv[0], &actions, nil, &cArgs, environ)
        guard rc == 0 else { return (-1, "posix_spawn \(argv.joined(separator: " ")) failed: errno \(rc)") }
        let output = { (try? readWholeFile(outPath)).map { String(decoding: $0, as: UTF8.self) } ?? "" }
        var now = timespec()
        func seconds() -> Double { clock_gettime(CLOCK_MONOTONIC, &now); return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9 }
        let deadline = seconds() + timeout
        var status: Int32 = 0
        while true {
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid { break }
            if r < 0 && errno != EINTR { return (-1, "waitpid failed: errno \(errno)\n" + output()) }
            if seconds() >= deadline {
                kill(pid, SIGTERM)
                for i in 0..<200 {
                    if waitpid(pid, &status, WNOHANG) == pid { break }
                    if i == 199 { kill(pid, SIGKILL); _ = waitpid(pid, &status, 0) }
                    usleep(10_000)
                }
                return (-1, "\(what) timed out after \(timeout) s\n" + output())
            }
            usleep(20_000)
        }
        switch ChildTermination(waitStatus: status) {
        case .exited(let s): return (s, output())
        case .signalled(let s): return (128 + s, output())
        }
    }
}
