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
here=$(dirname "${BASH_SOURCE[0]}")
# shellcheck source=uml-lan.sh
source "$here/uml-lan.sh"
trap lan_cleanup EXIT
cp "$here/lb-only-uml.yaml" "$work/topo.yaml"
out=$("$TANDEMCTL" validate "$work/topo.yaml" 2>&1); rc=$?
echo "RESULT validate_rc=$rc"
echo "RESULT validate_out=$(tr '\n' ' ' <<< "$out")"
echo "RESULT bound_ms=$(( 2 * 500 + 300 ))"

lan_up "$P" d1=10.0.0.11 d2=10.0.0.12 r1=10.0.0.21 r2=10.0.0.22
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
        > "$work/$n.log" 2>&1 &
    PIDS+=($!)
done

weight() { # NS ADDR:PORT -> the real server's weight in NS's table, or none
    ip netns exec "$1" ipvsadm -Ln 2>/dev/null | awk -v rs="$2" '$1 == "->" && $2 == rs { print $4; found = 1 } END { if (!found) print "none" }'
}
weight_is() { [ "$(weight "$1" "$2")" = "$3" ]; }

t0=$(ms)
echo "RESULT d1_master_ms=$(WAIT_START=$t0 wait_for 20000 has_vip "$P-d1")"
for n in d1 d2; do
    echo "RESULT ${n}_web1_up_ms=$(WAIT_START=$t0 wait_for 20000 weight_is "$P-$n" 10.0.0.21:8080 100)"
    echo "RESULT ${n}_other_up_ms=$(WAIT_START=$t0 wait_for 20000 weight_is "$P-$n" 10.0.0.22:8080 100)"
done
has_vip "$P-d2" && echo "RESULT d2_has_vip=yes" || echo "RESULT d2_has_vip=no"
echo "RESULT d1_table=$(ip netns exec "$P-d1" ipvsadm -Ln 2>&1 | tr '\n' ';')"
sleep 1

# The killed member: web1's server dies; both directors check it and drain it.
t1=$(ms)
kill -9 "$srv_r1"
echo "RESULT d1_drain_ms=$(WAIT_START=$t1 wait_for 10000 weight_is "$P-d1" 10.0.0.21:8080 0)"
echo "RESULT d2_drain_ms=$(WAIT_START=$t1 wait_for 10000 weight_is "$P-d2" 10.0.0.21:8080 0)"
echo "RESULT d1_other_weight=$(weight "$P-d1" 10.0.0.22:8080)"
out=$(ip netns exec "$P-d1" "$TANDEMCTL" status --member web/web1 --member web/10.0.0.22:8080 2>&1); rc=$?
echo "RESULT status_rc=$rc"
echo "RESULT status_out=$(tr '\n' ' ' <<< "$out")"
echo "--- d1 log (tail)"; tail -n 12 "$work/d1.log"
rm -rf "$work"
