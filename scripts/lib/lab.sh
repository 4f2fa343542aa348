# shellcheck shell=bash
# Host-side pieces of the end-to-end lab (scripts/lab-e2e; docs/lab.md). Sourced, not run. It only
# builds the site and writes what the drill hooks (scripts/lab/hooks) need: $LAB_DIR/lab.env and a
# start script per backend; the drills and the acceptance run are tandemctl's.
#
# Layout (every network object lives in a namespace created here and deleted in lab_teardown):
#   $LAB_P-fab   two bridges: brf (front) and brb (back), and the UML's taps tapf / tapb
#   UML          the director: linux.uml started inside $LAB_P-fab, vec0 on tapf, vec1 on tapb;
#                tandemd runs in it against the UML kernel's real IPVS (scripts/lib/lab-director.sh)
#   $LAB_P-cli   the client (tandem-stress, curl, tandemctl status/drain), on brf
#   $LAB_P-NAME  one namespace per gridsvc backend, on brb, default route via the director (NAT)
#   $LAB_P-db    the ring's two addresses (db1, db2) on brb, for tandemd's MariaDB checks
# The MariaDB ring (scripts/ring) runs on this machine's loopback; backends and the db namespace
# reach its nodes through socat relays to the nodes' unix sockets (so MariaDB sees 'localhost').
set -u

LAB_FRONT_NET=10.77.1
LAB_BACK_NET=10.77.2
LAB_DIRECTOR_FRONT=10.77.1.1
LAB_DIRECTOR_BACK=10.77.2.1
LAB_CLIENT_ADDR=10.77.1.100
LAB_STATUS_URL="http://$LAB_DIRECTOR_FRONT:9595"
# name role address preferred-ring-node (members of topology/lab.yaml)
LAB_BACKENDS=(
    "gums1 gums 10.77.2.11 1" "gums2 gums 10.77.2.12 2"
    "voms1 voms 10.77.2.21 1" "voms2 voms 10.77.2.22 2"
    "saz1 saz 10.77.2.31 1"   "saz2 saz 10.77.2.32 2"
)
LAB_VIPS="10.77.0.11 10.77.0.12 10.77.0.13 10.77.0.14"
declare -A LAB_ADDR=([gums1]=10.77.2.11 [gums2]=10.77.2.12 [voms1]=10.77.2.21 [voms2]=10.77.2.22
                     [saz1]=10.77.2.31 [saz2]=10.77.2.32 [db1]=10.77.2.41 [db2]=10.77.2.42)
declare -A LAB_PORT=([gums1]=8443 [gums2]=8443 [voms1]=8443 [voms2]=8443 [saz1]=8443 [saz2]=8443
                     [db1]=3306 [db2]=3306)
declare -A LAB_BPID=()     # backend name -> gridsvc pid
LAB_PIDS=()                # every host process we started (killed by pid in lab_teardown)
LAB_NETNS=()               # every namespace we created
LAB_UML_PID=""

lab_ms() { date +%s%3N; }
lab_log() { local d=$(( $(lab_ms) - LAB_T0 )); printf '[%4d.%ds] %s\n' $((d / 1000)) $((d % 1000 / 100)) "$*" >&2; }
lab_die() { echo "lab-e2e: $*" >&2; exit 1; }
lab_track() { LAB_PIDS+=("$1"); }

# Bounded wait: lab_wait SECONDS CMD... (polls every 0.1 s).
lab_wait() {
    local limit=$(( $1 * 10 )) i; shift
    for ((i = 0; i < limit; i++)); do "$@" && return 0; sleep 0.1; done
    return 1
}

lab_ns() { # NAME: create $LAB_P-NAME with lo up
    ip netns add "$LAB_P-$1" || lab_die "ip netns add $LAB_P-$1 failed"
    LAB_NETNS+=("$LAB_P-$1")
    ip -n "$LAB_P-$1" link set lo up
}

lab_attach() { # NAME BRIDGE ADDR/PREFIX [ADDR/PREFIX...]: veth eth0 in NAME, v-NAME on BRIDGE in fab
    local n=$1 br=$2 a; shift 2
    ip -n "$LAB_P-$n" link add eth0 type veth peer name "v-$n" netns "$LAB_P-fab"
    ip -n "$LAB_P-fab" link set "v-$n" master "$br" up
    for a in "$@"; do ip -n "$LAB_P-$n" addr add "$a" dev eth0; done
    ip -n "$LAB_P-$n" link set eth0 up
}

