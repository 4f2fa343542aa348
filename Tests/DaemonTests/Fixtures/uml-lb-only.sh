#!/bin/bash
# Runs INSIDE a UML kernel (scripts/uml-run): issue 16's load-balancer-only site. No hosts, no VMs:
# two plain machines as directors (tandemd in two network namespaces, each with its own IPVS table)
# in front of two bare-metal real servers given by address. The file validates, VRRP elects lb1,
# both kernels get the service, and a killed real server is drained (weight 0) while the other
# keeps its weight. Prints RESULT lines the Swift test parses. Every wait is bounded.
#
#   ns sw : bridge br0
#   ns d1 : machine lb1, eth0 10.0.0.11, priority 150    ns d2 : machine lb2, eth0 10.0.0.12, priority 100
#   ns r1 : real server web1 10.0.0.21:8080              ns r2 : real server 10.0.0.22:8080 (unnamed)
#
# usage: uml-lb-only.sh /path/to/tandemd /path/to/tandemctl
set -u
TANDEMD=$1
TANDEMCTL=$2
PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3
work=$(mktemp -d /tmp/lb-only-uml.XXXXXX)
P="lb$RANDOM"
PIDS=()
NS=()
cleanup() {
    local p n
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
    for n in "${NS[@]}"; do ip netns del "$n" 2>/dev/null; done
}
trap cleanup EXIT
ms() { date +%s%3N; }

cat > "$work/topo.yaml" <<'YAML'
site: lb-only-uml
machines:
  - {name: lb1, addresses: [10.0.0.11/24]}
  - {name: lb2, addresses: [10.0.0.12/24]}
services:
  - name: web
    vip: 10.0.0.100
    port: 8080
    scheduler: rr
    forwarding: dr
    members:
      - {name: web1, address: 10.0.0.21, weight: 100}
      - {address: 10.0.0.22, weight: 100}
    check: {kind: tcp, interval: 500ms, timeout: 300ms, rise: 1, fall: 2}
directors:
  members: [lb1, lb2]
  vrid: 61
  priorities: {lb1: 150, lb2: 100}
  advert_interval: 300ms
  interface: eth0
YAML
out=$("$TANDEMCTL" validate "$work/topo.yaml" 2>&1); rc=$?
echo "RESULT validate_rc=$rc"
echo "RESULT validate_out=$(tr '\n' ' ' <<< "$out")"
echo "RESULT bound_ms=$(( 2 * 500 + 300 ))"

for n in sw d1 d2 r1 r2; do ip netns add "$P-$n"; NS+=("$P-$n"); ip -n "$P-$n" link set lo up; done
ip -n "$P-sw" link add br0 type bridge
ip -n "$P-sw" link set br0 type bridge forward_delay 0 mcast_snooping 0
ip -n "$P-sw" link set br0 up
i=0; addrs=(10.0.0.11 10.0.0.12 10.0.0.21 10.0.0.22)
for n in d1 d2 r1 r2; do
    ip -n "$P-$n" link add eth0 type veth peer name "$n" netns "$P-sw"
    ip -n "$P-sw" link set "$n" master br0
    ip -n "$P-sw" link set "$n" up
    ip -n "$P-$n" addr add "${addrs[$i]}/24" dev eth0
    ip -n "$P-$n" link set eth0 up
    i=$((i + 1))
done
# Bare-metal DR real servers: the VIP on lo, never answered for by ARP; a TCP server on :8080.
for n in r1 r2; do
    ip -n "$P-$n" addr add 10.0.0.100/32 dev lo
    ip netns exec "$P-$n" sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2
    ip netns exec "$P-$n" "$PY" -m http.server 8080 --bind 0.0.0.0 --directory "$work" >/dev/null 2>&1 &
    PIDS+=($!)
    eval "srv_$n=$!"
done

for n in d1 d2; do
    node=lb${n#d}
    ip netns exec "$P-$n" "$TANDEMD" --topology "$work/topo.yaml" --node "$node" --status-listen 127.0.0.1:9595 \
        --resync-seconds 1 > "$work/$n.log" 2>&1 &
    PIDS+=($!)
done

weight() { # NS ADDR:PORT -> the real server's weight in NS's table, or none
    ip netns exec "$1" ipvsadm -Ln 2>/dev/null | awk -v rs="$2" '$1 == "->" && $2 == rs { print $4; found = 1 } END { if (!found) print "none" }'
}
wait_for() { # MAX_MS START_MS CMD...: prints the ms from START until CMD succeeds, or TIMEOUT
    local max=$1 start=$2; shift 2
    for _ in $(seq 1 2000); do
        "$@" && { echo $(( $(ms) - start )); return 0; }
        [ $(( $(ms) - start )) -gt "$max" ] && { echo TIMEOUT; return 1; }
        sleep 0.02
    done
    echo TIMEOUT; return 1
}
has_vip() { ip -n "$1" -4 addr show dev eth0 2>/dev/null | grep -q 'inet 10.0.0.100/'; }
weight_is() { [ "$(weight "$1" "$2")" = "$3" ]; }

t0=$(ms)
echo "RESULT d1_master_ms=$(wait_for 20000 "$t0" has_vip "$P-d1")"
for n in d1 d2; do
    echo "RESULT ${n}_web1_up_ms=$(wait_for 20000 "$t0" weight_is "$P-$n" 10.0.0.21:8080 100)"
    echo "RESULT ${n}_other_up_ms=$(wait_for 20000 "$t0" weight_is "$P-$n" 10.0.0.22:8080 100)"
done
has_vip "$P-d2" && echo "RESULT d2_has_vip=yes" || echo "RESULT d2_has_vip=no"
echo "RESULT d1_table=$(ip netns exec "$P-d1" ipvsadm -Ln 2>&1 | tr '\n' ';')"
sleep 1

# The killed member: web1's server dies; both directors check it and drain it.
t1=$(ms)
kill -9 "$srv_r1"
echo "RESULT d1_drain_ms=$(wait_for 10000 "$t1" weight_is "$P-d1" 10.0.0.21:8080 0)"
echo "RESULT d2_drain_ms=$(wait_for 10000 "$t1" weight_is "$P-d2" 10.0.0.21:8080 0)"
echo "RESULT d1_other_weight=$(weight "$P-d1" 10.0.0.22:8080)"
out=$(ip netns exec "$P-d1" "$TANDEMCTL" status --member web/web1 --member web/10.0.0.22:8080 2>&1); rc=$?
echo "RESULT status_rc=$rc"
echo "RESULT status_out=$(tr '\n' ' ' <<< "$out")"
echo "--- d1 log (tail)"; tail -n 12 "$work/d1.log"
rm -rf "$work"
