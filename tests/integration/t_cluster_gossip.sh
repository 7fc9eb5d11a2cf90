#!/usr/bin/env bash
# t_cluster_gossip.sh -- gossip membership and failure detection at 16 nodes
# (issue #4, test 6).
#
# n1 is started alone (a one-node ring); n2..n16 are then started all at
# once with nothing but a `seed` line naming n1.  Gossip must spread the
# member table: every node sees all 16 members up (or self) within 30 s of
# the launch.  Then one node is killed with SIGKILL, and every other node
# must mark it down within the configured detection time,
#
#     down-timeout-ms + ping interval (suspect-timeout-ms / 3) + 7 s slack
#
# (the slack covers the 5 ms cluster tick and polling on a loaded host,
# ASan builds included),
# while still seeing the 14 others up (no false suspicion).  The measured
# times are printed as '#' lines.
#
# The 15 seed-started nodes also join the ring, all at once from the same
# epoch: the driver whose name sorts first goes first, the others give way
# and start again from its ring, so all 16 must be in the ring within 30 s.
. "$(dirname "$0")/cluster_lib.sh"

NODES=16
VICTIM=7
GOSSIP_MS=200
SUSPECT_MS=1000
DOWN_MS=3000
REQ_MS=1000
# Wide bounds: 16 nodes (under ASan, on a busy 2-CPU machine) start, gossip
# and probe slowly; the measured times are printed, and recorded by
# tools/bench-membership on a quiet machine.
UP_LIMIT_S=30
DETECT_LIMIT_MS=$((DOWN_MS + SUSPECT_MS / 3 + 7000))

"$PYTHON" -c 'import redis' 2>/dev/null || skip "python3-redis is missing"

# a base port with 16 free client and peer ports; n1 alone first
for attempt in 1 2 3; do
    CL_BASE=$(_cluster_base "$NODES") || harness_error "no $NODES free ports"
    CL_N=1
    if out=$(DYNAMO_BASE_PORT=$CL_BASE ctool start 1 --ring-partitions 64 \
            --gossip-interval-ms "$GOSSIP_MS" --suspect-timeout-ms "$SUSPECT_MS" \
            --down-timeout-ms "$DOWN_MS" --request-timeout-ms "$REQ_MS" 2>&1); then
        break
    fi
    echo "# start attempt $attempt failed: $out"
    ctool stop >/dev/null 2>&1
    CL_N=0
done
[ "$CL_N" -eq 1 ] || { fail "n1 did not start"; finish; }
ok "n1 started alone on 127.0.0.1:$CL_BASE"

# n2..n16: seed lines only, same secret and options, launched together
secret=$(cat "$DYNAMO_CLUSTER_DIR/secret")
for ((i = 2; i <= NODES; i++)); do
    d="$DYNAMO_CLUSTER_DIR/n$i"
    rm -rf "$d"
    mkdir -p "$d/data"
    {
        echo "node-name n$i"
        echo "bind 127.0.0.1"
        echo "port $(nport "$i")"
        echo "dir $d/data"
        echo "logfile $d/dynamod.log"
        echo "storage memory"
        echo "cluster-secret $secret"
        echo "seed 127.0.0.1:$CL_BASE"
        cat "$DYNAMO_CLUSTER_DIR/extra"
    } >"$d/dynamod.conf"
    chmod 600 "$d/dynamod.conf"
done
echo "$NODES" >"$DYNAMO_CLUSTER_DIR/nodes"
CL_N=$NODES
T0_MS=$(date +%s%3N)
for ((i = 2; i <= NODES; i++)); do
    d="$DYNAMO_CLUSTER_DIR/n$i"
    "$DYNAMOD" "$d/dynamod.conf" </dev/null >>"$d/stdout.log" 2>&1 &
    echo $! >"$d/pid"
    disown $! 2>/dev/null
done

# probe.py: the timing loops, with one persistent connection per node
cat >"$WORK/probe.py" <<'EOF'
import os, signal, sys, time
import redis

def members(c):
    """name -> status from DYNAMO.MEMBERS (first entry: ring_epoch)."""
    out = {}
    for m in c.execute_command("DYNAMO.MEMBERS")[1:]:
        d = dict(zip(m[0::2], m[1::2]))
        out[d[b"name"].decode()] = d[b"status"].decode()
    return out

def up_count(c):
    return sum(1 for s in members(c).values() if s in ("up", "self"))

def conn(base, i):
    return redis.Redis(host="127.0.0.1", port=base + i - 1,
                       socket_timeout=5, socket_connect_timeout=1)

cmd = sys.argv[1]
if cmd == "up":
    # up BASE N T0_MS LIMIT_S: until every node sees N members up; prints
    # the seconds since T0 at which each node first did, then the max
    base, n, t0, limit = (int(x) for x in sys.argv[2:6])
    cs = {i: conn(base, i) for i in range(1, n + 1)}
    first = {}
    deadline = t0 / 1000 + limit + 5
    while len(first) < n and time.time() < deadline:
        for i, c in cs.items():
            if i in first:
                continue
            try:
                if up_count(c) == n:
                    first[i] = time.time() - t0 / 1000
            except redis.RedisError:
                pass
        time.sleep(0.02)
    for i in sorted(cs):
        print("# n%d: %s" % (i, "%.2f s" % first[i] if i in first else "never"))
    if len(first) < n:
        print("# only %d of %d nodes saw all %d up" % (len(first), n, n))
        sys.exit(1)
    print("max %.3f" % max(first.values()))
