#!/usr/bin/env bash
# t_types_disk.sh -- typed writes deferred with storage disk (server/db.c,
# "Deferred encoding"; server/engine.h, "Deferred typed values"): a node
# alone keeps the decoded state and writes the key's record once per
# commit, before the replies of the writes it holds leave.
#   - a random stream of set, hash, sorted set and list writes and reads,
#     pipelined, gets the same replies as redis-server and leaves the same
#     values; INFO shows the writes deferred and far fewer records written;
#   - one list pushed 20,000 times by redis-benchmark (-c 50) hands
#     write(2) a small part of what a record per push would (wchar): the
#     pushes go to the typed-op journal (server/journal.h); without it
#     (journal-max-bytes 0) a record per commit rolls 1 MB segments;
#   - kill -9 while 6 connections push to lists, sets, hashes and sorted
#     sets of their own, each batch counted once its replies are read: after
#     the restart every acknowledged element is there, and each value is
#     a prefix of what was sent (nothing invented, no gap); without the
#     journal, with it (appendfsync everysec: its ops run again at the
#     start), and with appendfsync always (which settles every commit
#     instead of journaling);
#   - the same with a typed-cache-size so small that states are evicted
#     (and so settled) between their writes, and with the cache switched
#     off and on;
#   - a clean restart keeps the stream's values (the same as redis-server's);
#   - key commands in the same pipeline as the writes they follow
#     (FLUSHALL, DEL, EXPIRE, PERSIST, RENAME, COPY, TYPE, a SET over a
#     list) answer as redis-server's, and a SIGTERM right after writes
#     nobody read back keeps them and what the key commands left.
# Segments of 1 MB keep compaction busy all along (it moves the records
# deferred keys still point at).
. "$(dirname "$0")/lib.sh"

PY=/usr/bin/python3
[ -x "$PY" ] && "$PY" -c 'import redis' 2>/dev/null || skip "python3-redis (Debian's) is not installed"

start_redis
RP=$SRV_PORT
start_dynamod --storage disk --appendfsync everysec --segment-max-bytes 1mb
DP=$SRV_PORT
DPID=$SRV_PID
info_num() { cli $DP INFO | tr -d '\r' | sed -n "s/^$1://p"; }
restart() { # restart [args...]: the same port and dir
    restart_dynamod "$DP" --storage disk --segment-max-bytes 1mb "$@"
    DPID=$SRV_PID
}

# ---- the stream against redis-server ------------------------------------
d0=$(info_num typed_writes_deferred)
e0=$(info_num typed_encodes_deferred)
out=$("$PY" "$TOP_SRCDIR/tests/integration/typed_stream.py" "$RP" "$DP" 31 6000)
assert_match '^ok ' "$out" "storage disk, 6000 ops through pipelines: the same replies and values as redis-server ($out)"
d1=$(info_num typed_writes_deferred)
e1=$(info_num typed_encodes_deferred)
[ "$((d1 - d0))" -gt 1000 ] && ok "writes were deferred ($((d1 - d0)))" \
    || fail "expected over 1000 deferred writes with storage disk, INFO says $((d1 - d0))"
[ "$((e1 - e0))" -lt "$(((d1 - d0) / 2))" ] \
    && ok "fewer records than deferred writes ($((e1 - e0)) encodings for $((d1 - d0)) writes)" \
    || fail "expected fewer encodings than half the deferred writes: $((e1 - e0)) for $((d1 - d0))"

# ---- evictions settle between writes; the cache off and on -------------
cli $DP CONFIG SET typed-cache-size 4096 >/dev/null
v0=$(info_num typed_cache_evictions)
out=$("$PY" "$TOP_SRCDIR/tests/integration/typed_stream.py" "$RP" "$DP" 32 3000)
assert_match '^ok ' "$out" "typed-cache-size 4096: the same replies and values ($out)"
v1=$(info_num typed_cache_evictions)
[ "$((v1 - v0))" -gt 50 ] && ok "states were evicted between writes ($((v1 - v0)))" \
    || fail "expected evictions with a 4096-byte cache, INFO says $((v1 - v0))"
