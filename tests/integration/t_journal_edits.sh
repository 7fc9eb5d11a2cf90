#!/usr/bin/env bash
# t_journal_edits.sh -- a 3-node cluster with storage disk journals its
# writes of large values as edits (server/engine.c, "Edits in the
# journal"), with anti-entropy out of the way so that only the write path
# and the starts move bytes:
#   - pipelined pushes, SADDs, HSETs and ZADDs through n1 onto four
#     values that grow past 4 KB: every node journals edits (INFO
#     journal_edits) and holds versions newer than their records, and the
#     nodes write (records and edits) under a quarter of what records of
#     every version would have taken (journal_edit_object_bytes: the
#     records the edits stood for);
#   - kill -9 of a replica, then of the coordinator, each started again:
#     its start applies the edits made since each key's last record
#     (journal_edits_replayed > 0, no edit error), and it holds exactly
#     the bytes it held before the kill, the same as the other nodes;
#   - with journal-max-bytes 64kb the journal rotates under the pushes
#     (journal_checkpoints grows) and stays near its bound, and a kill -9
#     still loses nothing;
#   - appendfsync always, or journal-held-max-bytes 0, makes no edit.
. "$(dirname "$0")/cluster_lib.sh"

PY=/usr/bin/python3
[ -x "$PY" ] && "$PY" -c 'import redis' 2>/dev/null || skip "python3-redis (Debian's) is not installed"

KEYS="e:list e:set e:hash e:zset"

# push PORT ROUNDS SEED: ROUNDS pipelines of 50 writes to each value.
push() {
    "$PY" - "$@" <<'EOF'
import sys
import redis
port, rounds, seed = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
r = redis.Redis(host='127.0.0.1', port=port)
for b in range(rounds):
    pl = r.pipeline(transaction=False)
    for i in range(50):
        n = '%d:%d:%d' % (seed, b, i)
        pl.rpush('e:list', 'element-' + n)
        pl.sadd('e:set', 'member-' + n)
        pl.hset('e:hash', 'field-' + n, 'value-' + n)
        pl.zadd('e:zset', {'member-' + n: b * 50 + i})
    for x in pl.execute(raise_on_error=False):
        if isinstance(x, Exception):
            print('error: %s' % x)
            sys.exit(1)
EOF
}

# sigs I: node I's own copies of the four values (DYNAMO.LOCAL, without
# the clock renderings), hashed.
sigs() {
    local k
    for k in $KEYS; do local_sig "$1" "$k"; done | md5sum | cut -d' ' -f1
}
same_sigs() {
    local a
    a=$(sigs 1)
    [ "$(sigs 2)" = "$a" ] && [ "$(sigs 3)" = "$a" ]
}
# written: the bytes of records the three nodes' writes appended and of
# the edits they journaled (INFO disk_write_bytes, journal_edit_bytes);
# whole: the same had every version been a record.
written() { echo $(( $(info_sum disk_write_bytes) + $(info_sum journal_edit_bytes) )); }
whole() { echo $(( $(info_sum disk_write_bytes) + $(info_sum journal_edit_object_bytes) )); }

# crash I [any]: kill -9 node I once every node holds the same copies,
# start it again, and check its copies are what they were; unless "any"
# is given, its start must have applied edits.
crash() {
    local i=$1 before replayed errors
    wait_for 60 same_sigs || fail "n$i: the copies differ before the kill"
    before=$(sigs "$i")
    ctool kill "$i" >/dev/null
    # a start reads every record and applies the journal before it
    # answers PING: under ASan beside the plain suite a node, alive, had
    # not answered within the tool's default 30 s, so the wait here is
    # generous
    DYNAMO_START_TIMEOUT=180 ctool restart "$i" >/dev/null ||
        { fail "n$i did not start again"; return; }
    replayed=$(info_field "$i" journal_edits_replayed)
    errors=$(info_field "$i" journal_edit_errors)
    echo "# n$i after kill -9: $replayed edits applied, $(info_field "$i" journal_edits_skipped) found in records"
    if [ "${2:-}" != any ]; then
        [ "${replayed:-0}" -gt 0 ] && ok "n$i's start applied $replayed journaled edits" \
            || fail "n$i's start applied no edit (${replayed:-none})"
    fi
    assert_eq 0 "${errors:-x}" "n$i: no edit failed at the start"
    assert_eq "$before" "$(sigs "$i")" "n$i holds after kill -9 exactly the copies it held before"
    assert_eq 0 "$(info_field "$i" journal_held_keys)" "n$i wrote the versions it applied at its start"
}

