# shellcheck shell=bash
# vrrp-lab.sh: a two-director VRRP lab in network namespaces on this machine's kernel.
# Sourced by scripts/vrrp-interop and scripts/bench-failover.
#
#   ns  $LAB-sw : bridge br0 (the "switch"), ports a1 and b1
#   ns  $LAB-a  : director A, interface a0 = 10.99.0.1/24   (veth a0 <-> a1)
#   ns  $LAB-b  : director B, interface b0 = 10.99.0.2/24   (veth b0 <-> b1)
#   VIP 10.99.0.100, VRID 51. Witness 10.99.0.3 lives in $LAB-sw on br0.
#   A second, heartbeat-only network: br1 in $LAB-sw, ah0 = 10.98.0.1/24 in A, bh0 = 10.98.0.2/24 in B
#   (used by the partition drill: adverts on ah0/bh0, VIPs on a0/b0).
#
# Everything lives in namespaces this script creates; lab_down removes them and kills (by PID) only
# the processes lab_start_* started. Every wait is bounded.

VRRP_VIP=10.99.0.100
VRRP_VRID=51
VRRP_ADDR_A=10.99.0.1
VRRP_ADDR_B=10.99.0.2
LAB_PIDS=()
LAB=""
LAB_DIR=""

lab_require() {
  local missing=()
  command -v keepalived >/dev/null || missing+=(keepalived)
  command -v ip >/dev/null || missing+=(iproute2)
  command -v jq >/dev/null || missing+=(jq)
  if [ ${#missing[@]} -gt 0 ]; then
    "$(dirname "${BASH_SOURCE[0]}")/ensure-packages" "${missing[@]}" || true
  fi
  command -v keepalived >/dev/null || { echo "FAIL prerequisites: keepalived not found (Debian package keepalived)"; return 1; }
  command -v ip >/dev/null || { echo "FAIL prerequisites: ip not found (Debian package iproute2)"; return 1; }
  command -v jq >/dev/null || { echo "FAIL prerequisites: jq not found (Debian package jq; it reads tandem-vrrp's status file)"; return 1; }
  [ "$(id -u)" -eq 0 ] || { echo "FAIL prerequisites: needs root (network namespaces, raw sockets)"; return 1; }
}

ms_now() { echo $(( $(date +%s%N) / 1000000 )); }

# lab_up [ADVERT_MS] [PRIO_A PRIO_B]: namespaces, links, and a topology file for tandem-vrrp.
lab_up() {
  local advert_ms=${1:-1000} pa=${2:-150} pb=${3:-100}
  LAB="tandem-vrrp-$$-$RANDOM"
  LAB_DIR=$(mktemp -d /tmp/tandem-vrrp-lab.XXXXXX)
  ip netns add "$LAB-sw"; ip netns add "$LAB-a"; ip netns add "$LAB-b"
  # No duplicate address detection in the lab: link-local addresses (keepalived's IPv6 advert source)
  # are usable as soon as a link is up. Set before the links exist, so `default` applies to them.
  local ns
  for ns in sw a b; do
    ip netns exec "$LAB-$ns" sysctl -qw net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.all.accept_dad=0 2>/dev/null || true
  done
  ip -n "$LAB-sw" link add br0 type bridge
  ip -n "$LAB-sw" link set br0 type bridge forward_delay 0 mcast_snooping 0
  ip -n "$LAB-sw" link set br0 up
  ip -n "$LAB-sw" addr add 10.99.0.3/24 dev br0
  local n
  for n in a b; do
    ip -n "$LAB-$n" link add ${n}0 type veth peer name ${n}1 netns "$LAB-sw"
    ip -n "$LAB-sw" link set ${n}1 master br0
    ip -n "$LAB-sw" link set ${n}1 up
    ip -n "$LAB-$n" link set lo up
    ip -n "$LAB-$n" link set ${n}0 up
  done
  ip -n "$LAB-a" addr add $VRRP_ADDR_A/24 dev a0
  ip -n "$LAB-b" addr add $VRRP_ADDR_B/24 dev b0
  # IPv6 on the service network too (nodad: usable at once), for the IPv6 scenario.
  ip -n "$LAB-a" addr add fd00:99::1/64 dev a0 nodad
  ip -n "$LAB-b" addr add fd00:99::2/64 dev b0 nodad
  ip -n "$LAB-sw" link add br1 type bridge
  ip -n "$LAB-sw" link set br1 type bridge forward_delay 0 mcast_snooping 0
  ip -n "$LAB-sw" link set br1 up
  for n in a b; do
    ip -n "$LAB-$n" link add ${n}h0 type veth peer name ${n}h1 netns "$LAB-sw"
    ip -n "$LAB-sw" link set ${n}h1 master br1
    ip -n "$LAB-sw" link set ${n}h1 up
    ip -n "$LAB-$n" link set ${n}h0 up
  done
  ip -n "$LAB-a" addr add 10.98.0.1/24 dev ah0
  ip -n "$LAB-b" addr add 10.98.0.2/24 dev bh0
  lab_topology "$advert_ms" "$pa" "$pb" > "$LAB_DIR/topology.yaml"
}

# The topology tandem-vrrp reads: directors da (ns a) and db (ns b) on separate hosts.
lab_topology() {
  local advert_ms=$1 pa=$2 pb=$3
  cat <<YAML
site: vrrp-lab
hosts:
  - {name: h1, address: 192.0.2.1, cpus: 2, memory: 4GiB}
  - {name: h2, address: 192.0.2.2, cpus: 2, memory: 4GiB}
vms:
  - {name: da, role: director, vcpus: 1, memory: 1GiB, addresses: [$VRRP_ADDR_A/24, "fd00:99::1/64"]}
  - {name: db, role: director, vcpus: 1, memory: 1GiB, addresses: [$VRRP_ADDR_B/24, "fd00:99::2/64"]}
  - {name: w1, role: gums, vcpus: 1, memory: 1GiB, addresses: [10.99.0.11/24, "fd00:99::11/64"]}
  - {name: w2, role: gums, vcpus: 1, memory: 1GiB, addresses: [10.99.0.12/24, "fd00:99::12/64"]}
services:
  - name: web
    vip: $VRRP_VIP
    port: 80
    members: [{vm: w1, port: 80}, {vm: w2, port: 80}]
    check: {kind: tcp, interval: 1s, timeout: 500ms}
  - name: web6
    vip: "fd00:99::100"
    port: 80
    members: [{vm: w1, port: 80}, {vm: w2, port: 80}]
    check: {kind: tcp, interval: 1s, timeout: 500ms}
directors:
  members: [da, db]
  vrid: $VRRP_VRID
  priorities: {da: $pa, db: $pb}
  advert_interval: ${advert_ms}ms
  interface: eth0
${LAB_WITNESS:+  witness: $LAB_WITNESS}
YAML
}

# lab_start_keepalived SIDE PRIO ADVERT_SECONDS [nopreempt]
lab_start_keepalived() {
  local side=$1 prio=$2 adv=$3 extra=${4:-}
  local conf="$LAB_DIR/ka-$side.conf"
  cat > "$conf" <<CONF
global_defs {
  router_id ka-$side
  vrrp_version 3
  script_user root
  enable_script_security
}
vrrp_instance VI_$VRRP_VRID {
  state BACKUP
  interface ${side}${KA_HB:+h}0
  virtual_router_id $VRRP_VRID
  priority $prio
  advert_int $adv
  ${extra}
  virtual_ipaddress {
    $VRRP_VIP/$(case $VRRP_VIP in *:*) echo 128 ;; *) echo 32 ;; esac) dev ${side}0
  }
}
CONF
  ip netns exec "$LAB-$side" keepalived -P -n -l -D -f "$conf" -p "$LAB_DIR/ka-$side.pid" \
    -r "$LAB_DIR/ka-$side.vrrp.pid" -c "$LAB_DIR/ka-$side.chk.pid" > "$LAB_DIR/ka-$side.log" 2>&1 &
  LAB_PIDS+=($!)
  eval "KA_PID_$side=$!"
  disown $!   # no "Killed" job notices when a scenario kill -9s it
}

