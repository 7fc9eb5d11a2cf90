#!/usr/bin/env bash
# t_types_stable.sh -- a typed value compacted on one replica and written
# on another, in a 3-node cluster (N=3, R=2, W=2) whose anti-entropy runs
# only when the test asks (DYNAMO.AE), so which node compacts when is the
# test's choice, as it is the timers' in a running cluster:
#   - elements added through every node, beside writes to other keys, so
#     the key's context has gaps (dots are node-wide; no claims);
#   - n1's round finds the replicas equal and compacts its copy (the
#     elements' dots become marks); n2 and n3 keep theirs uncompacted;
#   - SREM through n2 (which answers 1), an SADD of a new element
#     through n3, then a round on every node: the removed element is gone
#     and the rest is there, on every replica, through every node.
# The chaos suite found this one (docs/TYPES.md section 9): the join
# kept a mark whose element a remove beside it had observed.
. "$(dirname "$0")/cluster_lib.sh"

TMO=500
# typed-cache-size 0: no claims (docs/TYPES.md, "Claims"), so the gaps a
# restart or an eviction leaves in a key's context come with every write.
cluster_start 3 --n 3 --r 2 --w 2 --anti-entropy-interval-ms 0 \
    --anti-entropy-sweep-interval-ms 0 --request-timeout-ms $TMO \
    --typed-cache-size 0

# local_members I KEY: node I's own copy's members (DYNAMO.LOCAL), sorted,
# on one line, each with " stable" when it holds a mark instead of a dot.
local_members() {
    ncli "$1" DYNAMO.LOCAL "$2" | awk '
        /^members [0-9]+$/ { on = 1; next }
        on && /^"/ { m = $0; sub(/^"/, "", m); sub(/".*$/, "", m)
                     print m (($0 ~ / stable$/) ? " stable" : ""); next }
        { on = 0 }' | sort | tr '\n' ',' | sed 's/,$//'
}
members_via() {
    ncli "$1" SMEMBERS "$2" | sort | tr '\n' ' ' | sed 's/ $//'
}
# round I: an anti-entropy round over every partition node I replicates;
# prints its reply on failure.
round() {
    local out
    out=$(ncli "$1" DYNAMO.AE all 2>&1) || { echo "# DYNAMO.AE on n$1: $out"; return 1; }
    case $out in *ERR*) echo "# DYNAMO.AE on n$1: $out"; return 1 ;; esac
}
# all_local_equal KEY: the three copies hold the same members (marks or
# dots alike: a node compacts at the end of its own round).
plain_members() { local_members "$1" "$2" | sed 's/ stable//g; s/,/ /g'; }
all_local_equal() {
    local a
    a=$(plain_members 1 "$1")
    [ "$a" = "$(plain_members 2 "$1")" ] && [ "$a" = "$(plain_members 3 "$1")" ]
}

k=stable:set
# Elements through every node, with writes to other keys in between: each
# node's dot counter moves on between its writes to $k.
for i in 1 2 3 4 5 6; do
    j=$(( (i - 1) % 3 + 1 ))
    assert_eq 1 "$(ncli "$j" SADD "$k" "e$i")" "SADD $k e$i through n$j"
    for o in 1 2 3; do
        ncli "$j" SET "other:$i:$o" v >/dev/null
        ncli "$j" SADD "otherset:$i:$o" v >/dev/null
    done
done
wait_for 20 all_local_equal "$k" || fail "the replicas of $k did not become equal"
gaps=$(ncli 1 DYNAMO.LOCAL "$k" | sed -n 's/^cloud \([0-9]*\) dots.*/\1/p')
echo "# $k's context before compaction: ${gaps:-no} cloud dots"
[ "${gaps:-0}" -gt 0 ] && ok "the key's context has gaps (a cloud)" ||
    fail "the key's context has no gaps: the test does not test the case"

# A key written within twice the request timeout is not compacted.
sleep $(( 3 * TMO / 1000 + 1 ))
round 1 || fail "anti-entropy round on n1"
n1=$(local_members 1 "$k")
n2=$(local_members 2 "$k")
echo "# n1: $n1"
echo "# n2: $n2"
case ",$n1," in *",e1 stable,"*) ok "n1 compacted its copy (marks)" ;;
    *) fail "n1 did not compact its copy: [$n1]" ;; esac
case ",$n2," in *" stable"*) fail "n2 compacted too: the test does not test the case" ;;
    *) ok "n2's copy is not compacted" ;; esac

assert_eq 1 "$(ncli 2 SREM "$k" e1)" "SREM $k e1 through n2 (uncompacted) answers 1"
assert_eq 1 "$(ncli 3 SADD "$k" e7)" "SADD $k e7 through n3"
for j in 1 2 3; do round "$j" || fail "anti-entropy round on n$j"; done
wait_for 20 all_local_equal "$k" || fail "the replicas of $k did not become equal again"
want="e2 e3 e4 e5 e6 e7"
for j in 1 2 3; do
    assert_eq "$want" "$(plain_members "$j" "$k")" "n$j's copy after the remove beside a compacted replica"
    assert_eq "$want" "$(members_via "$j" "$k")" "SMEMBERS through n$j"
done

# The same with the roles turned: the remove taken on the compacted copy,
# an uncompacted replica beside it.
k2=stable:set2
for i in 1 2 3; do
    assert_eq 1 "$(ncli "$i" SADD "$k2" "f$i")" "SADD $k2 f$i through n$i"
    ncli "$i" SET "other2:$i" v >/dev/null
done
wait_for 20 all_local_equal "$k2" || fail "the replicas of $k2 did not become equal"
sleep $(( 3 * TMO / 1000 + 1 ))
round 3 || fail "anti-entropy round on n3"
case ",$(local_members 3 "$k2")," in *",f1 stable,"*) ok "n3 compacted its copy of $k2" ;;
    *) fail "n3 did not compact $k2: [$(local_members 3 "$k2")]" ;; esac
assert_eq 1 "$(ncli 3 SREM "$k2" f2)" "SREM $k2 f2 through n3 (compacted) answers 1"
for j in 1 2 3; do round "$j" || fail "anti-entropy round on n$j"; done
wait_for 20 all_local_equal "$k2" || fail "the replicas of $k2 did not become equal again"
for j in 1 2 3; do
    assert_eq "f1 f3" "$(members_via "$j" "$k2")" "SMEMBERS $k2 through n$j"
done
finish
