#!/usr/bin/env bash
# t_antientropy.sh -- Merkle anti-entropy repairs replicas without client
# reads, and deletes stay deleted (issue #6).
#
# 1. 3 nodes, N=3, hinted handoff off (hint-max-bytes 0).  n3 is cut off
#    with DYNAMO.FAULT while 1000 keys are written (W=2) and 5 keys that n3
#    holds are deleted; after the heal every replica's DYNAMO.LOCAL copy of
#    the 1000 keys is identical, with no client reads; then the repair
#    counter stops rising while the cluster is idle.
# 2. The 5 deleted keys stay deleted on every node, their tombstones are
#    reaped after tombstone-grace-s, and they do not come back afterwards.
# 3. A disk cluster: wipe n2's data dir and restart it; anti-entropy gives
#    it back every key.
. "$(dirname "$0")/cluster_lib.sh"

AE_OPTS=(--anti-entropy-interval-ms 40 --hint-max-bytes 0
         --tombstone-grace-s 3 --ring-partitions 32)
NKEYS=1000
ND=5
P="ae:$RANDOM:"

# dump I PREFIX COUNT: node I's own copies of PREFIX0..PREFIX<COUNT-1>,
# comparable across nodes (clock and dot renderings removed).
dump() {
    local i=$1 prefix=$2 count=$3 j
    for ((j = 0; j < count; j++)); do echo "DYNAMO.LOCAL $prefix$j"; done |
        ncli "$i" | awk 'prev == "clock" || prev == "dot" { prev = ""; next } { print; prev = $0 }'
}
same_everywhere() {
    local a b c
    a=$(dump 1 "$1" "$2" | md5sum)
    b=$(dump 2 "$1" "$2" | md5sum)
    c=$(dump 3 "$1" "$2" | md5sum)
    [ "$a" = "$b" ] && [ "$b" = "$c" ]
}
sum_field() {
    local j s=0 v
    for ((j = 1; j <= CL_N; j++)); do
        v=$(info_field "$j" "$1"); s=$((s + ${v:-0}))
    done
    echo "$s"
}
heal() {
    local j
    for ((j = 1; j <= CL_N; j++)); do ncli "$j" DYNAMO.FAULT CLEAR >/dev/null; done
}

cluster_start 3 "${AE_OPTS[@]}"
[ "$(ncli 1 DYNAMO.AE 0 | head -1)" = partitions ] || harness_error "DYNAMO.AE does not work"

# ---- the 5 keys that will be deleted: on every node first
for ((j = 0; j < ND; j++)); do echo "SET ${P}d$j old$j"; done | ncli 1 >/dev/null
d_everywhere() {
    local i j
    for ((i = 1; i <= 3; i++)); do
        for ((j = 0; j < ND; j++)); do
            [ "$(local_values "$i" "${P}d$j")" = "old$j" ] || return 1
        done
    done
}
if wait_for 10 d_everywhere; then ok "$ND keys written on all 3 replicas"
else fail "the $ND keys did not reach every replica"; fi

# ---- cut n3 off, write and delete through n1
ncli 1 DYNAMO.FAULT n1 n3 DROP BOTH >/dev/null
ncli 1 DYNAMO.FAULT n2 n3 DROP BOTH >/dev/null
fault_set() { [ -n "$(ncli 1 DYNAMO.FAULT LIST)" ] && [ -n "$(ncli 2 DYNAMO.FAULT LIST)" ]; }
wait_for 5 fault_set || harness_error "DYNAMO.FAULT did not take effect"
bad=$(for ((j = 0; j < NKEYS; j++)); do echo "SET ${P}k$j v$j"; done | ncli 1 | grep -vc '^OK$')
assert_eq 0 "$bad" "$NKEYS keys written with n3 cut off (W=2)"
bad=$(for ((j = 0; j < ND; j++)); do echo "DEL ${P}d$j"; done | ncli 1 | grep -vc '^1$')
assert_eq 0 "$bad" "$ND keys deleted with n3 cut off"
missing=0
for j in 0 1 2 3 4 5 6 7 8 9; do
    [ -z "$(ncli 3 DYNAMO.LOCAL "${P}k$j")" ] || missing=$((missing + 1))
done
assert_eq 0 "$missing" "n3 missed the writes"
assert_eq "old0" "$(local_values 3 "${P}d0")" "n3 still holds a deleted key's old value"

