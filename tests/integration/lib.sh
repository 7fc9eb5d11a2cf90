# lib.sh -- shared harness for the integration tests (sourced, bash).
#
# Every integration test is an automake test script: exit 0 = pass, 1 = fail,
# 77 = skip (a tool is missing), 99 = hard error in the harness itself.
#
# What sourcing this file gives a test:
#   - WORK: a private `mktemp -d` directory.  An EXIT trap stops exactly the
#     processes this test started (never by name), removes WORK, and, when the
#     test failed, prints the tail of every server log first.
#   - start_dynamod / start_redis / start_server: run a server on a free
#     127.0.0.1 port and poll it with PING until it answers (a deadline, never
#     a fixed sleep).  They set SRV_PORT, SRV_PID and SRV_LOG.
#   - ok / fail / assert_eq / assert_match / assert_contains: each prints one
#     line; failures are counted and `finish` turns them into the exit code,
#     so a test reports every broken check, not only the first.
#   - need_cmd / skip / harness_error.
#
# Environment:
#   DYNAMOD          path of the dynamod binary (make check exports it)
#   TOP_SRCDIR, TOP_BUILDDIR   exported by make check
#   DYN_TEST_SERVER  "redis" runs start_server against redis-server instead of
#                    dynamod (to check that a test's expectations are Redis's)
#   DYN_TEST_PORTS   "LO-HI" range to pick free ports from (default 20000-29999)
#   PYTHON           interpreter with Debian's python3-redis (/usr/bin/python3)

set -u

: "${TOP_SRCDIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${TOP_BUILDDIR:=$TOP_SRCDIR}"
: "${DYNAMOD:=$TOP_BUILDDIR/dynamod}"
: "${DYN_TEST_SERVER:=dynamod}"
: "${DYN_TEST_PORTS:=20000-29999}"
if [ -z "${PYTHON:-}" ]; then
    if [ -x /usr/bin/python3 ]; then PYTHON=/usr/bin/python3; else PYTHON=python3; fi
fi
export TOP_SRCDIR TOP_BUILDDIR DYNAMOD PYTHON

TEST_NAME=$(basename "$0" .sh)
FAILURES=0
CHECKS=0
_PIDS=()

harness_error() { echo "HARNESS ERROR: $*" >&2; exit 99; }
skip() { echo "SKIP: $*"; exit 77; }
need_cmd() {
    local c
    for c in "$@"; do
        command -v "$c" >/dev/null 2>&1 || skip "$c not installed"
    done
}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/dyn-$TEST_NAME.XXXXXX") ||
    harness_error "mktemp -d failed"

