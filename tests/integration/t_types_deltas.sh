#!/usr/bin/env bash
# t_types_deltas.sh -- replicas get large typed values as deltas (cluster/
# delta.c; docs/TYPES.md section 3): in a 3-node cluster (N=3), with
# anti-entropy out of the way so that only the write path copies values,
#   - one stream of list, set, hash and sorted set writes through one node,
#     pipelined by Python's redis client, gets the same replies as
#     redis-server; the writes went out as deltas (INFO deltas_sent, and
#     the replicas' replica_deltas) of far fewer bytes than the objects,
#     quorum reads found the replicas' copies equal (replica_gets_same),
#     and every node holds exactly the same bytes (equal Merkle roots);
#   - two streams through two coordinators at once to the same keys make
#     replicas refuse deltas of copies they do not hold; the coordinator
#     then sends the whole object, and every node still ends with the same
#     bytes and every member that was added;
#   - a replica stopped for 6 s (down, with hints kept for it) in the
#     middle of a stream of pushes ends with the same bytes as the others;
#   - a node with replica-deltas no (as a node of an older version, which
#     knows neither R.MGETD nor R.MDPUT) is sent plain reads and whole
#     objects after its first refusal, and holds the same bytes;
#   - once the writes stop and anti-entropy runs, every node compacts the
#     values (no element dots left) to the same bytes, and the writes after
#     that go as deltas of the compacted copies, none refused.
. "$(dirname "$0")/cluster_lib.sh"

PY=/usr/bin/python3
[ -x "$PY" ] && "$PY" -c 'import redis' 2>/dev/null || skip "python3-redis (Debian's) is not installed"

cluster_start 3 --n 3 --r 2 --w 2 --anti-entropy-interval-ms 3600000 \
    --anti-entropy-sweep-interval-ms 3600000
start_redis
RP=$SRV_PORT

# roots I: node I's Merkle roots (every partition: N=3 on 3 nodes).  A
# write's reply needs W=2 acks, so the third replica may still be storing
# it when a stream ends: the comparisons poll.
roots() { ncli "$1" DYNAMO.MERKLE | md5sum | cut -d' ' -f1; }
same_roots() {
    local a
    a=$(roots 1)
    [ "$(roots 2)" = "$a" ] && [ "$(roots 3)" = "$a" ]
}

# stream PORT_A PORT_B SEED OPS PREFIX: the same pipelined random stream
# to both servers; prints "ok" or the first reply that differs.
stream() {
    "$PY" - "$@" <<'EOF'
import random, sys
import redis

pa, pb, seed, nops, p = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
a = redis.Redis(host='127.0.0.1', port=pa)
b = redis.Redis(host='127.0.0.1', port=pb)
rnd = random.Random(seed)

def op():
    x = rnd.random()
    m = 'member:%d' % rnd.randrange(2000)
    if x < 0.25:
        return ('LPUSH' if rnd.random() < 0.5 else 'RPUSH', p + 'list', 'v%d' % rnd.randrange(10**6))
    if x < 0.28:
        return ('LPOP' if rnd.random() < 0.5 else 'RPOP', p + 'list')
    if x < 0.50:
        return ('SADD', p + 'set', m)
    if x < 0.53:
        return ('SREM', p + 'set', m)
    if x < 0.75:
        return ('HSET', p + 'hash', m, 'x' * rnd.randrange(1, 40))
    if x < 0.78:
        return ('HDEL', p + 'hash', m)
    if x < 0.97:
        return ('ZADD', p + 'zset', str(rnd.randrange(10**5)), m)
    return ('ZREM', p + 'zset', m)

done = 0
while done < nops:
    batch = [op() for _ in range(min(200, nops - done))]
    ra, rb = a.pipeline(transaction=False), b.pipeline(transaction=False)
    for c in batch:
        ra.execute_command(*c)
        rb.execute_command(*c)
    xa, xb = ra.execute(raise_on_error=False), rb.execute(raise_on_error=False)
    for c, u, v in zip(batch, xa, xb):
        if repr(u) != repr(v):
            print('differ: %r: %r vs %r' % (c, u, v))
            sys.exit(0)
    done += len(batch)
for k, read in (('list', lambda r: r.lrange(p + 'list', 0, -1)),
                ('set', lambda r: sorted(r.smembers(p + 'set'))),
                ('hash', lambda r: sorted(r.hgetall(p + 'hash').items())),
                ('zset', lambda r: r.zrange(p + 'zset', 0, -1, withscores=True))):
    if read(a) != read(b):
        print('differ: the %s values' % k)
        sys.exit(0)
print('ok')
EOF
}

