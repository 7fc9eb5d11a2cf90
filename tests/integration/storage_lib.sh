# storage_lib.sh -- helpers for the durable-storage tests (sourced after
# lib.sh, bash).
#
# lib.sh's start_dynamod gives every server a fresh data directory; the
# storage tests must restart a node on the SAME directory (after kill -9, or
# a clean SIGTERM) and wait until it has finished loading.  So:
#
#   start_dynamod_dir DIR [--opt value ...]
#       Starts dynamod with --dir DIR on a free port, tracks its PID for the
#       EXIT trap, and polls PING (deadline) until it answers.  Sets SRV_PORT,
#       SRV_PID, SRV_LOG.  The log file is $WORK/<basename DIR>.log, appended
#       to by every restart, so a failing test prints the whole history.
#       With DYN_TEST_SERVER=redis it starts redis-server on DIR instead, with
#       appendonly yes (the options are translated: see _redis_args), which
#       lets a test check its own expectations against Redis.
#   wait_loaded PORT [DEADLINE_S]
#       Polls INFO persistence until it answers with loading:0.  Returns 1 on
#       the deadline (default 60 s).
#   kill9 PID
#       SIGKILL, reap, forget.
#   info_field PORT SECTION FIELD
#       Prints one INFO field's value (empty if absent).
#   (wait_file and load_collect, for crash_load.py, are in lib.sh)
#   dir_bytes DIR / dir_kbytes DIR
#       Apparent bytes of all files under DIR / allocated KiB (du -sk).
#   build_shim
#       Builds fsync_shim.c (an LD_PRELOAD library that fails fsync, or
#       the journal's writes, on demand) into $SHIM; skips the test (77)
#       without a C compiler.
#
# Every loop here is bounded by a count and a deadline.

# _redis_args: dynamod storage options -> redis-server options.
_redis_args() {
    local out=() fs=everysec
    while [ $# -gt 0 ]; do
        case $1 in
            --appendfsync) fs=$2; shift ;;
            --storage|--segment-max-bytes|--compact-ratio|--value-cache|--node-name) shift ;;
            *) out+=("$1") ;;
        esac
        shift
    done
    printf '%s\n' --appendonly yes --appendfsync "$fs" "${out[@]}"
}

start_dynamod_dir() {
    local dir=$1; shift
    local attempt port rc args
    mkdir -p "$dir" || harness_error "mkdir $dir"
    SRV_LOG="$WORK/$(basename "$dir").log"
    for attempt in 1 2 3; do
        port=$(free_port) || exit 99
        if [ "${DYN_TEST_SERVER:-dynamod}" = redis ]; then
            mapfile -t args < <(_redis_args "$@")
            redis-server --port "$port" --bind 127.0.0.1 --save '' \
                --daemonize no --dir "$dir" --logfile "$SRV_LOG" \
                "${args[@]}" >/dev/null 2>&1 &
        else
            [ -x "$DYNAMOD" ] || harness_error "DYNAMOD=$DYNAMOD is not executable"
            "$DYNAMOD" "$@" --port "$port" --bind 127.0.0.1 --dir "$dir" \
                --logfile "$SRV_LOG" >>"$WORK/$(basename "$dir").stdout.log" 2>&1 &
        fi
        SRV_PID=$!
        SRV_PORT=$port
        track_pid "$SRV_PID"
        _wait_up "$SRV_PID" "$port"
        rc=$?
        [ "$rc" -eq 0 ] && return 0
        if [ "$rc" -eq 2 ] && grep -qi 'in use' "$SRV_LOG" \
            "$WORK/$(basename "$dir").stdout.log" 2>/dev/null; then
            continue
        fi
        break
    done
    fail "server did not start and answer PING on $dir (args: $*)"
    sed 's/^/#   /' "$WORK/$(basename "$dir").stdout.log" 2>/dev/null | tail -n 5
    exit 1
}

info_field() {
    redis-cli -h 127.0.0.1 -p "$1" INFO "$2" 2>/dev/null | tr -d '\r' |
        sed -n "s/^$3://p" | head -n 1
}

wait_loaded() {
    local port=$1 limit=${2:-60} i v
    for ((i = 0; i < limit * 50; i++)); do
        v=$(info_field "$port" persistence loading)
        [ "$v" = 0 ] && return 0
        sleep 0.02
    done
    return 1
}

kill9() {
    kill -KILL "$1" 2>/dev/null
    wait "$1" 2>/dev/null
    untrack_pid "$1"
}

dir_bytes() {
    find "$1" -type f -printf '%s\n' 2>/dev/null | awk '{ s += $1 } END { printf "%d\n", s }'
}
dir_kbytes() { du -sk "$1" 2>/dev/null | awk '{ print $1 }'; }

# The INFO persistence lines about loading/recovery, for the test's output.
show_loading_info() {
    redis-cli -h 127.0.0.1 -p "$1" INFO persistence 2>/dev/null | tr -d '\r' |
        grep -iE 'load|recover|corrupt|trunc|hint|segment|compact' |
        grep -v '^loading:' | tr '\n' ' ' | sed 's/^/# /'
    echo
}

# resp1 PORT ARG...: sends one command on a fresh connection and prints the
# first line of the reply, raw ("+OK", "-ERR ...", ":1", "$5"), without the
# CR.  redis-cli hides whether a reply was an error; this does not.  ASCII
# arguments only (lengths are counted in characters).
resp1() {
    local port=$1 a line=
    shift
    { exec 8<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null || { printf 'CONNECT-FAILED'; return 1; }
    {
        printf '*%d\r\n' $#
        for a in "$@"; do printf '$%d\r\n%s\r\n' ${#a} "$a"; done
    } >&8
    IFS= read -r -t 10 line <&8
    exec 8<&- 8>&-
    printf '%s' "${line%$'\r'}"
}

# resp_pipeline PORT "CMD ARG.." "CMD ARG.." ...: sends every command in ONE
# write on a fresh connection (words split on spaces, ASCII) and prints the
# first line of each reply, one a line, raw.  For replies of one line only
# (status, error, integer): a pipeline whose replies must stay in step.
resp_pipeline() {
    local port=$1 cmd w line i req= part
    shift
    { exec 8<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null || { echo CONNECT-FAILED; return 1; }
    for cmd in "$@"; do
        read -r -a w <<<"$cmd"
        printf -v part '*%d\r\n' ${#w[@]}
        req+=$part
        for i in "${w[@]}"; do
            printf -v part '$%d\r\n%s\r\n' ${#i} "$i"
            req+=$part
        done
    done
    printf '%s' "$req" >&8
    for cmd in "$@"; do
        line=
        IFS= read -r -t 10 line <&8
        printf '%s\n' "${line%$'\r'}"
    done
    exec 8<&- 8>&-
}

build_shim() {
    local cc=${CC:-cc}
    command -v "$cc" >/dev/null 2>&1 || skip "no C compiler ($cc) to build the LD_PRELOAD shim"
    SHIM=$WORK/fsync_shim.so
    "$cc" -shared -fPIC -o "$SHIM" "$TOP_SRCDIR/tests/integration/fsync_shim.c" -ldl \
        >"$WORK/cc.out" 2>&1 || { cat "$WORK/cc.out"; harness_error "cannot build fsync_shim.so"; }
}
