#!/usr/bin/env bash
# t_cluster_failover.sh -- sloppy quorum and durable hinted handoff on a
# 5-node cluster (N=3, R=2, W=2, storage disk), issue #4 tests 1-3.
#
#   1. kill -9 node V, make 1000 SETs through the others: all succeed, and
#      the stand-ins hold one hint for V per key V replicates.  Restart V:
#      within 5 s it holds every key it replicates, every key is on exactly
#      its N replicas, and every hint store is empty.
#   2. the same with DYNAMO.KILL V and DYNAMO.REVIVE V (relayed by n1).
#   3. hint durability: DYNAMO.KILL V, 500 SETs, then kill -9 the node
#      holding the most hints for V before V comes back.  Revive V (the
#      other holders deliver), restart the killed holder: its hints, replayed
#      from its hint store, reach V too, and the checks of 1 hold.
. "$(dirname "$0")/cluster_lib.sh"

V=3
CHECK="$TOP_SRCDIR/tests/integration/cluster_check.py"
cluster_start 5 --storage disk --suspect-timeout-ms 500 --down-timeout-ms 1500
"$PYTHON" -c 'import redis' 2>/dev/null || skip "python3-redis is missing"
OTHERS="1,2,4,5"

# hints_for NODE: hints for nV held by node NODE (DYNAMO.HINTS rows).
hints_for() {
    ncli "$1" DYNAMO.HINTS | awk -v o="n$V" 'c == 1 { print; exit } $0 == o { c = 1 }'
}
hints_total() {
    local i t=0 h
    for i in 1 2 4 5; do h=$(hints_for "$i"); t=$((t + ${h:-0})); done
    echo "$t"
}
pending_all_zero() {
    local i p
    for i in 1 2 3 4 5; do
        p=$(info_field "$i" hints_pending)
        [ "$p" = 0 ] || return 1
    done
}
seen_down_by_all() {
    local i
    for i in 1 2 4 5; do
        ncli "$i" DYNAMO.MEMBERS | awk -v o="n$V" '
            prev == "name" { on = ($0 == o) } on && prev == "status" { s = $0 }
            { prev = $0 } END { exit s != "down" }' || return 1
    done
}
placement_ok() {
    "$PYTHON" "$CHECK" placement "$CL_BASE" 5 "$1" "$2" >"$WORK/placement.out" 2>&1
}

phase() { # phase NAME PREFIX COUNT: the writes and the hint count
    local name=$1 prefix=$2 count=$3 owed held
    "$PYTHON" "$CHECK" write "$CL_BASE" "$OTHERS" "$prefix" "$count"
    assert_eq 0 "$?" "$name: $count SETs with n$V down all succeed (W=2)"
    owed=$("$PYTHON" "$CHECK" owed "$CL_BASE" "$V" "$prefix" "$count")
    held=$(hints_total)
    echo "# $name: $owed keys have n$V among their replicas; $held hints for it on the stand-ins"
    assert_eq "$owed" "$held" "$name: one hint for n$V per key it replicates, on the other nodes"
}

recovered() { # recovered NAME PREFIX COUNT T0_MS
    local name=$1 prefix=$2 count=$3 t0=$4 t
    if wait_for 5 pending_all_zero; then
        t=$(( $(date +%s%N) / 1000000 - t0 ))
        ok "$name: every hint store is empty ${t} ms after n$V is back"
    else
        fail "$name: hints still pending 5 s after n$V came back: $(for i in 1 2 3 4 5; do printf 'n%s=%s ' "$i" "$(info_field "$i" hints_pending)"; done)"
    fi
    if placement_ok "$prefix" "$count"; then
        ok "$name: n$V holds every key it replicates, and every key is on exactly its 3 replicas"
    else
        fail "$name: placement: $(head -5 "$WORK/placement.out" | tr '\n' ' ')"
    fi
}

# -- 1. kill -9
ctool kill "$V" >/dev/null
phase "kill -9" "fa:" 1000
t0=$(( $(date +%s%N) / 1000000 ))
ctool restart "$V" >/dev/null 2>&1
recovered "kill -9" "fa:" 1000 "$t0"
sloppy=$(( $(info_field 1 sloppy_writes) + $(info_field 2 sloppy_writes) + $(info_field 4 sloppy_writes) + $(info_field 5 sloppy_writes) ))
assert_match '^[1-9]' "$sloppy" "INFO sloppy_writes counts the writes taken by stand-ins ($sloppy)"
delivered=$(( $(info_field 1 hints_delivered) + $(info_field 2 hints_delivered) + $(info_field 4 hints_delivered) + $(info_field 5 hints_delivered) ))
assert_match '^[1-9]' "$delivered" "INFO hints_delivered counts the deliveries ($delivered)"

# -- 2. DYNAMO.KILL / DYNAMO.REVIVE
assert_eq OK "$(ncli "$V" DYNAMO.KILL)" "DYNAMO.KILL on n$V"
assert_match '^KILLED' "$(ncli "$V" SET x y)" "a killed node refuses data commands"
assert_eq PONG "$(ncli "$V" PING)" "a killed node still answers admin commands"
if wait_for 10 seen_down_by_all; then ok "every other node marks the killed n$V down"
else fail "n$V is not down everywhere 10 s after DYNAMO.KILL"; fi
phase "DYNAMO.KILL" "fb:" 1000
t0=$(( $(date +%s%N) / 1000000 ))
assert_eq OK "$(ncli 1 DYNAMO.REVIVE "n$V")" "DYNAMO.REVIVE n$V, relayed by n1"
recovered "DYNAMO.KILL" "fb:" 1000 "$t0"
assert_match '^OK' "$(ncli "$V" SET fb:after x)" "the revived node takes data commands again"

