#!/usr/bin/env bash
# t_types_list.sh -- lists in a 3-node cluster (issue #14, docs/TYPES.md
# "Lists").  N=3, so every node holds every key.
#
# 1. Two clients push at both ends of one list at once, through two
#    different nodes: every pushed element is present exactly once on every
#    node, the order is the same everywhere, and each client's own order is
#    kept (its RPUSHes in order, its LPUSHes reversed).
# 2. A partition (DYNAMO.FAULT cuts n1 from n2 and n3, W=1): both sides push
#    at both ends of a list they share, n1's side removes one old element
#    (LREM) and the other side LSETs another.  After the heal: every push
#    from both sides is there once, the removed element is gone everywhere
#    (no tombstone brings it back), the LSET's value replaced the old one,
#    and the order is the same on every node.
# 3. LMOVE, RPOPLPUSH and LMPOP through different nodes (ROUTE_GATHER).
# 4. The blocking commands answer the contract's error.
. "$(dirname "$0")/cluster_lib.sh"

cluster_start 3 --suspect-timeout-ms 500 --down-timeout-ms 1500
PUSHES=100

# local_items I KEY: the items of node I's own copy, in list order.
local_items() {
    ncli "$1" DYNAMO.LOCAL "$2" | awk 'on { print } $0 == "value" { on = 1 }'
}

# converged KEY COUNT: every node's own copy holds COUNT items, in one order.
converged() {
    local a b c
    a=$(local_items 1 "$1"); b=$(local_items 2 "$1"); c=$(local_items 3 "$1")
    [ "$(printf '%s\n' "$a" | grep -c .)" = "$2" ] && [ "$a" = "$b" ] && [ "$a" = "$c" ]
}

# in_order FILE PREFIX N DIR: the items PREFIX0..PREFIX(N-1) appear in FILE
# ascending (DIR=up) or descending (DIR=down), each once.
in_order() {
    local want
    if [ "$4" = up ]; then want=$(seq 0 $(($3 - 1)) | sed "s/^/$2/")
    else want=$(seq $(($3 - 1)) -1 0 | sed "s/^/$2/"); fi
    [ "$(grep -x "$2[0-9]*" "$1")" = "$want" ]
}

# pushes NODE KEY TAG: RPUSH TAGr0.. and LPUSH TAGl0.., interleaved, one
# command each, through node NODE; the replies go to $WORK/TAG.replies.
pushes() {
    local i
    for ((i = 0; i < PUSHES; i++)); do
        echo "RPUSH $2 ${3}r$i"
        echo "LPUSH $2 ${3}l$i"
    done | ncli "$1" >"$WORK/$3.replies"
}

# check_list KEY EXPECT_COUNT WHAT TAG...: the converged list holds each
# pushed element once and keeps each pusher's order.
check_list() {
    local key=$1 count=$2 what=$3 tag bad=0
    shift 3
    local_items 1 "$key" >"$WORK/$key.n1"
    if [ "$(sort "$WORK/$key.n1" | uniq -d | grep -c .)" = 0 ]; then
        ok "$what: no element twice"
    else
        fail "$what: duplicates: $(sort "$WORK/$key.n1" | uniq -d | head -3 | tr '\n' ' ')"
    fi
    assert_eq "$count" "$(grep -c . "$WORK/$key.n1")" "$what: $count elements"
    for tag in "$@"; do
        in_order "$WORK/$key.n1" "${tag}r" "$PUSHES" up || { bad=$((bad + 1)); echo "# ${tag}r out of order or missing"; }
        in_order "$WORK/$key.n1" "${tag}l" "$PUSHES" down || { bad=$((bad + 1)); echo "# ${tag}l out of order or missing"; }
    done
    assert_eq 0 "$bad" "$what: every pusher's RPUSHes in order and LPUSHes reversed, all present"
    local j
    bad=0
    for j in 1 2 3; do
        [ "$(ncli "$j" LRANGE "$key" 0 -1)" = "$(cat "$WORK/$key.n1")" ] || { bad=$((bad + 1)); echo "# LRANGE via n$j differs"; }
        [ "$(ncli "$j" LLEN "$key")" = "$count" ] || bad=$((bad + 1))
    done
    assert_eq 0 "$bad" "$what: LRANGE and LLEN through every node agree with the copies"
}

# ---- 1. concurrent pushes through two nodes ---------------------------------
pushes 1 L a & p1=$!
pushes 2 L b & p2=$!
wait "$p1" "$p2"
assert_eq 0 "$(cat "$WORK/a.replies" "$WORK/b.replies" | grep -vcx '[0-9]*')" \
    "$((4 * PUSHES)) pushes through n1 and n2 at once all answered a length"
if wait_for 30 converged L $((4 * PUSHES)); then
    ok "every node's own copy holds the $((4 * PUSHES)) elements in one order"
else
    fail "copies differ: n1 $(local_items 1 L | grep -c .), n2 $(local_items 2 L | grep -c .), n3 $(local_items 3 L | grep -c .) items"
fi
check_list L $((4 * PUSHES)) "concurrent pushes" a b
assert_eq list "$(ncli 3 TYPE L)" "TYPE is list on every node"

# ---- 2. a partition ---------------------------------------------------------
assert_eq OK "$(ncli 1 DYNAMO.CONFIG SET w 1)" "W=1, so each side of the cut takes writes"
assert_eq OK "$(ncli 1 DYNAMO.CONFIG SET r 1)" "R=1"
assert_eq 5 "$(ncli 2 RPUSH P m0 m1 m2 m3 m4)" "a list both sides share: m0..m4"
wait_for 20 converged P 5 || fail "P did not reach every node before the cut"
bad=0
for b in 2 3; do
    [ "$(ncli 1 DYNAMO.FAULT n1 "n$b" DROP BOTH)" = OK ] || bad=$((bad + 1))