cli $DP CONFIG SET typed-cache-size 0 >/dev/null
out=$("$PY" "$TOP_SRCDIR/tests/integration/typed_stream.py" "$RP" "$DP" 33 1500)
assert_match '^ok ' "$out" "the cache off: every write encoded ($out)"
cli $DP CONFIG SET typed-cache-size 64mb >/dev/null
out=$("$PY" "$TOP_SRCDIR/tests/integration/typed_stream.py" "$RP" "$DP" 34 1500)
assert_match '^ok ' "$out" "and on again ($out)"
c=$(cli $DP INFO persistence | tr -d '\r' | sed -n 's/^compactions://p')
echo "# compactions so far: ${c:-?}"

# ---- what write(2) is handed for one growing list -----------------------
wchar() { sed -n 's/^wchar: //p' "/proc/$1/io"; }
w0=$(wchar $DPID)
timeout 300 redis-benchmark -h 127.0.0.1 -p $DP -n 20000 -c 50 lpush bench:disklist v >/dev/null 2>&1
w1=$(wchar $DPID)
assert_eq 20000 "$(cli $DP LLEN bench:disklist)" "20,000 pushes onto one list"
bytes=$(cli $DP DYNAMO.VCLOCK bench:disklist | sed -n '/^size$/{n;p;}' | head -1)
# a record per push would hand write(2) about 20,000 x half the final
# object; a record per commit a small part of that
per_push=$((bytes * 10000))
[ -n "$bytes" ] && [ "$((w1 - w0))" -lt "$((per_push / 10))" ] \
    && ok "write(2) got $((w1 - w0)) bytes for the pushes (a record per push: ~$per_push)" \
    || fail "write(2) got $((w1 - w0)) bytes for 20,000 pushes onto a ${bytes:-?}-byte list (a record per push: ~$per_push)"

# with the journal (the default) the pushes' ops went to the journal, not
# records of the list
jops=$(info_num journal_ops)
[ "${jops:-0}" -ge 19000 ] && ok "the pushes were journaled ($jops ops)" \
    || fail "expected the 20,000 pushes in the journal, INFO journal_ops ${jops:-none}"

# without it (journal-max-bytes 0) a commit writes the list's record; the
# deferrals reserved room for their records: a record that did not fit
# rolled the segment through the engine (its sync and hint), not inside
# the log's reservation
cli $DP SHUTDOWN NOSAVE >/dev/null 2>&1
wait_exit "$DPID" 20 2>/dev/null
untrack_pid "$DPID"
RESTART_ARGS=(--journal-max-bytes 0)
restart "${RESTART_ARGS[@]}"
assert_eq 20000 "$(cli $DP LLEN bench:disklist)" "the list after a clean restart"
assert_eq no "$(info_num journal_enabled)" "journal-max-bytes 0: no journal"
timeout 300 redis-benchmark -h 127.0.0.1 -p $DP -n 20000 -c 50 lpush bench:disklist2 v >/dev/null 2>&1
rolls=$(cli $DP INFO persistence | tr -d '\r' | sed -n 's/^segment_rolls://p')
[ "${rolls:-0}" -gt 10 ] && ok "1 MB segments rolled by the engine ($rolls)" \
    || fail "expected the engine to roll 1 MB segments under the pushes, INFO segment_rolls ${rolls:-none}"

# ---- kill -9 under load --------------------------------------------------
# load PREFIX STATE: 6 connections, each pipelining batches of 25 elements
# onto its own list, set, hash and sorted set until the server goes away
# (or 60 s pass); STATE gets each connection's acknowledged count after
# every batch
load() {
    "$PY" - "$DP" "$1" "$2" <<'EOF'
import json, sys, threading, time
import redis

port, prefix, state = int(sys.argv[1]), sys.argv[2], sys.argv[3]
acked = [0] * 6
lock = threading.Lock()

def save():
    with lock:
        tmp = state + '.tmp'
        with open(tmp, 'w') as f:
            json.dump(acked, f)
        import os
        os.replace(tmp, state)

def worker(t):
    c = redis.Redis(host='127.0.0.1', port=port, socket_timeout=10)
    i, end = 0, time.time() + 60
    while time.time() < end:
        p = c.pipeline(transaction=False)
        for j in range(i, i + 25):
            p.rpush('%sL%d' % (prefix, t), j)
            p.sadd('%sS%d' % (prefix, t), j)
            p.hset('%sH%d' % (prefix, t), j, j)
            p.zadd('%sZ%d' % (prefix, t), {str(j): j})
        try:
            p.execute()
        except Exception:
            return
        i += 25
        acked[t] = i
        save()

ts = [threading.Thread(target=worker, args=(t,)) for t in range(6)]
for t in ts:
    t.start()
for t in ts:
    t.join()
EOF
}

