#!/usr/bin/env bash
# t_cluster_auth_log.sh -- a wrong cluster-secret is logged, with the
# peer's address, and the log is not flooded (issue #13, item 7).
#
# Two nodes, n1 and n2, each listing both as members but started with
# different secrets: every handshake between them fails, both as dialer
# and as acceptor, on every redial.  Each node's log must say so with a
# warning that names the other's address:
#   - as dialer: "this node dialing n2 at 127.0.0.1:<n2's peer port>: it
#     refused this node's proof";
#   - as acceptor: "127.0.0.1:<port> dialing this node as n2: its proof is
#     wrong";
# and the lines are rate-limited: a later line says how many failures it
# stands for ("N more from this address"), and a node logs fewer lines than
# INFO's peer_auth_failures counts.  Everything is polled with generous
# deadlines; no assertion is about time.
. "$(dirname "$0")/cluster_lib.sh"

p1=$(free_port)
p2=$(free_port)
while [ "$p2" = "$p1" ]; do p2=$(free_port); done
b1=$(free_port)
while [ "$b1" = "$p1" ] || [ "$b1" = "$p2" ]; do b1=$(free_port); done
b2=$(free_port)
while [ "$b2" = "$p1" ] || [ "$b2" = "$p2" ] || [ "$b2" = "$b1" ]; do b2=$(free_port); done

start_node() { # name port secret
    mkdir -p "$WORK/$1"
    "$DYNAMOD" --port "$2" --bind 127.0.0.1 --storage memory --dir "$WORK/$1" \
        --logfile "$WORK/$1.log" --node-name "$1" \
        --cluster-node "n1 127.0.0.1:$p1@$b1" \
        --cluster-node "n2 127.0.0.1:$p2@$b2" \
        --cluster-secret "$3" >>"$WORK/$1.stdout.log" 2>&1 &
    track_pid "$!"
    _wait_up "$!" "$2" || { fail "$1 did not start"; finish; }
}
start_node n1 "$p1" "secret-one-$RANDOM$RANDOM"
start_node n2 "$p2" "secret-two-$RANDOM$RANDOM"

# field NODE-PORT NAME: one field of that node's INFO
field() { cli "$1" INFO dynamo | tr -d '\r' | sed -n "s/^$2://p" | head -1; }
auth_lines() { grep -c 'Peer authentication failed' "$WORK/$1.log"; }
logged() { grep -Eq -- "$2" "$WORK/$1.log"; }

# -- each side of each node's failures, with the peer's address
for pair in "n1 n2 $b2" "n2 n1 $b1"; do
    set -- $pair
    me=$1 other=$2 port=$3
    dialer="Peer authentication failed, this node dialing $other at 127\\.0\\.0\\.1:$port: it refused this node's proof \\(is cluster-secret the same"
    if wait_for 60 logged "$me" "$dialer"; then
        ok "$me logs its failed dial of $other with $other's address (127.0.0.1:$port)"
    else
        fail "$me's log has no failed dial of $other at 127.0.0.1:$port: $(grep 'Peer auth' "$WORK/$me.log" | head -3)"
    fi
    acceptor="Peer authentication failed, 127\\.0\\.0\\.1:[0-9]+ dialing this node as $other: its proof is wrong"
    if wait_for 60 logged "$me" "$acceptor"; then
        ok "$me logs $other's failed dial with the caller's address"
    else
        fail "$me's log has no failed incoming handshake from $other: $(grep 'Peer auth' "$WORK/$me.log" | head -3)"
    fi
done
n1_alone() { [ "$(field "$p1" cluster_members_up)" = 1 ]; }
if wait_for 60 n1_alone; then ok "n1 sees no member up but itself"
else fail "n1 sees $(field "$p1" cluster_members_up) members up"; fi

# -- rate-limited: a line that stands for the failures not logged comes
# only after the limit's window, so wait for it (a condition, not a time)
if wait_for 90 logged n1 '\([1-9][0-9]* more from this address'; then
    ok "n1's later line counts the failures it did not log: $(grep -Eo '\([1-9][0-9]* more from this address[^)]*\)' "$WORK/n1.log" | head -1)"
else
    fail "n1 never logged a line standing for suppressed failures ($(auth_lines n1) lines, $(field "$p1" peer_auth_failures) failures)"
fi
lines=$(auth_lines n1)
fails=$(field "$p1" peer_auth_failures)
if [ "$lines" -lt "$fails" ]; then
    ok "n1 logged $lines lines for $fails failed handshakes"
else
    fail "n1 logged $lines lines for $fails failed handshakes: one per failure"
fi
finish
