#!/usr/bin/env bash
# t_cluster_rejoin.sh -- a node that left comes back under its own name
# (issue #13, item 8).  4 nodes, N=3, storage disk.
#
#   1. 200 keys; n3 leaves (`dynamo-cluster remove 3`: DYNAMO.LEAVE, then
#      stopped).  Every key is on exactly its 3 replicas among n1, n2, n4.
#   2. n3 restarts EMPTY under its own name (`restart 3 --empty`), with its
#      old config (cluster-node lines).  It was not told to join: once it
#      has heard the cluster's view of it, it holds itself as left (INFO
#      member_status), says so once in its log, and no ring holds it --
#      before the fix it drove itself into the ring while everyone held it
#      as left, so the ring had a member every node treated as down.
#   3. DYNAMO.JOIN on n3: it outbids its tombstone with a new incarnation.
#      Every node lists n3 as up and holds it in its ring; n3 streams its
#      partitions; every key is on exactly its 3 replicas among the 4 nodes,
#      DBSIZE through each node is 200, and no hint is pending.
#   4. n3 leaves again and is restarted WITH its data dir: it stays out the
#      same way, and what it still held goes to the keys' replicas and is
#      dropped (it is not a replica of anything).  DYNAMO.JOIN brings it
#      back once more, and the checks of 3 hold.
. "$(dirname "$0")/cluster_lib.sh"

CHECK="$TOP_SRCDIR/tests/integration/cluster_check.py"
"$PYTHON" -c 'import redis' 2>/dev/null || skip "python3-redis is missing"
cluster_start 4 --storage disk --suspect-timeout-ms 500 \
    --down-timeout-ms 1500 --gossip-interval-ms 250
NKEYS=200
LOG3="$DYNAMO_CLUSTER_DIR/n3/dynamod.log"

member_status() {   # member_status I NAME: NAME's status in node I's table
    ncli "$1" DYNAMO.MEMBERS | awk -v n="$2" '
        prev == "name" { on = ($0 == n) } on && prev == "status" { print; exit } { prev = $0 }'
}
in_ring() {         # in_ring I NAME: node I's ring holds NAME
    ncli "$1" DYNAMO.RING | awk -v n="$2" '$0 == "table" { exit } $0 == n { f = 1 } END { exit !f }'
}
n3_in_no_ring() {
    local i
    for i in 1 2 3 4; do in_ring "$i" n3 && return 1; done
    return 0
}
n3_member_everywhere() {   # in every ring, and up in every table
    local i
    for i in 1 2 3 4; do
        in_ring "$i" n3 || return 1
        case $(member_status "$i" n3) in up|self) ;; *) return 1 ;; esac
    done
}
held_as_left() {    # n3 holds itself as left, and so do the others
    local i
    [ "$(info_field 3 member_status)" = left ] || return 1
    for i in 1 2 3 4; do [ "$(member_status "$i" n3)" = left ] || return 1; done
}
gossiped_a_while() { [ "$(info_field 3 gossip_rounds)" -ge 20 ] 2>/dev/null; }
placement() {       # placement DOWN: exact placement, DOWN not asked
    "$PYTHON" "$CHECK" placement "$CL_BASE" 4 rj: "$NKEYS" $1 >"$WORK/placement.out" 2>&1
}
placement_all() { placement ""; }
dbsize_everywhere() {
    local i
    for i in 1 2 3 4; do [ "$(ncli "$i" DBSIZE)" = "$NKEYS" ] || return 1; done
}
no_hints_anywhere() {
    local i
    for i in 1 2 3 4; do [ "$(info_field "$i" hints_pending)" = 0 ] || return 1; done
}
n3_holds_nothing() { [ "$(ncli 3 INFO keyspace | tr -d '\r' | grep -c '^db0:')" = 0 ]; }