# lab_require_ipv6: the lab's IPv6 is usable (IPv6 enabled in both director namespaces, the global
# fd00:99::/64 addresses and a link-local address on a0/b0, not tentative, and ff02::12 reachable
# as a group). Prints "FAIL prerequisites: ..." naming what is missing and returns 1 otherwise.
lab_require_ipv6() {
  local n dev out
  [ -d /proc/sys/net/ipv6 ] || { echo "FAIL prerequisites: this kernel has no IPv6 (/proc/sys/net/ipv6 missing)"; return 1; }
  for n in a b; do
    dev=${n}0
    if [ "$(ip netns exec "$LAB-$n" cat /proc/sys/net/ipv6/conf/$dev/disable_ipv6 2>/dev/null)" != 0 ]; then
      echo "FAIL prerequisites: IPv6 is disabled on $dev in namespace $LAB-$n (net.ipv6.conf.$dev.disable_ipv6)"; return 1
    fi
    local i ok=0
    for i in $(seq 1 40); do
      out=$(ip -n "$LAB-$n" -6 -o addr show dev "$dev" 2>&1)
      if grep -q 'fd00:99::' <<<"$out" && grep -q 'fe80::' <<<"$out" && ! grep -q tentative <<<"$out"; then ok=1; break; fi
      sleep 0.05
    done
    [ $ok = 1 ] || { echo "FAIL prerequisites: $dev in $LAB-$n has no usable IPv6 global + link-local address (ip -6 addr: $(tr '\n' ' ' <<<"$out"))"; return 1; }
  done
}

