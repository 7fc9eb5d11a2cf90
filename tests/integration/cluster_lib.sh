# cluster_lib.sh -- harness for the cluster integration tests (sourced, bash).
#
# Builds on lib.sh (WORK, ok/fail/assert_*, finish, cli, need_cmd).  A test
# gets a private cluster made by tools/dynamo-cluster, with its state under
# $WORK/cluster, and an EXIT trap that SIGCONTs and stops exactly the nodes
# of that cluster (by their pid files, never by name) before lib.sh's own
# cleanup, printing the nodes' logs first when the test failed.
#
#   cluster_start N [--opt value ...]   start N nodes n1..nN on free ports
#   nport I                              node I's client port
#   ncli I args...                       redis-cli against node I
#   npid I                               node I's pid
#   ctool args...                        tools/dynamo-cluster, this cluster
#   replicas KEY                         the key's N replicas as node
#                                        indices ("2 3 4"), per DYNAMO.PREFLIST
#   nonreplica KEY                       one node index outside the key's N
#   local_values I KEY                   the values in node I's own copy
#                                        (DYNAMO.LOCAL), sorted, one a line
#   local_sig I KEY                      node I's copy, comparable across
#                                        nodes (no clock renderings)
#   wait_for SECONDS cmd...              polls cmd (every 50 ms) until it
#                                        succeeds; returns 1 at the deadline
#   info_field I NAME / info_sum NAME    an INFO field of node I / summed
#                                        over the nodes (absent counts 0)
#
# Spares: none unless the test sets DYNAMO_SPARES (they take the ports
# after the N members: _cluster_base N+spares).
# Ports: client ports BASE..BASE+N-1, peer ports +10000 and http ports
# (tools/dynamo-cluster's JSON API) +1000, BASE picked at
# random in DYN_CLUSTER_PORTS (default 21000-22700, so that peer ports stay
# below Linux's ephemeral range), checked free by binding.
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_cmd redis-cli timeout
CLUSTER_TOOL="$TOP_SRCDIR/tools/dynamo-cluster"
[ -x "$CLUSTER_TOOL" ] || harness_error "$CLUSTER_TOOL is not executable"
export DYNAMO_CLUSTER_DIR="$WORK/cluster"
# tools/dynamo-cluster starts 2 spare nodes by default; a test that wants
# them says so (and reserves their ports)
export DYNAMO_SPARES=${DYNAMO_SPARES:-0}
: "${DYN_CLUSTER_PORTS:=21000-22700}"
CL_N=0
CL_BASE=0

ctool() { "$CLUSTER_TOOL" "$@"; }

_cluster_cleanup() {
    local rc=$? f
    trap - EXIT
    if [ "$CL_N" -gt 0 ]; then
        if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; then
            for f in "$DYNAMO_CLUSTER_DIR"/n*/dynamod.log; do
                [ -f "$f" ] || continue
                echo "----- $(basename "$(dirname "$f")") log (last 40 lines) -----"
                tail -n 40 "$f"
            done
        fi
        ctool stop >/dev/null 2>&1
        # a sanitizer build reports on the nodes' stderr (stdout.log)
        if grep -lE 'ERROR: (Address|Leak)Sanitizer|runtime error:' \
            "$DYNAMO_CLUSTER_DIR"/n*/stdout.log >/dev/null 2>&1; then
            for f in "$DYNAMO_CLUSTER_DIR"/n*/stdout.log; do
                grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$f" || continue
                echo "FAIL - sanitizer report from $(basename "$(dirname "$f")"):"
                grep -E -A30 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$f" | head -60
            done
            [ "$rc" -eq 0 ] && rc=1
        fi
    fi
    # lib.sh's cleanup: its own PIDs, WORK, the exit code
    (exit "$rc")
    _cleanup
}
trap _cluster_cleanup EXIT

