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
    "$PY" "$TOP_SRCDIR/tests/integration/typed_stream.py" "$RP" "$DP" "$1" "$2"
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
