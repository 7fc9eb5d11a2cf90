#!/usr/bin/env bash
# t_cluster_repair.sh -- read repair on a 3-node cluster (N=3, R=2, W=2).
#
# Write 20 keys that all have node V among their replicas, kill -9 V, write
# new versions of half of them (W=2 holds with 2 of 3 replicas up), restart
# V empty.  Read 5 updated and 5 untouched keys with DYNAMO.GET k R 3: after
# the reply, read repair gives V the newest version of each key that was
# read, and the 10 keys that were not read stay missing on V.
# (kill -9, not SIGSTOP: a stopped process keeps its socket buffers and
# applies the writes when it resumes, so it would never be stale.)
. "$(dirname "$0")/cluster_lib.sh"

V=2
# read repair alone: 3 nodes leave no stand-in (whose copy would be handed
# to V), no hints, no anti-entropy
cluster_start 3 --hint-max-bytes 0 --anti-entropy-interval-ms 0
mapfile -t KEYS < <("$PYTHON" "$TOP_SRCDIR/tests/integration/cluster_check.py" \
    keys_on "$CL_BASE" "$V" 20 "rp:$RANDOM:")
rc=$?
[ "${#KEYS[@]}" -eq 20 ] || { [ "$rc" -eq 77 ] && skip "python3-redis is missing"; harness_error "no 20 keys on n$V"; }
echo "# 20 keys whose replicas include n$V"

bad=0
for k in "${KEYS[@]}"; do
    [ "$(ncli 1 SET "$k" "old-$k")" = OK ] || bad=$((bad + 1))
done
assert_eq 0 "$bad" "20 keys written (v1) through n1"
has_value() { [ "$(local_values "$1" "$2")" = "$3" ]; }
bad=0
for k in "${KEYS[@]}"; do
    wait_for 2 has_value "$V" "$k" "old-$k" || bad=$((bad + 1))
done
assert_eq 0 "$bad" "n$V holds v1 of every key"

ctool kill "$V" >/dev/null
assert_eq "" "$(ctool pid "$V" 2>/dev/null)" "n$V killed with SIGKILL"

# new versions of keys 0-9 while V is down: W=2 with 2 of 3 replicas
writer=1; [ "$V" = 1 ] && writer=3
bad=0
for ((i = 0; i < 10; i++)); do
    k=${KEYS[$i]}
    got=$(ncli "$writer" SET "$k" "new-$k")
    [ "$got" = OK ] || { bad=$((bad + 1)); echo "# SET $k with n$V down: $got"; }
done
assert_eq 0 "$bad" "10 keys rewritten (v2) with n$V down: W=2 met by the other 2 replicas"

ctool restart "$V" --empty >/dev/null || { fail "restart n$V --empty"; finish; }
members_all_up() {
    local j
    for ((j = 1; j <= CL_N; j++)); do
        [ "$(ncli "$j" INFO dynamo | tr -d '\r' | sed -n 's/^cluster_members_up://p')" = "$CL_N" ] || return 1
    done
}
if wait_for 15 members_all_up; then ok "n$V restarted empty and every node sees 5 members up"
else fail "not every node sees n$V up again"; fi
bad=0
for k in "${KEYS[@]}"; do
    [ -z "$(ncli "$V" DYNAMO.LOCAL "$k")" ] || bad=$((bad + 1))
done
assert_eq 0 "$bad" "n$V holds none of the 20 keys after the empty restart"

repairs_before=0
for ((j = 1; j <= CL_N; j++)); do
    repairs_before=$((repairs_before + $(info_field "$j" read_repairs)))
done

# read keys 0-4 (updated) and 10-14 (not updated) with R=3, each through a
# replica other than V, which coordinates it (V as coordinator would merge
# the answers into its own store: a repair, but not a read repair)
READ=(0 1 2 3 4 10 11 12 13 14)
bad=0
for i in "${READ[@]}"; do
    k=${KEYS[$i]}
    want="old-$k"; [ "$i" -lt 10 ] && want="new-$k"
    for r in $(replicas "$k"); do [ "$r" != "$V" ] && break; done
    got=$(ncli "$r" DYNAMO.GET "$k" R 3 | tail -n +2 | tr '\n' ' ')
    [ "$got" = "$want " ] || { bad=$((bad + 1)); echo "# DYNAMO.GET $k R 3 via n$r: [$got] want [$want]"; }
done
assert_eq 0 "$bad" "DYNAMO.GET k R 3 returns the newest version of each of the 10 keys"

bad=0
for i in "${READ[@]}"; do
    k=${KEYS[$i]}
    want="old-$k"; [ "$i" -lt 10 ] && want="new-$k"
    wait_for 3 has_value "$V" "$k" "$want" ||
        { bad=$((bad + 1)); echo "# n$V holds [$(local_values "$V" "$k")] for $k, want [$want]"; }
done
assert_eq 0 "$bad" "read repair: n$V now holds the newest version of each key that was read"

bad=0
for i in 5 6 7 8 9 15 16 17 18 19; do
    k=${KEYS[$i]}
    got=$(ncli "$V" DYNAMO.LOCAL "$k")
    [ -z "$got" ] || { bad=$((bad + 1)); echo "# n$V holds $k: [$got]"; }
done
assert_eq 0 "$bad" "the 10 keys that were not read are still missing on n$V"

repairs_after=0
for ((j = 1; j <= CL_N; j++)); do
    repairs_after=$((repairs_after + $(info_field "$j" read_repairs)))
done
if [ $((repairs_after - repairs_before)) -ge 10 ]; then
    ok "INFO read_repairs grew by at least 10 ($repairs_before -> $repairs_after)"
else
    fail "INFO read_repairs grew by $((repairs_after - repairs_before)), want >= 10"
fi

# the other replicas agree with V on every key that was read
bad=0
for i in "${READ[@]}"; do
    k=${KEYS[$i]}
    for j in $(replicas "$k"); do
        [ "$(local_values "$j" "$k")" = "$(local_values "$V" "$k")" ] || { bad=$((bad + 1)); echo "# n$j differs on $k"; }
    done
done
assert_eq 0 "$bad" "all 3 replicas of each key that was read hold the same version"

# a plain read (R=2) through a node that is not V also repairs V when V
# answers (late answers included)
k=${KEYS[5]}
for ((r = 1; r <= CL_N; r++)); do [ "$r" != "$V" ] && break; done
assert_eq "new-$k" "$(ncli "$r" GET "$k")" "plain GET (R=2) of an unread key via n$r"
if wait_for 3 has_value "$V" "$k" "new-$k"; then ok "plain GET repaired n$V too"
else fail "plain GET did not repair n$V: [$(local_values "$V" "$k")]"; fi
finish
