import IPVSModel
import Net
import Netlink

/// Encodes IPVS values into generic netlink attributes and decodes the kernel's replies.
///
/// Pure: works on ``NetlinkMessage`` and ``Attributes`` without a socket, so the wire format is
/// unit-tested on any machine.
public enum IPVSCodec {
    typealias S = IPVSWire.ServiceAttr
    typealias D = IPVSWire.DestAttr

    static func wireFamily(_ f: AddressFamily) -> UInt16 { f == .v4 ? IPVSWire.afInet : IPVSWire.afInet6 }
    static func family(wire: UInt16) -> AddressFamily? {
        switch wire {
        case IPVSWire.afInet: return .v4
        case IPVSWire.afInet6: return .v6
        default: return nil
        }
    }
    static func wireProtocol(_ p: IPVSProtocol) -> UInt16 {
        switch p {
        case .tcp: return IPVSWire.protoTCP
        case .udp: return IPVSWire.protoUDP
        case .sctp: return IPVSWire.protoSCTP
        }
    }
    static func proto(wire: UInt16) -> IPVSProtocol? {
        switch wire {
        case IPVSWire.protoTCP: return .tcp
        case IPVSWire.protoUDP: return .udp
        case IPVSWire.protoSCTP: return .sctp
        default: return nil
        }
    }
    /// Writes `a` as `union nf_inet_addr`: 16 bytes, IPv4 in the first four.
    static func putAddress(_ type: UInt16, _ a: IPAddress, into m: NetlinkMessage) throws(NetlinkError) {
        try a.withWireBytes { (raw) throws(NetlinkError) in try m.put(type, raw: raw) }
    }
    /// The address in the first `family.byteCount` bytes of an attribute payload, without copying it out.
    static func address(_ payload: ArraySlice<UInt8>, family: AddressFamily) -> IPAddress? {
        guard payload.count >= family.byteCount else { return nil }
        return payload.withUnsafeBytes { IPAddress(networkBytes: UnsafeRawBufferPointer(rebasing: $0.prefix(family.byteCount))) }
    }

    static func fwd(_ m: ForwardingMethod) -> UInt32 {
        switch m {
        case .masquerade: return IPVSWire.Forward.masq
        case .directRoute: return IPVSWire.Forward.droute
        case .tunnel: return IPVSWire.Forward.tunnel
        case .local: return IPVSWire.Forward.localNode
        case .bypass: return IPVSWire.Forward.bypass
        }
    }
    static func fwd(wire: UInt32) -> ForwardingMethod? {
        switch wire & IPVSWire.Forward.mask {
        case IPVSWire.Forward.masq: return .masquerade
        case IPVSWire.Forward.droute: return .directRoute
        case IPVSWire.Forward.tunnel: return .tunnel
        case IPVSWire.Forward.localNode: return .local
        case IPVSWire.Forward.bypass: return .bypass
        default: return nil
        }
    }
    static func tun(_ t: TunnelType) -> UInt8 {
        switch t {
        case .ipip: return IPVSWire.TunnelType.ipip
        case .gue: return IPVSWire.TunnelType.gue
        case .gre: return IPVSWire.TunnelType.gre
        }
    }
    static func tun(wire: UInt8) -> TunnelType? {
        switch wire {
        case IPVSWire.TunnelType.ipip: return .ipip
        case IPVSWire.TunnelType.gue: return .gue
        case IPVSWire.TunnelType.gre: return .gre
        default: return nil
        }
    }

    /// Writes the identity attributes of a service (inside `IPVS_CMD_ATTR_SERVICE`).
    public static func putKey(_ key: ServiceKey, into m: NetlinkMessage) throws(NetlinkError) {
        try m.put(S.af, u16: wireFamily(key.family))
        switch key {
        case .address(let p, let a, let port):
            try m.put(S.protocol, u16: wireProtocol(p))
            try putAddress(S.addr, a, into: m)
            try m.put(S.port, be16: port)
        case .fwmark(let mark, _):
            try m.put(S.fwmark, u32: mark)
        }
    }

    /// Writes a whole service: identity, scheduler, flags, timeout, netmask.
    public static func putService(_ s: IPVSService, into m: NetlinkMessage) throws(NetlinkError) {
        try putKey(s.key, into: m)
        try m.put(S.schedName, string: s.scheduler)
        var flags = s.flags.rawValue & ServiceFlags.all.rawValue
        if s.persistence != nil { flags |= IPVSWire.ServiceFlag.persistent }
        // struct ip_vs_flags { flags; mask }: the mask says which bits this request sets.
        try withUnsafeBytes(of: (flags.littleEndian, UInt32.max)) { (raw) throws(NetlinkError) in try m.put(S.flags, raw: raw) }
        let p = s.persistence
        try m.put(S.timeout, u32: p?.timeout ?? 0)
        let mask = p?.netmask ?? Persistence.hostMask(s.key.family)
        if s.key.family == .v4 {
            try m.put(S.netmask, be32: mask)
        } else {
            try m.put(S.netmask, u32: mask) // IPv6: the kernel reads a prefix length, unswapped
        }
    }

