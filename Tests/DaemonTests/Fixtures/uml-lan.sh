# shellcheck shell=bash
# uml-lan.sh: one LAN of network namespaces on a bridge, and bounded waits, for the UML fixtures
# (uml-director.sh, uml-lb-only.sh). Sourced INSIDE the UML; the fixture traps EXIT with lan_cleanup.

ms() { date +%s%3N; }

# Processes to kill and namespaces to delete when the fixture ends (lan_cleanup).
PIDS=()
NS=()
lan_cleanup() {
    local p n
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
    for n in "${NS[@]}"; do ip netns del "$n" 2>/dev/null; done
    PIDS=(); NS=()
}

# lan_up PREFIX NAME=ADDRESS...: namespace PREFIX-sw holds bridge br0; each NAME gets namespace
# PREFIX-NAME whose eth0 (ADDRESS/24) is a veth on the bridge. Appends every namespace to NS.
lan_up() {
    local p=$1 spec n
    shift
    ip netns add "$p-sw"; NS+=("$p-sw"); ip -n "$p-sw" link set lo up
    ip -n "$p-sw" link add br0 type bridge
    ip -n "$p-sw" link set br0 type bridge forward_delay 0 mcast_snooping 0
    ip -n "$p-sw" link set br0 up
    for spec in "$@"; do
        n=${spec%%=*}
        ip netns add "$p-$n"; NS+=("$p-$n"); ip -n "$p-$n" link set lo up
        ip -n "$p-$n" link add eth0 type veth peer name "$n" netns "$p-sw"
        ip -n "$p-sw" link set "$n" master br0
        ip -n "$p-sw" link set "$n" up
        ip -n "$p-$n" addr add "${spec#*=}/24" dev eth0
        ip -n "$p-$n" link set eth0 up
    done
}

# has_vip NS: the namespace's eth0 holds the VIP 10.0.0.100.
has_vip() { ip -n "$1" -4 addr show dev eth0 2>/dev/null | grep -q 'inet 10.0.0.100/'; }

# wait_for MAX_MS CMD...: prints the ms from WAIT_START (default: now) until CMD succeeds, or TIMEOUT.
wait_for() {
    local max=$1 start=${WAIT_START:-$(ms)}
    shift
    for _ in $(seq 1 4000); do
        "$@" && { echo $(( $(ms) - start )); return 0; }
        [ $(( $(ms) - start )) -gt "$max" ] && { echo TIMEOUT; return 1; }
        sleep 0.02
    done
    echo TIMEOUT; return 1
}
