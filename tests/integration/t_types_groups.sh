#!/usr/bin/env bash
# t_types_groups.sh -- write groups (cluster/coordinator.c "Write groups"):
# the writes to one typed key that a coordinator runs in one loop turn are
# replicated as one version, encoded once.  In a 3-node cluster (N=3 R=2
# W=2):
#   - redis-benchmark's default test set (no -t) runs every test to its
#     end through one node, with 50 clients: no error line, a rate for
#     each of its 20 tests; the coordinator formed groups of several
#     writes each, sent deltas, no write missed W, and every node ends
#     with the same bytes (equal Merkle roots);
#   - 16 Python clients push known values onto one list through two
#     coordinators at once: every value is there exactly once, read
#     through each node, each client's values in the order its pushes
#     made, and every node holds the same bytes;
#   - with W=3 and a replica killed (kill -9), every grouped write's reply
#     is the leader's NOQUORUM error; the writes are not rolled back, and
#     once the replica is back the hints kept for it are delivered and
#     every node holds the same bytes;
#   - with storage disk, 16 clients push through n1 and n2 while n1 (a
#     coordinator leading groups) is killed with kill -9 and restarted:
#     every acknowledged push is in the list once, read through each node,
#     and every node ends with the same bytes; the list's versions went to
#     the journal as edits on every node;
#   - with storage disk (a fresh cluster), the default test set runs every
#     test to its end too, and every node ends with the same bytes.
. "$(dirname "$0")/cluster_lib.sh"
need_cmd redis-benchmark

PY=/usr/bin/python3
[ -x "$PY" ] && "$PY" -c 'import redis' 2>/dev/null || skip "python3-redis (Debian's) is not installed"

# a trace ring that holds every push of phase 2 (with the default 128, an
# ASan run once found none of them in n1's ring when they were read), and
# a request timeout of 5 s on every cluster here: under ASan on a busy
# 2-CPU machine a loop can stall past the default 1 s, and phase 2 saw
# dozens of its pushes answer NOQUORUM so (nothing here tests the timeout)
TMO="--request-timeout-ms 5000"
cluster_start 3 --n 3 --r 2 --w 2 --trace-max 8192 $TMO

roots() { ncli "$1" DYNAMO.MERKLE | md5sum | cut -d' ' -f1; }
same_roots() {
    local a
    a=$(roots 1)
    [ "$(roots 2)" = "$a" ] && [ "$(roots 3)" = "$a" ]
}

