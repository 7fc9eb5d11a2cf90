#!/bin/sh
# t_config.sh -- the configuration as a user meets it on a real dynamod:
# a bad config file or command-line option stops the server with status 1
# and a message that names the file and line (or the option); a good file
# plus a --port override starts a node that answers PING and reports the
# override through CONFIG GET; CONFIG SET changes runtime options and
# refuses immutable ones with Redis's wording; SIGTERM exits 0.  A node with
# a cluster-secret never shows it: CONFIG GET, INFO, the DYNAMO.* read
# commands and the log all lack it, CONFIG SET of it is refused, and the
# config file keeps it; requirepass keeps Redis's semantics (shown to a
# client that authenticated with it).
#
# Automake test protocol: 0 pass, 1 fail, 77 skip, 99 hard error.
# Env: DYNAMOD (the binary, from make check), TOP_SRCDIR (for
# conf/dynamod.conf), T_CONFIG_PORT (first port to try; default the low
# end of DYN_TEST_PORTS, else 7101).

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
expect_config_error "w greater than n" --n 1 --r 1 --w 2 -- \
    "command line: --w 2: w (2) must not be greater than n (1)" \
    "(n is set at command line: --n 1)"
expect_config_error "daemonize yes" --daemonize yes -- \
    "command line: --daemonize yes: daemonize yes is not supported"

# Cross-field and directory errors name the line of the option they blame.
printf 'port 7001\nn 2\n\nr 3\n' >"$TMP/rn.conf"
expect_config_error "r greater than n in a file" "$TMP/rn.conf" -- \
    "rn.conf:4: r (3) must not be greater than n (2) (n is set at" \
    "rn.conf:2)"
expect_config_error "r greater than n on the command line" --r 5 -- \
    "command line: --r 5: r (5) must not be greater than n (3)"
# n is bounded by what a quorum tracks (QUORUM_MAX, 16), not silently clamped
printf 'port 7001\nr 1\nw 1\nn 17\n' >"$TMP/nmax.conf"
expect_config_error "n above 16 in a file" "$TMP/nmax.conf" -- \
    "nmax.conf:4: invalid value for 'n': '17' (must be an integer between" \
    "1 and 16)"
printf 'port 7001\ncluster-secret s\ncluster-node a 127.0.0.1:99999\n' \
    >"$TMP/member.conf"
expect_config_error "a bad cluster-node port" "$TMP/member.conf" \
    --node-name a -- "member.conf:3: invalid value for 'cluster-node'" \
    "127.0.0.1:99999"
printf 'port 7001\n# no secret\ncluster-node a 127.0.0.1:7001\n' \
    >"$TMP/nosecret.conf"
expect_config_error "cluster-node lines without a secret" \
    "$TMP/nosecret.conf" --node-name a -- \
    "nosecret.conf:3: cluster-secret is not set"
printf '\ndaemonize yes\n' >"$TMP/daemonize.conf"
expect_config_error "daemonize yes in a file" "$TMP/daemonize.conf" -- \
    "daemonize.conf:2: daemonize yes is not supported"
printf 'port 7001\ndir %s/missing/data\n' "$TMP" >"$TMP/dirmissing.conf"
expect_config_error "dir missing" "$TMP/dirmissing.conf" -- \
    "dirmissing.conf:2: dir '$TMP/missing/data' does not exist"
: >"$TMP/afile"
printf 'dir %s/afile\n' "$TMP" >"$TMP/dirfile.conf"
expect_config_error "dir is a file" "$TMP/dirfile.conf" -- \
    "dirfile.conf:1: dir '$TMP/afile' is not a directory"
# Root writes through permissions; sysfs refuses even root.
mkdir "$TMP/ro" && chmod 555 "$TMP/ro"
if [ "$(id -u)" -eq 0 ]; then ro=/sys; else ro=$TMP/ro; fi
if (: >"$ro/.probe") 2>/dev/null; then
    rm -f "$ro/.probe"
    echo "ok: # SKIP dir not writable: $ro is writable here"
