# shellcheck shell=bash
# pair.sh: the director-pair lab (docs/drills.md), INSIDE one user-mode-linux kernel. Sourced by
# scripts/drill-failover and scripts/demo; it only builds the lab and writes the drill file: the
# drills themselves are `tandemctl drill` runs in the client's namespace, their faults the hooks of
# scripts/lab/hooks.
#
#   $LAB-sw  br0 service 10.99.0.0/24 (the bridge is the witness, 10.99.0.3), br1 heartbeat
#            10.98.0.0/24, br2 management 10.97.0.0/24; ports a1 b1 c1 w1 w2 | ah1 bh1 | am1 bm1 cm1
#   $LAB-a   da: a0 10.99.0.1, ah0 10.98.0.1, am0 10.97.0.1 (its /status)   priority 150
#   $LAB-b   db: b0 10.99.0.2, bh0 10.98.0.2, bm0 10.97.0.2                 priority 100
#   $LAB-c   the client: c0 10.99.0.9, cm0 10.97.0.9 (tandemctl drill, tandem-stress)
#   $LAB-w1/-w2  backends 10.99.0.11/.12, `gridsvc static` on :8080, the VIP on lo (DR)
# The management network is never hurt by a fault: the drill reads both directors over it.
#
# Needs: PAIR_TANDEMD PAIR_GRIDSVC PAIR_STRESS PAIR_TANDEMCTL PAIR_TOPOLOGY PAIR_TOPOLOGY_WITNESS
# PAIR_KEEPALIVED (for keepalived pairs), PAIR_TANDEMD_ARGS (may be empty), PAIR_ADVERT_MS (may be empty).
# Every wait is bounded; pair_down removes everything pair_up started (processes by pid, namespaces).

PAIR_HOOKS=$(cd "$(dirname "${BASH_SOURCE[0]}")/hooks" && pwd -P)
PAIR_VIP=10.99.0.100
PAIR_PORT=8080
PAIR_PIDS=()
PAIR_FDS=()

pair_log() { if [ -n "${PAIR_PROGRESS:-}" ]; then echo "$*" >> "$PAIR_PROGRESS"; else echo "$*" >&2; fi; }

# pair_up STATE_DIR: the namespaces and links (one `ip -batch` per namespace: about ten forks, not
# forty, which matters in a starved UML), the resident `ip -batch` processes the hooks write to,
# the backends, and lab.env for the hooks.
pair_up() {
    LAB_STATE=$1
    LAB="tp$$r$RANDOM"
    mkdir -p "$LAB_STATE" && mkfifo "$LAB_STATE/tick.fifo" || return 1
    printf 'netns add %s\n' "$LAB-sw" "$LAB-a" "$LAB-b" "$LAB-c" "$LAB-w1" "$LAB-w2" | ip -batch - || return 1
    PAIR_NETNS=("$LAB-sw" "$LAB-a" "$LAB-b" "$LAB-c" "$LAB-w1" "$LAB-w2")
    ip -n "$LAB-sw" -batch - <<EOB || return 1
link add br0 type bridge forward_delay 0 mcast_snooping 0
link set br0 up
addr add 10.99.0.3/24 dev br0
link add br1 type bridge forward_delay 0 mcast_snooping 0
link set br1 up
link add br2 type bridge forward_delay 0 mcast_snooping 0
link set br2 up
link set lo up
EOB
    local n addr b
    for n in a b; do
        [ $n = a ] && addr=1 || addr=2
        ip -n "$LAB-$n" -batch - <<EOB || return 1
link add ${n}0 type veth peer name ${n}1 netns $LAB-sw
link add ${n}h0 type veth peer name ${n}h1 netns $LAB-sw
link add ${n}m0 type veth peer name ${n}m1 netns $LAB-sw
link set lo up
addr add 10.99.0.$addr/24 dev ${n}0
addr add 10.98.0.$addr/24 dev ${n}h0
addr add 10.97.0.$addr/24 dev ${n}m0
link set ${n}0 up
link set ${n}h0 up
link set ${n}m0 up
EOB
    done
    ip -n "$LAB-c" -batch - <<EOB || return 1
link add c0 type veth peer name c1 netns $LAB-sw
link add cm0 type veth peer name cm1 netns $LAB-sw
link set lo up
addr add 10.99.0.9/24 dev c0
addr add 10.97.0.9/24 dev cm0
link set c0 up
link set cm0 up
EOB
    for b in "w1 10.99.0.11" "w2 10.99.0.12"; do
        read -r n addr <<< "$b"
        # Direct routing: the VIP is local on lo and never answered for by ARP.
        ip -n "$LAB-$n" -batch - <<EOB || return 1
link add eth0 type veth peer name $n netns $LAB-sw
link set lo up
addr add $addr/24 dev eth0
addr add $PAIR_VIP/32 dev lo
link set eth0 up
EOB
    done
    ip -n "$LAB-sw" -batch - <<EOB || return 1
link set a1 master br0
link set b1 master br0
link set c1 master br0
link set w1 master br0
link set w2 master br0
link set ah1 master br1
link set bh1 master br1
link set am1 master br2
link set bm1 master br2
link set cm1 master br2
link set a1 up
link set b1 up
link set c1 up
link set w1 up
link set w2 up
link set ah1 up
link set bh1 up
link set am1 up
link set bm1 up
link set cm1 up
EOB
    for n in sw a b; do pair_ip_start "$n" || return 1; done
    (umask 077; echo "pair-lab-token-$RANDOM$RANDOM$RANDOM" > "$LAB_STATE/token")
    pair_env
    for n in w1 w2; do
        ip netns exec "$LAB-$n" sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 \
            net.ipv4.conf.eth0.arp_ignore=1 net.ipv4.conf.eth0.arp_announce=2
        pair_member_script "$n"
        "$LAB_STATE/start-member-$n" || return 1
    done
}

