#!/bin/bash
# The lab's director, run INSIDE the user-mode-linux kernel by lab-uml-init.sh (docs/lab.md).
# Brings up the two lab interfaces (vec0 = front, vec1 = back), puts the VIPs on lo, enables
# forwarding (IPVS NAT), starts tandemd, and until $CTL/stop appears (bounded by
# LAB_UML_MAX_S) appends the kernel's IPVS table (/proc/net/ip_vs) to $CTL/ipvs.log as
#   <epoch ms> <vip:port> <real server:port> <weight> <active conns> <inactive conns>
# so the host can time drains against the kernel itself (timestamps are taken here, so a late
# hostfs write-back does not distort them). Only changes are logged (any weight or connection
# count). On stop: SIGTERM tandemd, save the final table.
set -u
C=/mnt/ctl
. "$C/env"
ms() { date +%s%3N; }
echo "director: up at $(ms), kernel $(uname -r)"
ip link set lo up
ip link set vec0 up && ip addr add "$LAB_FRONT_ADDR" dev vec0
ip link set vec1 up && ip addr add "$LAB_BACK_ADDR" dev vec1
for v in $LAB_VIPS; do ip addr add "$v/32" dev lo; done
echo 1 > /proc/sys/net/ipv4/ip_forward
# Tandem drains with weight 0; connections to a member that is *removed* should not linger.
{ echo 1 > /proc/sys/net/ipv4/vs/expire_nodest_conn; } 2>/dev/null || true
ip -br addr
"$LAB_BIN/tandemd" --topology "$LAB_TOPOLOGY" --node "$LAB_NODE" --status-listen "$LAB_STATUS_LISTEN" \
    > "$C/tandemd.log" 2>&1 &
td=$!
echo "$td" > "$C/tandemd.uml-pid"
echo "director: tandemd pid $td (inside the UML)"
# The kernel table poller: pure bash builtins (no fork per sample: a fork costs milliseconds in a
# UML on a loaded machine), reading /proc/net/ip_vs every ~50 ms and appending the whole table,
# timestamped, whenever anything in it changed.
. "$LAB_REPO/scripts/lib/ipvs-sampler.sh"
mkfifo /tmp/lab-tick && exec 9<>/tmp/lab-tick
now_ms; deadline=$(( T + LAB_UML_MAX_S * 1000 ))
while [ ! -e "$C/stop" ]; do
    now_ms
    [ "$T" -gt "$deadline" ] && { echo "director: LAB_UML_MAX_S=${LAB_UML_MAX_S}s reached, stopping"; break; }
    kill -0 "$td" 2>/dev/null || { echo "director: tandemd exited"; td=""; break; }
    ipvs_sample "$C/ipvs.log"
    read -t 0.05 -u 9 _ || true
done
if [ -n "$td" ]; then
    kill -TERM "$td" 2>/dev/null
    for _ in $(seq 1 50); do kill -0 "$td" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$td" 2>/dev/null && { echo "director: tandemd ignored SIGTERM for 5 s; SIGKILL"; kill -9 "$td"; }
fi
ipvsadm -Ln > "$C/ipvs-final.txt" 2>&1
echo "director: done at $(ms)"
