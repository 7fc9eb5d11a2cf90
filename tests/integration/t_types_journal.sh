#!/usr/bin/env bash
# t_types_journal.sh -- the typed-op journal (server/journal.h,
# server/replay.c): a node alone with storage disk journals each deferred
# typed write as its command and runs the journal again at startup.
#   - a random stream of typed writes (the wide set: LINSERT, LSET, LREM,
#     LTRIM, LMOVE, HINCRBYFLOAT, ZINCRBY, ZADD GT/LT/XX, SMOVE ...) runs
#     against redis-server and dynamod side by side with the same
#     replies; after kill -9 and a restart, dynamod's values are still
#     redis-server's, and INFO shows the journal's ops run again with no
#     error;
#   - the same with journal-max-bytes 64kb: the journal rotates (a new
#     segment, the values deferred then written, the old segments
#     removed) several times under the stream, and the values survive
#     kill -9 again;
#   - killed (kill -9) while a rotation of a 64 KB journal is settling
#     its keys under 8 pushing connections, every acknowledged push is
#     there, in order, and nothing else;
#   - nothing comes back that went after its ops were journaled: a list
#     deleted and made again, a FLUSHALL;
#   - a SADD of members already there writes nothing (no journal op);
#   - SPOP draws on chance, so it is not journaled: the members it popped
#     stay gone after kill -9;
#   - writes under appendfsync always (not journaled) acknowledged in the
#     turn that switches back to everysec survive kill -9;
#   - a journal whose tail is torn or whose middle is damaged: the start
#     cuts the tail, skips and counts the damaged record, and keeps the
#     rest;
#   - a clean shutdown leaves nothing to run again.
. "$(dirname "$0")/lib.sh"

PY=/usr/bin/python3
[ -x "$PY" ] && "$PY" -c 'import redis' 2>/dev/null || skip "python3-redis (Debian's) is not installed"

start_redis
RP=$SRV_PORT
start_dynamod --storage disk --segment-max-bytes 1mb
DP=$SRV_PORT
DPID=$SRV_PID
DDIR="$WORK/dynamod-$DP"
info_num() { cli $DP INFO | tr -d '\r' | sed -n "s/^$1://p"; }
restart() { # restart [args...]: the same port and dir
    restart_dynamod "$DP" --storage disk --segment-max-bytes 1mb "$@"
    DPID=$SRV_PID
}
crash() { # kill -9, then restart [args...]
    kill -KILL "$DPID"
    wait "$DPID" 2>/dev/null
    untrack_pid "$DPID"
    restart "$@"
}
stream() { "$PY" "$TOP_SRCDIR/tests/integration/typed_stream.py" "$RP" "$DP" "$@"; }

assert_eq yes "$(info_num journal_enabled)" "a node alone with storage disk journals"

# ---- a wide stream, then kill -9 -----------------------------------------
out=$(stream 41 8000 wide nofinal)
assert_match '^ok ' "$out" "8000 ops of the wide stream: the same replies and values as redis-server ($out)"
j=$(info_num journal_ops)
[ "${j:-0}" -gt 1000 ] && ok "the writes were journaled ($j ops)" \
    || fail "expected over 1000 journaled ops, INFO journal_ops ${j:-none}"
crash
out=$(stream 41 0)
assert_match '^ok ' "$out" "after kill -9 the values are redis-server's ($out)"
r=$(info_num journal_replayed_ops)
[ "${r:-0}" -gt 100 ] && ok "the start ran $r journaled ops again" \
    || fail "expected journaled ops run again at the start, INFO journal_replayed_ops ${r:-none}"
assert_eq 0 "$(info_num journal_replay_errors)" "every op ran again as it had run"
assert_eq 0 "$(info_num journal_bytes)" "the start checkpointed: the journal is empty"

# ---- rotations under the stream ------------------------------------------
crash --journal-max-bytes 64kb
c0=$(info_num journal_checkpoints)
out=$(stream 42 8000 wide nofinal)
assert_match '^ok ' "$out" "journal-max-bytes 64kb: the same replies and values ($out)"
c1=$(info_num journal_checkpoints)
[ "$((c1 - c0))" -ge 3 ] && ok "the journal rotated $((c1 - c0)) times under the stream" \
    || fail "expected rotations with a 64 KB journal, INFO journal_checkpoints $c0 -> $c1"
jb=$(info_num journal_bytes)
[ "${jb:-0}" -le 1048576 ] && ok "the journal stays small ($jb bytes)" \
    || fail "the journal holds $jb bytes with journal-max-bytes 64kb"