# default_set I LABEL: redis-benchmark's default test set through node I
# runs to its end: exit 0, no error line, a rate for each of its 20 tests.
default_set() {
    local out rc errs
    out=$(timeout 600 redis-benchmark -h 127.0.0.1 -p "$(nport "$1")" \
        -n 10000 -c 50 --csv 2>&1)
    rc=$?
    echo "$out" | tr '\r' '\n' | grep -v '^$' | sed 's/^/# /'
    assert_eq 0 "$rc" "$2: redis-benchmark's default test set (-n 10000 -c 50) exits 0"
    errs=$(echo "$out" | tr '\r' '\n' | grep -iE 'error|NOQUORUM|ERR ' | head -5)
    assert_eq "" "$errs" "$2: its output has no error line"
    assert_eq 20 "$(echo "$out" | grep -cE '^"[^"]+","[0-9.]+"')" \
        "$2: a rate for every one of its 20 tests"
}

# ---- 1. redis-benchmark's default test set through n1 ----------------------
default_set 1 "storage memory"
groups=$(info_field 1 write_groups)
grouped=$(info_field 1 writes_grouped)
if [ "${groups:-0}" -gt 0 ] && [ "${grouped:-0}" -gt "$groups" ]; then
    ok "n1 replicated $groups groups holding $grouped more writes"
else
    fail "write_groups=$groups writes_grouped=$grouped: want groups of several writes"
fi
assert_eq 0 "$(info_sum noquorum_writes)" "no write missed W"
sent=$(info_field 1 deltas_sent)
if [ "${sent:-0}" -gt 0 ]; then ok "n1 sent $sent deltas"
else fail "n1 sent no delta (deltas_sent=$sent)"; fi
if wait_for 60 same_roots; then ok "after the benchmark every node holds the same bytes"
else fail "Merkle roots differ: $(roots 1) $(roots 2) $(roots 3)"; fi

# ---- 2. 16 clients, two coordinators, one list ------------------------------
# push PORT_A PORT_B KEY CLIENTS EACH [expect-error]: client c pushes
# "c:i" (LPUSH for even c, RPUSH for odd) through PORT_A (even c) or
# PORT_B, one command at a time; prints the replies' tally.
push() {
    "$PY" - "$@" <<'EOF'
import sys, threading
import redis
pa, pb, key, nc, each = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
tally = {}
lock = threading.Lock()
def run(c):
    r = redis.Redis(host='127.0.0.1', port=pa if c % 2 == 0 else pb,
                    socket_timeout=60)
    for i in range(each):
        try:
            if c % 2 == 0:
                r.lpush(key, '%d:%d' % (c, i))
            else:
                r.rpush(key, '%d:%d' % (c, i))
            k = 'ok'
        except redis.exceptions.ResponseError as e:
            k = str(e).split(' ')[0]
        with lock:
            tally[k] = tally.get(k, 0) + 1
ts = [threading.Thread(target=run, args=(c,)) for c in range(nc)]
for t in ts: t.start()
for t in ts: t.join()
print(' '.join('%s=%d' % kv for kv in sorted(tally.items())))
EOF
}

# check PORT KEY CLIENTS EACH: every value once, each client's in order.
check() {
    "$PY" - "$@" <<'EOF'
import sys
import redis
port, key, nc, each = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
vals = [v.decode() for v in redis.Redis(host='127.0.0.1', port=port).lrange(key, 0, -1)]
want = set('%d:%d' % (c, i) for c in range(nc) for i in range(each))
if len(vals) != len(want) or set(vals) != want:
    print('%d values, %d distinct, %d missing' % (len(vals), len(set(vals)), len(want - set(vals))))
    sys.exit(0)
pos = {v: k for k, v in enumerate(vals)}
for c in range(nc):
    p = [pos['%d:%d' % (c, i)] for i in range(each)]
    if c % 2 == 0:
        p.reverse()   # each LPUSH goes before the one before it
    if p != sorted(p):
        print('client %d: its values are out of order' % c)
        sys.exit(0)
print('ok')
EOF
}

before=$(info_field 1 writes_grouped)
# A node traces at most 1000 ops a second (TRACE_PER_SEC, cluster/trace.h)
# and skips the rest.  Phase 1's last test can have used up the second the
# pushes start in, and on a fast machine n1's 1600 pushes all fit in it
# (CI once found none of them traced): start them in a second of their own.
sleep 1.1
skipped=$(info_field 1 traces_skipped)
tally=$(push "$(nport 1)" "$(nport 2)" g:list 16 200)
assert_eq "ok=3200" "$tally" "16 clients through n1 and n2: 3200 pushes acknowledged"
for i in 1 2 3; do
    assert_eq ok "$(check "$(nport "$i")" g:list 16 200)" \
        "read through n$i: every value once, each client's in its pushes' order"
done
after=$(info_field 1 writes_grouped)
if [ "$((after - before))" -gt 0 ]; then ok "n1 grouped $((after - before)) of those writes"
else fail "n1 grouped none of those writes"; fi
# every push's trace on n1, a group's follower too, shows the write it
# was acknowledged by: W reached, and at least W replicas that took it.
# The whole ring is read (DYNAMO.TRACE key answers only the newest 10 of
# the key, which a busy machine can leave without a push among them), and
# it holds them all (trace-max 8192 above).
traces=$("$PY" - "$(nport 1)" <<'EOF'
import sys
import redis
r = redis.Redis(host='127.0.0.1', port=int(sys.argv[1]))
def kv(a):
    return {a[i].decode(): a[i + 1] for i in range(0, len(a), 2)}
n = bad = 0
for t in r.execute_command('DYNAMO.TRACE', 1000000):
    t = kv(t)
    if t['key'] != b'g:list' or t['outcome'] != b'ok' or \
            t['op'].upper() not in (b'LPUSH', b'RPUSH'):
        continue
    n += 1
    oks = sum(1 for x in t['replicas'] if kv(x)['write'] == b'ok')
    if int(t['write_quorum_us']) == 0 or oks < 2:
        bad += 1
print('%d %d' % (n, bad))
EOF
)
set -- $traces
skipped=$(($(info_field 1 traces_skipped) - skipped))
if [ "${1:-0}" -gt 0 ] && [ "${2:-1}" = 0 ]; then
    ok "n1's $1 traces of those pushes each show W reached and 2 replicas that took the write"
else
    fail "traces of the pushes on n1: $traces (held, without their write), $skipped ops untraced"
fi
# every push through n1 was traced or counted as skipped
if [ "$(($1 + skipped))" -ge 1600 ]; then
    ok "n1 traced $1 of its 1600 pushes and counted $skipped ops as untraced"
else
    fail "n1 traced $1 pushes and skipped $skipped ops: fewer than its 1600 pushes"
fi
if wait_for 60 same_roots; then ok "after two coordinators every node holds the same bytes"
else fail "Merkle roots differ after two coordinators"; fi

# ---- 3. a group that misses W ----------------------------------------------
assert_eq OK "$(ncli 1 CONFIG SET w 3)" "CONFIG SET w 3 on n1"
ctool kill 3 >/dev/null 2>&1 || fail "dynamo-cluster kill 3"
n3_down() { [ "$(info_field 1 cluster_members_up)" = 2 ]; }
wait_for 60 n3_down || fail "n1 never saw n3 down"
before=$(info_field 1 writes_grouped)
tally=$(push "$(nport 1)" "$(nport 1)" g:nq 16 50)
assert_eq "NOQUORUM=800" "$tally" "with W=3 and n3 down every one of 800 pushes answers NOQUORUM"
after=$(info_field 1 writes_grouped)
if [ "$((after - before))" -gt 0 ]; then ok "$((after - before)) of them followed a group's leader"
else fail "none of them followed a group's leader"; fi
assert_eq ok "$(check "$(nport 1)" g:nq 16 50)" \
    "the writes are not rolled back: every value is on n1, once, in order"
assert_eq OK "$(ncli 1 CONFIG SET w 2)" "CONFIG SET w 2 on n1"
ctool restart 3 >/dev/null 2>&1 || fail "dynamo-cluster restart 3"
delivered() {
    [ "$(info_field 1 hints_pending)" = 0 ] &&
        [ "$(info_field 1 hints_delivered)" -gt 0 ]
}
if wait_for 120 delivered; then ok "n1 delivered its hints to n3, back"
else fail "n1's hints: pending $(info_field 1 hints_pending), delivered $(info_field 1 hints_delivered)"; fi
if wait_for 120 same_roots; then ok "then every node holds the same bytes"
else fail "Merkle roots differ after n3 came back"; fi
assert_eq ok "$(check "$(nport 3)" g:nq 16 50)" \
    "read through n3: every value once, in order"

# ---- 4. storage disk: the coordinator killed under grouped pushes -----------
cluster_stop
cluster_start 3 --n 3 --r 2 --w 2 --storage disk $TMO
ACKED=$WORK/acked
STOP=$WORK/stop
# 16 clients push "c:i" onto one list through n1 (even c) and n2 (odd c),
# one command at a time, until STOP exists or 60 s pass; each writes the
# values it got +OK-equivalent replies for to ACKED.c, and stops at its
# first error (its coordinator killed).
"$PY" - "$(nport 1)" "$(nport 2)" g:disk "$ACKED" "$STOP" <<'EOF' &
import os, sys, threading, time
import redis
pa, pb, key, acked, stop = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
end = time.time() + 60
def run(c):
    r = redis.Redis(host='127.0.0.1', port=pa if c % 2 == 0 else pb,
                    socket_timeout=20)
    with open('%s.%d' % (acked, c), 'w') as f:
        for i in range(100000):
            if os.path.exists(stop) or time.time() > end:
                return
            v = '%d:%d' % (c, i)
            try:
                r.lpush(key, v) if c % 2 == 0 else r.rpush(key, v)
            except Exception:
                return
            f.write(v + '\n')
            f.flush()
ts = [threading.Thread(target=run, args=(c,)) for c in range(16)]
for t in ts: t.start()
for t in ts: t.join()
EOF
LOAD=$!
track_pid "$LOAD"
acked_count() { cat "$ACKED".* 2>/dev/null | wc -l; }
wait_for 60 eval '[ "$(acked_count)" -ge 2000 ]' || fail "the pushers made no progress ($(acked_count) acknowledged)"
ctool kill 1 >/dev/null 2>&1 || fail "dynamo-cluster kill 1"
ok "n1 killed (kill -9) after $(acked_count) acknowledged pushes"
sleep 2
ctool restart 1 >/dev/null 2>&1 || fail "dynamo-cluster restart 1"
wait_for 60 eval '[ "$(info_field 1 cluster_members_up)" = 3 ]' || fail "n1 did not see the others up after its restart"
sleep 1
touch "$STOP"
wait "$LOAD" 2>/dev/null
groups=$(info_field 2 write_groups)
if [ "${groups:-0}" -gt 0 ]; then ok "n2 led $groups write groups with storage disk"
else fail "n2 led no write group with storage disk"; fi
# every acknowledged value is in the list, once, read through each node
has_acked() {
    "$PY" - "$(nport "$1")" g:disk "$ACKED" <<'EOF'
import glob, sys
import redis
port, key, acked = int(sys.argv[1]), sys.argv[2], sys.argv[3]
vals = [v.decode() for v in redis.Redis(host='127.0.0.1', port=port).lrange(key, 0, -1)]
want = set()
for f in glob.glob(acked + '.*'):
    want |= set(l.strip() for l in open(f) if l.strip())
missing = want - set(vals)
dups = len(vals) - len(set(vals))
print('ok' if not missing and not dups else
      '%d acknowledged missing, %d duplicates, %d values' % (len(missing), dups, len(vals)))
EOF
}
for i in 1 2 3; do
    assert_eq ok "$(has_acked "$i")" "after n1's kill -9 and restart, read through n$i: every acknowledged push ($(acked_count)) once"
done
if wait_for 120 same_roots; then ok "then every node holds the same bytes"
else fail "Merkle roots differ after n1's restart"; fi
# the list passed 4 KB: its versions went to the journal as edits
# (server/engine.c, "Edits in the journal") on every node
for i in 1 2 3; do
    e=$(info_field "$i" journal_edits)
    [ "${e:-0}" -gt 0 ] && ok "n$i journaled $e edits of the list" || fail "n$i journaled no edit"
done

# ---- 5. storage disk: the default test set -----------------------------------
# on a fresh cluster, as tools/bench-types runs it (after phase 4's kill,
# the restarted node's copy of the list is resent whole for a while)
cluster_stop
cluster_start 3 --n 3 --r 2 --w 2 --storage disk $TMO
default_set 2 "storage disk"
if wait_for 120 same_roots; then ok "storage disk: after the benchmark every node holds the same bytes"
else fail "storage disk: Merkle roots differ after the benchmark"; fi
finish
