#!/usr/bin/env bash
# t_cluster_announce.sh -- where the peer bus listens and what a node
# advertises (issue #13, item 7), on loopback with several addresses.
#
#   1. Three nodes, each with `bind 127.0.0.1 127.0.0.3I` (loopback first)
#      and cluster-node lines naming 127.0.0.3I: the bus must listen on
#      every bind address, so SET and GET reach a quorum (before the fix
#      the bus listened on 127.0.0.1 only and every write got NOQUORUM).
#   2. Redis's optional-address syntax, `bind -ADDR ...`: one node with an
#      optional address that exists here (-127.0.0.99) and one with an
#      address that does not (-198.18.255.254, skipped): both start, and
#      the cluster answers DYNAMO.MEMBERS and a SET/GET quorum.  The third
#      node has Redis's default, `bind * -::*`: an IPv4 and an IPv6
#      wildcard on one port, which only works with IPv6-only sockets.
#   3. A seeds-only joiner bound to 0.0.0.0, without cluster-announce-ip,
#      refuses to start, naming the option; with cluster-announce-ip
#      127.0.0.34 it joins the ring of (1), and every other node shows it
#      up at that address in DYNAMO.MEMBERS.
#   4. A seeds-only joiner bound to loopback only whose seed is not on
#      loopback refuses to start (another host would dial itself).  It is
#      run only once the node is seen to refuse a wildcard: a node that
#      does not check would dial the seed, and these tests send nothing
#      outside 127.0.0.0/8.  The same for DYNAMO.JOIN HOST:PORT off loopback
#      sent to a node on loopback that waits for it: refused, naming
#      cluster-announce-ip.
. "$(dirname "$0")/cluster_lib.sh"

SECRET=announce-$RANDOM$RANDOM
PIDS=()     # by node name: PIDS[I] is nI's pid

# conf I PORT BIND [extra line...]: writes $WORK/nI.conf (no cluster-node
# lines: append them with members).
conf() {
    local i=$1 port=$2 bind=$3 d="$WORK/n$1"
    shift 3
    mkdir -p "$d" || harness_error "mkdir $d"
    {
        echo "node-name n$i"
        echo "bind $bind"
        echo "port $port"
        echo "dir $d"
        echo "logfile $WORK/n$i.log"
        echo "storage memory"
        echo "cluster-secret $SECRET"
        echo "gossip-interval-ms 200"
        printf '%s\n' "$@"
    } >"$WORK/n$i.conf"
}

# launch I: starts nI in the background.
launch() {
    "$DYNAMOD" "$WORK/n$1.conf" </dev/null >"$WORK/n$1.stdout.log" 2>&1 &
    PIDS[$1]=$!
    track_pid "$!"
}

# stop I: stops nI and waits for it.
stop() {
    local pid=${PIDS[$1]:-}
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    untrack_pid "$pid"
    PIDS[$1]=""
}

# pcli PORT args...: redis-cli on 127.0.0.1:PORT.
pcli() {
    local p=$1
    shift
    timeout 10 redis-cli -h 127.0.0.1 -p "$p" "$@"
}

# member_line PORT NAME: "ADDR STATUS" of NAME in DYNAMO.MEMBERS at PORT.
member_line() {
    pcli "$1" DYNAMO.MEMBERS | awk -v n="$2" '
        prev == "name" { cur = $0 }
        prev == "addr" && cur == n { a = $0 }
        prev == "status" && cur == n { s = $0 }
        { prev = $0 }
        END { if (a != "") print a, s }'
}

set_get_ok() {   # set_get_ok PORT_SET PORT_GET KEY
    [ "$(pcli "$1" SET "$3" "v-$3" 2>&1)" = OK ] &&
        [ "$(pcli "$2" GET "$3" 2>&1)" = "v-$3" ]
}

exited() { ! kill -0 "$1" 2>/dev/null; }

BASE=$(_cluster_base 5) || harness_error "no free ports in $DYN_CLUSTER_PORTS"
P1=$BASE P2=$((BASE + 1)) P3=$((BASE + 2)) P4=$((BASE + 3))
echo "# client ports $P1..$P4, peer ports +10000"

# ---- 1: loopback first, the cluster reaches the second address ----------
members=()
for i in 1 2 3; do
    members+=("cluster-node n$i 127.0.0.3$i:$((BASE + i - 1))")
done
for i in 1 2 3; do
    conf "$i" $((BASE + i - 1)) "127.0.0.1 127.0.0.3$i" "${members[@]}"
    launch "$i"
done
for i in 1 2 3; do
    wait_for 20 pcli $((BASE + i - 1)) PING >/dev/null 2>&1 ||
        { fail "n$i did not answer PING"; finish; }
done
if wait_for 20 set_get_ok "$P1" "$P2" k1; then
    ok "bind 127.0.0.1 127.0.0.3X, members at 127.0.0.3X: SET and GET reach a quorum"
else
    fail "bind 127.0.0.1 127.0.0.3X: SET/GET never reached a quorum ($(pcli "$P1" SET k1 v 2>&1))"
fi
if wait_for 20 test "$(member_line "$P3" n1)" = "127.0.0.31:$P1 up"; then
    ok "n3 sees n1 up at the address of its cluster-node line"
else
    fail "n3's view of n1: '$(member_line "$P3" n1)'"
fi

