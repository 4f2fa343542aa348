#!/bin/bash
# PID 1 of the single-writer end-to-end test's director, INSIDE user-mode-linux (started by
# single-writer-e2e.sh with CTL=<control dir on hostfs> on the kernel command line; $CTL/env names
# the rest). Same recipe as scripts/uml-run and scripts/lib/lab-uml-init.sh (docs/lab.md,
# docs/ipvs.md): hostfs root, private tmpfs on /run /tmp /var/tmp /dev/shm, UML modules
# through a modprobe wrapper. Then: vec0 (the tap on the test's bridge) up, the VIP on lo, tandemd
# against the kernel's real IPVS, and until $CTL/stop appears (bounded by SW_MAX_S) the kernel table
# appended to $CTL/ipvs.log whenever it changes (and a SIGHUP sent to tandemd for each $CTL/hup.N), as
#   <epoch ms> <vip:port> <real server:port> <weight> <active> <inactive>
# read from /proc/net/ip_vs with bash builtins only (a fork+exec costs 200-500 ms in the UML).
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys 2>/dev/null
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t tmpfs -o size=64m tmpfs /mnt
mkdir -p /mnt/ctl /mnt/lib /mnt/host
mount --bind "$CTL" /mnt/ctl
mount --bind / /mnt/host
C=/mnt/ctl
. "$C/env"
for d in /run /tmp /var/tmp /dev/shm; do
    [ -d "$d" ] && mount -t tmpfs -o size=128m tmpfs "$d"
done
# Paths that live under one of those on the host (a clone or a build in /tmp): bind them back.
for p in "$SW_TANDEMD_DIR" "$SW_WORK"; do
    for d in /run /tmp /var/tmp /dev/shm; do
        case "$p/" in "$d"/?*) mkdir -p "$p" && mount --bind "/mnt/host$p" "$p" ;; esac
    done
done
mkdir -p /run/lock /run/netns
ln -s /usr/lib/uml/modules /mnt/lib/modules
printf '#!/bin/sh\nexec /sbin/modprobe -d /mnt "$@"\n' > /mnt/modprobe
chmod 755 /mnt/modprobe
echo /mnt/modprobe > /proc/sys/kernel/modprobe
{
    modprobe -d /mnt ip_vs || echo "init: modprobe ip_vs failed"
    modprobe -d /mnt ip_vs_fo || echo "init: modprobe ip_vs_fo failed"
} > "$C/setup.log" 2>&1
. "$SW_WORK/ipvs-sampler.sh"   # now_ms, h2a, ipvs_sample
now_ms; echo "director: up at $T, kernel $(uname -r)"
ip link set lo up
ip link set vec0 up && ip addr add "$SW_ADDR" dev vec0
ip addr add "$SW_VIP/32" dev lo
"$SW_TANDEMD_DIR/tandemd" --topology "$SW_WORK/topology.yaml" --node dir1 --status-listen "$SW_STATUS_LISTEN" \
    > "$C/tandemd.log" 2>&1 &
td=$!
echo "director: tandemd pid $td"
mkfifo /tmp/tick && exec 9<>/tmp/tick
now_ms; deadline=$(( T + SW_MAX_S * 1000 ))
hup=1   # the host asks for a SIGHUP by creating $C/hup.1, hup.2, ... (tandemd runs in here)
while [ ! -e "$C/stop" ]; do
    [ -e "$C/hup.$hup" ] && { kill -HUP "$td"; echo "director: SIGHUP $hup"; hup=$(( hup + 1 )); }
    now_ms
    [ "$T" -gt "$deadline" ] && { echo "director: SW_MAX_S=${SW_MAX_S}s reached, stopping"; break; }
    kill -0 "$td" 2>/dev/null || { echo "director: tandemd exited"; td=""; break; }
    ipvs_sample "$C/ipvs.log"
    read -t 0.05 -u 9 _ || true
done
if [ -n "$td" ]; then
    kill -TERM "$td" 2>/dev/null
    for _ in {1..50}; do kill -0 "$td" 2>/dev/null || break; read -t 0.1 -u 9 _; done
    kill -0 "$td" 2>/dev/null && { echo "director: tandemd ignored SIGTERM for 5 s; SIGKILL"; kill -9 "$td"; }
fi
now_ms; echo "director: done at $T"
echo 0 > "$C/director.rc"
sync
halt -f -n 2>/dev/null || poweroff -f