# stays_out WHAT: n3, restarted, stays out of the cluster
stays_out() {
    if wait_for 60 held_as_left; then ok "$1: n3 holds itself as left, and so does every other node"
    else fail "$1: n3 says $(info_field 3 member_status), n1 holds it $(member_status 1 n3)"; fi
    wait_for 60 gossiped_a_while || fail "$1: n3 made no gossip rounds"
    if n3_in_no_ring; then ok "$1: after $(info_field 3 gossip_rounds) gossip rounds no ring holds n3"
    else fail "$1: a ring holds n3 though it was not told to join"; fi
    assert_eq left "$(info_field 3 member_status)" "$1: n3 still holds itself as left"
}
# comes_back WHAT: DYNAMO.JOIN on n3, then everything is in place
comes_back() {
    local inc0 inc1
    inc0=$(info_field 3 member_incarnation)
    assert_eq OK "$(ncli 3 DYNAMO.JOIN "127.0.0.1:$(nport 1)")" "$1: DYNAMO.JOIN on n3"
    inc1=$(info_field 3 member_incarnation)
    if [ "$inc1" -gt "$inc0" ]; then ok "$1: n3 took a new incarnation ($inc0 -> $inc1)"
    else fail "$1: n3's incarnation did not grow ($inc0 -> $inc1)"; fi
    if wait_for 60 n3_member_everywhere; then ok "$1: every node lists n3 as up and holds it in its ring"
    else fail "$1: n3 is not up and in the ring everywhere: n1 holds it $(member_status 1 n3)"; fi
    if wait_for 90 placement_all; then ok "$1: every key is on exactly its 3 replicas of the 4 nodes"
    else cat "$WORK/placement.out"; fail "$1: keys misplaced"; fi
    if wait_for 60 dbsize_everywhere; then ok "$1: DBSIZE is $NKEYS through every node"
    else fail "$1: DBSIZE: $(for i in 1 2 3 4; do printf '%s ' "$(ncli "$i" DBSIZE)"; done)"; fi
    if wait_for 60 no_hints_anywhere; then ok "$1: no hint is pending"
    else fail "$1: hints pending"; fi
}

if "$PYTHON" "$CHECK" write "$CL_BASE" 1,2,3,4 rj: "$NKEYS"; then ok "$NKEYS SETs"
else fail "SETs failed"; fi
if out=$(ctool remove 3 2>&1); then ok "dynamo-cluster remove 3: $out"
else fail "dynamo-cluster remove 3: $out"; finish; fi
if wait_for 60 placement 3; then ok "after the leave every key is on exactly its replicas among n1, n2, n4"
else cat "$WORK/placement.out"; fail "after the leave: keys misplaced"; fi

# ---- restarted empty -------------------------------------------------------
# dynamo-cluster refuses to restart a removed node (its `--rejoin` sends
# DYNAMO.JOIN); the operator here starts the process anyway, as by hand
if out=$(ctool restart 3 --empty 2>&1); then fail "dynamo-cluster restarted a removed node: $out"
else assert_match 'rejoin' "$out" "dynamo-cluster refuses to restart the removed n3, naming --rejoin"; fi
rm -f "$DYNAMO_CLUSTER_DIR/n3/removed"
ctool restart 3 --empty >/dev/null 2>&1 || true
ncli 3 PING >/dev/null || { fail "n3 did not restart"; finish; }
stays_out "restarted empty"
said=$(grep -c "holds this node as left" "$LOG3")
assert_eq 1 "$said" "restarted empty: n3 said once that the cluster holds it as left"
comes_back "restarted empty"

# ---- restarted with its data -----------------------------------------------
# restarted as soon as it has left, so that it likely still holds copies
# (a node drops what it no longer replicates a few seconds after a change)
assert_eq OK "$(ncli 3 DYNAMO.LEAVE)" "DYNAMO.LEAVE on n3 again"
# n3 holds itself as left once its leave is done; a restart before any
# peer heard so would find the cluster holding it up (the left status
# lives in gossip, not on n3's disk), so wait for the peers too
n3_left() {
    local i
    [ "$(info_field 3 member_status)" = left ] || return 1
    for i in 1 2 4; do [ "$(member_status "$i" n3)" = left ] || return 1; done
}
if wait_for 60 n3_left; then ok "n3 left again, and every peer holds it as left"
else fail "n3 has not left 60 s after its second DYNAMO.LEAVE"; fi
ctool restart 3 >/dev/null 2>&1 || true
ncli 3 PING >/dev/null || { fail "n3 did not restart"; finish; }
echo "# n3 restarted with its dir: $(ncli 3 INFO keyspace | tr -d '\r' | grep '^db0:' || echo 'no keys left')"
stays_out "restarted with its data"
if wait_for 60 n3_holds_nothing; then ok "restarted with its data: n3 handed off and dropped what it held"
else fail "restarted with its data: n3 still holds $(ncli 3 INFO keyspace | tr -d '\r' | grep '^db0:')"; fi
if wait_for 60 placement 3; then ok "restarted with its data: every key is on exactly its replicas among n1, n2, n4"
else cat "$WORK/placement.out"; fail "restarted with its data: keys misplaced"; fi
comes_back "restarted with its data"
finish