# -- 3. the hints survive a kill -9 of the node that holds them
assert_eq OK "$(ncli "$V" DYNAMO.KILL)" "DYNAMO.KILL n$V again"
wait_for 10 seen_down_by_all || fail "n$V not down everywhere"
phase "durability" "fc:" 500
H=0 best=0
for i in 1 2 4 5; do
    h=$(hints_for "$i"); h=${h:-0}
    if [ "$h" -gt "$best" ]; then best=$h; H=$i; fi
done
echo "# n$H holds $best hints for n$V: kill -9 it"
ctool kill "$H" >/dev/null
R=1; [ "$H" = 1 ] && R=2
assert_eq OK "$(ncli "$R" DYNAMO.REVIVE "n$V")" "DYNAMO.REVIVE n$V (through n$R) while n$H is dead"
t0=$(( $(date +%s%N) / 1000000 ))
ctool restart "$H" >/dev/null 2>&1
replayed=$(hints_for "$H")
echo "# n$H restarted with ${replayed:-0} hints for n$V (replayed from its hint store)"
recovered "durability" "fc:" 500 "$t0"
assert_match '^[1-9]' "$(info_field "$H" hints_delivered)" "the restarted n$H delivered the hints it had on disk"

# -- 4. the budget: hints beyond hint-max-bytes are dropped and counted,
# and anti-entropy carries what they would have
for i in 1 2 4 5; do ncli "$i" CONFIG SET hint-max-bytes 1000 >/dev/null; done
assert_eq OK "$(ncli "$V" DYNAMO.KILL)" "DYNAMO.KILL n$V for the budget"
wait_for 10 seen_down_by_all || fail "n$V not down everywhere"
"$PYTHON" "$CHECK" write "$CL_BASE" "$OTHERS" "fd:" 300
assert_eq 0 "$?" "300 SETs with n$V down and a 1000-byte hint budget all succeed"
dropped=0 pend=0
for i in 1 2 4 5; do
    dropped=$((dropped + $(info_field "$i" hints_dropped)))
    b=$(info_field "$i" hints_pending_bytes)
    [ "$b" -le 1000 ] || fail "n$i holds $b bytes of hints over a 1000-byte budget"
    pend=$((pend + $(info_field "$i" hints_pending)))
done
echo "# $pend hints kept, $dropped dropped over the budget"
assert_match '^[1-9]' "$dropped" "INFO hints_dropped counts the hints over the budget"
assert_eq OK "$(ncli 1 DYNAMO.REVIVE "n$V")" "DYNAMO.REVIVE n$V"
wait_for 10 pending_all_zero || fail "the kept hints were not delivered"
# the stand-ins hand their copies without hints to the owners (orphan
# sweep), anti-entropy covers the coordinators' own dropped hints
for i in 1 2 3 4 5; do ncli "$i" DYNAMO.AE ALL >/dev/null; done
if wait_for 10 placement_ok "fd:" 300; then
    ok "n$V got the writes whose hints were dropped; no stand-in keeps a copy"
else
    fail "after DYNAMO.AE ALL: $(head -5 "$WORK/placement.out" | tr '\n' ' ')"
fi

# -- 5. DYNAMO.KILL with a duration ends by itself
assert_eq OK "$(ncli "$V" DYNAMO.KILL 1)" "DYNAMO.KILL 1 (one second)"
assert_match '^KILLED' "$(ncli "$V" SET x y)" "refused while killed"
alive_again() { [ "$(ncli "$V" SET x y)" = OK ]; }
if wait_for 5 alive_again; then ok "the node takes data commands again once the second is over"
else fail "still killed 5 s after DYNAMO.KILL 1"; fi
# a duration past the clock's range saturates (it wrapped to a deadline in
# the past, and the node revived at once): still killed 2 s later
assert_eq OK "$(ncli "$V" DYNAMO.KILL 18446744073709551615)" "DYNAMO.KILL 2^64-1 seconds"
sleep 2
assert_match '^KILLED' "$(ncli "$V" SET x y)" "still killed 2 s later (the deadline did not wrap)"
assert_eq OK "$(ncli "$V" DYNAMO.REVIVE)" "DYNAMO.REVIVE ends it"
if wait_for 5 alive_again; then ok "and the node takes data commands again"
else fail "still killed after DYNAMO.REVIVE"; fi
assert_match 'ERR syntax' "$(ncli 1 DYNAMO.KILL n2 x)" "DYNAMO.KILL with a bad duration is a syntax error"
assert_match 'ERR unknown member' "$(ncli 1 DYNAMO.KILL nobody)" "DYNAMO.KILL of an unknown member is an error"
assert_match 'ERR syntax' "$(ncli 1 DYNAMO.FAULT n1 n2 SPLIT)" "DYNAMO.FAULT with a bad kind is a syntax error"
assert_match 'ERR unknown member' "$(ncli 1 DYNAMO.FAULT n1 nobody DROP)" "DYNAMO.FAULT with an unknown member is an error"
finish
