#!/bin/sh
# t_config.sh -- the configuration as a user meets it on a real dynamod:
# a bad config file or command-line option stops the server with status 1
# and a message that names the file and line (or the option); a good file
# plus a --port override starts a node that answers PING and reports the
# override through CONFIG GET; CONFIG SET changes runtime options and
# refuses immutable ones with Redis's wording; SIGTERM exits 0.
#
# Automake test protocol: 0 pass, 1 fail, 77 skip, 99 hard error.
# Env: DYNAMOD (the binary, from make check), TOP_SRCDIR (for
# conf/dynamod.conf), T_CONFIG_PORT (first port to try, default 7101).

set -u

if [ -z "${DYNAMOD:-}" ] || [ ! -x "${DYNAMOD:-}" ]; then
    echo "SKIP: dynamod binary not found (DYNAMOD='${DYNAMOD:-}')"
    exit 77
fi
if ! command -v redis-cli >/dev/null 2>&1; then
    echo "SKIP: redis-cli not installed (apt-get install redis-tools)"
    exit 77
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/t_config.XXXXXX") || exit 99
PIDS=""
FAILED=0
cleanup() {
    for p in $PIDS; do
        kill -9 "$p" 2>/dev/null
    done
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 99' INT TERM HUP

fail() {
    echo "FAIL: $*"
    FAILED=1
}
pass() {
    echo "ok: $*"
}

# Runs dynamod with the given arguments and expects it to exit at once with
# status 1, printing every one of the remaining words (after --) on stderr.
#   expect_config_error "what" args... -- word...
expect_config_error() {
    what=$1
    shift
    args=""
    while [ $# -gt 0 ] && [ "$1" != "--" ]; do
        args="$args $1"
        shift
    done
    [ $# -gt 0 ] && shift
    # A dynamod that wrongly accepted the config would serve forever:
    # timeout bounds it.
    # shellcheck disable=SC2086
    timeout 10 "$DYNAMOD" $args >"$TMP/err.out" 2>&1
    rc=$?
    if [ "$rc" -ne 1 ]; then
        fail "$what: exit status $rc, expected 1"
        sed 's/^/    | /' "$TMP/err.out"
        return
    fi
    for word in "$@"; do
        if ! grep -F -q -- "$word" "$TMP/err.out"; then
            fail "$what: message does not contain '$word'"
            sed 's/^/    | /' "$TMP/err.out"
            return
        fi
    done
    pass "$what: exit 1, message names $*"
}

# Waits until our child $1 exits (deadline $2 tenths of a second) and sets
# STATUS to its exit status, or to "timeout".  (Not in $(...): a subshell
# cannot wait for its parent's children.)
wait_exit() {
    n=0
    while kill -0 "$1" 2>/dev/null; do
        n=$((n + 1))
        if [ "$n" -gt "$2" ]; then
            STATUS=timeout
            return
        fi
        sleep 0.1
    done
    wait "$1"
    STATUS=$?
}

cli() {
    redis-cli -p "$PORT" "$@" 2>&1
}

# ---- bad configs stop the server ------------------------------------------

printf 'port 7001\n\n# a comment\nprot 5\n' >"$TMP/unknown.conf"
expect_config_error "unknown option in a file" "$TMP/unknown.conf" -- \
    "unknown.conf:4:" "prot"

printf '# bad value on line 2\nport abc\n' >"$TMP/badvalue.conf"
expect_config_error "bad value in a file" "$TMP/badvalue.conf" -- \
    "badvalue.conf:2:" "port" "abc"

printf 'requirepass "unterminated\n' >"$TMP/quotes.conf"
expect_config_error "unbalanced quotes in a file" "$TMP/quotes.conf" -- \
    "quotes.conf:1:"

expect_config_error "unknown --option" --prot 5 -- "--prot"
expect_config_error "bad --option value" --port abc -- "--port" "abc"
expect_config_error "missing config file" "$TMP/nonexistent.conf" -- \
    "nonexistent.conf"
expect_config_error "w greater than n" --n 1 --r 1 --w 2 -- "w" "n"
expect_config_error "daemonize yes" --daemonize yes -- "daemonize"

# ---- a good config with a --port override ---------------------------------

mkdir -p "$TMP/data"
if [ -n "${TOP_SRCDIR:-}" ] && [ -r "$TOP_SRCDIR/conf/dynamod.conf" ]; then
    cp "$TOP_SRCDIR/conf/dynamod.conf" "$TMP/good.conf" || exit 99
else
    : >"$TMP/good.conf"
fi
# Later lines win, so these override the shipped defaults.
cat >>"$TMP/good.conf" <<EOF
port 7001
hz 20
maxclients 500
dir "$TMP/data"
EOF

PORT=""
SERVER_PID=""
base=${T_CONFIG_PORT:-7101}
# Try a few ports: another test (or program) may hold one.
for p in $(seq "$base" $((base + 9))); do
    if [ "$(redis-cli -p "$p" PING 2>/dev/null)" = "PONG" ]; then
        continue # something already answers there
    fi
    "$DYNAMOD" "$TMP/good.conf" --port "$p" >"$TMP/server.log" 2>&1 &
    pid=$!
    PIDS="$PIDS $pid"
    # Poll until it answers or dies, with a 10 s deadline.
    n=0
    up=0
    while [ "$n" -lt 100 ]; do
        if [ "$(redis-cli -p "$p" PING 2>/dev/null)" = "PONG" ]; then
            up=1
            break
        fi
        kill -0 "$pid" 2>/dev/null || break
        n=$((n + 1))
        sleep 0.1
    done
    if [ "$up" -eq 1 ]; then
        PORT=$p
        SERVER_PID=$pid
        break
    fi
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    if ! grep -q -i "address already in use\|bind" "$TMP/server.log"; then
        break # not a port clash: a real failure
    fi
done

if [ -z "$PORT" ]; then
    echo "FAIL: dynamod did not start and answer PING; its log:"
    sed 's/^/    | /' "$TMP/server.log"
    exit 1
fi
pass "dynamod good.conf --port $PORT answers PING"

check_eq() {
    if [ "$2" = "$3" ]; then
        pass "$1"
    else
        fail "$1: got '$2', expected '$3'"
    fi
}

check_eq "CONFIG GET port shows the --port override" \
    "$(cli CONFIG GET port | tr '\n' ' ')" "port $PORT "
check_eq "CONFIG GET hz shows the file's value" \
    "$(cli CONFIG GET hz | tr '\n' ' ')" "hz 20 "
check_eq "CONFIG GET maxclients shows the file's value" \
    "$(cli CONFIG GET maxclients | sed -n 2p)" "500"
check_eq "CONFIG SET maxclients (runtime option)" \
    "$(cli CONFIG SET maxclients 600)" "OK"
check_eq "CONFIG GET maxclients after CONFIG SET" \
    "$(cli CONFIG GET maxclients | sed -n 2p)" "600"
check_eq "CONFIG SET of an immutable option" \
    "$(cli CONFIG SET port 7001)" \
    "ERR CONFIG SET failed (possibly related to argument 'port') - can't set immutable config"
check_eq "CONFIG SET of an unknown option" \
    "$(cli CONFIG SET nosuch 1)" \
    "ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'"
check_eq "CONFIG SET with a bad integer" \
    "$(cli CONFIG SET maxclients abc)" \
    "ERR CONFIG SET failed (possibly related to argument 'maxclients') - argument couldn't be parsed into an integer"
check_eq "CONFIG GET node-name defaults from the port" \
    "$(cli CONFIG GET node-name | sed -n 2p)" "node-$PORT"

# ---- SIGTERM exits cleanly -------------------------------------------------

kill -TERM "$SERVER_PID"
wait_exit "$SERVER_PID" 100
[ "$STATUS" != timeout ] && PIDS=""
check_eq "SIGTERM: dynamod exits with status 0" "$STATUS" "0"
if [ "$(redis-cli -p "$PORT" PING 2>/dev/null)" = "PONG" ]; then
    fail "port $PORT still answers after SIGTERM"
fi

if [ "$FAILED" -ne 0 ]; then
    echo "--- dynamod log ---"
    sed 's/^/    | /' "$TMP/server.log"
    exit 1
fi
exit 0