# A resident `ip -force -batch` in $LAB-NS fed through a FIFO, so a fault is one write, no fork.
pair_ip_start() {
    local fd
    mkfifo "$LAB_STATE/ip-$1.fifo" || return 1
    exec {fd}<> "$LAB_STATE/ip-$1.fifo"
    PAIR_FDS+=("$fd")
    ip -n "$LAB-$1" -force -batch "$LAB_STATE/ip-$1.fifo" > "$LAB_STATE/ip-$1.log" 2>&1 &
    PAIR_PIDS+=($!)
    disown $!
}

# lab.env: what the hooks need (scripts/lab/hooks/lib.sh lists the functions).
pair_env() {
    cat > "$LAB_STATE/lab.env" <<ENV
LAB=$LAB
TANDEMCTL=$PAIR_TANDEMCTL
LAB_TOKEN_FILE=$LAB_STATE/token
LAB_STATUS_URLS="http://10.97.0.1:9595 http://10.97.0.2:9595"
lab_ip() { local ns=\$1; shift; echo "\$*" > "\$LAB_STATE/ip-\$ns.fifo"; }
lab_director_pids() {
    PIDS=(); local f p
    for f in "\$LAB_STATE/director-\$1.pid" "\$LAB_STATE/ka-\$1.vrrp.pid" "\$LAB_STATE/ka-\$1.chk.pid"; do
        [ -r "\$f" ] && read -r p < "\$f" && [ -n "\$p" ] && PIDS+=("\$p")
    done
}
lab_start_director() { "\$LAB_STATE/start-director-\$1"; }
lab_member_pid() { PID=""; read -r PID < "\$LAB_STATE/member-\$1.pid"; }
lab_start_member() { "\$LAB_STATE/start-member-\$1"; }
lab_member_link() { lab_ip sw "link set \$1 \$2"; }
lab_ring_sql() { echo "the director-pair lab has no database ring" >&2; return 1; }
ENV
}

