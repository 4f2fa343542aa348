# shellcheck shell=bash
# drill.sh: the takeover drills of scripts/drill-failover (docs/drills.md, issue 6). Sourced, not run,
# INSIDE one user-mode-linux kernel (scripts/uml-run), after scripts/lib/vrrp-lab.sh, whose namespaces,
# links and helpers it reuses:
#
#   from vrrp-lab.sh  its lab (namespaces $LAB-sw/-a/-b, bridges br0 + br1, witness 10.99.0.3; built
#                     here by drill_lab_up with the same names, in one `ip -batch` per namespace),
#                     vip_on, wait_vip, stop_side, stress_wait, outage_ms, lab_down, and its interface
#                     names (a0/b0 service, ah0/bh0 heartbeat; bridge ports a1, ah1 in $LAB-sw).
#                     Its kill_side / cut_side / cut_heartbeat fork an `ip` per command (0.5-1 s each in
#                     a starved UML); the same commands go here through resident `ip -batch` (drill_ip).
#   added here        $LAB-c   client 10.99.0.9 on br0: tandem-stress and one long-lived connection
#                     $LAB-w1/-w2  backends 10.99.0.11/.12 on br0, `gridsvc static` on :8080, VIP on lo (DR)
#                     a real tandemd in $LAB-a (da, priority 150) and $LAB-b (db, 100), topology/drill.yaml
#                     one VIP sampler per director, the analysis of one trial
#
# Needs: DRILL_TANDEMD DRILL_STRESS DRILL_GRIDSVC DRILL_TOPOLOGY DRILL_TOPOLOGY_WITNESS DRILL_WORK
# DRILL_RATE DRILL_CONNECTIONS DRILL_TIMEOUT_MS DRILL_SAMPLE_MS DRILL_CUT_S DRILL_TANDEMD_ARGS (may be
# empty); optional DRILL_PROGRESS (progress file on hostfs) and DRILL_KEEP_DIR (raw files per trial).
# Every wait is bounded; drill_down removes everything a trial started (processes by PID, namespaces).

DRILL_VIP=$VRRP_VIP
DRILL_PORT=8080
DRILL_CLIENT_ADDR=10.99.0.9
DRILL_BACKENDS=("w1 10.99.0.11" "w2 10.99.0.12")
DRILL_PY=/usr/bin/python3; [ -x "$DRILL_PY" ] || DRILL_PY=python3
STRESS_SLOT_MS=20        # the time-series slot of tandem-stress, read by vrrp-lab's outage_ms

# Progress: to the host-visible progress file when there is one (scripts/drill-failover shows it live).
drill_log() { if [ -n "${DRILL_PROGRESS:-}" ]; then echo "$*" >> "$DRILL_PROGRESS"; else echo "$*" >&2; fi; }

# Python helpers, written once per run into $DRILL_WORK.
drill_write_helpers() {
    # VIP sampler, run inside one director's namespace (ip netns exec remounts /sys for it): every
    # SAMPLE_MS it reads /proc/net/fib_trie (is the VIP a local address?) and the VIP interface's
    # operstate (is its link up?), and logs "<epoch ms> <0|1>" whenever "holds the VIP on a live link"
    # changes, then "end <epoch ms> <samples>". Bounded by MAX_S and a stop file.
    cat > "$DRILL_WORK/sampler.py" <<'PY'
import os, sys, time
ifname, vip, out, stop, sample_ms, max_s = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), float(sys.argv[6])
needle = "|-- %s\n" % vip
f = open(out, "w", buffering=1)
last, n, end = None, 0, time.time() + max_s
while time.time() < end and not os.path.exists(stop):
    try:
        with open("/proc/net/fib_trie") as t: trie = t.read()
    except OSError:
        trie = ""
    try:
        with open("/sys/class/net/%s/operstate" % ifname) as o: up = o.read().strip() == "up"
    except OSError:
        up = False
    held = 1 if (needle in trie and up) else 0
    n += 1
    if held != last:
        f.write("%d %d\n" % (int(time.time() * 1000), held)); last = held
    time.sleep(sample_ms / 1000.0)
f.write("end %d %d\n" % (int(time.time() * 1000), n))
PY
    # One long-lived HTTP/1.1 keep-alive connection through the VIP: a GET every 100 ms on the SAME
    # socket, never reconnecting, until a stop file appears (bounded by SECONDS). Logs
    # "connected <ms> <local port>", "ok <n> <ms>", and at the end "done <n>" or "error <ms> <what>".
    cat > "$DRILL_WORK/conn.py" <<'PY'
import socket, sys, time
import os
host, port, seconds, log, stop = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4], sys.argv[5]
out = open(log, "w", buffering=1)
ms = lambda: int(time.time() * 1000)
try:
    s = socket.create_connection((host, port), timeout=5)
except Exception as e:
    out.write("error %d connect %s: %s\n" % (ms(), type(e).__name__, e)); sys.exit(1)