else
    printf 'port 7001\n\n\ndir %s\n' "$ro" >"$TMP/dirro.conf"
    expect_config_error "dir not writable" "$TMP/dirro.conf" -- \
        "dirro.conf:4: dir '$ro' is not writable"
fi
printf 'port 7001\nlogfile %s/missing/dynamod.log\n' "$TMP" >"$TMP/log.conf"
expect_config_error "logfile in a missing directory" "$TMP/log.conf" -- \
    "log.conf:2: Can't open the log file"
printf 'cluster-secret s\ncluster-node a 127.0.0.1:7001\n' >"$TMP/twice.conf"
printf 'cluster-node a 127.0.0.1:7002\n' >>"$TMP/twice.conf"
expect_config_error "a member named twice" "$TMP/twice.conf" -- \
    "twice.conf:3: cluster-node 'a' appears twice"
# cluster-announce-ip: a numeric address another host can dial, refused at
# its line; what a node would advertise is checked at start, blaming the
# line of the option to change.  (Every node below is refused before its
# peer bus starts: nothing is dialed.)
printf 'port 7001\n\ncluster-announce-ip 0.0.0.0\n' >"$TMP/ann0.conf"
expect_config_error "cluster-announce-ip a wildcard" "$TMP/ann0.conf" -- \
    "ann0.conf:3: invalid value for 'cluster-announce-ip': '0.0.0.0'" \
    "numeric IPv4 or IPv6 address that is not a wildcard"
expect_config_error "cluster-announce-ip ::" --cluster-announce-ip :: -- \
    "--cluster-announce-ip: invalid value '::'" "not a wildcard"
expect_config_error "cluster-announce-ip a host name" \
    --cluster-announce-ip db1.example -- \
    "--cluster-announce-ip: invalid value 'db1.example'" "numeric"
printf 'cluster-announce-ip 10.0.0.1 10.0.0.2\n' >"$TMP/ann2.conf"
expect_config_error "cluster-announce-ip two addresses" "$TMP/ann2.conf" -- \
    "ann2.conf:1: wrong number of values for 'cluster-announce-ip'"
printf 'port 7001\ncluster-secret s\nbind 0.0.0.0\nseed 127.0.0.1:7002\n' \
    >"$TMP/annwild.conf"
expect_config_error "a joiner bound to 0.0.0.0 without cluster-announce-ip" \
    "$TMP/annwild.conf" -- "annwild.conf:3: bind '0.0.0.0' has no address" \
    "set cluster-announce-ip"
printf 'port 7001\ncluster-secret s\nbind 127.0.0.1\nseed 198.18.0.1:7002\n' \
    >"$TMP/annlo.conf"
expect_config_error "loopback only, with a seed off loopback" \
    "$TMP/annlo.conf" -- "annlo.conf:3: bind '127.0.0.1' has no address" \
    "not on loopback" "set cluster-announce-ip"
printf 'cluster-announce-ip 127.0.0.1\n' >>"$TMP/annlo.conf"
expect_config_error "cluster-announce-ip loopback, with a seed off loopback" \
    "$TMP/annlo.conf" -- "annlo.conf:5: cluster-announce-ip '127.0.0.1'" \
    "not on loopback"
printf 'cluster-secret s\ncluster-node a 127.0.0.1:7001\n' >"$TMP/annline.conf"
printf 'cluster-announce-ip 127.0.0.9\n' >>"$TMP/annline.conf"
expect_config_error "cluster-announce-ip beside a different cluster-node line" \
    "$TMP/annline.conf" --node-name a -- \
    "annline.conf:3: cluster-announce-ip '127.0.0.9' differs from the" \
    "cluster-node line of 'a' (127.0.0.1)"
expect_config_error "node-name not among the members" "$TMP/nosecret.conf" \
    --cluster-secret s --node-name zz -- \
    "command line: --node-name zz: node-name 'zz' is not among"
expect_config_error "dir not a directory, on the command line" \
    --dir "$TMP/afile" -- "command line: --dir $TMP/afile: dir"

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

