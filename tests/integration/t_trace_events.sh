#!/usr/bin/env bash
# t_trace_events.sh -- DYNAMO.TRACE and DYNAMO.EVENTS are records of what
# the request path really did (issue #12), on a 3-node cluster with N=2
# R=2 W=2 (so that a third node can stand in) and no anti-entropy (so
# that hints and read repair are the only healing):
#
#   1. bad arguments get errors naming the usage;
#   2. a SET sent to a node that is not a replica is forwarded: the
#      coordinator's trace says so and from which node; two blind
#      DYNAMO.PUTs make siblings and a PUT with their context resolves
#      them, each an event;
#   3. with one replica B killed (DYNAMO.KILL), a SET through the other
#      replica A is a sloppy write: A's trace names the stand-in C and the
#      owner B it stood in for, A's events say "sloppy-write", C's say
#      "hint-stored"; after DYNAMO.REVIVE, C's say "hint-delivered";
#   4. B restarted empty: a GET through A finds B's copy missing and
#      repairs it: A's events say "read-repair", its trace marks B
#      repaired;
#   5. DYNAMO.EVENTS CLUSTER / DYNAMO.TRACE CLUSTER gather every node's,
#      and with a member killed, the others' and its name "unanswered";
#   6. trace-max 0 and event-max 0 record nothing.
# No timing assertion: every wait polls with a generous deadline.
. "$(dirname "$0")/cluster_lib.sh"

cluster_start 3 --n 2 --r 2 --w 2 --anti-entropy-interval-ms 0 \
    --suspect-timeout-ms 500 --down-timeout-ms 1500

# field NAME: the value after each line equal to NAME (flat RESP2 maps)
field() { awk -v f="$1" 'p == f { print } { p = $0 }'; }
# events_have I TYPE KEY: node I's event log holds a TYPE event for KEY
events_have() {
    ncli "$1" DYNAMO.EVENTS | awk -v t="$2" -v k="$3" '
        p == "type" { ty = $0 } p == "key" && ty == t && $0 == k { hit = 1 }
        p == "id" { ty = "" } { p = $0 } END { exit !hit }'
}
# status_of I J: node J's status in node I's view
status_of() {
    ncli "$1" DYNAMO.MEMBERS | awk -v o="n$2" '
        p == "name" { on = ($0 == o) } on && p == "status" { print; exit }
        { p = $0 }'
}
is_status() { [ "$(status_of "$1" "$2")" = "$3" ]; }

# -- 1. bad arguments
assert_match '^ERR DYNAMO.TRACE count must be a positive integer' \
    "$(ncli 1 DYNAMO.TRACE -1)" "DYNAMO.TRACE -1 is refused"
assert_match '^ERR DYNAMO.TRACE count must be a positive integer' \
    "$(ncli 1 DYNAMO.TRACE 0)" "DYNAMO.TRACE 0 is refused"
assert_match '^ERR syntax: DYNAMO.TRACE' "$(ncli 1 DYNAMO.TRACE a b c)" \
    "DYNAMO.TRACE with three arguments is refused"
assert_match '^ERR syntax: DYNAMO.TRACE' "$(ncli 1 DYNAMO.TRACE foo bar)" \
    "DYNAMO.TRACE x y without KEY is refused"
assert_match '^ERR DYNAMO.EVENTS since must be an event id' \
    "$(ncli 1 DYNAMO.EVENTS soon)" "DYNAMO.EVENTS soon is refused"
assert_match '^ERR DYNAMO.EVENTS since must be an event id' \
    "$(ncli 1 DYNAMO.EVENTS -5)" "DYNAMO.EVENTS -5 is refused"
assert_match '^ERR syntax: DYNAMO.EVENTS' "$(ncli 1 DYNAMO.EVENTS 1 2)" \
    "DYNAMO.EVENTS with two arguments is refused"

assert_eq OK "$(ncli 1 DYNAMO.FAULT CLEAR)" "DYNAMO.FAULT CLEAR on n1"
assert_eq fault "$(ncli 1 DYNAMO.EVENTS | field type | grep -x fault | head -1)" \
    "n1's events: the fault change"

