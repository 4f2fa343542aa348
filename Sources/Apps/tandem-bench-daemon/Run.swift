import DaemonAPI
import Foundation
import IPVS
import IPVSModel
import Net
#if canImport(Glibc)
import Glibc
#endif

/// One benchmark run inside a UML kernel: a director (tandemd or keepalived) over the generated site,
/// measured from the outside through the kernel's IPVS table (netlink) and /proc. Prints one
/// `RESULT key=value …` line. Every wait is bounded.
struct BenchRun {
    let site: BenchSite
    let director: String          // "tandemd" or "keepalived"
    let binary: String
    let dir: String
    let selfPath: String
    let idleSeconds: Int

    struct Failure: Error, CustomStringConvertible { var description: String }

    func run() throws {
        try sh("ip link set lo up; for a in \(site.liveA) \(site.liveB) \(site.down); do ip addr add $a/32 dev lo; done; ip route add default dev lo 2>/dev/null || true")
        let topo = "\(dir)/topology.yaml", kconf = "\(dir)/keepalived.conf", fifo = "\(dir)/control"
        try site.topology().write(toFile: topo, atomically: true, encoding: .utf8)
        try site.keepalived().write(toFile: kconf, atomically: true, encoding: .utf8)
        let listener = try startListener(control: fifo)
        defer { kill(listener, SIGKILL); var st: Int32 = 0; waitpid(listener, &st, 0) }

        let client = try IPVSClient()
        let keys = (0..<site.services).map { ServiceKey.address(.tcp, IPAddress(site.vip($0))!, port: 80) }
        let clock = ContinuousClock()
        var out: [String: String] = ["director": director, "services": "\(site.services)", "interval_ms": "\(site.intervalMs)"]

        // Cold start: exec to a fully programmed table (the engine programs in key order: the last key last).
        step("\(director), \(site.services) services: cold start")
        let t0 = clock.now
        let pid: pid_t
        if director == "tandemd" {
            pid = try spawn(binary, ["--topology", topo, "--node", "bench", "--status-listen", "127.0.0.1:9595", "--log-level", "warning"], log: "\(dir)/director.log")
        } else {
            pid = try spawn(binary, ["-C", "-n", "-l", "-f", kconf, "-p", "\(dir)/k.pid", "-c", "\(dir)/k.chk.pid", "-r", "\(dir)/k.vrrp.pid"], log: "\(dir)/director.log")
        }
        var alive = true
        defer { if alive { kill(pid, SIGKILL); var st: Int32 = 0; waitpid(pid, &st, 0) } }
        let programmed = try waitFor("a fully programmed table", seconds: 600, poll: .milliseconds(5)) {
            var st: Int32 = 0
            if waitpid(pid, &st, WNOHANG) == pid {
                alive = false
                throw Failure(description: "\(director) exited (status \(st)) before the table was programmed: see \(dir)/director.log")
            }
            return ((try? client.destinations(of: keys.last!))?.count ?? 0) == 3
        }
        out["start_ms"] = ms(t0.duration(to: programmed))
        step("programmed after \(out["start_ms"]!) ms; reading the table back")
        let table = try client.state(of: keys)
        let dests = table.services.values.reduce(0) { $0 + $1.destinations.count }
        guard table.services.count == site.services, dests == 3 * site.services else {
            throw Failure(description: "\(director): the kernel holds \(table.services.count) services and \(dests) destinations, want \(site.services) and \(3 * site.services)")
        }

        // Settled (small sites only: on a large one the first checks spread over a whole interval):
        // every down member at weight 0, every live one at 100.
        if site.services * 3 * 1000 / max(1, site.intervalMs) <= 200 || site.intervalMs <= 10_000 {
            let settled = try waitFor("every check to report", seconds: 3 * site.intervalMs / 1000 + 120, poll: .seconds(1)) {
                guard let s = try? client.state(of: keys) else { return false }
                var zero = 0, full = 0
                for st in s.services.values { for d in st.destinations.values { if d.weight == 0 { zero += 1 } else if d.weight == 100 { full += 1 } } }
                return zero == site.services && full == 2 * site.services
            }
            out["settle_ms"] = ms(t0.duration(to: settled))
        } else {
            Thread.sleep(forTimeInterval: 5)
        }

        // /status (tandemd only: keepalived has no runtime API).
        if director == "tandemd" {
            step("/status, 5 times")
            try measureStatus(port: 9595, into: &out)
        }

        // Idle: CPU over `idleSeconds` with every check at its interval, and memory.
        let pids = director == "tandemd" ? [pid] : [pid] + ((try? String(contentsOfFile: "\(dir)/k.chk.pid", encoding: .utf8)).flatMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) }.map { [$0] } ?? [])
        step("idle CPU over \(idleSeconds) s")
        out["idle_cpu_pct"] = idleCPU(pids)
        out["checks_per_s"] = formatFixed(Double(3 * site.services) * 1000 / Double(site.intervalMs), 1)
        out["rss_mb"] = formatFixed(Double(pids.map(rssKiB).reduce(0, +)) / 1024, 1)

        // Reload with the probe services checked every 200 ms (SIGHUP: both directors reload in place),
        // and wait until their down members are at weight 0: the reload took and their checks run.
        var probing = site
        probing.probing = true
        try probing.topology().write(toFile: topo, atomically: true, encoding: .utf8)
        try probing.keepalived().write(toFile: kconf, atomically: true, encoding: .utf8)
        let r0 = clock.now
        step("reload (SIGHUP) with \(site.probes) services checked every 200 ms")
        kill(pid, SIGHUP)
        let down = (0..<site.probes).map { DestinationKey(address: IPAddress(site.down)!, port: UInt16(site.port($0))) }
        let reloaded = try waitFor("the probes' down members at weight 0 after the reload", seconds: 120, poll: .milliseconds(20)) {
            (0..<site.probes).allSatisfy { i in (try? client.destinations(of: keys[i]))?.first { $0.destination.key == down[i] }?.destination.weight == 0 }
        }
        out["reload_ms"] = ms(r0.duration(to: reloaded))
        Thread.sleep(forTimeInterval: 1)

        // A member's death → its weight 0 in the kernel, for each probe service.
        var deaths: [Duration] = []
        let control = open(fifo, O_WRONLY | O_CLOEXEC)
        defer { close(control) }
        step("a live member of each of \(site.probes) services killed, to its weight 0")
        for i in 0..<site.probes {
            let key = keys[i], member = DestinationKey(address: IPAddress(site.liveA)!, port: UInt16(site.port(i)))
            let line = Array("close \(site.liveA) \(site.port(i))\n".utf8)
            let t = clock.now
            _ = line.withUnsafeBytes { write(control, $0.baseAddress, $0.count) }
            let drained = try waitFor("\(key) -> \(member) at weight 0", seconds: 60, poll: .milliseconds(1)) {
                (try? client.destinations(of: key))?.first { $0.destination.key == member }?.destination.weight == 0
            }
            deaths.append(t.duration(to: drained))
        }
        out["death_ms"] = deaths.map(ms).joined(separator: ",")
        if director == "tandemd" {
            // The daemon's own event → kernel time for the same members (its transition to its pass).
            let status = try httpGet(port: 9595, path: "/status?service=" + (0..<site.probes).map { "s\($0)" }.joined(separator: ","))
            out["event_ms"] = eventTimes(status).joined(separator: ",")
        }

        // SIGTERM → exit.
        step("SIGTERM")
        out["term_ms"] = terminate(pid)
        alive = out["term_ms"] == "timeout"
        print("RESULT " + out.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
    }

    /// The same daemon on this machine, outside the UML (`--dry-run-kernel`: an in-memory IPVS table;
    /// the members on loopback addresses): what idle CPU, memory, /status and SIGTERM cost where a
    /// system call costs what it does on a real director. No kernel to read, so no peer here.
    func runNative() throws {
        let topo = "\(dir)/topology.yaml", fifo = "\(dir)/control"
        try site.topology().write(toFile: topo, atomically: true, encoding: .utf8)
        let listener = try startListener(control: fifo)
        defer { kill(listener, SIGKILL); var st: Int32 = 0; waitpid(listener, &st, 0) }
        let clock = ContinuousClock()
        var out: [String: String] = ["director": "tandemd-native", "services": "\(site.services)", "interval_ms": "\(site.intervalMs)",
                                     "checks_per_s": formatFixed(Double(3 * site.services) * 1000 / Double(site.intervalMs), 1)]
        let t0 = clock.now
        let pid = try spawn(binary, ["--topology", topo, "--node", "bench", "--status-listen", "127.0.0.1:9697", "--log-level", "warning",
                                     "--dry-run-kernel"], log: "\(dir)/director.log")
        var alive = true
        defer { if alive { kill(pid, SIGKILL); var st: Int32 = 0; waitpid(pid, &st, 0) } }
        // Programmed: the first (full) pass has run, as /status says.
        let programmed = try waitFor("the first reconcile pass", seconds: 300, poll: .milliseconds(10)) {
            guard let body = try? httpGet(port: 9697, path: "/status?service=s0") else { return false }
            return String(decoding: body, as: UTF8.self).contains("\"lastReconcile\"")
        }
        out["start_ms"] = ms(t0.duration(to: programmed))
        Thread.sleep(forTimeInterval: 5)
        try measureStatus(port: 9697, into: &out)
        out["idle_cpu_pct"] = idleCPU([pid])
        out["rss_mb"] = formatFixed(Double(rssKiB(pid)) / 1024, 1)
        out["term_ms"] = terminate(pid)
        alive = out["term_ms"] == "timeout"
        print("RESULT " + out.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
    }

    /// The listener that plays the live members (a port per service on each live address), with
    /// its control FIFO at `fifo`, started and listening (≤ 120 s).
    private func startListener(control fifo: String) throws -> pid_t {
        unlink(fifo)
        guard mkfifo(fifo, 0o600) == 0 else { throw Failure(description: "mkfifo \(fifo): \(String(cString: strerror(errno)))") }
        let listener = try spawn(selfPath, ["listen", "--addresses", "\(site.liveA),\(site.liveB)",
                                            "--first-port", "\(site.basePort)", "--count", "\(site.services)", "--control", fifo],
                                 log: "\(dir)/listener.log")
        do {
            _ = try waitFor("the listener", seconds: 120) { (try? String(contentsOfFile: "\(dir)/listener.log", encoding: .utf8))?.contains("listening") == true }
        } catch {
            kill(listener, SIGKILL); var st: Int32 = 0; waitpid(listener, &st, 0)
            throw error
        }
        return listener
    }

    /// SIGTERM, then the milliseconds until the process is gone (`timeout` after 30 s).
    private func terminate(_ pid: pid_t) -> String {
        let clock = ContinuousClock(), t = clock.now, deadline = t.advanced(by: .seconds(30))
        kill(pid, SIGTERM)
        var st: Int32 = 0
        while waitpid(pid, &st, WNOHANG) == 0 {
            if clock.now > deadline { return "timeout" }
            usleep(1000)
        }
        return ms(t.duration(to: clock.now))
    }

    /// Five GETs of the whole /status: the median and the slowest, and its size.
    /// A progress line on stderr (stdout carries the RESULT line): what the run is doing now.
    private func step(_ what: String) {
        FileHandle.standardError.write(Data("bench-daemon: \(what)\n".utf8))
    }

    private func measureStatus(port: UInt16, into out: inout [String: String]) throws {
        let clock = ContinuousClock()
        var times: [Duration] = []
        for _ in 0..<5 {
            let t = clock.now
            out["status_bytes"] = "\(try httpGet(port: port, path: "/status").count)"
            times.append(t.duration(to: clock.now))
        }
        times.sort()
        out["status_ms"] = ms(times[2]); out["status_ms_max"] = ms(times[4])
    }

    /// CPU of `pids` over `idleSeconds`, in percent of one core.
    private func idleCPU(_ pids: [pid_t]) -> String {
        let clock = ContinuousClock()
        let cpu0 = pids.map(cpuTicks).reduce(0, +), w0 = clock.now
        Thread.sleep(forTimeInterval: Double(idleSeconds))
        let cpu1 = pids.map(cpuTicks).reduce(0, +), wall = w0.duration(to: clock.now)
        return formatFixed(Double(cpu1 - cpu0) / Double(sysconf(Int32(_SC_CLK_TCK))) / wall.inSeconds * 100, 2)
    }

    /// Each service's `lastEventToKernelMs` in a /status body (decoded as the daemon's own report type).
    private func eventTimes(_ body: [UInt8]) -> [String] {
        guard let r = try? JSONDecoder().decode(StatusReport.self, from: Data(body)) else { return [] }
        return r.services.compactMap { $0.lastEventToKernelMs.map { formatFixed($0, 2) } }
    }

    private func ms(_ d: Duration) -> String { formatFixed(d.inMilliseconds, 1) }

    @discardableResult
    private func waitFor(_ what: String, seconds: Int, poll: Duration = .milliseconds(20), _ done: () throws -> Bool) throws -> ContinuousClock.Instant {
        let clock = ContinuousClock(), deadline = clock.now.advanced(by: .seconds(seconds))
        while clock.now < deadline {
            if try done() { return clock.now }
            usleep(UInt32(max(1, poll.wholeMicroseconds)))
        }
        throw Failure(description: "\(director), \(site.services) services: gave up after \(seconds) s waiting for \(what) (see \(dir)/director.log)")
    }

    private func sh(_ script: String) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", script]
        try p.run(); p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw Failure(description: "`\(script)` exited \(p.terminationStatus)") }
    }

    private func spawn(_ path: String, _ args: [String], log: String) throws -> pid_t {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = args
        FileManager.default.createFile(atPath: log, contents: nil)
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        p.standardOutput = h; p.standardError = h
        try p.run()
        return p.processIdentifier
    }

    private func procFile(_ pid: pid_t, _ name: String) -> String {
        (try? String(contentsOfFile: "/proc/\(pid)/\(name)", encoding: .utf8)) ?? ""
    }

    /// utime + stime of `pid` in clock ticks (/proc/PID/stat fields 14 and 15).
    private func cpuTicks(_ pid: pid_t) -> Int {
        let s = procFile(pid, "stat")
        guard let close = s.lastIndex(of: ")") else { return 0 }
        let f = s[s.index(after: close)...].split(separator: " ")
        return f.count > 13 ? (Int(f[11]) ?? 0) + (Int(f[12]) ?? 0) : 0
    }

    private func rssKiB(_ pid: pid_t) -> Int {
        for line in procFile(pid, "status").split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
        }
        return 0
    }

    /// A plain HTTP/1.0 GET on loopback; the whole answer's body.
    private func httpGet(port: UInt16, path: String) throws -> [UInt8] {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: \(String(cString: strerror(errno)))") }
        defer { Glibc.close(fd) }
        var tv = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var sa = sockaddr_in()
        sa.sin_family = sa_family_t(AF_INET); sa.sin_port = port.bigEndian; sa.sin_addr = in_addr(s_addr: UInt32(0x7f00_0001).bigEndian)
        let c = withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard c == 0 else { throw Failure(description: "connect 127.0.0.1:\(port): \(String(cString: strerror(errno)))") }
        let req = Array("GET \(path) HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".utf8)
        _ = req.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        // Read the head, then exactly Content-Length bytes: the server may keep the connection open.
        var all: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        var bodyStart: Int?, length: Int?
        while true {
            if let b = bodyStart, let n = length, all.count >= b + n { return Array(all[b..<(b + n)]) }
            let got = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if got <= 0 { break }
            all += buf[0..<got]
            if bodyStart == nil, let sep = all.indices.dropLast(3).first(where: { all[$0] == 13 && all[$0 + 1] == 10 && all[$0 + 2] == 13 && all[$0 + 3] == 10 }) {
                bodyStart = sep + 4
                for line in String(decoding: all[..<sep], as: UTF8.self).split(separator: "\r\n") {
                    let kv = line.split(separator: ":", maxSplits: 1)
                    if kv.count == 2, kv[0].lowercased() == "content-length" { length = Int(kv[1].trimmingCharacters(in: .whitespaces)) }
                }
            }
        }
        guard let b = bodyStart else { throw Failure(description: "GET \(path): no HTTP answer") }
        return Array(all[b...])
    }
}
