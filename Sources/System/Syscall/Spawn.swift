#if canImport(Glibc)
import Glibc
#endif

/// Starts a child process with `posix_spawnp`: `argv[0]` an absolute path or a name on `PATH`,
/// this process's environment plus `environment`, in a process group of its own, with a clean
/// signal mask and default handlers. `stdin`, `stdout` and `stderr` are descriptors to give it
/// (`nil`: `/dev/null`); every other descriptor is closed in the child, so nothing this process
/// holds (sockets, pipes) outlives it in a daemon the child starts.
///
/// The caller reaps it (`waitpid`). Exec checks, drill hooks and the drill's probe start this way.
public func spawnProcess(_ argv: [String], environment: [String: String] = [:], stdin: Int32? = nil,
                         stdout: Int32? = nil, stderr: Int32? = nil) throws(SystemCallError) -> pid_t {
    precondition(!argv.isEmpty, "spawnProcess needs a command")
    var attr = posix_spawnattr_t()
    posix_spawnattr_init(&attr)
    defer { posix_spawnattr_destroy(&attr) }
    posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
    posix_spawnattr_setpgroup(&attr, 0)
    var none = sigset_t(); sigemptyset(&none)
    posix_spawnattr_setsigmask(&attr, &none)
    var all = sigset_t(); sigfillset(&all)
    posix_spawnattr_setsigdefault(&attr, &all)
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    for (target, given) in [(Int32(0), stdin), (1, stdout), (2, stderr)] {
        if let fd = given {
            posix_spawn_file_actions_adddup2(&actions, fd, target)
        } else {
            posix_spawn_file_actions_addopen(&actions, target, "/dev/null", target == 0 ? O_RDONLY : O_WRONLY, 0)
        }
    }
    // glibc 2.34's posix_spawn_file_actions_addclosefrom_np; Swift's Glibc module does not
    // import it (it is a GNU extension), so it is looked up by name.
    if let sym = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") {
        typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
        _ = unsafeBitCast(sym, to: CloseFrom.self)(&actions, 3)
    }
    var env: [String: String] = [:]
    var i = 0
    while let p = environ[i] {
        let s = String(cString: p)
        if let eq = s.firstIndex(of: "=") { env[String(s[..<eq])] = String(s[s.index(after: eq)...]) }
        i += 1
    }
    for (k, v) in environment { env[k] = v }
    let cargv = argv.map { strdup($0) } + [nil]
    let envp = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer { for p in cargv { free(p) }; for p in envp { free(p) } }
    var pid: pid_t = 0
    let rc = posix_spawnp(&pid, argv[0], &actions, &attr, cargv, envp)
    guard rc == 0 else { throw SystemCallError(function: "posix_spawnp", context: argv[0], errno: rc) }
    return pid
}

/// How a reaped child ended, from `waitpid`'s status.
public enum ChildTermination: Sendable, Equatable, CustomStringConvertible {
    /// It exited with this status.
    case exited(Int32)
    /// A signal killed it.
    case signalled(Int32)

    /// Decodes a `waitpid` status (`WIFEXITED`, `WEXITSTATUS`, `WTERMSIG`, which Swift cannot import).
    public init(waitStatus status: Int32) {
        self = (status & 0x7f) == 0 ? .exited((status >> 8) & 0xff) : .signalled(status & 0x7f)
    }

    /// `exit status 1`, `killed by signal 9`.
    public var description: String {
        switch self {
        case .exited(let s): "exit status \(s)"
        case .signalled(let s): "killed by signal \(s)"
        }
    }
}
