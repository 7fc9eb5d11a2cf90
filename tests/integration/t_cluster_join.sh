#!/usr/bin/env bash
# t_cluster_join.sh -- a 6th node joins a loaded 5-node cluster, then
# leaves again (issue #4, test 4).  N=3, R=2, W=2.
#
#   1. 5 nodes, 10,000 keys k:I = v:I:TAG (pipelined through n1).
#   2. `dynamo-cluster add` starts n6 with seed lines only: it learns the
#      ring by gossip, joins, pulls the partitions it gains, the ring
#      switches.  Meanwhile a background loop (bounded: a stop file, 60 s,
#      200k operations) reads random k:I through n1..n5, checking each
#      value, and writes fresh keys w:PHASE:J; it counts the operations made
#      while the add ran and while n1 had a pending ring (the move itself).
#   3. The share of key copies that moved (n6's local keys / all local
#      keys, from INFO keyspace, which counts a node's own keys) is printed;
#      about 1/6 is expected, 0.10..0.25 is accepted.
#   4. After the drop grace: the sum of the nodes' local counts is exactly
#      3 x keys, and for every key (old ones and those written during the
#      move) exactly its DYNAMO.PREFLIST replicas hold it, with the right
#      value, and GET through a random node returns it.
#   5. `dynamo-cluster remove 6` (DYNAMO.LEAVE) under the same loop, and
#      the same checks on n1..n5.
# Anti-entropy is off (anti-entropy-interval-ms 0), so that every copy in
# the final checks was put there by the move itself (streams, and writes
# sent to the gainers during it), not repaired afterwards.
# Then n5 is killed for good and DYNAMO.FORGET n5 re-replicates its
# partitions on n1..n4: exactly 3 copies of every key again.
. "$(dirname "$0")/cluster_lib.sh"

NKEYS=10000
TAG=$RANDOM
"$PYTHON" -c 'import redis' 2>/dev/null || skip "python3-redis is missing"

# a base port with room for the 6th node
for attempt in 1 2 3; do
    CL_BASE=$(_cluster_base 6) || harness_error "no 6 free ports"
    CL_N=5
    if out=$(DYNAMO_BASE_PORT=$CL_BASE ctool start 5 --gossip-interval-ms 250 \
            --anti-entropy-interval-ms 0 2>&1); then
        break
    fi
    echo "# start attempt $attempt failed: $out"
    ctool stop >/dev/null 2>&1
    CL_N=0
done
[ "$CL_N" -eq 5 ] || { fail "the 5-node cluster did not start"; finish; }
echo "# cluster of 5 nodes on 127.0.0.1:$CL_BASE.."

cat >"$WORK/jt.py" <<'EOF'
import os, random, sys, time
import redis

def conn(base, i):
    return redis.Redis(host="127.0.0.1", port=base + i - 1, socket_timeout=10)

def value(k, tag):
    return ("v:%d:%s" % (k, tag)).encode()

def local_values(reply):
    out = []
    for s in reply or []:
        d = dict(zip(s[0::2], s[1::2])) if isinstance(s, list) else s
        if d.get(b"value") is not None:
            out.append(d[b"value"])
    return sorted(out)

cmd = sys.argv[1]
if cmd == "load":
    # load BASE NKEYS TAG
    base, nkeys, tag = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    c = conn(base, 1)
    bad = 0
    for lo in range(0, nkeys, 500):
        p = c.pipeline(transaction=False)
        for k in range(lo, min(nkeys, lo + 500)):
            p.set("k:%d" % k, value(k, tag))
        bad += sum(1 for r in p.execute(raise_on_error=False) if r is not True)
    print("# %d SETs failed" % bad if bad else "# loaded %d keys" % nkeys)
    sys.exit(1 if bad else 0)
elif cmd == "counts":
    # counts BASE NODES: each node's local key count, space separated
    base, nodes = int(sys.argv[2]), [int(x) for x in sys.argv[3].split(",")]
    print(" ".join(str(conn(base, i).info("keyspace").get("db0", {}).get("keys", 0))
                   for i in nodes))