# The VRRP child keepalived forks (its PID file appears shortly after start).
ka_child_pid() { cat "$LAB_DIR/ka-$1.vrrp.pid" 2>/dev/null; }

# lab_start_tandem SIDE [EXTRA ARGS...]
lab_start_tandem() {
  local side=$1; shift
  local node=d$side
  ip netns exec "$LAB-$side" "$TANDEM_VRRP" --topology "$LAB_DIR/topology.yaml" --node "$node" \
    --interface ${side}0 --status-file "$LAB_DIR/tv-$side.status" "$@" > "$LAB_DIR/tv-$side.log" 2>&1 &
  LAB_PIDS+=($!)
  eval "TV_PID_$side=$!"
  disown $!
}

# cut_side / heal_side SIDE: take the side's port off the bridge (its carrier stays up, so keepalived
# does not go to FAULT) and put it back: a cut heartbeat link between two live directors.
cut_side() { ip -n "$LAB-sw" link set ${1}1 nomaster; }
heal_side() { ip -n "$LAB-sw" link set ${1}1 master br0; }
# cut_heartbeat / heal_heartbeat SIDE: the same on the heartbeat-only network.
cut_heartbeat() { ip -n "$LAB-sw" link set ${1}h1 nomaster; }
heal_heartbeat() { ip -n "$LAB-sw" link set ${1}h1 master br1; }

# count_dual_master DURATION_MS: samples every ~20 ms; prints how many samples saw the VIP on both.
count_dual_master() {
  local limit=$1 start n=0 both=0
  start=$(ms_now)
  while [ $(( $(ms_now) - start )) -lt "$limit" ]; do
    n=$((n + 1))
    if vip_on a && vip_on b; then both=$((both + 1)); fi
    sleep 0.02
  done
  echo "$both"
}


# tandem_status_field SIDE JQ_PATH: one field of tandem-vrrp's status file (VRRPStatus as JSON), empty
# when the file or the field is not there yet (`null` prints nothing).
tandem_status_field() { jq -r "$2 | values" "$LAB_DIR/tv-$1.status" 2>/dev/null; }
tandem_state() { tandem_status_field "$1" .state; }

