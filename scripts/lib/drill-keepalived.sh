# shellcheck shell=bash
# drill-keepalived.sh: the keepalived 2.2.7 director pair of scripts/drill-failover (docs/drills.md),
# the peer that tandemd is measured against in the same UML, on the same lab, under the same load.
# Sourced after scripts/lib/vrrp-lab.sh and scripts/lib/drill.sh, INSIDE the UML.
#
# keepalived runs in $LAB-a and $LAB-b like tandemd does, with its full daemon (VRRP + checker, not
# vrrp-lab's VRRP-only `-P`), and is configured from the SAME topology (topology/drill.yaml): VRID,
# VIP, priorities, advert interval (vrrp_version 3, fractional advert_int), one virtual_server with the
# same real servers, weights, scheduler and forwarding, an HTTP_GET check like the topology's, and the
# IPVS sync daemon (`lvs_sync_daemon IF VI_<vrid> id <vrid>` in global_defs). keepalived runs the
# master sync daemon on the VRRP master and the backup daemon on the backup, switching on each
# transition.
#
# Needs: DRILL_KA_CONF_PY (written by drill_ka_write_helpers), DRILL_TOPOLOGY, DRILL_ADVERT_MS (may
# be empty: the topology's). keepalived itself: /usr/sbin/keepalived (Debian package keepalived,
# installed on this machine by scripts/drill-failover; the UML sees this machine's / through hostfs).
DRILL_KEEPALIVED=${DRILL_KEEPALIVED:-/usr/sbin/keepalived}

# The generator of keepalived.conf from the topology (python3, no YAML module needed: drill.yaml's
# shapes are fixed, and anything not found is an error naming the key).
drill_ka_write_helpers() {
    cat > "$DRILL_WORK/ka-conf.py" <<'PY'
import re, sys
topo, node, vrrp_if, vip_if, sync_if, advert_ms = sys.argv[1:7]
text = open(topo).read()
def need(pattern, what):
    m = re.search(pattern, text, re.M)
    if not m:
        sys.exit("drill-keepalived: %s: cannot find %s (pattern %r); keepalived's config is derived from it" % (topo, what, pattern))
    return m
def ms(v):
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s)", v.strip())
    if not m: sys.exit("drill-keepalived: %s: cannot read the duration %r" % (topo, v))
    return float(m.group(1)) * (1 if m.group(2) == "ms" else 1000)
vrid = int(need(r"^\s+vrid:\s*(\d+)", "directors.vrid").group(1))
prios = dict((k, int(v)) for k, v in re.findall(r"(\w+):\s*(\d+)", need(r"^\s+priorities:\s*\{([^}]*)\}", "directors.priorities").group(1)))
if node not in prios: sys.exit("drill-keepalived: %s: no priority for %s in directors.priorities" % (topo, node))
adv = float(advert_ms) if advert_ms else ms(need(r"^\s+advert_interval:\s*(\S+)", "directors.advert_interval").group(1))
svc = need(r"^\s+- name:\s*(\S+)\n((?:\s{4,}.*\n?)+)", "the first service").group(2)
def field(key):
    m = re.search(r"^\s+%s:\s*(.+?)\s*$" % key, svc, re.M)
    if not m: sys.exit("drill-keepalived: %s: the first service has no %s" % (topo, key))
    return m.group(1)
vip, port = field("vip"), int(field("port"))
sched, fwd = field("scheduler"), field("forwarding").lower()
kind = {"dr": "DR", "nat": "NAT", "tun": "TUN"}.get(fwd) or sys.exit("drill-keepalived: forwarding %r has no keepalived lb_kind" % fwd)
addr = dict(re.findall(r"\{name:\s*(\w+),.*?addresses:\s*\[\s*([0-9.]+)", text))
members = re.findall(r"\{vm:\s*(\w+),\s*port:\s*(\d+)(?:,\s*weight:\s*(\d+))?\}", svc)
if not members: sys.exit("drill-keepalived: %s: the first service has no members" % topo)
chk = dict(re.findall(r"(\w+):\s*([^,}]+)", field("check")))
if chk.get("kind") != "http": sys.exit("drill-keepalived: only an http check is mapped, got %r" % chk.get("kind"))
interval, timeout, fall = ms(chk["interval"]) / 1000, ms(chk["timeout"]) / 1000, int(chk.get("fall", "3"))
out = []
out.append("global_defs {\n  router_id ka-%s\n  vrrp_version 3\n  script_user root\n  enable_script_security" % node)
if sync_if != "-":
    out.append("  lvs_sync_daemon %s VI_%d id %d" % (sync_if, vrid, vrid))
out.append("}")
out.append("vrrp_instance VI_%d {\n  state BACKUP\n  interface %s\n  virtual_router_id %d\n  priority %d\n  advert_int %g\n"
           "  virtual_ipaddress {\n    %s/32 dev %s\n  }\n}" % (vrid, vrrp_if, vrid, prios[node], adv / 1000, vip, vip_if))
out.append("virtual_server %s %d {\n  delay_loop %g\n  lb_algo %s\n  lb_kind %s\n  protocol TCP" % (vip, port, interval, sched, kind))
for vm, p, w in members:
    if vm not in addr: sys.exit("drill-keepalived: %s: member %s has no address under vms" % (topo, vm))
    # fall N = the first failure + (N - 1) retries, delay_before_retry = the check interval; rise 1 is
    # keepalived's only behaviour (one success puts a real server back).
    out.append("  real_server %s %s {\n    weight %s\n    HTTP_GET {\n      url {\n        path %s\n        status_code %s\n      }\n"
               "      connect_timeout %g\n      retry %d\n      delay_before_retry %g\n    }\n  }"
               % (addr[vm], p, w or "1", chk.get("path", "/"), chk.get("expect_status", "200"), timeout, max(fall - 1, 0), interval))
out.append("}")
print("\n".join(out))
PY
}

# drill_start_keepalived SIDE VRRP_IF VIP_IF SYNC_IF|-: keepalived for node d$SIDE in $LAB-SIDE, its
# config from the topology; sets KA_PID_$SIDE (vrrp-lab's stop_side sends SIGTERM to it). Its VRRP
# child's PID file is $LAB_DIR/ka-SIDE.vrrp.pid, its checker's
# $LAB_DIR/ka-SIDE.chk.pid (drill.sh's drill_down kills both after lab_down).
drill_start_keepalived() {
    local side=$1 vif=$2 pif=$3 sif=$4 conf
    conf="$LAB_DIR/ka-$side.conf"
    "$DRILL_PY" "$DRILL_WORK/ka-conf.py" "$DRILL_TOPOLOGY" "d$side" "$vif" "$pif" "$sif" "${DRILL_ADVERT_MS:-}" \
        > "$conf" 2> "$LAB_DIR/ka-$side.conf.err" || { drill_log "drill: $(cat "$LAB_DIR/ka-$side.conf.err")"; return 1; }
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