elif cmd == "loop":
    # loop BASE NODES NKEYS TAG PHASE STOPFILE READYFILE WINDOWFILE OUT
    base = int(sys.argv[2])
    nodes = [int(x) for x in sys.argv[3].split(",")]
    nkeys, tag, phase = int(sys.argv[4]), sys.argv[5], sys.argv[6]
    stopf, readyf, windowf, outf = sys.argv[7:11]
    cs = [conn(base, i) for i in nodes]
    probe = conn(base, nodes[0])
    t_end = time.monotonic() + 60
    ops = reads = writes = errors = 0
    moving_ops = 0
    moving = False
    stamps = []
    written = []
    while ops < 200000 and time.monotonic() < t_end:
        if ops % 20 == 0:
            if os.path.exists(stopf):
                break
            try:
                moving = int(probe.info("dynamo").get("rebalance_pending_epoch", 0)) != 0
            except redis.RedisError:
                pass
        i = random.randrange(len(cs))
        try:
            if random.random() < 0.25:
                key = "w:%s:%d" % (phase, writes)
                val = ("w:%s:%d:%d" % (phase, writes, random.randrange(1 << 30))).encode()
                writes += 1
                if cs[i].set(key, val) is True:
                    written.append((key, val))
                else:
                    errors += 1
                    if errors <= 10:
                        print("# SET %s via n%d did not say OK" % (key, nodes[i]))
            else:
                k = random.randrange(nkeys)
                reads += 1
                got = cs[i].get("k:%d" % k)
                if got != value(k, tag):
                    errors += 1
                    if errors <= 10:
                        print("# GET k:%d via n%d: %r, want %r" % (k, nodes[i], got, value(k, tag)))
        except redis.RedisError as e:
            errors += 1
            if errors <= 10:
                print("# error via n%d: %s" % (nodes[i], e))
        ops += 1
        stamps.append(time.time())
        if moving:
            moving_ops += 1
        if ops == 200:
            open(readyf, "w").close()
    with open(outf, "w") as f:
        for key, val in written:
            f.write("%s %s\n" % (key, val.decode()))
    in_window = 0
    try:
        t0, t1 = (int(x) / 1000.0 for x in open(windowf).read().split())
        in_window = sum(1 for s in stamps if t0 <= s <= t1)
    except (OSError, ValueError):
        pass
    print("# loop %s: %d ops (%d reads, %d writes), %d errors; %d ops while the "
          "membership command ran, %d while n%d had a pending ring"
          % (phase, ops, reads, writes, errors, in_window, moving_ops, nodes[0]))
    print("stats %d %d %d %d" % (ops, errors, in_window, moving_ops))
    sys.exit(1 if errors else 0)
elif cmd == "verify":
    # verify BASE NODES NKEYS TAG WRITTEN-FILE...: every key has exactly
    # its replicas as holders, with its value, and GET returns it
    base = int(sys.argv[2])
    nodes = [int(x) for x in sys.argv[3].split(",")]
    nkeys, tag = int(sys.argv[4]), sys.argv[5]
    want = [("k:%d" % k, value(k, tag)) for k in range(nkeys)]
    for fn in sys.argv[6:]:
        for line in open(fn):
            key, val = line.split()
            want.append((key, val.encode()))
    cs = {i: conn(base, i) for i in nodes}
    bad = 0
    def problem(msg):
        global bad
        bad += 1
        if bad <= 10:
            print("# " + msg)
    for lo in range(0, len(want), 500):
        chunk = want[lo:lo + 500]
        p = cs[nodes[0]].pipeline(transaction=False)
        for key, _ in chunk:
            p.execute_command("DYNAMO.PREFLIST", key)
        prefs = []
        for r in p.execute():
            d = dict(zip(r[0::2], r[1::2]))
            prefs.append(set(int(x[0].decode()[1:]) for x in d[b"replicas"]))
        holders = [set() for _ in chunk]
        for i in nodes:
            p = cs[i].pipeline(transaction=False)
            for key, _ in chunk:
                p.execute_command("DYNAMO.LOCAL", key)
            for j, r in enumerate(p.execute()):
                vals = local_values(r)
                if vals:
                    holders[j].add(i)
                    if vals != [chunk[j][1]]:
                        problem("n%d holds %r for %s, want %r" % (i, vals, chunk[j][0], chunk[j][1]))
        gets = {}
        for i in nodes:
            gets[i] = cs[i].pipeline(transaction=False)
        order = []
        for key, _ in chunk:
            i = random.choice(nodes)
            gets[i].get(key)
            order.append(i)
        res = {i: iter(gets[i].execute()) for i in nodes}
        for j, (key, val) in enumerate(chunk):
            got = next(res[order[j]])
            if got != val:
                problem("GET %s via n%d: %r, want %r" % (key, order[j], got, val))
            if len(prefs[j]) != 3:
                problem("PREFLIST %s: %r" % (key, sorted(prefs[j])))
            if holders[j] != prefs[j]:
                problem("%s is held by %s, its replicas are %s"
                        % (key, sorted(holders[j]), sorted(prefs[j])))
    print("# verified %d keys on n%s: %d problems"
          % (len(want), ",n".join(str(i) for i in nodes), bad))
    sys.exit(1 if bad else 0)