crash --journal-max-bytes 64kb
out=$(stream 42 0)
assert_match '^ok ' "$out" "after kill -9 the values are redis-server's ($out)"
assert_eq 0 "$(info_num journal_replay_errors)" "no op failed to run again"

# ---- kill -9 in the middle of a rotation -----------------------------------
# 8 connections push numbered values onto 25 lists each, in pipelined
# batches, each batch's count saved once acknowledged; with a 64 KB
# journal the node rotates it all along (a new segment, the keys
# deferred then settled a slice per commit, then the old segments go):
# killed while a rotation is under way, every acknowledged push is there
# and nothing else
crash --journal-max-bytes 64kb
ST=$WORK/rot-acked.json
"$PY" - "$DP" "$ST" <<'EOF2' &
import json, os, sys, threading, time
import redis
port, state = int(sys.argv[1]), sys.argv[2]
acked = [0] * 8
lock = threading.Lock()
def worker(t):
    c = redis.Redis(host='127.0.0.1', port=port, socket_timeout=10)
    i, end = 0, time.time() + 60
    while time.time() < end:
        p = c.pipeline(transaction=False)
        for j in range(i, i + 50):
            p.rpush('rot:%d:%d' % (t, j % 25), j)
        try:
            p.execute()
        except Exception:
            return
        i += 50
        with lock:
            acked[t] = i
            with open(state + '.tmp', 'w') as f:
                json.dump(acked, f)
            os.replace(state + '.tmp', state)
ts = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
for t in ts: t.start()
for t in ts: t.join()
EOF2
LP=$!
rot=0
for ((i = 0; i < 600; i++)); do     # 30 s at most
    if [ "$(info_num journal_rotating)" = 1 ] && [ "$(info_num journal_checkpoints)" -ge 3 ]; then
        rot=1
        break
    fi
    sleep 0.05
done
assert_eq 1 "$rot" "a rotation is under way under the load (after $(info_num journal_checkpoints) ended)"
kill -KILL "$DPID"; wait "$DPID" 2>/dev/null; untrack_pid "$DPID"
wait "$LP"
restart
out=$("$PY" - "$DP" "$ST" <<'EOF2'
import json, sys
import redis
port, state = int(sys.argv[1]), sys.argv[2]
acked = json.load(open(state))
c = redis.Redis(host='127.0.0.1', port=port)
bad, total = [], 0
for t, a in enumerate(acked):
    total += a
    for k in range(25):
        got = [int(x) for x in c.lrange('rot:%d:%d' % (t, k), 0, -1)]
        want_min = [j for j in range(a) if j % 25 == k]
        if got[:len(want_min)] != want_min or any(j % 25 != k for j in got) or \
                got != sorted(got) or len(got) > len(want_min) + 2:
            bad.append('rot:%d:%d: %d values, %d acknowledged' % (t, k, len(got), len(want_min)))
print('lost or invented: ' + '; '.join(bad[:5]) if bad else 'ok %d acknowledged pushes' % total)
EOF2
)
assert_match '^ok ' "$out" "after kill -9 during a rotation every acknowledged push is there, in order, and nothing else ($out)"
assert_eq 0 "$(info_num journal_replay_errors)" "its ops ran again with no error"

# ---- what went does not come back ----------------------------------------
crash
cli $DP FLUSHALL >/dev/null
cli $RP FLUSHALL >/dev/null
for i in $(seq 1 50); do echo "RPUSH gone:list a$i"; echo "SADD gone:set m$i"; done \
    | cli $DP >/dev/null
cli $DP DEL gone:list >/dev/null
cli $DP RPUSH gone:list z >/dev/null
cli $DP FLUSHALL >/dev/null
for i in $(seq 1 50); do echo "RPUSH kept:list a$i"; done | cli $DP >/dev/null
cli $DP DEL kept:list >/dev/null
cli $DP RPUSH kept:list z >/dev/null
for i in $(seq 1 20); do echo "LPUSH kept:list b$i"; done | cli $DP >/dev/null
crash
assert_eq 1 "$(cli $DP DBSIZE)" "after kill -9 the FLUSHALL holds: one key made since"
assert_eq "b20 b19 b18 b17 b16 b15 b14 b13 b12 b11 b10 b9 b8 b7 b6 b5 b4 b3 b2 b1 z" \
    "$(cli $DP LRANGE kept:list 0 -1 | tr '\n' ' ' | sed 's/ $//')" \
    "a list deleted and made again holds only what came after the DEL"

