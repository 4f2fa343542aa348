#!/bin/bash
# The lab's director, run INSIDE the user-mode-linux kernel by lab-uml-init.sh (docs/lab.md).
# Brings up the two lab interfaces (vec0 = front, vec1 = back), puts the VIPs on lo, enables
# forwarding (IPVS NAT), starts tandemd, and waits for $CTL/stop (bounded by LAB_UML_MAX_S).
# On stop: SIGTERM tandemd, save the final table.
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
# Until the host asks (the stop file), bounded by LAB_UML_MAX_S. The drills read tandemd's /status
# (each member's weight as the kernel holds it), so nothing else runs here.
mkfifo /tmp/lab-tick && exec 9<>/tmp/lab-tick
deadline=$(( SECONDS + LAB_UML_MAX_S ))
while [ ! -e "$C/stop" ]; do
    [ "$SECONDS" -gt "$deadline" ] && { echo "director: LAB_UML_MAX_S=${LAB_UML_MAX_S}s reached, stopping"; break; }
    kill -0 "$td" 2>/dev/null || { echo "director: tandemd exited"; td=""; break; }
    read -t 0.2 -u 9 _ || true
done
if [ -n "$td" ]; then
    kill -TERM "$td" 2>/dev/null
    for _ in $(seq 1 50); do kill -0 "$td" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$td" 2>/dev/null && { echo "director: tandemd ignored SIGTERM for 5 s; SIGKILL"; kill -9 "$td"; }
fi
ipvsadm -Ln > "$C/ipvs-final.txt" 2>&1
echo "director: done at $(ms)"
