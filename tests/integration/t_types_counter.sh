#!/usr/bin/env bash
# t_types_counter.sh -- INCR and its family as PN-counters in a cluster
# (issue #14, docs/TYPES.md section 5), driven by real clients.
#
# Two clusters: 3 nodes (r=1 w=1, so a node cut off alone still takes
# increments: an increment reads the key's state with R and writes with W;
# storage disk with appendfsync always, so an acknowledged increment
# survives a kill -9 of the only node that had stored it) and 5 nodes
# (the defaults N=3 R=2 W=2, storage memory: a killed node comes back
# empty, as a new incarnation).  On each:
#   - counter_load.py runs one python3-redis client per node, each with a
#     bounded loop (a count, a time, and a stop file) of INCRBY/DECRBY with
#     random amounts on one key and INCRBYFLOAT on a second one, recording
#     each acknowledged reply; an increment that got an error reply (or a
#     timeout, or a broken connection) is unknown and counted apart.
#     Partition run: mid-load DYNAMO.FAULT cuts the cluster in two, every
#     client takes increments on both sides, then the cut heals.  Crash
#     run: mid-load one node is killed -9 and restarted.  Afterwards every
#     node's GET must reach exactly the sum of the acknowledged increments
#     (or, when some got an error, a value between the acknowledged sum
#     plus the unknown decrements and plus the unknown increments: the
#     output says so), and every replica's own copy (DYNAMO.LOCAL without
#     the clock renderings) the same bytes.
#   - Observed reset across a cut: both sides hold 5; one side SETs 10
#     while the other INCRBYs 3; after the heal every node reads 13.  DEL
#     against a concurrent INCRBY 2 reads 2.  On a key neither side held,
#     SET 100 against a concurrent INCRBY 3 reads 103 (the counter and the
#     string stay two siblings, read as one value), and an INCR after the
#     heal makes them one version: 104.
# On the 3-node cluster also: SET k 5 then INCR through another node is 6;
# INCR on a non-integer string and an INCRBY that overflows answer Redis's
# error texts (compared with a real redis-server); TYPE string, OBJECT
# ENCODING pn-counter.
#
# No timing assertion: waits are polls with generous deadlines.  Env:
# COUNTER_SEED (the load's random amounts).
. "$(dirname "$0")/cluster_lib.sh"
"$PYTHON" -c 'import redis' 2>/dev/null || skip "python3-redis is missing"

LOAD="$TOP_SRCDIR/tests/integration/counter_load.py"
SEED=${COUNTER_SEED:-$RANDOM}
echo "# COUNTER_SEED=$SEED"

# status_of I NAME: node I's view of member NAME.
status_of() {
    ncli "$1" DYNAMO.MEMBERS | awk -v o="$2" '
        prev == "name" { on = ($0 == o) } on && prev == "status" { print; exit }
        { prev = $0 }'
}
SIDE_A="" SIDE_B=""
# cut "A nodes" "B nodes": drops all traffic between the two sides.
cut() {
    local a b bad=0
    SIDE_A=$1 SIDE_B=$2
    for a in $SIDE_A; do for b in $SIDE_B; do
        [ "$(ncli "${SIDE_A%% *}" DYNAMO.FAULT "n$a" "n$b" DROP BOTH)" = OK ] || bad=$((bad + 1))
    done; done
    [ "$bad" = 0 ] || fail "DYNAMO.FAULT refused $bad of the cut's pairs"
    if wait_for 20 cut_seen; then ok "cut {$SIDE_A} | {$SIDE_B}: each side sees the other down"
    else fail "cut {$SIDE_A} | {$SIDE_B}: the sides do not see each other down in 20 s"; fi
}
cut_seen() {
    local a b
    for a in $SIDE_A; do for b in $SIDE_B; do
        [ "$(status_of "$a" "n$b")" = down ] || return 1
        [ "$(status_of "$b" "n$a")" = down ] || return 1
    done; done
}
all_up() {
    local i
    for ((i = 1; i <= CL_N; i++)); do
        [ "$(info_field "$i" cluster_members_up)" = "$CL_N" ] || return 1
    done
}
heal() {
    local i
    assert_eq OK "$(ncli "${SIDE_A%% *}" DYNAMO.FAULT CLEAR ALL)" "DYNAMO.FAULT CLEAR ALL heals the cut"
    for ((i = 1; i <= CL_N; i++)); do
        [ -z "$(ncli "$i" DYNAMO.FAULT LIST)" ] || fail "n$i still has faults after CLEAR ALL"
    done
    wait_for 30 all_up || fail "not every node sees $CL_N members up 30 s after the heal"
}
all_ports() {
    local i s=""
    for ((i = 1; i <= CL_N; i++)); do s="$s${s:+,}$(nport "$i")"; done
    echo "$s"
}

