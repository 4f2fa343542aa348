import NIOCore
import NIOPosix
import Topology
#if canImport(Glibc)
import Glibc
#endif

/// TCP connect check: healthy when a connection opens within the timeout.
///
/// Non-blocking connect on SwiftNIO's shared event loops (never a blocking call on the cooperative
/// pool). A refused connection or a reset is the member's own kernel saying nothing listens: it is
/// reported `immediate` and drains at once. A silent member costs `timeout`. The connection is closed
/// with `SO_LINGER 0` (a reset), so thousands of checks per second leave no `TIME_WAIT` behind.
public struct TCPChecker: HealthChecker {
    /// Member address.
    public var address: IPAddress
    /// Member port.
    public var port: UInt16

    /// Creates a TCP check of `address:port`.
    public init(address: IPAddress, port: UInt16) { self.address = address; self.port = port }

    /// Connects, then closes at once.
    public func check(timeout: Duration) async -> CheckOutcome {
        do {
            let channel = try await ProbeSocket.connect(address: address, port: port, timeout: timeout)
            try? await channel.close()
            return .success
        } catch {
            return ProbeSocket.outcome(of: error)
        }
    }
}

/// The connect half both TCP and HTTP checks share.
enum ProbeSocket {
    static func socketAddress(_ a: IPAddress, port: UInt16) throws -> SocketAddress {
        try SocketAddress(ipAddress: a.description, port: Int(port))
    }

    static func bootstrap(timeout: Duration) -> ClientBootstrap {
        ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.nanoseconds(nanoseconds(timeout)))
    }

    /// `SO_LINGER {1, 0}`: close sends a reset and leaves no `TIME_WAIT` on our side.
    static func setResetOnClose(_ ch: any Channel) -> EventLoopFuture<Void> {
        guard let p = ch as? any SocketOptionProvider else { return ch.eventLoop.makeSucceededVoidFuture() }
        return p.setSoLinger(linger(l_onoff: 1, l_linger: 0))
    }

    static func connect(address: IPAddress, port: UInt16, timeout: Duration) async throws -> any Channel {
        try await bootstrap(timeout: timeout)
            .channelInitializer { ch in setResetOnClose(ch) }
            .connect(to: socketAddress(address, port: port)).get()
    }

    static func nanoseconds(_ d: Duration) -> Int64 {
        let (s, atto) = d.components
        return s * 1_000_000_000 + atto / 1_000_000_000
    }

    /// Maps a connect or I/O error to an outcome: refused/reset are immediate, timeouts are timeouts.
    static func outcome(of error: any Error) -> CheckOutcome {
        if let e = error as? ChannelError {
            if case .connectTimeout = e { return .timedOut }
            return .failure(reason: "\(e)", immediate: false)
        }
        if let e = error as? IOError {
            switch e.errnoCode {
            case ECONNREFUSED: return .failure(reason: "connection refused", immediate: true)
            case ECONNRESET: return .failure(reason: "connection reset", immediate: true)
            case ETIMEDOUT: return .timedOut
            default: return .failure(reason: "\(e)", immediate: false)
            }
        }
        if let e = error as? NIOConnectionError {
            if let first = e.connectionErrors.first { return outcome(of: first.error) }
            return .failure(reason: "\(e)", immediate: false)
        }
        if error is ProbeTimeout { return .timedOut }
        if let e = error as? HTTPProbeError { return .failure(reason: e.reason, immediate: false) }
        return .failure(reason: "\(error)", immediate: false)
    }
}

/// The whole check ran past its deadline.
struct ProbeTimeout: Error {}
