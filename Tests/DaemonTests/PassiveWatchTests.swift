import Daemon
import Foundation
import HealthCheck
import IPVS
import Logging
import Reconciler
import Topology
import XCTest

/// Passive silence detection in the daemon: ``PassiveWatch`` over a ``RecordingKernel`` whose
/// traffic the test scripts (manual clock, no sleeping), the connection-table parser on the kernel's
/// own text, and the whole path in a real IPVS kernel (user-mode-linux): client traffic to a NAT
/// service, one member silenced, drained with the passive reason before its check could time out.
final class PassiveWatchTests: XCTestCase {
    func yaml(passive: Bool) -> String {
        """
        site: t
        hosts:
          - {name: h1, address: 192.0.2.1, cpus: 4, memory: 4GiB}
          - {name: h2, address: 192.0.2.2, cpus: 4, memory: 4GiB}
          - {name: h3, address: 192.0.2.3, cpus: 4, memory: 4GiB}
        vms:
          - {name: fg5x2, role: gums, vcpus: 1, memory: 1GiB, addresses: [10.10.5.12/24]}
          - {name: fg6x2, role: gums, vcpus: 1, memory: 1GiB, addresses: [10.10.6.12/24]}
        services:
          - name: gums
            vip: 10.10.0.12
            port: 8443
            forwarding: nat
            members:
              - {vm: fg5x2, port: 8443, weight: 100}
              - {vm: fg6x2, port: 8443, weight: 100}
            check: {kind: tcp, interval: 1s, timeout: 1s, rise: 2, fall: 3}
        \(passive ? "    passive: {window: 300ms, min_connections: 3}\n" : "")
        """
    }

    func write(_ text: String, to path: String? = nil) throws -> String {
        let p = path ?? FileManager.default.temporaryDirectory.appendingPathComponent("tandem-passive-\(UUID().uuidString).yaml").path
        try text.write(toFile: p, atomically: true, encoding: .utf8)
        return p
    }

    func stats(_ conns: UInt64, _ outPackets: UInt64) -> IPVSStats {
        var s = IPVSStats()
        s.connections = conns; s.inPackets = conns * 3; s.outPackets = outPackets
        return s
    }

