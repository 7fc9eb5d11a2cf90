#!/usr/bin/env bash
# t_status.sh -- a command's status is its handler's, wherever it runs: on a
# node alone, on the coordinator, and on another node that coordinated a
# forwarded request.  INFO commandstats' failed_calls counts exactly the
# commands that answered an error, and a write whose handler failed is not
# replicated (the key keeps its old value on every replica).
. "$(dirname "$0")/cluster_lib.sh"

is() { assert_eq "$3" "$2" "$1"; } # WHAT ACTUAL EXPECTED

failed_calls() { # NODE CMD: failed_calls of cmdstat_CMD on node NODE (0 if none)
    local v
    v=$(ncli "$1" INFO commandstats | tr -d '\r' |
        sed -n "s/^cmdstat_$2:.*failed_calls=\([0-9]*\).*/\1/p")
    echo "${v:-0}"
}
calls() { # NODE CMD
    local v
    v=$(ncli "$1" INFO commandstats | tr -d '\r' |
        sed -n "s/^cmdstat_$2:calls=\([0-9]*\),.*/\1/p")
    echo "${v:-0}"
}

# N=2 of 4 nodes: some keys have a node that is not among their replicas,
# and a command sent there is forwarded to a replica that coordinates it.
cluster_start 4 --n 2 --r 1 --w 2

key=status:k
reps=$(replicas "$key")
outside=$(nonreplica "$key")
first=${reps%% *}
is "the key's N=2 replicas are two nodes" "$(echo "$reps" | wc -w)" 2
is "SET through a replica" "$(ncli "$first" SET "$key" abc)" OK

# an INCR that fails: through the coordinator itself
before=$(failed_calls "$first" incr)
got=$(ncli "$first" INCR "$key")
case "$got" in
ERR*not\ an\ integer*) ok "INCR of a non-number through a replica is an error ($got)" ;;
*) fail "INCR of a non-number through a replica answered '$got'" ;;
esac
is "the coordinator counts it in failed_calls" \
    "$(failed_calls "$first" incr)" $((before + 1))

# through a node outside the key's replicas: forwarded, the status comes back
# with the reply
before=$(failed_calls "$outside" incr)
fwd0=$(ncli "$outside" INFO dynamo | tr -d '\r' | sed -n 's/^forwarded://p')
got=$(ncli "$outside" INCR "$key")
case "$got" in
ERR*not\ an\ integer*) ok "INCR forwarded from node $outside answers the coordinator's error" ;;
*) fail "forwarded INCR answered '$got'" ;;
esac
fwd1=$(ncli "$outside" INFO dynamo | tr -d '\r' | sed -n 's/^forwarded://p')
is "node $outside forwarded it" "$fwd1" $((fwd0 + 1))
is "the forwarding node counts it in failed_calls" \
    "$(failed_calls "$outside" incr)" $((before + 1))

# a failed write changes no replica
for r in $reps; do
    is "replica $r still holds the old value" \
        "$(local_values "$r" "$key")" abc
done

# successes are not failures: a forwarded SET and GET
before_calls=$(calls "$outside" set)
before=$(failed_calls "$outside" set)
is "SET forwarded from node $outside" "$(ncli "$outside" SET "$key" 41)" OK
is "INCR forwarded from node $outside" "$(ncli "$outside" INCR "$key")" 42
is "SET counted as a call" "$(calls "$outside" set)" $((before_calls + 1))
is "and not as a failure" "$(failed_calls "$outside" set)" "$before"
for r in $reps; do
    is "replica $r holds the new value" "$(local_values "$r" "$key")" 42
done

# a refused command (its keys live on different nodes) is a failure too
before=$(failed_calls "$first" msetnx)
got=$(ncli "$first" MSETNX "$key" 1 other 2)
case "$got" in
ERR*not\ supported\ in\ a\ cluster*) ok "MSETNX is refused in a cluster" ;;
*) fail "MSETNX answered '$got'" ;;
esac
is "the refusal counts in failed_calls" \
    "$(failed_calls "$first" msetnx)" $((before + 1))

finish