# ---- one coordinator -----------------------------------------------------------
out=$(stream "$(nport 1)" "$RP" 7 6000 a:)
assert_eq ok "$out" "one coordinator: the same replies and values as redis-server"
sent=$(info_field 1 deltas_sent)
dbytes=$(info_field 1 delta_bytes)
obytes=$(info_field 1 delta_object_bytes)
echo "# deltas_sent=$sent delta_bytes=$dbytes delta_object_bytes=$obytes"
[ "${sent:-0}" -gt 5000 ] && ok "writes went out as deltas ($sent)" || fail "deltas_sent $sent"
[ "${dbytes:-0}" -gt 0 ] && [ $((dbytes * 20)) -lt "${obytes:-0}" ] \
    && ok "the deltas took $dbytes bytes for objects of $obytes" \
    || fail "delta bytes $dbytes for objects of $obytes: not a twentieth"
for i in 2 3; do
    v=$(info_field $i replica_deltas)
    [ "${v:-0}" -gt 2500 ] && ok "n$i applied $v deltas" || fail "n$i applied ${v:-0} deltas"
    v=$(info_field $i replica_gets_same)
    [ "${v:-0}" -gt 2500 ] && ok "n$i answered $v quorum reads +SAME" || fail "n$i answered ${v:-0} reads +SAME"
done
wait_for 60 same_roots && ok "every node holds the same bytes (equal Merkle roots)" \
    || fail "the nodes' Merkle roots differ after the writes"

# ---- two coordinators at once ----------------------------------------------------
# Each round adds members of its own through n1 and n2 at once (the
# replies then depend on the interleaving, so they are not compared);
# rounds go on until some replica refused a delta (a copy another
# coordinator had changed), within a bound.
concurrent() { # PORT PREFIX SEED
    "$PY" - "$@" <<'EOF'
import random, sys
import redis
port, p, seed = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
r = redis.Redis(host='127.0.0.1', port=port)
rnd = random.Random(seed)
pl = r.pipeline(transaction=False)
for i in range(600):
    pl.sadd(p + 'set', 's%d:%d' % (seed, i))
    pl.rpush(p + 'list', 'e%d:%d' % (seed, i))
    pl.hset(p + 'hash', 'f%d:%d' % (seed, i), 'v')
    if i % 100 == 99:
        pl.execute()
pl.execute()
EOF
}
refused=0
rounds=0
for ((round = 1; round <= 10; round++)); do
    rounds=$round
    concurrent "$(nport 1)" c$round: $((2 * round)) &
    p1=$!
    concurrent "$(nport 2)" c$round: $((2 * round + 1)) &
    p2=$!
    wait $p1 $p2
    refused=$(( $(info_field 1 replica_deltas_refused) + $(info_field 2 replica_deltas_refused) + $(info_field 3 replica_deltas_refused) ))
    [ "$refused" -gt 0 ] && break
done
resent=$(( $(info_field 1 deltas_resent) + $(info_field 2 deltas_resent) ))
echo "# $rounds rounds: $refused deltas refused, $resent objects resent whole"
[ "$refused" -gt 0 ] && [ "$resent" -ge "$refused" ] \
    && ok "replicas refused deltas of copies they did not hold ($refused); the objects went whole ($resent)" \
    || fail "refused $refused, resent $resent"
bad=0
for ((r = 1; r <= rounds; r++)); do
    for i in 1 2 3; do
        [ "$(ncli $i SCARD c$r:set)" = 1200 ] || bad=$((bad + 1))
        [ "$(ncli $i LLEN c$r:list)" = 1200 ] || bad=$((bad + 1))
        [ "$(ncli $i HLEN c$r:hash)" = 1200 ] || bad=$((bad + 1))
    done
done
assert_eq 0 "$bad" "two coordinators: every node reads all 1200 members, elements and fields of each value"
wait_for 60 same_roots && ok "two coordinators: every node holds the same bytes" \
    || fail "two coordinators: the nodes' Merkle roots differ"