    func testASilentMemberIsFailedThroughTheMonitorOnceAndAReloadTurnsItOff() async throws {
        let path = try write(yaml(passive: true))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let t = try TopologyLoader.load(path: path)
        // The kernel already holds both members at their weight, so both start `up`.
        var all = WeightDecision()
        for m in t.services[0].members { all.weights[MemberRef(service: "gums", member: m.vm)] = m.weight }
        let kernel = RecordingKernel(table: WeightPolicy.table(t, all))
        let clock = ManualClock()
        let board = Switchboard()
        let daemon = TandemDaemon(topology: t, topologyFile: path, node: "d1", kernel: kernel, dryRun: true, clock: clock,
                                  seed: 0, logger: Logger(label: "test"), makeChecker: board.make)
        try await daemon.start()
        let a = MemberRef(service: "gums", member: "fg5x2"), b = MemberRef(service: "gums", member: "fg6x2")
        XCTAssertEqual(daemon.memberStates()[a], .up)
        let watch = PassiveWatch(daemon: daemon, source: kernel, clock: clock, logger: Logger(label: "test"))
        XCTAssertEqual(PassiveWatch<ManualClock>.period(t), .milliseconds(75))

        let sk = TopologyMapping.serviceKey(t.services[0])
        let da = DestinationKey(address: InetAddress("10.10.5.12")!, port: 8443)
        let db = DestinationKey(address: InetAddress("10.10.6.12")!, port: 8443)
        // Nothing waits when the watch starts (what waits then is never judged: its age is unknown).
        kernel.setTraffic([sk: [da: MemberTraffic(waiting: [], stats: stats(40, 90)),
                                db: MemberTraffic(waiting: [], stats: stats(40, 90))]])
        var failed = await watch.pass()
        XCTAssertTrue(failed.isEmpty)
        // fg5x2 leaves three new connections unanswered; fg6x2 answers every handshake at once.
        kernel.setTraffic([sk: [da: MemberTraffic(waiting: [1, 2, 3], stats: stats(40, 90)),
                                db: MemberTraffic(waiting: [], stats: stats(40, 90))]])
        clock.advance(by: .milliseconds(75))
        failed = await watch.pass()
        XCTAssertTrue(failed.isEmpty, "nothing has waited yet")
        for _ in 0..<3 {
            clock.advance(by: .milliseconds(75))
            failed = await watch.pass()
            XCTAssertTrue(failed.isEmpty, "inside the window")
        }
        clock.advance(by: .milliseconds(75))
        failed = await watch.pass()
        XCTAssertEqual(failed.map(\.0), [a])
        let reason = try XCTUnwrap(failed.first?.1)
        XCTAssertTrue(reason.hasPrefix("passive: 3 new connections unanswered for 300 ms"), reason)
        // Exactly like a refused check: down at once (fall is 3), weight 0, the reason in /status.
        XCTAssertEqual(daemon.memberStates()[a], .down)
        XCTAssertEqual(daemon.memberStates()[b], .up)
        XCTAssertEqual(daemon.decision().weights[a], 0)
        XCTAssertEqual(daemon.decision().weights[b], 100)
        let member = daemon.report().services[0].members.first { $0.member == "fg5x2" }
        XCTAssertEqual(member?.lastReason, reason)
        XCTAssertEqual(member?.lastTransition, "up → down")
        let metrics = daemon.metrics.render()
        XCTAssertTrue(metrics.split(separator: "\n").contains { $0.hasPrefix("tandem_passive_silences_total") && $0.contains("fg5x2") && $0.hasSuffix(" 1") },
                      metrics)
        // The episode is reported once, however long it lasts.
        for _ in 0..<10 {
            clock.advance(by: .milliseconds(75))
            let again = await watch.pass()
            XCTAssertTrue(again.isEmpty)
        }
        XCTAssertEqual(metrics.components(separatedBy: "fg5x2").count, daemon.metrics.render().components(separatedBy: "fg5x2").count)

        // A reload that removes `passive:` turns it off: fg6x2 going silent changes nothing.
        _ = try write(yaml(passive: false), to: path)
        guard case .applied = await daemon.reload(path: path) else { return XCTFail("reload refused") }
        kernel.setTraffic([sk: [da: MemberTraffic(waiting: [1, 2, 3], stats: stats(40, 90)),
                                db: MemberTraffic(waiting: [4, 5, 6, 7], stats: stats(40, 90))]])
        for _ in 0..<10 {
            clock.advance(by: .milliseconds(75))
            let none = await watch.pass()
            XCTAssertTrue(none.isEmpty, "passive is off after the reload")
        }
        XCTAssertEqual(daemon.memberStates()[b], .up)
        XCTAssertNil(PassiveWatch<ManualClock>.period(daemon.topology))
    }