# ---- the load ---------------------------------------------------------------
LPID=0
load_start() {  # load_start TAG: keys TAG:i and TAG:f
    rm -f "$WORK/stop" "$WORK/progress" "$WORK/state.json"
    "$PYTHON" "$LOAD" load --ports "$(all_ports)" --ikey "$1:i" --fkey "$1:f" \
        --state "$WORK/state.json" --progress "$WORK/progress" \
        --stop "$WORK/stop" --seed "$SEED" --max-ops 20000 --seconds 240 \
        >"$WORK/load.out" 2>&1 &
    LPID=$!
    track_pid "$LPID"
}
PROG_BASE=()
# mark: remembers each client's acknowledged count now.
mark() {
    PROG_BASE=()
    read -r -a PROG_BASE 2>/dev/null <"$WORK/progress"
}
# advanced MIN [SKIP]: every client (but client SKIP, 1-based) has MIN
# more acknowledged increments than at the last mark.
advanced() {
    local cur=() i
    read -r -a cur 2>/dev/null <"$WORK/progress" || return 1
    [ "${#cur[@]}" = "$CL_N" ] || return 1
    for ((i = 0; i < CL_N; i++)); do
        [ "$((i + 1))" = "${2:-0}" ] && continue
        [ "${cur[$i]}" -ge $(( ${PROG_BASE[$i]:-0} + $1 )) ] || return 1
    done
}
load_alive() { kill -0 "$LPID" 2>/dev/null; }
# load_stop WHAT: stops the load, prints its output, checks the sums.
load_stop() {
    local what=$1 tag=$2 k i
    touch "$WORK/stop"
    wait_for 30 eval '! load_alive' || fail "$what: the load did not stop 30 s after its stop file"
    wait "$LPID"
    local rc=$?
    untrack_pid "$LPID"
    sed 's/^/#   /' "$WORK/load.out"
    assert_eq 0 "$rc" "$what: the load ran and acknowledged increments through every node"
    [ -f "$WORK/state.json" ] || { fail "$what: no state from the load"; return; }
    if "$PYTHON" "$LOAD" check --ports "$(all_ports)" --state "$WORK/state.json" \
        --deadline 120 >"$WORK/check.out" 2>&1; then
        ok "$what: every node's GET reaches the acknowledged sums"
    else
        fail "$what: the counters do not reach the acknowledged sums within 120 s"
    fi
    sed 's/^/#   /' "$WORK/check.out"
    for k in "$tag:i" "$tag:f"; do
        if wait_for 60 same_copies "$k"; then
            ok "$what: $k: its replicas ($(replicas "$k")) hold the same bytes (DYNAMO.LOCAL)"
        else
            for i in $(replicas "$k"); do
                echo "# n$i DYNAMO.LOCAL $k: $(local_sig "$i" "$k" | tr '\n' ' ')"
            done
            fail "$what: $k: the replicas' own copies differ 60 s after the load"
        fi
    done
}
# same_copies KEY: the key's 3 replicas are known, and every replica's
# DYNAMO.LOCAL (clock renderings aside) is the same, and not empty.
same_copies() {
    local i first="" s reps
    reps=$(replicas "$1")
    [ "$(wc -w <<<"$reps")" = 3 ] || return 1
    for i in $reps; do
        s=$(local_sig "$i" "$1")
        [ -n "$s" ] || return 1
        if [ -z "$first" ]; then first=$s
        elif [ "$s" != "$first" ]; then return 1; fi
    done
}

partition_run() {  # partition_run TAG "A nodes" "B nodes"
    local tag=$1
    load_start "$tag"
    mark
    wait_for 60 advanced 20 || fail "$tag: the load did not start on every node"
    cut "$2" "$3"
    mark
    if wait_for 90 advanced 20; then
        ok "$tag: every client (through both sides) had 20 more increments acknowledged during the cut"
    else
        fail "$tag: not every client took increments during the cut: $(cat "$WORK/progress") from ${PROG_BASE[*]}"
    fi
    heal
    mark
    wait_for 60 advanced 20 || fail "$tag: not every client took increments after the heal"
    load_stop "$tag: partition {$2} | {$3} mid-load" "$tag"
}

