#!/bin/bash
# Host side of SingleWriterKernelTests (docs/database.md, "Single writer end to end"): tandemd, a
# real 3-node MariaDB ring and a real IPVS kernel together.
#
#   single-writer-e2e.sh TANDEMD RING_STATE_DIR [MAX_SECONDS]
#
# The ring (scripts/ring, started by the test with RealRing) runs on this machine's loopback,
# node1 -> node2 -> node3 -> node1. As in scripts/lab-e2e: a namespace $P-fab holds a bridge and a
# tap; user-mode-linux runs tandemd (Fixtures/uml-single-writer-init.sh) with vec0 on that tap; a
# namespace $P-db on the bridge holds the ring's three topology addresses, each a socat relay to its
# node's unix socket (so MariaDB sees 'localhost'). Service `mysql`: scheduler fo, mariadb check,
# members db1 (weight 100), db2 (80), db3 (50) = ring nodes 1..3, so it is single-writer.
#
# Scenarios, read from the UML kernel's /proc/net/ip_vs (ipvs.log) and tandemd's /status:
#   a  start: exactly one member weighted, db1 (highest weight)
#   c  POST /drain db1: the writes move to db2 (caught up, next weight); undrain: no bounce back
#   b  STOP SLAVE on node1 (it now lags db2's writes), kill -9 node2 (the writer): the writes go to
#      db3 (caught up, weight 50), never to db1 (weight 100, lagging)
#   d  SIGHUP with an unreadable monitor password file: refused, the ring monitor unchanged; SIGHUP
#      with db2 dropped from the ring: the monitor stops probing it, the writer stays db3
# Prints RESULT key=value lines. Needs root (namespaces). Everything is torn down on exit.
set -u
TANDEMD=${1:?usage: single-writer-e2e.sh TANDEMD RING_STATE_DIR [MAX_SECONDS]}
RING_DIR=${2:?usage: single-writer-e2e.sh TANDEMD RING_STATE_DIR [MAX_SECONDS]}
MAX_S=${3:-150}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
T_START=$(date +%s%3N)
log() { printf '[%6.1fs] %s\n' "$(awk -v a="$T_START" -v b="$(date +%s%3N)" 'BEGIN{print (b-a)/1000}')" "$*"; }
die() { echo "RESULT error=$*"; echo "single-writer-e2e: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "needs root: it creates network namespaces, a bridge and a tap inside one"
for tool in linux.uml:user-mode-linux socat:socat curl:curl jq:jq ip:iproute2 mariadb:mariadb-client; do
    command -v "${tool%%:*}" >/dev/null 2>&1 || die "${tool%%:*} not found: install it (apt-get install -y ${tool#*:})"
done
[ -d /usr/lib/uml/modules ] || die "/usr/lib/uml/modules missing: install user-mode-linux"
[ -x "$TANDEMD" ] || die "$TANDEMD is not an executable tandemd: build it (swift build --product tandemd)"
[ -r "$RING_DIR/ring.env" ] || die "$RING_DIR/ring.env not found: start the ring with scripts/ring up"
# shellcheck disable=SC1091
source "$RING_DIR/ring.env"
[ "${RING_NODES:-0}" = 3 ] || die "the ring in $RING_DIR has ${RING_NODES:-?} nodes; this test needs 3"

P="tsw$$"
NETNS=(); PIDS=(); UML_PID=""
# State outside /tmp: the UML sees this machine's files, but gets its own /tmp.
mkdir -p "$HOME/.cache/tandem-tests"
W=$(mktemp -d "$HOME/.cache/tandem-tests/single-writer.XXXXXX")
cleanup() {
    set +e
    if [ -n "$UML_PID" ]; then
        touch "$W/stop"
        for _ in $(seq 1 60); do [ -f "$W/director.rc" ] && break; kill -0 "$UML_PID" 2>/dev/null || break; sleep 0.1; done
        sleep 0.2
        kill -9 -- "-$UML_PID" 2>/dev/null; kill -9 "$UML_PID" 2>/dev/null
    fi
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    sleep 0.1
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
    wait 2>/dev/null
    for n in "${NETNS[@]}"; do ip netns del "$n" 2>/dev/null; done
    if [ -n "${SW_KEEP:-}" ]; then echo "single-writer-e2e: kept $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
( end=$(( $(date +%s) + MAX_S )); while [ "$(date +%s)" -lt "$end" ]; do kill -0 $$ 2>/dev/null || exit 0; sleep 1; done
  echo "RESULT error=MAX_SECONDS ${MAX_S} reached"; kill -TERM $$ ) &
PIDS+=($!)

# --- the network: bridge + tap in $P-fab, the ring's addresses in $P-db ---------------------------
NET=10.78.2
DIRECTOR=$NET.1
VIP=10.78.0.14
declare -A ADDR=([1]=$NET.41 [2]=$NET.42 [3]=$NET.43)
ip netns add "$P-fab" && NETNS+=("$P-fab") || die "ip netns add failed"
ip netns add "$P-db" && NETNS+=("$P-db") || die "ip netns add failed"
ip -n "$P-fab" link set lo up; ip -n "$P-db" link set lo up
ip -n "$P-fab" link add br0 type bridge && ip -n "$P-fab" link set br0 up
ip netns exec "$P-fab" sysctl -qw net.bridge.bridge-nf-call-iptables=0 2>/dev/null
ip -n "$P-fab" tuntap add tap0 mode tap && ip -n "$P-fab" link set tap0 master br0 up
ip -n "$P-db" link add eth0 type veth peer name v-db netns "$P-fab"
ip -n "$P-fab" link set v-db master br0 up
for n in 1 2 3; do ip -n "$P-db" addr add "${ADDR[$n]}/24" dev eth0; done
ip -n "$P-db" link set eth0 up
for n in 1 2 3; do
    sock_var="RING_NODE${n}_SOCKET"
    ip netns exec "$P-db" socat "TCP-LISTEN:3306,bind=${ADDR[$n]},reuseaddr,fork" "UNIX-CONNECT:${!sock_var}" \
        > /dev/null 2>> "$W/socat.log" &
    PIDS+=($!)
done

# --- tandemd's files -------------------------------------------------------------------------------
install -m 600 "$RING_MONITOR_PASSWORD_FILE" "$W/monitor.pw"
(umask 077; head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$W/token")
TOKEN=$(cat "$W/token")
cat > "$W/topology.yaml" <<YAML
site: single-writer-e2e
hosts:
  - {name: h1, address: 192.0.2.1, cpus: 8, memory: 16GiB}
  - {name: h2, address: 192.0.2.2, cpus: 8, memory: 16GiB}
  - {name: h3, address: 192.0.2.3, cpus: 8, memory: 16GiB}
vms:
  - {name: dir1, role: director, vcpus: 1, memory: 1GiB, addresses: [$DIRECTOR/24]}
  - {name: db1, role: database, vcpus: 1, memory: 1GiB, addresses: [${ADDR[1]}/24]}
  - {name: db2, role: database, vcpus: 1, memory: 1GiB, addresses: [${ADDR[2]}/24]}
  - {name: db3, role: database, vcpus: 1, memory: 1GiB, addresses: [${ADDR[3]}/24]}
services:
  - name: mysql
    vip: $VIP
    port: 3306
    scheduler: fo
    forwarding: nat
    members:
      - {vm: db1, port: 3306, weight: 100}
      - {vm: db2, port: 3306, weight: 80}
      - {vm: db3, port: 3306, weight: 50}
    check: {kind: mariadb, user: monitor, password_file: $W/monitor.pw, interval: 500ms, timeout: 1s, rise: 2, fall: 2}
database:
  ring: [db1, db2, db3]
  port: 3306
daemon: {token_file: $W/token, repair_interval: 2s}
YAML
TD_DIR=$(cd "$(dirname "$TANDEMD")" && pwd -P)
{
    printf 'SW_WORK=%q\nSW_TANDEMD_DIR=%q\nSW_ADDR=%q\nSW_VIP=%q\nSW_STATUS_LISTEN=%q\nSW_MAX_S=%q\n' \
        "$W" "$TD_DIR" "$DIRECTOR/24" "$VIP" "$DIRECTOR:9595" "$MAX_S"
} > "$W/env"
# The UML's /tmp is its own tmpfs, so a clone under /tmp is invisible in there: the sampler goes to $W.
cp "$HERE/../../../scripts/lib/ipvs-sampler.sh" "$W/ipvs-sampler.sh" || die "scripts/lib/ipvs-sampler.sh not found"
[ "$(basename "$TANDEMD")" = tandemd ] || die "the binary must be named tandemd (got $TANDEMD)"

# --- the director: user-mode-linux on tap0 ----------------------------------------------------------
mkdir -p "$W/umldir"
ip netns exec "$P-fab" linux.uml umid="$P" uml_dir="$W/umldir" mem=640M rootfstype=hostfs rootflags=/ rw \
    init="$HERE/uml-single-writer-init.sh" con=null con0=fd:0,fd:1 vec0:transport=tap,ifname=tap0,gro=1 \
    CTL="$W" quiet < /dev/null > "$W/console.log" 2>&1 &
UML_PID=$!
T_UML=$(date +%s%3N)
log "UML started (pid $UML_PID); ring ports $RING_NODE1_PORT..$RING_NODE3_PORT"

status() { ip netns exec "$P-db" curl -s -m 2 "http://$DIRECTOR:9595/status"; }
post() { ip netns exec "$P-db" curl -s -m 8 -X POST -H "Authorization: Bearer $TOKEN" "http://$DIRECTOR:9595/$1"; }
# The mysql service's single-writer line in /status ("single writer: db1 has the writes (…)").
writer_line() { status | jq -r '.services[] | select(.name == "mysql") | .lastMemberAction // ""' 2>/dev/null; }
# Weights of db1,db2,db3 in the newest kernel snapshot of ipvs.log ("none" if absent).
kernel_weights() {
    awk -v a="${ADDR[1]}:3306" -v b="${ADDR[2]}:3306" -v c="${ADDR[3]}:3306" '
        { if ($1 != t) { t = $1; delete w } w[$3] = $4 }
        END { printf "%s,%s,%s\n", (a in w) ? w[a] : "none", (b in w) ? w[b] : "none", (c in w) ? w[c] : "none" }' \
        "$W/ipvs.log" 2>/dev/null
}
lines() { wc -l < "$W/ipvs.log" 2>/dev/null || echo 0; }
# Highest weight member $1 (1..3) had in any snapshot after line $2 of ipvs.log.
max_weight_since() { tail -n +"$(( $2 + 1 ))" "$W/ipvs.log" 2>/dev/null | awk -v r="${ADDR[$1]}:3306" '$3 == r && $4 > m { m = $4 } END { print m + 0 }'; }
# Waits up to $2 s until the kernel weights are $1; prints the ms since $3 (epoch ms) or TIMEOUT.
wait_kernel() {
    local i
    for ((i = 0; i < $2 * 20; i++)); do
        [ "$(kernel_weights)" = "$1" ] && { echo $(( $(date +%s%3N) - $3 )); return 0; }
        kill -0 "$UML_PID" 2>/dev/null || break
        sleep 0.05
    done
    echo TIMEOUT; return 1
}
sql() { # NODE SQL: as root over the node's socket
    local s="RING_NODE${1}_SOCKET"
    mariadb --defaults-extra-file="$RING_DIR/secrets/root.cnf" --protocol=socket -S "${!s}" --connect-timeout=3 -N -B -e "$2"
}
dump() {
    echo "--- kernel weights now: $(kernel_weights)"
    echo "--- /status mysql"; status | jq -c '.services[] | select(.name == "mysql") | {lastMemberAction, members: [.members[] | {member, state, weight, kernelWeight, drained}]}' 2>/dev/null
    echo "--- ring"; status | jq -c '.ring.nodes[]? | {name, verdict, reachability}' 2>/dev/null
    echo "--- tandemd.log (tail)"; tail -n 25 "$W/tandemd.log" 2>/dev/null
    echo "--- director (console of init)"; tail -n 5 "$W/console.log" 2>/dev/null
}

# --- a: at start, exactly one member weighted: the writer, db1 --------------------------------------
A_MS=$(wait_kernel "100,0,0" 60 "$T_UML") || { dump; die "at start the kernel never held db1=100 db2=0 db3=0 (single writer db1)"; }
WL=$(writer_line)
for _ in $(seq 1 40); do [[ "$WL" == "single writer: db1 has the writes"* ]] && break; sleep 0.1; WL=$(writer_line); done
echo "RESULT a_ms=$A_MS"
# Before every ring node has been probed once, tandemd does not feed the single-writer controller and
# the service has its health weights (fo still sends new connections to the highest weight only):
# report that window, from the first table the kernel held to the first with only the writer weighted.
echo "RESULT a_first_weights=$(awk -v a="${ADDR[1]}:3306" -v b="${ADDR[2]}:3306" -v c="${ADDR[3]}:3306" '
    NR == 1 { t = $1 } $1 != t { exit } { w[$3] = $4 }
    END { printf "%s,%s,%s\n", (a in w) ? w[a] : "none", (b in w) ? w[b] : "none", (c in w) ? w[c] : "none" }' "$W/ipvs.log")"
echo "RESULT a_window_ms=$(awk -v a="${ADDR[1]}:3306" '
    function judge() { if (t != "" && n == 1 && one) { print t - first; found = 1; exit } }
    NR == 1 { first = $1 }
    $1 != t { judge(); t = $1; n = 0; one = 0 }
    $4 > 0 { n++; if ($3 == a) one = 1 }
    END { if (!found) { judge(); if (!found) print "never" } }' "$W/ipvs.log")"
echo "RESULT a_weights=$(kernel_weights)"
echo "RESULT a_status=$WL"
log "a: db1 is the writer, $A_MS ms after the UML started"

# --- c: operator drain of the writer moves the writes ----------------------------------------------
sleep 1
L=$(lines); t0=$(date +%s%3N)
ANS=$(post "drain?service=mysql&member=db1")
C_MS=$(wait_kernel "0,80,0" 15 "$t0")
echo "RESULT c_ms=$C_MS"
echo "RESULT c_weights=$(kernel_weights)"
echo "RESULT c_db3_max=$(max_weight_since 3 "$L")"
echo "RESULT c_answer=$ANS"
echo "RESULT c_status=$(writer_line)"
log "c: drain db1 -> $(kernel_weights) after $C_MS ms ($ANS)"
post "undrain?service=mysql&member=db1" > /dev/null
sleep 1.5
echo "RESULT c_after_undrain=$(kernel_weights)"
echo "RESULT c_after_undrain_status=$(writer_line)"

# --- b: the writer (node2) is stopped while node1 lags: the writes go to db3, never to db1 ---------
sql 1 "STOP SLAVE" || die "STOP SLAVE on node1 failed"
sleep 1   # db2 commits heartbeats node1 never receives (they travel node2 -> node3 -> node1)
L=$(lines)
pid=$(cat "$RING_NODE2_PID_FILE" 2>/dev/null)
grep -q "$RING_DIR/node2/data" "/proc/$pid/cmdline" 2>/dev/null || die "node2's mariadbd (pid '$pid') is not running"
t0=$(date +%s%3N)
kill -9 "$pid"
B_MS=$(wait_kernel "0,0,50" 15 "$t0")
sleep 1   # the lagging node must stay at 0 afterwards too
echo "RESULT b_ms=$B_MS"
echo "RESULT b_weights=$(kernel_weights)"
echo "RESULT b_db1_max=$(max_weight_since 1 "$L")"
echo "RESULT b_status=$(writer_line)"
echo "RESULT b_db1_verdict=$(status | jq -r '.ring.nodes[]? | select(.name == "db1") | .verdict | tostring' 2>/dev/null)"
log "b: kill -9 node2 -> $(kernel_weights) after $B_MS ms"

# --- d: SIGHUP reloads the ring monitor (ReloadFollower "ring") -------------------------------------
reload() { # N: ask the UML for SIGHUP number N, wait (<= 10 s) until /status lastReload changes
    local before now i
    before=$(status | jq -r '.lastReload // ""')
    touch "$W/hup.$1"
    for ((i = 0; i < 100; i++)); do
        now=$(status | jq -r '.lastReload // ""')
        [ -n "$now" ] && [ "$now" != "$before" ] && { echo "$now"; return 0; }
        sleep 0.1
    done
    echo "TIMEOUT"; return 1
}
ring_nodes() { status | jq -r '[.ring.nodes[]?.name] | join(",")'; }
cp "$W/topology.yaml" "$W/good.yaml"
sed "s|password_file: $W/monitor.pw|password_file: $W/missing.pw|" "$W/good.yaml" > "$W/topology.yaml"
echo "RESULT d_refused=$(reload 1)"
echo "RESULT d_refused_nodes=$(ring_nodes)"
sed 's|ring: \[db1, db2, db3\]|ring: [db1, db3]|' "$W/good.yaml" > "$W/topology.yaml"
echo "RESULT d_applied=$(reload 2)"
echo "RESULT d_applied_nodes=$(ring_nodes)"
echo "RESULT d_weights=$(kernel_weights)"
log "d: SIGHUP reloads: refused (missing password file), then db2 removed from the ring"
echo "RESULT total_ms=$(( $(date +%s%3N) - T_START ))"
dump
