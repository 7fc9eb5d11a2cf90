#!/usr/bin/env bash
# t_compaction.sh -- compaction gives back the space of overwritten records,
# loses nothing, and survives kill -9 in the middle.
#
# dynamod: `storage disk`, `segment-max-bytes 1mb`, `compact-ratio 0.5`.
#
# Phase 1, space.  K keys (key:%08d, 12 bytes) get 200-byte values, then are
# overwritten 10 times (same sizes).  The live data is the bytes of the
# latest record of every key:
#     live = sum over keys of (record framing + key + encoded object)
# where the encoded object (value plus vector clock) is the engine's own
# business.  So it is measured: after the first round every record on disk
# is the latest for its key, hence live = the bytes of the data files then
# (hint files excluded), and it is checked to be at least K x (18 + 12 + 200)
# (seglog's 10-byte header and 8-byte checksum).  The overwrites keep each
# record's size (within a few percent: the vector clock's counter grows;
# the node name is pinned so that no restart adds an actor, see BASE_OPTS),
# so live stays about that figure.  Disk use (all files in the
# directory, hints included: apparent bytes, and du's allocated blocks) must
# fall to at most 1.5 x live within COMPACT_DEADLINE seconds (polled), every
# key must hold its last value, also after a clean restart.
#
# Phase 2, kill -9 during compaction.  COMPACT_KILLS times: a writer
# overwrites all keys again and again (pipelined; it records how many writes
# of the round in progress were acknowledged, a prefix), and the node is
# killed -9 -- by crash_load.py killer, which polls INFO every millisecond and
# kills as soon as it shows compaction_in_progress:1, or else at a random
# moment 0.15-1.5 s after the writer connected.  After the restart every
# acknowledged write is there and every other key holds its previous or its
# new value.  A full rewrite then sets a new baseline (and makes more garbage
# to compact).  At the end, 10 more overwrites: disk use must again fall
# within 1.5 x live, with no *.tmp file left and no segment file the engine
# does not count (an interrupted compaction must not leak files).
# Phase 2 runs with appendfsync $COMPACT_KILL_FSYNC, default everysec: the
# engine write(2)s every record before it replies, so a process crash loses
# no acknowledged write in that mode either (engine.h), and everysec is fast
# enough to make compactions happen while the writer runs.  (With always and
# no group commit each write costs an fsync, ~5 ms here.)
#
# Env: COMPACT_KEYS (20000), COMPACT_KILLS (5), COMPACT_DEADLINE (240),
# COMPACT_KILL_FSYNC (everysec).
. "${TOP_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$TOP_SRCDIR/tests/integration/storage_lib.sh"
need_cmd redis-cli
is_dynamod || skip "dynamod-only test"
[ -x "$PYTHON" ] || skip "no python ($PYTHON)"

K=${COMPACT_KEYS:-20000}
KILLS=${COMPACT_KILLS:-5}
DEADLINE=${COMPACT_DEADLINE:-240}
KILL_FSYNC=${COMPACT_KILL_FSYNC:-everysec}
VS=200
LOAD="$TOP_SRCDIR/tests/integration/crash_load.py"
DATA=$WORK/data
# The node name is pinned: by default it is node-<port>, and every restart
# here picks a new free port, so each life would be a new actor and every
# vector clock would grow an entry per restart (records went from ~270 to
# ~377 bytes after five kills), which made the phase-1 baseline of the live
# data wrong, not the engine's count.  A real node keeps its name.
BASE_OPTS=(--storage disk --segment-max-bytes 1mb --compact-ratio 0.5 --node-name compaction-node)

