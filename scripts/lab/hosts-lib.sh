# shellcheck shell=bash
# What scripts/lab/hosts and scripts/lab/fence_tandemlab share: where a lab host keeps its state,
# which processes make up a host, and how to power one off. Sourced, not run.
#
# A lab host H is a libvirtd in its own network and mount namespace, with its state under
# $STATE_DIR/H (docs: scripts/lab/hosts --help). Its processes are:
#   - libvirtd itself ($STATE_DIR/H/libvirtd.pid);
#   - one libvirt_lxc controller per running domain ($STATE_DIR/H/run/lxc/DOM.pid; driver.pid is
#     libvirtd's own lock, not a controller);
#   - every process in each domain's cgroup (/sys/fs/cgroup/CTRL/machine/lxc-PID-DOM.libvirt-lxc).
# Killing only libvirtd and the controllers leaves the containers running, re-parented to PID 1
# and still answering on their addresses (seen in the lab): a power-off kills all three.
set -u

# These functions use shell builtins only (no fork per process looked at): the fence agent runs
# them on the critical path of a restore, on a machine where every fork costs milliseconds.

hosts_host_dir() { echo "$STATE_DIR/$1"; }

# Reads the first line of file $2 into variable $1 (a pid file may lack its final newline).
hosts_read() {
    local -n into="$1"
    into=""
    [[ -r "$2" ]] || return 1
    read -r into <"$2" 2>/dev/null || [[ -n "$into" ]]
}

# True if pid $1 runs (a zombie does not: it only waits for its parent to reap it, which for a
# killed daemon's orphans can take a while).
hosts_alive() {
    local stat
    hosts_read stat "/proc/$1/stat" || return 1
    stat="${stat##*) }"
    [[ "${stat:0:1}" != Z ]]
}

# Sets HOSTS_LIBVIRTD to the pid in H's libvirtd.pid if that process is alive and is a libvirtd
# using H's config (checking its command line keeps a stale pid file from naming another process).
hosts_find_libvirtd() {
    local pid argv=()
    HOSTS_LIBVIRTD=""
    hosts_read pid "$STATE_DIR/$1/libvirtd.pid" || return 1
    [[ "$pid" =~ ^[0-9]+$ ]] && hosts_alive "$pid" || return 1
    mapfile -d '' -t argv <"/proc/$pid/cmdline" 2>/dev/null || return 1
    [[ " ${argv[*]} " == *" -f $STATE_DIR/$1/etc/libvirtd.conf "* ]] || return 1
    HOSTS_LIBVIRTD="$pid"
}

# The pid in H's libvirtd.pid, printed, if it is H's live libvirtd.
hosts_libvirtd_pid() { hosts_find_libvirtd "$1" && echo "$HOSTS_LIBVIRTD"; }

# Sets HOSTS_RECORDED to the pids H's controllers wrote (run/lxc/DOM.pid), alive or not: they name
# the domains' cgroups, so a dead controller's pid still finds a container it left running.
hosts_find_recorded() {
    local f pid
    HOSTS_RECORDED=()
    for f in "$STATE_DIR/$1"/run/lxc/*.pid; do
        [[ -f "$f" && "${f##*/}" != driver.pid ]] || continue
        hosts_read pid "$f" || continue
        [[ "$pid" =~ ^[0-9]+$ ]] && HOSTS_RECORDED+=("$pid")
    done
    return 0
}

# Sets HOSTS_CGROUPS to the cgroup directories of H's domains (every v1 hierarchy, or the v2 tree).
hosts_find_cgroups() {
    local pid d
    HOSTS_CGROUPS=()
    hosts_find_recorded "$1"
    for pid in "${HOSTS_RECORDED[@]}"; do
        for d in /sys/fs/cgroup/*/machine/lxc-"$pid"-*.libvirt-lxc /sys/fs/cgroup/machine/lxc-"$pid"-*.libvirt-lxc; do
            [[ -d "$d" ]] && HOSTS_CGROUPS+=("$d")
        done
    done
    return 0
}

# Sets HOSTS_PIDS to every live process that makes up H: libvirtd, its libvirt_lxc controllers and
# every process in its domains' cgroups, without duplicates.
hosts_find_pids() {
    local pid comm d
    local -A seen=()
    HOSTS_PIDS=()
    hosts_find_libvirtd "$1" && seen[$HOSTS_LIBVIRTD]=1
    hosts_find_cgroups "$1"
    for pid in "${HOSTS_RECORDED[@]}"; do
        hosts_read comm "/proc/$pid/comm" && [[ "$comm" == libvirt_lxc ]] \
            && hosts_alive "$pid" && seen[$pid]=1
    done
    for d in "${HOSTS_CGROUPS[@]}"; do
        [[ -r "$d/cgroup.procs" ]] || continue
        while read -r pid; do hosts_alive "$pid" && seen[$pid]=1; done <"$d/cgroup.procs"
    done
    HOSTS_PIDS=("${!seen[@]}")
}

# Every process that makes up H, one pid a line.
hosts_all_pids() {
    hosts_find_pids "$1"
    [[ ${#HOSTS_PIDS[@]} -eq 0 ]] || printf '%s\n' "${HOSTS_PIDS[@]}"
}

# Powers H off: SIGKILL to libvirtd, its controllers and every process of its domains, all in one
# kill(1) so the host dies as at a power loss (libvirtd gets no chance to tidy up), repeated until
# none is left (a domain may fork while we kill). Bounded: 50 rounds of 20 ms. Returns 1 (and says
# what survives) if anything is still alive after that.
hosts_power_off() {
    local h="$1" i
    for ((i = 0; i < 50; i++)); do
        hosts_find_pids "$h"
        [[ ${#HOSTS_PIDS[@]} -eq 0 ]] && break
        kill -KILL "${HOSTS_PIDS[@]}" 2>/dev/null || true
        sleep 0.02
    done
    hosts_find_pids "$h"
    if [[ ${#HOSTS_PIDS[@]} -gt 0 ]]; then
        echo "host $h: processes still alive after SIGKILL: ${HOSTS_PIDS[*]}" >&2
        return 1
    fi
    # What a crashed host leaves: its domains' empty cgroups (named after dead controllers, so
    # they never clash) and stale run/lxc files; libvirtd marks the domains shut off when it boots.
    # One attempt at the cgroups here (a fence must not wait for them); `boot` and `down` finish.
    local d
    hosts_find_cgroups "$h"
    for d in "${HOSTS_CGROUPS[@]}"; do rmdir "$d" 2>/dev/null || true; done
    return 0
}

# Removes the empty cgroups of H's dead domains. A killed task leaves its cgroup a moment after it
# stops counting as alive, so rmdir is retried (bounded: 50 rounds of 20 ms).
hosts_remove_cgroups() {
    local d i left
    for ((i = 0; i < 50; i++)); do
        hosts_find_cgroups "$1"
        left=0
        for d in "${HOSTS_CGROUPS[@]}"; do rmdir "$d" 2>/dev/null || left=1; done
        [[ $left -eq 0 ]] && return 0
        sleep 0.02
    done
    echo "host $1: cgroups not removed: ${HOSTS_CGROUPS[*]}" >&2
}

# Power state of H: "on" (libvirtd or any domain process alive), "off" (nothing alive).
hosts_power_state() {
    hosts_find_pids "$1"
    if [[ ${#HOSTS_PIDS[@]} -gt 0 ]]; then echo on; else echo off; fi
}
