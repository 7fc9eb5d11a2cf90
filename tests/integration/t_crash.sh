#!/usr/bin/env bash
# t_crash.sh -- no acknowledged write is lost when the node is killed -9.
#
# One dynamod with `storage disk` and `appendfsync always` (every node that
# acknowledges a write has fsynced it first).  Each round:
#   1. crash_load.py writes from 4 connections: SETs of new unique keys,
#      overwrites and DELs of earlier keys, recording each only after its
#      reply has arrived (the one request in flight per connection when the
#      node dies may go either way);
#   2. a random 0.2-1.5 s after the writers have connected, the test
#      kill -9s dynamod;
#   3. dynamod restarts on the same directory; once INFO says loading:0,
#      crash_load.py verify GETs every key ever written: each acknowledged
#      SET holds its last acknowledged value, each acknowledged DEL stays
#      deleted, and DBSIZE equals the number of present keys.
# Keys accumulate across rounds, so later rounds also check that recovery
# keeps what earlier restarts recovered (and whatever compaction did).
#
# Env: CRASH_ROUNDS (default 20), CRASH_SEED (for the delays; default random).
# DYN_TEST_SERVER=redis runs the same test against redis-server with
# appendonly yes / appendfsync always, to check the test itself.
. "${TOP_SRCDIR:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$TOP_SRCDIR/tests/integration/storage_lib.sh"
need_cmd redis-cli
[ -x "$PYTHON" ] || skip "no python ($PYTHON)"

ROUNDS=${CRASH_ROUNDS:-20}
SEED=${CRASH_SEED:-$RANDOM}
RANDOM=$SEED
LOAD="$TOP_SRCDIR/tests/integration/crash_load.py"
DATA=$WORK/data
STATE=$WORK/state.json
OPTS=(--storage disk --appendfsync always)
echo "# $ROUNDS rounds, CRASH_SEED=$SEED"

start_dynamod_dir "$DATA" "${OPTS[@]}"
wait_loaded "$SRV_PORT" 30 || { fail "fresh node never reported loading:0"; finish; }
T0=$SECONDS
total_acked=0
for ((round = 1; round <= ROUNDS; round++)); do
    # Random 200..1500 ms before the kill.
    ms=$((200 + RANDOM % 1301))
    rm -f "$WORK/ready"
    "$PYTHON" "$LOAD" load --port "$SRV_PORT" --state "$STATE" --round "$round" \
        --threads 4 --seconds 10 --ready "$WORK/ready" >"$WORK/load.out" 2>&1 &
    lpid=$!
    wait_file "$WORK/ready" "$lpid" 10 || echo "# round $round: the load generator did not connect"
    sleep "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"
    kill9 "$SRV_PID"
    # The writers see the connection die at once; 15 s is a generous bound.
    load_collect "$lpid" "$WORK/load.out" "$round"
    total_acked=$((total_acked + LOAD_ACKED))

    start_dynamod_dir "$DATA" "${OPTS[@]}"
    if ! wait_loaded "$SRV_PORT" 60; then
        fail "round $round: restarted node never reported loading:0"
        break
    fi
    [ "$round" -eq 1 ] && show_loading_info "$SRV_PORT"
    if "$PYTHON" "$LOAD" verify --port "$SRV_PORT" --state "$STATE" >"$WORK/verify.out" 2>&1; then
        ok "round $round: killed after ${ms} ms; $(sed -n 's/^verify: //p' "$WORK/verify.out" | head -1)"
    else
        sed 's/^/#   /' "$WORK/verify.out"
        fail "round $round: acknowledged writes lost after kill -9 at ${ms} ms"
        break
    fi
done
show_loading_info "$SRV_PORT"
if [ "$total_acked" -gt 0 ]; then
    ok "$total_acked writes acknowledged over the rounds, in $((SECONDS - T0)) s"
else
    fail "no write was ever acknowledged: the test checked nothing"
fi
finish
