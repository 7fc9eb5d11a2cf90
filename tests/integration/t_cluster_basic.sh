#!/usr/bin/env bash
# t_cluster_basic.sh -- a 3-node and then a 5-node cluster, through
# redis-cli: any node takes any command; a key lives on exactly its N
# replicas; with R + W > N a read sees the latest acknowledged write;
# multi-key and keyspace commands count each key once; FLUSHALL, TTLs and
# DYNAMO.CONFIG reach every node; concurrent DYNAMO.PUTs make siblings and a
# DYNAMO.PUT with the merged context resolves them.
. "$(dirname "$0")/cluster_lib.sh"

rnd() { echo $((RANDOM % CL_N + 1)); }
other_than() { # a random node other than $1
    local j
    j=$(( (RANDOM % (CL_N - 1)) + 1 ))
    [ "$j" -ge "$1" ] && j=$((j + 1))
    echo "$j"
}
dbsize_is() { [ "$(ncli "$1" DBSIZE)" = "$2" ]; }
config_is() { [ "$(ncli "$1" DYNAMO.CONFIG GET w)" = "$2" ]; }
pycheck() { # WHAT subcommand args...: cluster_check.py
    local what=$1 rc; shift
    "$PYTHON" "$TOP_SRCDIR/tests/integration/cluster_check.py" "$@"
    rc=$?
    [ "$rc" -eq 77 ] && skip "python3-redis is missing"
    if [ "$rc" -eq 0 ]; then ok "$what"; else fail "$what"; fi
}
nvalues_on() { [ "$(local_values "$1" "$2" | grep -c .)" = "$3" ]; }