    /// Writes a destination (inside `IPVS_CMD_ATTR_DEST`); `full` adds everything but the key.
    public static func putDestination(_ d: IPVSDestination, full: Bool, into m: NetlinkMessage) throws(NetlinkError) {
        try m.put(D.addrFamily, u16: wireFamily(d.address.family))
        try putAddress(D.addr, d.address, into: m)
        try m.put(D.port, be16: d.port)
        guard full else { return }
        try m.put(D.fwdMethod, u32: fwd(d.forwarding))
        try m.put(D.weight, u32: UInt32(bitPattern: d.weight))
        try m.put(D.uThresh, u32: d.upperThreshold)
        try m.put(D.lThresh, u32: d.lowerThreshold)
        if d.forwarding == .tunnel {
            try m.put(D.tunType, u8: tun(d.tunnelType))
            try m.put(D.tunPort, be16: d.tunnelPort)
            try m.put(D.tunFlags, u16: d.tunnelFlags)
        }
    }

    static func malformed(_ what: String) -> NetlinkError {
        NetlinkError(code: .malformedReply, operation: "IPVS decode", message: what)
    }

    /// Decodes a service nest (`IPVS_CMD_ATTR_SERVICE` of a reply).
    public static func decodeService(_ a: Attributes) throws(NetlinkError) -> (IPVSService, IPVSStats) {
        let svc = try decodeServiceConfiguration(a)
        return (svc, try decodeStats(a, stats64: S.stats64, stats: S.stats))
    }

    /// The configuration part of a service nest, without parsing its counters.
    static func decodeServiceConfiguration(_ a: Attributes) throws(NetlinkError) -> IPVSService {
        guard let afw = a.u16(S.af), let family = family(wire: afw) else { throw malformed("service without a known address family") }
        let key: ServiceKey
        if let mark = a.u32(S.fwmark), mark != 0 {
            key = .fwmark(mark, family: family)
        } else {
            guard let pw = a.u16(S.protocol), let p = proto(wire: pw),
                  let raw = a.payload(S.addr), let addr = address(raw, family: family),
                  let port = a.be16(S.port) else { throw malformed("service without protocol/address/port or fwmark") }
            key = .address(p, addr, port: port)
        }
        guard let sched = a.string(S.schedName) else { throw malformed("service \(key) without a scheduler") }
        var rawFlags: UInt32 = 0
        if let f = a.payload(S.flags), f.count >= 4 {
            let b = f.startIndex
            rawFlags = UInt32(f[b]) | UInt32(f[b + 1]) << 8 | UInt32(f[b + 2]) << 16 | UInt32(f[b + 3]) << 24
        }
        var persistence: Persistence?
        if rawFlags & IPVSWire.ServiceFlag.persistent != 0 {
            let mask = family == .v4 ? (a.be32(S.netmask) ?? 0xffff_ffff) : (a.u32(S.netmask) ?? 128)
            persistence = Persistence(timeout: a.u32(S.timeout) ?? 0, netmask: mask)
        }
        return IPVSService(key: key, scheduler: sched,
                           flags: ServiceFlags(rawValue: rawFlags & ServiceFlags.all.rawValue),
                           persistence: persistence)
    }

    /// Decodes a destination nest (`IPVS_CMD_ATTR_DEST` of a reply) of a service of `serviceFamily`.
    public static func decodeDestination(_ a: Attributes, serviceFamily: AddressFamily) throws(NetlinkError) -> DestinationSnapshot {
        DestinationSnapshot(destination: try decodeDestinationConfiguration(a, serviceFamily: serviceFamily),
                            activeConnections: a.u32(D.activeConns) ?? 0,
                            inactiveConnections: a.u32(D.inactConns) ?? 0,
                            persistentConnections: a.u32(D.persistConns) ?? 0,
                            stats: try decodeStats(a, stats64: D.stats64, stats: D.stats))
    }

