#!/usr/bin/env bash
# t_ae_sweep.sh -- a wiped node is made whole by anti-entropy alone, at the
# default settings, without one client read (issue #13, item 2).
#
# Anti-entropy used to compare one partition per anti-entropy-interval-ms
# (10 s), whether it differed or not: a wiped node of a 3-node cluster (256
# partitions, all replicated on every node) needed 256 x 10 s, about 43
# minutes.  Now a root sweep asks each peer for all the shared partitions'
# roots in one request (AE.ROOTS) every anti-entropy-sweep-interval-ms, and
# the partitions that differ are exchanged back to back, bounded by
# anti-entropy-max-bytes-per-sec only; a node that starts empty sweeps at
# once.
#
# 1. 3 nodes, N=3, default anti-entropy settings, hinted handoff off
#    (hint-max-bytes 0, so no hint can carry the keys back); $NKEYS keys
#    written through n1 and held by every node (DYNAMO.LOCAL).
# 2. n2 is restarted with an empty store (storage memory, --empty): within a
#    generous deadline it holds every key again, checked with DYNAMO.LOCAL
#    on n2 only; no GET is sent, and INFO read_repairs stays 0.  The old
#    pacing would need ~43 minutes, so the deadline fails it.
# 3. INFO counts the sweeps: n2's sweep found partitions different; and
#    the cluster, once in sync, sweeps on without finding any difference.
. "$(dirname "$0")/cluster_lib.sh"

NKEYS=3000
P="sw:$RANDOM:"

# holds_all I: node I's own store holds a value for every key.
holds_all() {
    local have
    have=$(for ((j = 0; j < NKEYS; j++)); do echo "DYNAMO.LOCAL $P$j"; done |
        ncli "$1" | grep -cx value)
    [ "$have" -eq "$NKEYS" ]
}
local_have() {
    for ((j = 0; j < NKEYS; j++)); do echo "DYNAMO.LOCAL $P$j"; done |
        ncli "$1" | grep -cx value
}
# ifield I NAME: INFO field NAME of node I, 0 when absent.
ifield() {
    local v
    v=$(info_field "$1" "$2")
    echo "${v:-0}"
}
sum_field() {
    local j s=0 v
    for ((j = 1; j <= CL_N; j++)); do
        v=$(info_field "$j" "$1"); s=$((s + ${v:-0}))
    done
    echo "$s"
}

cluster_start 3 --hint-max-bytes 0

# ---- 1. every node holds every key
bad=$(for ((j = 0; j < NKEYS; j++)); do echo "SET $P$j v$j"; done | ncli 1 | grep -vc '^OK$')
assert_eq 0 "$bad" "$NKEYS keys written through n1"
all_hold() { holds_all 1 && holds_all 2 && holds_all 3; }
if wait_for 60 all_hold; then ok "every node holds all $NKEYS keys"
else harness_error "the keys did not reach every replica"; fi

# ---- 2. wipe n2, no client reads
repaired0=$(sum_field ae_keys_repaired)
ctool restart 2 --empty >/dev/null || { fail "restart n2 --empty"; finish; }
if wait_for 120 holds_all 2; then
    ok "the wiped n2 holds all $NKEYS keys again, by anti-entropy alone"
else
    fail "n2 holds $(local_have 2) of $NKEYS keys 120 s after the wipe"
fi
repaired=$(( $(sum_field ae_keys_repaired) - repaired0 ))
[ "$repaired" -ge "$NKEYS" ] &&
    ok "anti-entropy repaired $repaired keys (n2 came back empty)" ||
    fail "only $repaired keys repaired: was n2 wiped?"
assert_eq 0 "$(sum_field read_repairs)" "no read repair (no client reads)"
assert_eq 0 "$(sum_field keyspace_hits)" "no client read hit a key"

# ---- 3. the counters, and an in-sync cluster's sweeps find nothing
[ "$(ifield 2 ae_sweeps)" -ge 1 ] && ok "n2 swept ($(ifield 2 ae_sweeps))" ||
    fail "INFO ae_sweeps on n2: $(ifield 2 ae_sweeps)"
[ "$(ifield 2 ae_sweep_partitions_differed)" -ge 1 ] &&
    ok "n2's sweep found $(ifield 2 ae_sweep_partitions_differed) partitions different" ||
    fail "INFO ae_sweep_partitions_differed on n2: $(ifield 2 ae_sweep_partitions_differed)"
[ "$(ifield 2 ae_sweep_roots_compared)" -ge 256 ] &&
    ok "n2 compared $(ifield 2 ae_sweep_roots_compared) roots" ||
    fail "INFO ae_sweep_roots_compared on n2: $(ifield 2 ae_sweep_roots_compared)"
queues_empty() {
    local j
    for ((j = 1; j <= CL_N; j++)); do
        [ "$(info_field "$j" ae_sweep_queued)" = 0 ] &&
            [ "$(info_field "$j" ae_running)" = 0 ] || return 1
    done
}
wait_for 60 queues_empty || fail "exchanges still queued 60 s after the repair"
# every node sweeps at least once more (a sweep that was out when the
# queues emptied may still have seen a difference), then a baseline
sweeps_past() {
    local j
    for ((j = 1; j <= CL_N; j++)); do
        [ "$(ifield "$j" ae_sweeps)" -ge "${base[$j]}" ] || return 1
    done
}
declare -a base
for ((j = 1; j <= CL_N; j++)); do base[$j]=$(( $(ifield "$j" ae_sweeps) + 2 )); done
wait_for 60 sweeps_past || fail "sweeps did not go on"
diff0=$(sum_field ae_sweep_partitions_differed)
cmp0=$(sum_field ae_sweep_roots_compared)
for ((j = 1; j <= CL_N; j++)); do base[$j]=$(( $(ifield "$j" ae_sweeps) + 3 )); done
wait_for 60 sweeps_past || fail "sweeps did not go on"
[ "$(sum_field ae_sweep_roots_compared)" -gt "$cmp0" ] &&
    ok "idle sweeps compared roots ($cmp0 -> $(sum_field ae_sweep_roots_compared))" ||
    fail "idle sweeps compared no roots"
assert_eq "$diff0" "$(sum_field ae_sweep_partitions_differed)" \
    "three idle sweeps per node found no partition different"
finish
