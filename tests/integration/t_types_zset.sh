#!/usr/bin/env bash
# t_types_zset.sh -- sorted sets in a 3-node cluster (issue #14): writes
# through different nodes at the same time merge by themselves, and every
# node ends with the same members and scores.
#
#   1. Three clients, one per node, at once: each ZINCRBYs one shared member
#      100 times and ZADDs 30 members of its own, while one removes members
#      added before.  Every increment counts (300), every add is there,
#      every removed member is gone, through every node and in every node's
#      own copy.
#   2. A partition {n1,n2} | {n3} (DYNAMO.FAULT, W=1 R=1 so both sides
#      take writes): ZREM on one side and ZADD of the same member on the
#      other (the add wins), ZINCRBY on both sides (they add up), ZINCRBY
#      on one side of a member the other side removed (only the increment
#      the remove did not see is left), ZADD of one member on both sides
#      (the later one wins).  After the cut heals, every node reads the same.
#   3. Multi-key commands (ZUNIONSTORE, ZRANGESTORE, ZMPOP) through any node
#      read each key through its replicas; the blocking forms answer their
#      one error.
. "$(dirname "$0")/cluster_lib.sh"

cluster_start 3 --suspect-timeout-ms 500 --down-timeout-ms 1500

# zall I KEY: ZRANGE WITHSCORES through node I, on one line.
zall() { ncli "$1" ZRANGE "$2" 0 -1 WITHSCORES | tr '\n' ' ' | sed 's/ $//'; }
# local_state I KEY: the state node I stores (DYNAMO.LOCAL's description
# of the sorted set, which names actors the same way on every node).
local_state() {
    ncli "$1" DYNAMO.LOCAL "$2" | awk 'on { print } $0 == "state" { on = 1 }'
}
# every_node_reads KEY WANT: ZRANGE WITHSCORES through each node is WANT.
every_node_reads() {
    local j
    for ((j = 1; j <= CL_N; j++)); do
        [ "$(zall "$j" "$1")" = "$2" ] || return 1
    done
}
# copies_agree KEY: every node's own copy is the same state.
copies_agree() {
    local a b c
    a=$(local_state 1 "$1") b=$(local_state 2 "$1") c=$(local_state 3 "$1")
    [ -n "$a" ] && [ "$a" = "$b" ] && [ "$b" = "$c" ]
}
show() { # on failure: what each node reads and holds
    local j
    for ((j = 1; j <= CL_N; j++)); do
        echo "# n$j reads: $(zall "$j" "$1")"
        local_state "$j" "$1" | sed "s/^/#   n$j holds: /" | head -20
    done
}

# ---- 1. concurrent writes through three nodes ------------------------------
rw_is() { # R W: every node runs with them
    local j
    for ((j = 1; j <= CL_N; j++)); do
        [ "$(ncli "$j" DYNAMO.CONFIG GET r)" = "$1" ] &&
            [ "$(ncli "$j" DYNAMO.CONFIG GET w)" = "$2" ] || return 1
    done
}
set_rw() { # R W, through n1 (DYNAMO.CONFIG SET reaches every node)
    ncli 1 DYNAMO.CONFIG SET r "$1" >/dev/null
    ncli 1 DYNAMO.CONFIG SET w "$2" >/dev/null
    wait_for 15 rw_is "$1" "$2" || fail "R=$1 W=$2 did not reach every node"
}
set_rw 2 2
args=()
for ((k = 0; k < 20; k++)); do args+=("$k" "old$k"); done
assert_eq 20 "$(ncli 1 ZADD zc "${args[@]}")" "20 members added through n1"
wait_for 30 copies_agree zc || { fail "the three copies of zc do not agree"; show zc; }

for j in 1 2 3; do
    {
        for ((k = 0; k < 100; k++)); do
            echo "ZINCRBY zc 1 shared"
            [ $((k % 3)) -eq 0 ] && echo "ZADD zc $((j * 100 + k)) n$j-m$k"
            [ "$j" = 2 ] && [ "$k" -lt 10 ] && echo "ZREM zc old$k"
        done
    } | ncli "$j" >"$WORK/conc$j.out" 2>&1 &
done
wait
bad=0
for j in 1 2 3; do
    n=$(grep -c 'ERR' "$WORK/conc$j.out")
    [ "$n" = 0 ] || { bad=$((bad + 1)); echo "# n$j errors: $(grep ERR "$WORK/conc$j.out" | head -3)"; }
done
assert_eq 0 "$bad" "300 ZINCRBY, 102 ZADD and 10 ZREM through three nodes at once: no error"

want_members() {
    local j k
    {
        echo shared
        for ((k = 10; k < 20; k++)); do echo "old$k"; done
        for j in 1 2 3; do for ((k = 0; k < 100; k += 3)); do echo "n$j-m$k"; done; done
    } | sort
}
members_on() { ncli "$1" ZRANGE zc 0 -1 | sort; }
bad=0
for j in 1 2 3; do
    [ "$(ncli "$j" ZSCORE zc shared)" = 300 ] || { bad=$((bad + 1)); echo "# n$j: shared = $(ncli "$j" ZSCORE zc shared)"; }
    [ "$(members_on "$j")" = "$(want_members)" ] || { bad=$((bad + 1)); echo "# n$j: $(ncli "$j" ZCARD zc) members"; }
