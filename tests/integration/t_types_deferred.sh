#!/usr/bin/env bash
# t_types_deferred.sh -- typed writes whose encoding is deferred (server/db.c,
# "Deferred encoding": a node alone with storage memory keeps the decoded
# state as the key's value and encodes it on the first read), driven by
# Python's redis client against one dynamod and one redis-server side by
# side, pipelined as clients do:
#   - the same random stream of set, hash, sorted set and list writes, with
#     reads in between, gets the same replies from both, byte for byte;
#   - and leaves the same values (read whole at the end);
#   - the same again with typed-cache-size lowered so far that states are
#     evicted (and so encoded) between their writes, and with the cache
#     switched off and on in the middle;
#   - INFO says the writes were deferred and the deferred states encoded;
#   - TYPE, EXISTS and reads answer without encoding a deferred value, and
#     a command that reads the object encodes it once.
. "$(dirname "$0")/lib.sh"

PY=/usr/bin/python3
[ -x "$PY" ] && "$PY" -c 'import redis' 2>/dev/null || skip "python3-redis (Debian's) is not installed"

start_redis
RP=$SRV_PORT
start_dynamod --storage memory
DP=$SRV_PORT
info_num() { cli $DP INFO | tr -d '\r' | sed -n "s/^$1://p"; }

# stream SEED OPS: prints "ok ..." or the first difference
stream() {
    "$PY" - "$RP" "$DP" "$1" "$2" <<'EOF'
import random, sys
import redis

rp, dp, seed, nops = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
r = redis.Redis(host='127.0.0.1', port=rp)
d = redis.Redis(host='127.0.0.1', port=dp)
rnd = random.Random(seed)
sets, hashes, zsets, lists = ['s0', 's1'], ['h0', 'h1'], ['z0', 'z1'], ['l0', 'l1']

def member():
    return 'm%d' % rnd.randrange(60)

def op():
    k = rnd.randrange(100)
    if k < 18:
        return ('SADD', rnd.choice(sets), member())
    if k < 24:
        return ('SREM', rnd.choice(sets), member())
    if k < 27:
        return ('SISMEMBER', rnd.choice(sets), member())
    if k < 28:
        return ('SCARD', rnd.choice(sets))
    if k < 42:
        return ('HSET', rnd.choice(hashes), member(), 'v%d' % rnd.randrange(1000))
    if k < 46:
        return ('HINCRBY', rnd.choice(hashes), 'n%d' % rnd.randrange(5), str(rnd.randrange(-9, 10)))
    if k < 49:
        return ('HDEL', rnd.choice(hashes), member())
    if k < 51:
        return ('HGET', rnd.choice(hashes), member())
    if k < 64:
        return ('ZADD', rnd.choice(zsets), str(rnd.randrange(-50, 50)), member())
    if k < 67:
        return ('ZADD', rnd.choice(zsets), 'INCR', str(rnd.randrange(1, 9)), member())
    if k < 69:
        return ('ZSCORE', rnd.choice(zsets), member())
    if k < 80:
        return (rnd.choice(['LPUSH', 'RPUSH']), rnd.choice(lists), 'e%d' % rnd.randrange(1000))
    if k < 86:
        return (rnd.choice(['LPOP', 'RPOP']), rnd.choice(lists))
    if k < 88:
        return ('LINDEX', rnd.choice(lists), str(rnd.randrange(-5, 5)))
    if k < 89:
        return ('LLEN', rnd.choice(lists))
    if k < 91:
        # several at once: the path that encodes every write
        return ('SADD', rnd.choice(sets), member(), member(), member())
    if k < 93:
        return ('HSET', rnd.choice(hashes), member(), 'a', member(), 'b')
    if k < 95:
        return ('RPUSH', rnd.choice(lists), 'x', 'y')
    if k < 97:
        return ('ZADD', rnd.choice(zsets), '1', member(), '2', member())
    if k < 98:
        return ('DEL', rnd.choice(sets + hashes + zsets + lists))
    # whole-value reads, in orders both servers define
    return rnd.choice([('ZRANGE', rnd.choice(zsets), '0', '-1', 'WITHSCORES'),
                       ('ZRANK', rnd.choice(zsets), member()),
                       ('ZCARD', rnd.choice(zsets)),
                       ('LRANGE', rnd.choice(lists), '0', '-1'),
                       ('HLEN', rnd.choice(hashes)),
                       ('HEXISTS', rnd.choice(hashes), member())])

def run(client, cmds):
    p = client.pipeline(transaction=False)
    for c in cmds:
        p.execute_command(*c)
    return p.execute(raise_on_error=False)

def norm(x):
    return repr(x) if isinstance(x, Exception) else x

done = 0
while done < nops:
    batch = [op() for _ in range(rnd.randrange(1, 60))]
    a, b = run(r, batch), run(d, batch)
    for c, x, y in zip(batch, a, b):
        if norm(x) != norm(y):
            print('differ at op %d: %r: redis %r, dynamod %r' % (done, c, x, y))
            sys.exit(1)
        done += 1

def whole(c):
    out = {}
    for k in sets:
        out[k] = sorted(c.smembers(k))
    for k in hashes:
        out[k] = sorted(c.hgetall(k).items())
    for k in zsets:
        out[k] = c.zrange(k, 0, -1, withscores=True)
    for k in lists:
        out[k] = c.lrange(k, 0, -1)
    return out

if whole(r) != whole(d):
    print('the values differ at the end')
    sys.exit(1)
print('ok %d ops' % done)
EOF
}

