#!/usr/bin/env bash
# t_admin_timeouts.sh -- every client command that waits on peers answers
# within its bound (issue #10, item 6): a silent peer makes a partial answer
# that names it, or a -TIMEOUT error with the figures, never a hang.
#
# 3 nodes, N=2 (so that some partitions' first replica is n2), the failure
# detector slowed down so that n2 stays "up" on n1 while it is silent: every
# command really waits on n2 and must give up on it by itself.
#
# 1. DYNAMO.FAULT n1 n2 DELAY 3000 BOTH, longer than request-timeout-ms:
#    the commands answer without n2 (FLUSHALL: -TIMEOUT, nothing rolled
#    back), also for a client that hung up while waiting, and the late
#    answers that arrive afterwards are dropped (INFO ae_late_answers)
#    without harm: the node stays healthy (a sanitizer build reports any
#    use of a freed client or request), and the late R.FLUSH still empties
#    n2.
# 2. DYNAMO.FAULT n1 n2 DELAY 100000 BOTH: on n1, DYNAMO.MERKLE of a
#    partition n2 replicates names n2 as unanswered; DYNAMO.AE (one, ALL)
#    names n2; DBSIZE, KEYS, RANDOMKEY and SCAN answer -TIMEOUT naming n2;
#    the commands that do not wait (DYNAMO.MEMBERS, RING, HINTS, CONFIG
#    SET, JOIN, PING) answer as usual.
#    A command started after request-timeout-ms was lowered gets the new
#    bound, even while an older one waits on the old bound.
# 3. The fault cleared: every one of them answers completely again.
# 4. DYNAMO.KILL on n1: DYNAMO.MERKLE still answers (no replica answers a
#    crashed node) and DYNAMO.AE says -KILLED; after DYNAMO.REVIVE both
#    work.
#
# The client-side `timeout 30` only turns a hang into a failure; the checks
# are on the answers' content, never on their timing.
. "$(dirname "$0")/cluster_lib.sh"

need_cmd "$PYTHON"
TMO_MS=1000
NPARTS=16
cluster_start 3 --n 2 --r 1 --w 1 --ring-partitions "$NPARTS" \
    --request-timeout-ms "$TMO_MS" --suspect-timeout-ms 600000 \
    --down-timeout-ms 600000 --anti-entropy-interval-ms 0

# acli I args...: one command against node I; "HUNG" if no answer in 30 s.
acli() {
    local i=$1 out
    shift
    out=$(timeout 30 redis-cli -h 127.0.0.1 -p "$(nport "$i")" "$@" 2>&1) ||
        { [ $? -eq 124 ] && out=HUNG; }
    printf '%s' "$out" | tr '\n' ' '
}

# part_with A B: a partition whose preference list is node A, node B.
part_with() {
    ncli 1 DYNAMO.RING | awk -v a="n$1" -v b="n$2" '
        $0 == "table" { on = 1; next }
        on && /^[0-9]+$/ { p = $0; getline x; getline y;
                           if (x == a && y == b) { print p; exit } }'
}
# P12: replicated by n1 and n2 (DYNAMO.MERKLE/AE on n1 ask n2); P23: n2
# first, so a SCAN of it through n1 asks n2 (the first reachable replica)
P12=$(part_with 1 2)
[ -n "$P12" ] || P12=$(part_with 2 1)
P23=$(part_with 2 3)
[ -n "$P12" ] && [ -n "$P23" ] ||
    harness_error "no partition on (n1,n2) or (n2,n3) among $NPARTS: $(ncli 1 DYNAMO.RING | tr '\n' ' ')"
echo "# partition $P12 is on n1 and n2, partition $P23 on n2 then n3"

for ((j = 0; j < 50; j++)); do echo "SET adm:$j v$j"; done | ncli 1 >/dev/null
assert_eq 50 "$(acli 1 DBSIZE)" "DBSIZE counts the 50 keys before the fault"

DELAY_MS=0
delays_set() {
    ncli 1 DYNAMO.FAULT LIST | tr '\n' ' ' | grep -q "n2 - - $DELAY_MS" &&
        ncli 2 DYNAMO.FAULT LIST | tr '\n' ' ' | grep -q "n1 - - $DELAY_MS"
}
delay_both() {
    DELAY_MS=$1
    # through n3: n1 would relay n2's half on the link it has just delayed
    assert_eq OK "$(acli 3 DYNAMO.FAULT n1 n2 DELAY "$1" BOTH)" "DYNAMO.FAULT n1 n2 DELAY $1 BOTH through n3"
    wait_for 10 delays_set || harness_error "the delay is not set on both ends"
}
clear_faults() {
    local j
    for ((j = 1; j <= 3; j++)); do ncli "$j" DYNAMO.FAULT CLEAR >/dev/null; done
}