EOF
jt() { "$PYTHON" "$WORK/jt.py" "$@"; }
sum_words() { local s=0 w; for w in $1; do s=$((s + w)); done; echo "$s"; }   # "1 2 3" -> 6

if out=$(jt load "$CL_BASE" "$NKEYS" "$TAG"); then ok "$NKEYS keys written through n1"
else echo "$out"; fail "loading $NKEYS keys"; finish; fi
copies_are() {   # copies_are NODES WANT: the local counts sum to WANT
    [ "$(sum_words "$(jt counts "$CL_BASE" "$1")")" = "$2" ]
}
if wait_for 10 copies_are 1,2,3,4,5 $((3 * NKEYS)); then
    ok "every key is stored on 3 of the 5 nodes (local counts sum to $((3 * NKEYS)))"
else
    fail "local counts sum to $(sum_words "$(jt counts "$CL_BASE" 1,2,3,4,5)"), want $((3 * NKEYS))"
fi
BEFORE=$(jt counts "$CL_BASE" 1,2,3,4,5)
echo "# local keys before the join, n1..n5: $BEFORE"
plan=$(ncli 1 DYNAMO.RING PLAN JOIN n6 | tr '\n' ' ')
echo "# DYNAMO.RING PLAN JOIN n6: $(echo "$plan" | sed 's/ moves .*//')"

# run_loop PHASE NODES: starts the checking loop in the background (LOOP_PID)
run_loop() {
    rm -f "$WORK/stop" "$WORK/ready" "$WORK/window"
    jt loop "$CL_BASE" "$2" "$NKEYS" "$TAG" "$1" "$WORK/stop" "$WORK/ready" \
        "$WORK/window" "$WORK/written.$1" >"$WORK/loop.$1.out" 2>&1 &
    LOOP_PID=$!
    track_pid "$LOOP_PID"
    wait_for 20 test -e "$WORK/ready" || fail "the $1 loop did not start"
}
# stop_loop PHASE: stops it and checks its verdict
stop_loop() {
    local rc stats
    : >"$WORK/stop"
    wait_exit "$LOOP_PID" 30
    rc=$EXIT_RC
    grep '^#' "$WORK/loop.$1.out"
    stats=$(sed -n 's/^stats //p' "$WORK/loop.$1.out")
    set -- "$1" $stats
    if [ "$rc" = 0 ]; then
        ok "$1: every read during the change returned the right value, every write said OK ($2 ops)"
    else
        fail "$1: the loop found errors (exit $rc)"
    fi
    if [ "${4:-0}" -gt 0 ]; then ok "$1: $4 operations ran while the membership command ran"
    else fail "$1: no operation overlapped the membership change"; fi
    if [ "${5:-0}" -gt 0 ]; then ok "$1: $5 operations ran while n1 had the pending ring (the move)"
    else fail "$1: no operation ran while n1 had a pending ring"; fi
}

