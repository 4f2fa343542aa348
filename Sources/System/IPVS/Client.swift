import IPVSModel
import Net
import Netlink
#if canImport(Glibc)
import Glibc
#endif

/// The edge to the kernel's IPVS table over generic netlink: the one owner of a netlink socket.
///
/// Concurrency: every call is synchronous and blocks the calling thread until the kernel answers
/// (bounded by the socket's receive timeout). The class is deliberately not `Sendable`: one owner
/// uses it from one thread. Command-line tools call it directly; the daemon keeps it on a dedicated
/// thread (never on the Swift cooperative pool, where a blocking call would stall other tasks).
public final class IPVSClient {
    private let socket: GenericNetlinkSocket

    /// The message shown when the kernel has no IPVS.
    public static let noIPVSMessage = "this kernel has no IPVS (genl family IPVS not found): run inside scripts/uml-run or load ip_vs"

    /// Connects to the kernel's IPVS generic netlink family.
    /// - Throws: `NetlinkError` with code `.familyNotFound` and ``noIPVSMessage`` when IPVS is missing.
    public init(receiveTimeoutSeconds: Int = 30) throws(NetlinkError) {
        do {
            socket = try GenericNetlinkSocket(family: IPVSWire.familyName, receiveTimeoutSeconds: receiveTimeoutSeconds)
        } catch where error.code == .familyNotFound {
            var e = error
            e.message = IPVSClient.noIPVSMessage
            throw e
        }
    }

    private func message(_ c: IPVSWire.Command) throws(NetlinkError) -> NetlinkMessage {
        try socket.message(command: c.value, version: IPVSWire.version)
    }

    // MARK: Reads

    /// `IPVS_CMD_GET_INFO`: version and connection table size.
    public func info() throws(NetlinkError) -> IPVSInfo {
        let r = try socket.request(try message(.getInfo), operation: IPVSWire.Command.getInfo.cName)
        guard let a = r.first?.attributes, let v = a.u32(IPVSWire.InfoAttr.version),
              let size = a.u32(IPVSWire.InfoAttr.connTabSize) else { throw IPVSCodec.malformed("GET_INFO reply without version/size") }
        return IPVSInfo(versionCode: v, connectionTableSize: size)
    }

    /// `IPVS_CMD_GET_SERVICE` (dump): every service with its counters, without destinations.
    public func services() throws(NetlinkError) -> [(service: IPVSService, stats: IPVSStats)] {
        let m = try message(.getService)
        var out: [(IPVSService, IPVSStats)] = []
        for reply in try socket.dump(m, operation: "IPVS_CMD_GET_SERVICE(dump)") {
            guard let nest = try reply.attributes.nested(IPVSWire.CmdAttr.service) else { continue }
            out.append(try IPVSCodec.decodeService(nest))
        }
        return out
    }

    /// `IPVS_CMD_GET_SERVICE` for one key; `nil` if the kernel has no such service.
    public func service(_ key: ServiceKey) throws(NetlinkError) -> (service: IPVSService, stats: IPVSStats)? {
        let m = try message(.getService)
        try m.nest(IPVSWire.CmdAttr.service) { (m) throws(NetlinkError) in try IPVSCodec.putKey(key, into: m) }
        do {
            let r = try socket.request(m, operation: "IPVS_CMD_GET_SERVICE \(key)")
            guard let nest = try r.first?.attributes.nested(IPVSWire.CmdAttr.service) else { return nil }
            return try IPVSCodec.decodeService(nest)
        } catch where error.code == .kernel && (error.errno == ESRCH || error.errno == ENOENT) {
            return nil
        }
    }

    /// `IPVS_CMD_GET_DEST` (dump) for one service.
    public func destinations(of key: ServiceKey) throws(NetlinkError) -> [DestinationSnapshot] {
        var out: [DestinationSnapshot] = []
        for reply in try socket.dump(try destinationsRequest(key), operation: "IPVS_CMD_GET_DEST(dump) \(key)") {
            guard let nest = try reply.attributes.nested(IPVSWire.CmdAttr.dest) else { continue }
            out.append(try IPVSCodec.decodeDestination(nest, serviceFamily: key.family))
        }
        return out.sorted { $0.destination.key < $1.destination.key }
    }

    /// Every service with its destinations and counters, sorted by key (an `ipvsadm -Ln --stats`).
    public func snapshot() throws(NetlinkError) -> [ServiceSnapshot] {
        var out: [ServiceSnapshot] = []
        for (svc, stats) in try services() {
            out.append(ServiceSnapshot(service: svc, stats: stats, destinations: try destinations(of: svc.key)))
        }
        return out.sorted { $0.service.key < $1.service.key }
    }

    /// The whole table as configuration (no counters).
    public func state() throws(NetlinkError) -> IPVSState { IPVSState(snapshots: try snapshot()) }

