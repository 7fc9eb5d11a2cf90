#!/usr/bin/env bash
# t_cluster_crash.sh -- no acknowledged write is lost when cluster nodes are
# killed -9 under load (issue #5's crash test, on a 3-node cluster).
#
# 3 nodes, N=3 R=2 W=2, storage disk, appendfsync always: every node that
# acknowledges a write (the coordinator and the replicas) has fsynced it
# first.  Each round, crash_load.py writes through node E (E = round mod 3,
# so every node takes its turn as the entry node), recording a write only
# once its reply has arrived; a random 0.2-1.5 s later the test kill -9s E
# and one other node at the same moment, so two of the three copies of the
# writes in flight die mid-write.  Both restart on their directories, and
# crash_load.py verify reads every key ever written through the third node:
# each holds its last acknowledged value (or, for the request in flight,
# the old or the new one, for good: a write in flight when its coordinator
# died may sit on one replica, which an R=2 read can miss now and a later
# read see, as Dynamo allows for a write never acknowledged) and deletes
# stay deleted.  (DBSIZE is not
# checked: a cluster counts each partition at its first reachable replica,
# not by quorum, so a replica that missed writes while it was down counts
# low until read repair or anti-entropy mends it.)
#
# Env: CRASH_ROUNDS (default 20), CRASH_SEED (for the delays).
. "$(dirname "$0")/cluster_lib.sh"
[ -x "$PYTHON" ] || skip "no python ($PYTHON)"

ROUNDS=${CRASH_ROUNDS:-20}
SEED=${CRASH_SEED:-$RANDOM}
RANDOM=$SEED
LOAD="$TOP_SRCDIR/tests/integration/crash_load.py"
STATE=$WORK/state.json
echo "# $ROUNDS rounds, CRASH_SEED=$SEED"
cluster_start 3 --storage disk --appendfsync always --suspect-timeout-ms 500 ${CRASH_EXTRA:-} \
    --down-timeout-ms 1500

all_up() {
    local i
    for i in 1 2 3; do
        [ "$(info_field "$i" cluster_members_up)" = 3 ] || return 1
    done
}

total_acked=0
T0=$SECONDS
for ((round = 1; round <= ROUNDS; round++)); do
    E=$(( (round - 1) % 3 + 1 ))
    O=$(( (E + RANDOM % 2) % 3 + 1 ))   # one of the two others
    S=$(( 6 - E - O ))                   # the survivor
    ms=$((200 + RANDOM % 1301))
    rm -f "$WORK/ready"
    "$PYTHON" "$LOAD" load --port "$(nport "$E")" --state "$STATE" \
        --round "$round" --threads 4 --seconds 10 --ready "$WORK/ready" \
        >"$WORK/load.out" 2>&1 &
    lpid=$!
    wait_file "$WORK/ready" "$lpid" 10 || echo "# round $round: the load generator did not connect"
    sleep "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"
    pe=$(npid "$E") po=$(npid "$O")
    kill -KILL "$pe" "$po" 2>/dev/null
    load_collect "$lpid" "$WORK/load.out" "$round"
    total_acked=$((total_acked + LOAD_ACKED))
    "$PYTHON" -c 'import json,sys; print("#   in doubt: " + " ".join(sorted(json.load(open(sys.argv[1])).get("uncertain", {}))))' "$STATE"
    # together: each restart waits until its node sees the others up
    ctool restart "$E" >/dev/null 2>&1 &
    ctool restart "$O" >/dev/null 2>&1 &
    wait
    wait_for 15 all_up || echo "# round $round: not every node sees 3 members up yet"
    if "$PYTHON" "$LOAD" verify --port "$(nport "$S")" --state "$STATE" \
        --no-dbsize --sticky-doubt >"$WORK/verify.out" 2>&1; then
        ok "round $round: n$E and n$O killed after ${ms} ms; $(sed -n 's/^verify: //p' "$WORK/verify.out" | head -1)"
    else
        sed 's/^/#   /' "$WORK/verify.out"
        for k in $(sed -n 's/^verify: \([^ ]*\): .*/\1/p' "$WORK/verify.out" | head -3); do
            for i in 1 2 3; do
                echo "# n$i DYNAMO.LOCAL $k: $(ncli "$i" DYNAMO.LOCAL "$k" | tr '\n' ' ')"
            done
        done
        fail "round $round: acknowledged writes lost after kill -9 of n$E and n$O at ${ms} ms"
        break
    fi
done
if [ "$total_acked" -gt 0 ]; then
    ok "$total_acked writes acknowledged over the rounds, in $((SECONDS - T0)) s"
else
    fail "no write was ever acknowledged: the test checked nothing"
fi
finish