    /// The configuration part of a destination nest, without parsing its counters.
    static func decodeDestinationConfiguration(_ a: Attributes, serviceFamily: AddressFamily) throws(NetlinkError) -> IPVSDestination {
        let family = a.u16(D.addrFamily).flatMap { IPVSCodec.family(wire: $0) } ?? serviceFamily
        guard let raw = a.payload(D.addr), let addr = address(raw, family: family),
              let port = a.be16(D.port) else { throw malformed("destination without address/port") }
        guard let fw = a.u32(D.fwdMethod), let method = fwd(wire: fw) else { throw malformed("destination \(addr) without a known forwarding method") }
        var d = IPVSDestination(address: addr, port: port, forwarding: method,
                                weight: Int32(bitPattern: a.u32(D.weight) ?? 0),
                                upperThreshold: a.u32(D.uThresh) ?? 0, lowerThreshold: a.u32(D.lThresh) ?? 0)
        if method == .tunnel {
            d.tunnelType = a.u8(D.tunType).flatMap { tun(wire: $0) } ?? .ipip
            d.tunnelPort = a.be16(D.tunPort) ?? 0
            d.tunnelFlags = a.u16(D.tunFlags) ?? 0
        }
        return d
    }

    static func decodeStats(_ a: Attributes, stats64: UInt16, stats: UInt16) throws(NetlinkError) -> IPVSStats {
        typealias T = IPVSWire.StatsAttr
        var s = IPVSStats()
        if let n = try a.nested(stats64) {
            s.connections = n.u64(T.conns) ?? 0; s.inPackets = n.u64(T.inPkts) ?? 0
            s.outPackets = n.u64(T.outPkts) ?? 0; s.inBytes = n.u64(T.inBytes) ?? 0
            s.outBytes = n.u64(T.outBytes) ?? 0; s.connectionsPerSecond = n.u64(T.cps) ?? 0
            s.inPacketsPerSecond = n.u64(T.inPPS) ?? 0; s.outPacketsPerSecond = n.u64(T.outPPS) ?? 0
            s.inBytesPerSecond = n.u64(T.inBPS) ?? 0; s.outBytesPerSecond = n.u64(T.outBPS) ?? 0
        } else if let n = try a.nested(stats) {
            s.connections = UInt64(n.u32(T.conns) ?? 0); s.inPackets = UInt64(n.u32(T.inPkts) ?? 0)
            s.outPackets = UInt64(n.u32(T.outPkts) ?? 0); s.inBytes = n.u64(T.inBytes) ?? 0
            s.outBytes = n.u64(T.outBytes) ?? 0; s.connectionsPerSecond = UInt64(n.u32(T.cps) ?? 0)
            s.inPacketsPerSecond = UInt64(n.u32(T.inPPS) ?? 0); s.outPacketsPerSecond = UInt64(n.u32(T.outPPS) ?? 0)
            s.inBytesPerSecond = UInt64(n.u32(T.inBPS) ?? 0); s.outBytesPerSecond = UInt64(n.u32(T.outBPS) ?? 0)
        }
        return s
    }

    /// Builds the request for one operation on a message factory (a socket, or a fixed family id in tests).
    public static func encode(_ op: IPVSOperation, family: Int32) throws(NetlinkError) -> NetlinkMessage {
        func msg(_ c: IPVSWire.Command) throws(NetlinkError) -> NetlinkMessage {
            try NetlinkMessage(family: family, command: c.value, version: IPVSWire.version)
        }
        typealias C = IPVSWire.CmdAttr
        switch op {
        case .addService(let s), .editService(let s):
            let m = try msg(op.isAdd ? .newService : .setService)
            try m.nest(C.service) { (m) throws(NetlinkError) in try putService(s, into: m) }
            return m
        case .deleteService(let k):
            let m = try msg(.delService)
            try m.nest(C.service) { (m) throws(NetlinkError) in try putKey(k, into: m) }
            return m
        case .addDestination(let k, let d), .editDestination(let k, let d):
            let m = try msg(op.isAdd ? .newDest : .setDest)
            try m.nest(C.service) { (m) throws(NetlinkError) in try putKey(k, into: m) }
            try m.nest(C.dest) { (m) throws(NetlinkError) in try putDestination(d, full: true, into: m) }
            return m
        case .deleteDestination(let k, let dk):
            let m = try msg(.delDest)
            try m.nest(C.service) { (m) throws(NetlinkError) in try putKey(k, into: m) }
            try m.nest(C.dest) { (m) throws(NetlinkError) in
                try putDestination(IPVSDestination(address: dk.address, port: dk.port), full: false, into: m)
            }
            return m
        }
    }
}

extension IPVSOperation {
    var isAdd: Bool {
        switch self {
        case .addService, .addDestination: return true
        default: return false
        }
    }
    /// The kernel command this operation sends.
    public var command: IPVSWire.Command {
        switch self {
        case .addService: return .newService
        case .editService: return .setService
        case .deleteService: return .delService
        case .addDestination: return .newDest
        case .editDestination: return .setDest
        case .deleteDestination: return .delDest
        }
    }
}