crash_run() {  # crash_run TAG VICTIM
    local tag=$1 v=$2
    load_start "$tag"
    mark
    wait_for 60 advanced 20 || fail "$tag: the load did not start on every node"
    ctool kill "$v" >/dev/null 2>&1 || fail "$tag: dynamo-cluster kill $v"
    mark
    wait_for 60 advanced 20 "$v" || fail "$tag: the other clients took no increments with n$v dead"
    ctool restart "$v" >/dev/null 2>&1 || fail "$tag: dynamo-cluster restart $v"
    wait_for 30 all_up || fail "$tag: not every node sees $CL_N members up after n$v's restart"
    mark
    if wait_for 90 advanced 20; then
        ok "$tag: n$v killed -9 mid-load and restarted; every client took increments afterwards"
    else
        fail "$tag: not every client took increments after n$v's restart: $(cat "$WORK/progress")"
    fi
    load_stop "$tag: kill -9 of n$v mid-load" "$tag"
}

# ---- observed reset and DEL across a cut -------------------------------------
# pick_key PREFIX: a key whose replicas lie on both sides of the next cut
# (SIDE_A/SIDE_B given as arguments), printed with a replica on each side:
# "key a b".
pick_key() {
    local p=$1 A=$2 B=$3 j r x a b
    for ((j = 0; j < 200; j++)); do
        a="" b=""
        r=$(replicas "$p$j")
        for x in $r; do
            case " $A " in *" $x "*) [ -z "$a" ] && a=$x ;; esac
            case " $B " in *" $x "*) [ -z "$b" ] && b=$x ;; esac
        done
        if [ -n "$a" ] && [ -n "$b" ]; then echo "$p$j $a $b"; return 0; fi
    done
    return 1
}
# all_read KEY VALUE: every node's GET is VALUE.
all_read() {
    local i
    for ((i = 1; i <= CL_N; i++)); do
        [ "$(ncli "$i" GET "$1")" = "$2" ] || return 1
    done
}
# replicas_hold KEY VALUE: every replica's own copy shows VALUE.
replicas_hold() {
    local i
    for i in $(replicas "$1"); do
        [ "$(local_values "$i" "$1")" = "$2" ] || return 1
    done
}
all_reads() {
    local i s=""
    for ((i = 1; i <= CL_N; i++)); do s="$s n$i=$(ncli "$i" GET "$1")"; done
    echo "$s"
}

reset_runs() {  # reset_runs TAG "A nodes" "B nodes"
    local tag=$1 A=$2 B=$3 rk ra rb dk da db fk fa fb
    read -r rk ra rb <<<"$(pick_key "$tag:reset:" "$A" "$B")"
    read -r dk da db <<<"$(pick_key "$tag:del:" "$A" "$B")"
    read -r fk fa fb <<<"$(pick_key "$tag:family:" "$A" "$B")"
    if [ -z "$rk" ] || [ -z "$dk" ] || [ -z "$fk" ]; then
        fail "$tag: no key with replicas on both sides of {$A} | {$B}"; return
    fi
    echo "# $rk: replicas $(replicas "$rk"), SET through n$ra, INCRBY through n$rb"
    echo "# $dk: replicas $(replicas "$dk"), DEL through n$da, INCRBY through n$db"
    assert_eq 5 "$(ncli "$ra" INCRBY "$rk" 5)" "$tag: INCRBY $rk 5 through n$ra"
    assert_eq 5 "$(ncli "$db" INCRBY "$dk" 5)" "$tag: INCRBY $dk 5 through n$db"
    if wait_for 30 replicas_hold "$rk" 5 && wait_for 30 replicas_hold "$dk" 5; then
        ok "$tag: every replica of both keys holds 5 before the cut"
    else
        fail "$tag: the replicas do not all hold 5: $rk [$(for i in $(replicas "$rk"); do local_values "$i" "$rk"; done | tr '\n' ' ')]"
    fi
    cut "$A" "$B"
    assert_eq OK "$(ncli "$ra" SET "$rk" 10)" "$tag: side {$A}: SET $rk 10 through n$ra"
    assert_eq 8 "$(ncli "$rb" INCRBY "$rk" 3)" "$tag: side {$B}: INCRBY $rk 3 through n$rb (it saw 5)"
    assert_eq 1 "$(ncli "$da" DEL "$dk")" "$tag: side {$A}: DEL $dk through n$da"
    assert_eq 7 "$(ncli "$db" INCRBY "$dk" 2)" "$tag: side {$B}: INCRBY $dk 2 through n$db (it saw 5)"
    assert_eq OK "$(ncli "$fa" SET "$fk" 100)" "$tag: side {$A}: SET $fk 100 through n$fa (a key nobody held)"
    assert_eq 3 "$(ncli "$fb" INCRBY "$fk" 3)" "$tag: side {$B}: INCRBY $fk 3 through n$fb"
    assert_eq 10 "$(ncli "$ra" GET "$rk")" "$tag: side {$A} reads its SET"
    heal
    if wait_for 60 all_read "$fk" 103; then
        ok "$tag: after the heal every node reads 103 (the SET's 100 is the base, the concurrent +3 counts)"
    else
        fail "$tag: $fk after the heal:$(all_reads "$fk") (want 103)"
    fi
    if wait_for 60 same_copies "$fk"; then ok "$tag: $fk: the replicas hold the same bytes (the string beside the counter)"
    else fail "$tag: $fk: the replicas' own copies differ"; fi
    assert_eq 103 "$(ncli "$fb" DYNAMO.GET "$fk" | tail -n +2 | tr '\n' ' ' | sed 's/ $//')" \
        "$tag: DYNAMO.GET $fk through n$fb answers one value, the family's 103"
    assert_eq 104 "$(ncli "$fa" INCR "$fk")" "$tag: INCR $fk through n$fa after the heal: 104"
    if wait_for 60 all_read "$fk" 104; then ok "$tag: every node reads 104"
    else fail "$tag: $fk after the INCR:$(all_reads "$fk") (want 104)"; fi
    if wait_for 60 all_read "$rk" 13; then
        ok "$tag: after the heal every node reads 13 (the SET reset the 5 it saw; the concurrent +3 survives)"
    else
        fail "$tag: $rk after the heal:$(all_reads "$rk") (want 13)"
    fi
    if wait_for 60 all_read "$dk" 2; then
        ok "$tag: after the heal every node reads 2 (the DEL removed the 5 it saw; the concurrent +2 survives)"
    else
        fail "$tag: $dk after the heal:$(all_reads "$dk") (want 2)"
    fi
    for k in "$rk" "$dk"; do
        if wait_for 60 same_copies "$k"; then ok "$tag: $k: the replicas hold the same bytes"
        else fail "$tag: $k: the replicas' own copies differ"; fi
    done
    assert_eq string "$(ncli "$rb" TYPE "$rk")" "$tag: TYPE $rk is string"
    assert_eq pn-counter "$(ncli "$ra" OBJECT ENCODING "$rk")" "$tag: OBJECT ENCODING $rk is pn-counter"
}

