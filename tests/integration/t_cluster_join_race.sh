#!/usr/bin/env bash
# t_cluster_join_race.sh -- a join that starts while another change of the
# same epoch is already streaming gives way to it, even though its driver's
# name sorts first; both changes then happen, one after the other.
#
# This is the deadlock t_cluster_gossip.sh's 15 simultaneous joins met now
# and then (issue: "the 15 simultaneous joins did not converge"), made
# deterministic with a leave as the change that streams first:
#
#   1. n1..n4 (ring epoch 1, N=3).  Every request between them is delayed
#      by 1 s (DYNAMO.FAULT ... DELAY), so a change streams for seconds.
#   2. DYNAMO.LEAVE on n4: n4 drives the leave to epoch 2.  Once n1, n2
#      and n3 have each pulled a partition for it (they hold the pending
#      ring and stream for it), n4 is stopped (SIGSTOP), so it cannot tell
#      anyone new of it.
#   3. n10 starts with a seed line.  It learns ring epoch 1 by gossip and,
#      holding no pending ring, drives its own join to epoch 2: two drivers
#      of one epoch, and "n10" sorts before "n4".  n1..n3 refuse n10 (they
#      are streaming for n4's leave).
#   4. n4 resumes (SIGCONT) and, having learnt of n10, sends it its
#      streaming R.MOVE.  n10 must give way (its log names n4's change),
#      n4's leave completes, and n10 joins from the new ring: every node
#      (n1, n2, n3, n10) ends with the same ring, of epoch 3, holding
#      n1, n2, n3 and n10.
#
# Before the fix, n10 refused n4 by name while n1..n3 refused n10 because
# they were streaming for n4: neither driver gave way, ever.
#
# The suspect and down timeouts are long, so that a node stopped for a few
# seconds is not taken for dead (that would be another test); the request
# timeout outlasts the delay.
. "$(dirname "$0")/cluster_lib.sh"

"$PYTHON" -c 'import redis' 2>/dev/null || skip "python3-redis is missing"

DELAY_MS=1000
LATE=10     # the late joiner's index: "n10" sorts before "n4"

for attempt in 1 2 3; do
    CL_BASE=$(_cluster_base "$LATE") || harness_error "no $LATE free ports"
    CL_N=4
    if out=$(DYNAMO_BASE_PORT=$CL_BASE ctool start 4 --gossip-interval-ms 200 \
            --suspect-timeout-ms 20000 --down-timeout-ms 40000 \
            --request-timeout-ms 5000 --anti-entropy-interval-ms 0 2>&1); then
        break
    fi
    echo "# start attempt $attempt failed: $out"
    ctool stop >/dev/null 2>&1
    CL_N=0
done
[ "$CL_N" -eq 4 ] || { fail "the 4-node cluster did not start"; finish; }
echo "# n1..n4 on 127.0.0.1:$CL_BASE.."

# a few keys, so that the leave streams something
for ((k = 0; k < 200; k++)); do echo "SET race:$k v$k"; done |
    ncli 1 >/dev/null || harness_error "cannot load keys"

for ((i = 1; i <= 4; i++)); do
    for ((j = 1; j <= 4; j++)); do
        [ "$i" -eq "$j" ] && continue
        ncli 1 DYNAMO.FAULT "n$i" "n$j" DELAY "$DELAY_MS" >/dev/null ||
            harness_error "cannot set the delay n$i -> n$j"
    done
done
ok "every request between n1..n4 is delayed by $DELAY_MS ms"

n4log="$DYNAMO_CLUSTER_DIR/n4/dynamod.log"
T0=$(date +%s%3N)
since() { echo "$(( $(date +%s%3N) - T0 )) ms"; }
assert_eq OK "$(ncli 4 DYNAMO.LEAVE)" "n4 starts its leave"
# n1..n3 have each pulled a partition: n4's go reached them all (it left
# n4 a second before), and each is bound to n4's change from then on
streaming() {
    local i s
    for i in 1 2 3; do
        s=$(info_field "$i" rebalance_partitions_streamed)
        [ "${s:-0}" -ge 1 ] || return 1
    done
}
if wait_for 60 streaming; then
    ok "n4's leave reached its stream phase on n1, n2 and n3 ($(since))"
