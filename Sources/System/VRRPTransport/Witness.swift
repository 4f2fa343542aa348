// Evidence for the split-brain rule: ICMP echo to the witness and the peer, and the fence hook.
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Topology
import VRRP
import Net
import Syscall

/// Gathers ``SplitBrainEvidence`` with real packets. Blocking: the runner calls it on a helper thread.
public struct WitnessProbe: Sendable {
    /// The witness the topology names.
    public var witness: IPAddress
    /// The peer director's primary address, pinged outside the VRRP path.
    public var peer: IPAddress?
    /// The topology's fence command (`{peer}` replaced by `peerName`), or `nil`.
    public var fenceCommand: [String]?
    /// The peer's name for `{peer}`.
    public var peerName: String
    /// How long each echo waits.
    public var timeout: Duration

    /// Creates a probe.
    public init(witness: IPAddress, peer: IPAddress?, fenceCommand: [String]?, peerName: String, timeout: Duration = .milliseconds(300)) {
        self.witness = witness; self.peer = peer; self.fenceCommand = fenceCommand; self.peerName = peerName; self.timeout = timeout
    }

    /// Runs the checks the rule needs. The peer is fenced only when the witness is reachable: a side that
    /// cannot reach the witness must not shoot the other.
    public func gather(takeover: Bool) -> SplitBrainEvidence {
        let w = Self.ping(witness, timeout: timeout)
        guard takeover, w else { return SplitBrainEvidence(witnessReachable: w) }
        let p = peer.map { Self.ping($0, timeout: timeout) }
        var fenced: Bool? = nil
        if let cmd = fenceCommand, !cmd.isEmpty {
            fenced = Self.runFence(cmd.map { $0.replacingOccurrences(of: "{peer}", with: peerName) })
        }
        return SplitBrainEvidence(witnessReachable: true, peerReachable: p, peerFenced: fenced)
    }

    /// Runs the fence command with a 30 s bound; success is exit status 0.
    static func runFence(_ argv: [String]) -> Bool {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: argv[0].hasPrefix("/") ? argv[0] : "/usr/bin/env")
        p.arguments = argv[0].hasPrefix("/") ? Array(argv.dropFirst()) : argv
        do { try p.run() } catch { return false }
        let deadline = Clocks.monotonic() + .seconds(30)
        while p.isRunning && Clocks.monotonic() < deadline { usleep(20_000) }
        if p.isRunning { p.terminate(); return false }
        return p.terminationStatus == 0
    }

    /// One ICMP echo (raw socket; we are root) and a bounded wait for the reply from `address`.
    public static func ping(_ address: IPAddress, timeout: Duration) -> Bool {
        let v4 = address.family == .v4
        let fd = socket(v4 ? AF_INET : AF_INET6, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue),
                        v4 ? Int32(IPPROTO_ICMP) : Int32(IPPROTO_ICMPV6))
        guard fd >= 0 else { return false }
        defer { close(fd) }
        let ident = UInt16(truncatingIfNeeded: getpid()) ^ UInt16(truncatingIfNeeded: Clocks.wallMicroseconds())
        var pkt: [UInt8] = [v4 ? 8 : 128, 0, 0, 0, UInt8(ident >> 8), UInt8(ident & 0xFF), 0, 1] + Array("tandem-witness".utf8)
        if v4 {
            var c = InternetChecksum(); c.add(pkt)
            pkt[2] = UInt8(c.value >> 8); pkt[3] = UInt8(c.value & 0xFF)
        }  // ICMPv6: the kernel computes the checksum on raw ICMPv6 sockets (RFC 3542 §3.1).
        let sent = pkt.withUnsafeBytes { b in SockAddr.with(address) { sendto(fd, b.baseAddress, b.count, 0, $0, $1) } }
        guard sent == pkt.count else { return false }
        let deadline = Clocks.monotonic() + timeout
        var buf = [UInt8](repeating: 0, count: 1500)
        for _ in 0..<64 {
            let left = deadline - Clocks.monotonic()
            guard left > .zero else { return false }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ms = Int32(max(1, left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000))
            guard poll(&pfd, 1, ms) > 0 else { return false }
            var from = sockaddr_storage()
            var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let n = buf.withUnsafeMutableBytes { b in withUnsafeMutablePointer(to: &from) { f in
                f.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(fd, b.baseAddress, b.count, 0, $0, &len) } } }
            guard n > 0, SockAddr.address(from) == address else { continue }
            let off = v4 ? Int(buf[0] & 0x0F) * 4 : 0
            guard n >= off + 8 else { continue }
            if buf[off] == (v4 ? 0 : 129) && buf[off + 4] == UInt8(ident >> 8) && buf[off + 5] == UInt8(ident & 0xFF) { return true }
        }
        return false
    }
}
