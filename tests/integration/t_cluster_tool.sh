#!/usr/bin/env bash
# t_cluster_tool.sh -- tools/dynamo-cluster tells the truth about membership
# (issue #13, item 5).  4 nodes, N=3, storage memory.
#
#   0. `start 4` with DYNAMO_SPARES=2 also starts n5 and n6 as spares:
#      running, not members of anyone (status says spare), and listed by
#      the members (DYNAMO.SPARES).
#   1. 3,000 keys; `add` tells the spare n5 to join (DYNAMO.ADD on a
#      member, over the peer bus): its output carries a progress line and
#      what n5 received by streaming (keys > 0), and n5 is then in every
#      member's ring and seen up; n6 is still a spare.
#   2. `remove 4`: n4 leaves; `status` shows it removed and counts the
#      others' members out of the 4 that remain, not of 5.
#   3. `restart 4` of the removed node is refused with a message that
#      names --rejoin, and starts nothing: n4 stays out of every ring.
#   4. `restart 4 --rejoin` starts n4 again, empty, as a joiner: it is in
#      every member's ring, every member sees it up, `status` no longer
#      calls it removed, and it received its partitions by streaming.
#   5. After the ring settled, every key is on exactly its 3 replicas.
. "$(dirname "$0")/cluster_lib.sh"

NKEYS=3000
export DYNAMO_SPARES=2
# a base port with room for the 2 spares
for attempt in 1 2 3; do
    CL_BASE=$(_cluster_base 6) || harness_error "no 6 free ports"
    CL_N=4
    if out=$(DYNAMO_BASE_PORT=$CL_BASE ctool start 4 --gossip-interval-ms 250 2>&1); then
        break
    fi
    echo "# start attempt $attempt failed: $out"
    ctool stop >/dev/null 2>&1
    CL_N=0
done
[ "$CL_N" -gt 0 ] || { fail "the cluster did not start"; finish; }

for ((k = 0; k < NKEYS; k++)); do printf 'SET k:%d v:%d\n' "$k" "$k"; done |
    ncli 1 >/dev/null

# node I has NAME in its ring
has_in_ring() {
    ncli "$1" DYNAMO.RING | awk -v n="$2" '$0 == "table" { exit } $0 == n { f = 1 } END { exit !f }'
}
# NAME's status in node I's member table
status_of() {
    ncli "$1" DYNAMO.MEMBERS | awk -v n="$2" 'prev == "name" { on = ($0 == n) }
        on && prev == "status" { print; exit } { prev = $0 }'
}
# every node of the list has NAME in its ring and sees it up (or self)
everyone_has() {
    local name=$1 i st; shift
    for i in "$@"; do
        has_in_ring "$i" "$name" || return 1
        st=$(status_of "$i" "$name")
        [ "$st" = up ] || [ "$st" = self ] || return 1
    done
}

# ---- 0. the spares ------------------------------------------------------
st=$(ctool status 2>&1)
echo "$st" | sed 's/^/# status: /'
assert_match '^n5 .*PONG +spare' "$(echo "$st" | grep '^n5 ')" "status shows n5 running as a spare"
assert_match '^n6 .*PONG +spare' "$(echo "$st" | grep '^n6 ')" "status shows n6 running as a spare"
assert_match '/4$' "$(echo "$st" | awk '$1 == "n1" { print $5 }')" "status counts members out of 4, not the spares"
spares_listed() { [ "$(ncli 1 DYNAMO.SPARES | awk 'prev == "addr" { n++ } { prev = $0 } END { print n + 0 }')" = 2 ]; }
if wait_for 20 spares_listed; then ok "n1 lists both spares (DYNAMO.SPARES)"
else fail "DYNAMO.SPARES on n1: $(ncli 1 DYNAMO.SPARES | tr '\n' ' ')"; fi