lab_net_up() {
    local F="$LAB_P-fab" b n
    lab_ns fab
    ip netns exec "$F" sysctl -qw net.bridge.bridge-nf-call-iptables=0 2>/dev/null || true
    for b in brf brb; do ip -n "$F" link add "$b" type bridge && ip -n "$F" link set "$b" up; done
    ip -n "$F" tuntap add tapf mode tap && ip -n "$F" link set tapf master brf up
    ip -n "$F" tuntap add tapb mode tap && ip -n "$F" link set tapb master brb up
    lab_ns cli
    lab_attach cli brf "$LAB_CLIENT_ADDR/24"
    ip -n "$LAB_P-cli" route add 10.77.0.0/24 via "$LAB_DIRECTOR_FRONT"
    # The backends too, through the director (routed, not IPVS): acceptance probes each copy directly.
    ip -n "$LAB_P-cli" route add "$LAB_BACK_NET.0/24" via "$LAB_DIRECTOR_FRONT"
    for b in "${LAB_BACKENDS[@]}"; do
        set -- $b; n=$1
        lab_ns "$n"
        lab_attach "$n" brb "$3/24"
        ip -n "$LAB_P-$n" route add default via "$LAB_DIRECTOR_BACK"
    done
    lab_ns db
    lab_attach db brb "${LAB_ADDR[db1]}/24" "${LAB_ADDR[db2]}/24"
    ip -n "$LAB_P-db" route add default via "$LAB_DIRECTOR_BACK"
}

# The ring on loopback (random base port, three tries, like scripts/demo), schema and seed.
lab_ring_up() {
    local try base
    for try in 1 2 3; do
        base=$(( 20000 + RANDOM % 20000 ))
        if scripts/ring up --nodes 2 --base-port "$base" --state-dir "$LAB_DIR/ring" --owner-pid $$ \
            > "$LAB_DIR/ring.log" 2>&1; then break; fi
        [ "$try" = 3 ] && { cat "$LAB_DIR/ring.log" >&2; lab_die "scripts/ring up failed three times (log above)"; }
        scripts/ring down --state-dir "$LAB_DIR/ring" >/dev/null 2>&1 || true
        rm -rf "$LAB_DIR/ring"
    done
    LAB_RING_UP=1
    # shellcheck disable=SC1091
    source "$LAB_DIR/ring/ring.env"
    LAB_DB=(--db-user "$RING_GRIDSVC_USER" --db-password-file "$RING_GRIDSVC_PASSWORD_FILE" --db-name "$RING_GRID_DATABASE")
    "$LAB_BIN/gridsvc" migrate --db "127.0.0.1:$RING_NODE1_PORT" "${LAB_DB[@]}" > "$LAB_DIR/migrate.log" 2>&1 \
        || { cat "$LAB_DIR/migrate.log" >&2; lab_die "gridsvc migrate failed"; }
    "$LAB_BIN/gridsvc" seed --db "127.0.0.1:$RING_NODE1_PORT" "${LAB_DB[@]}" --seed 42 --users "$LAB_USERS" \
        > "$LAB_DIR/seed.log" 2>&1 || { cat "$LAB_DIR/seed.log" >&2; lab_die "gridsvc seed failed"; }
}

lab_relay() { # NS LISTEN_ADDR LISTEN_PORT UNIX_SOCKET: socat relay inside NS (tracked)
    ip netns exec "$1" socat "TCP-LISTEN:$3,bind=$2,reuseaddr,fork" "UNIX-CONNECT:$4" \
        > /dev/null 2>> "$LAB_DIR/socat.log" &
    lab_track $!
}

lab_relays_up() {
    local b
    for b in "${LAB_BACKENDS[@]}"; do
        set -- $b
        lab_relay "$LAB_P-$1" 127.0.0.1 3301 "$RING_NODE1_SOCKET"
        lab_relay "$LAB_P-$1" 127.0.0.1 3302 "$RING_NODE2_SOCKET"
    done
    lab_relay "$LAB_P-db" "${LAB_ADDR[db1]}" 3306 "$RING_NODE1_SOCKET"
    lab_relay "$LAB_P-db" "${LAB_ADDR[db2]}" 3306 "$RING_NODE2_SOCKET"
}

