#!/usr/bin/env bash
# t_journal_edit_fail.sh -- a write of a large value journaled as an edit
# (server/engine.c, "Edits in the journal") whose journal write fails:
#
# dynamod runs alone with `storage disk`, `appendfsync everysec`, under
# the LD_PRELOAD shim fsync_shim.c in its write mode: write() to the
# journal's files fails with EIO while the file $SHIM_FAIL_FILE exists.
#   - APPENDs onto a 10 KB string are journaled as edits (INFO
#     journal_edits), the string held newer than its record;
#   - after `touch` of the trigger, two pipelined APPENDs (one commit, two
#     edits) get error replies, and the string reads as the acknowledged
#     one: the held version the commit's first edit replaced is put back
#     (not the older record, not a failed write);
#   - later writes keep failing (fail-stop), reads keep working;
#   - after kill -9 and a start without the shim, the string is the
#     acknowledged one (its edits applied from the journal).
# Skips (77) without a C compiler.
. "${TOP_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$TOP_SRCDIR/tests/integration/storage_lib.sh"
need_cmd redis-cli
is_dynamod || skip "dynamod-only test"
build_shim

TRIG=$WORK/fail-journal-write
DATA=$WORK/data
OPTS=(--storage disk --appendfsync everysec)
# Under ASan the shim comes before the ASan runtime in the library list,
# which ASan refuses by default; the shim only wraps write and fsync.
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
LD_PRELOAD=$SHIM SHIM_FAIL_FILE=$TRIG SHIM_FAIL_WRITE_PATH=/journal. \
    start_dynamod_dir "$DATA" "${OPTS[@]}"
P=$SRV_PORT
wait_loaded "$P" 30 || { fail "node never reported loading:0"; finish; }
STDOUT_LOG=$WORK/data.stdout.log

# the string's bytes named short: length and md5 (a failure prints that,
# not 10 KB)
named() { printf '%s %s' "${#1}" "$(printf '%s' "$1" | md5sum | cut -c1-12)"; }
big=$(head -c 10000 /dev/zero | tr '\0' a)
want=$big
assert_eq OK "$(cli "$P" SET big "$big")" "a 10 KB string"
for i in 1 2 3 4 5; do
    want="$want:b$i"
    assert_eq "${#want}" "$(cli "$P" APPEND big ":b$i")" "APPEND :b$i"
done
edits=$(cli "$P" INFO persistence | tr -d '\r' | sed -n 's/^journal_edits://p')
[ "${edits:-0}" -ge 4 ] && ok "the APPENDs were journaled as edits ($edits)" \
    || fail "journal_edits ${edits:-none}: the APPENDs were not edits"
assert_eq 1 "$(cli "$P" INFO persistence | tr -d '\r' | sed -n 's/^journal_held_keys://p')" \
    "the string is held newer than its record"

touch "$TRIG"
# two APPENDs in one pipeline: one commit, two edits, the second made on
# the first's version
mapfile -t rp < <(resp_pipeline "$P" "APPEND big :F1" "APPEND big :F2")
assert_match '^-' "${rp[0]:-}" "the APPEND whose edit cannot be written gets an error reply (${rp[0]:-})"
assert_match '^-' "${rp[1]:-}" "so does the next one of the same commit (${rp[1]:-})"
if grep -q 'fsync_shim: write' "$STDOUT_LOG" 2>/dev/null; then
    ok "the shim failed a real write of the journal ($(grep -m1 'fsync_shim:' "$STDOUT_LOG"))"
else
    fail "the shim never failed a write of the journal"
fi
got=$(cli "$P" GET big)
assert_eq "${#want}" "${#got}" "the string's length is the acknowledged one's"
[ "$got" = "$want" ] && ok "the string reads as acknowledged: the failed edit's version was taken back" \
    || fail "the string reads ${got: -30} (last 30 bytes), not ${want: -30}"
rm -f "$TRIG"
r=$(resp1 "$P" APPEND big ":later")
assert_match '^-' "$r" "a later write fails too: the engine refuses writes ($r)"
assert_eq "$(named "$want")" "$(named "$(cli "$P" GET big)")" "and the string is still the acknowledged one"

kill -9 "$SRV_PID"
wait_exit "$SRV_PID" 10
untrack_pid "$SRV_PID"
start_dynamod_dir "$DATA" "${OPTS[@]}"
P=$SRV_PORT
wait_loaded "$P" 30 || { fail "the node never finished loading after kill -9"; finish; }
assert_eq "$(named "$want")" "$(named "$(cli "$P" GET big)")" "after kill -9 the string is the acknowledged one"
applied=$(cli "$P" INFO persistence | tr -d '\r' | sed -n 's/^journal_edits_replayed://p')
[ "${applied:-0}" -ge 1 ] && ok "its start applied the journaled edits ($applied)" \
    || fail "its start applied no edit (${applied:-none})"
assert_eq "$((${#want} + 3))" "$(cli "$P" APPEND big ":ok")" "and writes work again"
finish
