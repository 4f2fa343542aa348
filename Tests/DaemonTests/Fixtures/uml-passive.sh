#!/bin/bash
# PassiveWatchTests (real kernel): run by UMLFixtureRun inside scripts/uml-run as
#   bash uml-passive.sh TANDEMD
# A NAT service with passive: on, client traffic, one member silenced with netem loss 100%.
# Prints RESULT key=value lines. Every wait is bounded; everything started is killed on exit.
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
wait_weight 1 100 300
if ! wait_weight 2 100 300; then
    # Seen once in a full run (weight 0 after 30 s, no log kept): say why when it happens again.
    echo "be2 not at weight 100 after 30 s; diagnostics:"
    ipvsadm -Ln 2>&1
    ip netns exec be2 ss -ltn 2>&1
    ps -eo pid,stat,args | grep -E 'backend.py|tandemd' | grep -v grep
    grep -E 'health transition|error|warning' "$work/tandemd.log" | tail -20
fi
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
