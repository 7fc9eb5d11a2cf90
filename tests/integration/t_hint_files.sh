#!/usr/bin/env bash
# t_hint_files.sh -- a segment full of small records gets its hint file, and a
# restart reads hints instead of scanning the log; a kill -9 while hints are
# being written never leaves one that the loader has to reject.
#
# dynamod: `storage disk`, `segment-max-bytes $HINT_SEGMENT` (4mb),
# `appendfsync everysec`.  A hint entry costs about as much as a small record
# (framing, key, 9 bytes of location), and the engine collects entries in
# memory and spills them to data.N.hint.tmp a megabyte at a time; so the
# segments here hold several megabytes of entries each, several spills.
#
# Phase 1, the hints are there.  K keys (key:%08d) get 8-byte values from
# crash_load.py fill (pipelined SETs).  Then:
#   - every sealed segment (INFO segment_rolls of them) gets its .hint while
#     the node runs (polled, deadline), and at least two of them are over
#     2 MiB (so the test covers more than two spills; if record sizes change,
#     raise HINT_KEYS or lower HINT_SEGMENT);
#   - after SIGTERM and a restart on the same directory, INFO shows every
#     segment loaded from its hint (loading_hint_files_used = segments with
#     data, loading_records_scanned 0, nothing rejected), and every key holds
#     its value (crash_load.py check, DBSIZE included);
#   - the log never says "Writing hint file ... failed".
# Phase 2, kill -9 while hints are written.  The keys are rewritten (16-byte
# values, once whole, then several rounds) and the node is killed -9 at a random moment
# 0.3-1.5 s into the load (crash_load.py killer), while segments roll and
# hint entries spill.  A hint is published only complete and fsynced (a
# .hint.tmp renamed into place), so after the restart no hint is rejected,
# and every acknowledged write is there.  The restart scanned what had no
# hint and wrote those hints back: a second, clean restart reads hints only.
#
# Env: HINT_KEYS (200000), HINT_SEGMENT (4mb), HINT_SEED (default random).
. "${TOP_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$TOP_SRCDIR/tests/integration/storage_lib.sh"
need_cmd redis-cli
is_dynamod || skip "dynamod-only test"
[ -x "$PYTHON" ] || skip "no python ($PYTHON)"

K=${HINT_KEYS:-200000}
SEG=${HINT_SEGMENT:-4mb}
SEED=${HINT_SEED:-$RANDOM}
RANDOM=$SEED
VS=8
VS2=16
LOAD="$TOP_SRCDIR/tests/integration/crash_load.py"
DATA=$WORK/data
LOG=$WORK/data.log
OPTS=(--storage disk --segment-max-bytes "$SEG" --appendfsync everysec --node-name hint-node)
echo "# HINT_KEYS=$K HINT_SEGMENT=$SEG HINT_SEED=$SEED"

fill() { "$PYTHON" "$LOAD" fill --port "$P" --keys "$K" "$@"; }
check() { "$PYTHON" "$LOAD" check --port "$P" --keys "$K" "$@"; }
nfiles() { find "$DATA" -maxdepth 1 -name "data.*$1" "${@:2}" | wc -l; }
persist() { info_field "$P" persistence "$1"; }
hint_failures() { grep -c 'Writing hint file .* failed' "$LOG" 2>/dev/null; }

# restart_clean: SIGTERM, start again on DATA, wait until loaded.
restart_clean() {
    stop_server "$SRV_PID" 120
    assert_eq 0 "$EXIT_RC" "$1: SIGTERM exits 0"
    start_dynamod_dir "$DATA" "${OPTS[@]}"
    P=$SRV_PORT
    wait_loaded "$P" 120 || { fail "$1: node never finished loading"; finish; }
}

# expect_hints_only WHAT: the last start loaded every segment with data from
# its hint, scanning nothing.
expect_hints_only() {
    local segs
    segs=$(nfiles .seg -size +0c)
    show_loading_info "$P"
    assert_eq "$segs" "$(persist loading_hint_files_used)" \
        "$1: every segment with data ($segs) loaded from its hint"
    assert_eq 0 "$(persist loading_records_scanned)" "$1: no record scanned"
    assert_eq 0 "$(persist loading_hint_files_rejected)" "$1: no hint rejected"
}