s.settimeout(15)
out.write("connected %d %d\n" % (ms(), s.getsockname()[1]))
req = b"GET /healthz HTTP/1.1\r\nHost: drill\r\n\r\n"
buf, n, end = b"", 0, time.time() + seconds
try:
    while time.time() < end and not os.path.exists(stop):
        n += 1
        s.sendall(req)
        while b"\r\n\r\n" not in buf:
            d = s.recv(4096)
            if not d: raise ConnectionError("closed by peer")
            buf += d
        head, buf = buf.split(b"\r\n\r\n", 1)
        status = head.split(b"\r\n", 1)[0]
        length = 0
        for line in head.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length": length = int(v.strip())
        while len(buf) < length:
            d = s.recv(4096)
            if not d: raise ConnectionError("closed by peer mid-body")
            buf += d
        buf = buf[length:]
        if b" 200 " not in status + b" ":
            raise ValueError("status %r" % status)
        out.write("ok %d %d\n" % (n, ms()))
        time.sleep(0.1)
except Exception as e:
    out.write("error %d %s: %s\n" % (ms(), type(e).__name__, e)); sys.exit(1)
out.write("done %d\n" % n)
PY
    # The analysis of one trial: sampler logs, the event time, the connection log, tandem-stress's
    # JSON report. Prints "key=value" lines (see drill_trial).
    cat > "$DRILL_WORK/analyse.py" <<'PY'
import json, sys
drill, a_log, b_log, t_start_b, t_load, t_event, t_event_end, t_end, conn_log, stress_json = sys.argv[1:11]
t_start_b, t_load, t_event, t_event_end, t_end = map(int, (t_start_b, t_load, t_event, t_event_end, t_end))

def intervals(path, stop):
    """Holding intervals [(from, to)] from a sampler log; an interval still open ends at `stop`."""
    iv, since = [], None
    try:
        lines = open(path).read().split("\n")
    except OSError:
        return None
    for line in lines:
        p = line.split()
        if len(p) != 2 or p[0] == "end": continue
        t, held = int(p[0]), p[1] == "1"
        if held and since is None: since = t
        elif not held and since is not None: iv.append((since, t)); since = None
    if since is not None: iv.append((since, stop))
    return iv

A, B = intervals(a_log, t_end), intervals(b_log, t_end)
out = {}
if A is None or B is None:
    out["sampler"] = "missing"
else:
    # Dual master: both hold the VIP on a live link, counted from B's start (A alone before that).
    dual = []
    for a0, a1 in A:
        for b0, b1 in B:
            lo, hi = max(a0, b0, t_start_b), min(a1, b1)
            if hi > lo: dual.append((lo, hi))
    out["dual_episodes"] = len(dual)
    out["dual_ms"] = sum(h - l for l, h in dual)
    onsets = [b0 for b0, _ in B]
    out["false_start"] = sum(1 for t in onsets if t_start_b <= t < t_load)
    out["false_load"] = sum(1 for t in onsets if t_load <= t < t_event)
    out["b_takeovers"] = sum(1 for t in onsets if t >= t_event)
    after = [t for t in onsets if t >= t_event]
    # Takeover: for kill and graceful from the moment da stopped holding the VIP as its sampler saw
    # it (link down; VIP removed after the SIGTERM), printed separately as da_let_go_ms; for a flap
    # from the first cut.
    ref = t_event
    drops = [a1 for _, a1 in A if a1 >= t_event and a1 < t_end]
    if drill in ("kill", "nosync", "graceful"):
        out["da_let_go_ms"] = (drops[0] - t_event) if drops else "never"
        if drops: ref = drops[0]
    out["takeover_ms"] = (after[0] - ref) if after else "none"
    # B onsets while A still lives and serves: in the heartbeat-cut window (the event's span).
    out["b_during_event"] = sum(1 for t in onsets if t_event <= t < t_event_end)
    holder = "a" if any(a0 <= t_end - 1 < a1 for a0, a1 in A) else ""
    holder += "b" if any(b0 <= t_end - 1 < b1 for b0, b1 in B) else ""
    out["holder_at_end"] = holder or "none"

# The long-lived connection.
try:
    lines = open(conn_log).read().split("\n")
except OSError:
    lines = []
oks = [int(l.split()[2]) for l in lines if l.startswith("ok ")]
err = [l for l in lines if l.startswith("error ")]
done = any(l.startswith("done ") for l in lines)
before = [t for t in oks if t < t_event]
afterk = [t for t in oks if t >= t_event]
gap = 0
for x, y in zip(oks, oks[1:]):
    if y >= t_event - 1000: gap = max(gap, y - x)
if not lines or not lines[0].startswith("connected"):
    out["conn"] = "no-connection"
elif err:
    out["conn"] = "broken"
    out["conn_error"] = " ".join(err[0].split()[2:])[:80].replace(" ", "_")
elif not before:
    out["conn"] = "not-ready-before-event"
elif done and afterk:
    out["conn"] = "survived"
else:
    out["conn"] = "unfinished"
out["conn_oks_after"] = len(afterk)
out["conn_gap_ms"] = gap

try:
    r = json.load(open(stress_json))
    out["calls"] = r["requests"]; out["ok"] = r["successes"]
    out["throughput"] = "%.0f" % r["throughput"]
    out["errors"] = ",".join("%s=%d" % kv for kv in sorted(r["errors"].items())) or "-"
except Exception:
    out["calls"] = "?"; out["ok"] = "?"; out["throughput"] = "?"; out["errors"] = "no-report"
for k, v in out.items(): print("%s=%s" % (k, v))
PY
    drill_pause 0   # makes the FIFO of drill_pause in this (the main) shell
}

