#if canImport(Glibc)
import Glibc
#endif
import IPVS
import IPVSModel
import NIOPosix
import Net
import Reconcile
import Synchronization

/// The daemon's reconcile engine (``ReconcileEngine``) and the table it drives, behind one
/// serial executor: the real kernel (``IPVSKernel``) or an in-memory table (``RecordingKernel``,
/// for `--dry-run-kernel` and tests). Every method below runs the same engine code.
public protocol KernelTable: Sendable {
    /// Runs `body` with the engine on the table's executor (never concurrently with another call).
    func withEngine<T: Sendable>(_ body: @escaping @Sendable (ReconcileEngine) throws -> T) async throws -> T
}

extension KernelTable {
    /// Reads `keys` from the table without changing what the engine remembers.
    public func observe(_ keys: [ServiceKey]) async throws -> IPVSState {
        try await withEngine { try $0.table.read(keys) }
    }

    /// Makes the desired table `want`: reads every owned service, converges (start, reload).
    public func synchronize(_ want: IPVSState) async throws -> ReconcilePass {
        try await withEngine { try $0.synchronize(want) }
    }

    /// Sets the desired state of the services in `changes` (`nil`: no longer owned) and converges
    /// those only: the per-event pass.
    public func apply(_ changes: [ServiceKey: ServiceState?]) async throws -> ReconcilePass {
        try await withEngine { e in
            for (k, v) in changes { e.setService(k, v) }
            return try e.pass()
        }
    }

    /// One chunk of the repair sweep (``ReconcileEngine/repair(maxServices:)``), and where the
    /// sweep stands afterwards.
    public func repair(maxServices: Int) async throws -> (pass: ReconcilePass, position: Int, count: Int) {
        try await withEngine { e in
            let p = try e.repair(maxServices: maxServices)
            let r = e.rotationPosition
            return (p, r.position, r.count)
        }
    }
}

/// The real kernel, over generic netlink. The `IPVSClient` (one netlink socket, not thread-safe)
/// and the engine live on one dedicated thread of a one-thread `NIOThreadPool`: blocking netlink
/// calls never run on the cooperative pool, and the socket always has a single owner.
public final class IPVSKernel: KernelTable {
    /// Holds the client and the engine. `@unchecked Sendable` is safe because both are only read or
    /// written from inside `pool.runIfActive`, and the pool has exactly one thread, so every access
    /// is serial and on the same thread.
    private final class Session: @unchecked Sendable {
        var client: IPVSClient?
        var engine: ReconcileEngine?
    }

    private let pool: NIOThreadPool
    private let session = Session()

    /// Starts the thread and opens the netlink socket on it.
    /// - Throws: `NetlinkError` (`IPVSClient.noIPVSMessage` when the kernel has no IPVS).
    public init() async throws {
        pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        let session = self.session
        do {
            try await pool.runIfActive { () throws -> Void in
                let c = try IPVSClient()
                session.client = c
                session.engine = ReconcileEngine(table: c)
            }
        } catch {
            try? await pool.shutdownGracefully()
            throw error
        }
    }

    /// Stops the thread. The kernel table stays as it is.
    public func shutdown() async { try? await pool.shutdownGracefully() }

    /// Runs `body` with the engine on the netlink thread.
    public func withEngine<T: Sendable>(_ body: @escaping @Sendable (ReconcileEngine) throws -> T) async throws -> T {
        let session = self.session
        return try await pool.runIfActive { () throws -> T in try body(session.engine!) }
    }

    /// Runs `body` with the client on the netlink thread (sync daemons, traffic counters).
    func withClient<T: Sendable>(_ body: @escaping @Sendable (IPVSClient) throws -> T) async throws -> T {
        let session = self.session
        return try await pool.runIfActive { () throws -> T in try body(session.client!) }
    }
}

extension IPVSKernel {
    /// Reads the running sync daemons, applies ``ConnectionSyncPolicy/changes(running:desired:)`` and
    /// reads them back. Nothing is written when they already match.
    public func syncDaemons(_ desired: [SyncDaemon]) async throws -> (changes: [SyncDaemonChange], running: [SyncDaemon]) {
        try await withClient { client in
            let before = try client.daemons()
            let changes = ConnectionSyncPolicy.changes(running: before, desired: desired)
            for c in changes {
                switch c {
                case .stop(let role): try client.stopDaemon(role)
                case .start(let d): try client.startDaemon(d)
                }
            }
            return (changes, changes.isEmpty ? before : try client.daemons())
        }
    }
}

