import CLibNL
#if canImport(Glibc)
import Glibc
#endif

// One wrapper for every libnl call this package makes. Each turns a negative libnl return into a
// `NetlinkError` naming the C function and keeping libnl's message, retries NLE_INTR, and traps
// on results that can only mean a programming error (allocation of a few bytes failing).

enum LibNL {
    /// Bounded retry count for NLE_INTR.
    static let maxInterruptRetries = 16

    /// Runs a libnl call returning `int`; negative values become `NetlinkError(.libnl)`.
    @discardableResult
    static func check(_ function: String, _ body: () -> Int32) throws(NetlinkError) -> Int32 {
        var attempt = 0
        while true {
            let rc = body()
            if rc >= 0 { return rc }
            let code = -rc
            if code == NLE_INTR && attempt < maxInterruptRetries { attempt += 1; continue }
            if code == NLE_AGAIN {
                throw NetlinkError(code: .timeout, operation: function, libnlCode: code,
                                   message: "no reply from the kernel before the receive timeout")
            }
            throw NetlinkError(code: .libnl, operation: function, libnlCode: code,
                               message: String(cString: nl_geterror(rc)))
        }
    }

    /// `nl_socket_alloc`.
    static func socketAlloc() -> OpaquePointer {
        guard let s = nl_socket_alloc() else { fatalError("nl_socket_alloc: out of memory") }
        return s
    }
    /// `nl_socket_free`.
    static func socketFree(_ s: OpaquePointer) { nl_socket_free(s) }
    /// `genl_connect`.
    static func genlConnect(_ s: OpaquePointer) throws(NetlinkError) {
        try check("genl_connect") { genl_connect(s) }
    }
    /// `genl_ctrl_resolve`. A missing family becomes `.familyNotFound`.
    static func genlCtrlResolve(_ s: OpaquePointer, _ name: String) throws(NetlinkError) -> Int32 {
        do {
            return try check("genl_ctrl_resolve") { genl_ctrl_resolve(s, name) }
        } catch let e where e.libnlCode == NLE_OBJ_NOTFOUND {
            throw NetlinkError(code: .familyNotFound, operation: "genl_ctrl_resolve(\"\(name)\")",
                               libnlCode: e.libnlCode,
                               message: "genl family \(name) not found")
        }
    }
    /// `nl_socket_disable_seq_check`: batching uses its own sequence bookkeeping.
    static func disableSeqCheck(_ s: OpaquePointer) { nl_socket_disable_seq_check(s) }
    /// `nl_socket_set_buffer_size`.
    static func setBufferSize(_ s: OpaquePointer, rx: Int32, tx: Int32) throws(NetlinkError) {
        try check("nl_socket_set_buffer_size") { nl_socket_set_buffer_size(s, rx, tx) }
    }
    /// `nl_socket_get_fd` + `setsockopt(SO_RCVTIMEO)`: bounds every wait for the kernel.
    static func setReceiveTimeout(_ s: OpaquePointer, seconds: Int) throws(NetlinkError) {
        let fd = nl_socket_get_fd(s)
        var tv = timeval(tv_sec: seconds, tv_usec: 0)
        let rc = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        if rc != 0 {
            throw NetlinkError(code: .kernel, operation: "setsockopt(SO_RCVTIMEO)", errno: Glibc.errno,
                               message: String(cString: strerror(Glibc.errno)))
        }
    }
    /// `nl_sendto`: sends raw bytes (possibly many concatenated messages) in one `sendmsg`.
    static func sendto(_ s: OpaquePointer, _ buffer: UnsafeMutableRawBufferPointer) throws(NetlinkError) {
        let sent = try check("nl_sendto") { nl_sendto(s, buffer.baseAddress, buffer.count) }
        if Int(sent) != buffer.count {
            throw NetlinkError(code: .libnl, operation: "nl_sendto", libnlCode: NLE_MSGSIZE,
                               message: "short send: \(sent) of \(buffer.count) bytes")
        }
    }
    /// `nl_cb_alloc(NL_CB_DEFAULT)`.
    static func callbackAlloc() -> OpaquePointer {
        guard let cb = nl_cb_alloc(NL_CB_DEFAULT) else { fatalError("nl_cb_alloc: out of memory") }
        return cb
    }
    /// `nl_cb_put`.
    static func callbackPut(_ cb: OpaquePointer) { nl_cb_put(cb) }
    /// `nl_cb_set`.
    static func callbackSet(_ cb: OpaquePointer, _ type: nl_cb_type, _ fn: nl_recvmsg_msg_cb_t, _ arg: UnsafeMutableRawPointer) throws(NetlinkError) {
        try check("nl_cb_set") { nl_cb_set(cb, type, NL_CB_CUSTOM, fn, arg) }
    }
    /// `nl_cb_err`: the custom error handler that sees the kernel's errno.
    static func callbackErr(_ cb: OpaquePointer, _ fn: nl_recvmsg_err_cb_t, _ arg: UnsafeMutableRawPointer) throws(NetlinkError) {
        try check("nl_cb_err") { nl_cb_err(cb, NL_CB_CUSTOM, fn, arg) }
    }
    /// `nl_recvmsgs`: reads one batch of messages and dispatches them to the callbacks.
    ///
    /// Returns libnl's raw result: a handler that returns `NL_STOP` for a kernel error makes it
    /// negative on purpose, so the caller decides from its own bookkeeping first and only then
    /// passes the result to ``check(_:_:)``. NLE_INTR is retried here.
    static func recvmsgs(_ s: OpaquePointer, _ cb: OpaquePointer) -> Int32 {
        var attempt = 0
        while true {
            let rc = nl_recvmsgs(s, cb)
            if rc == -NLE_INTR && attempt < maxInterruptRetries { attempt += 1; continue }
            return rc
        }
    }
}