base=${T_CONFIG_PORT:-}
if [ -z "$base" ] && [ -n "${DYN_TEST_PORTS:-}" ]; then
    base=${DYN_TEST_PORTS%%-*}
fi
base=${base:-7101}

# start_node LOG ARGS...: starts dynamod ARGS --port P on the first of ten
# ports from $base that works; sets PORT and SERVER_PID, or exits 1.
start_node() {
    log=$1
    shift
    PORT=""
    SERVER_PID=""
    # Try a few ports: another test (or program) may hold one.
    for p in $(seq "$base" $((base + 9))); do
        if [ "$(redis-cli -p "$p" PING 2>/dev/null)" = "PONG" ]; then
            continue # something already answers there
        fi
        "$DYNAMOD" "$@" --port "$p" >"$log" 2>&1 &
        pid=$!
        PIDS="$PIDS $pid"
        # Poll until it answers (PONG, or NOAUTH with requirepass) or dies,
        # with a 10 s deadline.
        n=0
        up=0
        while [ "$n" -lt 100 ]; do
            case "$(redis-cli -p "$p" PING 2>&1)" in
            PONG | NOAUTH*) up=1; break ;;
            esac
            kill -0 "$pid" 2>/dev/null || break
            n=$((n + 1))
            sleep 0.1
        done
        if [ "$up" -eq 1 ]; then
            PORT=$p
            SERVER_PID=$pid
            return 0
        fi
        kill -9 "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        if ! grep -q -i "address already in use\|bind" "$log"; then
            break # not a port clash: a real failure
        fi
    done
    echo "FAIL: dynamod did not start and answer PING; its log:"
    sed 's/^/    | /' "$log"
    exit 1
}

start_node "$TMP/server.log" "$TMP/good.conf"
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
check_eq "CONFIG SET n above 16 is refused" \
    "$(cli CONFIG SET n 17)" \
    "ERR CONFIG SET failed (possibly related to argument 'n') - argument must be between 1 and 16 inclusive"
check_eq "DYNAMO.CONFIG SET n above 16 is refused" \
    "$(cli DYNAMO.CONFIG SET n 17)" \
    "ERR N must be at most 16 (the replicas a quorum can track)"
check_eq "... and n is unchanged" "$(cli CONFIG GET n | sed -n 2p)" "3"
check_eq "DYNAMO.CONFIG SET n 16 is accepted" \
    "$(cli DYNAMO.CONFIG SET n 16)" "OK"
check_eq "CONFIG GET n after DYNAMO.CONFIG SET" \
    "$(cli CONFIG GET n | sed -n 2p)" "16"
check_eq "CONFIG GET cluster-announce-ip is empty by default" \
    "$(cli CONFIG GET cluster-announce-ip | tr '\n' ' ')" \
    "cluster-announce-ip  "
check_eq "CONFIG SET cluster-announce-ip is refused" \
    "$(cli CONFIG SET cluster-announce-ip 10.0.0.1)" \
    "ERR CONFIG SET failed (possibly related to argument 'cluster-announce-ip') - can't set immutable config"
check_eq "CONFIG GET node-name defaults from the port" \
    "$(cli CONFIG GET node-name | sed -n 2p)" "node-$PORT"

# ---- the cluster secret is never shown ------------------------------------

# A node with a secret and no members waits for DYNAMO.JOIN: its peer bus
# listens on cluster-port, taken from the same range.
SECRET='s3cr3t-Peer-Key-7f2a'
PASSWORD='client-pass-91'
mkdir -p "$TMP/sdata"
cat >"$TMP/secret.conf" <<EOF
dir "$TMP/sdata"
logfile "$TMP/secret.dynamod.log"
loglevel verbose
cluster-secret "$SECRET"
requirepass "$PASSWORD"
EOF
cp "$TMP/secret.conf" "$TMP/secret.conf.orig"
GOOD_PORT=$PORT
GOOD_PID=$SERVER_PID
base=$((base + 10))
start_node "$TMP/secret.out" "$TMP/secret.conf" --cluster-port $((base + 20))
base=$((base - 10))
SPORT=$PORT
SPID=$SERVER_PID
PORT=$GOOD_PORT
SERVER_PID=$GOOD_PID
scli() {
    redis-cli -p "$SPORT" --no-auth-warning -a "$PASSWORD" "$@" 2>&1
}
check_eq "CONFIG GET cluster-secret is redacted" \
    "$(scli CONFIG GET cluster-secret | tr '\n' ' ')" \
    "cluster-secret (redacted) "
