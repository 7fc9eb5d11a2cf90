#!/usr/bin/env bash
# t_fsync_fail.sh -- a failed fsync makes the node fail-stop for writes.
#
# dynamod runs with `storage disk`, `appendfsync always` under the
# LD_PRELOAD shim fsync_shim.c (built here with $CC), which makes fsync,
# fdatasync and syncfs return EIO while the file $SHIM_FAIL_FILE exists.
#   - before the trigger: writes succeed;
#   - after `touch` of the trigger: the next write gets an error reply that
#     says what went wrong (fsync / I/O / disk), and so does every later write
#     (SET and DEL), even after the trigger is removed and a second has passed
#     -- a later successful fsync must not be taken as covering the failed
#     write;
#   - reads keep working and return the acknowledged data;
#   - the server log has a line naming the fsync failure;
#   - restarted without the shim, the node has every acknowledged key and
#     accepts writes again.
# Skips (77) without a C compiler.
. "${TOP_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$TOP_SRCDIR/tests/integration/storage_lib.sh"
need_cmd redis-cli
is_dynamod || skip "dynamod-only test (redis-server exits on a failed fsync)"
build_shim

TRIG=$WORK/fail-fsync
DATA=$WORK/data
OPTS=(--storage disk --appendfsync always)
N=20
# Under ASan the shim comes before the ASan runtime in the library list,
# which ASan refuses by default; the shim only wraps fsync/fdatasync.
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
LD_PRELOAD=$SHIM SHIM_FAIL_FILE=$TRIG start_dynamod_dir "$DATA" "${OPTS[@]}"
P=$SRV_PORT
wait_loaded "$P" 30 || { fail "node never reported loading:0"; finish; }
STDOUT_LOG=$WORK/data.stdout.log

good=0
for ((i = 1; i <= N; i++)); do
    [ "$(resp1 "$P" SET "k$i" "value-$i")" = "+OK" ] && good=$((good + 1))
done
assert_eq "$N" "$good" "$N writes succeed before the disk fails"

assert_eq "+OK" "$(resp1 "$P" SET ow before)" "one more key, to be overwritten after the failure"
# a list, whose next push is deferred and written at the commit
# (server/db.c "Deferred encoding")
assert_eq ":3" "$(resp1 "$P" RPUSH tl a b c)" "a list of three"
assert_eq ":4" "$(resp1 "$P" RPUSH tl d)" "a fourth element"
touch "$TRIG"
# The first writes after the failure come as one pipeline, so they are one
# group commit: each write's reply must be the error (none may say +OK),
# and the PING between them still gets its own reply, in order.
# The overwrite of `ow` must be taken back from memory too.  (After a
# restart it may come back: it reached the file, only its fsync failed, and
# the error reply said the write's fate is unknown -- so `ow` is not
# checked after the restart.)
mapfile -t rp < <(resp_pipeline "$P" "SET bad1 x" "PING" "SET bad1b y" "SET ow after" "RPUSH tl e")
r1=${rp[0]:-}
assert_match '^-' "$r1" "the first write after the fsync failure gets an error reply"
assert_eq "+PONG" "${rp[1]:-}" "the PING pipelined between the failed writes gets its own reply"
assert_match '^-' "${rp[2]:-}" "the second write of the same group commit gets an error reply too (${rp[2]:-})"
assert_match '^-' "${rp[3]:-}" "so does an overwrite of an acknowledged key (${rp[3]:-})"
assert_match '^-' "${rp[4]:-}" "and a push onto the list (${rp[4]:-})"
if printf '%s' "$r1" | grep -qiE 'fsync|I/O|EIO|disk|persist|MISCONF'; then
    ok "the error names the cause: $r1"
else
    fail "the error does not name fsync / I/O / disk: [$r1]"
fi
if grep -q 'fsync_shim:' "$STDOUT_LOG" 2>/dev/null; then
    ok "the shim failed a real fsync ($(grep -m1 'fsync_shim:' "$STDOUT_LOG"))"
else
    fail "the shim never saw an fsync/fdatasync/syncfs call after the trigger (does the engine sync another way?)"
fi

r2=$(resp1 "$P" SET bad2 x)
assert_match '^-' "$r2" "a second write also fails ($r2)"
r3=$(resp1 "$P" DEL k1)
assert_match '^-' "$r3" "DEL fails too ($r3)"

rm -f "$TRIG"
# A deliberate pause, not a readiness wait: give any once-a-second timer
# (everysec flush, retry) the chance to run a now-successful fsync.
sleep 1.2
r4=$(resp1 "$P" SET bad3 x)
assert_match '^-' "$r4" "writes still fail after fsync works again: fail-stop is sticky ($r4)"
r5=$(resp1 "$P" SET bad4 x)
assert_match '^-' "$r5" "and keep failing ($r5)"

good=0
for ((i = 1; i <= N; i++)); do
    [ "$(cli "$P" GET "k$i")" = "value-$i" ] && good=$((good + 1))
done
assert_eq "$N" "$good" "reads still work: all $N acknowledged keys readable"
assert_eq PONG "$(cli "$P" PING)" "the node still answers PING"
# A write that got the error must not be served from memory either.
assert_eq "" "$(cli "$P" GET bad1)" "GET of a write that got the error finds nothing (bad1)"
assert_eq "" "$(cli "$P" GET bad1b)" "GET of a write that got the error finds nothing (bad1b)"
assert_eq "before" "$(cli "$P" GET ow)" "an overwrite that got the error is taken back: GET gives the acknowledged value"
assert_eq "a b c d" "$(cli "$P" LRANGE tl 0 -1 | tr '\n' ' ' | sed 's/ $//')" "the push that got the error is taken back: the list is the acknowledged one"
echo "# INFO persistence: $(cli "$P" INFO persistence | tr -d '\r' | grep -iE 'status|fail|err|fsync' | tr '\n' ' ')"

line=$(grep -iE 'fsync|fdatasync' "$SRV_LOG" 2>/dev/null | grep -iE 'EIO|I/O|input/output|fail|error' | head -n 1)
if [ -n "$line" ]; then
    ok "the log has a clear line: $line"
else
    fail "no log line about the failed fsync in $SRV_LOG"
fi

# Restart without the shim: the acknowledged data is there, writes work.
stop_server "$SRV_PID" 10
[ "$EXIT_RC" = timeout ] && fail "the failed node did not exit within 10 s of SIGTERM"
start_dynamod_dir "$DATA" "${OPTS[@]}"
P=$SRV_PORT
wait_loaded "$P" 30 || { fail "restarted node never reported loading:0"; finish; }
good=0
for ((i = 1; i <= N; i++)); do
    [ "$(cli "$P" GET "k$i")" = "value-$i" ] && good=$((good + 1))
done
assert_eq "$N" "$good" "after a restart without the shim all $N acknowledged keys are there"
assert_match '^a b c d' "$(cli "$P" LRANGE tl 0 -1 | tr '\n' ' ')" "and the acknowledged list"
assert_eq "+OK" "$(resp1 "$P" SET after yes)" "after the restart writes work again"
assert_eq yes "$(cli "$P" GET after)" "and are readable"
finish
