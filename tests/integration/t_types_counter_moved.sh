#!/usr/bin/env bash
# t_types_counter_moved.sh -- a counter incremented again through a node
# the ring moved it away from (docs/TYPES.md 5.1, "Runs"; the chaos suite
# found it): 3 nodes, N=2 R=2 W=2, then a fourth joins.
#   - every key ctr:<i> gets two INCRBYs through its first replica X;
#   - n4 joins; for a key X no longer replicates, X drops its copy, and so
#     does the other node that is not a replica (Y);
#   - X is cut from the key's two replicas; once it holds them down it
#     coordinates INCRBY as a stand-in (sloppy quorum, with Y) on an empty
#     state: the reply is 1, X's view;
#   - after the heal (hints delivered, anti-entropy) every replica reads
#     3, through every node: the stand-in's increment began a run of its
#     own and did not replace X's earlier entry (2).
. "$(dirname "$0")/cluster_lib.sh"

cluster_start 3 --n 2 --r 2 --w 2 --suspect-timeout-ms 500 \
    --down-timeout-ms 1500 --anti-entropy-interval-ms 500

status_of() {
    ncli "$1" DYNAMO.MEMBERS | awk -v o="$2" '
        prev == "name" { on = ($0 == o) } on && prev == "status" { print; exit }
        { prev = $0 }'
}
has_copy() { [ -n "$(ncli "$1" DYNAMO.LOCAL "$2")" ]; }

declare -A coord
for ((i = 0; i < 40; i++)); do
    k="ctr:$i"
    x=$(replicas "$k"); x=${x%% *}
    coord[$k]=$x
    ncli "$x" INCRBY "$k" 1 >/dev/null
    [ "$(ncli "$x" INCRBY "$k" 1)" = 2 ] || fail "INCRBY $k through n$x did not reach 2"
done
ok "40 counters at 2, each through its first replica"

out=$(ctool add 2>&1) || { fail "n4 did not join: $out"; finish; }
echo "# $out"
ring_has_n4() {
    local i
    for ((i = 0; i < 40; i++)); do
        case " $(replicas "ctr:$i") " in *" 4 "*) return 0 ;; esac
    done
    return 1
}
wait_for 60 ring_has_n4 || fail "no key has n4 among its replicas after the join"

# A key whose first replica X lost it, and whose other non-replica Y
# holds no copy once the drops are done.
pick() {
    local i k reps x y
    for ((i = 0; i < 40; i++)); do
        k="ctr:$i"; reps=" $(replicas "$k") "; x=${coord[$k]}
        case $reps in *" $x "*) continue ;; esac
        for y in 1 2 3 4; do
            case "$reps $x " in *" $y "*) continue ;; esac
            has_copy "$x" "$k" || has_copy "$y" "$k" || { echo "$k $x $y"; return 0; }
        done
    done
    return 1
}
picked=""
grab() { picked=$(pick); }
wait_for 60 grab || { fail "no key left its first replica with both non-replicas empty"; finish; }
read -r K X Y <<<"$picked"
H=$(replicas "$K")
echo "# $K: was coordinated by n$X, now on n${H// /, n}; n$Y is the other non-replica"
ok "n$X dropped its copy of $K when the ring moved it away"

for h in $H; do
    [ "$(ncli "$X" DYNAMO.FAULT "n$X" "n$h" DROP BOTH)" = OK ] || fail "DYNAMO.FAULT n$X n$h"
done
x_sees_down() { local h; for h in $H; do [ "$(status_of "$X" "n$h")" = down ] || return 1; done; }
wait_for 20 x_sees_down || fail "n$X does not see {n${H// /, n}} down"
assert_eq 1 "$(ncli "$X" INCRBY "$K" 1)" "INCRBY $K through n$X, cut from its replicas: a stand-in on an empty state answers 1"

assert_eq OK "$(ncli "$X" DYNAMO.FAULT CLEAR ALL)" "the cut heals"
all_three() {
    local h j
    for h in $H; do
        [ "$(ncli "$h" DYNAMO.LOCAL "$K" | awk 'prev == "value" { print } { prev = $0 }')" = 3 ] || return 1
    done
    for j in 1 2 3 4; do [ "$(ncli "$j" GET "$K")" = 3 ] || return 1; done
}
if wait_for 60 all_three; then
    ok "after the heal $K reads 3 on both replicas and through every node"
else
    for h in $H; do echo "# n$h:"; ncli "$h" DYNAMO.LOCAL "$K" | sed 's/^/#   /'; done
    fail "$K does not read 3 everywhere (an increment was lost, or counted twice)"
fi
finish