run_checks() {
    local n=$1 i j k key val got reps bad wrong
    echo "## $n nodes"

    # -- a key written through one node reads back through every node, and
    #    exactly its N (= 3) replicas hold it; R + W > N: a read through
    #    another node sees the last acknowledged write
    pycheck "$n nodes: 10 keys written via random nodes read back via every node, and each is held (DYNAMO.LOCAL) by exactly its 3 PREFLIST replicas" \
        readback "$CL_BASE" "$n" 10
    pycheck "$n nodes: R=2 W=2 N=3: 150 writes via random nodes, each read via another random node sees it" \
        rw "$CL_BASE" "$n" 150

    # -- multi-key commands across nodes
    assert_eq OK "$(ncli 1 MSET mk:a 1 mk:b 2 mk:c 3 mk:d 4 mk:e 5)" "$n nodes: MSET of 5 keys"
    assert_eq "1 2 3 4 5 " "$(ncli "$n" MGET mk:a mk:b mk:c mk:d mk:e | tr '\n' ' ')" "MGET via n$n returns all 5 in order"
    assert_eq "1  3" "$(ncli 2 MGET mk:a mk:nope mk:c | tr '\n' ' ' | sed 's/ $//')" "MGET with a missing key gives nil in its place"
    assert_eq 4 "$(ncli "$(rnd)" EXISTS mk:a mk:b mk:nope mk:c mk:a)" "EXISTS counts each existing argument (4)"
    assert_eq 2 "$(ncli "$(rnd)" DEL mk:a mk:b mk:nope)" "DEL of 2 existing + 1 missing = 2"
    assert_eq 2 "$(ncli "$(rnd)" UNLINK mk:c mk:d mk:a)" "UNLINK of 2 remaining + 1 deleted = 2"
    assert_eq 1 "$(ncli "$(rnd)" EXISTS mk:a mk:b mk:c mk:d mk:e)" "only mk:e is left"
    assert_eq "ERR wrong number of arguments for 'mset' command" "$(ncli "$(rnd)" MSET mk:odd 1 mk:odd2 2>&1)" \
        "MSET with an odd number of arguments is an arity error"
    assert_eq 0 "$(ncli "$(rnd)" EXISTS mk:odd mk:odd2)" "and writes nothing"
    bad=0
    for ((j = 1; j <= n; j++)); do
        got=$(ncli "$j" MGET mk:a mk:e | tr '\n' ' ')
        [ "$got" = " 5 " ] || { bad=$((bad + 1)); echo "# MGET via n$j: [$got]"; }
    done
    assert_eq 0 "$bad" "every node sees mk:a deleted and mk:e present"

    # -- FLUSHALL, then keyspace commands count each key once
    assert_eq OK "$(ncli "$(rnd)" FLUSHALL)" "FLUSHALL"
    bad=0
    for ((j = 1; j <= n; j++)); do
        dbsize_is "$j" 0 || { bad=$((bad + 1)); echo "# n$j DBSIZE $(ncli "$j" DBSIZE)"; }
        [ -z "$(local_values "$j" mk:e)" ] || { bad=$((bad + 1)); echo "# n$j still holds mk:e"; }
    done
    assert_eq 0 "$bad" "after FLUSHALL every node has DBSIZE 0 and no local copy"
    local args=()
    for ((k = 0; k < 50; k++)); do args+=("ks:$k" "$k"); done
    assert_eq OK "$(ncli 1 MSET "${args[@]}")" "MSET of 50 keys"
    wait_for 3 dbsize_is 1 50
    assert_eq "ERR syntax error" "$(ncli "$(rnd)" FLUSHALL BADOPT 2>&1)" "FLUSHALL BADOPT is a syntax error"
    assert_eq "ERR syntax error" "$(ncli "$(rnd)" FLUSHDB a b 2>&1)" "FLUSHDB a b is a syntax error"
    bad=0
    for ((j = 1; j <= n; j++)); do
        got=$(ncli "$j" DBSIZE)
        [ "$got" = 50 ] || { bad=$((bad + 1)); echo "# n$j DBSIZE $got"; }
        got=$(ncli "$j" KEYS '*' | sort -u | grep -c '^ks:')
        [ "$got" = 50 ] || { bad=$((bad + 1)); echo "# n$j KEYS: $got distinct"; }
        got=$(ncli "$j" KEYS '*' | grep -c .)
        [ "$got" = 50 ] || { bad=$((bad + 1)); echo "# n$j KEYS: $got entries"; }
        got=$(timeout 20 redis-cli -h 127.0.0.1 -p "$(nport "$j")" --scan | grep -c .)
        [ "$got" = 50 ] || { bad=$((bad + 1)); echo "# n$j --scan: $got entries"; }
        got=$(timeout 20 redis-cli -h 127.0.0.1 -p "$(nport "$j")" --scan --pattern 'ks:1*' | sort -u | grep -c .)
        [ "$got" = 11 ] || { bad=$((bad + 1)); echo "# n$j --scan ks:1*: $got"; }
    done
    assert_eq 0 "$bad" "DBSIZE = 50, KEYS * = 50 distinct, --scan = 50, --scan ks:1* = 11, on every node"
    got=$(ncli "$(rnd)" RANDOMKEY)
    assert_match '^ks:[0-9]+$' "$got" "RANDOMKEY returns one of the keys"
    assert_eq OK "$(ncli "$(rnd)" FLUSHALL)" "FLUSHALL again"
    bad=0
    for ((j = 1; j <= n; j++)); do
        dbsize_is "$j" 0 || { bad=$((bad + 1)); echo "# n$j DBSIZE $(ncli "$j" DBSIZE)"; }
    done
    assert_eq 0 "$bad" "FLUSHALL clears the whole cluster"

    # -- TTLs travel with the versions
    i=$(rnd); j=$(other_than "$i")
    assert_eq OK "$(ncli "$i" SET ttlkey v EX 100)" "SET EX 100 via n$i"
    got=$(ncli "$j" TTL ttlkey)
    assert_match '^(9[5-9]|100)$' "$got" "TTL via n$j is 95..100"
    got=$(ncli "$(other_than "$j")" PTTL ttlkey)
    if [ "$got" -gt 95000 ] 2>/dev/null && [ "$got" -le 100000 ]; then ok "PTTL via another node is in (95000, 100000]"
    else fail "PTTL: [$got]"; fi
    bad=0
    for j in $(replicas ttlkey); do
        got=$(ncli "$j" DYNAMO.LOCAL ttlkey | awk 'prev == "expire" { print } { prev = $0 }')
        [ "${got:-0}" -gt 0 ] 2>/dev/null || { bad=$((bad + 1)); echo "# n$j local expire [$got]"; }
    done
    assert_eq 0 "$bad" "every replica's local copy carries the expiry"
    ncli "$i" SET short v PX 300 >/dev/null
    sleep 0.5
    assert_eq "" "$(ncli "$j" GET short)" "a key set with PX 300 via n$i is gone via n$j after 500 ms"

    # -- DYNAMO.CONFIG SET reaches every node
    assert_eq OK "$(ncli 1 DYNAMO.CONFIG SET w 3)" "DYNAMO.CONFIG SET w 3 on n1"
    bad=0
    for ((j = 1; j <= n; j++)); do
        wait_for 3 config_is "$j" 3 || { bad=$((bad + 1)); echo "# n$j w = $(ncli "$j" DYNAMO.CONFIG GET w)"; }
    done
    assert_eq 0 "$bad" "w = 3 on every node"
    assert_eq OK "$(ncli "$(rnd)" SET afterw3 x)" "a write with W=3 and all nodes up succeeds"
    ncli "$n" DYNAMO.CONFIG SET w 2 >/dev/null
    bad=0
    for ((j = 1; j <= n; j++)); do
        wait_for 3 config_is "$j" 2 || bad=$((bad + 1))
    done
    assert_eq 0 "$bad" "w back to 2 on every node (set on n$n)"

    # -- siblings through two coordinators, resolved by the merged context
    key="sib:$n"
    reps=($(replicas "$key"))
    ncli "${reps[0]}" SET "$key" base >/dev/null
    wait_for 2 nvalues_on "${reps[2]}" "$key" 1
    local ctx ctx2
    ctx=$(ncli "${reps[0]}" DYNAMO.GET "$key" R 3 | head -1)
    assert_eq OK "$(ncli "${reps[0]}" DYNAMO.PUT "$key" "$ctx" left W 3)" "DYNAMO.PUT 'left' via replica n${reps[0]}"
    assert_eq OK "$(ncli "${reps[1]}" DYNAMO.PUT "$key" "$ctx" right W 3)" "DYNAMO.PUT 'right' with the same context via replica n${reps[1]}"
    got=$(ncli "$(rnd)" DYNAMO.GET "$key" R 3 | tail -n +2 | sort | tr '\n' ' ')
    assert_eq "left right " "$got" "DYNAMO.GET shows 2 siblings: left and right"
    bad=0
    for j in "${reps[@]}"; do
        got=$(local_values "$j" "$key" | tr '\n' ' ')
        [ "$got" = "left right " ] || { bad=$((bad + 1)); echo "# n$j local: [$got]"; }
    done
    assert_eq 0 "$bad" "each of the 3 replicas stores both siblings"
    ctx2=$(ncli "$(rnd)" DYNAMO.GET "$key" R 3 | head -1)
    assert_eq OK "$(ncli "$(rnd)" DYNAMO.PUT "$key" "$ctx2" merged)" "DYNAMO.PUT with the merged context"
    bad=0
    for j in "${reps[@]}"; do
        wait_for 3 nvalues_on "$j" "$key" 1
        got=$(local_values "$j" "$key" | tr '\n' ' ')
        [ "$got" = "merged " ] || { bad=$((bad + 1)); echo "# n$j local: [$got]"; }
    done
    assert_eq 0 "$bad" "siblings resolved to 1 ('merged') on every replica"
    assert_eq merged "$(ncli "$(rnd)" GET "$key")" "GET returns the resolved value"
}

cluster_start 3
run_checks 3
cluster_stop
cluster_start 5
run_checks 5
finish
