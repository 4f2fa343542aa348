#!/bin/bash
# Runs INSIDE a UML kernel (scripts/uml-run): a tandemd director pair in two network namespaces, each
# with its own IPVS table and sync daemons, in front of one DR real server. A client holds one TCP
# connection through the VIP, the master's whole namespace dies (tandemd kill -9, link down), and the
# client keeps talking over the same connection, or not.
#
#   ns sw : bridge br0            ns c  : client      10.0.0.2
#   ns d1 : director, prio 150    ns d2 : director, prio 100     (eth0 10.0.0.11 / .12, VIP 10.0.0.100)
#   ns rs : real server 10.0.0.21, VIP on lo (DR), a TCP echo server on :7000
#
# usage: uml-director.sh /path/to/tandemd MODE...   (MODE: sync | nosync | graceful; one phase per mode;
#        graceful: with sync, and the master gets SIGTERM instead of kill -9 and link down)
# Prints `RESULT <mode>.<key>=<value>` lines the Swift test parses. Every wait is bounded.
set -u
TANDEMD=$1; shift
PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3
work=$(mktemp -d /tmp/director-uml.XXXXXX)
# shellcheck source=uml-lan.sh
source "$(dirname "${BASH_SOURCE[0]}")/uml-lan.sh"
trap lan_cleanup EXIT

cat > "$work/echo.py" <<'PY'
import socketserver, sys
class H(socketserver.StreamRequestHandler):
    def handle(self):
        try:
            for line in self.rfile:
                self.wfile.write(line); self.wfile.flush()
        except OSError:
            pass
