#!/usr/bin/env bash
# t_types_counter_moved.sh -- counters, hash fields and sorted-set scores
# incremented again through a node the ring moved the key away from
# (docs/TYPES.md 5.1, "Runs"; the chaos suite found it): 3 nodes, N=2 R=2
# W=2, then a fourth joins.
#   - every key gets two increments (INCRBY, HINCRBY, ZINCRBY) through its
#     first replica X;
#   - n4 joins; for a key X no longer replicates, X drops its copy, and so
#     does the other node that is not a replica (Y);
#   - X is cut from the key's two replicas; once it holds them down it
#     coordinates an increment as a stand-in (sloppy quorum, with Y) on an
#     empty state: the reply is 1, X's view;
#   - after the heal (hints delivered, anti-entropy) the key reads 3
#     through its replicas and the two other nodes: the stand-in's
#     increment began a run of its own and did not hide X's earlier sum
#     (2).  Before runs, each read 1.
. "$(dirname "$0")/cluster_lib.sh"

cluster_start 3 --n 2 --r 2 --w 2 --suspect-timeout-ms 500 \
    --down-timeout-ms 1500 --anti-entropy-interval-ms 500

status_of() {
    ncli "$1" DYNAMO.MEMBERS | awk -v o="$2" '
        prev == "name" { on = ($0 == o) } on && prev == "status" { print; exit }
        { prev = $0 }'
}
has_copy() { [ -n "$(ncli "$1" DYNAMO.LOCAL "$2")" ]; }

# Per type: the increment, and the read of what it counted.
incr() {  # incr TYPE NODE KEY -> the reply
    case $1 in
        ctr) ncli "$2" INCRBY "$3" 1 ;;
        hsh) ncli "$2" HINCRBY "$3" f 1 ;;
        zst) ncli "$2" ZINCRBY "$3" 1 m ;;
    esac
}
value() {  # value TYPE NODE KEY
    case $1 in
        ctr) ncli "$2" GET "$3" ;;
        hsh) ncli "$2" HGET "$3" f ;;
        zst) ncli "$2" ZSCORE "$3" m ;;
    esac
}
TYPES="ctr hsh zst"

declare -A coord
for t in $TYPES; do
    for ((i = 0; i < 40; i++)); do
        k="$t:$i"
        x=$(replicas "$k"); x=${x%% *}
        coord[$k]=$x
        incr "$t" "$x" "$k" >/dev/null
        [ "$(incr "$t" "$x" "$k")" = 2 ] || fail "$k: the second increment through n$x did not reach 2"
    done
done
ok "40 keys of each type (counter, hash field, sorted set score) at 2, each through its first replica"

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

# pick TYPE: a key whose first replica X lost it, and whose other
# non-replica Y holds no copy once the drops are done.
pick() {
    local i k reps x y
    for ((i = 0; i < 40; i++)); do
        k="$1:$i"; reps=" $(replicas "$k") "; x=${coord[$k]}
        case $reps in *" $x "*) continue ;; esac
        for y in 1 2 3 4; do
            case "$reps $x " in *" $y "*) continue ;; esac
            has_copy "$x" "$k" || has_copy "$y" "$k" || { echo "$k $x $y"; return 0; }
        done
    done
    return 1
}
picked=""
grab() { picked=$(pick "$T"); }
x_sees_down() { local h; for h in $H; do [ "$(status_of "$X" "n$h")" = down ] || return 1; done; }
all_three() {
    local h j
    for h in $H $X $Y; do [ "$(value "$T" "$h" "$K")" = 3 ] || return 1; done
}
for T in $TYPES; do
    wait_for 60 grab || { fail "$T: no key left its first replica with both non-replicas empty"; continue; }
    read -r K X Y <<<"$picked"
    H=$(replicas "$K")
    echo "# $K: was incremented through n$X, now on n${H// /, n}; n$Y is the other non-replica"
    ok "n$X dropped its copy of $K when the ring moved it away"
    for h in $H; do
        [ "$(ncli "$X" DYNAMO.FAULT "n$X" "n$h" DROP BOTH)" = OK ] || fail "DYNAMO.FAULT n$X n$h"
    done
    wait_for 20 x_sees_down || fail "n$X does not see {n${H// /, n}} down"
    assert_eq 1 "$(incr "$T" "$X" "$K")" "$K: an increment through n$X, cut from the replicas, as a stand-in on an empty state, answers 1"
    assert_eq OK "$(ncli "$X" DYNAMO.FAULT CLEAR ALL)" "the cut heals"
    up_again() { local h; for h in $H; do [ "$(status_of "$X" "n$h")" = up ] || return 1; done; }
    wait_for 20 up_again || fail "n$X does not see {n${H// /, n}} up again"
    if wait_for 60 all_three; then
        ok "after the heal $K reads 3 through the replicas and both other nodes"
    else
        for h in $H; do echo "# n$h:"; ncli "$h" DYNAMO.LOCAL "$K" | sed 's/^/#   /'; done
        fail "$K does not read 3 everywhere (an increment was lost, or counted twice)"
    fi
done
finish