# ---- phase 1 -----------------------------------------------------------------
start_dynamod_dir "$DATA" "${OPTS[@]}"
P=$SRV_PORT
wait_loaded "$P" 60 || { fail "node never finished loading"; finish; }
fill --tag h --vsize $VS >"$WORK/fill.out" 2>&1 ||
    { sed 's/^/#   /' "$WORK/fill.out"; fail "filling $K keys failed"; finish; }
rolls=$(persist segment_rolls)
[ "${rolls:-0}" -ge 2 ] && ok "$K SETs sealed $rolls segments" ||
    fail "$K SETs sealed ${rolls:-no} segments, want 2 or more (raise HINT_KEYS)"

# The helper thread writes each sealed segment's hint: poll for them.
for ((i = 0; i < 3000; i++)); do
    [ "$(nfiles .hint)" -ge "$rolls" ] && break
    sleep 0.02
done
assert_eq "$rolls" "$(nfiles .hint)" "every sealed segment has its hint file while the node runs"
big=$(nfiles .hint -size +2048k)
[ "$big" -ge 2 ] && ok "$big hint files over 2 MiB" ||
    fail "only $big hint files over 2 MiB: the test no longer covers several spills"
assert_eq 0 "$(hint_failures)" "no hint file write failed"

restart_clean "clean restart"
expect_hints_only "clean restart"
if check --tag h --vsize $VS >"$WORK/check.out" 2>&1; then
    ok "all $K keys read back after the restart from hints"
else
    sed 's/^/#   /' "$WORK/check.out"; fail "keys lost or wrong after the restart from hints"
fi

# ---- phase 2 -----------------------------------------------------------------
# A full round of 16-byte values first, the base the killed rounds replace.
fill --tag b --vsize $VS2 >"$WORK/fill.out" 2>&1 ||
    { sed 's/^/#   /' "$WORK/fill.out"; fail "rewriting $K keys failed"; finish; }
rm -f "$WORK/progress" "$WORK/ready"
fill --tag r --vsize $VS2 --repeat 5 --progress "$WORK/progress" --ready "$WORK/ready" \
    >"$WORK/fill.out" 2>&1 &
fpid=$!
wait_file "$WORK/ready" "$fpid" 10 || echo "# the writer did not connect"
ms=$((300 + RANDOM % 1201))
# (--field loading: never 1 here, so the kill comes at the random moment, not
# at the first compaction, which the rewrite starts at once)
"$PYTHON" "$LOAD" killer --port "$P" --pid "$SRV_PID" --max-ms "$ms" --field loading \
    >"$WORK/killer.out" 2>&1
how=$(sed -n 's/^killer: killed //p' "$WORK/killer.out")
[ -n "$how" ] || { cat "$WORK/killer.out"; harness_error "the killer failed"; }
kill9 "$SRV_PID"        # reaps it (already killed)
for ((i = 0; i < 600; i++)); do
    kill -0 "$fpid" 2>/dev/null || break
    sleep 0.05
done
kill -KILL "$fpid" 2>/dev/null
wait "$fpid" 2>/dev/null
read -r j acked <"$WORK/progress" 2>/dev/null || harness_error "the writer left no progress"
echo "# killed ${how%%; field*}, writer in round $j with $acked acked; $(nfiles .hint.tmp) .hint.tmp, $(nfiles .hint) .hint"
start_dynamod_dir "$DATA" "${OPTS[@]}"
P=$SRV_PORT
wait_loaded "$P" 120 || { fail "node never finished loading after kill -9"; finish; }
show_loading_info "$P"
assert_eq 0 "$(persist loading_hint_files_rejected)" "after kill -9: no hint rejected"
if [ "$j" -eq 0 ]; then
    check --tag b --vsize $VS2 >"$WORK/check.out" 2>&1
else
    check --tag r --vsize $VS2 --round "$j" --acked "$acked" --prev b >"$WORK/check.out" 2>&1
fi
if [ $? -eq 0 ]; then
    ok "after kill -9: every acknowledged write is there"
else
    sed 's/^/#   /' "$WORK/check.out"; fail "after kill -9: data lost"
fi
restart_clean "clean restart after the kill"
expect_hints_only "clean restart after the kill"
assert_eq 0 "$(hint_failures)" "no hint file write failed in any life"

finish
