# shellcheck shell=bash
# What every lab hook shares (docs/drills.md, "Hooks"). A hook is run by `tandemctl drill` with the
# drill's TANDEM_DRILL_* variables and the drill file's environment, which names the lab's state
# directory (LAB_STATE). The lab writes $LAB_STATE/lab.env: its names and the few functions that
# differ between the labs (a member's link, a director's processes, the ring's SQL):
#   lab_director_pids SIDE     sets PIDS to the pids of a director's daemon (tandemd, or keepalived's three)
#   lab_start_director SIDE    starts it again (detached, its output to a file)
#   lab_member_pid NAME        sets PID to a backend's server pid
#   lab_start_member NAME      starts it again, waits until it listens
#   lab_member_link NAME up|down   the backend's link, seen from the switch
#   lab_ip NS COMMAND          one `ip` command, through the lab's resident `ip -batch` where it has one
#   lab_ring_sql NODE SQL      one statement on ring node NODE
# Hooks print `tandem-drill-event EPOCH_MS LABEL` for the moments the drill should mark.
set -u
: "${LAB_STATE:?LAB_STATE is not set: run this hook through tandemctl drill with the drill file of the lab}"
# shellcheck source=/dev/null
source "$LAB_STATE/lab.env"

# Epoch milliseconds, without a fork (a fork costs 0.5-1 s in a starved user-mode-linux).
event() { local t=${EPOCHREALTIME/./}; echo "tandem-drill-event ${t:0:13} $*"; }
die() { echo "${0##*/}: $*" >&2; exit 1; }
# A pause without a fork: a read with a timeout on a FIFO nobody writes.
exec {LAB_TICK}<>"$LAB_STATE/tick.fifo"
pause() { read -r -t "$1" -u "$LAB_TICK" _ || true; }
# What the drill hits; for a director, its side in the lab (da → a). Set without a fork.
TARGET=${TANDEM_DRILL_TARGET:?TANDEM_DRILL_TARGET is not set}
SIDE=${TARGET#d}
# Waits (at most SECONDS) until COMMAND... succeeds; polls every 50 ms.
wait_for() { local n=$(( $1 * 20 )) i; shift; for ((i = 0; i < n; i++)); do "$@" && return 0; pause 0.05; done; return 1; }
alive() { [ -r "/proc/$1/stat" ] && ! grep -q '^[0-9]* ([^)]*) Z' "/proc/$1/stat" 2>/dev/null; }