# Bytes of the data files: everything but hint files.
data_bytes() {
    find "$1" -type f ! -iname '*hint*' -printf '%s\n' |
        awk '{ s += $1 } END { printf "%d\n", s }'
}
# Waits until the data files stop changing (3 equal polls, 10 s deadline).
wait_stable() {
    local last=-1 same=0 i b
    for ((i = 0; i < 100; i++)); do
        b=$(data_bytes "$DATA")
        if [ "$b" = "$last" ]; then
            same=$((same + 1))
            [ "$same" -ge 3 ] && return 0
        else
            same=0
        fi
        last=$b
        sleep 0.1
    done
    return 1
}
# The engine's compaction-in-progress flag, if INFO has one ("" if not).
compacting() {
    redis-cli -h 127.0.0.1 -p "$1" INFO persistence 2>/dev/null | tr -d '\r' |
        grep -iE '^[a-z_]*compact[a-z_]*(in_progress|running|active)[a-z_]*:|^[a-z_]*compacting:' |
        head -n 1 | sed 's/.*://'
}
compaction_info() {
    redis-cli -h 127.0.0.1 -p "$1" INFO persistence 2>/dev/null | tr -d '\r' |
        grep -iE 'compact|stall|loop_worst|dead|segment|^disk_|read_errors|corrupt' | tr '\n' ' '
}
fill() { "$PYTHON" "$LOAD" fill --port "$P" --keys "$K" --vsize $VS "$@"; }
check() { "$PYTHON" "$LOAD" check --port "$P" --keys "$K" --vsize $VS "$@"; }
# within_limit: disk use (apparent and allocated) <= 1.5 x live?
within_limit() {
    local b kb n
    b=$(dir_bytes "$DATA")
    kb=$(dir_kbytes "$DATA")
    n=$(find "$DATA" -type f | wc -l)
    # du counts whole blocks (and the directory itself): allow 4 KiB a file.
    [ $((b * 2)) -le $((LIVE * 3)) ] &&
        [ $((kb * 1024 * 2)) -le $((LIVE * 3 + (n + 1) * 8192)) ]
}
wait_within_limit() { # what
    local i t0=$SECONDS
    for ((i = 0; i < DEADLINE * 10; i++)); do
        within_limit && break
        [ $((SECONDS - t0)) -ge "$DEADLINE" ] && break
        sleep 0.1
    done
    local b kb
    b=$(dir_bytes "$DATA")
    kb=$(dir_kbytes "$DATA")
    if within_limit; then
        ok "$1: disk use $b bytes (du $kb KiB) <= 1.5 x live $LIVE ($(awk -v b="$b" -v l="$LIVE" 'BEGIN { printf "%.2f", b / l }')x) after $((SECONDS - t0)) s"
    else
        fail "$1: disk use $b bytes (du $kb KiB) still > 1.5 x live $LIVE after ${DEADLINE} s; files: $(cd "$DATA" && ls -l | awk 'NR > 1 { printf "%s:%s ", $9, $5 }')"
    fi
    echo "# $(compaction_info "$P")"
}

# ---- phase 1 -----------------------------------------------------------------
start_dynamod_dir "$DATA" "${BASE_OPTS[@]}" --appendfsync everysec
P=$SRV_PORT
wait_loaded "$P" 30 || { fail "node never reported loading:0"; finish; }

fill --tag r1 >"$WORK/fill.out" 2>&1 || { cat "$WORK/fill.out"; fail "first write round failed"; finish; }
wait_stable || harness_error "data files never stopped growing after round 1"
LIVE=$(data_bytes "$DATA")
MIN=$((K * (18 + 12 + VS)))
echo "# live data: $LIVE bytes for $K keys = $((LIVE / K)) bytes a record (12-byte key, ${VS}-byte value, $((LIVE / K - 12 - VS)) bytes framing + encoding)"
if [ "$LIVE" -lt "$MIN" ]; then
    fail "live data $LIVE bytes < $MIN (K x (18 + 12 + $VS)): are the data files elsewhere?"
    finish
fi

T0=$SECONDS
fill --tag o --repeat 10 >"$WORK/fill.out" 2>&1 ||
    { cat "$WORK/fill.out"; fail "overwrite rounds failed"; finish; }
echo "# 10 overwrites of $K keys in $((SECONDS - T0)) s; disk use right after: $(dir_bytes "$DATA") bytes"
wait_within_limit "after 10 overwrites"
if check --tag o.10 >"$WORK/check.out" 2>&1; then
    ok "all $K keys hold their last value after compaction"
else
    sed 's/^/#   /' "$WORK/check.out"; fail "data lost or wrong after compaction"
fi

stop_server "$SRV_PID" 20
assert_eq 0 "$EXIT_RC" "SIGTERM: clean exit"
start_dynamod_dir "$DATA" "${BASE_OPTS[@]}" --appendfsync "$KILL_FSYNC"
P=$SRV_PORT
wait_loaded "$P" 60 || { fail "node never finished loading after a clean restart"; finish; }
show_loading_info "$P"
if check --tag o.10 >"$WORK/check.out" 2>&1; then
    ok "after a clean restart all $K keys hold their last value"
else
    sed 's/^/#   /' "$WORK/check.out"; fail "data lost or wrong after a clean restart"
fi