# vip_on SIDE: is the VIP on the side's service interface? `ip` itself can fail transiently while
# other namespaces come and go on this machine; retry it rather than read a failure as "no VIP".
vip_on() {
  local out i
  for i in 1 2 3 4 5; do
    if out=$(ip -n "$LAB-$1" -o addr show dev ${1}0 2>&1); then
      grep -q " $VRRP_VIP/" <<<"$out"; return
    fi
    echo "vip_on: ip failed ($out), retrying" >&2
    sleep 0.01
  done
  return 1
}

# wait_vip SIDE TIMEOUT_MS: 0 when the VIP is there within the bound; prints the elapsed ms.
wait_vip() {
  local side=$1 limit=$2 start now
  start=$(ms_now)
  while :; do
    now=$(ms_now)
    if vip_on "$side"; then echo $((now - start)); return 0; fi
    [ $((now - start)) -ge "$limit" ] && { echo "$limit"; return 1; }
  done
}

wait_no_vip() {
  local side=$1 limit=$2 start
  start=$(ms_now)
  while vip_on "$side"; do
    [ $(( $(ms_now) - start )) -ge "$limit" ] && return 1
    sleep 0.02
  done
  return 0
}

# wait_tandem_state SIDE STATE TIMEOUT_MS
wait_tandem_state() {
  local side=$1 want=$2 limit=$3 start
  start=$(ms_now)
  while [ "$(tandem_state "$side")" != "$want" ]; do
    [ $(( $(ms_now) - start )) -ge "$limit" ] && return 1
    sleep 0.05
  done
}