# unanswered_n2 WHAT OUT: OUT (a DYNAMO.MERKLE / DYNAMO.AE answer, on one
# line) names n2, and only n2, as the peer that did not answer.
unanswered_n2() {
    assert_match "unanswered n2$" "$2" "$1 answers and names n2 as unanswered"
}
timeout_n2() {
    assert_match "^TIMEOUT [0-9]+ of [0-9]+ nodes answered [a-z]+ within $TMO_MS ms \(no answer from n2\)" \
        "$2" "$1 answers -TIMEOUT naming n2"
}

# ---- 1. late answers, and a client that hung up while waiting -----------------
# (first: the bus releases delayed requests in order, so anything delayed
# behind part 2's 100 s requests would wait for them)
late0=$(info_field 1 ae_late_answers)
delay_both 3000
# a client that sends DYNAMO.MERKLE and DYNAMO.AE and hangs up at once
"$PYTHON" - "$(nport 1)" "$P12" <<'EOF'
import socket, sys
for cmd in ("DYNAMO.MERKLE", "DYNAMO.AE"):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    p = sys.argv[2].encode()
    s.sendall(b"*2\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(cmd), cmd.encode(), len(p), p))
    s.close()
EOF
unanswered_n2 "DYNAMO.MERKLE $P12 (3 s delay)" "$(acli 1 DYNAMO.MERKLE "$P12")"
unanswered_n2 "DYNAMO.AE $P12 (3 s delay)" "$(acli 1 DYNAMO.AE "$P12")"
timeout_n2 "DBSIZE (3 s delay)" "$(acli 1 DBSIZE)"
out=$(acli 1 FLUSHALL)
timeout_n2 "FLUSHALL (3 s delay)" "$out"
assert_contains "nothing is rolled back" "$out" "FLUSHALL's timeout says nothing is rolled back"
late_in() { [ "$(info_field 1 ae_late_answers)" -ge $((${late0:-0} + 3)) ] 2>/dev/null; }
if wait_for 20 late_in; then ok "n2's late answers reached n1 and were dropped"
else fail "ae_late_answers went from $late0 to $(info_field 1 ae_late_answers)"; fi
clear_faults
assert_eq PONG "$(acli 1 PING)" "n1 is alive after the late answers"
# the delayed R.FLUSH reaches n2 too: then every node is empty
flushed() { [ "$(acli 1 DBSIZE)" = 0 ]; }
if wait_for 20 flushed; then ok "the late FLUSHALL reached n2: DBSIZE is 0"
else fail "DBSIZE after the late FLUSHALL: $(acli 1 DBSIZE)"; fi
out=$(acli 1 DYNAMO.AE "$P12")
assert_match "peers_failed 0 .* unanswered$" "$out" "DYNAMO.AE $P12 complete after the late answers"
for ((j = 0; j < 200; j++)); do echo "SET adm:$j v$j"; done | ncli 1 >/dev/null


# ---- 2. a peer that does not answer for 100 s --------------------------------
delay_both 100000
out=$(acli 1 DYNAMO.MERKLE "$P12")
unanswered_n2 "DYNAMO.MERKLE $P12" "$out"
assert_match "replicas n[12] [0-9a-f]{16} [0-9]+ n[12] +-1 " "$out" \
    "DYNAMO.MERKLE $P12: n1's root, n2 with a nil root and keys -1"
out=$(acli 1 DYNAMO.AE "$P12")
assert_match "^partitions 1 .*peers_failed 1 " "$out" "DYNAMO.AE $P12 counts n2 as failed"
unanswered_n2 "DYNAMO.AE $P12" "$out"
out=$(acli 1 DYNAMO.AE ALL)
assert_match "^partitions [0-9]+ " "$out" "DYNAMO.AE ALL answers"
unanswered_n2 "DYNAMO.AE ALL" "$out"
timeout_n2 DBSIZE "$(acli 1 DBSIZE)"
timeout_n2 KEYS "$(acli 1 KEYS '*')"
timeout_n2 RANDOMKEY "$(acli 1 RANDOMKEY)"
timeout_n2 "SCAN $P23" "$(acli 1 SCAN "$P23")"
# request-timeout-ms lowered at run time: a command started after the
# change gets the new bound even while an older one waits on the old one
assert_eq OK "$(acli 1 CONFIG SET request-timeout-ms 120000)" "CONFIG SET request-timeout-ms 120000"
timeout 150 redis-cli -h 127.0.0.1 -p "$(nport 1)" DBSIZE >"$WORK/slow_dbsize.out" 2>&1 &
SLOW_PID=$!
track_pid "$SLOW_PID"
slow_waits() { [ "$(info_field 1 blocked_clients)" -ge 1 ] 2>/dev/null; }
wait_for 10 slow_waits || echo "# (blocked_clients did not show the waiting DBSIZE)"
assert_eq OK "$(acli 1 CONFIG SET request-timeout-ms "$TMO_MS")" "CONFIG SET request-timeout-ms $TMO_MS"
timeout_n2 "DBSIZE behind one with a longer deadline" "$(acli 1 DBSIZE)"
# (FLUSHALL is in part 1: a delayed R.FLUSH still reaches n2 when its delay
# runs out, and 100 s could fall in the middle of this test)
# the commands that answer from the node's own state stay immediate
assert_match "^ring_epoch " "$(acli 1 DYNAMO.MEMBERS)" "DYNAMO.MEMBERS answers"
assert_match "^epoch " "$(acli 1 DYNAMO.RING)" "DYNAMO.RING answers"
out=$(acli 1 DYNAMO.HINTS)
if [ "$out" != HUNG ]; then ok "DYNAMO.HINTS answers"; else fail "DYNAMO.HINTS hung"; fi
assert_eq OK "$(acli 1 DYNAMO.CONFIG SET r 1)" "DYNAMO.CONFIG SET answers"
assert_eq OK "$(acli 1 DYNAMO.JOIN "127.0.0.1:$(nport 2)")" "DYNAMO.JOIN of a member answers"
assert_eq PONG "$(acli 1 PING)" "n1 answers PING"

# ---- 3. the fault cleared: complete answers again -----------------------------
clear_faults
merkle_complete() { [[ "$(acli 1 DYNAMO.MERKLE "$P12")" == *" unanswered" ]]; }
if wait_for 20 merkle_complete; then ok "DYNAMO.MERKLE $P12 shows both replicas, none unanswered, after the fault"
else fail "DYNAMO.MERKLE $P12 after the fault: $(acli 1 DYNAMO.MERKLE "$P12")"; fi
assert_match "replicas n[12] [0-9a-f]{16} [0-9]+ n[12] [0-9a-f]{16} [0-9]+ " \
    "$(acli 1 DYNAMO.MERKLE "$P12")" "DYNAMO.MERKLE $P12: both roots"
out=$(acli 1 DYNAMO.AE ALL)
assert_match "peers_failed 0 .* unanswered$" "$out" "DYNAMO.AE ALL: every peer answered"
assert_eq 200 "$(acli 1 DBSIZE)" "DBSIZE counts the 200 keys again"
assert_eq 200 "$(ncli 1 KEYS 'adm:*' | wc -l)" "KEYS lists the 200 keys again"
assert_match "^adm:[0-9]+ ?$" "$(acli 1 RANDOMKEY)" "RANDOMKEY answers a key"
assert_match "^[0-9]+ " "$(acli 1 SCAN "$P23")" "SCAN $P23 answers"

# ---- 4. DYNAMO.KILL: the node answers its admin clients ---------------------
assert_eq OK "$(acli 1 DYNAMO.KILL)" "DYNAMO.KILL on n1"
out=$(acli 1 DYNAMO.MERKLE "$P12")
unanswered_n2 "DYNAMO.MERKLE $P12 on a killed node" "$out"
assert_match "^KILLED " "$(acli 1 DYNAMO.AE "$P12")" "DYNAMO.AE on a killed node is -KILLED"
assert_eq OK "$(acli 1 DYNAMO.REVIVE)" "DYNAMO.REVIVE n1"
merkle_whole() { [[ "$(acli 1 DYNAMO.MERKLE "$P12")" == *" unanswered" ]]; }
if wait_for 20 merkle_whole; then ok "DYNAMO.MERKLE $P12 complete after DYNAMO.REVIVE"
else fail "DYNAMO.MERKLE after DYNAMO.REVIVE: $(acli 1 DYNAMO.MERKLE "$P12")"; fi
assert_match "peers_failed 0 .* unanswered$" "$(acli 1 DYNAMO.AE "$P12")" "DYNAMO.AE works after DYNAMO.REVIVE"

for ((j = 1; j <= 3; j++)); do
    assert_eq PONG "$(acli "$j" PING)" "n$j is alive at the end"
done
finish