# start-member-NAME: `gridsvc static` in the backend's namespace; waits (<= 15 s) until it listens.
pair_member_script() {
    local n=$1
    cat > "$LAB_STATE/start-member-$n" <<SH
#!/usr/bin/env bash
: > "$LAB_STATE/gridsvc-$n.log"
ip netns exec "$LAB-$n" "$PAIR_GRIDSVC" static --listen 0.0.0.0:$PAIR_PORT >> "$LAB_STATE/gridsvc-$n.log" 2>&1 < /dev/null &
echo \$! > "$LAB_STATE/member-$n.pid"
for ((i = 0; i < 300; i++)); do
    grep -q listening "$LAB_STATE/gridsvc-$n.log" 2>/dev/null && exit 0
    read -r -t 0.05 _ <> "$LAB_STATE/tick.fifo" || true
done
echo "gridsvc static in $LAB-$n did not start within 15 s: \$(tail -n 3 "$LAB_STATE/gridsvc-$n.log")" >&2
exit 1
SH
    chmod +x "$LAB_STATE/start-member-$n"
}

# pair_directors DIRECTOR MODE: writes start-director-a/-b for tandemd or keepalived and starts
# da, then db once da holds the VIP (<= 30 s). MODE: normal; witness (the heartbeat on its own
# link, the topology with the witness); nosync (no IPVS connection sync).
pair_directors() {
    local who=$1 mode=$2 side addr vif pif sif topo
    for side in a b; do
        [ $side = a ] && addr=1 || addr=2
        vif=${side}0 pif=${side}0 sif=${side}0 topo=$PAIR_TOPOLOGY
        [ "$mode" = witness ] && { vif=${side}h0; topo=$PAIR_TOPOLOGY_WITNESS; }
        [ "$mode" = nosync ] && sif=""
        if [ "$who" = keepalived ]; then
            "$PAIR_TANDEMCTL" export keepalived "$topo" --node "d$side" --router-id "ka-d$side" --vrrp-interface "$vif" --vip-interface "$pif" \
                --sync-interface "${sif:-none}" ${PAIR_ADVERT_MS:+--advert-interval-ms "$PAIR_ADVERT_MS"} \
                > "$LAB_STATE/ka-$side.conf" 2> "$LAB_STATE/ka-$side.conf.err" || { pair_log "pair: $(cat "$LAB_STATE/ka-$side.conf.err")"; return 1; }
            cat > "$LAB_STATE/start-director-$side" <<SH
#!/usr/bin/env bash
rm -f "$LAB_STATE/ka-$side.pid" "$LAB_STATE/ka-$side.vrrp.pid" "$LAB_STATE/ka-$side.chk.pid"
ip netns exec "$LAB-$side" "$PAIR_KEEPALIVED" -n -l -D -f "$LAB_STATE/ka-$side.conf" -p "$LAB_STATE/ka-$side.pid" \\
    -r "$LAB_STATE/ka-$side.vrrp.pid" -c "$LAB_STATE/ka-$side.chk.pid" >> "$LAB_STATE/ka-$side.log" 2>&1 < /dev/null &
echo \$! > "$LAB_STATE/director-$side.pid"
SH
        else
            # Director settings go in the topology (tandemd has no flags for them): this director's
            # `directors.nodes` entry and the `daemon:` section are appended to a copy of the drill
            # topology, whose last section is the `directors` mapping.
            local node="{interface: $vif}" pairkeys="" mine="$LAB_STATE/topology-$side.yaml"
            [ "$mode" = witness ] && node="{interface: $vif, vip_interface: $pif, primary_address: 10.98.0.$addr, sync_interface: $pif}"
            [ "$mode" = nosync ] && pairkeys="connection_sync: false"
            { if [ -n "${PAIR_ADVERT_MS:-}" ]; then sed "s/^  advert_interval: .*$/  advert_interval: ${PAIR_ADVERT_MS}ms/" "$topo"; else cat "$topo"; fi
              [ -n "$pairkeys" ] && printf '  %s\n' "$pairkeys"
              printf '  nodes:\n    d%s: %s\ndaemon: {token_file: %s, repair_interval: 1s}\n' "$side" "$node" "$LAB_STATE/token"; } > "$mine"
            cat > "$LAB_STATE/start-director-$side" <<SH
#!/usr/bin/env bash
ip netns exec "$LAB-$side" "$PAIR_TANDEMD" --topology "$mine" --node d$side --status-listen 10.97.0.$addr:9595 \\
    ${PAIR_TANDEMD_ARGS:-} >> "$LAB_STATE/tandemd-$side.log" 2>&1 < /dev/null &
echo \$! > "$LAB_STATE/director-$side.pid"
SH
        fi
        chmod +x "$LAB_STATE/start-director-$side"
    done
    "$LAB_STATE/start-director-a"
    local i
    for ((i = 0; i < 600; i++)); do
        ip -n "$LAB-a" -o addr show dev a0 2>/dev/null | grep -q " $PAIR_VIP/" && break
        read -r -t 0.05 _ <> "$LAB_STATE/tick.fifo" || true
    done
    [ "$i" -lt 600 ] || { pair_log "pair: da never held the VIP within 30 s"; return 1; }
    "$LAB_STATE/start-director-b"
}

