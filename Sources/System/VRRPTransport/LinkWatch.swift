// Link state of the tracked interfaces, from rtnetlink: RTM_NEWLINK / RTM_DELLINK on a NETLINK_ROUTE
// socket subscribed to RTMGRP_LINK, plus one RTM_GETLINK per interface at start.
#if canImport(Glibc)
import Glibc
#endif
import VRRP
import Syscall

/// A tracked interface went down or came back, as ``LinkWatch`` reports it.
public enum LinkChange: Sendable, Equatable {
    /// Down, and why.
    case down(String, LinkDownCause)
    /// Up again (administratively up with carrier).
    case up(String)
}

/// Watches the link state of a few interfaces: the VRRP loop polls ``fd`` and calls ``changes()``.
///
/// An interface counts as up when `ifi_flags` has `IFF_UP` (administratively up) and `IFF_LOWER_UP`
/// (carrier; on a veth: the peer is up too). `IFF_RUNNING` is not read: the kernel derives it from the
/// operational state, which lags the carrier on some drivers. Interfaces are matched by name
/// (`IFLA_IFNAME`), so one deleted and created again is seen under its new index too.
///
/// Owned by the VRRP loop thread alone (not `Sendable`).
public final class LinkWatch {
    private let socket: RouteNetlinkSocket
    private let interfaces: [String]
    /// Per interface: `nil` up, else why it is down.
    private var down: [String: LinkDownCause] = [:]
    private var seq: UInt32 = 1

    /// Subscribes to link changes, then asks the kernel for each interface's state now (subscribing
    /// first, so no change between the question and the subscription is lost).
    public init(interfaces: [String]) throws(SystemCallError) {
        self.interfaces = interfaces
        socket = try RouteNetlinkSocket(groups: NL.RTMGRP_LINK, nonBlocking: true)
        do { try query() } catch {
            socket.close()
            throw error
        }
    }

    deinit { socket.close() }

    /// The descriptor to poll for `POLLIN`.
    public var fd: Int32 { socket.fd }

    /// The tracked interfaces that are down now, in ``interfaces`` order.
    public var linksDown: [(interface: String, cause: LinkDownCause)] {
        interfaces.compactMap { name in down[name].map { (name, $0) } }
    }

    /// Reads every pending notification and returns the interfaces whose up/down state changed, in order.
    /// A full receive queue (`ENOBUFS`: notifications were lost) is answered by asking the kernel again.
    public func changes() throws(SystemCallError) -> [LinkChange] {
        let before = down
        for _ in 0..<64 {
            do {
                guard let msgs = try socket.receive(what: "RTMGRP_LINK") else { break }
                msgs.forEach(absorb)
            } catch where error.errno == ENOBUFS {
                try query()
            }
        }
        return interfaces.compactMap { name in
            switch (before[name], down[name]) {
            case (nil, .some(let cause)): .down(name, cause)
            case (.some, nil): .up(name)
            default: nil
            }
        }
    }

    /// RTM_GETLINK by name for each interface; the answers (and any notification in between) go
    /// through ``absorb(_:)``. A missing interface (`ENODEV`) counts as removed.
    private func query() throws(SystemCallError) {
        for name in interfaces {
            seq &+= 1
            // struct ifinfomsg { u8 family; u8 pad; u16 type; s32 index (0: by name); u32 flags; u32 change }
            let body = [UInt8](repeating: 0, count: 16) + RouteNetlinkSocket.attribute(NL.IFLA_IFNAME, Array(name.utf8) + [0])
            let what = "RTM_GETLINK \(name)"
            try socket.send(type: NL.RTM_GETLINK, flags: 0, sequence: seq, body: body, what: what)
            var answered = false
            // Non-blocking: wait for the answer with poll, bounded to 2 s in all.
            for _ in 0..<200 where !answered {
                var p = pollfd(fd: socket.fd, events: Int16(POLLIN), revents: 0)
                _ = poll(&p, 1, 10)
                for m in try socket.receive(what: what) ?? [] {
                    if m.sequence == seq, let err = m.error {
                        answered = true
                        if err == -ENODEV { down[name] = .removed } else if err != 0 {
                            throw SystemCallError(function: "rtnetlink", context: what, errno: -err)
                        }
                    } else {
                        absorb(m)
                        if m.sequence == seq, m.type == NL.RTM_NEWLINK { answered = true }
                    }
                }
            }
            if !answered { throw SystemCallError(function: "rtnetlink", context: "\(what): no answer", errno: ETIMEDOUT) }
        }
    }

    /// Records the state an RTM_NEWLINK / RTM_DELLINK gives for one of our interfaces.
    private func absorb(_ m: RouteNetlinkMessage) {
        guard m.type == NL.RTM_NEWLINK || m.type == NL.RTM_DELLINK, m.payload.count >= 16 else { return }
        guard let nameBytes = m.attributes(after: 16).first(where: { $0.type == NL.IFLA_IFNAME })?.value else { return }
        let name = String(decoding: nameBytes.prefix { $0 != 0 }, as: UTF8.self)
        guard interfaces.contains(name) else { return }
        let flags = m.payload.littleEndianUInt32(at: 8)  // ifinfomsg.ifi_flags
        if m.type == NL.RTM_DELLINK {
            down[name] = .removed
        } else if flags & NL.IFF_UP == 0 {
            down[name] = .administrativelyDown
        } else if flags & NL.IFF_LOWER_UP == 0 {
            down[name] = .noCarrier
        } else {
            down[name] = nil
        }
    }
}