# _cluster_base N: prints a base port with N free client and peer ports.
_cluster_base() {
    "$PYTHON" - "$DYN_CLUSTER_PORTS" "$1" <<'EOF'
import random, socket, sys
lo, hi = (int(x) for x in sys.argv[1].split("-"))
n = int(sys.argv[2])
def free(p):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
        return True
    except OSError:
        return False
    finally:
        s.close()
for _ in range(200):
    b = random.randint(lo, hi - n + 1)
    if all(free(b + i) and free(b + i + 10000) and free(b + i + 1000)
           for i in range(n)):
        print(b)
        sys.exit(0)
sys.exit(1)
EOF
}

# cluster_start N [--opt value ...]
cluster_start() {
    local n=$1 attempt out
    shift
    for attempt in 1 2 3; do
        CL_BASE=$(_cluster_base $((n + DYNAMO_SPARES))) || harness_error "no $n free ports in $DYN_CLUSTER_PORTS"
        CL_N=$n
        if out=$(DYNAMO_BASE_PORT=$CL_BASE ctool start "$n" "$@" 2>&1); then
            echo "# cluster of $n nodes on 127.0.0.1:$CL_BASE..$((CL_BASE + n - 1))"
            return 0
        fi
        echo "# cluster start attempt $attempt failed: $out"
        ctool stop >/dev/null 2>&1
    done
    fail "a cluster of $n nodes did not start"
    exit 1
}

# cluster_stop: stops the cluster (a test that starts a second one).
cluster_stop() {
    ctool stop >/dev/null 2>&1
    CL_N=0
}

nport() { echo $((CL_BASE + $1 - 1)); }
ncli() {
    local i=$1; shift
    timeout 20 redis-cli -h 127.0.0.1 -p "$(nport "$i")" "$@"
}
npid() { ctool pid "$1"; }

# replicas KEY: node indices of the key's N replicas, in preference order.
replicas() {
    ncli 1 DYNAMO.PREFLIST "$1" | awk '
        $0 == "replicas" { on = 1; next }
        $0 == "fallbacks" { on = 0 }
        on && /^n[0-9]+$/ { sub(/^n/, ""); printf "%s%s", sep, $0; sep = " " }
        END { print "" }'
}

# nonreplica KEY: the first node that is not among the key's replicas.
nonreplica() {
    local reps i
    reps=" $(replicas "$1") "
    for ((i = 1; i <= CL_N; i++)); do
        case $reps in *" $i "*) ;; *) echo "$i"; return 0 ;; esac
    done
    return 1
}

# local_values I KEY: values of node I's stored siblings (live ones), sorted.
local_values() {
    ncli "$1" DYNAMO.LOCAL "$2" | awk 'prev == "value" { print } { prev = $0 }' | sort
}

# local_sig I KEY: node I's copy without the clock and dot renderings (a
# node names its own actor, and shows the others' ids in hex, so those
# lines differ between replicas holding the same object).
local_sig() {
    ncli "$1" DYNAMO.LOCAL "$2" | awk 'prev == "clock" || prev == "dot" { prev = ""; next } { print; prev = $0 }'
}

# local_count I KEY: number of siblings node I stores for KEY.
local_count() {
    ncli "$1" DYNAMO.LOCAL "$2" | grep -cx clock
}

wait_for() {
    local secs=$1 i until
    shift
    until=$(( $(date +%s%N) / 1000000 + secs * 1000 ))
    for ((i = 0; i < secs * 200; i++)); do  # bounded even if the clock jumps
        "$@" && return 0
        [ $(( $(date +%s%N) / 1000000 )) -ge "$until" ] && return 1
        sleep 0.05
    done
    return 1
}

# info_field I NAME: one field of node I's INFO.
info_field() {
    ncli "$1" INFO | tr -d '\r' | sed -n "s/^$2://p" | head -1
}

# info_sum NAME: the sum of INFO field NAME over the nodes (absent: 0).
info_sum() {
    local j s=0 v
    for ((j = 1; j <= CL_N; j++)); do
        v=$(info_field "$j" "$1"); s=$((s + ${v:-0}))
    done
    echo "$s"
}