class S(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
S(("0.0.0.0", 7000), H).serve_forever()
PY

# One connection, one line every 50 ms, for SECONDS; every echo's arrival time goes to LOG.
cat > "$work/client.py" <<'PY'
import socket, sys, time
host, port, seconds, log = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
out = open(log, "w", buffering=1)
s = socket.create_connection((host, port), timeout=5)
s.settimeout(6)
f = s.makefile("rb")
out.write("connected %d\n" % int(time.time() * 1000))
end = time.time() + seconds
n = 0
try:
    while time.time() < end:
        n += 1
        s.sendall(b"%d\n" % n)
        line = f.readline()
        if line.strip() != b"%d" % n:
            out.write("error bad-echo %r\n" % line); sys.exit(1)
        out.write("ok %d %d\n" % (n, int(time.time() * 1000)))
        time.sleep(0.05)
except Exception as e:
    out.write("error %s %s\n" % (type(e).__name__, e)); sys.exit(1)
out.write("done %d\n" % n)
PY

cat > "$work/topo.yaml" <<'YAML'
site: uml
hosts:
  - {name: h1, address: 192.0.2.1, cpus: 4, memory: 4GiB}
  - {name: h2, address: 192.0.2.2, cpus: 4, memory: 4GiB}
vms:
  - {name: d1, role: director, vcpus: 1, memory: 1GiB, addresses: [10.0.0.11/24]}
  - {name: d2, role: director, vcpus: 1, memory: 1GiB, addresses: [10.0.0.12/24]}
  - {name: rs1, role: gums, vcpus: 1, memory: 1GiB, addresses: [10.0.0.21/24]}
services:
  - name: echo
    vip: 10.0.0.100
    port: 7000
    forwarding: dr
    members:
      - {vm: rs1, port: 7000, weight: 100}
    check: {kind: tcp, interval: 500ms, timeout: 400ms, rise: 1, fall: 3}
directors:
  members: [d1, d2]
  vrid: 51
  priorities: {d1: 150, d2: 100}
  advert_interval: 300ms
  interface: eth0
daemon: {repair_interval: 1s}
YAML
# The control run: the same pair without connection sync.
sed 's/^  interface: eth0$/  interface: eth0\n  connection_sync: false/' "$work/topo.yaml" > "$work/topo-nosync.yaml"
grep -q '^  connection_sync: false$' "$work/topo-nosync.yaml" || { echo "could not derive the no-sync topology" >&2; exit 1; }

served() { ip netns exec "$1" ipvsadm -Ln 2>/dev/null | grep -q '10.0.0.21:7000 *Route *100'; }
no_vip() { ! has_vip "$1"; }
gone() { ! kill -0 "$1" 2>/dev/null; }

phase() {
    local mode=$1 P="td$RANDOM" n
    local R="RESULT $mode"
    lan_up "$P" c=10.0.0.2 d1=10.0.0.11 d2=10.0.0.12 rs=10.0.0.21
    # DR real server: the VIP on lo, never answered for by ARP.
    ip -n "$P-rs" addr add 10.0.0.100/32 dev lo
    ip netns exec "$P-rs" sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 \
        net.ipv4.conf.eth0.arp_ignore=1 net.ipv4.conf.eth0.arp_announce=2
    ip netns exec "$P-rs" "$PY" "$work/echo.py" >/dev/null 2>&1 &
    PIDS+=($!)

    local topo="$work/topo.yaml"
    [ "$mode" = nosync ] && topo="$work/topo-nosync.yaml"
    for n in d1 d2; do
        ip netns exec "$P-$n" "$TANDEMD" --topology "$topo" --node "$n" --status-listen 127.0.0.1:9595 \
            > "$work/$mode-$n.log" 2>&1 &
        PIDS+=($!)
        eval "pid_$n=$!"
    done
    echo "$R.d1_master_ms=$(wait_for 20000 has_vip "$P-d1")"
    echo "$R.d1_served_ms=$(wait_for 20000 served "$P-d1")"
    echo "$R.d2_served_ms=$(wait_for 20000 served "$P-d2")"
    echo "$R.d1_daemons=$(ip netns exec "$P-d1" ipvsadm -L --daemon 2>&1 | tr '\n' ';')"
    echo "$R.d2_daemons=$(ip netns exec "$P-d2" ipvsadm -L --daemon 2>&1 | tr '\n' ';')"
    has_vip "$P-d2" && echo "$R.dual_master_at_start=yes" || echo "$R.dual_master_at_start=no"

    # The client: 11 s of echoes on one connection. The master dies about 3.5 s in (the sync daemon
    # sends its buffer at least every 2 s, and a connection is synced from its 3rd packet).
    rm -f "$work/$mode-client.log"
    ip netns exec "$P-c" "$PY" "$work/client.py" 10.0.0.100 7000 11 "$work/$mode-client.log" &
    local client=$!
    PIDS+=($client)
    wait_for 10000 grep -qs '^ok 5 ' "$work/$mode-client.log" >/dev/null || echo "$R.client_start=TIMEOUT"
    sleep 3
    local conn
    conn=$(ip netns exec "$P-d2" ipvsadm -Lnc 2>/dev/null | grep -c '10.0.0.2:.*10.0.0.100:7000')
    echo "$R.backup_conn_entries=$conn"
    local kill_ms; kill_ms=$(ms)
    if [ "$mode" = graceful ]; then
        # A clean stop: tandemd resigns (priority 0, VIPs off) and exits; the link stays up.
        kill -TERM "$pid_d1"
        echo "$R.d1_vip_gone_ms=$(wait_for 10000 no_vip "$P-d1")"
        echo "$R.takeover_ms=$(wait_for 10000 has_vip "$P-d2")"
        echo "$R.d1_exit_ms=$(wait_for 10000 gone "$pid_d1")"
    else
        kill -9 "$pid_d1"; ip -n "$P-d1" link set eth0 down
        echo "$R.takeover_ms=$(wait_for 10000 has_vip "$P-d2")"
    fi
    wait "$client"; echo "$R.client_rc=$?"
    echo "$R.client_last=$(tail -n 1 "$work/$mode-client.log")"
    # The longest gap between echoes, and how many echoes came after the kill.
    awk -v k="$kill_ms" '$1 == "ok" { if (prev) { g = $3 - prev; if (g > max) max = g }; prev = $3; if ($3 > k) after++ }
        END { printf "max_gap_ms=%d\nafter_kill=%d\n", max, after }' "$work/$mode-client.log" | sed "s/^/$R./"
    # The survivor's view: /status names the transition and its reason; /metrics counts it.
    local st
    st=$(ip netns exec "$P-d2" curl -s --max-time 5 http://127.0.0.1:9595/status)
    echo "$R.d2_status_state=$(printf '%s' "$st" | "$PY" -c 'import json,sys; d=json.load(sys.stdin)["director"]; print(d["state"])' 2>&1)"
    echo "$R.d2_status_reason=$(printf '%s' "$st" | "$PY" -c 'import json,sys; d=json.load(sys.stdin)["director"]; print(d["lastTransition"]["reason"])' 2>&1)"
    echo "$R.d2_status_sync=$(printf '%s' "$st" | "$PY" -c 'import json,sys; d=json.load(sys.stdin)["director"]; print(",".join("%s:%d" % (r["role"], r["syncID"]) for r in d.get("connectionSyncRunning") or []))' 2>&1)"
    # Transitions to master counted on d2 (1, or 2 when d2 briefly led while d1 was still starting).
    echo "$R.d2_metric_master=$(ip netns exec "$P-d2" curl -s --max-time 5 http://127.0.0.1:9595/metrics |
        awk '/^tandem_vrrp_transitions_total[{].*to="master"/ { s += $NF } END { print s + 0 }')"
    echo "$R.d2_metric_state=$(ip netns exec "$P-d2" curl -s --max-time 5 http://127.0.0.1:9595/metrics |
        awk '/^tandem_vrrp_state[{].*state="master"/ { print $NF }')"
    for n in d1 d2; do echo "--- $mode: $n log (vrrp and sync)"; grep -E 'vrrp|sync|started' "$work/$mode-$n.log" | head -n 12; done
    lan_cleanup
}

for mode in "$@"; do phase "$mode"; done
rm -rf "$work"
