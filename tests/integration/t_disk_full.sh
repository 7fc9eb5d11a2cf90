#!/usr/bin/env bash
# t_disk_full.sh -- a full disk makes writes fail with a clear error, while
# reads keep working; once space is freed, writes work again.  With
# DISK_FULL_FSYNC=everysec (t_disk_full_journal.sh) the list's pushes are
# in the typed-op journal when the disk fills: its record cannot be
# written, the list stays whole in memory, and a push answers the disk
# full error until there is room.
#
# As root, a 4 MB tmpfs is mounted on a private mktemp directory (skip 77 if
# that is not permitted) and a 1 MB filler file is put in it.  dynamod runs
# with `storage disk`, `appendfsync always`, `segment-max-bytes 1mb` and its
# data directory on the tmpfs.  Then:
#   - 4000-byte SETs, one at a time, until one gets an error reply (it must
#     happen within 2000 writes = 8 MB, and the error must say why);
#   - another write fails too; every acknowledged key reads back intact;
#   - the filler is deleted, and writes succeed again (retried for at most
#     5 s, for an engine that backs off) and read back;
#   - after a clean restart on the same directory every acknowledged key is
#     still there (the failed writes left no corrupt record that hides them).
# The EXIT trap stops the server and always unmounts the tmpfs.
. "${TOP_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$TOP_SRCDIR/tests/integration/storage_lib.sh"
need_cmd redis-cli mount umount mountpoint
is_dynamod || skip "dynamod-only test"
[ -x "$PYTHON" ] || skip "no python ($PYTHON)"
[ "$(id -u)" = 0 ] || skip "needs root to mount a tmpfs"