check_eq "CONFIG GET *secret* is redacted" \
    "$(scli CONFIG GET '*secret*' | sed -n 2p)" "(redacted)"
check_eq "CONFIG SET cluster-secret is refused" \
    "$(scli CONFIG SET cluster-secret other)" \
    "ERR CONFIG SET failed (possibly related to argument 'cluster-secret') - can't set immutable config"
check_eq "CONFIG GET cluster-secret after the refused SET" \
    "$(scli CONFIG GET cluster-secret | sed -n 2p)" "(redacted)"
check_eq "CONFIG GET requirepass needs AUTH first" \
    "$(redis-cli -p "$SPORT" CONFIG GET requirepass 2>&1 | cut -c1-6)" \
    "NOAUTH"
check_eq "CONFIG GET requirepass shows it after AUTH (as Redis does)" \
    "$(scli CONFIG GET requirepass | sed -n 2p)" "$PASSWORD"
scli CONFIG REWRITE >/dev/null
if cmp -s "$TMP/secret.conf" "$TMP/secret.conf.orig" &&
    grep -q -F -- "$SECRET" "$TMP/secret.conf"; then
    pass "CONFIG REWRITE leaves the real secret in the file"
else
    fail "CONFIG REWRITE changed the config file"
fi
# Everything a client can read: every option, every INFO section, the
# DYNAMO.* read commands and the client list.
{
    scli CONFIG GET '*'
    scli INFO everything
    scli CLIENT LIST
    for c in "DYNAMO.MEMBERS" "DYNAMO.RING" "DYNAMO.CONFIG GET n" \
        "DYNAMO.HINTS" "DYNAMO.FAULT LIST" "DYNAMO.PREFLIST k"; do
        # shellcheck disable=SC2086
        scli $c
    done
} >"$TMP/readable.out"
if [ "$(wc -l <"$TMP/readable.out")" -gt 100 ] &&
    grep -q -F "cluster-secret" "$TMP/readable.out"; then
    if grep -q -F -- "$SECRET" "$TMP/readable.out"; then
        fail "a client can read the secret:"
        grep -F -- "$SECRET" "$TMP/readable.out" | sed 's/^/    | /'
    else
        pass "no client-readable output holds the secret"
    fi
else
    fail "the client-readable output is missing ($(wc -l <"$TMP/readable.out") lines)"
fi
kill -TERM "$SPID"
wait_exit "$SPID" 100
check_eq "SIGTERM: the node with a secret exits with status 0" "$STATUS" "0"
if grep -q -F "Ready to accept" "$TMP/secret.dynamod.log" &&
    ! grep -q -F -- "$SECRET" "$TMP/secret.dynamod.log" "$TMP/secret.out"; then
    pass "the log does not hold the secret"
else
    fail "the log holds the secret, or is empty"
    sed 's/^/    | /' "$TMP/secret.dynamod.log"
fi
printf 'cluster-secret "%s\n' "$SECRET" >"$TMP/secretquote.conf"
timeout 10 "$DYNAMOD" "$TMP/secretquote.conf" >"$TMP/err.out" 2>&1
if grep -q -F "secretquote.conf:1:" "$TMP/err.out" &&
    ! grep -q -F -- "$SECRET" "$TMP/err.out"; then
    pass "a bad secret line is named without quoting the secret"
else
    fail "a bad secret line: the error quotes the secret or lacks file:line"
    sed 's/^/    | /' "$TMP/err.out"
fi

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