d0=$(info_num typed_writes_deferred)
out=$(stream 11 6000)
assert_match '^ok ' "$out" "6000 ops through pipelines: the same replies as redis-server and the same values ($out)"
d1=$(info_num typed_writes_deferred)
e1=$(info_num typed_encodes_deferred)
[ "$((d1 - d0))" -gt 1000 ] && ok "writes were deferred ($((d1 - d0)))" \
    || fail "expected over 1000 deferred writes, INFO says $((d1 - d0))"
[ "${e1:-0}" -gt 100 ] && ok "deferred states were encoded for reads ($e1)" \
    || fail "expected deferred states encoded, INFO says ${e1:-none}"

# a bound of a few states: evicted, so encoded, between their writes
cli $DP CONFIG SET typed-cache-size 4096 >/dev/null
v0=$(info_num typed_cache_evictions)
out=$(stream 12 4000)
assert_match '^ok ' "$out" "with typed-cache-size 4096: the same replies and values ($out)"
v1=$(info_num typed_cache_evictions)
[ "$((v1 - v0))" -gt 50 ] && ok "states were evicted between writes ($((v1 - v0)))" \
    || fail "expected evictions with a 4096-byte cache, INFO says $((v1 - v0))"
b=$(info_num typed_cache_bytes)
[ "$b" -le 4096 ] && ok "the cache stays within its bound ($b bytes)" \
    || fail "typed_cache_bytes $b passes the 4096 bound"

# the cache off (every deferred state encoded at once) and on again
cli $DP CONFIG SET typed-cache-size 64mb >/dev/null
out=$(stream 13 1500)
assert_match '^ok ' "$out" "the cache back at 64mb ($out)"
cli $DP CONFIG SET typed-cache-size 0 >/dev/null
out=$(stream 14 1500)
assert_match '^ok ' "$out" "the cache off: every write encoded ($out)"
assert_eq 0 "$(info_num typed_cache_keys)" "switched off, the cache keeps nothing"
cli $DP CONFIG SET typed-cache-size 64mb >/dev/null
out=$(stream 15 1500)
assert_match '^ok ' "$out" "and on again ($out)"

# what needs no bytes does not encode a deferred value; what reads the
# object does, once
cli $DP SADD dk a >/dev/null
cli $DP SADD dk b >/dev/null
cli $DP SADD dk c >/dev/null
e0=$(info_num typed_encodes_deferred)
assert_eq "set 1 3 1" "$(cli $DP TYPE dk) $(cli $DP EXISTS dk) $(cli $DP SCARD dk) $(cli $DP SISMEMBER dk b)" \
    "TYPE, EXISTS and reads of a deferred set answer"
assert_eq "$e0" "$(info_num typed_encodes_deferred)" "without encoding it"
cli $DP OBJECT ENCODING dk >/dev/null
cli $DP OBJECT ENCODING dk >/dev/null
assert_eq "$((e0 + 1))" "$(info_num typed_encodes_deferred)" "OBJECT ENCODING reads the object: encoded once"
finish