# ---- edits, then kill -9 of a replica and of the coordinator ---------------
cluster_start 3 --n 3 --r 2 --w 2 --storage disk --appendfsync everysec \
    --anti-entropy-interval-ms 3600000 --anti-entropy-sweep-interval-ms 3600000
push "$(nport 1)" 80 1 || fail "the pushes got an error"
wait_for 60 same_sigs && ok "every node holds the same copies after the pushes" \
    || fail "the copies differ after the pushes"
w=$(written)
whole=$(whole)
echo "# the nodes wrote $w bytes of records and edits; records of every version would take over $whole"
for i in 1 2 3; do
    e=$(info_field "$i" journal_edits)
    [ "${e:-0}" -gt 100 ] && ok "n$i journaled $e edits" || fail "n$i journaled ${e:-0} edits"
    h=$(info_field "$i" journal_held_keys)
    [ "${h:-0}" -ge 1 ] && ok "n$i holds $h versions newer than their records" \
        || fail "n$i holds no version newer than its record"
done
[ "$w" -gt 0 ] && [ $((w * 4)) -lt "$whole" ] \
    && ok "the nodes wrote $w bytes, under a quarter of whole records ($whole)" \
    || fail "the nodes wrote $w bytes against $whole for whole records"

reps=$(replicas e:list)
echo "# e:list's replicas: $reps"
crash 2
push "$(nport 1)" 10 2 || fail "the pushes after n2's start got an error"
crash 1
# and writes go on from the versions applied at the start
push "$(nport 1)" 10 3 || fail "the pushes after n1's start got an error"
wait_for 60 same_sigs && ok "after both starts every node holds the same copies" \
    || fail "the copies differ after both starts"
assert_eq 5000 "$(ncli 1 LLEN e:list)" "the list holds every push (100 pipelines of 50)"
assert_eq 5000 "$(ncli 1 SCARD e:set)" "the set holds every member"
assert_eq 5000 "$(ncli 2 HLEN e:hash)" "the hash holds every field"
assert_eq 5000 "$(ncli 3 ZCARD e:zset)" "the sorted set holds every member"
cluster_stop

# ---- a 64 KB journal rotates under the edits ---------------------------------
cluster_start 3 --n 3 --r 2 --w 2 --storage disk --appendfsync everysec \
    --journal-max-bytes 64kb \
    --anti-entropy-interval-ms 3600000 --anti-entropy-sweep-interval-ms 3600000
push "$(nport 1)" 150 4 || fail "the pushes got an error"
wait_for 60 same_sigs || fail "the copies differ after the pushes"
for i in 1 2 3; do
    c=$(info_field "$i" journal_checkpoints)
    b=$(info_field "$i" journal_bytes)
    [ "${c:-0}" -ge 3 ] && ok "n$i's journal rotated ($c checkpoints)" \
        || fail "n$i's journal did not rotate (${c:-0} checkpoints)"
    [ "${b:-999999999}" -le $((3 * 65536)) ] && ok "n$i's journal stays near its bound ($b bytes)" \
        || fail "n$i's journal holds $b bytes under a 64 KB bound"
done
# (a rotation may have written every held version just before the kill)
crash 3 any
assert_eq 7500 "$(ncli 3 LLEN e:list)" "the list holds every push after the rotations and the kill"
cluster_stop

# ---- appendfsync always, journal-held-max-bytes 0: no edits ----------------
for opt in "--appendfsync always" "--journal-held-max-bytes 0"; do
    # shellcheck disable=SC2086 # two words: an option and its value
    cluster_start 3 --n 3 --r 2 --w 2 --storage disk $opt \
        --anti-entropy-interval-ms 3600000 --anti-entropy-sweep-interval-ms 3600000
    push "$(nport 1)" 20 5 || fail "$opt: the pushes got an error"
    assert_eq 0 "$(info_sum journal_edits)" "$opt journals no edit"
    assert_eq no "$(info_field 1 journal_edits_enabled)" "$opt: INFO says the edits are off"
    assert_eq 1000 "$(ncli 2 LLEN e:list)" "$opt: the list holds every push"
    cluster_stop
done

finish