# pair_drills_file DIRECTOR MODE RATE CONNECTIONS TIMEOUT_MS: the drill file (on stdout): how the
# drill reads each director (tandemd's /status over the management network; keepalived has no such
# API, so a VIP watch in its namespace), the probe, and the lab's hooks.
pair_drills_file() {
    local who=$1 mode=$2 rate=$3 conns=$4 timeout=$5 h=$PAIR_HOOKS side addr
    echo "# Written by scripts/lab/pair.sh for one trial ($who, $mode); docs/drills.md describes the format."
    echo "site: drill"
    echo "service: web"
    echo "directors:"
    for side in a b; do
        [ $side = a ] && addr=1 || addr=2
        if [ "$who" = keepalived ]; then
            echo "  d$side: {watch: [ip, netns, exec, $LAB-$side, $h/vip-watch, ${side}0, $PAIR_VIP]}"
        else
            echo "  d$side: {status: http://10.97.0.$addr:9595}"
        fi
    done
    cat <<YAML
probe: {stress: $PAIR_STRESS, rate: $rate, connections: $conns, timeout: ${timeout}ms, slot: 20ms, hold_connection: 100ms}
timing: {baseline: 3s, observe: 5s, settle: 60s, poll: 20ms}
environment: {LAB_STATE: $LAB_STATE}
hooks:
  director-kill: {inject: [$h/director-kill], heal: [$h/director-start], timeout: 30s}
  director-graceful: {inject: [$h/director-graceful], heal: [$h/director-start], timeout: 30s}
  heartbeat-cut: {inject: [$h/heartbeat-cut], heal: [$h/heartbeat-heal]}
  link-flap: {inject: [$h/link-flap], heal: [$h/link-heal], timeout: 60s}
  backend-kill: {inject: [$h/backend-kill], heal: [$h/backend-start]}
  backend-silent: {inject: [$h/backend-silent], heal: [$h/backend-link-up]}
  planned-drain: {inject: [$h/planned-drain], heal: [$h/planned-undrain], timeout: 60s}
YAML
    # The control: without connection sync the held connection must break, or the check proves nothing.
    [ "$mode" = nosync ] && printf 'expect:\n  director-kill: {connection: breaks}\n'
    return 0
}

# pair_down: everything pair_up and pair_directors started: the FIFOs' writers, every process
# (tracked ones, the directors and backends by their pid files, keepalived's children, anything left
# in the lab's namespaces), then the namespaces.
pair_down() {
    local fd f pid n
    for fd in "${PAIR_FDS[@]}"; do exec {fd}>&-; done
    PAIR_FDS=()
    for f in "$LAB_STATE"/director-*.pid "$LAB_STATE"/ka-*.pid "$LAB_STATE"/member-*.pid; do
        [ -r "$f" ] && read -r pid < "$f" && [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null
    done
    for pid in "${PAIR_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    read -r -t 0.5 _ <> "$LAB_STATE/tick.fifo" 2>/dev/null || true
    for n in "${PAIR_NETNS[@]}"; do
        for pid in $(ip netns pids "$n" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
    done
    for pid in "${PAIR_PIDS[@]}"; do kill -9 "$pid" 2>/dev/null; done
    PAIR_PIDS=()
    for n in "${PAIR_NETNS[@]}"; do ip netns del "$n" 2>/dev/null; done
    PAIR_NETNS=()
}
PAIR_NETNS=()