# ---- a replica that stalls mid-stream ---------------------------------------------
# n3 stops for 6 s (SIGSTOP; the CONT is sent whatever happens here),
# longer than down-timeout-ms (3 s), while 3000 pushes go through n1 over
# about 9 s (W=2: n1 and n2 answer): the writes while it is down leave
# hints, which reach it when it is back, and the writes after that go as
# deltas again; it must end with the same bytes as the others.
pid3=$(npid 3)
h0=$(info_sum hints_stored)
( kill -STOP "$pid3"; sleep 6; kill -CONT "$pid3" ) &
stopper=$!
"$PY" - "$(nport 1)" <<'EOF'
import sys, time
import redis
r = redis.Redis(host='127.0.0.1', port=int(sys.argv[1]))
for b in range(30):
    pl = r.pipeline(transaction=False)
    for i in range(100):
        pl.rpush('f:list', 'e%d' % (b * 100 + i))
    pl.execute()
    time.sleep(0.3)
EOF
wait "$stopper"
h1=$(info_sum hints_stored)
echo "# after the stall: $((h1 - h0)) hints stored, deltas resent whole $(info_sum deltas_resent) in all"
[ "$h1" -gt "$h0" ] && ok "writes while n3 was down left hints ($((h1 - h0)))" \
    || fail "no hint was stored while n3 was stopped"
if wait_for 90 same_roots; then
    ok "a replica stopped for 6 s mid-stream catches up: every node holds the same bytes"
else
    fail "after n3's stall the Merkle roots still differ"
fi
assert_eq 3000 "$(ncli 3 LLEN f:list)" "the stalled replica's coordinator reads all 3000 elements"

# ---- a node that takes no deltas -------------------------------------------------
ncli 3 CONFIG SET replica-deltas no >/dev/null
before=$(info_field 3 replica_puts)
dbefore=$(info_field 3 replica_deltas)
out=$(stream "$(nport 1)" "$RP" 11 3000 o:)
assert_eq ok "$out" "with n3 taking no deltas: the same replies and values as redis-server"
assert_eq "$dbefore" "$(info_field 3 replica_deltas)" "n3 (replica-deltas no) applied no deltas"
after=$(info_field 3 replica_puts)
# (a write that timed out on a loaded machine reaches it as a hint, and
# hints of one key coalesce: the count is a floor, the roots below check)
[ $((after - before)) -gt 100 ] && ok "n3 got the writes whole ($((after - before)))" \
    || fail "n3 got $((after - before)) writes"
wait_for 60 same_roots && ok "n3 holds the same bytes as the others" || fail "n3's Merkle roots differ"

# ---- compaction, then more deltas ------------------------------------------------
for i in 1 2 3; do
    ncli $i CONFIG SET replica-deltas yes >/dev/null
    ncli $i CONFIG SET anti-entropy-sweep-interval-ms 200 >/dev/null
    ncli $i CONFIG SET anti-entropy-interval-ms 20 >/dev/null
done
# element dots I KEY: the dots node I's copy of the list still keeps
edots() { ncli "$1" DYNAMO.LOCAL "$2" | sed -n 's/.*element dots \([0-9]*\).*/\1/p' | head -1; }
compacted() {
    local i
    for i in 1 2 3; do [ "$(edots $i a:list)" = 0 ] || return 1; done
    same_roots
}
if wait_for 90 compacted; then
    ok "after the writes, anti-entropy compacted every copy of the list (no element dots) to the same bytes"
else
    fail "the copies were not compacted to the same bytes: element dots $(edots 1 a:list) $(edots 2 a:list) $(edots 3 a:list)"
fi
for i in 1 2 3; do ncli $i CONFIG SET anti-entropy-interval-ms 3600000 >/dev/null; ncli $i CONFIG SET anti-entropy-sweep-interval-ms 3600000 >/dev/null; done
s0=$(info_field 1 deltas_sent)
r0=$(info_sum replica_deltas_refused)
for ((i = 0; i < 200; i++)); do echo "RPUSH a:list after$i"; done | ncli 1 >/dev/null
s1=$(info_field 1 deltas_sent)
r1=$(info_sum replica_deltas_refused)
# (to n2 at least: n3 refused deltas while replica-deltas was no, and
# gets whole objects for a minute after that)
[ $((s1 - s0)) -ge 200 ] && [ "$r1" = "$r0" ] \
    && ok "after compaction: 200 pushes went as $((s1 - s0)) deltas, none refused" \
    || fail "after compaction: $((s1 - s0)) deltas, $((r1 - r0)) refused"
wait_for 60 same_roots && ok "after compaction and more writes every node holds the same bytes" \
    || fail "the Merkle roots differ after the writes that followed compaction"

finish
