#!/usr/bin/env bash
# t_cluster_clients.sh -- real Redis clients against a 5-node cluster:
# redis-benchmark (ping, set, get, mset over 100000 random keys) without an
# error, redis-py pipelines and MULTI/EXEC through a node that is not a
# replica of the keys, and redis-cli reading commands from a pipe.
. "$(dirname "$0")/cluster_lib.sh"
need_cmd redis-benchmark

cluster_start 5

# -- redis-benchmark against one node
out=$(timeout 120 redis-benchmark -h 127.0.0.1 -p "$(nport 1)" \
    -t ping,set,get,mset -r 100000 -n 20000 -c 20 -q 2>&1)
rc=$?
echo "$out" | tr '\r' '\n' | grep -E '[[:alnum:]]' | grep -v ': rps=' | sed 's/^/# /'
assert_eq 0 "$rc" "redis-benchmark -t ping,set,get,mset -r 100000 -n 20000 exits 0"
errs=$(echo "$out" | tr '\r' '\n' | grep -iE 'error|NOQUORUM|ERR ' | head -5)
assert_eq "" "$errs" "redis-benchmark output has no error lines"
for t in PING_INLINE PING_MBULK SET GET MSET; do
    assert_match "^$t( \\([0-9]+ keys\\))?: [0-9.]+ requests per second" \
        "$(echo "$out" | tr '\r' '\n' | grep -E "^$t( \\(|:)" | tail -1)" \
        "redis-benchmark reports a rate for $t"
done
sum=0
for ((j = 1; j <= CL_N; j++)); do
    sum=$((sum + $(info_field "$j" coordinated)))
done
if [ "$sum" -ge 40000 ]; then ok "the cluster coordinated $sum key operations"
else fail "coordinated sum is $sum, want >= 40000 (SET + GET + MSET parts)"; fi
fw=$(info_field 1 forwarded)
if [ "${fw:-0}" -gt 0 ]; then ok "n1 forwarded $fw requests to other coordinators"
else fail "n1 forwarded nothing"; fi
dbs=$(ncli 2 DBSIZE)
if [ "$dbs" -gt 1000 ] 2>/dev/null; then ok "DBSIZE via n2 after the benchmark: $dbs"
else fail "DBSIZE after the benchmark: [$dbs]"; fi

# -- redis-py: pipeline and MULTI/EXEC through a node that replicates none
#    of tx:a
nr=$(nonreplica tx:a) || harness_error "no non-replica of tx:a"
"$PYTHON" "$TOP_SRCDIR/tests/integration/cluster_check.py" pipeline "$(nport "$nr")"
rc=$?
[ "$rc" -eq 77 ] && skip "python3-redis is missing"
assert_eq 0 "$rc" "redis-py: pipeline (400 commands) and MULTI/EXEC through n$nr (not a replica of tx:a)"
assert_eq 2 "$(ncli "$(( (nr % CL_N) + 1 ))" GET tx:a)" "the EXEC's result is visible through another node"

# -- redis-cli reading commands from a pipe
out=$(printf '%s\n' 'SET pipe:a hello' 'APPEND pipe:a " world"' 'GET pipe:a' \
    'INCRBY pipe:n 5' 'MSET pipe:x 1 pipe:y 2' 'MGET pipe:x pipe:y pipe:none' \
    'EXISTS pipe:a pipe:x pipe:none' 'DEL pipe:x' 'STRLEN pipe:a' 'PING' |
    timeout 20 redis-cli -h 127.0.0.1 -p "$(nport 3)")
want=$(printf '%s\n' OK 11 'hello world' 5 OK 1 2 '' 2 1 11 PONG)
assert_eq "$want" "$out" "redis-cli fed 10 commands through a pipe answers each in order"
assert_eq "hello world" "$(ncli 4 GET pipe:a)" "the piped writes are visible through n4"
finish