done
assert_eq 0 "$bad" "through every node: shared = 300 (no increment lost), 102 added members and old10..old19, none of the removed"
if wait_for 60 copies_agree zc; then ok "the three nodes' own copies of zc converge to one state"
else fail "the copies of zc differ"; show zc; fi
assert_eq "$(ncli 1 ZRANGE zc 0 -1 WITHSCORES | md5sum)" "$(ncli 3 ZRANGE zc 0 -1 WITHSCORES | md5sum)" \
    "n1 and n3 read the same members in the same order with the same scores"

# ---- 2. a partition: both sides write -----------------------------------
set_rw 1 1
assert_eq 4 "$(ncli 1 ZADD zp 1 a 2 b 3 c 4 d)" "zp: a=1 b=2 c=3 d=4 through n1"
assert_eq 10 "$(ncli 1 ZINCRBY zp 10 cnt)" "ZINCRBY zp 10 cnt through n1"
if wait_for 30 copies_agree zp; then ok "every node holds zp before the cut"
else fail "zp did not reach every node"; show zp; fi

status_of() {
    ncli "$1" DYNAMO.MEMBERS | awk -v o="$2" '
        prev == "name" { on = ($0 == o) } on && prev == "status" { print; exit }
        { prev = $0 }'
}
cut_seen() {
    [ "$(status_of 1 n3)" = down ] && [ "$(status_of 2 n3)" = down ] &&
        [ "$(status_of 3 n1)" = down ] && [ "$(status_of 3 n2)" = down ]
}
bad=0
for a in 1 2; do
    [ "$(ncli 1 DYNAMO.FAULT "n$a" n3 DROP BOTH)" = OK ] || bad=$((bad + 1))
done
assert_eq 0 "$bad" "DYNAMO.FAULT cuts {n1,n2} from {n3}"
if wait_for 15 cut_seen; then ok "each side sees the other down"
else fail "the sides do not see each other down"; fi

# side A (n1): remove a and c, raise b, count 5, write d first
assert_eq 1 "$(ncli 1 ZREM zp a)" "side A: ZREM zp a"
assert_eq 0 "$(ncli 1 ZADD zp 20 b)" "side A: ZADD zp 20 b"
assert_eq 15 "$(ncli 1 ZINCRBY zp 5 cnt)" "side A: ZINCRBY zp 5 cnt"
assert_eq 1 "$(ncli 1 ZREM zp c)" "side A: ZREM zp c"
assert_eq 0 "$(ncli 1 ZADD zp 40 d)" "side A: ZADD zp 40 d"
# side B (n3), which has seen none of that
assert_eq 0 "$(ncli 3 ZADD zp 100 a)" "side B: ZADD zp 100 a (it has not seen the ZREM)"
assert_eq 17 "$(ncli 3 ZINCRBY zp 7 cnt)" "side B: ZINCRBY zp 7 cnt"
assert_eq 4 "$(ncli 3 ZINCRBY zp 1 c)" "side B: ZINCRBY zp 1 c (3 + 1 on this side)"
# three client round trips after side A's ZADD of d: a later wall time
assert_eq 0 "$(ncli 3 ZADD zp 44 d)" "side B: ZADD zp 44 d, later than side A's"
assert_eq "b 2 c 4 cnt 17 d 44 a 100" "$(zall 3 zp)" "side B reads its own writes"

assert_eq OK "$(ncli 1 DYNAMO.FAULT CLEAR ALL)" "the cut heals"
want="c 1 b 20 cnt 22 d 44 a 100"
if wait_for 60 every_node_reads zp "$want"; then
    ok "every node reads zp = $want: the re-add wins over the remove, increments on both sides add up, an increment concurrent with a remove keeps only its own part, the later ZADD of d wins"
else
    fail "zp after the cut heals"; show zp
fi
if wait_for 60 copies_agree zp; then ok "the three copies of zp converge to one state"
else fail "the copies of zp differ"; show zp; fi

# ---- 3. multi-key and blocking commands -------------------------------------
set_rw 2 2
assert_eq 3 "$(ncli 2 ZADD zu1 1 x 2 y 3 z)" "zu1 through n2"
assert_eq 2 "$(ncli 3 ZADD zu2 10 y 20 w)" "zu2 through n3"
assert_eq 4 "$(ncli 1 ZUNIONSTORE zdst 2 zu1 zu2)" "ZUNIONSTORE through n1 reads both keys through their replicas"
want="x 1 z 3 y 12 w 20"
if wait_for 30 every_node_reads zdst "$want"; then ok "every node reads the union: $want"
else fail "zdst"; show zdst; fi
assert_eq 2 "$(ncli 3 ZRANGESTORE zdst2 zdst 0 1)" "ZRANGESTORE through n3"
assert_eq "x 1 z 3" "$(zall 2 zdst2)" "n2 reads the stored range"
assert_eq "zu1 x 1" "$(ncli 2 ZMPOP 2 nokey zu1 MIN | tr '\n' ' ' | sed 's/ $//')" "ZMPOP through n2 pops x from zu1"
assert_eq "y 2 z 3" "$(zall 1 zu1)" "n1 reads zu1 without x"
for cmd in "BZPOPMIN zu1 0:ZPOPMIN" "BZPOPMAX zu1 0:ZPOPMAX" "BZMPOP 0 1 zu1 MIN:ZMPOP"; do
    c=${cmd%%:*} poll=${cmd##*:} name=${cmd%% *}
    # shellcheck disable=SC2086
    assert_eq "ERR $name is not supported: blocking commands need one server to wait on, and a Dynamo key has N replicas; poll $poll instead" \
        "$(ncli 1 $c 2>&1)" "$name answers the blocking-commands error"
done

finish
