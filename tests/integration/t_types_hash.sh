#!/usr/bin/env bash
# t_types_hash.sh -- hashes in a 3-node cluster (N=3): concurrent writes
# through different nodes give the add-wins / summed result on every node.
#
# 1. Without faults, R=2 W=2: three clients, one per node, at once: each
#    HINCRBYs one shared field 20 times, HINCRBYFLOATs another, and HSETs
#    its own fields; every node reads the sum of all the increments
#    (none is lost to a read-modify-write race) and every field, and the
#    three local copies converge to the same state.
# 2. A partition {n1} | {n2, n3}, R=1 W=1, so both sides take writes that
#    cannot see each other; then the cut heals and R=3 reads every replica:
#      HSET f on n1  | HINCRBY f 3 on n2  -> the HSET's value + 3
#      HDEL g on n1  | HINCRBY g 4 on n2  -> 4 (the increment the HDEL
#                                            did not see)
#      HINCRBY k 1   | HSET k 50          -> 51
#      HDEL m        | HSET m new         -> new (add wins)
#      HDEL gone     | (nothing)          -> absent
#    and every node answers the same HGETALL.
. "$(dirname "$0")/cluster_lib.sh"

cluster_start 3
T0=$(date +%s)
stamp() { echo "# +$(( $(date +%s) - T0 )) s: $*"; }

hgetall_sorted() { ncli "$1" HGETALL "$2" | paste - - | sort; }
same_everywhere() { # KEY: every node's HGETALL equal to n1's
    local a j
    a=$(hgetall_sorted 1 "$1")
    for ((j = 2; j <= CL_N; j++)); do
        [ "$(hgetall_sorted "$j" "$1")" = "$a" ] || return 1
    done
}
locals_converged() { # KEY: the three local copies hold the same state
    local a j
    a=$(local_sig 1 "$1" | sed -n '/^state$/,$p')
    [ -n "$a" ] || return 1
    for ((j = 2; j <= CL_N; j++)); do
        [ "$(local_sig "$j" "$1" | sed -n '/^state$/,$p')" = "$a" ] || return 1
    done
}

# ---- 1. concurrent writers, no faults ----------------------------------------
ROUNDS=20
writer() { # I: node I's client
    local i=$1 k
    for ((k = 0; k < ROUNDS; k++)); do
        ncli "$i" HINCRBY h:race n 1 >/dev/null || echo "n$i HINCRBY failed" >&2
        ncli "$i" HINCRBYFLOAT h:race x 0.5 >/dev/null || echo "n$i HINCRBYFLOAT failed" >&2
        ncli "$i" HSET h:race "f$i:$k" "v$k" >/dev/null || echo "n$i HSET failed" >&2
    done
}
errs="$WORK/writer.err"
writer 1 2>>"$errs" & p1=$!
writer 2 2>>"$errs" & p2=$!
writer 3 2>>"$errs" & p3=$!
wait "$p1" "$p2" "$p3"
stamp "writers done"
assert_eq "" "$(cat "$errs")" "every concurrent write was acknowledged"
bad=0
for ((j = 1; j <= CL_N; j++)); do
    got=$(ncli "$j" HGET h:race n)
    [ "$got" = $((3 * ROUNDS)) ] || { bad=$((bad + 1)); echo "# n$j: n = $got"; }
    got=$(ncli "$j" HGET h:race x)
    [ "$got" = $((3 * ROUNDS / 2)) ] || { bad=$((bad + 1)); echo "# n$j: x = $got"; }
    got=$(ncli "$j" HLEN h:race)
    [ "$got" = $((3 * ROUNDS + 2)) ] || { bad=$((bad + 1)); echo "# n$j: HLEN $got"; }
done
assert_eq 0 "$bad" "every node reads n = $((3 * ROUNDS)), x = $((3 * ROUNDS / 2)) and all $((3 * ROUNDS + 2)) fields"
assert_eq "v7" "$(ncli 2 HGET h:race f3:7)" "a field HSET through n3 reads back through n2"
assert_eq OK "$(ncli 1 CONFIG SET client-output-buffer-limit 1mb)" "n1: client-output-buffer-limit 1mb"
assert_match "^ERR HRANDFIELD's reply would pass 1048576 bytes" \
    "$(ncli 1 HRANDFIELD h:race -9223372036854775807 2>&1)" \
    "HRANDFIELD with a huge negative count stops at the output limit (Redis would build it)"
assert_eq 2 "$(ncli 1 HRANDFIELD h:race -2 | grep -c .)" "and a small one answers"
if wait_for 30 locals_converged h:race; then
    ok "the three replicas' local copies converge to one state"