# ---- 3: a joiner bound to 0.0.0.0 -----------------------------------------
conf 4 "$P4" 0.0.0.0 "seed 127.0.0.31:$P1"
launch 4
refused=0
if wait_for 20 exited "${PIDS[4]}"; then
    if grep -q "cluster-announce-ip" "$WORK/n4.stdout.log"; then
        refused=1
        ok "a joiner bound to 0.0.0.0 without cluster-announce-ip refuses to start: $(grep -m1 announce "$WORK/n4.stdout.log")"
    else
        fail "the 0.0.0.0 joiner exited without naming cluster-announce-ip: $(tail -n 3 "$WORK/n4.stdout.log")"
    fi
    untrack_pid "${PIDS[4]}"
else
    fail "a joiner bound to 0.0.0.0 without cluster-announce-ip started: n1 sees it as '$(member_line "$P1" n4)'"
    stop 4
fi

conf 4 "$P4" 0.0.0.0 "seed 127.0.0.31:$P1" "cluster-announce-ip 127.0.0.34"
launch 4
in_ring_of() { pcli "$1" DYNAMO.RING | awk -v n="$2" '$0 == "table" { exit } $0 == n { f = 1 } END { exit !f }'; }
if wait_for 30 in_ring_of "$P1" n4; then
    ok "with cluster-announce-ip 127.0.0.34 the 0.0.0.0 joiner joins the ring"
else
    fail "the joiner with cluster-announce-ip did not join: $(tail -n 3 "$WORK/n4.stdout.log")"
fi
for i in 1 2 3; do
    if wait_for 20 test "$(member_line $((BASE + i - 1)) n4)" = "127.0.0.34:$P4 up"; then
        ok "n$i shows n4 up at 127.0.0.34:$P4"
    else
        fail "n$i shows n4 as '$(member_line $((BASE + i - 1)) n4)'"
    fi
done
if wait_for 20 set_get_ok "$P4" "$P1" k4; then
    ok "SET through the joiner, GET through n1"
else
    fail "SET through the joiner: $(pcli "$P4" SET k4 v 2>&1)"
fi

# ---- 4: loopback only, seed elsewhere ---------------------------------------
stop 4
if [ "$refused" = 1 ]; then
    conf 5 $((BASE + 4)) 127.0.0.1 "seed 198.18.0.1:$P1"
    launch 5
    if wait_for 20 exited "${PIDS[5]}" &&
        grep -q "cluster-announce-ip" "$WORK/n5.stdout.log"; then
        ok "bound to loopback with a seed off loopback: refuses: $(grep -m1 announce "$WORK/n5.stdout.log")"
        untrack_pid "${PIDS[5]}"
    else
        fail "bound to loopback with a seed off loopback: $(tail -n 3 "$WORK/n5.stdout.log")"
        stop 5
    fi
    # the same, at run time: a node waiting for DYNAMO.JOIN, on loopback
    conf 6 $((BASE + 4)) 127.0.0.1
    launch 6
    if wait_for 20 pcli $((BASE + 4)) PING >/dev/null 2>&1; then
        out=$(pcli $((BASE + 4)) DYNAMO.JOIN "198.18.0.1:$P1" 2>&1)
        assert_match "cluster-announce-ip" "$out" \
            "DYNAMO.JOIN of a seed off loopback, from a loopback node, is refused"
        assert_eq "127.0.0.1:$((BASE + 4)) self" "$(member_line $((BASE + 4)) n6)" \
            "the refused node still knows only itself"
    else
        fail "n6 (waiting for DYNAMO.JOIN) did not start"
    fi
    stop 6
else
    fail "not run: a joiner bound to loopback with a seed off loopback (the node does not refuse a wildcard)"
fi
for i in 1 2 3; do stop "$i"; done

# ---- 2: optional addresses ---------------------------------------------------
members=()
for i in 1 2 3; do
    members+=("cluster-node n$i 127.0.0.1:$((BASE + i - 1))")
done
conf 1 "$P1" "-127.0.0.99 127.0.0.1" "${members[@]}"
conf 2 "$P2" "-198.18.255.254 127.0.0.1" "${members[@]}"
conf 3 "$P3" "* -::*" "${members[@]}"
for i in 1 2 3; do launch "$i"; done
for i in 1 2 3; do
    if wait_for 20 pcli $((BASE + i - 1)) PING >/dev/null 2>&1; then
        ok "n$i with bind '$(sed -n 's/^bind //p' "$WORK/n$i.conf")' starts"
    else
        fail "n$i with bind '$(sed -n 's/^bind //p' "$WORK/n$i.conf")' did not start: $(tail -n 3 "$WORK/n$i.stdout.log")"
    fi
done
if wait_for 20 test "$(member_line "$P3" n2)" = "127.0.0.1:$P2 up"; then
    ok "DYNAMO.MEMBERS on n3 shows n2 up at 127.0.0.1:$P2"
else
    fail "n3's view of n2: '$(member_line "$P3" n2)'"
fi
if wait_for 20 set_get_ok "$P1" "$P2" k2; then
    ok "optional bind addresses: SET and GET reach a quorum"
else
    fail "optional bind addresses: $(pcli "$P1" SET k2 v 2>&1)"
fi
if wait_for 20 set_get_ok "$P3" "$P2" k3; then
    ok "bind * -::*: SET through n3, GET through n2"
else
    fail "bind * -::*: $(pcli "$P3" SET k3 v 2>&1)"
fi
if timeout 10 redis-cli -h 127.0.0.99 -p "$P1" PING 2>/dev/null | grep -q PONG; then
    ok "n1 also answers clients on its optional address 127.0.0.99"
else
    fail "n1 does not answer on 127.0.0.99"
fi
finish
