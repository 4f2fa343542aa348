#if canImport(CTandemOpenSSL)
import CTandemOpenSSL
import NIOCore

/// The client side of TLS for HTTPS checks, on the system OpenSSL (Debian `libssl-dev`) through memory
/// BIOs: the socket stays NIO's, OpenSSL only transforms bytes. Sits between the socket and
/// ``HTTPProbeHandler``: plaintext written before the handshake finishes is held and sent after it.
///
/// Like keepalived's `SSL_GET`, a health check does not verify the member's certificate: it asks
/// whether the service answers over TLS, not whom to trust (members are addressed by IP, with no
/// name to check a certificate against).
final class TLSClientHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// One client context for the process: TLS 1.2 or newer, no certificate verification.
    nonisolated(unsafe) private static let context: OpaquePointer? = {
        guard let ctx = SSL_CTX_new(TLS_client_method()) else { return nil }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nil)
        _ = SSL_CTX_ctrl(ctx, SSL_CTRL_SET_MIN_PROTO_VERSION, Int(TLS1_2_VERSION), nil)
        return ctx
    }()

    private var ssl: OpaquePointer?
    private var readBIO: OpaquePointer?
    private var writeBIO: OpaquePointer?
    private var handshakeDone = false
    private var pending: [(ByteBuffer, EventLoopPromise<Void>?)] = []
    private var failed = false

    func handlerAdded(context: ChannelHandlerContext) {
        guard let ctx = Self.context, let s = SSL_new(ctx),
              let r = BIO_new(BIO_s_mem()), let w = BIO_new(BIO_s_mem()) else {
            fail(context, "could not set up TLS (OpenSSL)")
            return
        }
        SSL_set_bio(s, r, w)  // the SSL object owns both BIOs now
        SSL_set_connect_state(s)
        ssl = s; readBIO = r; writeBIO = w
        if context.channel.isActive { handshake(context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        if let ssl { SSL_free(ssl) }
        ssl = nil; readBIO = nil; writeBIO = nil
        for (_, p) in pending { p?.fail(ChannelError.ioOnClosedChannel) }
        pending = []
    }

    func channelActive(context: ChannelHandlerContext) {
        handshake(context)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let ssl, let readBIO, !failed else { return }
        let buf = unwrapInboundIn(data)
        _ = buf.withUnsafeReadableBytes { BIO_write(readBIO, $0.baseAddress, Int32($0.count)) }
        if !handshakeDone {
            handshake(context)
            guard handshakeDone else { return }
        }
        var out = context.channel.allocator.buffer(capacity: 4096)
        while true {
            out.reserveCapacity(minimumWritableBytes: 4096)
            let n = out.writeWithUnsafeMutableBytes(minimumWritableBytes: 4096) { p in
                Int(max(0, SSL_read(ssl, p.baseAddress, Int32(p.count))))
            }
            if n <= 0 { break }
        }
        flushCiphertext(context)
        if out.readableBytes > 0 { context.fireChannelRead(wrapInboundOut(out)) }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let buf = unwrapOutboundIn(data)
        guard handshakeDone else { pending.append((buf, promise)); return }
        encrypt(context, buf, promise)
    }

    func flush(context: ChannelHandlerContext) {
        if handshakeDone { flushCiphertext(context) }
    }

    private func encrypt(_ context: ChannelHandlerContext, _ buf: ByteBuffer, _ promise: EventLoopPromise<Void>?) {
        guard let ssl else { promise?.fail(ChannelError.ioOnClosedChannel); return }
        let n = buf.withUnsafeReadableBytes { SSL_write(ssl, $0.baseAddress, Int32($0.count)) }
        guard Int(n) == buf.readableBytes else {
            promise?.fail(TLSFailure(reason: "TLS write failed: \(Self.lastError())"))
            return
        }
        flushCiphertext(context, promise: promise)
    }

    private func handshake(_ context: ChannelHandlerContext) {
        guard let ssl, !handshakeDone, !failed else { return }
        let rc = SSL_do_handshake(ssl)
        if rc == 1 {
            handshakeDone = true
            flushCiphertext(context)
            let queued = pending; pending = []
            for (b, p) in queued { encrypt(context, b, p) }
            return
        }
        let err = SSL_get_error(ssl, rc)
        if err == tandem_ssl_error_want_read() || err == tandem_ssl_error_want_write() {
            flushCiphertext(context)
            return
        }
        fail(context, "TLS handshake failed: \(Self.lastError())")
    }

    /// Sends whatever OpenSSL produced for the wire.
    private func flushCiphertext(_ context: ChannelHandlerContext, promise: EventLoopPromise<Void>? = nil) {
        guard let writeBIO else { promise?.fail(ChannelError.ioOnClosedChannel); return }
        let waiting = tandem_bio_pending(writeBIO)
        guard waiting > 0 else { promise?.succeed(); return }
        var out = context.channel.allocator.buffer(capacity: Int(waiting))
        _ = out.writeWithUnsafeMutableBytes(minimumWritableBytes: Int(waiting)) { p in
            Int(max(0, BIO_read(writeBIO, p.baseAddress, Int32(waiting))))
        }
        context.writeAndFlush(wrapOutboundOut(out), promise: promise)
    }

    private func fail(_ context: ChannelHandlerContext, _ reason: String) {
        guard !failed else { return }
        failed = true
        context.fireErrorCaught(TLSFailure(reason: reason))
        context.close(promise: nil)
    }

    /// The oldest queued OpenSSL error as text (or a generic word when the queue is empty).
    private static func lastError() -> String {
        let code = ERR_get_error()
        ERR_clear_error()
        guard code != 0 else { return "protocol error" }
        var buf = [CChar](repeating: 0, count: 256)
        ERR_error_string_n(code, &buf, buf.count)
        return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// TLS did not come up or broke.
struct TLSFailure: Error, CustomStringConvertible {
    var reason: String
    var description: String { reason }
}
#endif