elif cmd == "down":
    # down BASE N VICTIM PID LIMIT_MS: SIGKILL the victim, then the time
    # (ms) until each other node shows it down; the max is printed last
    base, n, victim, pid, limit = (int(x) for x in sys.argv[2:7])
    name = "n%d" % victim
    cs = {i: conn(base, i) for i in range(1, n + 1) if i != victim}
    for c in cs.values():
        c.ping()
    seen = {}
    t0 = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    while len(seen) < len(cs) and time.monotonic() - t0 < limit / 1000 + 10:
        for i, c in cs.items():
            if i in seen:
                continue
            try:
                if members(c).get(name) == "down":
                    seen[i] = (time.monotonic() - t0) * 1000
            except redis.RedisError:
                pass
        time.sleep(0.01)
    for i in sorted(cs):
        print("# n%d marked %s down after %s" %
              (i, name, "%.0f ms" % seen[i] if i in seen else "never"))
    if len(seen) < len(cs):
        sys.exit(1)
    print("max %.0f" % max(seen.values()))
elif cmd == "others_up":
    # others_up BASE N VICTIM: every survivor sees the N-1 others up
    base, n, victim = (int(x) for x in sys.argv[2:5])
    bad = 0
    for i in range(1, n + 1):
        if i == victim:
            continue
        m = members(conn(base, i))
        wrong = [k for k, s in m.items()
                 if k != "n%d" % victim and s not in ("up", "self")]
        if wrong:
            print("# n%d sees %s not up" % (i, ",".join(sorted(wrong))))
            bad += 1
    sys.exit(1 if bad else 0)
elif cmd == "ring":
    # ring BASE N: ring epoch and ring size as each node sees it
    base, n = (int(x) for x in sys.argv[2:4])
    for i in range(1, n + 1):
        c = conn(base, i)
        info = c.info("dynamo")
        r = c.execute_command("DYNAMO.RING")
        d = dict(zip(r[0::2], r[1::2]))
        nodes = d.get(b"nodes") or []
        print("n%d epoch=%s ring_nodes=%d driving=%s pending_epoch=%s "
              "pending_driver=%s streaming=%s gossip_rounds=%s"
              % (i, info.get("ring_epoch"), len(nodes),
                 info.get("rebalance_driving"),
                 info.get("rebalance_pending_epoch"),
                 info.get("rebalance_pending_driver") or "-",
                 info.get("rebalance_pending_streaming"),
                 info.get("gossip_rounds")))
EOF

if out=$("$PYTHON" "$WORK/probe.py" up "$CL_BASE" "$NODES" "$T0_MS" "$UP_LIMIT_S"); then
    echo "$out" | grep '^#'
    secs=$(echo "$out" | sed -n 's/^max //p')
    echo "# all $NODES nodes saw all $NODES members up after $secs s (gossip-interval-ms $GOSSIP_MS: $(awk -v s="$secs" -v g="$GOSSIP_MS" 'BEGIN { printf "%.1f", s * 1000 / g }') intervals)"
    if awk -v s="$secs" -v l="$UP_LIMIT_S" 'BEGIN { exit !(s <= l) }'; then
        ok "every node sees all $NODES members up within ${UP_LIMIT_S} s of the launch ($secs s)"
    else
        fail "every node saw all $NODES members up only after $secs s (limit ${UP_LIMIT_S} s)"
    fi
else
    echo "$out"
    fail "not every node saw all $NODES members up"
fi

# the ring: 15 simultaneous joins settle one after another
ring_all_in() {
    local r
    r=$("$PYTHON" "$WORK/probe.py" ring "$CL_BASE" "$NODES" 2>/dev/null) || return 1
    ! printf '%s\n' "$r" | grep -v "ring_nodes=$NODES " | grep -q .
}
t0=$(date +%s%N)
if wait_for 30 ring_all_in; then
    ok "all $NODES nodes joined the ring ($(( ($(date +%s%N) - t0) / 1000000 )) ms after all were up)"
else
    fail "the 15 simultaneous joins did not converge in 30 s"
fi
echo "# ring as each node sees it:"
"$PYTHON" "$WORK/probe.py" ring "$CL_BASE" "$NODES" | sed 's/^/#   /'

vpid=$(npid "$VICTIM") || { fail "n$VICTIM is not running"; finish; }
if out=$("$PYTHON" "$WORK/probe.py" down "$CL_BASE" "$NODES" "$VICTIM" "$vpid" "$DETECT_LIMIT_MS"); then
    echo "$out" | grep '^#'
    ms=$(echo "$out" | sed -n 's/^max //p')
    echo "# n$VICTIM (kill -9) was marked down by all $((NODES - 1)) others after $ms ms (down-timeout-ms $DOWN_MS, suspect-timeout-ms $SUSPECT_MS, request-timeout-ms $REQ_MS)"
    if [ "$ms" -le "$DETECT_LIMIT_MS" ]; then
        ok "every node marked the killed n$VICTIM down within $DETECT_LIMIT_MS ms ($ms ms)"
    else
        fail "the killed n$VICTIM was marked down everywhere only after $ms ms (limit $DETECT_LIMIT_MS ms)"
    fi
else
    echo "$out"
    fail "not every node marked the killed n$VICTIM down"
fi
# the victim is gone: the cleanup must not look for it (but if the probe
# failed before its kill, the cleanup still stops it)
kill -0 "$vpid" 2>/dev/null || rm -f "$DYNAMO_CLUSTER_DIR/n$VICTIM/pid"

if out=$("$PYTHON" "$WORK/probe.py" others_up "$CL_BASE" "$NODES" "$VICTIM"); then
    ok "every survivor still sees the other $((NODES - 2)) nodes up"
else
    echo "$out"
    fail "false suspicion: a survivor sees a live node not up"
fi
finish
