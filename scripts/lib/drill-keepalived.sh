# shellcheck shell=bash
# drill-keepalived.sh: the keepalived 2.2.7 director pair of scripts/drill-failover (docs/drills.md),
# the peer that tandemd is measured against in the same UML, on the same lab, under the same load.
# Sourced after scripts/lib/vrrp-lab.sh and scripts/lib/drill.sh, INSIDE the UML.
#
# keepalived runs in $LAB-a and $LAB-b like tandemd does, with its full daemon (VRRP + checker, not
# vrrp-lab's VRRP-only `-P`), and is configured from the SAME topology (topology/drill.yaml) by
# `tandemctl export keepalived`: VRID, VIP, priorities, advert interval (vrrp_version 3, fractional
# advert_int), one virtual_server with the same real servers, weights, scheduler and forwarding, an
# HTTP_GET check like the topology's, and the IPVS sync daemon (`lvs_sync_daemon IF VI_<vrid> id
# <vrid>` in global_defs). keepalived runs the master sync daemon on the VRRP master and the backup
# daemon on the backup, switching on each transition.
#
# Needs: DRILL_TANDEMCTL (its `export keepalived` writes the config from the topology), DRILL_TOPOLOGY,
# DRILL_ADVERT_MS (may be empty: the topology's). keepalived itself: /usr/sbin/keepalived (Debian package
# keepalived, installed on this machine by scripts/drill-failover; the UML sees this machine's / through
# hostfs).
DRILL_KEEPALIVED=${DRILL_KEEPALIVED:-/usr/sbin/keepalived}

# drill_start_keepalived SIDE VRRP_IF VIP_IF SYNC_IF|-: keepalived for node d$SIDE in $LAB-SIDE, its
# config from the topology; sets KA_PID_$SIDE (vrrp-lab's stop_side sends SIGTERM to it). Its VRRP
# child's PID file is $LAB_DIR/ka-SIDE.vrrp.pid, its checker's
# $LAB_DIR/ka-SIDE.chk.pid (drill.sh's drill_down kills both after lab_down).
drill_start_keepalived() {
    local side=$1 vif=$2 pif=$3 sif=$4 conf
    conf="$LAB_DIR/ka-$side.conf"
    # The same topology tandemd reads, written as keepalived.conf by tandemctl (docs/drills.md).
    local args=(export keepalived "$DRILL_TOPOLOGY" --node "d$side" --router-id "ka-d$side" --vrrp-interface "$vif" --vip-interface "$pif")
    if [ "$sif" = - ]; then args+=(--sync-interface none); else args+=(--sync-interface "$sif"); fi
    [ -n "${DRILL_ADVERT_MS:-}" ] && args+=(--advert-interval-ms "$DRILL_ADVERT_MS")
    "$DRILL_TANDEMCTL" "${args[@]}" > "$conf" 2> "$LAB_DIR/ka-$side.conf.err" \
        || { drill_log "drill: tandemctl export keepalived failed: $(cat "$LAB_DIR/ka-$side.conf.err")"; return 1; }
    ip netns exec "$LAB-$side" "$DRILL_KEEPALIVED" -n -l -D -f "$conf" -p "$LAB_DIR/ka-$side.pid" \
        -r "$LAB_DIR/ka-$side.vrrp.pid" -c "$LAB_DIR/ka-$side.chk.pid" > "$LAB_DIR/ka-$side.log" 2>&1 &
    LAB_PIDS+=($!)
    eval "KA_PID_$side=$!"
    disown $!
}

# drill_ka_kill9 SIDE: kill -9 of the side's whole keepalived (parent, VRRP child, checker child) in
# one go, so that no child gets the chance to resign on its parent's death.
drill_ka_kill9() {
    local p=() f pid
    pid=$(eval "echo \${KA_PID_$1:-}"); [ -n "$pid" ] && p+=("$pid")
    for f in "$LAB_DIR/ka-$1.vrrp.pid" "$LAB_DIR/ka-$1.chk.pid"; do
        [ -r "$f" ] && read -r pid < "$f" && [ -n "$pid" ] && p+=("$pid")
    done
    [ ${#p[@]} -gt 0 ] && kill -9 "${p[@]}" 2>/dev/null
    return 0
}
