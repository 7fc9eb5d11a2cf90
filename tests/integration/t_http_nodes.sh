#!/usr/bin/env bash
# t_http_nodes.sh -- the JSON API adds and removes nodes for real (issue
# #12): a 5-node cluster with 2 spare nodes (tools/dynamo-cluster's spares:
# the cluster secret, no cluster-node or seed lines, listed by the members'
# spare-node lines).
#
#   1. GET /api/cluster lists both spares with the http address each
#      reported over the peer bus; DYNAMO.SPARES says the same over RESP.
#   2. POST /api/nodes {"addr": n6} on n1: n6 is told over the peer bus to
#      join through n1 (R.JOIN: its own DYNAMO.JOIN), is then in every
#      member's ring, seen up, received its keys by streaming, and is no
#      longer listed as a spare.  POST of an address that is already a
#      member (via DYNAMO.ADD) is an error.
#   3. DELETE /api/nodes/n2 on n1 (a live other member): n2 is told to
#      leave (R.LEAVE: its own DYNAMO.LEAVE), and leaves the ring.
#   4. The cluster-wide event log (DYNAMO.EVENTS CLUSTER) holds n1's
#      "asked" join and leave, n6's driven join, and n2's driven leave.
#   5. Bad input: DYNAMO.ADD of an address that is no spare, DYNAMO.LEAVE
#      of an unknown member, DYNAMO.LEAVE with too many arguments.
. "$(dirname "$0")/cluster_lib.sh"
need_cmd curl

NKEYS=500
export DYNAMO_SPARES=2
cluster_start 5 --gossip-interval-ms 250
H=$((CL_BASE + 1000))
api() { curl -s -m 30 -X "$1" -H 'Content-Type: application/json' ${3:+-d "$3"} "http://127.0.0.1:$H$2"; }
jq_py() { "$PYTHON" -c "import json,sys; d=json.load(sys.stdin); $1" "${@:2}"; }

for ((k = 0; k < NKEYS; k++)); do printf 'SET k:%d v:%d\n' "$k" "$k"; done |
    ncli 1 >/dev/null

# ---- 1. the spares are listed ---------------------------------------------
spares_seen() {
    api GET /api/cluster | jq_py '
s = d.get("spares", [])
ok = sorted(x["addr"] for x in s if x.get("linked") and x.get("http")) == sys.argv[1:]
sys.exit(0 if ok else 1)' "127.0.0.1:$(nport 6)" "127.0.0.1:$(nport 7)"
}
if wait_for 20 spares_seen; then ok "GET /api/cluster lists n6 and n7 as linked spares with their http address"
else fail "spares: $(api GET /api/cluster | jq_py 'print(d.get("spares"))')"; fi
http6=$(api GET /api/cluster | jq_py 'print([x["http"] for x in d["spares"] if x["name"] == "n6"][0])')
assert_eq "127.0.0.1:$(( $(nport 6) + 1000 ))" "$http6" "n6's http address is the one it reported"
assert_match "127.0.0.1:$(nport 7)" "$(ncli 1 DYNAMO.SPARES | tr '\n' ' ')" "DYNAMO.SPARES over RESP lists n7"

# ---- 2. add n6 ----------------------------------------------------------------
out=$(api POST /api/nodes "{\"addr\":\"127.0.0.1:$(nport 6)\"}")
assert_eq '{"ok":true}' "$out" "POST /api/nodes {n6's address}: n6 took the join"
in_ring() { ncli "$1" DYNAMO.RING | awk -v n="$2" '$0 == "table" { exit } $0 == n { f = 1 } END { exit !f }'; }
status_of() {
    ncli "$1" DYNAMO.MEMBERS | awk -v n="$2" 'prev == "name" { on = ($0 == n) }
        on && prev == "status" { print; exit } { prev = $0 }'
}
n6_joined() {
    local i st
    for i in 1 2 3 4 5 6; do
        in_ring "$i" n6 || return 1
        st=$(status_of "$i" n6)
        [ "$st" = up ] || [ "$st" = self ] || return 1
    done
    [ "$(info_field 6 rebalance_partitions_gaining)" = 0 ]
}
if wait_for 60 n6_joined; then ok "n6 is in every member's ring and seen up, its stream done"
else fail "n6 did not join: ring of n1: $(ncli 1 DYNAMO.RING | head -12 | tr '\n' ' ')"; fi
keys_in=$(info_field 6 rebalance_keys_in)
if [ "${keys_in:-0}" -gt 0 ]; then ok "n6 received $keys_in keys by streaming"
else fail "n6 received nothing by streaming"; fi
n6_unlisted() { api GET /api/cluster | jq_py 'sys.exit(0 if [x["addr"] for x in d["spares"]] == [sys.argv[1]] else 1)' "127.0.0.1:$(nport 7)"; }
if wait_for 10 n6_unlisted; then ok "n6 is no longer listed as a spare, n7 still is"
else fail "spares after the join: $(api GET /api/cluster | jq_py 'print(d["spares"])')"; fi
assert_match 'already a member' "$(ncli 1 DYNAMO.ADD "127.0.0.1:$(nport 6)")" "DYNAMO.ADD of a spare that joined is refused"

# ---- 3. remove n2 ---------------------------------------------------------------
out=$(api DELETE /api/nodes/n2)
assert_eq '{"ok":true}' "$out" "DELETE /api/nodes/n2 on n1: n2 took the leave"
n2_gone() { local i; for i in 1 3 4 5 6; do ! in_ring "$i" n2 || return 1; done; }
if wait_for 60 n2_gone; then ok "n2 left every remaining member's ring"
else fail "n2 is still in a ring"; fi
# the ring may drop n2 a moment before n1's member table says it left
n2_left_on_n1() { [ "$(status_of 1 n2)" = left ]; }
if wait_for 30 n2_left_on_n1; then ok "n1 holds n2 as left"
else fail "n1 holds n2 as $(status_of 1 n2), not left, 30 s after it left every ring"; fi

# ---- 4. events --------------------------------------------------------------------
events=$(ncli 1 DYNAMO.EVENTS CLUSTER | tr '\n' ' ')
has_event() {   # NODE TYPE STATE [MEMBER]: an event with these fields
    ncli 1 DYNAMO.EVENTS CLUSTER | awk -v node="$1" -v type="$2" -v st="$3" -v mem="${4:-}" '
        prev == "node" { n = $0 } prev == "type" { t = $0 }
        prev == "state" { s = $0 } prev == "member" { m = $0 }
        prev == "id" { if (n == node && t == type && s == st && (mem == "" || m == mem)) f = 1; n = t = s = m = "" }
        { prev = $0 }
        END { if (n == node && t == type && s == st && (mem == "" || m == mem)) f = 1; exit !f }'
}
if has_event n1 join asked n6; then ok "n1's events: it asked n6 to join"; else fail "no asked join on n1: $events"; fi
if has_event n6 join done; then ok "n6's events: the join it drove is done"; else fail "no done join on n6: $events"; fi
if has_event n1 leave asked n2; then ok "n1's events: it asked n2 to leave"; else fail "no asked leave on n1: $events"; fi

# ---- 5. bad input -------------------------------------------------------------------
assert_match 'not a spare-node' "$(ncli 1 DYNAMO.ADD 127.0.0.1:1)" "DYNAMO.ADD of an address that is no spare-node"
assert_match 'unknown member' "$(ncli 1 DYNAMO.LEAVE nosuch)" "DYNAMO.LEAVE of an unknown member"
assert_match 'syntax' "$(ncli 1 DYNAMO.LEAVE a b)" "DYNAMO.LEAVE with two names"
finish
