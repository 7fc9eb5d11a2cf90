#!/usr/bin/env bash
# t_cluster_partition.sh -- a 3|2 network partition of 5 nodes made with
# DYNAMO.FAULT (issue #4 test 5).  N=3, R=2, W=2.
#
# While cut: writes through either side succeed (the minority side through
# sloppy quorum: many keys have their top N mostly or wholly on the other
# side), and the same keys written on both sides with different values.
# After DYNAMO.FAULT CLEAR ALL and hint delivery: no acknowledged write is
# lost, each key written on both sides shows both values as siblings, and
# every key is back on exactly its 3 replicas.  Last, a DYNAMO.CONFIG SET
# that a killed node misses reaches it by gossip once it is back.
. "$(dirname "$0")/cluster_lib.sh"

CHECK="$TOP_SRCDIR/tests/integration/cluster_check.py"
cluster_start 5 --suspect-timeout-ms 500 --down-timeout-ms 1500
"$PYTHON" -c 'import redis' 2>/dev/null || skip "python3-redis is missing"

# status_of I NAME: node I's view of member NAME.
status_of() {
    ncli "$1" DYNAMO.MEMBERS | awk -v o="$2" '
        prev == "name" { on = ($0 == o) } on && prev == "status" { print; exit }
        { prev = $0 }'
}
cut_seen() {
    local a b
    for a in 1 2 3; do for b in 4 5; do
        [ "$(status_of "$a" "n$b")" = down ] || return 1
        [ "$(status_of "$b" "n$a")" = down ] || return 1
    done; done
}

bad=0
for a in 1 2 3; do for b in 4 5; do
    [ "$(ncli 1 DYNAMO.FAULT "n$a" "n$b" DROP BOTH)" = OK ] || bad=$((bad + 1))
done; done
assert_eq 0 "$bad" "DYNAMO.FAULT through n1 cuts {n1,n2,n3} from {n4,n5} (relayed to n2, n3)"
assert_match 'drop-to' "$(ncli 2 DYNAMO.FAULT LIST | tr '\n' ' ')" "n2 holds its part of the cut"
if wait_for 10 cut_seen; then ok "each side sees the other side down"
else fail "the sides do not see each other down within 10 s"; fi

"$PYTHON" "$CHECK" write "$CL_BASE" 1,2,3 "pa:" 300
assert_eq 0 "$?" "300 SETs through the majority side succeed"
s0=$(( $(info_field 4 sloppy_writes) + $(info_field 5 sloppy_writes) ))
"$PYTHON" "$CHECK" write "$CL_BASE" 4,5 "pb:" 300
assert_eq 0 "$?" "300 SETs through the minority side succeed (W=2 on 2 nodes)"
s1=$(( $(info_field 4 sloppy_writes) + $(info_field 5 sloppy_writes) ))
echo "# minority side: $((s1 - s0)) of its writes went through stand-ins"
assert_match '^[1-9]' "$((s1 - s0))" "the minority side wrote through sloppy quorum"
bad=0
for i in $(seq 0 19); do
    [ "$(ncli 1 SET "both:$i" "A$i")" = OK ] || bad=$((bad + 1))
    [ "$(ncli 5 SET "both:$i" "B$i")" = OK ] || bad=$((bad + 1))
done
assert_eq 0 "$bad" "20 keys written on both sides, with different values"

assert_eq OK "$(ncli 4 DYNAMO.FAULT CLEAR ALL)" "DYNAMO.FAULT CLEAR ALL heals the cut"
for i in 1 2 3 4 5; do
    [ -z "$(ncli "$i" DYNAMO.FAULT LIST)" ] || fail "n$i still has faults after CLEAR ALL"
done
pending_all_zero() {
    local i
    for i in 1 2 3 4 5; do [ "$(info_field "$i" hints_pending)" = 0 ] || return 1; done
}
if wait_for 15 pending_all_zero; then ok "every hint is delivered after the heal"
else fail "hints still pending 15 s after the heal"; fi

for side in pa pb; do
    if "$PYTHON" "$CHECK" placement "$CL_BASE" 5 "$side:" 300 >"$WORK/p.out"; then
        ok "$side: no acknowledged write lost; every key on exactly its 3 replicas"
    else
        fail "$side: $(head -5 "$WORK/p.out" | tr '\n' ' ')"
    fi
done
bad=0
for i in $(seq 0 19); do
    "$PYTHON" "$CHECK" siblings "$CL_BASE" $((i % 5 + 1)) "both:$i" "A$i,B$i" >>"$WORK/s.out" || bad=$((bad + 1))
done
assert_eq 0 "$bad" "each key written on both sides reads back as two siblings $(grep -v ' 0 problems' "$WORK/s.out" | head -3 | tr '\n' ' ')"

# the quorum settings reach a node that missed the change, by gossip
assert_eq OK "$(ncli 5 DYNAMO.KILL)" "DYNAMO.KILL n5 (it drops the change notice)"
assert_eq OK "$(ncli 1 DYNAMO.CONFIG SET w 1)" "DYNAMO.CONFIG SET w 1 through n1"
assert_eq 1 "$(ncli 2 DYNAMO.CONFIG GET w)" "n2 has w=1 at once"
assert_eq 2 "$(ncli 5 DYNAMO.CONFIG GET w)" "the killed n5 still has w=2"
assert_eq OK "$(ncli 5 DYNAMO.REVIVE)" "DYNAMO.REVIVE n5"
w_is_1() { [ "$(ncli 5 DYNAMO.CONFIG GET w)" = 1 ]; }
if wait_for 10 w_is_1; then ok "gossip brings w=1 to n5 after it comes back"
else fail "n5 still has w=$(ncli 5 DYNAMO.CONFIG GET w) 10 s after its revival"; fi

# a delay both ways between n1 and n2: set on both ends, writes still work
assert_eq OK "$(ncli 3 DYNAMO.FAULT n1 n2 DELAY 200 BOTH)" "DYNAMO.FAULT n1 n2 DELAY 200 BOTH through n3"
delays_set() {
    ncli 1 DYNAMO.FAULT LIST | tr '\n' ' ' | grep -q 'n2 - - 200' &&
        ncli 2 DYNAMO.FAULT LIST | tr '\n' ' ' | grep -q 'n1 - - 200'
}
if wait_for 5 delays_set; then ok "n1 delays its requests to n2 and n2 its requests to n1"
else fail "delays: n1 [$(ncli 1 DYNAMO.FAULT LIST | tr '\n' ' ')] n2 [$(ncli 2 DYNAMO.FAULT LIST | tr '\n' ' ')]"; fi
assert_eq OK "$(ncli 1 SET delayed:k v)" "a write through n1 succeeds with the delay"
assert_eq OK "$(ncli 2 DYNAMO.FAULT CLEAR ALL)" "DYNAMO.FAULT CLEAR ALL"
finish