lab_backend_start() { # NAME: writes $LAB_DIR/start-member-NAME (the drill hooks restart it with it) and runs it
    local name=$1 b role pref db
    for b in "${LAB_BACKENDS[@]}"; do set -- $b; [ "$1" = "$name" ] && { role=$2; pref=$4; }; done
    [ -n "${role:-}" ] || lab_die "no backend named $name"
    if [ "$pref" = 1 ]; then db=127.0.0.1:3301,127.0.0.1:3302; else db=127.0.0.1:3302,127.0.0.1:3301; fi
    cat > "$LAB_DIR/start-member-$name" <<SH
#!/usr/bin/env bash
# gridsvc $name ($role) in its namespace; waits (<= 10 s) until it listens. Written by scripts/lib/lab.sh.
: > "$LAB_DIR/$name.log.new"
ip netns exec "$LAB_P-$name" "$LAB_BIN/gridsvc" --role $role --listen 0.0.0.0:8443 --db $db ${LAB_DB[*]} \\
    > "$LAB_DIR/$name.log.new" 2>&1 < /dev/null &
echo \$! > "$LAB_DIR/member-$name.pid"
for ((i = 0; i < 200; i++)); do
    grep -q " listening on " "$LAB_DIR/$name.log.new" && { cat "$LAB_DIR/$name.log.new" >> "$LAB_DIR/$name.log"; exit 0; }
    sleep 0.05
done
cat "$LAB_DIR/$name.log.new" >&2
echo "gridsvc $name ($role) did not start listening within 10 s" >&2
exit 1
SH
    chmod +x "$LAB_DIR/start-member-$name"
    "$LAB_DIR/start-member-$name" || lab_die "gridsvc $name did not start"
}

