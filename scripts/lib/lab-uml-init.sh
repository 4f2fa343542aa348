#!/bin/bash
# PID 1 of the lab's director, inside user-mode-linux (started by scripts/lib/lab.sh, lab_uml_start).
# The kernel command line gives CTL=<control dir on hostfs>; $CTL/env names everything else.
# Same recipe as scripts/uml-run (docs/ipvs.md): hostfs root, private
# tmpfs on /run /tmp /var/tmp /dev/shm, UML modules through a modprobe wrapper. Then it runs
# scripts/lib/lab-director.sh and halts.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys 2>/dev/null
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t tmpfs -o size=64m tmpfs /mnt
mkdir -p /mnt/ctl /mnt/lib /mnt/host
mount --bind "$CTL" /mnt/ctl
mount --bind / /mnt/host
. /mnt/ctl/env
for d in /run /tmp /var/tmp /dev/shm; do
    [ -d "$d" ] && mount -t tmpfs -o size=128m tmpfs "$d"
done
# Paths the director needs that live under one of those (a clone in /tmp): bind them back.
for p in "$LAB_REPO" "$LAB_BIN" "$LAB_DIR"; do
    for d in /run /tmp /var/tmp /dev/shm; do
        case "$p/" in "$d"/?*) mkdir -p "$p" && mount --bind "/mnt/host$p" "$p" ;; esac
    done
done
mkdir -p /run/lock
ln -s /usr/lib/uml/modules /mnt/lib/modules
printf '#!/bin/sh\nexec /sbin/modprobe -d /mnt "$@"\n' > /mnt/modprobe
chmod 755 /mnt/modprobe
echo /mnt/modprobe > /proc/sys/kernel/modprobe
{
    modprobe -d /mnt ip_vs || echo "lab-uml-init: modprobe ip_vs failed"
    for s in rr wrr lc wlc fo; do modprobe -d /mnt "ip_vs_$s" || echo "lab-uml-init: modprobe ip_vs_$s failed"; done
} > /mnt/ctl/uml-setup.log 2>&1
bash "$LAB_REPO/scripts/lib/lab-director.sh" > /mnt/ctl/director.log 2>&1 < /dev/null
echo $? > /mnt/ctl/director.rc
sync
halt -f -n 2>/dev/null || poweroff -f