MNT=$(mktemp -d "${TMPDIR:-/tmp}/dyn-diskfull-mnt.XXXXXX") || harness_error "mktemp -d"
_disk_full_cleanup() {
    local rc=$? pid i
    trap - EXIT
    for pid in "${_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    for pid in "${_PIDS[@]}"; do
        for ((i = 0; i < 100; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.05
        done
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    _PIDS=()
    if mountpoint -q "$MNT"; then
        umount "$MNT" 2>/dev/null || umount -l "$MNT"
    fi
    rmdir "$MNT" 2>/dev/null
    (exit "$rc")
    _cleanup
}
trap _disk_full_cleanup EXIT
mount -t tmpfs -o size=4m tmpfs "$MNT" 2>"$WORK/mount.err" ||
    skip "cannot mount a tmpfs: $(cat "$WORK/mount.err")"
echo "# 4 MB tmpfs on $MNT"
head -c 1048576 /dev/zero >"$MNT/filler" || harness_error "cannot write the filler"

LOAD="$TOP_SRCDIR/tests/integration/crash_load.py"
DATA=$MNT/data
VS=4000
# appendfsync always by default; t_disk_full_journal.sh runs the same with
# everysec, where the list's pushes go to the typed-op journal
FSYNC=${DISK_FULL_FSYNC:-always}
OPTS=(--storage disk --appendfsync "$FSYNC" --segment-max-bytes 1mb)
start_dynamod_dir "$DATA" "${OPTS[@]}"
P=$SRV_PORT
wait_loaded "$P" 30 || { fail "node never reported loading:0"; finish; }

# A list written before the disk fills (typed writes are deferred and
# written once per commit: server/db.c "Deferred encoding"; with everysec
# they are journaled, and the list's record is written when there is room).
for ((i = 0; i < 50; i++)); do cli "$P" RPUSH tl "e$i" >/dev/null; done
assert_eq 50 "$(cli "$P" LLEN tl)" "a list of 50 elements before the disk fills"

# Fill one write at a time (--batch 1: exactly one in flight) until an error.
"$PYTHON" "$LOAD" fill --port "$P" --keys 2000 --vsize $VS --tag full --batch 1 \
    --progress "$WORK/progress" >"$WORK/fill.out" 2>&1
frc=$?
sed 's/^/#   /' "$WORK/fill.out"
read -r _ acked <"$WORK/progress" || harness_error "no progress file from fill"
echo "# $acked writes acknowledged before the disk filled; df: $(df -k "$MNT" | awk 'NR == 2 { print $3 " KiB used, " $4 " KiB free" }')"
if [ "$frc" -ne 4 ]; then
    fail "writes never failed (fill exit $frc) although the disk is full"
    finish
fi
ok "a write fails once the disk is full"
err=$(sed -n 's/^fill: SET key:[0-9]*: //p' "$WORK/fill.out" | head -n 1)
if printf '%s' "$err" | grep -qiE 'space|ENOSPC|disk|full'; then
    ok "the error says why: $err"
else
    fail "the error does not mention space / disk / full: [$err]"
fi
[ "$acked" -gt 0 ] || fail "no write succeeded before the disk was full"
r=$(resp1 "$P" SET another "$(head -c $VS /dev/zero | tr '\0' y)")
assert_match '^-' "$r" "the next write fails too (${r:0:80})"

if "$PYTHON" "$LOAD" check --port "$P" --keys 2000 --upto "$acked" --vsize $VS \
    --tag full >"$WORK/check.out" 2>&1; then
    ok "reads work while the disk is full: all $acked acknowledged keys intact"
else
    sed 's/^/#   /' "$WORK/check.out"
    fail "acknowledged keys unreadable or wrong while the disk is full"
fi
assert_eq PONG "$(cli "$P" PING)" "the node still answers PING"
r=$(resp1 "$P" RPUSH tl "$(head -c $VS /dev/zero | tr '\0' z)")
assert_match '^-.*(space|disk|full)' "$r" "a push onto the list fails too, saying why (${r:0:80})"
assert_eq 50 "$(cli "$P" LLEN tl)" "and the list is as it was"
if [ "$FSYNC" != always ]; then
    assert_eq "e0 e48 e49" "$(cli "$P" LRANGE tl 0 0) $(cli "$P" LRANGE tl -2 -1 | tr '\n' ' ' | sed 's/ $//')" \
        "its journaled pushes are there"
    j=$(cli "$P" INFO persistence | tr -d '\r' | sed -n 's/^journal_ops://p')
    [ "${j:-0}" -ge 40 ] && ok "the pushes were journaled ($j ops)" \
        || fail "expected the list's pushes in the journal, INFO journal_ops ${j:-none}"
    r=$(cli "$P" INFO dynamo | tr -d '\r' | sed -n 's/^typed_settles_refused://p')
    [ "${r:-0}" -ge 1 ] && ok "the full disk refused the list's record and it stayed deferred ($r)" \
        || fail "expected a refused settle, INFO typed_settles_refused ${r:-none}"
fi
line=$(grep -iE 'ENOSPC|no space|disk full' "$SRV_LOG" 2>/dev/null | head -n 1)
[ -n "$line" ] && echo "# log: $line"

rm -f "$MNT/filler"
r=
for ((i = 0; i < 100; i++)); do         # up to 5 s
    r=$(resp1 "$P" SET after-free v0)
    [ "$r" = "+OK" ] && break
    sleep 0.05
done
assert_eq "+OK" "$r" "after freeing space writes work again"
good=0
for ((i = 1; i <= 20; i++)); do
    [ "$(resp1 "$P" SET "after-$i" "value-$i")" = "+OK" ] && good=$((good + 1))
done
assert_eq 20 "$good" "20 more writes succeed"
assert_eq value-20 "$(cli "$P" GET after-20)" "and read back"
assert_eq 51 "$(cli "$P" RPUSH tl e50)" "a push onto the list works again"

stop_server "$SRV_PID" 10
[ "$EXIT_RC" = timeout ] && fail "dynamod did not exit within 10 s of SIGTERM"
start_dynamod_dir "$DATA" "${OPTS[@]}"
P=$SRV_PORT
wait_loaded "$P" 30 || { fail "restarted node never reported loading:0"; finish; }
if "$PYTHON" "$LOAD" check --port "$P" --keys 2000 --upto "$acked" --vsize $VS \
    --tag full >"$WORK/check2.out" 2>&1; then
    ok "after a restart all $acked keys acknowledged before the disk filled are intact"
else
    sed 's/^/#   /' "$WORK/check2.out"
    fail "keys lost or corrupt after the restart"
fi
assert_eq value-20 "$(cli "$P" GET after-20)" "keys written after freeing space survive the restart"
assert_eq "51 e50" "$(cli "$P" LLEN tl) $(cli "$P" LINDEX tl -1)" "the list too"
finish