# ---- phase 2 -----------------------------------------------------------------
PREV=o.10
seen_field=no
during=0
for ((n = 1; n <= KILLS; n++)); do
    rm -f "$WORK/progress" "$WORK/ready"
    fill --tag "k$n" --repeat 50 --progress "$WORK/progress" --ready "$WORK/ready" \
        >"$WORK/fill.out" 2>&1 &
    fpid=$!
    wait_file "$WORK/ready" "$fpid" 10 || echo "# kill $n: the writer did not connect"
    # The killer polls INFO every ms and kills dynamod once a compaction is
    # in progress, or after a random 150..1500 ms.
    ms=$((150 + RANDOM % 1351))
    "$PYTHON" "$LOAD" killer --port "$P" --pid "$SRV_PID" --max-ms "$ms" >"$WORK/killer.out" 2>&1
    how=$(sed -n 's/^killer: killed //p' "$WORK/killer.out")
    [ -n "$how" ] || { cat "$WORK/killer.out"; harness_error "kill $n: the killer failed"; }
    case $how in *"field present"*) seen_field=yes ;; esac
    case $how in "during a compaction"*) during=$((during + 1)) ;; esac
    kill9 "$SRV_PID"        # reaps it (already killed)
    for ((i = 0; i < 300; i++)); do
        kill -0 "$fpid" 2>/dev/null || break
        sleep 0.05
    done
    kill -KILL "$fpid" 2>/dev/null
    wait "$fpid" 2>/dev/null
    read -r j acked <"$WORK/progress" 2>/dev/null || harness_error "kill $n: writer left no progress"
    sed 's/^/#   /' "$WORK/fill.out"
    start_dynamod_dir "$DATA" "${BASE_OPTS[@]}" --appendfsync "$KILL_FSYNC"
    P=$SRV_PORT
    if ! wait_loaded "$P" 60; then
        fail "kill $n: node never finished loading"
        break
    fi
    if [ "$j" -eq 0 ]; then
        check --tag "$PREV" >"$WORK/check.out" 2>&1
    else
        check --tag "k$n" --round "$j" --acked "$acked" --prev "$PREV" >"$WORK/check.out" 2>&1
    fi
    if [ $? -eq 0 ]; then
        ok "kill $n ${how%%; field*} (writer in round $j, $acked acked): nothing lost"
    else
        sed 's/^/#   /' "$WORK/check.out"
        fail "kill $n ${how%%; field*} (writer in round $j, $acked acked): data lost"
        break
    fi
    fill --tag "b$n" >"$WORK/fill.out" 2>&1 || { cat "$WORK/fill.out"; fail "rewrite b$n failed"; break; }
    if ! check --tag "b$n" >"$WORK/check.out" 2>&1; then
        sed 's/^/#   /' "$WORK/check.out"
        echo "# $(compaction_info "$P")"
        fail "kill $n: a full rewrite (no kill since) is not read back"
        break
    fi
    PREV=b$n
done
if [ "$seen_field" = yes ]; then
    echo "# $during of $KILLS kills hit a compaction in progress (INFO compaction_in_progress:1)"
else
    echo "# INFO shows no compaction_in_progress field: kills were at random moments"
fi

# After the kills, compaction still works and nothing leaked: 10 more
# overwrites, then the same 1.5 x bound, no leftover temporary files, and
# as many segment files as the engine knows of.
fill --tag f --repeat 10 >"$WORK/fill.out" 2>&1 ||
    { cat "$WORK/fill.out"; fail "final overwrite rounds failed"; finish; }
wait_within_limit "after the kills and 10 more overwrites"
if check --tag f.10 >"$WORK/check.out" 2>&1; then
    ok "all $K keys hold their last value at the end"
else
    sed 's/^/#   /' "$WORK/check.out"; fail "data lost or wrong at the end"
fi
tmps=$(find "$DATA" -name '*.tmp' | wc -l)
assert_eq 0 "$tmps" "no temporary files left behind"
# Compaction may still be creating and removing segments: compare once it
# is idle (polled, bounded), so a file in flight is not taken for an orphan.
t0=$SECONDS
while :; do
    busy=$(info_field "$P" persistence compaction_in_progress)
    segs=$(find "$DATA" -name 'data.*.seg' | wc -l)
    known=$(info_field "$P" persistence disk_segments)
    if [ "${busy:-0}" = 0 ] && [ "$known" = "$segs" ]; then
        break
    fi
    [ $((SECONDS - t0)) -ge "$DEADLINE" ] && break
    sleep 0.2
done
if [ -n "$known" ]; then
    assert_eq "$known" "$segs" "every segment file on disk is one the engine counts (no orphans)"
    # the typed-op journal's (server/journal.h): one, started afresh at
    # every start
    assert_eq 1 "$(find "$DATA" -name 'journal.*.seg' | wc -l)" "and one journal segment"
fi
finish
