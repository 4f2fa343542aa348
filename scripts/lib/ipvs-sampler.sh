# shellcheck shell=bash
# The kernel table poller inside a UML, shared by the lab's director (scripts/lib/lab-director.sh) and
# the single-writer test fixture (Tests/DaemonTests/Fixtures/uml-single-writer-init.sh). Pure bash
# builtins: no fork per sample (a fork costs milliseconds in a UML on a loaded machine).

# HEXADDR:HEXPORT (as /proc/net/ip_vs prints it) -> R=dotted:port
h2a() {
    local h=${1%%:*} p=${1##*:}
    printf -v R '%d.%d.%d.%d:%d' "0x${h:0:2}" "0x${h:2:2}" "0x${h:4:2}" "0x${h:6:2}" "0x$p"
}
# T = now in milliseconds since the epoch.
now_ms() { T=${EPOCHREALTIME/./}; T=${T:0:13}; }

IPVS_LAST=""
# ipvs_sample LOG: reads /proc/net/ip_vs once and, when anything in it changed since the last call,
# appends the whole table to LOG, one real server per line: "T SERVICE RS WEIGHT ACTIVE INACTIVE"
# (T from the last now_ms).
ipvs_sample() {
    local p a b c d e svc="" snap=""
    while read -r p a b c d e; do
        case "$p" in
            TCP|UDP) h2a "$a"; svc=$R ;;
            "->") [ "$b" = Forward ] && continue; h2a "$a"; snap+="$T $svc $R $c $d $e"$'\n' ;;
        esac
    done < /proc/net/ip_vs
    if [ "${snap//$T /}" != "$IPVS_LAST" ]; then
        printf '%s' "$snap" >> "$1"
        IPVS_LAST=${snap//$T /}
    fi
}
