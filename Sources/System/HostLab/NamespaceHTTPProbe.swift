import Foundation
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// Now as seconds of CLOCK_REALTIME (what the lab script's `at=` uses).
public func wallClockSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// HTTP checks of the lab's domains from inside the lab's switch namespace.
///
/// A socket belongs to the network namespace of the thread that created it, so sockets are made on
/// one thread that joined the namespace (`setns`), then used from any thread. The checks block
/// (connect, send, receive with `poll` and a deadline), so they run on a thread pool, never on the
/// cooperative pool. Its `check(vm:timeout:)` has the shape of HostControl's `VMProbe`.
public final class NamespaceHTTPProbe: @unchecked Sendable {
    // @unchecked Sendable: `addresses` is immutable; `maker` serialises socket creation on its
    // one thread; the pools are Sendable.
    private let addresses: [String: String]
    private let maker = NIOThreadPool(numberOfThreads: 1)
    private let checkers: NIOThreadPool
    /// Every answer body per VM (what answered: `{"vm":NAME}` from its gridsvc), when kept.
    public let bodies = LockedLog()
    private let keepBodies: Bool
    private let databases: Set<String>

    /// Joins `namespace` (a name under /run/netns) for socket creation; `addresses` maps each VM
    /// to the address its gridsvc listens on (port 8080); `threads` bounds concurrent requests;
    /// `keepBodies` false leaves ``bodies`` empty (for a client sending thousands of requests);
    /// the VMs in `databases` run mariadbd instead: their check is its greeting on port 3306.
    public init(namespace: String, addresses: [String: String], threads: Int = 12, keepBodies: Bool = true,
                databases: Set<String> = []) throws {
        self.addresses = addresses; self.keepBodies = keepBodies; self.databases = databases
        checkers = NIOThreadPool(numberOfThreads: threads)
        maker.start()
        checkers.start()
        let path = "/run/netns/\(namespace)"
        let done = DispatchSemaphore(value: 0)
        let result = LockedLog()
        maker.submit { _ in
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            let rc = fd < 0 ? -errno : setNetworkNamespace(fd)
            if fd >= 0 { close(fd) }
            result.append("\(rc)")
            done.signal()
        }
        done.wait()
        let joined = Int32(result.all.first ?? "") ?? -1
        guard joined == 0 else { throw LabHosts.Unavailable(description: "cannot join network namespace \(path): errno \(-joined)") }
    }

    /// Stops the probe's threads.
    public func shutdown() {
        try? maker.syncShutdownGracefully()
        try? checkers.syncShutdownGracefully()
    }

    /// True if `vm` answered `GET /` with a 200 within `timeout` (a database VM: sent a MariaDB
    /// server greeting, protocol 10, on port 3306).
    public func check(vm: String, timeout: Duration) async -> Bool {
        guard databases.contains(vm) else { return await get(vm, timeout: timeout) != nil }
        guard let address = addresses[vm],
              let fd = try? await maker.runIfActive({ socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }), fd >= 0
        else { return false }
        let ok = try? await checkers.runIfActive { () -> Bool in
            defer { close(fd) }
            return mariadbGreeting(fd: fd, address: address, port: 3306, timeoutMs: Int32(clamping: timeout.wholeMilliseconds))
        }
        return ok ?? false
    }

    /// The body of `GET /` from `vm`'s gridsvc, or nil.
    public func get(_ vm: String, timeout: Duration) async -> String? {
        guard let address = addresses[vm] else { return nil }
        guard let body = await get(address: address, port: 8080, path: "/", timeout: timeout) else { return nil }
        if keepBodies { bodies.append("\(vm): \(body)") }
        return body
    }

    /// The body of `GET path` from `address`:`port` (IPv4) on a 200 within `timeout`, or nil;
    /// bodies up to 1 MiB (e.g. tandemd's `/status`).
    public func get(address: String, port: UInt16, path: String, timeout: Duration) async -> String? {
        guard let fd = try? await maker.runIfActive({ socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }), fd >= 0 else { return nil }
        let body = try? await checkers.runIfActive { () -> String? in
            defer { close(fd) }
            return httpGet(fd: fd, address: address, port: port, path: path, timeoutMs: Int32(clamping: timeout.wholeMilliseconds))
        }
        return body ?? nil
    }
}