else
    fail "the local copies of h:race still differ after 30 s"
fi

# ---- 2. a partition: both sides write ------------------------------------------
stamp "phase 2"
assert_eq 3 "$(ncli 1 HSET h:p f 10 g 1 m old)" "HSET h:p f g m before the cut"
assert_eq 1 "$(ncli 1 HSET h:p gone x)" "HSET h:p gone before the cut"
assert_eq 6 "$(ncli 2 HINCRBY h:p g 5)" "HINCRBY h:p g 5 before the cut"
if wait_for 30 locals_converged h:p; then ok "h:p is on every replica before the cut"
else fail "h:p did not reach every replica before the cut"; fi
assert_eq OK "$(ncli 1 DYNAMO.CONFIG SET r 1)" "R=1"
assert_eq OK "$(ncli 1 DYNAMO.CONFIG SET w 1)" "W=1"
r_is() { [ "$(ncli "$1" DYNAMO.CONFIG GET r | tail -1)" = "$2" ] && [ "$(ncli "$1" DYNAMO.CONFIG GET w | tail -1)" = "$3" ]; }
all_rw() { local j; for ((j = 1; j <= CL_N; j++)); do r_is "$j" "$1" "$2" || return 1; done; }
wait_for 10 all_rw 1 1 || fail "R=1 W=1 did not reach every node"

bad=0
for b in 2 3; do
    [ "$(ncli 1 DYNAMO.FAULT n1 "n$b" DROP BOTH)" = OK ] || bad=$((bad + 1))
done
assert_eq 0 "$bad" "DYNAMO.FAULT cuts n1 from n2 and n3"
stamp "cut"

# n1's side
assert_eq 0 "$(ncli 1 HSET h:p f 100)" "n1: HSET f 100 (a reset of f)"
assert_eq 1 "$(ncli 1 HDEL h:p g)" "n1: HDEL g (it saw g = 6)"
assert_eq 1 "$(ncli 1 HINCRBY h:p k 1)" "n1: HINCRBY k 1"
assert_eq 2 "$(ncli 1 HDEL h:p m gone)" "n1: HDEL m gone"
# the other side, not seeing any of it
assert_eq 13 "$(ncli 2 HINCRBY h:p f 3)" "n2: HINCRBY f 3 (it still sees 10)"
assert_eq 10 "$(ncli 3 HINCRBY h:p g 4)" "n3: HINCRBY g 4 (it still sees 6)"
assert_eq 1 "$(ncli 2 HSET h:p k 50)" "n2: HSET k 50"
assert_eq 0 "$(ncli 3 HSET h:p m new)" "n3: HSET m new"
assert_eq "x" "$(ncli 2 HGET h:p gone)" "n2 still sees the field n1 deleted"

stamp "both sides wrote"
assert_eq OK "$(ncli 2 DYNAMO.FAULT CLEAR ALL)" "the cut heals"
assert_eq OK "$(ncli 2 DYNAMO.CONFIG SET r 3)" "R=3: a read merges every replica"
wait_for 10 all_rw 3 1 || fail "R=3 did not reach every node"
reach_all() { # reads through n1 see n2's side (the links are back)
    [ "$(ncli 1 HGET h:p k)" = 51 ]
}
wait_for 30 reach_all || fail "n1 does not read the other side's writes within 30 s"

stamp "healed"
want=$(printf 'f\t103\ng\t4\nk\t51\nm\tnew\n')
bad=0
for ((j = 1; j <= CL_N; j++)); do
    got=$(hgetall_sorted "$j" h:p)
    [ "$got" = "$want" ] || { bad=$((bad + 1)); echo "# n$j HGETALL: $(echo "$got" | tr '\n\t' '  ')"; }
done
assert_eq 0 "$bad" "every node: f = 103 (HSET + the concurrent +3), g = 4 (only the increment the HDEL did not see), k = 51, m = new (add wins), gone absent"
assert_eq 0 "$(ncli 3 HEXISTS h:p gone)" "the field deleted on one side and untouched on the other stays deleted"
if wait_for 30 same_everywhere h:p; then ok "every node answers the same HGETALL"
else fail "the nodes answer different HGETALLs"; fi
if wait_for 60 locals_converged h:p; then
    ok "after the heal the three local copies converge (read repair, anti-entropy)"
else
    fail "the local copies of h:p still differ after 60 s"
fi
stamp "converged"
assert_match 'reset-snapshot' "$(ncli 1 DYNAMO.LOCAL h:p | tr '\n' ' ')" \
    "DYNAMO.LOCAL shows the reset snapshots that keep the counters exact"

finish