/// An in-memory IPVS table for `--dry-run-kernel` and tests, driven by the same engine as the
/// kernel: it records every operation so callers can assert on them.
public final class RecordingKernel: KernelTable {
    private struct Held: ~Copyable {
        let memory: InMemoryIPVSTable
        let engine: ReconcileEngine
    }
    private let held: Mutex<Held>
    /// What ``traffic(of:)`` returns (set by tests).
    fileprivate let traffic = Mutex<[ServiceKey: [DestinationKey: MemberTraffic]]>([:])

    /// Starts with `table` (empty by default).
    public init(table: IPVSState = IPVSState()) {
        let m = InMemoryIPVSTable(table: table)
        held = Mutex(Held(memory: m, engine: ReconcileEngine(table: m)))
    }

    /// Every operation applied so far, in order.
    public var operations: [IPVSOperation] { held.withLock { $0.memory.operations } }
    /// The whole table now.
    public var table: IPVSState { held.withLock { $0.memory.table } }
    /// Every read so far (the keys asked, per call).
    public var reads: [[ServiceKey]] { held.withLock { $0.memory.reads } }

    /// Changes the table behind the engine's back (what `ipvsadm` by hand does).
    public func tamper(_ body: @Sendable (inout IPVSState) -> Void) { held.withLock { $0.memory.tamper(body) } }

    /// Runs `body` under the table's lock.
    public func withEngine<T: Sendable>(_ body: @escaping @Sendable (ReconcileEngine) throws -> T) async throws -> T {
        try held.withLock { try body($0.engine) }
    }
}

// MARK: - Passive silence detection: what the director sees of each member's traffic

/// One member's traffic as the director sees it, for ``PassiveWatch``.
public struct MemberTraffic: Sendable, Equatable {
    /// The member's connections still waiting for its answer to the client's SYN (IPVS state
    /// `SYN_RECV`), by ``IPVSConnectionTable/connectionID(_:)``.
    public var waiting: Set<UInt64>
    /// The destination's IPVS counters (refreshed by the kernel about every 2 s); `nil` when the
    /// service has no such destination.
    public var stats: IPVSStats?
    /// Creates a reading.
    public init(waiting: Set<UInt64> = [], stats: IPVSStats? = nil) { self.waiting = waiting; self.stats = stats }
}

/// A place to read per-member traffic from: the real kernel (``IPVSKernel``) or a test table
/// (``RecordingKernel``).
public protocol PassiveTrafficSource: Sendable {
    /// Traffic of every destination of `services`, by service and destination. One destination dump
    /// per service plus one read of the connection table.
    func traffic(of services: [ServiceKey]) async throws -> [ServiceKey: [DestinationKey: MemberTraffic]]
}

/// Reads `/proc/net/ip_vs_conn` (the connection table of the caller's network namespace): only its
/// `SYN_RECV` lines matter. Pure parsing is separate from the read so it can be tested.
public enum IPVSConnectionTable {
    /// One connection waiting for the real server's answer.
    public struct Waiting: Sendable, Equatable {
        /// Protocol as the file spells it (`TCP`).
        public var proto: String
        /// The virtual address and port the client connected to.
        public var virtual: IPAddress
        /// Virtual port.
        public var virtualPort: UInt16
        /// The real server.
        public var destination: DestinationKey
        /// Stable identity of the connection (client address and port, virtual address and port).
        public var id: UInt64
    }

    /// The `SYN_RECV` entries of the file's text. Lines it cannot read are skipped.
    public static func waiting(in text: [UInt8]) -> [Waiting] {
        var out: [Waiting] = []
        let synRecv = Array("SYN_RECV".utf8)
        var start = 0
        let n = text.count
        while start < n {
            var end = start
            while end < n && text[end] != UInt8(ascii: "\n") { end += 1 }
            if let w = parse(text[start..<end], synRecv) { out.append(w) }
            start = end + 1
        }
        return out
    }