    /// Every member looking silent at once points at the director or the clients, not at a member:
    /// nothing is drained. One member alone looking silent is drained.
    func testWhenEveryMemberLooksSilentNoneIsDrained() async throws {
        let path = try write(yaml(passive: true))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let t = try TopologyLoader.load(path: path)
        var all = WeightDecision()
        for m in t.services[0].members { all.weights[MemberRef(service: "gums", member: m.vm)] = m.weight }
        let kernel = RecordingKernel(table: WeightPolicy.table(t, all))
        let clock = ManualClock()
        let daemon = TandemDaemon(topology: t, topologyFile: path, node: "d1", kernel: kernel, dryRun: true, clock: clock,
                                  seed: 0, logger: Logger(label: "test"), makeChecker: Switchboard().make)
        try await daemon.start()
        let watch = PassiveWatch(daemon: daemon, source: kernel, clock: clock, logger: Logger(label: "test"))
        let sk = TopologyMapping.serviceKey(t.services[0])
        let da = DestinationKey(address: InetAddress("10.10.5.12")!, port: 8443)
        let db = DestinationKey(address: InetAddress("10.10.6.12")!, port: 8443)
        func passes(_ n: Int, _ a: Set<UInt64>, _ b: Set<UInt64>) async -> [MemberRef] {
            kernel.setTraffic([sk: [da: MemberTraffic(waiting: a), db: MemberTraffic(waiting: b)]])
            var out: [MemberRef] = []
            for _ in 0..<n {
                out += await watch.pass().map(\.0)
                clock.advance(by: .milliseconds(75))
            }
            return out
        }
        var drained = await passes(1, [], [])
        drained += await passes(6, [1, 2, 3], [4, 5, 6])
        XCTAssertEqual(drained, [], "both members look silent: the director or the clients are the likely cause")
        XCTAssertFalse(daemon.memberStates().values.contains(.down))
        // Later only fg5x2 leaves new connections unanswered; fg6x2 answers.
        drained = await passes(6, [1, 2, 3, 7, 8, 9], [])
        XCTAssertEqual(drained, [MemberRef(service: "gums", member: "fg5x2")])
        XCTAssertEqual(daemon.memberStates()[MemberRef(service: "gums", member: "fg5x2")], .down)
        XCTAssertEqual(daemon.memberStates()[MemberRef(service: "gums", member: "fg6x2")], .up)
    }

    func testAMemberTheKernelDoesNotHoldIsNotJudged() async throws {
        let path = try write(yaml(passive: true))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let t = try TopologyLoader.load(path: path)
        let kernel = RecordingKernel()
        let clock = ManualClock()
        let daemon = TandemDaemon(topology: t, topologyFile: path, node: "d1", kernel: kernel, dryRun: true, clock: clock,
                                  seed: 0, logger: Logger(label: "test"), makeChecker: Switchboard().make)
        try await daemon.start()
        let watch = PassiveWatch(daemon: daemon, source: kernel, clock: clock, logger: Logger(label: "test"))
        let sk = TopologyMapping.serviceKey(t.services[0])
        // Waiting connections reported for an address that is not a member of the service.
        kernel.setTraffic([sk: [DestinationKey(address: InetAddress("10.10.9.9")!, port: 8443): MemberTraffic(waiting: [1, 2, 3, 4])]])
        for _ in 0..<8 {
            let none = await watch.pass()
            XCTAssertTrue(none.isEmpty)
            clock.advance(by: .milliseconds(75))
        }
        XCTAssertFalse(daemon.memberStates().values.contains(.down))
    }

    /// `/proc/net/ip_vs_conn` as the 6.1 kernel prints it: only SYN_RECV entries are waiting, grouped by
    /// service (protocol, VIP, port) and real server; IPv6 lines too.
    func testConnectionTableParsing() {
        let text = """
        Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData
        TCP 0A000902 C350 0A630001 0050 0A000202 1F90 SYN_RECV         59
        TCP 0A000902 C351 0A630001 0050 0A000202 1F90 SYN_RECV         58
        TCP 0A000902 C352 0A630001 0050 0A000102 1F90 ESTABLISHED     899
        TCP 0A000902 C353 0A630001 0050 0A000102 1F90 TIME_WAIT       119
        TCP 0A000902 C354 0A630001 0050 0A000102 1F90 CLOSE             9
        TCP 0A000902 C355 0A630002 0050 0A000202 1F90 SYN_RECV         59
        UDP 0A000902 C356 0A630001 0050 0A000202 1F90 UDP             299
        TCP 2001:0db8:0000:0000:0000:0000:0000:0009 C357 2001:0db8:0000:0000:0000:0000:0000:0001 0050 2001:0db8:0000:0000:0000:0000:0000:0202 1F90 SYN_RECV         59
        garbage line
        """
        let w = IPVSConnectionTable.waiting(in: Array(text.utf8))
        XCTAssertEqual(w.count, 4)
        XCTAssertEqual(Set(w.map(\.id)).count, 4, "ids differ per connection")
        let svc = ServiceKey.address(.tcp, InetAddress("10.99.0.1")!, port: 80)
        let other = ServiceKey.address(.tcp, InetAddress("10.99.0.2")!, port: 80)
        let v6 = ServiceKey.address(.tcp, InetAddress("2001:db8::1")!, port: 80)
        let be1 = DestinationKey(address: InetAddress("10.0.1.2")!, port: 8080)
        let be2 = DestinationKey(address: InetAddress("10.0.2.2")!, port: 8080)
        let be6 = DestinationKey(address: InetAddress("2001:db8::202")!, port: 8080)
        let g = IPVSConnectionTable.group(w, services: [svc, other, v6], destinations: [svc: [be1, be2], other: [be2], v6: [be6]])
        XCTAssertEqual(g[svc]?[be2]?.count, 2)
        XCTAssertNil(g[svc]?[be1], "established, closing and closed entries are not waiting")
        XCTAssertEqual(g[other]?[be2]?.count, 1)
        XCTAssertEqual(g[v6]?[be6]?.count, 1)
        // The same connection gets the same id on the next read.
        XCTAssertEqual(IPVSConnectionTable.waiting(in: Array(text.utf8)).map(\.id), w.map(\.id))
    }