done
assert_eq 0 "$bad" "DYNAMO.FAULT cuts n1 from n2 and n3"
status_of() {
    ncli "$1" DYNAMO.MEMBERS | awk -v o="$2" '
        prev == "name" { on = ($0 == o) } on && prev == "status" { print; exit }
        { prev = $0 }'
}
cut_seen() {
    [ "$(status_of 1 n2)" = down ] && [ "$(status_of 1 n3)" = down ] &&
        [ "$(status_of 2 n1)" = down ] && [ "$(status_of 3 n1)" = down ]
}
if wait_for 15 cut_seen; then ok "each side sees the other down"
else fail "the sides do not see each other down within 15 s"; fi

pushes 1 P x & p1=$!
pushes 3 P y & p2=$!
wait "$p1" "$p2"
assert_eq 0 "$(cat "$WORK/x.replies" "$WORK/y.replies" | grep -vcx '[0-9]*')" \
    "both sides of the cut take their $((2 * PUSHES)) pushes"
# With W=1 a push is answered before its replica has it: LSET names an
# index, so the index LPOS reads on n2 must still be m3's when LSET runs
# there, which holds once n2 has every push n3 took.
side_converged() {
    local a b
    a=$(local_items 2 P); b=$(local_items 3 P)
    [ "$(printf '%s\n' "$a" | grep -c .)" = $((2 * PUSHES + 5)) ] && [ "$a" = "$b" ]
}
wait_for 30 side_converged || fail "n2 and n3 do not hold the same $((2 * PUSHES + 5)) items 30 s after the pushes"
assert_eq 1 "$(ncli 1 LREM P 0 m1)" "n1's side removes m1"
assert_eq OK "$(ncli 2 LSET P "$(ncli 2 LPOS P m3)" M3)" "the other side LSETs m3 to M3"
assert_eq "$((2 * PUSHES + 4))" "$(ncli 1 LLEN P)" "n1 alone sees its pushes and the old list less m1"

assert_eq OK "$(ncli 2 DYNAMO.FAULT CLEAR ALL)" "DYNAMO.FAULT CLEAR ALL heals the cut"
pending_zero() {
    local i
    for i in 1 2 3; do [ "$(info_field "$i" hints_pending)" = 0 ] || return 1; done
}
wait_for 20 pending_zero || fail "hints still pending 20 s after the heal"
for j in 1 2 3; do ncli "$j" LLEN P >/dev/null; done # reads repair
if wait_for 40 converged P $((4 * PUSHES + 4)); then
    ok "after the heal every node's copy holds both sides' pushes, in one order"
else
    fail "copies differ after the heal: n1 $(local_items 1 P | grep -c .), n2 $(local_items 2 P | grep -c .), n3 $(local_items 3 P | grep -c .) items"
fi
check_list P $((4 * PUSHES + 4)) "partitioned pushes" x y
assert_eq 0 "$(grep -cx m1 "$WORK/P.n1")" "m1, removed on one side, is gone everywhere"
assert_eq "m0 m2 M3 m4" "$(grep -x 'm[0-9]\|M3' "$WORK/P.n1" | tr '\n' ' ' | sed 's/ $//')" \
    "the shared elements keep their order, with the LSET's value in place of m3"

# ---- 3. two-key commands through the coordinator's gather route ---------------
assert_eq OK "$(ncli 1 DYNAMO.CONFIG SET w 2)" "back to W=2"
assert_eq OK "$(ncli 1 DYNAMO.CONFIG SET r 2)" "and R=2 (R + W > N)"
assert_eq 3 "$(ncli 1 RPUSH src a b c)" "RPUSH src a b c"
assert_eq a "$(ncli 2 LMOVE src dst LEFT RIGHT)" "LMOVE src dst LEFT RIGHT through n2"
assert_eq c "$(ncli 3 RPOPLPUSH src dst)" "RPOPLPUSH src dst through n3"
assert_eq "dst a c" "$(ncli 1 LMPOP 2 nokey dst RIGHT COUNT 2 | tr '\n' ' ' | sed 's/ $//')" \
    "LMPOP 2 nokey dst RIGHT COUNT 2 through n1"
bad=0
for j in 1 2 3; do
    [ "$(ncli "$j" LRANGE src 0 -1)" = b ] || bad=$((bad + 1))
    [ "$(ncli "$j" EXISTS dst)" = 0 ] || bad=$((bad + 1))
done
assert_eq 0 "$bad" "every node then reads src = [b] and no dst"

# ---- 4. blocking commands -----------------------------------------------------
for cmd in "BLPOP L 0:LPOP" "BRPOP L 0:RPOP" "BLMOVE L P LEFT LEFT 0:LMOVE" \
           "BRPOPLPUSH L P 0:RPOPLPUSH" "BLMPOP 0 1 L LEFT:LMPOP"; do
    args=${cmd%%:*}
    name=${args%% *}
    # shellcheck disable=SC2086
    assert_eq "ERR $name is not supported: blocking commands need one server to wait on, and a Dynamo key has N replicas; poll ${cmd##*:} instead" \
        "$(ncli 2 $args 2>&1)" "$name answers that a Dynamo key has N replicas"
done
assert_eq "$((4 * PUSHES))" "$(ncli 1 LLEN L)" "and changes nothing"
finish
