#!/usr/bin/env bash
# t_benchmark.sh -- redis-benchmark runs to completion against the server:
# pipelined PING/SET/GET/MSET from 50 connections, no error lines, and the
# keys it wrote are there afterwards.  (Speed is measured by tools/bench, not
# asserted here.)
. "${TOP_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"
need_cmd redis-benchmark redis-cli
start_server
P=$SRV_PORT

echo "# redis-benchmark -t ping,set,get,mset -P 16 -r 100000 -n 20000 -q"
timeout 120 redis-benchmark -h 127.0.0.1 -p "$P" -t ping,set,get,mset -P 16 \
    -r 100000 -n 20000 -q >"$WORK/bench.out" 2>&1
rc=$?
sed 's/\r/\n/g' "$WORK/bench.out" | grep -v 'rps=' | grep '[^[:space:]]' | sed 's/^/#   /'
assert_eq 0 "$rc" "redis-benchmark exits 0"
# With -q each test prints one "NAME: N requests per second" line; anything
# else (ERR, "Error", "Connection") is a failure.
errors=$(sed 's/\r/\n/g' "$WORK/bench.out" | grep -v 'rps=' | grep -iE 'err|connection|reset|refused' || true)
assert_eq "" "$errors" "no error lines"
for t in PING_INLINE PING_MBULK SET GET MSET; do
    assert_match "^$t( \(10 keys\))?: [0-9.]+ requests per second" \
        "$(sed 's/\r/\n/g' "$WORK/bench.out" | grep "^$t[ :]" | tail -1)" "$t completed"
done

dbsize=$(cli $P DBSIZE)
assert_match '^[1-9][0-9]*$' "$dbsize" "DBSIZE > 0 after the benchmark ($dbsize)"
key=$(cli $P SCAN 0 MATCH 'key:*' COUNT 1000 | sed -n 2p)
assert_match '^key:[0-9]{12}$' "$key" "a benchmark key is listed by SCAN"
[ -n "$key" ] && assert_eq 3 "$(cli $P STRLEN "$key")" "its value has the benchmark's 3 bytes"
assert_eq PONG "$(cli $P PING)" "server still answers"
finish
