#!/usr/bin/env bash
# t_types_cache.sh -- the decoded typed states a node keeps between writes
# (server/tcache.h, typed-cache-size), through redis-cli on one dynamod:
#   - a run of writes to one key is served from the cache (INFO
#     typed_cache_hits grows by one per write after the first), and so
#     are reads, which leave the state to the next write;
#   - every other path that changes a key (DEL, RENAME, COPY, EXPIRE and
#     PERSIST, a string write, FLUSHALL, DYNAMO.PUT of a resolution) is
#     seen by the next typed write: the cache never answers a stale state;
#   - the bound holds: INFO typed_cache_bytes stays within a lowered
#     typed-cache-size, and 0 turns the cache off and frees it.
. "$(dirname "$0")/lib.sh"

start_dynamod --storage memory >/dev/null
P=$SRV_PORT
info_num() { cli $P INFO | tr -d '\r' | sed -n "s/^$1://p"; }
sorted() { cli $P "$@" | sort | tr '\n' ' ' | sed 's/ $//'; }

# ---- hits --------------------------------------------------------------------
cli $P SADD s a b c >/dev/null
h0=$(info_num typed_cache_hits)
for m in d e f g h; do cli $P SADD s "$m" >/dev/null; done
h1=$(info_num typed_cache_hits)
assert_eq 5 "$((h1 - h0))" "five SADDs after the first take the cached state"
assert_eq "a b c d e f g h" "$(sorted SMEMBERS s)" "and the set holds every member"
cli $P SADD s i >/dev/null
assert_eq "$((h1 + 2))" "$(info_num typed_cache_hits)" "a read uses the kept state (one hit) and leaves it to the next write (another)"
h1=$(info_num typed_cache_hits)
for t in "HSET h f1 v1" "HSET h f2 v2" "ZADD z 1 a" "ZADD z 2 b" "RPUSH l x" "RPUSH l y"; do
    cli $P $t >/dev/null
done
h2=$(info_num typed_cache_hits)
assert_eq 3 "$((h2 - h1))" "the second write to a hash, a sorted set and a list hits"
assert_eq "f1 f2 v1 v2" "$(sorted HGETALL h)" "HGETALL after cached writes"
assert_eq "x y" "$(cli $P LRANGE l 0 -1 | tr '\n' ' ' | sed 's/ $//')" "LRANGE after cached writes"

# ---- other paths change the key: the next typed write sees them -------------
cli $P DEL s >/dev/null
cli $P SADD s x >/dev/null
assert_eq "x" "$(sorted SMEMBERS s)" "DEL then SADD: only the new member"

cli $P SADD r1 a >/dev/null
cli $P SADD r1 b >/dev/null
cli $P RENAME r1 r2 >/dev/null
cli $P SADD r2 c >/dev/null
cli $P SADD r1 z >/dev/null
assert_eq "a b c" "$(sorted SMEMBERS r2)" "RENAME: the renamed set keeps its members and takes the new one"
assert_eq "z" "$(sorted SMEMBERS r1)" "RENAME: the old name starts afresh"
cli $P COPY r2 r3 >/dev/null
cli $P SADD r3 d >/dev/null
cli $P SADD r2 e >/dev/null
assert_eq "a b c d" "$(sorted SMEMBERS r3)" "COPY: the copy changes alone"
assert_eq "a b c e" "$(sorted SMEMBERS r2)" "COPY: the source changes alone"

cli $P HSET e f 1 >/dev/null
cli $P EXPIRE e 100 >/dev/null
cli $P HSET e g 2 >/dev/null
assert_eq "100" "$(cli $P TTL e)" "a cached write after EXPIRE keeps the TTL"
cli $P PERSIST e >/dev/null
cli $P HSET e h 3 >/dev/null
assert_eq "-1" "$(cli $P TTL e)" "and after PERSIST keeps none"
assert_eq "f g h" "$(sorted HKEYS e)" "the hash holds every field"

cli $P SET w plain >/dev/null
assert_contains "WRONGTYPE" "$(cli $P SADD w m 2>&1)" "a string write over a cached set: WRONGTYPE"
cli $P DEL w >/dev/null
cli $P SADD w m1 >/dev/null
cli $P SADD w m2 >/dev/null
assert_eq "m1 m2" "$(sorted SMEMBERS w)" "the set written afresh"

cli $P FLUSHALL >/dev/null
assert_eq "0" "$(info_num typed_cache_keys)" "FLUSHALL empties the cache"
cli $P SADD s after >/dev/null
assert_eq "after" "$(sorted SMEMBERS s)" "after FLUSHALL the set starts afresh"

# a client's resolution through DYNAMO.PUT (a string over the set, with
# the set's context) is seen by the next typed write
cli $P SADD s b1 >/dev/null
ctx=$(cli $P DYNAMO.GET s | head -1)
cli $P DYNAMO.PUT s "$ctx" resolved >/dev/null
assert_eq "resolved" "$(cli $P GET s)" "DYNAMO.PUT with the set's context makes it a string"
assert_contains "WRONGTYPE" "$(cli $P SADD s b2 2>&1)" "so a SADD after it is WRONGTYPE, not a cached write"
cli $P DEL s >/dev/null
cli $P SADD s after >/dev/null
cli $P SADD s b1 >/dev/null
cli $P SADD s b2 >/dev/null
assert_eq "after b1 b2" "$(sorted SMEMBERS s)" "the set written afresh after the resolution"

# ---- the bound ----------------------------------------------------------------
cli $P CONFIG SET typed-cache-size 64kb >/dev/null
for i in $(seq 1 200); do echo "SADD big:$i a b c d e f g h i j"; echo "SADD big:$i k"; done \
    | cli $P >/dev/null
bytes=$(info_num typed_cache_bytes)
[ "$bytes" -le 65536 ] && ok "typed_cache_bytes ($bytes) within typed-cache-size 64kb" \
    || fail "typed_cache_bytes $bytes passes 65536"
ev=$(info_num typed_cache_evictions)
[ "$ev" -gt 0 ] && ok "the bound evicted ($ev)" || fail "no eviction under a 64kb bound"
assert_eq "k" "$(cli $P SISMEMBER big:1 k | sed 's/1/k/')" "an evicted key's set is read from the store"
cli $P CONFIG SET typed-cache-size 0 >/dev/null
h3=$(info_num typed_cache_hits)
cli $P SADD s c1 >/dev/null
cli $P SADD s c2 >/dev/null
assert_eq "$h3" "$(info_num typed_cache_hits)" "typed-cache-size 0: no hit"
assert_eq "0" "$(info_num typed_cache_keys)" "typed-cache-size 0: nothing kept"
assert_eq "after b1 b2 c1 c2" "$(sorted SMEMBERS s)" "and writes still land"
finish