_cleanup() {
    local rc=$? pid f i
    trap - EXIT
    for pid in "${_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null
    done
    for pid in "${_PIDS[@]}"; do
        for ((i = 0; i < 100; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.05
        done
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; then
        for f in "$WORK"/*.log; do
            [ -f "$f" ] || continue
            echo "----- $(basename "$f") (last 60 lines) -----"
            tail -n 60 "$f"
        done
    fi
    rm -rf "$WORK"
    exit "$rc"
}
trap _cleanup EXIT
trap 'exit 1' INT TERM HUP

# Records a PID to be stopped by the trap.
track_pid() { _PIDS+=("$1"); }
# Forgets a PID (a test that stopped the process itself).
untrack_pid() {
    local keep=() p
    for p in "${_PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
    _PIDS=("${keep[@]}")
}

# ---- results -------------------------------------------------------------
ok() { CHECKS=$((CHECKS + 1)); echo "ok   - $*"; }
fail() { CHECKS=$((CHECKS + 1)); FAILURES=$((FAILURES + 1)); echo "FAIL - $*"; }
# assert_eq EXPECTED ACTUAL WHAT
assert_eq() {
    if [ "$1" = "$2" ]; then ok "$3"
    else fail "$3: expected [$1], got [$2]"; fi
}
# assert_match ERE ACTUAL WHAT
assert_match() {
    if printf '%s' "$2" | grep -Eq -- "$1"; then ok "$3"
    else fail "$3: [$2] does not match /$1/"; fi
}
# assert_contains NEEDLE HAYSTACK WHAT
assert_contains() {
    case "$2" in
        *"$1"*) ok "$3" ;;
        *) fail "$3: [$1] not found in [$2]" ;;
    esac
}
# assert_cmd WHAT command...: the command must exit 0.
assert_cmd() {
    local what=$1; shift
    if "$@"; then ok "$what"; else fail "$what (exit $?)"; fi
}
finish() {
    echo "$TEST_NAME: $CHECKS checks, $FAILURES failed"
    [ "$FAILURES" -eq 0 ] && exit 0
    exit 1
}

# ---- crash_load.py's load generator (the crash tests) ----------------------
# wait_file FILE PID [DEADLINE_S]: polls until FILE exists (a load
# generator's --ready file); returns 1 if PID exits first or at the deadline
# (default 10 s).
wait_file() {
    local i limit=${3:-10}
    for ((i = 0; i < limit * 100; i++)); do
        [ -e "$1" ] && return 0
        kill -0 "$2" 2>/dev/null || { [ -e "$1" ]; return; }
        sleep 0.01
    done
    return 1
}

# load_collect PID OUT ROUND: after the kill, waits (15 s at most) for the
# load generator PID to stop, prints its output file OUT as comments and
# sets LOAD_ACKED to the writes it saw acknowledged.  A generator that hangs
# or fails is a harness error.
load_collect() {
    local pid=$1 out=$2 round=$3 i rc
    for ((i = 0; i < 300; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        harness_error "round $round: the load generator did not stop after the kill"
    fi
    wait "$pid"
    rc=$?
    sed 's/^/#   /' "$out"
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 2 ]; then
        harness_error "round $round: load generator failed (exit $rc)"
    fi
    LOAD_ACKED=$(sed -n 's/^load: round [0-9]* acked \([0-9]*\).*/\1/p' "$out")
    LOAD_ACKED=${LOAD_ACKED:-0}
}

# ---- ports and servers -----------------------------------------------------
# Prints a port on 127.0.0.1 that nobody listens on (bind test).
free_port() {
    "$PYTHON" - "$DYN_TEST_PORTS" <<'EOF' || harness_error "no free port in $DYN_TEST_PORTS"
import random, socket, sys
lo, hi = (int(x) for x in sys.argv[1].split("-"))
ports = list(range(lo, hi + 1))
random.shuffle(ports)
for p in ports[:200]:
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        continue
    finally:
        s.close()
    print(p)
    sys.exit(0)
sys.exit(1)
EOF
}

# ping_port PORT [PID [SECONDS]]: polls 127.0.0.1:PORT with PING until a
# RESP line comes back (+PONG, or an error such as NOAUTH: either way the
# server is up and parsing).  Returns 0 then, 2 if PID exits first, 1 at the
# deadline (default: one try).  Python, not bash's read -t, which can abort
# the shell when a signal arrives during the timeout.
ping_port() {
    "$PYTHON" - "$1" "${2:-0}" "${3:-0}" <<'PY'
import os, socket, sys, time
port, pid, secs = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
deadline = time.monotonic() + secs
def alive(p):
    try:
        with open("/proc/%d/stat" % p) as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False
while True:
    if pid and not alive(pid):
        sys.exit(2)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(b"PING\r\n")
            if s.recv(1)[:1] in (b"+", b"-"):
                sys.exit(0)
    except OSError:
        pass
    if time.monotonic() >= deadline:
        sys.exit(1)
    time.sleep(0.05)
PY
}

# _wait_up PID PORT: polls until the server answers (10 s deadline).
_wait_up() { ping_port "$2" "$1" 10; }

# start_dynamod [config-file] [--opt value ...]
start_dynamod() {
    [ -x "$DYNAMOD" ] || harness_error "DYNAMOD=$DYNAMOD is not executable"
    local attempt port dir rc
    for attempt in 1 2 3; do
        port=$(free_port) || exit 99
        dir="$WORK/dynamod-$port"
        mkdir -p "$dir" || harness_error "mkdir $dir"
        SRV_LOG="$WORK/dynamod-$port.log"
        "$DYNAMOD" "$@" --port "$port" --bind 127.0.0.1 --dir "$dir" \
            --logfile "$SRV_LOG" >>"$WORK/dynamod-$port.stdout.log" 2>&1 &
        SRV_PID=$!
        SRV_PORT=$port
        track_pid "$SRV_PID"
        _wait_up "$SRV_PID" "$port"
        rc=$?
        [ "$rc" -eq 0 ] && { echo "# dynamod pid $SRV_PID on 127.0.0.1:$port"; return 0; }
        # lost a race for the port: try another one
        if [ "$rc" -eq 2 ] && grep -qi 'in use' "$SRV_LOG" "$WORK/dynamod-$port.stdout.log" 2>/dev/null; then
            continue
        fi
        break
    done
    fail "dynamod did not start and answer PING (args: $*)"
    exit 1
}

# restart_dynamod PORT [--opt value ...]: dynamod again on PORT and the
# dir start_dynamod gave it (its data kept), after the last one exited or
# was killed; SRV_PID is the new process.
restart_dynamod() {
    local port=$1
    shift
    SRV_LOG="$WORK/dynamod-$port.log"
    "$DYNAMOD" --port "$port" --bind 127.0.0.1 --dir "$WORK/dynamod-$port" \
        --logfile "$SRV_LOG" "$@" >>"$WORK/dynamod-$port.stdout.log" 2>&1 &
    SRV_PID=$!
    track_pid "$SRV_PID"
    _wait_up "$SRV_PID" "$port" || { fail "dynamod did not restart on $port"; finish; }
}

# start_redis [--opt value ...]
start_redis() {
    need_cmd redis-server
    local attempt port dir rc
    for attempt in 1 2 3; do
        port=$(free_port) || exit 99
        dir="$WORK/redis-$port"
        mkdir -p "$dir" || harness_error "mkdir $dir"
        SRV_LOG="$WORK/redis-$port.log"
        redis-server --port "$port" --bind 127.0.0.1 --save '' \
            --appendonly no --daemonize no --dir "$dir" \
            --logfile "$SRV_LOG" "$@" >/dev/null 2>&1 &
        SRV_PID=$!
        SRV_PORT=$port
        track_pid "$SRV_PID"
        _wait_up "$SRV_PID" "$port"
        rc=$?
        [ "$rc" -eq 0 ] && { echo "# redis-server pid $SRV_PID on 127.0.0.1:$port"; return 0; }
        if [ "$rc" -eq 2 ] && grep -qi 'in use' "$SRV_LOG" 2>/dev/null; then
            continue
        fi
        break
    done
    harness_error "redis-server did not start (args: $*)"
}

# The server under test: dynamod, or redis-server with DYN_TEST_SERVER=redis.
start_server() {
    if [ "$DYN_TEST_SERVER" = redis ]; then start_redis "$@"; else start_dynamod "$@"; fi
}
is_dynamod() { [ "$DYN_TEST_SERVER" != redis ]; }

# wait_exit PID DEADLINE_S: waits for a server this test started to exit and
# sets EXIT_RC to its exit status, or to "timeout" (then it is killed).  Call
# it directly, not in $(...): only this shell can reap its children.
wait_exit() {
    local pid=$1 limit=${2:-10} i
    EXIT_RC=timeout
    for ((i = 0; i < limit * 20; i++)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            wait "$pid"; EXIT_RC=$?
            untrack_pid "$pid"
            return 0
        fi
        sleep 0.05
    done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    untrack_pid "$pid"
    return 1
}

# stop_server PID DEADLINE_S: SIGTERM, then wait_exit.
stop_server() {
    kill -TERM "$1" 2>/dev/null
    wait_exit "$@"
}

# cli PORT args...: redis-cli against 127.0.0.1:PORT.
cli() {
    local port=$1; shift
    redis-cli -h 127.0.0.1 -p "$port" "$@"
}