# drill_lab_up: the whole lab in about ten forks instead of vrrp-lab's lab_up + forty `ip` commands
# (each fork takes 0.5-1 s in a starved UML): one `ip -batch` per namespace. The same names and
# addresses as vrrp-lab's lab_up, which lab_down then tears down ($LAB, $LAB_DIR; namespaces a b c
# sw), minus its IPv6 addresses and tandem-vrrp topology file, which the drill does not use:
#   $LAB-sw  br0 10.99.0.3/24 (service + witness), br1 (heartbeat); ports a1 b1 c1 w1 w2 / ah1 bh1
#   $LAB-a   a0 10.99.0.1/24, ah0 10.98.0.1/24      $LAB-b  b0 10.99.0.2/24, bh0 10.98.0.2/24
#   $LAB-c   c0 10.99.0.9/24 (client)               $LAB-w1/-w2  eth0 .11/.12, the VIP on lo (DR)
drill_lab_up() {
    local n addr b
    LAB="tandem-vrrp-$$-$RANDOM"
    LAB_DIR=$(mktemp -d /tmp/tandem-vrrp-lab.XXXXXX) || return 1
    printf 'netns add %s\n' "$LAB-sw" "$LAB-a" "$LAB-b" "$LAB-c" "$LAB-w1" "$LAB-w2" | ip -batch - || return 1
    DRILL_NETNS+=("$LAB-w1" "$LAB-w2")
    ip -n "$LAB-sw" -batch - <<EOB || return 1
link add br0 type bridge forward_delay 0 mcast_snooping 0
link set br0 up
addr add 10.99.0.3/24 dev br0
link add br1 type bridge forward_delay 0 mcast_snooping 0
link set br1 up
link set lo up
EOB
    for n in a b; do
        [ $n = a ] && addr=1 || addr=2
        ip -n "$LAB-$n" -batch - <<EOB || return 1
link add ${n}0 type veth peer name ${n}1 netns $LAB-sw
link add ${n}h0 type veth peer name ${n}h1 netns $LAB-sw
link set lo up
addr add 10.99.0.$addr/24 dev ${n}0
addr add 10.98.0.$addr/24 dev ${n}h0
link set ${n}0 up
link set ${n}h0 up
EOB
    done
    ip -n "$LAB-c" -batch - <<EOB || return 1
link add c0 type veth peer name c1 netns $LAB-sw
link set lo up
addr add $DRILL_CLIENT_ADDR/24 dev c0
link set c0 up
EOB
    for b in "${DRILL_BACKENDS[@]}"; do
        read -r n addr <<< "$b"
        # Direct routing: the VIP is local on lo and never answered for by ARP.
        ip -n "$LAB-$n" -batch - <<EOB || return 1
link add eth0 type veth peer name $n netns $LAB-sw
link set lo up
addr add $addr/24 dev eth0
addr add $DRILL_VIP/32 dev lo
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
link set a1 up
link set b1 up
link set c1 up
link set w1 up
link set w2 up
link set ah1 up
link set bh1 up
EOB
}

# The two DR backends' ARP sysctls and `gridsvc static` servers (the namespaces come from drill_lab_up).
drill_net_up() {
    local b n addr i
    for b in "${DRILL_BACKENDS[@]}"; do
        read -r n addr <<< "$b"
        ip netns exec "$LAB-$n" sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 \
            net.ipv4.conf.eth0.arp_ignore=1 net.ipv4.conf.eth0.arp_announce=2
        ip netns exec "$LAB-$n" "$DRILL_GRIDSVC" static --listen "0.0.0.0:$DRILL_PORT" > "$LAB_DIR/gridsvc-$n.log" 2>&1 &
        LAB_PIDS+=($!)
        disown $!
    done
    for ((i = 0; i < 300; i++)); do
        grep -q listening "$LAB_DIR/gridsvc-w1.log" 2>/dev/null && grep -q listening "$LAB_DIR/gridsvc-w2.log" 2>/dev/null && return 0
        sleep 0.05
    done
    drill_log "drill: gridsvc static did not start within 15 s: $(cat "$LAB_DIR"/gridsvc-*.log 2>/dev/null | tail -n 3 | tr '\n' ' ')"
    return 1
}

# drill_sampler SIDE IFNAME: the VIP sampler in that director's namespace (tracked; ends on $LAB_DIR/stop).
drill_sampler() {
    ip netns exec "$LAB-$1" "$DRILL_PY" "$DRILL_WORK/sampler.py" "$2" "$DRILL_VIP" "$LAB_DIR/vip-$1.log" \
        "$LAB_DIR/stop" "$DRILL_SAMPLE_MS" 300 > /dev/null 2>> "$LAB_DIR/sampler.err" &
    LAB_PIDS+=($!)
    disown $!
}