repaired0=$(sum_field ae_keys_repaired)
heal
if wait_for 30 same_everywhere "${P}k" "$NKEYS"; then
    ok "after the heal every replica's DYNAMO.LOCAL of the $NKEYS keys is identical"
else
    fail "replicas still differ 30 s after the heal"
    diff <(dump 1 "${P}k" "$NKEYS") <(dump 3 "${P}k" "$NKEYS") | head -10
fi
assert_eq "v999" "$(local_values 3 "${P}k999")" "n3 holds the newest value"
[ "$(sum_field ae_keys_repaired)" -gt "$repaired0" ] &&
    ok "INFO ae_keys_repaired grew ($repaired0 -> $(sum_field ae_keys_repaired))" ||
    fail "INFO ae_keys_repaired did not grow"
assert_eq 0 "$(sum_field read_repairs)" "no read repair was involved (no client reads)"

# ---- deletes stay deleted, tombstones are reaped
no_live_d() {
    local i j
    for ((i = 1; i <= 3; i++)); do
        for ((j = 0; j < ND; j++)); do
            [ -z "$(local_values "$i" "${P}d$j")" ] || return 1
        done
    done
}
d_gone() {
    local i j
    for ((i = 1; i <= 3; i++)); do
        for ((j = 0; j < ND; j++)); do
            [ -z "$(ncli "$i" DYNAMO.LOCAL "${P}d$j")" ] || return 1
        done
    done
}
if wait_for 20 no_live_d; then ok "no replica holds a value of a deleted key after the heal"
else fail "a deleted key's value survived on some replica"; fi
if wait_for 40 d_gone; then ok "the tombstones were reaped on every replica after the grace period"
else fail "tombstones not reaped: $(ncli 3 DYNAMO.LOCAL "${P}d0" | tr '\n' ' ')"; fi
[ "$(sum_field tombstones_reaped)" -ge $((3 * ND)) ] &&
    ok "INFO tombstones_reaped >= $((3 * ND))" || fail "tombstones_reaped = $(sum_field tombstones_reaped)"

# ---- idle: full anti-entropy cycles repair nothing more, nothing comes back
ex0=$(sum_field ae_exchanges)
rep0=$(sum_field ae_keys_repaired)
cycles_done() { [ "$(sum_field ae_exchanges)" -ge $((ex0 + 3 * 32 * 2)) ]; }
wait_for 30 cycles_done || fail "anti-entropy rounds did not go on"
assert_eq "$rep0" "$(sum_field ae_keys_repaired)" "the repair counter stays put over two idle cycles"
if d_gone; then ok "deleted keys did not come back after reaping and more exchanges"
else fail "a deleted key came back"; fi
for ((j = 0; j < ND; j++)); do
    [ -z "$(ncli 2 GET "${P}d$j")" ] || fail "GET ${P}d$j returns a value"
done
out=$(ncli 1 DYNAMO.MERKLE 0 | tr '\n' ' ')
case $out in
    *differing_leaves" "*) ok "DYNAMO.MERKLE shows the replicas' roots" ;;
    *) fail "DYNAMO.MERKLE: $out" ;;
esac
roots=$(ncli 1 DYNAMO.MERKLE 0 | awk '/^n[0-9]+$/ { getline; print }' | sort -u | wc -l)
assert_eq 1 "$roots" "all replicas of partition 0 have the same root"

# ---- a wiped disk replica is refilled
cluster_stop
cluster_start 3 "${AE_OPTS[@]}" --storage disk
bad=$(for ((j = 0; j < 500; j++)); do echo "SET ${P}w$j x$j"; done | ncli 1 | grep -vc '^OK$')
assert_eq 0 "$bad" "500 keys written to a disk cluster"
wait_for 20 same_everywhere "${P}w" 500 || fail "disk cluster did not settle"
ctool restart 2 --empty >/dev/null || { fail "restart n2 --empty"; finish; }
n2_empty=$( [ -z "$(ncli 2 DYNAMO.LOCAL "${P}w7")" ] && echo yes )
if wait_for 30 same_everywhere "${P}w" 500; then
    ok "wiped n2 holds every key again (restarted empty: ${n2_empty:-no})"
else
    fail "n2 was not refilled: $(dump 2 "${P}w" 500 | grep -c '^value$') of 500"
fi
finish