# -- 2. a forwarded SET
K="tr:$RANDOM"
read -r A B <<<"$(replicas "$K")"
C=$(nonreplica "$K")
echo "# key $K: replicas n$A n$B, n$C stands in"
assert_eq OK "$(ncli "$C" SET "$K" v1)" "SET through n$C (not a replica)"
tr=$(ncli "$A" DYNAMO.TRACE KEY "$K")
assert_eq set "$(field op <<<"$tr" | head -1)" "n$A traced the SET it coordinated"
assert_eq "n$A" "$(field coordinator <<<"$tr" | head -1)" "the trace names n$A as coordinator"
assert_eq "n$C" "$(field forwarded_from <<<"$tr" | head -1)" "and n$C as the node that forwarded it"
assert_eq ok "$(field outcome <<<"$tr" | head -1)" "outcome ok"
assert_eq "" "$(ncli "$C" DYNAMO.TRACE KEY "$K")" "the forwarding node keeps no trace of it"

# -- 2b. siblings made by two blind writes, resolved by a write with the
# context that covers both
S="sib:$RANDOM"
read -r SA _ <<<"$(replicas "$S")"
ncli "$SA" DYNAMO.PUT "$S" "" one >/dev/null
ncli "$SA" DYNAMO.PUT "$S" "" two >/dev/null
if events_have "$SA" sibling-created "$S"; then ok "n$SA's events: sibling-created $S"
else fail "n$SA's events lack sibling-created $S"; fi
ctx=$(ncli "$SA" DYNAMO.GET "$S" | head -1)
assert_eq OK "$(ncli "$SA" DYNAMO.PUT "$S" "$ctx" three)" "a DYNAMO.PUT with the read's context"
if events_have "$SA" sibling-resolved "$S"; then ok "n$SA's events: sibling-resolved $S"
else fail "n$SA's events lack sibling-resolved $S: $(ncli "$SA" DYNAMO.EVENTS | tr '\n' ' ')"; fi

# -- 3. a sloppy write, its hint, the delivery
assert_eq OK "$(ncli "$B" DYNAMO.KILL)" "DYNAMO.KILL n$B"
wait_for 20 is_status "$A" "$B" down || fail "n$A does not see n$B down"
assert_eq OK "$(ncli "$A" SET "$K" v2)" "SET through n$A while n$B is down (W=2 with a stand-in)"
tr=$(ncli "$A" DYNAMO.TRACE "$K")
# the newest trace first: its replicas, one map each
standin=$(awk -v c="n$C" 'p == "node" { on = ($0 == c) } on && p == "standin_for" { print; exit } { p = $0 }' <<<"$tr")
assert_eq "n$B" "$standin" "the trace names n$C as stand-in for n$B"
role=$(awk -v c="n$C" 'p == "node" { on = ($0 == c) } on && p == "role" { print; exit } { p = $0 }' <<<"$tr")
assert_eq stand-in "$role" "n$C's role is stand-in"
wr=$(awk -v c="n$C" 'p == "node" { on = ($0 == c) } on && p == "write" { print; exit } { p = $0 }' <<<"$tr")
assert_eq ok "$wr" "n$C acknowledged the write"
up=$(awk -v c="n$B" 'p == "node" { on = ($0 == c) } on && p == "up" { print; exit } { p = $0 }' <<<"$tr")
assert_eq 0 "$up" "n$B is listed as an owner that was not up"
wq=$(field write_quorum_us <<<"$tr" | head -1)
assert_match '^[1-9][0-9]*$' "$wq" "the trace says when W was reached ($wq us)"
if events_have "$A" sloppy-write "$K"; then ok "n$A's events: sloppy-write $K"
else fail "n$A's events lack sloppy-write $K: $(ncli "$A" DYNAMO.EVENTS | tr '\n' ' ')"; fi
if events_have "$C" hint-stored "$K"; then ok "n$C's events: hint-stored $K"
else fail "n$C's events lack hint-stored $K: $(ncli "$C" DYNAMO.EVENTS | tr '\n' ' ')"; fi
# a killed member does not hide the others' records: it is "unanswered"
tc=$(ncli "$A" DYNAMO.TRACE CLUSTER KEY "$K")
assert_eq "n$A" "$(field coordinator <<<"$tc" | sort -u)" \
    "DYNAMO.TRACE CLUSTER KEY with n$B killed still has n$A's traces"
assert_eq "n$B" "$(awk 'p == "node" { n = $0 } p == "unanswered" { print n } { p = $0 }' <<<"$tc")" \
    "and names the killed n$B unanswered"