# kill_side SIDE: the director "dies": kill -9 its VRRP process(es) and pull its link, so the VIP it
# left on its interface (as keepalived's does too) cannot answer.
kill_side() {
  local side=$1 pid child
  ip -n "$LAB-$side" link set ${side}0 down
  ip -n "$LAB-$side" link set ${side}h0 down
  pid=$(eval "echo \${KA_PID_$side:-}")
  if [ -n "$pid" ]; then
    child=$(ka_child_pid "$side")
    [ -n "$child" ] && kill -9 "$child" 2>/dev/null
    kill -9 "$pid" 2>/dev/null
  fi
  pid=$(eval "echo \${TV_PID_$side:-}")
  [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
  return 0
}

# stop_side SIDE: a graceful stop (SIGTERM): the master sends priority 0.
stop_side() {
  local side=$1 pid i
  pid=$(eval "echo \${KA_PID_$side:-}")
  [ -z "$pid" ] && pid=$(eval "echo \${TV_PID_$side:-}")
  kill -TERM "$pid" 2>/dev/null
  for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
}

# --- client drills: a client namespace runs tandem-stress against the VIP --------------------------
#   ns $LAB-c : client, c0 = 10.99.0.9/24 on br0. Each director namespace runs `gridsvc static` on
#   0.0.0.0:8080, so whichever director holds the VIP answers for it (no IPVS: this machine's kernel
#   has none; the UML test in Tests/DaemonTests covers IPVS and connection sync).
#   Needs $GRIDSVC and $STRESS (paths to gridsvc and tandem-stress).
STRESS_SLOT_MS=${STRESS_SLOT_MS:-20}

lab_add_client() {
  ip netns add "$LAB-c"
  ip -n "$LAB-c" link add c0 type veth peer name c1 netns "$LAB-sw"
  ip -n "$LAB-sw" link set c1 master br0
  ip -n "$LAB-sw" link set c1 up
  ip -n "$LAB-c" link set lo up
  ip -n "$LAB-c" link set c0 up
  ip -n "$LAB-c" addr add 10.99.0.9/24 dev c0
  local n
  for n in a b; do
    ip netns exec "$LAB-$n" "$GRIDSVC" static --listen 0.0.0.0:8080 > "$LAB_DIR/gridsvc-$n.log" 2>&1 &
    LAB_PIDS+=($!)
    disown $!
  done
  local i
  for i in $(seq 1 100); do
    grep -q listening "$LAB_DIR/gridsvc-a.log" 2>/dev/null && grep -q listening "$LAB_DIR/gridsvc-b.log" 2>/dev/null && return 0
    sleep 0.05
  done
  echo "lab_add_client: gridsvc static did not start" >&2
  return 1
}

# stress_start SECONDS NAME: tandem-stress from the client to VIP:8080 (open loop, 1000 calls/s,
# 100 ms per-call timeout so a dead path is retried soon; that bounds the resolution to ~100 ms), its time series in $LAB_DIR/NAME.csv.
stress_start() {
  ip netns exec "$LAB-c" "$STRESS" --target "static=$VRRP_VIP:8080" --mix static=1 --static-path /healthz \
    --rate 1000 --connections 16 --duration "$1" --timeout-ms 100 --max-requests 1000000 \
    --slot-ms "$STRESS_SLOT_MS" --series "$LAB_DIR/$2.csv" > "$LAB_DIR/$2.out" 2>&1 &
  STRESS_PID=$!
  STRESS_T0=$(ms_now)
  LAB_PIDS+=($!)
}

# stress_wait SECONDS: waits (bounded) for the running tandem-stress.
stress_wait() {
  local i
  local limit=$(( $(ms_now) + ($1 + 10) * 1000 ))
  while [ "$(ms_now)" -lt "$limit" ]; do kill -0 "$STRESS_PID" 2>/dev/null || break; sleep 0.05; done
  if kill -0 "$STRESS_PID" 2>/dev/null; then
    echo "stress_wait: tandem-stress still running $(( $1 + 10 )) s into the wait; killed" >&2
    kill -9 "$STRESS_PID" 2>/dev/null
  fi
  wait "$STRESS_PID" 2>/dev/null
}

# stress_offset: seconds since stress_start (for outage_ms FROM).
stress_offset() { awk -v a="$(ms_now)" -v b="$STRESS_T0" 'BEGIN { printf "%.3f", (a - b) / 1000 }'; }

# outage_ms NAME FROM_S: the client-visible outage of $LAB_DIR/NAME.csv for a fault FROM_S seconds into
# the run, as the drills define it (DrillAnalysis.outage; docs/drills.md): milliseconds, or
# `unrecovered`, `noload-before`, `nodata`. $TANDEMCTL names the tandemctl that computes it.
outage_ms() {
  "${TANDEMCTL:?outage_ms needs TANDEMCTL (the tandemctl binary)}" drill outage --series "$LAB_DIR/$1.csv" \
    --fault-at "${2:-0}" --slot-ms "$STRESS_SLOT_MS" || echo nodata
}

# became_master_count SIDE: how many times the side entered master, from its log.
became_master_count() {
  local n=0
  if [ -f "$LAB_DIR/tv-$1.log" ]; then n=$(grep -c -- '-> master' "$LAB_DIR/tv-$1.log"); fi
  if [ -f "$LAB_DIR/ka-$1.log" ]; then n=$(( n + $(grep -c 'Entering MASTER STATE' "$LAB_DIR/ka-$1.log") )); fi
  echo "$n"
}

lab_down() {
  local pid i
  for pid in "${LAB_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for i in $(seq 1 30); do
    local alive=0
    for pid in "${LAB_PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ $alive -eq 0 ] && break
    sleep 0.1
  done
  for pid in "${LAB_PIDS[@]}"; do kill -9 "$pid" 2>/dev/null; done
  # keepalived's VRRP children, by the PID files of the instances we started.
  for f in "$LAB_DIR"/ka-*.vrrp.pid; do [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null; done
  LAB_PIDS=()
  unset KA_PID_a KA_PID_b TV_PID_a TV_PID_b
  if [ -n "$LAB" ]; then
    local n
    for n in a b c sw; do
      # `ip` can fail transiently while other namespaces come and go; retry a few times.
      for i in 1 2 3 4 5; do
        ip netns list | grep -q "^$LAB-$n\b" || break
        ip netns del "$LAB-$n" 2>/dev/null && break
        sleep 0.05
      done
    done
  fi
  [ -n "${KEEP_LAB_DIR:-}" ] || rm -rf "$LAB_DIR"
  LAB=""
}