# drill_start_tandemd SIDE NODE [PAIR]: a real tandemd for node d$SIDE in its namespace; sets
# TV_PID_$SIDE, which vrrp-lab's stop_side (and the kill drill) act on. The director settings go in
# the topology (tandemd has no flags for them): NODE is this director's `directors.nodes` entry as a
# YAML flow mapping, PAIR an extra pair key (`connection_sync: false`). The drill topologies end
# with the `directors` mapping, so the lines appended below continue it.
drill_start_tandemd() {
    local side=$1 node=$2 pair=${3:-} topo=$DRILL_TOPOLOGY extra=()
    [ -n "${DRILL_WITNESS:-}" ] && topo=$DRILL_TOPOLOGY_WITNESS
    local mine="$LAB_DIR/topology-$side.yaml"
    { cat "$topo"; [ -n "$pair" ] && printf '  %s\n' "$pair"
      printf '  nodes:\n    d%s: %s\ndaemon: {repair_interval: 1s}\n' "$side" "$node"; } > "$mine"
    # shellcheck disable=SC2206
    [ -n "$DRILL_TANDEMD_ARGS" ] && extra=($DRILL_TANDEMD_ARGS)
    ip netns exec "$LAB-$side" "$DRILL_TANDEMD" --topology "$mine" --node "d$side" --status-listen 127.0.0.1:9595 \
        "${extra[@]}" > "$LAB_DIR/tandemd-$side.log" 2>&1 &
    LAB_PIDS+=($!)
    eval "TV_PID_$side=$!"
    disown $!
}

# Both backends in SIDE's kernel table at weight 100 (read from its /proc/net/ip_vs).
drill_served() {
    [ "$(ip netns exec "$LAB-$1" cat /proc/net/ip_vs 2>/dev/null | grep -cE -- '-> 0A63000(B|C):1F90 +Route +100 ')" = 2 ]
}
drill_wait() { # SECONDS CMD...: polls every 0.05 s (fork-free pause, drill_pause)
    local limit=$(( $1 * 20 )) i; shift
    for ((i = 0; i < limit; i++)); do "$@" && return 0; drill_pause 0.05; done
    return 1
}
# drill_pause SECONDS: a pause without fork/exec (read with a timeout on a FIFO nobody writes).
drill_pause() {
    if [ -z "${DRILL_TICK_FD:-}" ]; then
        mkfifo "$DRILL_WORK/tick" && exec {DRILL_TICK_FD}<>"$DRILL_WORK/tick"
    fi
    read -r -t "$1" -u "$DRILL_TICK_FD" _ || true
}
drill_alive() { [ -r "/proc/$1/stat" ] && ! awk '{ exit ($3 != "Z") }' "/proc/$1/stat" 2>/dev/null; }

# tandem-stress from the client to VIP:8080 (open loop); sets STRESS_PID (for vrrp-lab's stress_wait)
# and STRESS_T0 (its launch; drill_trial moves it to when the stress really runs).
drill_stress_start() { # SECONDS
    ip netns exec "$LAB-c" "$DRILL_STRESS" --target "static=$DRILL_VIP:$DRILL_PORT" --mix static=1 --static-path /healthz \
        --rate "$DRILL_RATE" --connections "$DRILL_CONNECTIONS" --duration "$1" --timeout-ms "$DRILL_TIMEOUT_MS" \
        --max-requests $(( ${DRILL_RATE%.*} * $1 + 1000 )) --slot-ms "$STRESS_SLOT_MS" \
        --series "$LAB_DIR/t.csv" --json > "$LAB_DIR/stress.json" 2> "$LAB_DIR/stress.err" &
    STRESS_PID=$!
    STRESS_T0=$(drill_now)
    LAB_PIDS+=($!)
}

# drill_sampled_down SIDE SINCE_MS: the side's VIP sampler logged "not holding" at or after SINCE_MS.
drill_sampled_down() {
    local t h
    [ -r "$LAB_DIR/vip-$1.log" ] || return 1
    while read -r t h; do [ "$h" = 0 ] && [ "$t" -ge "$2" ] 2>/dev/null && return 0; done < "$LAB_DIR/vip-$1.log"
    return 1
}

# drill_ip_start NS: a resident `ip -force -batch` in $LAB-NS, fed through a FIFO, so a fault is one
# write (no fork/exec). drill_ip NS COMMAND: one command to it.
drill_ip_start() {
    local fd
    mkfifo "$LAB_DIR/ip-$1.fifo" || return 1
    exec {fd}<> "$LAB_DIR/ip-$1.fifo"
    ip -n "$LAB-$1" -force -batch "$LAB_DIR/ip-$1.fifo" > "$LAB_DIR/ip-$1.log" 2>&1 &
    LAB_PIDS+=($!)
    disown $!
    DRILL_IPFDS+=("$fd")
    eval "DRILL_IPFD_$1=$fd"
}
drill_ip() { local fd; eval "fd=\$DRILL_IPFD_$1"; shift; echo "$*" >&"$fd"; }
DRILL_IPFDS=()

# tandem-stress runs: more than one established connection to VIP:8080 in the client's namespace
# (the long-lived connection is the first). Read from /proc with builtins only.
drill_stress_running() {
    local c=0 rem st
    [ -r "/proc/$STRESS_PID/net/tcp" ] || return 1
    while read -r _ _ rem st _; do
        [ "$rem" = 6400630A:1F90 ] && [ "$st" = 01 ] && c=$((c + 1))
    done < "/proc/$STRESS_PID/net/tcp" 2>/dev/null
    [ "$c" -gt 1 ]
}

