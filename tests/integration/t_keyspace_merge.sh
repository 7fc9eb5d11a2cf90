#!/usr/bin/env bash
# t_keyspace_merge.sh -- DBSIZE, KEYS and SCAN answer from R replicas per
# partition, merged, so a replica that missed writes or lost its data does
# not answer alone; SCAN honours COUNT (issue #13, item 3).
#
# Anti-entropy is off (anti-entropy-interval-ms 0) and hints are off
# (hint-max-bytes 0), so nothing repairs the replicas behind the test's
# back: what the commands return comes from the merge alone.  No GET is
# sent (a read would repair).
#
# 1. 3 nodes, N=3 R=2: NKEYS keys, each held by every node.  A full SCAN
#    with COUNT 1000 through n1 finishes in a few calls (it took one per
#    partition, 256, before) and returns every key once.
# 2. A stale replica: n3 is DYNAMO.KILLed, some keys whose preference list
#    puts n3 among the first two are deleted through n1 (n3 misses the
#    tombstones), n3 is revived.  Through every node, DBSIZE, KEYS and SCAN
#    leave the deleted keys out (one replica asked per partition listed
#    them when it was n3).
# 3. A replica that lost its data: n2 restarts empty (storage memory).
#    Through every node, DBSIZE, KEYS and a full SCAN return exactly the
#    keys (before, the partitions n2 answered for came back empty).
. "$(dirname "$0")/cluster_lib.sh"

NKEYS=1500
P="km:$RANDOM:"
EXP="$WORK/expected"

holds_all() {
    local have
    have=$(for ((j = 0; j < NKEYS; j++)); do echo "DYNAMO.LOCAL $P$j"; done |
        ncli "$1" | grep -cx value)
    [ "$have" -eq "$NKEYS" ]
}
all_up() {
    local j
    for ((j = 1; j <= CL_N; j++)); do
        [ "$(info_field "$j" cluster_members_up)" = "$CL_N" ] || return 1
    done
}
# full_scan I COUNT: every key a full SCAN through node I returns, sorted
# and deduplicated, into $WORK/scan; the number of calls into SCAN_CALLS.
full_scan() {
    local cur=0 out
    SCAN_CALLS=0
    : >"$WORK/scan.raw"
    while :; do
        out=$(ncli "$1" SCAN "$cur" COUNT "$2") || return 1
        SCAN_CALLS=$((SCAN_CALLS + 1))
        cur=$(printf '%s\n' "$out" | head -1)
        printf '%s\n' "$out" | tail -n +2 | sed '/^$/d' >>"$WORK/scan.raw"
        [ "$cur" = 0 ] && break
        [ "$SCAN_CALLS" -gt 1000 ] && return 1
    done
    sort -u "$WORK/scan.raw" >"$WORK/scan"
}
# check_all WHAT: DBSIZE, KEYS and a full SCAN through every node give
# exactly the keys in $EXP.
check_all() {
    local i want got
    want=$(wc -l <"$EXP")
    for ((i = 1; i <= CL_N; i++)); do
        got=$(ncli "$i" DBSIZE)
        assert_eq "$want" "$got" "$1: DBSIZE through n$i"
        ncli "$i" KEYS "$P*" | sort >"$WORK/keys"
        if cmp -s "$EXP" "$WORK/keys"; then
            ok "$1: KEYS through n$i lists exactly the $want keys"
        else
            fail "$1: KEYS through n$i: $(comm -23 "$EXP" "$WORK/keys" | wc -l) missing, $(comm -13 "$EXP" "$WORK/keys" | wc -l) extra"
        fi
        if full_scan "$i" 100 && cmp -s "$EXP" "$WORK/scan"; then
            ok "$1: a full SCAN through n$i returns exactly the $want keys"
        else
            fail "$1: SCAN through n$i: $(comm -23 "$EXP" "$WORK/scan" | wc -l) missing, $(comm -13 "$EXP" "$WORK/scan" | wc -l) extra"
        fi
    done
}

cluster_start 3 --anti-entropy-interval-ms 0 --hint-max-bytes 0

# ---- 1. every node holds every key; SCAN in a few calls
bad=$(for ((j = 0; j < NKEYS; j++)); do echo "SET $P$j v$j"; done | ncli 1 | grep -vc '^OK$')
assert_eq 0 "$bad" "$NKEYS keys written through n1"
all_hold() { holds_all 1 && holds_all 2 && holds_all 3; }
wait_for 60 all_hold || harness_error "the keys did not reach every replica"
for ((j = 0; j < NKEYS; j++)); do echo "$P$j"; done | sort >"$EXP"
if full_scan 1 1000; then
    [ "$SCAN_CALLS" -le 4 ] &&
        ok "a full SCAN with COUNT 1000 over $NKEYS keys took $SCAN_CALLS calls" ||
        fail "a full SCAN with COUNT 1000 over $NKEYS keys took $SCAN_CALLS calls (one per partition?)"
    cmp -s "$EXP" "$WORK/scan" && [ "$(wc -l <"$WORK/scan.raw")" -eq "$NKEYS" ] &&
        ok "it returned every key, once" ||
        fail "it returned $(wc -l <"$WORK/scan.raw") keys, $(wc -l <"$WORK/scan") distinct"
else
    fail "SCAN did not finish"
fi
check_all "in sync"

# ---- 2. n3 misses some deletes
dels=()
for ((j = 0; j < NKEYS && ${#dels[@]} < 20; j++)); do
    set -- $(replicas "$P$j")
    { [ "$1" = 3 ] || [ "$2" = 3 ]; } && dels+=("$P$j")
done
[ "${#dels[@]}" -ge 5 ] || harness_error "no keys with n3 among their first two replicas"
assert_eq OK "$(ncli 3 DYNAMO.KILL)" "n3 plays dead"
for k in "${dels[@]}"; do
    r=$(ncli 1 DEL "$k")
    [ "$r" = 1 ] || fail "DEL $k through n1 while n3 is down: $r"
done
assert_eq OK "$(ncli 3 DYNAMO.REVIVE)" "n3 revived"
wait_for 60 all_up || harness_error "n3 is not seen up again"
stale=0
for k in "${dels[@]}"; do
    [ "$(ncli 3 DYNAMO.LOCAL "$k" | grep -cx value)" -ge 1 ] && stale=$((stale + 1))
done
assert_eq "${#dels[@]}" "$stale" "n3 still holds the ${#dels[@]} deleted keys' values"
printf '%s\n' "${dels[@]}" | sort >"$WORK/dels"
comm -23 "$EXP" "$WORK/dels" >"$EXP.new" && mv "$EXP.new" "$EXP"
check_all "n3 stale"

# ---- 3. n2 loses its data
ctool restart 2 --empty >/dev/null || { fail "restart n2 --empty"; finish; }
wait_for 60 all_up || harness_error "n2 is not seen up again"
assert_eq 0 "$(ncli 2 DYNAMO.LOCAL "$P""0" | grep -cx value)" "n2 came back empty"
check_all "n2 wiped"
assert_eq 0 "$(info_sum read_repairs)" "no read repair (no client reads)"
assert_eq 0 "$(ncli 2 DYNAMO.LOCAL "$P""1" | grep -cx value)" \
    "n2 is still empty: the answers came from the merge, not a repair"
finish
