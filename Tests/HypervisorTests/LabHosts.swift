import Fencing
import Foundation
import Hosts
import HostControl
import NIOPosix
import Net
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// Simulated hypervisor hosts started with `scripts/lab/hosts up N` in a private state directory:
/// each a real libvirtd (LXC driver) in its own network and mount namespace.
///
/// A missing piece (libvirtd, root) is an error that says what is missing; tests fail on it, never
/// skip. Cleanup: ``down()``, and the script's watchdog (`--owner-pid`) if the test process dies.
final class LabHosts: @unchecked Sendable {
    // @unchecked Sendable: every stored property is immutable after init.
    let stateDir: String
    let env: [String: String]
    let hosts: [String]

    struct Unavailable: Error, CustomStringConvertible { var description: String }

    static var script: String { RealRing.repoRoot + "/scripts/lab/hosts" }

    static func up(_ n: Int, label: String = "hosts") throws -> LabHosts {
        guard getuid() == 0 else {
            throw Unavailable(description: "the lab hosts need root (network and mount namespaces, libvirtd); run the tests as root")
        }
        guard FileManager.default.isExecutableFile(atPath: script) else {
            throw Unavailable(description: "\(script) is missing or not executable; it starts the libvirtd hosts these tests need")
        }
        let dir = "/tmp/tandem-\(label)-\(getpid())-\(UInt16.random(in: 0...UInt16.max))"
        let up = RealRing.runProcess(["/bin/bash", script, "up", "\(n)", "--state-dir", dir, "--owner-pid", "\(getpid())"],
                                     timeout: 300, what: "scripts/lab/hosts up")
        guard up.status == 0, let text = try? String(contentsOfFile: dir + "/hosts.env", encoding: .utf8) else {
            _ = RealRing.runProcess(["/bin/bash", script, "down", "--state-dir", dir], timeout: 60, what: "scripts/lab/hosts down")
            throw Unavailable(description: "scripts/lab/hosts up \(n) failed (exit \(up.status)); it installs libvirt-daemon, libvirt-clients, libvirt-daemon-driver-lxc and fence-agents itself:\n\(up.output)")
        }
        var env: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard let eq = line.firstIndex(of: "=") else { continue }
            env[String(line[..<eq])] = String(line[line.index(after: eq)...]).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        }
        let hosts = (env["LAB_HOSTS"] ?? "").split(separator: " ").map(String.init)
        guard hosts.count == n else { throw Unavailable(description: "hosts.env in \(dir) lists \(hosts) for \(n) hosts") }
        return LabHosts(stateDir: dir, env: env, hosts: hosts)
    }

    private init(stateDir: String, env: [String: String], hosts: [String]) {
        self.stateDir = stateDir; self.env = env; self.hosts = hosts
    }

    /// Stops every host, deletes the namespaces and the state directory.
    func down() {
        let r = run("down")
        if r.status != 0 { print("scripts/lab/hosts down failed (exit \(r.status)): \(r.output)") }
        try? FileManager.default.removeItem(atPath: stateDir)
    }

    /// Runs `scripts/lab/hosts ARGS --state-dir DIR`.
    @discardableResult
    func run(_ args: String..., timeout: Double = 60) -> (status: Int32, output: String) {
        RealRing.runProcess(["/bin/bash", Self.script] + args + ["--state-dir", stateDir], timeout: timeout,
                            what: "scripts/lab/hosts \(args.joined(separator: " "))")
    }

    /// ``fault(_:_:)`` with its arguments listed.
    func fault(_ command: String, _ args: String...) throws -> Double { try fault(command, args) }

    /// Runs a fault command (crash, hang, partition) and returns when its signals went out, as
    /// seconds of CLOCK_REALTIME (the script prints `at=EPOCHREALTIME`).
    func fault(_ command: String, _ args: [String]) throws -> Double {
        let args = [command] + args
        let r = RealRing.runProcess(["/bin/bash", Self.script] + args + ["--state-dir", stateDir], timeout: 60,
                                    what: "scripts/lab/hosts \(args.joined(separator: " "))")
        guard r.status == 0, let line = r.output.split(separator: "\n").first(where: { $0.hasPrefix("at=") }),
              let at = Double(line.dropFirst(3)) else {
            throw Unavailable(description: "scripts/lab/hosts \(args.joined(separator: " ")) failed (exit \(r.status)): \(r.output)")
        }
        return at
    }

    func uri(_ host: String) -> String { env["HOST_\(host)_URI"] ?? "" }
    var switchNamespace: String { env["LAB_SWITCH_NS"] ?? "" }

    /// `virsh -c URI ARGS` (the peer that reads back what the edge wrote).
    func virsh(_ host: String, _ args: String...) -> (status: Int32, output: String) {
        RealRing.runProcess(["/usr/bin/virsh", "-q", "-c", uri(host)] + args, timeout: 10, what: "virsh \(args.joined(separator: " "))")
    }

    /// Defines `domain` on `host` with `virsh define` (the peer writes, the edge reads).
    func virshDefine(_ host: String, _ domain: DomainDefinition) throws {
        let file = "\(stateDir)/\(domain.name).xml"
        try domain.xml.write(toFile: file, atomically: true, encoding: .utf8)
        let r = virsh(host, "define", file)
        guard r.status == 0 else { throw Unavailable(description: "virsh define \(domain.name) on \(host) failed: \(r.output)") }
    }

    /// Names of the domains `virsh list` shows running on `host` (empty when the host is off).
    func running(on host: String) -> Set<String> {
        let r = virsh(host, "list", "--name")
        guard r.status == 0 else { return [] }
        return Set(r.output.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
    }

    /// Names of every domain defined on `host`.
    func defined(on host: String) -> Set<String> {
        let r = virsh(host, "list", "--all", "--name")
        guard r.status == 0 else { return [] }
        return Set(r.output.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
    }

    /// The lab fence device for `host`: fence_tandemlab, the lab dir as its address, the password on stdin.
    func fenceDevice(_ host: String, timeout: Duration = .seconds(10)) -> FenceDevice {
        FenceDevice(agent: env["LAB_FENCE_AGENT"] ?? "", options: ["plug": host, "lab_dir": stateDir],
                    secretFiles: ["passwd": env["LAB_FENCE_PASSWORD_FILE"] ?? ""], timeout: timeout)
    }

    /// The XML of lab domain `name` (scripts/lab/domain-xml): an HTTP responder on `address`:8080.
    func domain(_ name: String, address: String, mac: String) throws -> DomainDefinition {
        let r = RealRing.runProcess(["/bin/bash", RealRing.repoRoot + "/scripts/lab/domain-xml", name, address, "8080", mac],
                                    timeout: 10, what: "scripts/lab/domain-xml")
        guard r.status == 0 else { throw Unavailable(description: "scripts/lab/domain-xml failed: \(r.output)") }
        return DomainDefinition(name: name, xml: r.output)
    }
}

/// Now as seconds of CLOCK_REALTIME (what the lab script's `at=` uses).
func wallClockSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// HTTP checks of the lab's domains from inside the lab's switch namespace.
///
/// A socket belongs to the network namespace of the thread that created it, so sockets are made on
/// one thread that joined the namespace (`setns`), then used from any thread. The checks block
/// (connect, send, receive with `poll` and a deadline), so they run on a thread pool, never on the
/// cooperative pool.
final class NamespaceHTTPProbe: VMProbe, @unchecked Sendable {
    // @unchecked Sendable: `addresses` is immutable; `maker` serialises socket creation on its
    // one thread; the pools are Sendable.
    private let addresses: [String: String]
    private let maker = NIOThreadPool(numberOfThreads: 1)
    private let checkers = NIOThreadPool(numberOfThreads: 12)
    /// Every answer body per VM (what answered: name, pid, start time).
    let bodies = LockedLog()

    init(namespace: String, addresses: [String: String]) throws {
        self.addresses = addresses
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

    func shutdown() {
        try? maker.syncShutdownGracefully()
        try? checkers.syncShutdownGracefully()
    }

    func check(vm: String, timeout: Duration) async -> Bool {
        await get(vm, timeout: timeout) != nil
    }

    /// The body of `GET /` from `vm`'s responder, or nil.
    func get(_ vm: String, timeout: Duration) async -> String? {
        guard let address = addresses[vm] else { return nil }
        guard let fd = try? await maker.runIfActive({ socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }), fd >= 0 else { return nil }
        let body = try? await checkers.runIfActive { () -> String? in
            defer { close(fd) }
            return httpGet(fd: fd, address: address, port: 8080, timeoutMs: Int32(clamping: timeout.wholeMilliseconds))
        }
        guard let body = body ?? nil else { return nil }
        bodies.append("\(vm): \(body)")
        return body
    }
}

/// A thread-safe list of lines.
final class LockedLog: @unchecked Sendable {
    // @unchecked Sendable: `lines` is only touched under `lock`.
    private let lock = NSLock()
    private var lines: [String] = []
    func append(_ s: String) { lock.lock(); lines.append(s); lock.unlock() }
    var all: [String] { lock.lock(); defer { lock.unlock() }; return lines }
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

/// A blocking HTTP/1.0 GET on a fresh socket, bounded by `timeoutMs` in all; the body on a 200.
private func httpGet(fd: Int32, address: String, port: UInt16, timeoutMs: Int32) -> String? {
    let start = wallClockSeconds()
    func left() -> Int32 { max(0, timeoutMs - Int32((wallClockSeconds() - start) * 1000)) }
    _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
    var sa = sockaddr_in()
    sa.sin_family = sa_family_t(AF_INET)
    sa.sin_port = port.bigEndian
    guard inet_pton(AF_INET, address, &sa.sin_addr) == 1 else { return nil }
    let rc = withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    if rc != 0 && errno != EINPROGRESS { return nil }
    var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
    guard poll(&p, 1, left()) == 1 else { return nil }
    var err: Int32 = 0
    var len = socklen_t(MemoryLayout<Int32>.size)
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len)
    guard err == 0 else { return nil }
    let request = Array("GET / HTTP/1.0\r\nHost: \(address)\r\n\r\n".utf8)
    guard request.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == request.count else { return nil }
    var reply: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 2048)
    while reply.count < 16_384 {
        var q = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&q, 1, left()) == 1 else { return nil }
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { break }
        reply += chunk[0..<n]
    }
    let text = String(decoding: reply, as: UTF8.self)
    guard text.hasPrefix("HTTP/1.0 200") || text.hasPrefix("HTTP/1.1 200"), let split = text.range(of: "\r\n\r\n") else { return nil }
    return String(text[split.upperBound...]).trimmingCharacters(in: .whitespacesAndNewlines)
}
