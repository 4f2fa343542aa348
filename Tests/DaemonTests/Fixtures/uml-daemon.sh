#!/bin/bash
# Runs INSIDE a UML kernel (scripts/uml-run): tandemd against two tiny HTTP servers, read back
# from the kernel's /proc/net/ip_vs, and an operator's tandemctl beside it: drain through tandemd's
# API, `tandemctl ipvs` writes refused while tandemd owns the table (and allowed once it stopped or
# crashed), `status --member` exit codes. Prints RESULT lines the Swift test parses. Every wait is bounded.
# usage: uml-daemon.sh /path/to/tandemd /path/to/tandemctl
#
# The polls fork nothing: a fork+exec (ipvsadm, date, sleep) costs 200-500 ms inside the UML and
# would inflate the times measured. /proc/net/ip_vs is read with bash's `read`, the clock is
# $EPOCHREALTIME, and the 50 ms pause is a `read -t` on a private fifo.
set -u
TANDEMD=$1
TANDEMCTL=$2
work=$(mktemp -d /tmp/tandemd-uml.XXXXXX)
ip link set lo up
ip addr add 127.0.0.2/8 dev lo 2>/dev/null || true
now_ms() { T=${EPOCHREALTIME/./}; T=${T:0:13}; }   # sets T: epoch ms, no fork
mkfifo "$work/tick" && exec 9<>"$work/tick"
pause() { read -t 0.05 -u 9 _ || true; }            # ~50 ms, no fork
h2a() { # HEXADDR:HEXPORT (as in /proc/net/ip_vs) -> R=dotted:port
    local h=${1%%:*} p=${1##*:}
    printf -v R '%d.%d.%d.%d:%d' "0x${h:0:2}" "0x${h:2:2}" "0x${h:4:2}" "0x${h:6:2}" "0x$p"
}
read_weight() { # sets W to the weight of real server $1 (dotted:port) in /proc/net/ip_vs, or "none"
    local p a b c rest
    W=none
    while read -r p a b c rest; do
        [ "$p" = "->" ] && [ "$b" != Forward ] || continue
        h2a "$a"; [ "$R" = "$1" ] && { W=$c; return 0; }
    done < /proc/net/ip_vs
}
weight() { read_weight "$1"; echo "$W"; }
wait_weight() { # $1 server, $2 weight, $3 max ms [, $4 start epoch ms]; prints elapsed ms or TIMEOUT
    local start
    now_ms; start=${4:-$T}
    for _ in {1..2000}; do
        read_weight "$1"; now_ms
        [ "$W" = "$2" ] && { echo $(( T - start )); return 0; }
        [ $(( T - start )) -gt "$3" ] && { echo TIMEOUT; return 1; }
        pause
    done
    echo TIMEOUT; return 1
}
PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3
serve() { "$PY" -m http.server "$1" --bind "$2" --directory "$work" >/dev/null 2>&1 & echo $!; }

cat > "$work/topo.yaml" <<YAML
site: uml
hosts:
  - {name: h1, address: 192.0.2.1, cpus: 4, memory: 4GiB}
  - {name: h2, address: 192.0.2.2, cpus: 4, memory: 4GiB}
vms:
  - {name: be1, role: gums, vcpus: 1, memory: 1GiB, addresses: [127.0.0.1/8]}
  - {name: be2, role: gums, vcpus: 1, memory: 1GiB, addresses: [127.0.0.2/8]}
services:
  - name: gums
    vip: 10.99.0.1
    port: 80
    scheduler: wlc
    forwarding: nat
    members:
      - {vm: be1, port: 18081, weight: 100}
      - {vm: be2, port: 18082, weight: 100}
    check: {kind: http, path: /, interval: 500ms, timeout: 300ms, rise: 2, fall: 2}
daemon: {token_file: $work/token, repair_interval: 2s}
YAML
echo "RESULT bound_ms=$(( 2 * 500 + 300 ))"
(umask 077; echo "uml-test-token-0123456789abcdef" > "$work/token")
# ctl NAME ARGS...: runs tandemctl, RESULT NAME_rc and NAME_out (output on one line).
ctl() {
    local name=$1 out rc; shift
    out=$("$TANDEMCTL" "$@" 2>&1); rc=$?
    echo "RESULT ${name}_rc=$rc"
    echo "RESULT ${name}_out=$(tr '\n' ' ' <<< "$out")"
}
p1=$(serve 18081 127.0.0.1)
p2=$(serve 18082 127.0.0.2)
"$TANDEMD" --topology "$work/topo.yaml" --node d1 --status-listen 127.0.0.1:9595 > "$work/d.log" 2>&1 &
td=$!
echo "RESULT tandemd_pid=$td"
echo "RESULT up1_ms=$(wait_weight 127.0.0.1:18081 100 30000)"
echo "RESULT up2_ms=$(wait_weight 127.0.0.2:18082 100 30000)"
sleep 1

now_ms; t0=$T
kill -9 "$p1"; wait "$p1" 2>/dev/null
echo "RESULT drain_ms=$(wait_weight 127.0.0.1:18081 0 10000 "$t0")"
echo "RESULT other_weight=$(weight 127.0.0.2:18082)"
ctl member_down status --member gums/be1
now_ms; t0=$T
p1=$(serve 18081 127.0.0.1)
echo "RESULT back_ms=$(wait_weight 127.0.0.1:18081 100 15000 "$t0")"

# The operator, while tandemd owns the table: drain through the API; direct writes refused.
ctl member_up status --member gums/be1 --member gums/be2
ctl drain drain gums be1 --token-file "$work/token"
echo "RESULT drain_kernel_weight=$(weight 127.0.0.1:18081)"
ctl drained_member status --member gums/be1
ctl ipvs_drain ipvs drain gums be2 --topology "$work/topo.yaml"
ctl ipvs_apply ipvs apply "$work/topo.yaml"
echo "RESULT refused_kernel_weight=$(weight 127.0.0.2:18082)"
(umask 077; echo "not-the-token-0123456789abcdef" > "$work/wrong")
ctl wrong_token undrain gums be1 --token-file "$work/wrong"
ctl unknown_member drain gums be9 --token-file "$work/token"
"$TANDEMD" --topology "$work/topo.yaml" --node d1 --status-listen 127.0.0.1:9596 > "$work/d2.log" 2>&1 &
td2=$!
for _ in $(seq 1 100); do kill -0 "$td2" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$td2" 2>/dev/null; then echo "RESULT second_tandemd=running"; kill -9 "$td2"; else wait "$td2"; echo "RESULT second_tandemd=exited $?"; fi
echo "RESULT second_tandemd_log=$(grep -o 'already owns.*' "$work/d2.log" | head -1)"
ctl undrain undrain gums be1 --token-file "$work/token"
echo "RESULT undrain_kernel_weight=$(weight 127.0.0.1:18081)"

ipvsadm -Ln > "$work/before"
cp "$work/topo.yaml" "$work/good.yaml"
echo 'services: [ {name: gums, vip: not-an-address} ]' > "$work/topo.yaml"
kill -HUP "$td"
sleep 2
ipvsadm -Ln > "$work/after"
cmp -s "$work/before" "$work/after" && echo "RESULT badreload_table=unchanged" || echo "RESULT badreload_table=changed"
grep -q "reload refused" "$work/d.log" && echo "RESULT badreload_log=refused" || echo "RESULT badreload_log=missing"
kill -0 "$td" 2>/dev/null && echo "RESULT alive_after_bad_reload=yes" || echo "RESULT alive_after_bad_reload=no"

kill -TERM "$td"
for _ in $(seq 1 100); do kill -0 "$td" 2>/dev/null || break; sleep 0.1; done
kill -0 "$td" 2>/dev/null && echo "RESULT stopped=no" || echo "RESULT stopped=yes"
echo "RESULT after_term_weights=$(weight 127.0.0.1:18081),$(weight 127.0.0.2:18082)"

# tandemd gone: the kernel-direct commands work again, and a crash (kill -9) frees the lock too.
ctl after_stop ipvs drain gums be2 --topology "$work/good.yaml"
echo "RESULT after_stop_weight=$(weight 127.0.0.2:18082)"
ctl status_no_daemon status
"$TANDEMD" --topology "$work/good.yaml" --node d1 --status-listen 127.0.0.1:9595 > "$work/d3.log" 2>&1 &
td3=$!
held=no
for _ in $(seq 1 100); do
    "$TANDEMCTL" ipvs undrain gums be2 --topology "$work/good.yaml" > /dev/null 2>&1
    [ $? = 1 ] && grep -q . "/run/tandem/"*.lock 2>/dev/null && { held=yes; break; }
    sleep 0.1
done
echo "RESULT restarted_held=$held"
kill -9 "$td3"; wait "$td3" 2>/dev/null
ctl after_crash ipvs drain gums be2 --topology "$work/good.yaml"
echo "RESULT after_crash_weight=$(weight 127.0.0.2:18082)"
kill "$p1" "$p2" 2>/dev/null
echo "--- tandemd log (tail)"; tail -n 15 "$work/d.log"