# verify PREFIX STATE: every acknowledged element is there, each value is
# the prefix 0..m-1 of what its connection sent, m below acked + 25
verify() {
    "$PY" - "$DP" "$1" "$2" <<'EOF'
import json, sys
import redis

port, prefix, state = int(sys.argv[1]), sys.argv[2], sys.argv[3]
acked = json.load(open(state))
c = redis.Redis(host='127.0.0.1', port=port)
bad, total = [], 0
for t, a in enumerate(acked):
    total += a
    lst = [int(x) for x in c.lrange('%sL%d' % (prefix, t), 0, -1)]
    m = len(lst)
    if lst != list(range(m)) or m < a or m > a + 25:
        bad.append('list %d: %d elements, acked %d, prefix %s' % (t, m, a, lst == list(range(m))))
    for kind, got in (('set', sorted(int(x) for x in c.smembers('%sS%d' % (prefix, t)))),
                      ('hash', sorted(int(k) for k, v in c.hgetall('%sH%d' % (prefix, t)).items() if k == v)),
                      ('zset', [int(x) for x in c.zrange('%sZ%d' % (prefix, t), 0, -1)])):
        n = len(got)
        if got != list(range(n)) or n < a or n > a + 25:
            bad.append('%s %d: %d members, acked %d' % (kind, t, n, a))
if bad:
    print('lost or invented: ' + '; '.join(bad[:6]))
    sys.exit(1)
print('ok %d acknowledged elements per type' % total)
EOF
}

crash_round() { # crash_round PREFIX LABEL [journal: its ops ran again]
    local st="$WORK/acked-$1.json" i
    rm -f "$st"
    load "$1" "$st" &
    local lp=$!
    # kill once every connection has had batches acknowledged (bounded)
    for ((i = 0; i < 400; i++)); do
        [ -f "$st" ] && "$PY" -c "import json,sys; a=json.load(open(sys.argv[1])); sys.exit(0 if min(a) >= 500 else 1)" "$st" 2>/dev/null && break
        sleep 0.05
    done
    kill -KILL "$DPID"
    wait "$DPID" 2>/dev/null
    untrack_pid "$DPID"
    wait "$lp"
    restart "${RESTART_ARGS[@]}"
    out=$(verify "$1" "$st")
    assert_match '^ok ' "$out" "$2: after kill -9, every acknowledged element is there and nothing else ($out)"
    if [ "${3:-}" = journal ]; then
        local r
        r=$(info_num journal_replayed_ops)
        [ "${r:-0}" -gt 0 ] && ok "$2: the start ran $r journaled ops again" \
            || fail "$2: expected journaled ops run again, INFO journal_replayed_ops ${r:-none}"
        assert_eq 0 "$(info_num journal_replay_errors)" "$2: with no error"
    fi
}

# the journal off (as left above), then on (the default) for the rest
crash_round c0_ "no journal"
RESTART_ARGS=()
kill -KILL "$DPID"; wait "$DPID" 2>/dev/null; untrack_pid "$DPID"
restart
crash_round c1_ "appendfsync everysec" journal
cli $DP CONFIG SET appendfsync always >/dev/null
crash_round c2_ "appendfsync always"
# the first round's values survived the second crash too
out=$(verify c1_ "$WORK/acked-c1_.json")
assert_match '^ok ' "$out" "the first round's values after the second crash ($out)"

# ---- a clean restart keeps the stream's values ---------------------------
stop_server "$DPID" 30
restart
out=$("$PY" - "$RP" "$DP" <<'EOF'
import sys
import redis
r = redis.Redis(host='127.0.0.1', port=int(sys.argv[1]))
d = redis.Redis(host='127.0.0.1', port=int(sys.argv[2]))
def whole(c):
    out = {}
    for k in ['s0', 's1']:
        out[k] = sorted(c.smembers(k))
    for k in ['h0', 'h1']:
        out[k] = sorted(c.hgetall(k).items())
    for k in ['z0', 'z1']:
        out[k] = c.zrange(k, 0, -1, withscores=True)
    for k in ['l0', 'l1']:
        out[k] = c.lrange(k, 0, -1)
    return out
print('ok' if whole(r) == whole(d) else 'differ')
EOF
)
assert_eq ok "$out" "after a clean restart the stream's values are redis-server's"