# ---- join ---------------------------------------------------------------
run_loop join 1,2,3,4,5
t0=$(date +%s%3N)
if out=$(ctool add 2>&1); then ok "dynamo-cluster add: $out"
else fail "dynamo-cluster add: $out"; fi
t1=$(date +%s%3N)
CL_N=6
echo "$t0 $t1" >"$WORK/window"
sleep 0.3   # a few operations on the new ring, before the drop
stop_loop join
echo "# the add took $((t1 - t0)) ms; n6: $(ncli 6 INFO dynamo | tr -d '\r' | grep -E '^(ring_epoch|rebalance_keys_in|rebalance_last_stream_ms|rebalance_last_stream_bytes):' | tr '\n' ' ')"
NW=$(wc -l <"$WORK/written.join")
TOTAL=$((NKEYS + NW))
if wait_for 20 copies_are 1,2,3,4,5,6 $((3 * TOTAL)); then
    ok "after the drop grace, the local counts of n1..n6 sum to exactly 3 x $TOTAL keys"
else
    fail "after the join the local counts sum to $(sum_words "$(jt counts "$CL_BASE" 1,2,3,4,5,6)"), want $((3 * TOTAL))"
fi
AFTER=$(jt counts "$CL_BASE" 1,2,3,4,5,6)
echo "# local keys after the join, n1..n6: $AFTER"
n6=${AFTER##* }
share=$(awk -v a="$n6" -v t="$(sum_words "$AFTER")" 'BEGIN { printf "%.4f", a / t }')
echo "# share of key copies that moved to n6: $n6 / $(sum_words "$AFTER") = $share (1/6 = 0.1667)"
if awk -v s="$share" 'BEGIN { exit !(s >= 0.10 && s <= 0.25) }'; then
    ok "about 1/6 of the key copies moved to n6 ($share)"
else
    fail "share of key copies on n6: $share, want about 1/6"
fi
if out=$(jt verify "$CL_BASE" 1,2,3,4,5,6 "$NKEYS" "$TAG" "$WORK/written.join"); then
    echo "$out"; ok "after the join: each of $TOTAL keys is on exactly its 3 replicas and reads back"
else
    echo "$out"; fail "after the join: keys misplaced or wrong"
fi

# ---- leave --------------------------------------------------------------
run_loop leave 1,2,3,4,5
t0=$(date +%s%3N)
if out=$(ctool remove 6 2>&1); then ok "dynamo-cluster remove 6: $out"
else fail "dynamo-cluster remove 6: $out"; fi
t1=$(date +%s%3N)
echo "$t0 $t1" >"$WORK/window"
sleep 0.3
stop_loop leave
echo "# the remove took $((t1 - t0)) ms"
NW2=$(wc -l <"$WORK/written.leave")
TOTAL=$((NKEYS + NW + NW2))
if wait_for 20 copies_are 1,2,3,4,5 $((3 * TOTAL)); then
    ok "after the leave, the local counts of n1..n5 sum to exactly 3 x $TOTAL keys"
else
    fail "after the leave the local counts sum to $(sum_words "$(jt counts "$CL_BASE" 1,2,3,4,5)"), want $((3 * TOTAL))"
fi
echo "# local keys after the leave, n1..n5: $(jt counts "$CL_BASE" 1,2,3,4,5)"
if out=$(jt verify "$CL_BASE" 1,2,3,4,5 "$NKEYS" "$TAG" "$WORK/written.join" "$WORK/written.leave"); then
    echo "$out"; ok "after the leave: each of $TOTAL keys is on exactly its 3 replicas and reads back"
else
    echo "$out"; fail "after the leave: keys misplaced or wrong"
fi

# ---- forget -------------------------------------------------------------
# kill -9 n5 for good; DYNAMO.FORGET through n1 gives its partitions to the
# other four, which re-replicate them from the surviving replicas
ctool kill 5 >/dev/null
assert_match 'ERR' "$(ncli 1 DYNAMO.FORGET n1)" "a node cannot forget itself"
assert_match 'ERR unknown' "$(ncli 1 DYNAMO.FORGET nobody)" "DYNAMO.FORGET of an unknown member is an error"
n5_down() { [ "$(ncli 1 DYNAMO.MEMBERS | awk 'prev == "name" { on = ($0 == "n5") } on && prev == "status" { print; exit } { prev = $0 }')" = down ]; }
wait_for 10 n5_down || fail "n1 does not see the killed n5 down"
assert_eq OK "$(ncli 1 DYNAMO.FORGET n5)" "DYNAMO.FORGET n5 on n1"
n5_gone() {
    local i
    for i in 1 2 3 4; do
        ncli "$i" DYNAMO.RING | awk '$0 == "table" { exit } $0 == "n5" { f = 1 } END { exit f }' || return 1
    done
}
if wait_for 20 n5_gone; then ok "n5 is out of every node's ring"
else fail "n5 is still in some ring 20 s after DYNAMO.FORGET"; fi
if wait_for 20 copies_are 1,2,3,4 $((3 * TOTAL)); then
    ok "after the forget, the local counts of n1..n4 sum to exactly 3 x $TOTAL keys"
else
    fail "after the forget the local counts sum to $(sum_words "$(jt counts "$CL_BASE" 1,2,3,4)"), want $((3 * TOTAL))"
fi
if out=$(jt verify "$CL_BASE" 1,2,3,4 "$NKEYS" "$TAG" "$WORK/written.join" "$WORK/written.leave"); then
    echo "$out"; ok "after the forget: each of $TOTAL keys is on exactly its 3 replicas and reads back"
else
    echo "$out"; fail "after the forget: keys misplaced or wrong"
fi

# ---- DYNAMO.JOIN host:port ----------------------------------------------
# a node with only the secret (no seed, no member list) joins when told to
jp=$(free_port)
jpp=$(free_port)
mkdir -p "$WORK/n7"
"$DYNAMOD" --port "$jp" --bind 127.0.0.1 --node-name n7 --storage memory \
    --dir "$WORK/n7" --logfile "$WORK/n7/dynamod.log" --cluster-port "$jpp" \
    --cluster-secret "$(cat "$DYNAMO_CLUSTER_DIR/secret")" \
    >>"$WORK/n7/stdout.log" 2>&1 &
JPID=$!
track_pid "$JPID"
_wait_up "$JPID" "$jp" || { fail "n7 did not start"; finish; }
j7() { timeout 20 redis-cli -h 127.0.0.1 -p "$jp" "$@"; }
assert_match '^CLUSTERDOWN' "$(j7 GET k:1)" "a node that has not joined refuses data commands with CLUSTERDOWN"
assert_eq OK "$(j7 DYNAMO.JOIN "127.0.0.1:$(nport 1)")" "DYNAMO.JOIN 127.0.0.1:<n1> on n7"
n7_in() { ncli 1 DYNAMO.RING | awk '$0 == "table" { exit } $0 == "n7" { f = 1 } END { exit !f }'; }
if wait_for 30 n7_in; then ok "n7 is in n1's ring"
else fail "n7 did not join within 30 s: $(tail -5 "$WORK/n7/dynamod.log" | tr '\n' ' ')"; fi
n7_keys() { [ "$(j7 INFO keyspace | tr -d '\r' | sed -n 's/^db0:keys=\([0-9]*\).*/\1/p')" -gt 0 ] 2>/dev/null; }
if wait_for 10 n7_keys; then ok "n7 received its partitions ($(j7 INFO keyspace | tr -d '\r' | sed -n 's/^db0://p'))"
else fail "n7 holds no keys after joining"; fi
bad=0
for k in 1 2 3 4 5 6 7 8 9 10; do
    [ "$(j7 GET "k:$k")" = "$(ncli 1 GET "k:$k")" ] || bad=$((bad + 1))
done
assert_eq 0 "$bad" "reads through n7 agree with reads through n1"
finish
