import CMariaDB

/// libmariadb is initialised once per process. `mysql_library_init` is a macro, so this calls the
/// function it expands to. A global `let` is initialised lazily and exactly once (swift_once),
/// which is what the library requires before the first `mysql_init` from any thread.
let mariaDBLibraryInitialized: Bool = mysql_server_init(0, nil, nil) == 0

/// A handle moved between threads. Safe because each one is owned by exactly one connection (or
/// one in-flight connect) and only ever used under that owner's lock or before it is published.
struct MySQLHandle: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<MYSQL>
}

/// Where libmariadb keeps the error of the call that just failed.
enum ErrorSource {
    case connection(UnsafeMutablePointer<MYSQL>)
    case statement(UnsafeMutablePointer<MYSQL_STMT>)
}

/// The one place C failures become `MariaDBError`: reads errno, SQLSTATE and message from the
/// handle the call used, and names the C function. CR_COMMANDS_OUT_OF_SYNC can only mean this
/// module issued commands in the wrong order, so it traps instead of pretending to be a runtime
/// error. (libmariadb retries EINTR itself, so no retry loop here.)
func mariaDBError(_ function: String, _ source: ErrorSource, endpoint: String) -> MariaDBError {
    let errno: UInt32
    let sqlState: String
    let message: String
    switch source {
    case .connection(let h):
        errno = mysql_errno(h)
        sqlState = String(cString: mysql_sqlstate(h))
        message = String(cString: mysql_error(h))
    case .statement(let s):
        errno = mysql_stmt_errno(s)
        sqlState = String(cString: mysql_stmt_sqlstate(s))
        message = String(cString: mysql_stmt_error(s))
    }
    precondition(
        Int32(errno) != MariaDBError.commandsOutOfSync,
        "MariaDB module bug: \(function) reported commands out of sync on \(endpoint): \(message)")
    return MariaDBError(
        operation: function, errno: Int32(bitPattern: errno), sqlState: sqlState,
        message: message.isEmpty ? "(no message from libmariadb)" : message, endpoint: endpoint)
}

/// Calls a libmariadb function that returns 0 on success (most of them) and throws its error otherwise.
@inline(__always)
func check(_ function: String, _ source: ErrorSource, endpoint: String, _ rc: Int32) throws {
    if rc != 0 { throw mariaDBError(function, source, endpoint: endpoint) }
}

/// The same for functions returning `my_bool` (nonzero = failure).
@inline(__always)
func check(_ function: String, _ source: ErrorSource, endpoint: String, _ rc: my_bool) throws {
    if rc != 0 { throw mariaDBError(function, source, endpoint: endpoint) }
}
