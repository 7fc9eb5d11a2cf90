#!/usr/bin/env bash
# t_cluster_leave_hints.sh -- hints owed to a node that left are re-targeted
# (issue #13, item 8).  5 nodes, N=3, R=2, W=2.
#
#   1. n1 and n5 cannot reach each other (DYNAMO.FAULT n1 n5 DROP BOTH)
#      until each sees the other down.
#   2. 300 SETs through n1.  For a key whose replicas include n5 and whose
#      first fallback is n1, n1 coordinates as the stand-in: it keeps the
#      stand-in copy and a hint for n5 that it cannot deliver.
#   3. DYNAMO.LEAVE on n5 (n1 sees it down, so the leave goes on without
#      it), and the ring of every node drops n5.  Then the fault is cleared.
#   4. Nobody can deliver to n5 any more: it is not a replica of anything.
#      The hints must go to the keys' current replicas instead (INFO
#      hints_retargeted), and once they are delivered no hint is pending
#      anywhere and every key sits on exactly its 3 replicas of the final
#      ring (DYNAMO.LOCAL on all five nodes: n5 holds nothing, and n1 no
#      stand-in copy of a key it does not replicate).
# Before the fix, n1 kept its hints for n5 forever (delivery only dropped
# the hints of a forgotten member) and, since a pending hint keeps the
# stand-in copy, the keys stayed on 4 nodes.
. "$(dirname "$0")/cluster_lib.sh"

CHECK="$TOP_SRCDIR/tests/integration/cluster_check.py"
"$PYTHON" -c 'import redis' 2>/dev/null || skip "python3-redis is missing"
cluster_start 5 --suspect-timeout-ms 500 --down-timeout-ms 1500 \
    --gossip-interval-ms 250
NKEYS=300

# member_status I NAME: NAME's status in node I's DYNAMO.MEMBERS.
member_status() {
    ncli "$1" DYNAMO.MEMBERS | awk -v n="$2" '
        prev == "name" { on = ($0 == n) } on && prev == "status" { print; exit } { prev = $0 }'
}
# in_ring I NAME: node I's ring holds NAME.
in_ring() {
    ncli "$1" DYNAMO.RING | awk -v n="$2" '$0 == "table" { exit } $0 == n { f = 1 } END { exit !f }'
}
# hints_for I OWNER: hints node I holds for OWNER (0 if none).
hints_for() {
    local h
    h=$(ncli "$1" DYNAMO.HINTS | awk -v o="$2" 'c == 1 { print; exit } $0 == o { c = 1 }')
    echo "${h:-0}"
}
cut_both_ways() {
    [ "$(member_status 1 n5)" = down ] && [ "$(member_status 5 n1)" = down ]
}
no_hints_anywhere() {
    local i
    for i in 1 2 3 4 5; do
        [ "$(info_field "$i" hints_pending)" = 0 ] || return 1
    done
}
n5_out_everywhere() {
    local i
    for i in 1 2 3 4 5; do
        in_ring "$i" n5 && return 1
    done
    return 0
}
placement_exact() {
    "$PYTHON" "$CHECK" placement "$CL_BASE" 5 lh: "$NKEYS" >"$WORK/placement.out" 2>&1
}

assert_eq OK "$(ncli 1 DYNAMO.FAULT n1 n5 DROP BOTH)" "DYNAMO.FAULT n1 n5 DROP BOTH"
if wait_for 30 cut_both_ways; then ok "n1 and n5 see each other down"
else fail "n1 sees n5 $(member_status 1 n5), n5 sees n1 $(member_status 5 n1)"; fi

if "$PYTHON" "$CHECK" write "$CL_BASE" 1 lh: "$NKEYS"; then
    ok "$NKEYS SETs through n1 answered OK"
else
    fail "SETs through n1 failed"
fi
held=$(hints_for 1 n5)
echo "# n1 holds $held hints for n5"
if [ "$held" -gt 0 ]; then ok "n1 stood in for n5 and holds hints it cannot deliver"
else fail "n1 holds no hint for n5: the scenario did not happen"; fi

assert_eq OK "$(ncli 5 DYNAMO.LEAVE)" "DYNAMO.LEAVE on n5"
if wait_for 60 n5_out_everywhere; then ok "n5 is out of every node's ring"
else fail "n5 is still in some ring 60 s after DYNAMO.LEAVE"; fi
assert_eq OK "$(ncli 1 DYNAMO.FAULT CLEAR ALL)" "the fault is cleared"
t0=$(date +%s%3N)

if wait_for 90 no_hints_anywhere; then
    ok "no hint is pending on any node"
    echo "# hints drained $(( $(date +%s%3N) - t0 )) ms after the heal"
else
    fail "hints still pending: $(for i in 1 2 3 4 5; do printf 'n%d=%s ' "$i" "$(info_field "$i" hints_pending)"; done)"
fi
rt=$(info_field 1 hints_retargeted)
echo "# n1: hints_retargeted=$rt, hints_delivered=$(info_field 1 hints_delivered), standin_copies_dropped=$(info_field 1 standin_copies_dropped)"
if [ "${rt:-0}" -gt 0 ]; then ok "n1 re-targeted its hints for n5 (INFO hints_retargeted $rt)"
else fail "n1 re-targeted no hint (INFO hints_retargeted ${rt:-missing})"; fi
if grep -q "Re-targeted .* hints whose owner (n5" "$DYNAMO_CLUSTER_DIR/n1/dynamod.log"; then
    ok "n1 logged the re-targeting"
else
    fail "n1's log does not mention the re-targeting"
fi

if wait_for 90 placement_exact; then
    echo "# placement exact $(( $(date +%s%3N) - t0 )) ms after the heal"
    ok "each of the $NKEYS keys sits on exactly its 3 replicas of the final ring (n5 holds none)"
else
    cat "$WORK/placement.out"
    fail "keys are not on exactly their replicas"
fi
finish
