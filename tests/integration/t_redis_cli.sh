#!/usr/bin/env bash
# t_redis_cli.sh -- redis-cli, one command per process and many through a
# pipe, against the server: strings, binary values, deletes, TTLs.
. "${TOP_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"
need_cmd redis-cli
start_server
P=$SRV_PORT

echo "# one-shot commands"
assert_eq PONG "$(cli $P PING)" "PING"
assert_eq OK "$(cli $P SET greeting 'hello world')" "SET"
assert_eq "hello world" "$(cli $P GET greeting)" "GET returns the value"
assert_eq "" "$(cli $P GET nosuchkey)" "GET of a missing key is nil (empty with no tty)"
assert_eq 1 "$(cli $P EXISTS greeting)" "EXISTS of a present key"
assert_eq 0 "$(cli $P EXISTS nosuchkey)" "EXISTS of a missing key"
assert_eq 11 "$(cli $P STRLEN greeting)" "STRLEN"
assert_eq 1 "$(cli $P DEL greeting)" "DEL removes one key"
assert_eq 0 "$(cli $P DEL greeting)" "DEL of a missing key"
assert_eq 0 "$(cli $P EXISTS greeting)" "EXISTS after DEL"
assert_eq OK "$(cli $P MSET a 1 b 2 c 3)" "MSET"
assert_eq "$(printf '1\n2\n\n3')" "$(cli $P MGET a b missing c)" "MGET with a missing key"
assert_eq 3 "$(cli $P DEL a b c d)" "DEL of several keys counts the removed ones"

echo "# binary values through -x (stdin as the last argument)"
printf 'a\r\nb\0c\377\001end' >"$WORK/bin"
assert_eq OK "$(cli $P -x SET binkey <"$WORK/bin")" "SET binary value with -x"
assert_eq 11 "$(cli $P STRLEN binkey)" "STRLEN of the binary value"
cli $P --no-raw GET binkey >"$WORK/bin.quoted"
assert_eq '"a\r\nb\x00c\xff\x01end"' "$(cat "$WORK/bin.quoted")" "GET shows the exact bytes (quoted)"
cli $P --raw GET binkey | head -c 11 >"$WORK/bin.out"
if cmp -s "$WORK/bin" "$WORK/bin.out"; then ok "GET --raw returns the bytes unchanged"
else fail "GET --raw returns the bytes unchanged ($(od -c "$WORK/bin.out" | head -3))"; fi
: >"$WORK/empty"
assert_eq OK "$(cli $P -x SET emptyval <"$WORK/empty")" "SET empty value"
assert_eq 0 "$(cli $P STRLEN emptyval)" "STRLEN of empty value"
assert_eq 1 "$(cli $P EXISTS emptyval)" "an empty value still exists"

echo "# TTLs"
assert_eq OK "$(cli $P SET tkey v EX 100)" "SET EX"
ttl=$(cli $P TTL tkey)   # a loaded machine may take seconds between commands
[ "${ttl:-0}" -ge 1 ] 2>/dev/null && [ "$ttl" -le 100 ] && ok "TTL after SET EX 100 is 1..100 ($ttl)" ||
    fail "TTL after SET EX 100: $ttl"
assert_eq -1 "$(cli $P TTL binkey)" "TTL of a key without expiry"
assert_eq -2 "$(cli $P TTL nosuchkey)" "TTL of a missing key"
assert_eq 1 "$(cli $P PEXPIRE tkey 60000)" "PEXPIRE"
pttl=$(cli $P PTTL tkey)     # 60 s: no wait between two commands comes near it
assert_match '^[0-9]+$' "$pttl" "PTTL is a count of ms"
[ "${pttl:-0}" -le 60000 ] 2>/dev/null && [ "$pttl" -gt 0 ] && ok "PTTL is 1..60000 ($pttl)" ||
    fail "PTTL is 1..60000 (got $pttl)"
assert_eq 1 "$(cli $P PEXPIRE tkey 300)" "PEXPIRE 300"
gone=no
for ((i = 0; i < 600; i++)); do              # deadline 30 s
    if [ "$(cli $P EXISTS tkey)" = 0 ]; then gone=yes; break; fi
    sleep 0.05
done
assert_eq yes "$gone" "the key expires"
assert_eq "" "$(cli $P GET tkey)" "GET after expiry is nil"
assert_eq OK "$(cli $P SET pkey v EX 50)" "SET EX for PERSIST"
assert_eq 1 "$(cli $P PERSIST pkey)" "PERSIST"
assert_eq -1 "$(cli $P TTL pkey)" "TTL after PERSIST"

echo "# errors"
assert_match "^ERR unknown command 'NOSUCHCMD'" "$(cli $P NOSUCHCMD x 2>&1)" "unknown command"
assert_eq "ERR wrong number of arguments for 'get' command" "$(cli $P GET 2>&1)" "arity error"
cli $P SET s notanumber >/dev/null
assert_eq "ERR value is not an integer or out of range" "$(cli $P INCR s 2>&1)" "INCR of a non-integer"

echo "# one redis-cli process, commands through stdin"
out=$(printf '%s\n' 'SET k1 v1' 'SET k2 "two words"' 'GET k1' 'GET k2' \
    'APPEND k1 xyz' 'GET k1' 'INCR counter' 'INCRBY counter 41' 'DEL k1 k2' \
    'EXISTS k1' 'GET k1' 'PING' | cli $P 2>&1)
expected=$(printf '%s\n' OK OK v1 'two words' 5 v1xyz 1 42 2 0 '' PONG)
assert_eq "$expected" "$out" "12 commands through one pipe"

out=$(printf 'MULTI\nSET tx 1\nINCR tx\nGET tx\nEXEC\n' | cli $P 2>&1)
expected=$(printf '%s\n' OK QUEUED QUEUED QUEUED OK 2 2)
assert_eq "$expected" "$out" "MULTI/EXEC through a pipe"

finish
