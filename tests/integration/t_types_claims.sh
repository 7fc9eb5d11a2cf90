#!/usr/bin/env bash
# t_types_claims.sh -- a set, a hash, a sorted set and a list in a 3-node
# cluster (N=3: every node coordinates every key) written through one node
# while it writes other keys in between, so its dot counter moves on
# between two writes of each value (docs/TYPES.md, "Claims"):
#   - with the typed state cache on (the default), the node claims the
#     dots it gave other keys into each value's context: every replica's
#     copy keeps its context in at most one cloud range per writer;
#   - with typed-cache-size 0 (no memory of what was issued) the same
#     writes leave a cloud range per write, which is what the claims save;
#   - either way every replica reads the same, complete values.
# Anti-entropy is kept out of the way, the root sweep too: an exchange
# that finds every replica equal compacts, which folds the writes before
# it into the clock (correct, but then the cloud no longer shows one range
# per write; a loaded machine gave such sweeps their chance mid-load).
. "$(dirname "$0")/cluster_lib.sh"

# A request timeout of 5 s: under ASan on a busy 2-CPU machine a write can
# miss the default 1 s (NOQUORUM), and a read of two replicas that lack it
# then misses an element (an ASan run beside the plain suite saw so).
cluster_start 3 --n 3 --r 2 --w 2 --request-timeout-ms 5000 \
    --anti-entropy-interval-ms 3600000 \
    --anti-entropy-sweep-interval-ms 3600000

# ranges I KEY: the cloud ranges of node I's copy (DYNAMO.LOCAL's state).
ranges() {
    ncli "$1" DYNAMO.LOCAL "$2" | sed -n 's/.*cloud[ =][0-9]* dots in \([0-9]*\) ranges.*/\1/p' | head -1
}
# other_key PREFIX: a key whose coordinator (its first replica) is the
# set's, so that every write of it takes that node's next dot and leaves
# the set a gap (keys are placed by hash: which node coordinates a given
# key is not up to the test).
other_key() {
    local co i
    co=$(replicas "${1}s" | cut -d' ' -f1)
    for ((i = 0; i < 500; i++)); do
        [ "$(replicas "${1}other$i" | cut -d' ' -f1)" = "$co" ] && { echo "${1}other$i"; return 0; }
    done
    return 1
}
# load PREFIX: 200 rounds through n1 of one write to each typed value and
# two writes of another key that the set's coordinator coordinates too.
load() {
    local p=$1 i o
    o=$(other_key "$p") || harness_error "no key coordinated with ${p}s"
    for ((i = 1; i <= 200; i++)); do
        echo "SADD ${p}s m$((i % 50))"
        echo "SET $o v$i"
        echo "HSET ${p}h f$((i % 20)) $i"
        echo "SET $o w$i"
        echo "ZADD ${p}z $i m$((i % 30))"
        echo "RPUSH ${p}l $i"
    done | ncli 1 | grep -c -i -E "err|noquorum"
}
check_values() {
    local p=$1 what=$2 i bad=0
    for i in 1 2 3; do
        [ "$(ncli $i SCARD ${p}s)" = 50 ] || bad=$((bad + 1))
        [ "$(ncli $i HLEN ${p}h)" = 20 ] || bad=$((bad + 1))
        [ "$(ncli $i ZCARD ${p}z)" = 30 ] || bad=$((bad + 1))
        [ "$(ncli $i LLEN ${p}l)" = 200 ] || bad=$((bad + 1))
    done
    assert_eq 0 "$bad" "$what: every node reads 50 members, 20 fields, 30 scored members, 200 elements"
    [ "$bad" = 0 ] || for i in 1 2 3; do
        echo "# n$i: $(ncli $i SCARD ${p}s) $(ncli $i HLEN ${p}h) $(ncli $i ZCARD ${p}z) $(ncli $i LLEN ${p}l)"
    done
}

# ---- claims on -------------------------------------------------------------------
assert_eq 0 "$(load a:)" "claims on: 1200 writes through n1, no error reply"
check_values a: "claims on"
worst=0
for i in 1 2 3; do
    for k in a:s a:h a:z a:l; do
        r=$(ranges $i $k)
        [ -n "$r" ] || { fail "n$i DYNAMO.LOCAL $k shows no cloud line"; continue; }
        [ "$r" -gt "$worst" ] && worst=$r
    done
done
[ "$worst" -le 1 ] && ok "claims on: every copy's cloud is at most one range (most: $worst)" \
    || fail "claims on: a copy's cloud holds $worst ranges"

# ---- claims off -------------------------------------------------------------------
# off on every node: a key's writes may be coordinated by any of them
for i in 1 2 3; do ncli $i CONFIG SET typed-cache-size 0 >/dev/null; done
assert_eq 0 "$(load b:)" "claims off: 1200 writes through n1, no error reply"
check_values b: "claims off"
# Each write above the set's clock is a range of its own.  On a loaded
# machine the failure detector may briefly hold a node down: an exchange
# at its recovery that finds every replica equal folds the earliest
# writes into the clock, and while the other key is coordinated elsewhere
# two of the set's writes may get consecutive dots.  So: most writes keep
# a range (at least half the dots), and well beyond the one range of the
# claims above.
line=$(ncli 1 DYNAMO.LOCAL b:s | sed -n 's/.*cloud[ =]\([0-9]*\) dots in \([0-9]*\) ranges.*/\1 \2/p' | head -1)
d=${line% *}; r=${line#* }
[ -n "$line" ] && [ "$r" -ge 20 ] && [ $((2 * r)) -ge "$d" ] \
    && ok "claims off: the set keeps a cloud range per write ($d dots in $r ranges)" \
    || fail "claims off: expected a range per write, n1's copy of the set has ${line:-no cloud}"
finish