else
    fail "n4's leave never began to stream"
    finish
fi
pid4=$(npid 4) || harness_error "n4 is not running"
kill -STOP "$pid4"
# the stream lasts seconds: n4 cannot have switched yet
assert_eq 1 "$(info_field 1 ring_epoch)" "n1 is still on ring epoch 1"
assert_eq n4 "$(info_field 1 rebalance_pending_driver)" \
    "n1 holds n4's pending ring"
assert_eq 1 "$(info_field 1 rebalance_pending_streaming)" \
    "n1 streams for n4's leave"

# n10: a seed line only, same secret and options
d="$DYNAMO_CLUSTER_DIR/n$LATE"
mkdir -p "$d/data"
{
    echo "node-name n$LATE"
    echo "bind 127.0.0.1"
    echo "port $(nport "$LATE")"
    echo "dir $d/data"
    echo "logfile $d/dynamod.log"
    echo "storage memory"
    echo "cluster-secret $(cat "$DYNAMO_CLUSTER_DIR/secret")"
    echo "seed 127.0.0.1:$CL_BASE"
    cat "$DYNAMO_CLUSTER_DIR/extra"
} >"$d/dynamod.conf"
chmod 600 "$d/dynamod.conf"
echo "$LATE" >"$DYNAMO_CLUSTER_DIR/nodes"
CL_N=$LATE
"$DYNAMOD" "$d/dynamod.conf" </dev/null >>"$d/stdout.log" 2>&1 &
echo $! >"$d/pid"
disown $! 2>/dev/null

late_drives() { [ "$(info_field "$LATE" rebalance_driving 2>/dev/null)" = "join" ]; }
if wait_for 60 late_drives; then
    ok "n$LATE drives its own join while n4's leave streams (two drivers of one epoch; $(since))"
else
    fail "n$LATE never drove a join"
fi
assert_eq "n$LATE" "$(info_field "$LATE" rebalance_pending_driver)" \
    "n$LATE holds its own pending ring"
assert_eq n4 "$(info_field 1 rebalance_pending_driver)" \
    "n1 refuses n$LATE: it still holds n4's pending ring"

kill -CONT "$pid4"
gave_way() { grep -q "n4's change goes first" "$d/dynamod.log"; }
if wait_for 60 gave_way; then
    ok "n$LATE gives way to n4's streaming leave, though its name sorts first ($(since))"
else
    fail "n$LATE never gave way to n4's leave"
fi
# the race is over: the rest may go at full speed
ncli 1 DYNAMO.FAULT CLEAR ALL >/dev/null || fail "cannot clear the delays"

# everyone converges: n4 left, then n10 joined, one ring everywhere
ring_of() {
    ncli "$1" DYNAMO.RING |
        awk '$0 == "table" { on = 0 } on && /^n[0-9]+$/ { print } $0 == "nodes" { on = 1 }' |
        sort | tr '\n' ' '
}
all_on_epoch3() {
    local i
    for i in 1 2 3 "$LATE"; do
        [ "$(info_field "$i" ring_epoch)" = "3" ] || return 1
        [ "$(info_field "$i" rebalance_pending_epoch)" = "0" ] || return 1
    done
}
if wait_for 90 all_on_epoch3; then
    ok "n1, n2, n3 and n$LATE reach ring epoch 3 ($(since))"
else
    fail "the two changes did not both complete"
    for i in 1 2 3 4 "$LATE"; do
        echo "# n$i: epoch=$(info_field "$i" ring_epoch) driving=$(info_field "$i" rebalance_driving) pending=$(info_field "$i" rebalance_pending_epoch) from=$(info_field "$i" rebalance_pending_driver)"
    done
fi
want="n1 n10 n2 n3 "
for i in 1 2 3 "$LATE"; do
    assert_eq "$want" "$(ring_of "$i")" "n$i's ring holds n1, n2, n3, n$LATE"
done
grep -q "this node has left the cluster" "$n4log" &&
    ok "n4 has left" || fail "n4 did not complete its leave"
for i in 4 "$LATE"; do
    echo "# n$i's membership changes:"
    grep -h "rebalance:" "$DYNAMO_CLUSTER_DIR/n$i/dynamod.log" | cut -c 20- | sed 's/^/#   /'
done
finish