# ---- a SADD that changes nothing writes nothing --------------------------------
cli $DP SADD noop:set a b c >/dev/null
cli $DP SADD noop:set d >/dev/null
j0=$(info_num journal_ops)
d0=$(info_num typed_writes_deferred)
assert_eq 0 "$(cli $DP SADD noop:set a b d)" "SADD of members already there answers 0"
j1=$(info_num journal_ops)
assert_eq "$j0" "$j1" "and writes nothing on a node alone (no journal op, as Redis adds nothing to its AOF)"
assert_eq "$d0" "$(info_num typed_writes_deferred)" "no write at all"
assert_eq 1 "$(cli $DP SADD noop:set a e)" "one new member among them is a write again"
assert_eq "$((j1 + 1))" "$(info_num journal_ops)" "journaled"

# ---- SPOP is not journaled ---------------------------------------------------
for i in $(seq 1 40); do echo "SADD pop:set m$i"; done | cli $DP >/dev/null
j0=$(info_num journal_ops)
popped=$(cli $DP SPOP pop:set 5 | sort | tr '\n' ' ')
one=$(cli $DP SPOP pop:set)
j1=$(info_num journal_ops)
assert_eq "$j0" "$j1" "SPOP wrote no journal op"
for i in $(seq 1 5); do echo "SADD pop:set n$i"; done | cli $DP >/dev/null
crash
left=$(cli $DP SMEMBERS pop:set | sort | tr '\n' ' ')
bad=0
for m in $popped $one; do case " $left " in *" $m "*) bad=1 ;; esac; done
assert_eq 0 "$bad" "the members SPOP took ($popped$one) stay gone after kill -9"
assert_eq 39 "$(cli $DP SCARD pop:set)" "and the rest are there (40 - 6 + 5)"

# ---- appendfsync always, then everysec in the same turn ---------------------------
# under always a write is not journaled (each commit writes the value);
# a CONFIG SET back to everysec right behind it, in the same pipeline,
# taken by the engine at the next record (the SET), must not leave it
# neither written nor journaled
cli $DP CONFIG SET appendfsync always >/dev/null
for i in $(seq 1 10); do echo "RPUSH sw:list a$i"; done | cli $DP >/dev/null
"$PY" - "$DP" <<'EOF2'
import sys, redis
c = redis.Redis(host='127.0.0.1', port=int(sys.argv[1]))
p = c.pipeline(transaction=False)
for i in range(11, 31):
    p.execute_command('RPUSH', 'sw:list', 'a%d' % i)
p.execute_command('CONFIG', 'SET', 'appendfsync', 'everysec')
p.execute_command('SET', 'sw:other', 'x')  # the engine takes the new mode
p.execute()
EOF2
crash
assert_eq 30 "$(cli $DP LLEN sw:list)" "pushes under always acknowledged as the switch to everysec came are there after kill -9"

# ---- a damaged journal ---------------------------------------------------------
for i in $(seq 1 30); do echo "RPUSH dmg:list v$i"; done | cli $DP >/dev/null
kill -KILL "$DPID"; wait "$DPID" 2>/dev/null; untrack_pid "$DPID"
jf=$(ls "$DDIR"/journal.*.seg | tail -1)
size=$(stat -c %s "$jf")
[ "$size" -gt 1000 ] && ok "the pushes are in $(basename "$jf") ($size bytes)" \
    || fail "expected the pushes in the journal, $jf has $size bytes"
# a byte changed in the middle of the 10th-from-last record's value, then
# a torn record at the end
"$PY" - "$jf" <<'EOF'
import sys
p = sys.argv[1]
b = bytearray(open(p, 'rb').read())
rec = len(b) // 29          # the 29 records are about the same size
off = len(b) - 10 * rec - rec // 2
b[off] ^= 0x5a
b += bytes([0xD7, 0x4a, 9, 0, 0, 0, 200, 0]) + b'dmg:list'
open(p, 'wb').write(b)
EOF
restart
n=$(cli $DP LLEN dmg:list)
[ "${n:-0}" -ge 28 ] && [ "${n:-0}" -le 29 ] \
    && ok "after a damaged record and a torn tail, the other pushes are there ($n of 30)" \
    || fail "expected 28 or 29 of 30 elements after one damaged record, LLEN ${n:-none}"
c=$(info_num journal_corrupt_records)
[ "${c:-0}" -ge 1 ] && ok "the damaged record was counted ($c)" \
    || fail "INFO journal_corrupt_records ${c:-none}"
assert_eq PONG "$(cli $DP PING)" "the node serves"

# ---- a clean shutdown ----------------------------------------------------------
for i in $(seq 1 30); do echo "HSET clean:hash f$i v$i"; done | cli $DP >/dev/null
stop_server "$DPID" 30
restart
assert_eq 0 "$(info_num journal_replayed_ops)" "after a clean shutdown nothing runs again"
assert_eq 30 "$(cli $DP HLEN clean:hash)" "and the writes are there"

finish