    /// The part of the table belonging to `keys` (missing services are simply absent), as
    /// configuration: counters are not decoded.
    ///
    /// Up to 64 keys are read with one `IPVS_CMD_GET_SERVICE` each; more with one service dump
    /// (in user-mode-linux a round trip costs about 0.3 ms and a dump of 10,000 services about as
    /// much as 400 of them). Then one `IPVS_CMD_GET_DEST` dump per service found. No keys, no
    /// kernel call.
    public func state(of keys: some Sequence<ServiceKey>) throws(NetlinkError) -> IPVSState {
        let wanted = Set(keys)
        var found: [IPVSService] = []
        if wanted.count <= Self.singleReadLimit {
            for key in wanted {
                if let (svc, _) = try service(key) { found.append(svc) }
            }
        } else {
            found.reserveCapacity(wanted.count)
            for reply in try socket.dump(try message(.getService), operation: "IPVS_CMD_GET_SERVICE(dump)") {
                guard let nest = try reply.attributes.nested(IPVSWire.CmdAttr.service) else { continue }
                let svc = try IPVSCodec.decodeServiceConfiguration(nest)
                if wanted.contains(svc.key) { found.append(svc) }
            }
        }
        var s = IPVSState()
        s.services.reserveCapacity(found.count)
        for svc in found {
            var d: [DestinationKey: IPVSDestination] = [:]
            for reply in try socket.dump(try destinationsRequest(svc.key), operation: "IPVS_CMD_GET_DEST(dump) \(svc.key)") {
                guard let nest = try reply.attributes.nested(IPVSWire.CmdAttr.dest) else { continue }
                let dest = try IPVSCodec.decodeDestinationConfiguration(nest, serviceFamily: svc.key.family)
                d[dest.key] = dest
            }
            s.services[svc.key] = ServiceState(service: svc, destinations: d)
        }
        return s
    }

    /// Up to this many keys, ``state(of:)`` asks for each service; beyond, it dumps them all once.
    static let singleReadLimit = 64

    private func destinationsRequest(_ key: ServiceKey) throws(NetlinkError) -> NetlinkMessage {
        let m = try message(.getDest)
        try m.nest(IPVSWire.CmdAttr.service) { (m) throws(NetlinkError) in try IPVSCodec.putKey(key, into: m) }
        return m
    }

    // MARK: Writes

    /// Performs one operation and waits for the kernel's acknowledgement.
    /// - Throws: ``IPVSOperationFailure`` naming the operation and the kernel's errno.
    public func perform(_ op: IPVSOperation) throws(IPVSOperationFailure) {
        do {
            let m = try IPVSCodec.encode(op, family: socket.family)
            _ = try socket.request(m, operation: "\(op.command.cName) \(op)")
        } catch {
            throw IPVSOperationFailure(operation: op, errno: error.errno, message: "\(op.command.cName): \(error.message)")
        }
    }

    /// Executes operations in order, many per `sendmsg`, and returns those the kernel refused.
    ///
    /// The kernel carries on after a refusal, so one bad operation does not stop the rest; a
    /// destination whose service failed to be created fails in turn (ESRCH) and is reported too.
    /// - Throws: `NetlinkError` only when the socket itself fails (nothing is known then).
    public func execute(_ ops: [IPVSOperation]) throws(NetlinkError) -> [IPVSOperationFailure] {
        guard !ops.isEmpty else { return [] }
        // Encoded one chunk at a time: 60,000 operations encoded up front would hold 60,000 messages
        // (30 MB) at once, and fresh memory is what a user-mode-linux kernel makes slowest.
        var failures: [IPVSOperationFailure] = []
        let chunk = max(1, socket.batchChunk)
        var start = 0
        while start < ops.count {
            let end = min(ops.count, start + chunk)
            var msgs: [NetlinkMessage] = []
            msgs.reserveCapacity(end - start)
            for op in ops[start..<end] { msgs.append(try IPVSCodec.encode(op, family: socket.family)) }
            for f in try socket.batch(msgs, operation: "IPVS batch") {
                let op = ops[start + f.index]
                failures.append(IPVSOperationFailure(operation: op, errno: f.error.errno, message: "\(op.command.cName): \(f.error.message)"))
            }
            start = end
        }
        return failures
    }

    /// `IPVS_CMD_FLUSH`: removes every service. The reconciler never calls this (it leaves
    /// services it does not own alone); benchmarks and tests use it to start from empty.
    public func flush() throws(NetlinkError) {
        _ = try socket.request(try message(.flush), operation: "IPVS_CMD_FLUSH")
    }

    // MARK: Sync daemon