# ============================== 3 nodes =====================================
cluster_start 3 --r 1 --w 1 --storage disk --appendfsync always \
    --suspect-timeout-ms 500 --down-timeout-ms 1500

# Redis's own texts, from a real redis-server
start_redis
rport=$SRV_PORT
rcli() { timeout 10 redis-cli -h 127.0.0.1 -p "$rport" "$@"; }
rcli SET word abc >/dev/null
want_noint=$(rcli INCR word)
rcli INCRBY big 9223372036854775807 >/dev/null
want_ovf=$(rcli INCRBY big 9223372036854775807)
echo "# redis-server says [$want_noint] and [$want_ovf]"

assert_eq OK "$(ncli 1 SET s5 5)" "SET s5 5 through n1"
assert_eq 6 "$(ncli 2 INCR s5)" "INCR s5 through n2 counts from the string: 6"
assert_eq 6 "$(ncli 3 GET s5)" "GET s5 through n3 reads 6"
assert_eq OK "$(ncli 1 SET word abc)" "SET word abc"
assert_eq "$want_noint" "$(ncli 2 INCR word)" "INCR on a non-integer string: Redis's error"
assert_eq abc "$(ncli 3 GET word)" "the failed INCR left the string alone"
assert_eq 9223372036854775807 "$(ncli 1 INCRBY big 9223372036854775807)" "INCRBY big INT64_MAX"
assert_eq "$want_ovf" "$(ncli 2 INCRBY big 9223372036854775807)" "INCRBY big INT64_MAX again: Redis's overflow error"
assert_eq 9223372036854775807 "$(ncli 3 GET big)" "the overflowing INCRBY left the counter alone"
assert_eq string "$(ncli 1 TYPE big)" "TYPE of a counter is string"
assert_eq pn-counter "$(ncli 1 OBJECT ENCODING big)" "OBJECT ENCODING of a counter is pn-counter"

reset_runs c3 "1 2" "3"
partition_run c3p "1 2" "3"
crash_run c3k 2
cluster_stop

# ============================== 5 nodes =====================================
cluster_start 5 --suspect-timeout-ms 500 --down-timeout-ms 1500
reset_runs c5 "1 2 3" "4 5"
partition_run c5p "1 2 3" "4 5"
crash_run c5k 4
finish