    /// The real thing: inside a UML kernel, a NAT service with `passive:` on, client traffic at
    /// ~100 new connections/s, and one member silenced with netem loss 100%. Its check is slow on
    /// purpose (every 2 s, timeout 4 s, fall 3: a timeout-based drain could not happen before
    /// 3 × 4 s), so the order is unambiguous: the member must be drained with the passive reason,
    /// while the other member stays up, and come back through its check once the loss is removed.
    func testSilencedBackendUnderTrafficIsDrainedPassivelyInTheRealKernel() throws {
        guard let run = try runInUML(script: Self.umlScript, timeoutSeconds: 300) else { return }
        print(run.text)
        XCTAssertEqual(run.status, 0, "uml-run failed:\n\(run.text)")
        let r = run.results
        XCTAssertEqual(r["be2_weight_before"], "100", "be2 never reached its weight")
        XCTAssertEqual(r["client_ok_before"], "yes", "the client load did not get through the director")
        XCTAssertEqual(r["be2_drained"], "yes", "the silenced member was not drained")
        let reason = try XCTUnwrap(r["be2_reason"])
        XCTAssertTrue(reason.hasPrefix("passive:"), "drained for another reason: \(reason)")
        XCTAssertEqual(r["be2_checks_timed_out_before_drain"], "0", "a check timed out first: the drain was not passive")
        XCTAssertEqual(r["be1_went_down"], "no", "the answering member was drained (false alarm)")
        XCTAssertEqual(r["passive_metric"], "1")
        XCTAssertEqual(r["be2_back"], "yes", "the member did not come back through its check")
    }

    struct Run { var status: Int32; var text: String; var results: [String: String] }

