import CLibNL
#if canImport(Glibc)
import Glibc
#endif

/// A generic netlink socket bound to one family (libnl `struct nl_sock`).
///
/// Not thread-safe (libnl sockets are not): exactly one owner uses it, from one thread at a time.
/// Every wait for the kernel is bounded by a receive timeout.
public final class GenericNetlinkSocket {
    private let sock: OpaquePointer
    /// The numeric family id the kernel assigned (`genl_ctrl_resolve`).
    public let family: Int32
    /// The family's name.
    public let familyName: String
    private var nextSequence: UInt32 = 1

    /// Messages per `sendmsg` in ``batch(_:)``. Bounded so the error replies of one chunk always
    /// fit the receive buffer (each error echoes the request, ~200 bytes).
    public var batchChunk = 256

    /// Connects (`genl_connect`) and resolves `family` (`genl_ctrl_resolve`).
    /// - Throws: `.familyNotFound` when the kernel does not have the family.
    public init(family name: String, receiveTimeoutSeconds: Int = 30) throws(NetlinkError) {
        sock = LibNL.socketAlloc()
        do {
            try LibNL.genlConnect(sock)
            LibNL.disableSeqCheck(sock)
            try LibNL.setBufferSize(sock, rx: 4 << 20, tx: 1 << 20)
            try LibNL.setReceiveTimeout(sock, seconds: receiveTimeoutSeconds)
            family = try LibNL.genlCtrlResolve(sock, name)
            familyName = name
        } catch {
            LibNL.socketFree(sock)
            throw error
        }
    }

    deinit { LibNL.socketFree(sock) }

    /// Starts a request for this socket's family.
    public func message(command: UInt8, version: UInt8, flags: NetlinkMessage.Flags = [.request]) throws(NetlinkError) -> NetlinkMessage {
        try NetlinkMessage(family: family, command: command, version: version, flags: flags)
    }

    /// Sends one request with `NLM_F_ACK` and returns the kernel's replies (empty for a pure write).
    /// - Throws: `.kernel` with the kernel's errno, labelled `operation`.
    public func request(_ msg: NetlinkMessage, operation: String) throws(NetlinkError) -> [GenericMessage] {
        msg.flags |= NetlinkMessage.Flags.ack.rawValue
        let result = try exchange([msg], collect: true, operation: operation)
        if let failure = result.failures.first { throw failure.error.relabelled(operation) }
        return result.messages
    }

    /// Sends a dump request (`NLM_F_DUMP`) and returns every message until `NLMSG_DONE`.
    public func dump(_ msg: NetlinkMessage, operation: String) throws(NetlinkError) -> [GenericMessage] {
        msg.flags |= NetlinkMessage.Flags.dump.rawValue
        let result = try exchange([msg], collect: true, operation: operation, isDump: true)
        if let failure = result.failures.first { throw failure.error.relabelled(operation) }
        return result.messages
    }

    /// One failed message of a batch: its index in the input and the kernel's error.
    public struct BatchFailure: Sendable, Equatable {
        /// Index of the failed message in the array given to ``batch(_:)``.
        public var index: Int
        /// The kernel's refusal.
        public var error: NetlinkError
    }

    /// Sends many write requests, several per `sendmsg`, and returns the ones the kernel refused.
    ///
    /// The kernel processes the messages of one `sendmsg` in order and keeps going after a failure,
    /// so later messages do not depend on earlier ones having succeeded. Only errors are
    /// acknowledged, plus the last message of each chunk (`NLM_F_ACK`) so we know the chunk is done:
    /// this saves a receive per message, which matters in user-mode-linux where syscalls are slow.
    public func batch(_ msgs: [NetlinkMessage], operation: String = "batch") throws(NetlinkError) -> [BatchFailure] {
        var failures: [BatchFailure] = []
        var start = 0
        let chunk = max(1, batchChunk)
        while start < msgs.count {
            let end = min(msgs.count, start + chunk)
            let slice = Array(msgs[start..<end])
            slice.last!.flags |= NetlinkMessage.Flags.ack.rawValue
            let r = try exchange(slice, collect: false, operation: operation)
            failures += r.failures.map { BatchFailure(index: start + $0.index, error: $0.error) }
            start = end
        }
        return failures
    }

    // MARK: - The one send/receive loop

    /// Receive-side bookkeeping shared with the C callbacks through an `Unmanaged` pointer.
    private final class Exchange {
        var firstSequence: UInt32 = 0
        var lastSequence: UInt32 = 0
        var collect = true
        var done = false
        var messages: [GenericMessage] = []
        var failures: [(sequence: UInt32, errno: Int32)] = []
        var parseError: NetlinkError?
    }