# lab.env and the drill file: what `tandemctl drill` and the hooks of scripts/lab/hooks need here.
lab_drills_up() {
    mkfifo "$LAB_DIR/tick.fifo"
    (umask 077; head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$LAB_DIR/token")
    cat > "$LAB_DIR/lab.env" <<ENV
LAB=$LAB_P
TANDEMCTL=$LAB_BIN/tandemctl
LAB_TOKEN_FILE=$LAB_DIR/token
LAB_STATUS_URLS="$LAB_STATUS_URL"
lab_ip() { local ns=\$1; shift; ip -n "$LAB_P-\$ns" \$*; }
lab_director_pids() { PIDS=(); echo "the director runs inside the UML: no director drill in this lab" >&2; }
lab_start_director() { echo "the director runs inside the UML: no director drill in this lab" >&2; return 1; }
lab_member_pid() { PID=""; read -r PID < "$LAB_DIR/member-\$1.pid"; }
lab_start_member() { "$LAB_DIR/start-member-\$1"; }
lab_member_link() { ip -n "$LAB_P-fab" link set "v-\$1" "\$2"; }
lab_ring_sql() {
    local sock=$RING_NODE1_SOCKET; [ "\$1" = 2 ] && sock=$RING_NODE2_SOCKET
    mariadb --defaults-extra-file="$LAB_DIR/ring/secrets/root.cnf" --protocol=socket -S "\$sock" --connect-timeout=3 -N -B -e "\$2"
}
ENV
    local h="$LAB_REPO/scripts/lab/hooks"
    cat > "$LAB_DIR/drills.yaml" <<YAML
# The drill file of the end-to-end lab (written by scripts/lib/lab.sh; the format is in docs/drills.md).
site: tandem-lab
service: gums
directors: {dir1: {status: $LAB_STATUS_URL}}
probe: {stress: $LAB_BIN/tandem-stress, call: gums, rate: $LAB_RATE, connections: $LAB_CONNECTIONS, timeout: ${LAB_TIMEOUT_MS}ms,
        slot: 100ms, hold_connection: 0, seed: 42, users: $LAB_USERS}
timing: {baseline: ${FAULT_AT_S}s, observe: $(( LAB_SCENARIO_S - FAULT_AT_S ))s, settle: 30s, poll: 50ms}
environment: {LAB_STATE: $LAB_DIR}
hooks:
  backend-kill: {inject: [$h/backend-kill], heal: [$h/backend-start]}
  backend-silent: {inject: [$h/backend-silent], heal: [$h/backend-link-up]}
  planned-drain: {inject: [$h/planned-drain], heal: [$h/planned-undrain], timeout: 60s}
  ring-link-stop: {inject: [$h/ring-link-stop], heal: [$h/ring-link-start]}
expect:
  planned-drain: {max_errors: 0}
acceptance:
  services: {gums: {call: gums}, voms: {call: voms}, saz: {call: saz}}
  failover: backend-kill
  probe_seconds: 2
  capacity_seconds: $LAB_SCENARIO_S
  capacity_workers: 16
  mix: {gums: 6, saz: 3, voms: 1}
YAML
}

# Alive and not a zombie (a zombie still answers kill -0).
lab_alive() { [ -r "/proc/$1/stat" ] && ! awk '{ exit ($3 != "Z") }' "/proc/$1/stat" 2>/dev/null; }

# The director: linux.uml in the fabric namespace, PID 1 = scripts/lib/lab-uml-init.sh.
lab_uml_start() {
    local C="$LAB_DIR/uml" k
    mkdir -p "$C/umldir"
    {
        for k in LAB_REPO LAB_BIN LAB_DIR LAB_TOPOLOGY LAB_TOKEN_FILE LAB_VIPS LAB_UML_MAX_S; do
            printf '%s=%q\n' "$k" "${!k}"
        done
        printf 'LAB_NODE=dir1\nLAB_STATUS_LISTEN=%s:9595\n' "$LAB_DIRECTOR_FRONT"
        printf 'LAB_FRONT_ADDR=%s/24\nLAB_BACK_ADDR=%s/24\n' "$LAB_DIRECTOR_FRONT" "$LAB_DIRECTOR_BACK"
    } > "$C/env"
    ip netns exec "$LAB_P-fab" linux.uml umid="tlab$$" uml_dir="$C/umldir" mem="$LAB_UML_MEM" \
        rootfstype=hostfs rootflags=/ rw init="$LAB_REPO/scripts/lib/lab-uml-init.sh" con=null con0=fd:0,fd:1 \
        vec0:transport=tap,ifname=tapf,gro=1 vec1:transport=tap,ifname=tapb,gro=1 CTL="$C" quiet \
        < /dev/null > "$C/console.log" 2>&1 &
    LAB_UML_PID=$!
    disown "$LAB_UML_PID"   # killed with SIGKILL at the end: no "Killed" job notice
}

# Ends the UML: ask (stop file), wait <= 10 s, then kill its whole process group (it setsid()s).
lab_uml_stop() {
    [ -n "$LAB_UML_PID" ] || return 0
    touch "$LAB_DIR/uml/stop"
    local i
    for ((i = 0; i < 100; i++)); do lab_alive "$LAB_UML_PID" || break; [ -f "$LAB_DIR/uml/director.rc" ] && break; sleep 0.1; done
    sleep 0.3
    kill -9 -- "-$LAB_UML_PID" 2>/dev/null
    kill -9 "$LAB_UML_PID" 2>/dev/null
    LAB_UML_PID=""
}

# tandemctl as the operator runs it, from the client namespace.
lab_ctl() { ip netns exec "$LAB_P-cli" "$LAB_BIN/tandemctl" "$@"; }

# Every member of voms, gums and saz up and at its weight in the kernel, as tandemctl status says.
lab_all_serving() {
    local args=() b
    for b in "${LAB_BACKENDS[@]}"; do set -- $b; args+=(--member "$2/$1"); done
    lab_ctl status --url "$LAB_STATUS_URL" "${args[@]}" > /dev/null 2>&1
}

lab_teardown() {
    set +eE
    trap - ERR
    touch "$LAB_DIR/poll.stop" 2>/dev/null
    lab_uml_stop
    local p n f
    # The backends by their pid files (a drill's heal may have restarted one), then everything tracked.
    for f in "$LAB_DIR"/member-*.pid; do [ -r "$f" ] && read -r p < "$f" && LAB_PIDS+=("$p"); done
    for p in "${LAB_PIDS[@]}"; do kill "$p" 2>/dev/null; done
    sleep 0.3
    for p in "${LAB_PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
    wait 2>/dev/null
    [ -n "${LAB_RING_UP:-}" ] && scripts/ring down --state-dir "$LAB_DIR/ring" >/dev/null 2>&1
    for n in "${LAB_NETNS[@]}"; do ip netns del "$n" 2>/dev/null; done
    if [ -n "${LAB_KEEP:-}" ]; then echo "lab-e2e: kept $LAB_DIR" >&2; else rm -rf "$LAB_DIR"; fi
}