    private static func parse(_ line: ArraySlice<UInt8>, _ synRecv: [UInt8]) -> Waiting? {
        // Pro FromIP FPrt ToIP TPrt DestIP DPrt State Expires [PEName PEData]
        // Fast path: an IPv4 line is fixed-width ("%-3s %08X %04X %08X %04X %08X %04X %-11s"), its state
        // at column 46; most lines of a busy table are not SYN_RECV and are skipped without splitting.
        let s = line.startIndex
        if line.count > 54, line[s + 12] == UInt8(ascii: " "), line[s + 45] == UInt8(ascii: " "),
           !line[(s + 46)..<(s + 54)].elementsEqual(synRecv) {
            return nil
        }
        var fields: [ArraySlice<UInt8>] = []
        fields.reserveCapacity(9)
        var i = line.startIndex
        while i < line.endIndex && fields.count < 8 {
            while i < line.endIndex && line[i] == UInt8(ascii: " ") { i += 1 }
            let s = i
            while i < line.endIndex && line[i] != UInt8(ascii: " ") { i += 1 }
            if s < i { fields.append(line[s..<i]) }
        }
        guard fields.count == 8, fields[7].elementsEqual(synRecv) else { return nil }
        guard let v = address(fields[3]), let vp = hex16(fields[4]), let d = address(fields[5]), let dp = hex16(fields[6]) else { return nil }
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for f in fields[1...4] {
            for b in f { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
            h = (h ^ 0x20) &* 0x100_0000_01b3
        }
        return Waiting(proto: String(decoding: fields[0], as: UTF8.self), virtual: v, virtualPort: vp,
                       destination: DestinationKey(address: d, port: dp), id: h)
    }

    /// `0A000102` (IPv4, hex) or an IPv6 address in text.
    private static func address(_ f: ArraySlice<UInt8>) -> IPAddress? {
        if f.count == 8, let v = UInt32(String(decoding: f, as: UTF8.self), radix: 16) { return IPAddress(ipv4: v) }
        return IPAddress(String(decoding: f, as: UTF8.self))
    }

    private static func hex16(_ f: ArraySlice<UInt8>) -> UInt16? { UInt16(String(decoding: f, as: UTF8.self), radix: 16) }

    /// The connection table could not be read.
    public struct ReadError: Error, CustomStringConvertible {
        /// What failed.
        public var description: String
    }

    /// Reads the whole file at `path` (default: this namespace's connection table).
    public static func read(path: String = "/proc/net/ip_vs_conn") throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ReadError(description: "cannot open \(path): \(String(cString: strerror(errno))) (a kernel without IPVS has no such file)") }
        defer { close(fd) }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let got = buf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if got < 0 {
                if errno == EINTR { continue }
                throw ReadError(description: "cannot read \(path): \(String(cString: strerror(errno)))")
            }
            if got == 0 { break }
            out.append(contentsOf: buf[0..<got])
        }
        return out
    }

    /// Groups `waiting` by service and destination, for the services in `keys` (address services
    /// match protocol, virtual address and port; fwmark services match by destination only).
    public static func group(_ waiting: [Waiting], services keys: [ServiceKey],
                             destinations: [ServiceKey: Set<DestinationKey>]) -> [ServiceKey: [DestinationKey: Set<UInt64>]] {
        var out: [ServiceKey: [DestinationKey: Set<UInt64>]] = [:]
        for w in waiting {
            for k in keys {
                guard destinations[k]?.contains(w.destination) == true else { continue }
                switch k {
                case .address(let p, let a, let port):
                    guard w.proto.lowercased() == p.rawValue, w.virtual == a, w.virtualPort == port else { continue }
                case .fwmark(_, let family):
                    guard w.destination.address.family == family else { continue }
                }
                out[k, default: [:]][w.destination, default: []].insert(w.id)
            }
        }
        return out
    }
}

extension IPVSKernel: PassiveTrafficSource {
    /// One destination dump per service and one read of `/proc/net/ip_vs_conn`, on the netlink thread.
    public func traffic(of services: [ServiceKey]) async throws -> [ServiceKey: [DestinationKey: MemberTraffic]] {
        try await withClient { client in
            var stats: [ServiceKey: [DestinationKey: IPVSStats]] = [:]
            for k in services {
                var d: [DestinationKey: IPVSStats] = [:]
                for s in try client.destinations(of: k) { d[s.destination.key] = s.stats }
                stats[k] = d
            }
            let waiting = IPVSConnectionTable.group(IPVSConnectionTable.waiting(in: try IPVSConnectionTable.read()),
                                                    services: services, destinations: stats.mapValues { Set($0.keys) })
            var out: [ServiceKey: [DestinationKey: MemberTraffic]] = [:]
            for (k, dests) in stats {
                for (dk, st) in dests {
                    out[k, default: [:]][dk] = MemberTraffic(waiting: waiting[k]?[dk] ?? [], stats: st)
                }
            }
            return out
        }
    }
}

extension RecordingKernel: PassiveTrafficSource {
    /// The traffic a test set with ``setTraffic(_:)``, for the services asked.
    public func traffic(of services: [ServiceKey]) async throws -> [ServiceKey: [DestinationKey: MemberTraffic]] {
        let all = traffic.withLock { $0 }
        return all.filter { services.contains($0.key) }
    }

    /// Sets what ``traffic(of:)`` returns (tests script a member going silent with it).
    public func setTraffic(_ t: [ServiceKey: [DestinationKey: MemberTraffic]]) { traffic.withLock { $0 = t } }
}