/// A thread-safe list of lines.
public final class LockedLog: @unchecked Sendable {
    // @unchecked Sendable: `lines` is only touched under `lock`.
    private let lock = NSLock()
    private var lines: [String] = []
    /// Creates an empty list.
    public init() {}
    /// Adds a line.
    public func append(_ s: String) { lock.lock(); lines.append(s); lock.unlock() }
    /// Every line, in order.
    public var all: [String] { lock.lock(); defer { lock.unlock() }; return lines }
}

/// `setns(fd, CLONE_NEWNET)`: Glibc's module does not export `setns` (a _GNU_SOURCE function), so
/// it is looked up by name. Returns 0 or -errno.
private func setNetworkNamespace(_ fd: Int32) -> Int32 {
    typealias SetNS = @convention(c) (Int32, Int32) -> Int32
    guard let sym = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "setns") else { return -ENOSYS }
    let setns = unsafeBitCast(sym, to: SetNS.self)
    let cloneNewNet: Int32 = 0x4000_0000
    return setns(fd, cloneNewNet) == 0 ? 0 : -errno
}

/// Connects `fd` (made non-blocking) to `address`:`port` within `left()` ms; whether it connected.
private func connectBounded(fd: Int32, address: String, port: UInt16, left: () -> Int32) -> Bool {
    _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
    var sa = sockaddr_in()
    sa.sin_family = sa_family_t(AF_INET)
    sa.sin_port = port.bigEndian
    guard inet_pton(AF_INET, address, &sa.sin_addr) == 1 else { return false }
    let rc = withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    if rc != 0 && errno != EINPROGRESS { return false }
    var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
    guard poll(&p, 1, left()) == 1 else { return false }
    var err: Int32 = 0
    var len = socklen_t(MemoryLayout<Int32>.size)
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len)
    return err == 0
}

/// Whether the server at `address`:`port` sends a MariaDB/MySQL greeting (a packet whose payload
/// starts with protocol version 10) within `timeoutMs`.
private func mariadbGreeting(fd: Int32, address: String, port: UInt16, timeoutMs: Int32) -> Bool {
    let start = wallClockSeconds()
    func left() -> Int32 { max(0, timeoutMs - Int32((wallClockSeconds() - start) * 1000)) }
    guard connectBounded(fd: fd, address: address, port: port, left: left) else { return false }
    var got: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 256)
    while got.count < 5 {
        var q = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&q, 1, left()) == 1 else { return false }
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { return false }
        got += chunk[0..<n]
    }
    // 3-byte length, sequence 0, then the payload: 10 for a greeting, 0xff for an error packet.
    return got[3] == 0 && got[4] == 10
}

/// A blocking HTTP/1.0 GET on a fresh socket, bounded by `timeoutMs` in all; the body on a 200.
private func httpGet(fd: Int32, address: String, port: UInt16, path: String, timeoutMs: Int32) -> String? {
    let start = wallClockSeconds()
    func left() -> Int32 { max(0, timeoutMs - Int32((wallClockSeconds() - start) * 1000)) }
    guard connectBounded(fd: fd, address: address, port: port, left: left) else { return nil }
    let request = Array("GET \(path) HTTP/1.0\r\nHost: \(address)\r\n\r\n".utf8)
    guard request.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == request.count else { return nil }
    var reply: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 16_384)
    // Until the server closes, or the body has its Content-Length (a server may keep an HTTP/1.0
    // connection open: tandemd's does).
    var expected: Int?
    while reply.count < 1 << 20 {
        if let expected, reply.count >= expected { break }
        var q = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&q, 1, left()) == 1 else { return nil }
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { break }
        reply += chunk[0..<n]
        if expected == nil, let end = reply.firstRange(of: Array("\r\n\r\n".utf8)) {
            let head = String(decoding: reply[..<end.lowerBound], as: UTF8.self).lowercased()
            if let line = head.split(separator: "\r\n").first(where: { $0.hasPrefix("content-length:") }),
               let length = Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) {
                expected = end.upperBound + length
            }
        }
    }
    let text = String(decoding: reply, as: UTF8.self)
    guard text.hasPrefix("HTTP/1.0 200") || text.hasPrefix("HTTP/1.1 200"), let split = text.range(of: "\r\n\r\n") else { return nil }
    return String(text[split.upperBound...]).trimmingCharacters(in: .whitespacesAndNewlines)
}