assert_match 'hint-stored' "$(ncli "$A" DYNAMO.EVENTS CLUSTER | field type | sort -u | tr '\n' ' ')" \
    "DYNAMO.EVENTS CLUSTER with n$B killed: n$C's events are there"
assert_eq OK "$(ncli "$B" DYNAMO.REVIVE)" "DYNAMO.REVIVE n$B"
if wait_for 30 events_have "$C" hint-delivered "$K"; then ok "n$C's events: hint-delivered $K"
else fail "n$C's events lack hint-delivered $K: $(ncli "$C" DYNAMO.EVENTS | tr '\n' ' ')"; fi
evb=$(ncli "$B" DYNAMO.EVENTS | field type)
if grep -qx kill <<<"$evb" && grep -qx revive <<<"$evb"; then
    ok "n$B's events record its kill and revive"
else fail "n$B's events: $(ncli "$B" DYNAMO.EVENTS | tr '\n' ' ')"; fi
# the cluster-wide view: every reachable member's records, from any node
nodes=$(ncli "$B" DYNAMO.EVENTS CLUSTER | field node | sort -u | tr '\n' ' ')
assert_eq "n1 n2 n3 " "$nodes" "DYNAMO.EVENTS CLUSTER on n$B merges the events of every node"
if ncli "$B" DYNAMO.EVENTS CLUSTER | awk -v k="$K" 'p == "type" { t = $0 } p == "key" && t == "hint-stored" && $0 == k { h = 1 } { p = $0 } END { exit !h }'; then
    ok "DYNAMO.EVENTS CLUSTER on n$B shows n$C's hint-stored"
else fail "DYNAMO.EVENTS CLUSTER on n$B lacks the hint-stored of $K"; fi
assert_eq "n$A" "$(ncli "$C" DYNAMO.TRACE CLUSTER KEY "$K" | field coordinator | sort -u)" \
    "DYNAMO.TRACE CLUSTER KEY on n$C finds n$A's traces of $K"
assert_match '^ERR DYNAMO.EVENTS since must be an event id' \
    "$(ncli "$A" DYNAMO.EVENTS CLUSTER soon)" "DYNAMO.EVENTS CLUSTER soon is refused"
last=$(ncli "$C" DYNAMO.EVENTS | field id | tail -1)
assert_eq "" "$(ncli "$C" DYNAMO.EVENTS "$last" | field id)" "DYNAMO.EVENTS <last id> is empty"

# -- 4. read repair of a replica restarted empty
ctool restart "$B" --empty >/dev/null 2>&1 || fail "n$B did not restart"
repaired() {
    ncli "$A" GET "$K" >/dev/null
    events_have "$A" read-repair "$K"
}
if wait_for 30 repaired; then ok "n$A's events: read-repair $K (n$B restarted empty)"
else fail "no read-repair event for $K on n$A: $(ncli "$A" DYNAMO.EVENTS | tr '\n' ' ')"; fi
tr=$(ncli "$A" DYNAMO.TRACE KEY "$K")
rep=$(awk -v b="n$B" 'p == "node" { on = ($0 == b) } on && p == "repaired" && $0 == 1 { print; exit } { p = $0 }' <<<"$tr")
assert_eq 1 "$rep" "a GET trace of $K marks n$B repaired"
assert_match '^[1-9]' "$(ncli "$A" DYNAMO.TRACE 1 | field read_quorum_us | head -1)" \
    "the GET trace says when R was reached"
assert_eq 1 "$(ncli "$A" DYNAMO.TRACE 1 | field id | wc -l)" "DYNAMO.TRACE 1 is one trace"

# -- 5. trace-max 0, event-max 0
cluster_stop
cluster_start 2 --trace-max 0 --event-max 0
for i in 1 2 3 4 5; do ncli 1 SET "off:$i" x >/dev/null; done
ncli 2 DYNAMO.KILL >/dev/null
ncli 2 DYNAMO.REVIVE >/dev/null
assert_eq "" "$(ncli 1 DYNAMO.TRACE; ncli 2 DYNAMO.TRACE)" "trace-max 0: no trace recorded"
assert_eq "" "$(ncli 1 DYNAMO.EVENTS; ncli 2 DYNAMO.EVENTS)" "event-max 0: no event recorded"
finish