    private func exchange(_ msgs: [NetlinkMessage], collect: Bool, operation: String,
                          isDump: Bool = false) throws(NetlinkError) -> (messages: [GenericMessage], failures: [BatchFailure]) {
        let state = Exchange()
        state.collect = collect
        state.firstSequence = nextSequence
        var total = 0
        for m in msgs {
            m.sequence = nextSequence
            nextSequence &+= 1
            if nextSequence == 0 { nextSequence = 1 }
            total += (m.length + 3) & ~3
        }
        state.lastSequence = msgs.last!.sequence

        // Concatenate and send in one sendmsg.
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: total, alignment: 4)
        defer { buffer.deallocate() }
        buffer.initializeMemory(as: UInt8.self, repeating: 0)
        var off = 0
        for m in msgs {
            let len = m.length
            m.withBytes { buffer.baseAddress!.advanced(by: off).copyMemory(from: $0.baseAddress!, byteCount: len) }
            off += (len + 3) & ~3
        }
        try LibNL.sendto(sock, buffer)

        let cb = LibNL.callbackAlloc()
        defer { LibNL.callbackPut(cb) }
        let ctx = Unmanaged.passUnretained(state).toOpaque()
        try LibNL.callbackSet(cb, NL_CB_VALID, Self.onValid, ctx)
        try LibNL.callbackSet(cb, NL_CB_ACK, Self.onAck, ctx)
        try LibNL.callbackSet(cb, NL_CB_FINISH, Self.onFinish, ctx)
        try LibNL.callbackErr(cb, Self.onError, ctx)
        // A fresh nl_cb checks sequence numbers against libnl's own counter; batches use ours.
        try LibNL.callbackSet(cb, NL_CB_SEQ_CHECK, Self.acceptSequence, ctx)

        // Bounded: each round reads at least one datagram, and SO_RCVTIMEO bounds every read.
        var rounds = 0
        let maxRounds = 1_000_000
        while !state.done {
            rounds += 1
            if rounds > maxRounds {
                throw NetlinkError(code: .malformedReply, operation: operation,
                                   message: "no final acknowledgement after \(maxRounds) reads")
            }
            let rc = withExtendedLifetime(state) { LibNL.recvmsgs(sock, cb) }
            if let e = state.parseError { throw e.relabelled(operation) }
            if state.done { break }
            if rc < 0 { try LibNL.check("nl_recvmsgs(\(operation))") { rc } }
        }
        let failures = state.failures.map { f in
            BatchFailure(index: Int(f.sequence &- state.firstSequence),
                         error: NetlinkError.kernel(operation, errno: f.errno))
        }
        return (state.messages, failures)
    }

    private static let onValid: nl_recvmsg_msg_cb_t = { msg, arg in
        let state = Unmanaged<Exchange>.fromOpaque(arg!).takeUnretainedValue()
        guard state.collect, let msg, let h = nlmsg_hdr(msg) else { return Int32(NL_OK.rawValue) }
        let len = Int(h.pointee.nlmsg_len)
        guard len >= NetlinkMessage.headerLength else {
            state.parseError = NetlinkError(code: .malformedReply, operation: "nl_recvmsgs",
                                            message: "reply shorter than its headers (\(len) bytes)")
            return Int32(NL_STOP.rawValue)
        }
        let raw = UnsafeRawBufferPointer(start: UnsafeRawPointer(h), count: len)
        let command = raw[16]
        do throws(NetlinkError) {
            let attrs = try Attributes(bytes: Array(raw[NetlinkMessage.headerLength..<len]))
            state.messages.append(GenericMessage(command: command, attributes: attrs))
        } catch {
            state.parseError = error
            return Int32(NL_STOP.rawValue)
        }
        return Int32(NL_OK.rawValue)
    }

    private static let acceptSequence: nl_recvmsg_msg_cb_t = { _, _ in Int32(NL_OK.rawValue) }

    private static let onAck: nl_recvmsg_msg_cb_t = { msg, arg in
        let state = Unmanaged<Exchange>.fromOpaque(arg!).takeUnretainedValue()
        if let msg, let h = nlmsg_hdr(msg), h.pointee.nlmsg_seq == state.lastSequence {
            state.done = true
            return Int32(NL_STOP.rawValue)
        }
        return Int32(NL_OK.rawValue)
    }

    private static let onFinish: nl_recvmsg_msg_cb_t = { msg, arg in
        let state = Unmanaged<Exchange>.fromOpaque(arg!).takeUnretainedValue()
        if let msg, let h = nlmsg_hdr(msg), h.pointee.nlmsg_seq == state.lastSequence {
            state.done = true
        }
        return Int32(NL_STOP.rawValue)
    }

    /// The custom `NL_CB_ERR` handler: records the kernel's real errno for the failed sequence
    /// number and keeps reading (libnl's default would stop and translate it to an NLE_* code).
    private static let onError: nl_recvmsg_err_cb_t = { _, err, arg in
        let state = Unmanaged<Exchange>.fromOpaque(arg!).takeUnretainedValue()
        guard let err else { return Int32(NL_SKIP.rawValue) }
        let seq = err.pointee.msg.nlmsg_seq
        state.failures.append((seq, -err.pointee.error))
        if seq == state.lastSequence {
            state.done = true
            return Int32(NL_STOP.rawValue)
        }
        return Int32(NL_SKIP.rawValue)
    }
}