# ---- 1. add -------------------------------------------------------------
if out=$(ctool add 2>&1); then ok "dynamo-cluster add succeeded"
else fail "dynamo-cluster add: $out"; fi
CL_N=5
echo "$out" | sed 's/^/# add: /'
assert_match 'joining n5: ' "$(echo "$out" | grep -m1 'joining n5')" "add prints a progress line while n5 joins"
keys_in=$(echo "$out" | sed -n 's/^n5 received \([0-9]*\) keys.*/\1/p')
if [ "${keys_in:-0}" -gt 0 ]; then ok "add reports what n5 received by streaming ($keys_in keys)"
else fail "add does not report streamed keys: $out"; fi
if wait_for 30 everyone_has n5 1 2 3 4 5; then ok "n5 is in every ring and seen up"
else fail "n5 is not in every ring / up"; fi
assert_match '^n6 .*spare' "$(ctool status 2>&1 | grep '^n6 ')" "n6 is still a spare"

# ---- 2. remove ----------------------------------------------------------
if out=$(ctool remove 4 2>&1); then ok "dynamo-cluster remove 4: $(echo "$out" | tail -1)"
else fail "dynamo-cluster remove 4: $out"; fi
st=$(ctool status 2>&1)
echo "$st" | sed 's/^/# status: /'
assert_match '^n4 .* removed' "$(echo "$st" | grep '^n4 ')" "status shows n4 removed"
members_col=$(echo "$st" | awk '$1 == "n1" { print $5 }')
assert_match '/4$' "$members_col" "status counts members out of the 4 that remain"

# ---- 3. restart of a removed node is refused ----------------------------
if out=$(ctool restart 4 2>&1); then fail "restart of a removed node succeeded: $out"
else assert_match 'rejoin' "$out" "restart of a removed node is refused, naming --rejoin"; fi
if ctool pid 4 >/dev/null 2>&1; then fail "the refused restart started n4"
else ok "the refused restart started nothing"; fi
out_of_rings() { local i; for i in 1 2 3 5; do ! has_in_ring "$i" n4 || return 1; done; }
if out_of_rings; then ok "n4 is out of every ring"; else fail "n4 is in some ring after its removal"; fi

# ---- 4. rejoin ------------------------------------------------------------
if out=$(ctool restart 4 --rejoin 2>&1); then ok "restart 4 --rejoin: $(echo "$out" | tail -1)"
else fail "restart 4 --rejoin: $out"; fi
echo "$out" | sed 's/^/# rejoin: /'
if wait_for 30 everyone_has n4 1 2 3 4 5; then ok "the rejoined n4 is in every ring, and every member sees it up"
else
    fail "after --rejoin n4 is not in every ring / up"
    for i in 1 2 3 5; do echo "# n$i sees n4: $(status_of "$i" n4), in ring: $(has_in_ring "$i" n4 && echo yes || echo no)"; done
fi
st=$(ctool status 2>&1)
echo "$st" | sed 's/^/# status: /'
assert_match '^n4 .*PONG' "$(echo "$st" | grep '^n4 ')" "status shows n4 running again, not removed"
keys_in=$(echo "$out" | sed -n 's/^n4 received \([0-9]*\) keys.*/\1/p')
if [ "${keys_in:-0}" -gt 0 ]; then ok "the rejoined n4 received $keys_in keys by streaming"
else fail "the rejoined n4 received nothing by streaming: $out"; fi

# ---- 5. placement ---------------------------------------------------------
# exactly the replicas of DYNAMO.PREFLIST hold each key (a sample of keys)
placed() {
    local k i reps holders
    for ((k = 0; k < NKEYS; k += 97)); do
        reps=" $(replicas "k:$k") "
        holders=" "
        for i in 1 2 3 4 5; do
            [ -n "$(local_values "$i" "k:$k")" ] && holders+="$i "
        done
        [ "$(echo $reps | tr ' ' '\n' | sort | tr '\n' ' ')" = "$(echo $holders | tr ' ' '\n' | sort | tr '\n' ' ')" ] || {
            echo "# k:$k replicas:$reps holders:$holders" >"$WORK/misplaced"
            return 1
        }
    done
}
if wait_for 60 placed; then ok "every sampled key is on exactly its 3 replicas"
else fail "misplaced: $(cat "$WORK/misplaced" 2>/dev/null)"; fi

finish