    /// `IPVS_CMD_NEW_DAEMON`: starts a connection sync daemon.
    public func startDaemon(_ d: SyncDaemon) throws(NetlinkError) {
        typealias A = IPVSWire.DaemonAttr
        let m = try message(.newDaemon)
        try m.nest(IPVSWire.CmdAttr.daemon) { (m) throws(NetlinkError) in
            try m.put(A.state, u32: d.role == .master ? IPVSWire.DaemonState.master : IPVSWire.DaemonState.backup)
            try m.put(A.mcastIfn, string: d.interface)
            try m.put(A.syncID, u32: d.syncID)
            if d.maxLength != 0 { try m.put(A.syncMaxLen, u16: d.maxLength) }
            if let g = d.group {
                if g.family == .v4 { try m.put(A.mcastGroup, bytes: g.bytes) } else { try m.put(A.mcastGroup6, bytes: g.bytes) }
            }
            if d.port != 0 { try m.put(A.mcastPort, be16: d.port) }
            if d.ttl != 0 { try m.put(A.mcastTTL, u8: d.ttl) }
        }
        _ = try socket.request(m, operation: "IPVS_CMD_NEW_DAEMON \(d.role.rawValue) \(d.interface)")
    }

    /// `IPVS_CMD_DEL_DAEMON`: stops the daemon of `role`.
    public func stopDaemon(_ role: SyncDaemon.Role) throws(NetlinkError) {
        let m = try message(.delDaemon)
        try m.nest(IPVSWire.CmdAttr.daemon) { (m) throws(NetlinkError) in
            try m.put(IPVSWire.DaemonAttr.state, u32: role == .master ? IPVSWire.DaemonState.master : IPVSWire.DaemonState.backup)
        }
        _ = try socket.request(m, operation: "IPVS_CMD_DEL_DAEMON \(role.rawValue)")
    }

    /// `IPVS_CMD_GET_DAEMON` (dump): running sync daemons.
    public func daemons() throws(NetlinkError) -> [SyncDaemon] {
        typealias A = IPVSWire.DaemonAttr
        var out: [SyncDaemon] = []
        for reply in try socket.dump(try message(.getDaemon), operation: "IPVS_CMD_GET_DAEMON(dump)") {
            guard let a = try reply.attributes.nested(IPVSWire.CmdAttr.daemon), let st = a.u32(A.state) else { continue }
            var group: IPAddress?
            if let g6 = a.payload(A.mcastGroup6), g6.count == 16, g6.contains(where: { $0 != 0 }) { group = IPAddress(bytes: Array(g6)) }
            if let g4 = a.payload(A.mcastGroup), g4.count == 4, g4.contains(where: { $0 != 0 }) { group = IPAddress(bytes: Array(g4)) }
            out.append(SyncDaemon(role: st == IPVSWire.DaemonState.master ? .master : .backup,
                                  interface: a.string(A.mcastIfn) ?? "", syncID: a.u32(A.syncID) ?? 0,
                                  maxLength: a.u16(A.syncMaxLen) ?? 0, group: group,
                                  port: a.be16(A.mcastPort) ?? 0, ttl: a.u8(A.mcastTTL) ?? 0))
        }
        return out
    }

    // MARK: Timeouts

    /// `IPVS_CMD_GET_CONFIG`: TCP, TCP-FIN and UDP timeouts.
    public func timeouts() throws(NetlinkError) -> IPVSTimeouts {
        let r = try socket.request(try message(.getConfig), operation: "IPVS_CMD_GET_CONFIG")
        guard let a = r.first?.attributes else { throw IPVSCodec.malformed("GET_CONFIG without a reply") }
        return IPVSTimeouts(tcp: a.u32(IPVSWire.CmdAttr.timeoutTCP) ?? 0, tcpFin: a.u32(IPVSWire.CmdAttr.timeoutTCPFin) ?? 0,
                            udp: a.u32(IPVSWire.CmdAttr.timeoutUDP) ?? 0)
    }

    /// `IPVS_CMD_SET_CONFIG`: sets timeouts; a 0 field is left unchanged.
    public func setTimeouts(_ t: IPVSTimeouts) throws(NetlinkError) {
        let m = try message(.setConfig)
        try m.put(IPVSWire.CmdAttr.timeoutTCP, u32: t.tcp)
        try m.put(IPVSWire.CmdAttr.timeoutTCPFin, u32: t.tcpFin)
        try m.put(IPVSWire.CmdAttr.timeoutUDP, u32: t.udp)
        _ = try socket.request(m, operation: "IPVS_CMD_SET_CONFIG")
    }
}

extension IPVSClient: IPVSTableAccess {
    /// ``state(of:)``: the services `keys` with their destinations, as configuration.
    public func read(_ keys: [ServiceKey]) throws(NetlinkError) -> IPVSState { try state(of: keys) }
}