# Everything one trial started: samplers stop, vrrp-lab's lab_down (processes by PID, namespaces
# a b c sw, its temp dir), keepalived's children, then the backend namespaces.
drill_down() {
    [ -n "${LAB_DIR:-}" ] && touch "$LAB_DIR/stop" 2>/dev/null
    local fd f pid ka_kids=()
    for fd in "${DRILL_IPFDS[@]}"; do exec {fd}>&-; done
    DRILL_IPFDS=()
    # keepalived's children by their PID files, read before lab_down removes them; killed after it has
    # TERMed their parents (a live keepalived parent would respawn a child killed under it).
    if [ -n "${LAB_DIR:-}" ]; then
        for f in "$LAB_DIR"/ka-*.vrrp.pid "$LAB_DIR"/ka-*.chk.pid; do
            [ -r "$f" ] && read -r pid < "$f" && [ -n "$pid" ] && ka_kids+=("$pid")
        done
    fi
    lab_down
    [ ${#ka_kids[@]} -gt 0 ] && kill -9 "${ka_kids[@]}" 2>/dev/null
    local n
    for n in "${DRILL_NETNS[@]}"; do
        for pid in $(ip netns pids "$n" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
        ip netns del "$n" 2>/dev/null
    done
    DRILL_NETNS=()
}
DRILL_NETNS=()

# drill_trial DIRECTOR DRILL N: one trial with the tandemd or the keepalived pair (DIRECTOR tandemd or
# keepalived); prints one result line "DIRECTOR DRILL N key=value ..." on stdout.
#   kill       the master's links down (service and heartbeat), then kill -9 of its director daemon
#              (keepalived: parent, VRRP and checker children at once)
#   graceful   SIGTERM of the master's director daemon (priority-0 advert; vrrp-lab stop_side)
#   partition  the master's heartbeat-only link off its bridge for DRILL_CUT_S while both live (tandemd:
#              witness rule; keepalived has no split-brain protection to turn on)
#   flap       the master's service link off the bridge 300 ms / back 700 ms, 5 times (carrier stays up)
#   nosync     the control: kill, with both directors run without connection sync
drill_trial() {
    local director=$1; shift
    local drill=$1 trial=$2 why="" pre_s=3 ev_s post_s=5 t_b t_load t_ev t_ev_end t_end
    local a_node="{interface: a0}" b_node="{interface: b0}" pair="" ifa=a0 ifb=b0
    # keepalived: VRRP interface, VIP interface, sync interface (- = no lvs_sync_daemon), per side.
    local ka_a=(a0 a0 a0) ka_b=(b0 b0 b0)
    case "$drill" in
        kill|graceful) ev_s=0 ;;
        nosync) ev_s=0; pair="connection_sync: false"; ka_a=(a0 a0 -); ka_b=(b0 b0 -) ;;
        partition) ev_s=$DRILL_CUT_S
                   a_node="{interface: ah0, vip_interface: a0, primary_address: 10.98.0.1, sync_interface: a0}"
                   b_node="{interface: bh0, vip_interface: b0, primary_address: 10.98.0.2, sync_interface: b0}"
                   ka_a=(ah0 a0 a0); ka_b=(bh0 b0 b0) ;;
        flap) ev_s=5 ;;
    esac
    local dur=$(( pre_s + ev_s + post_s ))
    [ "$drill" = partition ] && DRILL_WITNESS=1 || DRILL_WITNESS=""
    if ! drill_lab_up 2> "$DRILL_WORK/lab-up.err"; then why="lab-up-failed($(tail -n 1 "$DRILL_WORK/lab-up.err" | tr ' ' _))"
    elif ! drill_net_up; then why="backends-did-not-start"; fi
    if [ -z "$why" ]; then
        drill_ip_start sw; drill_ip_start a
        drill_sampler a "$ifa"; drill_sampler b "$ifb"
        if [ "$director" = keepalived ]; then drill_start_keepalived a "${ka_a[@]}" || why="keepalived-config"
        else drill_start_tandemd a "$a_node" "$pair"; fi
        [ -z "$why" ] && { wait_vip a 30000 > /dev/null || why="da-never-master"; }
    fi
    if [ -z "$why" ]; then
        t_b=$(drill_now)
        if [ "$director" = keepalived ]; then drill_start_keepalived b "${ka_b[@]}"
        else drill_start_tandemd b "$b_node" "$pair"; fi
        drill_wait 30 drill_served a || why="da-ipvs-not-programmed"
    fi
    [ -z "$why" ] && { drill_wait 30 drill_served b || why="db-ipvs-not-programmed"; }
    # The long-lived connection first: IPVS syncs a connection from its 3rd packet and sends its
    # buffer at least every 2 s, so give it 3 s of traffic, then look for it in db's table (<= 6 s).
    local conn_pid="" port="" synced=no i
    if [ -z "$why" ]; then
        t_load=$(drill_now)
        ip netns exec "$LAB-c" "$DRILL_PY" "$DRILL_WORK/conn.py" "$DRILL_VIP" "$DRILL_PORT" 600 "$LAB_DIR/conn.log" \
            "$LAB_DIR/conn.stop" > /dev/null 2>> "$LAB_DIR/conn.err" &
        conn_pid=$!
        LAB_PIDS+=($conn_pid)
        drill_wait 60 grep -qs '^ok 30 ' "$LAB_DIR/conn.log" || why="long-lived-connection-not-answering($(tail -n 1 "$LAB_DIR/conn.log" 2>/dev/null | tr ' ' _))"
    fi
    if [ -z "$why" ]; then
        port=$(awk '$1 == "connected" { print $3 }' "$LAB_DIR/conn.log")
        drill_wait 6 drill_conn_in b "$port" && synced=yes
    fi
    # db must be backup after all that (da started first, with the higher priority). A UML stall
    # longer than Master_Down_Interval can make db take the VIP for a moment (counted as a false
    # takeover); da preempts it at its next advert, so give that up to 5 s before giving up.
    if [ -z "$why" ] && vip_on b; then
        drill_wait 5 drill_not_vip_on b || why="db-master-before-the-event"
    fi
    if [ -n "$why" ]; then
        echo "$director $drill $trial setup=$why"
        drill_keep "$director-$drill" "$trial"
        drill_down
        return
    fi
    drill_stress_start "$dur"
    # The time series starts when tandem-stress runs, not when it was launched (a Swift binary takes
    # from 0.1 s to seconds to start in a starved UML): its first connections mark t = 0.
    local t_launch=$STRESS_T0 aligned=yes
    drill_wait 30 drill_stress_running || aligned=no
    STRESS_T0=$(drill_now)
    [ "$aligned" = no ] && STRESS_T0=$t_launch   # no connection seen: align on the launch instead
    drill_pause "$pre_s"
    t_ev=$(drill_now)
    # The faults go through resident `ip -batch` processes (drill_ip): vrrp-lab's kill_side/cut_side
    # fork an `ip` per command, which takes 0.5-1 s in a starved UML and would stretch a 300 ms cut.
    local k c0 h0 cuts=()
    case "$drill" in
        kill|nosync) # Links first; kill -9 once da's sampler has seen a0 go down (<= 3 s), so that
                     # da's kernel cannot keep forwarding for the VIP after its tandemd is gone.
                     drill_ip a "link set a0 down"; drill_ip a "link set ah0 down"
                     drill_wait 3 drill_sampled_down a "$t_ev" || drill_log "drill: da's link not seen down within 3 s; killing anyway"
                     if [ "$director" = keepalived ]; then drill_ka_kill9 a; else kill -9 "$TV_PID_a"; fi ;;
        graceful) stop_side a > /dev/null 2>&1 & ;;   # stop_side waits for the exit (<= 5 s); the clock runs on
        partition) c0=$(drill_now); drill_ip sw "link set ah1 nomaster"; drill_pause "$ev_s"
                   h0=$(drill_now); drill_ip sw "link set ah1 master br1"; cuts+=("$(( h0 - c0 ))") ;;
        flap) for k in 1 2 3 4 5; do
                  c0=$(drill_now); drill_ip sw "link set a1 nomaster"; drill_pause 0.3
                  h0=$(drill_now); drill_ip sw "link set a1 master br0"; drill_pause 0.7
                  cuts+=("$(( h0 - c0 ))")
              done ;;
    esac
    t_ev_end=$(drill_now)
    stress_wait $(( dur + 20 ))
    drill_alive "$STRESS_PID" && { kill -9 "$STRESS_PID" 2>/dev/null; drill_log "drill: tandem-stress overran its bound; killed"; }
    touch "$LAB_DIR/conn.stop"
    for ((i = 0; i < 100; i++)); do drill_alive "$conn_pid" || break; sleep 0.1; done
    wait 2>/dev/null   # the connection client, the graceful stop's background stop_side
    t_end=$(drill_now)
    touch "$LAB_DIR/stop"
    sleep 1
    local outage res masters_b at
    at=$(awk -v e="$t_ev" -v s="$STRESS_T0" 'BEGIN { printf "%.3f", (e - s) / 1000 }')
    # vrrp-lab's outage_ms on the series minus its last 0.5 s (calls cut off by the end of the run
    # leave empty slots there), counted from 0.5 s before the event (the alignment is to ~0.1 s).
    head -n -25 "$LAB_DIR/t.csv" > "$LAB_DIR/tt.csv" 2>/dev/null
    outage=$(outage_ms tt "$(awk -v a="$at" 'BEGIN { printf "%.3f", a - 0.2 }')")
    res=$("$DRILL_PY" "$DRILL_WORK/analyse.py" "$drill" "$LAB_DIR/vip-a.log" "$LAB_DIR/vip-b.log" "$t_b" "$t_load" "$t_ev" \
        "$t_ev_end" "$t_end" "$LAB_DIR/conn.log" "$LAB_DIR/stress.json" 2>&1 | tr '\n' ' ')
    if [ "$director" = keepalived ]; then masters_b=$(grep -c 'Entering MASTER STATE' "$LAB_DIR/ka-b.log" 2>/dev/null)
    else masters_b=$(grep 'vrrp transition' "$LAB_DIR/tandemd-b.log" 2>/dev/null | grep -c ' to=master '); fi
    # Whose MAC the client has for the VIP at the end (after a flap, the client must follow the winner).
    local arp mac_a mac_b
    mac_a=$(ip -n "$LAB-a" -o link show a0 2>/dev/null | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
    mac_b=$(ip -n "$LAB-b" -o link show b0 2>/dev/null | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
    arp=$(ip -n "$LAB-c" neigh show "$DRILL_VIP" 2>/dev/null | awk -v a="$mac_a" -v b="$mac_b" '
        { who = "none" } / lladdr / { for (i = 1; i < NF; i++) if ($i == "lladdr") m = $(i + 1); who = (m == a ? "da" : (m == b ? "db" : m)) }
        { print who "(" $NF ")"; exit }')
    local covered=yes
    [ "$t_ev_end" -gt $(( STRESS_T0 + (dur - 2) * 1000 )) ] && covered=no
    echo "$director $drill $trial outage_ms=$outage $res synced_before=$synced db_to_master_log=${masters_b:-0} event_s=$at event_ms=$(( t_ev_end - t_ev )) cuts_ms=$(IFS=,; echo "${cuts[*]:-none}") client_arp=${arp:-none} load_covered_event=$covered series_aligned=$aligned"
    drill_keep "$director-$drill" "$trial"
    drill_down
}

drill_not_vip_on() { ! vip_on "$1"; }
# Epoch ms without a fork (a fork costs milliseconds in a UML on a loaded machine).
drill_now() { local t=${EPOCHREALTIME/./}; echo "${t:0:13}"; }
# Is the client's connection from PORT in SIDE's IPVS connection table?
drill_conn_in() { ip netns exec "$LAB-$1" ipvsadm -Lnc 2>/dev/null | grep -q " $DRILL_CLIENT_ADDR:$2 "; }

# With DRILL_KEEP_DIR: the trial's raw files (logs, series, samples) go there before the tear-down.
drill_keep() {
    [ -n "${DRILL_KEEP_DIR:-}" ] || return 0
    mkdir -p "$DRILL_KEEP_DIR/$1-$2" && cp -a "$LAB_DIR"/. "$DRILL_KEEP_DIR/$1-$2/" 2>/dev/null
    return 0
}

# drill_summary RESULTS_FILE [INVALID_FILE]: per-trial lines, per-director per-drill medians, and the
# comparison (keepalived median / tandemd median) from drill_trial's result lines; the trials in
# INVALID_FILE (load ended before the event: the UML starved) are listed, not counted.
drill_summary() {
    "$DRILL_PY" - "$1" "${2:-/dev/null}" <<'PY'
import sys
invalid = [l.split() for l in open(sys.argv[2]) if l.strip()]
if invalid:
    print("== invalid trials (the load ended before the event did: the UML starved); run again, not counted")
    for p in invalid:
        kv = dict(x.split("=", 1) for x in p[3:] if "=" in x)
        print("%-10s %-9s #%s  event at %s s into the load (planned 3 s), outage %s ms" % (p[0], p[1], p[2], kv.get("event_s"), kv.get("outage_ms")))
    print()
rows = []
for line in open(sys.argv[1]):
    p = line.split()
    if len(p) < 3: continue
    kv = dict(x.split("=", 1) for x in p[3:] if "=" in x)
    rows.append((p[0], p[1], p[2], kv))

def num(v):
    try: return int(v)
    except (TypeError, ValueError): return None

def median(xs):
    xs = sorted(xs)
    if not xs: return None
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2

def fmt(x):
    if x is None: return "n/a"
    return ("%d" % x) if x == int(x) else ("%.1f" % x)

names = {"kill": "kill -9 of the master + its links down", "graceful": "graceful stop (SIGTERM) of the master",
         "partition": "heartbeat link cut 5 s while both live (tandemd: witness rule; keepalived: none exists)",
         "flap": "master's link flaps 300 ms down / 700 ms up x5",
         "nosync": "CONTROL: kill as above, both directors without connection sync (the connection must break)"}
order = [d for d in ["kill", "graceful", "partition", "flap", "nosync"] if any(r[1] == d for r in rows)]
dirs = [x for x in ["tandemd", "keepalived"] if any(r[0] == x for r in rows)]
print("== per trial")
for who, d, t, kv in rows:
    if "setup" in kv:
        print("%-10s %-9s #%s  SETUP FAILED: %s" % (who, d, t, kv["setup"])); continue
    conn = kv.get("conn", "?")
    if conn == "broken": conn += " (%s)" % kv.get("conn_error", "?").replace("_", " ")
    print("%-10s %-9s #%s  outage %s ms  takeover %s ms%s  dual-master %s (%s ms)  false takeovers start/load %s/%s"
          "  db took over %s%s  | long-lived conn: %s, synced before %s, gap %s ms, %s answers after"
          "  | calls %s ok %s (%s/s) errors %s  | at the end VIP on %s, client ARP -> %s" % (
          who, d, t, kv.get("outage_ms"), kv.get("takeover_ms"),
          (" (da let go %s ms after the event)" % kv["da_let_go_ms"]) if "da_let_go_ms" in kv else "",
          kv.get("dual_episodes"), kv.get("dual_ms"),
          kv.get("false_start"), kv.get("false_load"), kv.get("b_takeovers"),
          (", during the cut %s (cut %s ms)" % (kv.get("b_during_event"), kv.get("cuts_ms"))) if d == "partition" else "",
          conn + ("" if kv.get("load_covered_event") != "no" else " [load ended before the event did]"),
          kv.get("synced_before"), kv.get("conn_gap_ms"), kv.get("conn_oks_after"),
          kv.get("calls"), kv.get("ok"), kv.get("throughput"), kv.get("errors"),
          {"a": "da", "b": "db", "ab": "both"}.get(kv.get("holder_at_end"), kv.get("holder_at_end")), kv.get("client_arp")))
print()
print("== medians over trials (min-max); counts are per trial")
table = {}
for d in order:
    print("%s: %s" % (d, names[d]))
    for who in dirs:
        rs = [kv for w, dd, _, kv in rows if dd == d and w == who]
        if not rs: continue
        good = [kv for kv in rs if "setup" not in kv]
        o = [num(kv.get("outage_ms")) for kv in good]
        on = [x for x in o if x is not None]
        other = [kv.get("outage_ms") for kv in good if num(kv.get("outage_ms")) is None]
        tk = [num(kv.get("takeover_ms")) for kv in good if num(kv.get("takeover_ms")) is not None]
        de = [num(kv.get("dual_episodes")) or 0 for kv in good]
        dm = [num(kv.get("dual_ms")) or 0 for kv in good]
        fs = sum(num(kv.get("false_start")) or 0 for kv in good)
        fl = sum(num(kv.get("false_load")) or 0 for kv in good)
        fc = sum(num(kv.get("b_during_event")) or 0 for kv in good) if d == "partition" else 0
        surv = sum(1 for kv in good if kv.get("conn") == "survived")
        syn = sum(1 for kv in good if kv.get("synced_before") == "yes")
        print("  [%s] trials %d (setup failed %d)" % (who, len(rs), len(rs) - len(good)))
        # An unrecovered outage counts as the longest possible one for the median (the series ended
        # inside it), so it cannot make a median look better; its trials are named.
        unrec = sum(1 for x in other if x == "unrecovered")
        pen = on + [10 ** 9] * unrec
        med = median(pen) if pen else None
        print("    client outage     median %s (%s-%s ms)%s" % (
              "unrecovered" if med is not None and med >= 10 ** 9 else fmt(med) + " ms",
              min(on) if on else "n/a", max(on) if on else "n/a",
              ("  not numeric: %s" % ",".join(other)) if other else ""))
        if d != "partition":
            print("    takeover          VIP on db, median %s ms (%s)%s" % (fmt(median(tk)), ",".join(map(str, tk)) or "none",
                  "  [from da losing the VIP; da let go %s ms after the event]" % ",".join(str(kv.get("da_let_go_ms")) for kv in good)
                  if d in ("kill", "nosync", "graceful") else "  [from the first cut]"))
        print("    dual-master       episodes per trial %s, ms per trial %s, median %s ms" % (
              ",".join(map(str, de)), ",".join(map(str, dm)), fmt(median(dm))))
        print("    false takeovers   db entered master while da lived: start-up %d, under load before the event %d%s" % (
              fs, fl, (", during the cut %d" % fc) if d == "partition" else ""))
        if d == "flap":
            print("    db took over      per trial %s" % ",".join(str(kv.get("b_takeovers")) for kv in good))
        if d in ("flap", "partition"):
            print("    cuts as done      ms from cut to heal command, per trial: %s" % "  ".join(kv.get("cuts_ms", "?") for kv in good))
        print("    long-lived conn   survived %d/%d, in db's table before the event %d/%d, gaps %s ms" % (
              surv, len(good), syn, len(good), ",".join(str(kv.get("conn_gap_ms")) for kv in good)))
        if d == "nosync":
            broke = sum(1 for kv in good if kv.get("conn") == "broken")
            print("    control           %s" % ("the connection broke without sync in %d/%d, as it must: the survival check can fail" % (broke, len(good))
                  if good and broke == len(good) else "CONTROL FAILED: without sync the connection did not break (%d/%d broke)" % (broke, len(good))))
        table[(d, who)] = dict(med=med, n=len(good), de=de, dm=dm, surv=surv, syn=syn, unrec=unrec)

if len(dirs) == 2:
    print()
    print("== tandemd vs keepalived, same UML, same lab, same load, same advert interval")
    print("   ratio = keepalived median outage / tandemd median outage (above 1 = tandemd better);")
    print("   dual-master = median ms per trial (episodes per trial); conn = long-lived connection survived/trials")
    print("%-10s | %-13s | %-13s | %-6s | %-22s | %-22s | %-12s | %s" % (
          "drill", "tandemd ms", "keepalived ms", "ratio", "dual-master tandemd", "dual-master keepalived", "conn tandemd", "conn keepalived"))
    for d in order:
        t, k = table.get((d, "tandemd")), table.get((d, "keepalived"))
        if not t or not k: continue
        def show(x):
            if x["med"] is None: return "n/a"
            return "unrecovered" if x["med"] >= 10 ** 9 else fmt(x["med"])
        tm, km = t["med"], k["med"]
        if tm is None or km is None: r = "n/a"
        elif tm >= 10 ** 9 and km >= 10 ** 9: r = "n/a"
        elif tm >= 10 ** 9: r = "<1"
        elif km >= 10 ** 9: r = ">1"
        elif tm == 0: r = "inf" if km > 0 else "1.00"
        else: r = "%.2f" % (km / tm)
        def dual(x): return "%s ms (%s)" % (fmt(median(x["dm"])), ",".join(map(str, x["de"])))
        print("%-10s | %-13s | %-13s | %-6s | %-22s | %-22s | %-12s | %s" % (
              d, show(t), show(k), r, dual(t), dual(k), "%d/%d" % (t["surv"], t["n"]), "%d/%d" % (k["surv"], k["n"])))
    for who in dirs:
        bad = [(d, t, kv["setup"]) for w, d, t, kv in rows if w == who and "setup" in kv]
        print("setup failures, %s: %s" % (who, ", ".join("%s #%s %s" % b for b in bad) if bad else "none"))
PY
}