# ---- key commands right behind deferred writes ---------------------------
out=$("$PY" - "$RP" "$DP" <<'EOF'
import sys
import redis
r = redis.Redis(host='127.0.0.1', port=int(sys.argv[1]))
d = redis.Redis(host='127.0.0.1', port=int(sys.argv[2]))
seqs = [
    [('SADD', 'kf', 'a'), ('SADD', 'kf', 'b'), ('FLUSHALL',), ('SCARD', 'kf'), ('SADD', 'kf', 'c'),
     ('SMEMBERS', 'kf')],
    [('RPUSH', 'kl', 'a', 'b'), ('RPUSH', 'kl', 'c'), ('DEL', 'kl'), ('LRANGE', 'kl', '0', '-1'),
     ('RPUSH', 'kl', 'd'), ('LRANGE', 'kl', '0', '-1')],
    [('SADD', 'ks', 'x'), ('SADD', 'ks', 'y'), ('EXPIRE', 'ks', '1000'), ('SADD', 'ks', 'z'),
     ('TTL', 'ks'), ('PERSIST', 'ks'), ('SADD', 'ks', 'w'), ('TTL', 'ks'), ('SCARD', 'ks')],
    [('HSET', 'kh', 'f', '1'), ('HSET', 'kh', 'g', '2'), ('RENAME', 'kh', 'kh2'),
     ('HGETALL', 'kh'), ('HSET', 'kh2', 'h', '3'), ('HLEN', 'kh2'), ('COPY', 'kh2', 'kh3'),
     ('HSET', 'kh3', 'i', '4'), ('HLEN', 'kh2'), ('HLEN', 'kh3')],
    [('ZADD', 'kz', '1', 'a'), ('ZADD', 'kz', '2', 'b'), ('TYPE', 'kz'),
     ('ZADD', 'kz', '3', 'c'), ('ZRANGE', 'kz', '0', '-1', 'WITHSCORES')],
    [('RPUSH', 'kx', '1'), ('RPUSH', 'kx', '2'), ('SET', 'kx', 'str'), ('GET', 'kx'),
     ('RPUSH', 'kx', '3'), ('TYPE', 'kx')],
    # written last, never read back before the SIGTERM below
    [('RPUSH', 'keep:l', 'a'), ('RPUSH', 'keep:l', 'b', 'c'), ('SADD', 'keep:s', 'm'),
     ('SADD', 'keep:s', 'n'), ('HSET', 'keep:h', 'f', 'v'), ('ZADD', 'keep:z', '5', 'q')],
]
def run(c, cmds):
    p = c.pipeline(transaction=False)
    for x in cmds:
        p.execute_command(*x)
    return [repr(v) if isinstance(v, Exception) else v for v in p.execute(raise_on_error=False)]
for cmds in seqs:
    a, b = run(r, cmds), run(d, cmds)
    if a != b:
        for x, y, z in zip(cmds, a, b):
            if y != z:
                print('differ at %r: redis %r, dynamod %r' % (x, y, z))
                sys.exit(1)
print('ok')
EOF
)
assert_eq ok "$out" "key commands in the pipeline right behind deferred writes answer as redis-server's"
stop_server "$DPID" 30
restart
flat() { tr '\n' ' ' | sed 's/ $//'; }
assert_eq "a b c|m n|f v|q 5" \
    "$(cli $DP LRANGE keep:l 0 -1 | flat)|$(cli $DP SMEMBERS keep:s | sort | flat)|$(cli $DP HGETALL keep:h | flat)|$(cli $DP ZRANGE keep:z 0 -1 WITHSCORES | flat)" \
    "writes no one read back survive a SIGTERM right after them"
assert_eq "c|d|4|3 4|a 1 b 2 c 3|str" \
    "$(cli $DP SMEMBERS kf)|$(cli $DP LRANGE kl 0 -1)|$(cli $DP SCARD ks)|$(cli $DP HLEN kh2) $(cli $DP HLEN kh3)|$(cli $DP ZRANGE kz 0 -1 WITHSCORES | flat)|$(cli $DP GET kx)" \
    "and so do the values the key commands left (FLUSHALL, DEL, RENAME, COPY, SET over a list)"
assert_eq "-1" "$(cli $DP TTL ks)" "PERSIST after EXPIRE on a deferred set holds after the restart"
finish