    /// Writes `script` and runs it with `bash SCRIPT TANDEMD` under `scripts/uml-run`. Files go under
    /// $HOME (the UML sees the host's root, but /tmp is its own tmpfs).
    func runInUML(script: String, timeoutSeconds: Int) throws -> Run? {
        var root = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
        var uml: URL?
        for _ in 0..<6 {
            root = root.deletingLastPathComponent()
            let c = root.appendingPathComponent("scripts/uml-run")
            if FileManager.default.isExecutableFile(atPath: c.path) { uml = c; break }
        }
        let umlRun = try XCTUnwrap(uml, "scripts/uml-run not found: it is needed to boot an IPVS kernel")
        guard let tandemd = tandemdBinary() else { return nil }
        let dir = FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/tandem-tests/\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let bin = dir.appendingPathComponent("tandemd")
        try FileManager.default.copyItem(at: tandemd, to: bin)
        let file = dir.appendingPathComponent("passive.sh")
        try script.write(to: file, atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = umlRun
        p.arguments = ["--timeout", "\(timeoutSeconds)", "--", "/bin/bash", file.path, bin.path]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        var results: [String: String] = [:]
        for l in text.split(separator: "\n") where l.hasPrefix("RESULT ") {
            let kv = l.dropFirst("RESULT ".count).split(separator: "=", maxSplits: 1)
            if kv.count == 2 { results[String(kv[0])] = String(kv[1]) }
        }
        return Run(status: p.terminationStatus, text: text, results: results)
    }

    /// Runs inside the UML. Every wait is bounded; everything started is killed on exit.
    static let umlScript = #"""
    set -u
    TANDEMD=$1
    work=$(mktemp -d /tmp/passive.XXXXXX)
    cleanup() {
        [ -f "$work/pids" ] && while read -r p; do kill -9 "$p" 2>/dev/null; done < "$work/pids"
        for n in be1 be2 cl; do ip netns del $n 2>/dev/null; done
        rm -rf "$work"
    }
    trap cleanup EXIT
    PY=/usr/bin/python3; [ -x "$PY" ] || { echo "python3 missing: install python3"; exit 1; }
    ip link set lo up
    for i in 1 2; do
        ip netns add be$i
        ip link add vd$i type veth peer name vb$i
        ip link set vb$i netns be$i
        ip addr add 10.0.$i.1/24 dev vd$i; ip link set vd$i up
        ip -n be$i addr add 10.0.$i.2/24 dev vb$i; ip -n be$i link set vb$i up; ip -n be$i link set lo up
        ip -n be$i route add default via 10.0.$i.1
    done
    ip netns add cl
    ip link add vdc type veth peer name vcl
    ip link set vcl netns cl
    ip addr add 10.0.9.1/24 dev vdc; ip link set vdc up
    ip -n cl addr add 10.0.9.2/24 dev vcl; ip -n cl link set vcl up; ip -n cl link set lo up
    ip -n cl route add default via 10.0.9.1
    ip addr add 10.99.0.1/32 dev lo
    sysctl -qw net.ipv4.ip_forward=1
    cat > "$work/backend.py" <<'EOF'
    import socket, sys
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((sys.argv[1], 8080)); s.listen(4096)
    while True:
        c, _ = s.accept(); c.close()
    EOF
    cat > "$work/client.py" <<'EOF'
    # ~RATE/s short connections to the VIP for at most SECONDS; counts answered connects to OKFILE.
    import select, socket, struct, sys, time
    rate, seconds, okfile = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
    ep = select.epoll(); pending = {}; ok = 0
    t0 = time.monotonic(); nxt = t0; lastw = t0
    while time.monotonic() - t0 < seconds:
        now = time.monotonic()
        if now - nxt > 0.05: nxt = now  # no catch-up bursts after a stall
        while nxt <= now and len(pending) < 1000:
            s = socket.socket(); s.setblocking(False); s.connect_ex(("10.99.0.1", 80))
            pending[s.fileno()] = (s, now); ep.register(s.fileno(), select.EPOLLOUT); nxt += 1 / rate
        for fd, _ in ep.poll(0.02):
            if fd not in pending: continue
            s, _ = pending.pop(fd); ep.unregister(fd)
            if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0: ok += 1
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)); s.close()
        now = time.monotonic()
        for fd in [f for f, (_, t) in pending.items() if now - t > 1]:
            s, _ = pending.pop(fd); ep.unregister(fd); s.close()
        if now - lastw > 0.5:
            lastw = now
            with open(okfile, "w") as f: f.write(str(ok))
    EOF
    for i in 1 2; do
        ip netns exec be$i "$PY" "$work/backend.py" 10.0.$i.2 & echo $! >> "$work/pids"
    done
    cat > "$work/topo.yaml" <<'EOF'
    site: uml
    hosts:
      - {name: h1, address: 192.0.2.1, cpus: 4, memory: 4GiB}
      - {name: h2, address: 192.0.2.2, cpus: 4, memory: 4GiB}
    vms:
      - {name: be1, role: gums, vcpus: 1, memory: 1GiB, addresses: [10.0.1.2/24]}
      - {name: be2, role: gums, vcpus: 1, memory: 1GiB, addresses: [10.0.2.2/24]}
    services:
      - name: gums
        vip: 10.99.0.1
        port: 80
        scheduler: rr
        forwarding: nat
        members:
          - {vm: be1, port: 8080, weight: 100}
          - {vm: be2, port: 8080, weight: 100}
        check: {kind: tcp, interval: 2s, timeout: 4s, rise: 1, fall: 3}
        passive: {window: 300ms, min_connections: 3}
    EOF
    "$TANDEMD" --topology "$work/topo.yaml" --node d1 --status-listen 127.0.0.1:9595 > "$work/tandemd.log" 2>&1 & echo $! >> "$work/pids"
    weight() { # weight of 10.0.$1.2:8080 in /proc/net/ip_vs
        local h; h=$(printf '%08X:%04X' $(( (10 << 24) + ($1 << 8) + 2 )) 8080)
        awk -v h="$h" '$1 == "->" && $2 == h { print $4 }' /proc/net/ip_vs
    }
    wait_weight() { # $1 member index, $2 weight, $3 tries of 0.1 s
        for _ in $(seq 1 "$3"); do [ "$(weight $1)" = "$2" ] && return 0; sleep 0.1; done; return 1
    }
    wait_weight 1 100 300; wait_weight 2 100 300
    echo "RESULT be2_weight_before=$(weight 2)"
    ip netns exec cl "$PY" "$work/client.py" 100 90 "$work/ok" & echo $! >> "$work/pids"
    sleep 3
    ok=$(cat "$work/ok" 2>/dev/null || echo 0)
    echo "client answered connections before the fault: $ok"
    [ "${ok:-0}" -gt 20 ] && echo "RESULT client_ok_before=yes" || echo "RESULT client_ok_before=no"
    ip netns exec be2 tc qdisc add dev vb2 root netem loss 100%
    if wait_weight 2 0 100; then echo "RESULT be2_drained=yes"; else echo "RESULT be2_drained=no"; fi
    status() {
        "$PY" - "$1" <<'EOF'
    import json, sys, urllib.request
    doc = json.load(urllib.request.urlopen("http://127.0.0.1:9595/status", timeout=5))
    for s in doc["services"]:
        for m in s["members"]:
            if m["member"] == sys.argv[1]:
                print(m.get("lastReason") or "none")
    EOF
    }
    echo "RESULT be2_reason=$(status be2)"
    n=$(grep 'health transition' "$work/tandemd.log" | grep 'backend=be2' | grep -m1 -n 'to=down' | cut -d: -f1)
    t=$(grep 'health transition' "$work/tandemd.log" | grep 'backend=be2' | head -n "${n:-0}" | grep -c 'check timed out')
    echo "RESULT be2_checks_timed_out_before_drain=$t"
    "$PY" -c 'import urllib.request; print(urllib.request.urlopen("http://127.0.0.1:9595/metrics", timeout=5).read().decode())' > "$work/metrics"
    m=$(grep '^tandem_passive_silences_total' "$work/metrics" | grep 'be2' | awk '{ print $2 }')
    echo "RESULT passive_metric=${m:-none}"
    ip netns exec be2 tc qdisc del dev vb2 root
    if wait_weight 2 100 150; then echo "RESULT be2_back=yes"; else echo "RESULT be2_back=no"; fi
    if grep 'health transition' "$work/tandemd.log" | grep 'backend=be1' | grep -q 'to=down'; then
        echo "RESULT be1_went_down=yes"
    else
        echo "RESULT be1_went_down=no"
    fi
    echo "--- tandemd log (health and passive lines)"
    grep -E 'health transition|passive' "$work/tandemd.log" | tail -20
    exit 0
    """#
}
