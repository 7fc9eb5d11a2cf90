#!/usr/bin/env bash
# t_types_set.sh -- sets in a 3-node cluster (N=2, R=2, W=2, so each key
# has a node that is not its replica), through redis-cli and python3-redis:
#   - a set written through any node reads back through every node, and
#     exactly its replicas hold it;
#   - three clients SADD and SREM concurrently through different nodes:
#     every member one added and did not remove is there, on every node;
#   - across a DYNAMO.FAULT partition (R=W=1), a remove on one side and a
#     concurrent re-add on the other: after the heal every replica holds
#     the add-wins result;
#   - SSCAN with its cursor handed from node to node while members come
#     and go: it terminates and returns every member present throughout;
#   - SINTERSTORE, SUNIONSTORE, SDIFFSTORE, SMOVE, SINTER, SUNION, SDIFF
#     and SINTERCARD through a node that is a replica of none of the keys.
. "$(dirname "$0")/cluster_lib.sh"

"$PYTHON" -c 'import redis' 2>/dev/null || skip "python3-redis is missing"
cluster_start 3 --n 2 --r 2 --w 2 --anti-entropy-interval-ms 500 \
    --suspect-timeout-ms 500 --down-timeout-ms 1500

# local_members I KEY: the members of node I's own copy (DYNAMO.LOCAL's
# state), sorted, on one line; empty when it holds none.
local_members() {
    ncli "$1" DYNAMO.LOCAL "$2" | awk '
        /^members [0-9]+$/ { on = 1; next }
        on && /^"/ { sub(/^"/, ""); sub(/".*$/, ""); print; next }
        { on = 0 }' | sort | tr '\n' ' ' | sed 's/ $//'
}
# members_via I KEY: SMEMBERS through node I, sorted, on one line.
members_via() {
    ncli "$1" SMEMBERS "$2" | sort | tr '\n' ' ' | sed 's/ $//'
}
# key_on PREFIX A B: the first key PREFIX<i> whose replicas are nodes A
# and B (in either order).
key_on() {
    local i reps
    for ((i = 0; i < 500; i++)); do
        reps=$(replicas "$1$i")
        case $reps in "$2 $3" | "$3 $2") echo "$1$i"; return 0 ;; esac
    done
    return 1
}
# key_off PREFIX X: the first key PREFIX<i> of which node X is no replica.
key_off() {
    local i
    for ((i = 0; i < 500; i++)); do
        case " $(replicas "$1$i") " in *" $2 "*) ;; *) echo "$1$i"; return 0 ;; esac
    done
    return 1
}

# ---- one set through any node ------------------------------------------------
k=$(key_off basic: 1) || harness_error "no key without n1 as replica"
reps=$(replicas "$k")
assert_eq 4 "$(ncli 1 SADD "$k" a b c a d)" "SADD through n1 (no replica of $k) adds 4"
bad=0
for j in 1 2 3; do
    got=$(members_via "$j" "$k")
    [ "$got" = "a b c d" ] || { bad=$((bad + 1)); echo "# SMEMBERS via n$j: [$got]"; }
done
assert_eq 0 "$bad" "SMEMBERS through every node gives a b c d"
bad=0
for j in $reps; do
    got=$(local_members "$j" "$k")
    [ "$got" = "a b c d" ] || { bad=$((bad + 1)); echo "# n$j holds [$got]"; }
done
assert_eq 0 "$bad" "both replicas of $k (n${reps// /, n}) hold the set"
assert_eq "" "$(local_members 1 "$k")" "n1, not a replica, holds no copy"
assert_eq 2 "$(ncli 2 SREM "$k" a zz b)" "SREM through n2 removes 2"
assert_eq "c d" "$(members_via 3 "$k")" "n3 reads c d"
assert_eq 2 "$(ncli 3 SCARD "$k")" "SCARD is 2"
assert_eq "set" "$(ncli 1 TYPE "$k")" "TYPE is set"
assert_eq "WRONGTYPE Operation against a key holding the wrong kind of value" \
    "$(ncli 1 GET "$k" 2>&1)" "GET on the set is WRONGTYPE in a cluster"
assert_eq OK "$(ncli 2 SET str:1 v)" "SET a string"
assert_eq "WRONGTYPE Operation against a key holding the wrong kind of value" \
    "$(ncli 3 SADD str:1 x 2>&1)" "SADD on the string is WRONGTYPE in a cluster"

# ---- concurrent clients through different nodes --------------------------------
cat >"$WORK/set_clients.py" <<'EOF'
import random, sys, threading
import redis

base, key, ops = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
models, errors = {}, []

def client(t):
    r = redis.Redis(port=base + t, socket_timeout=20)
    rnd = random.Random(t)
    mine, nxt = set(), 0
    for _ in range(ops):
        if mine and rnd.random() < 0.35:
            gone = rnd.sample(sorted(mine), min(len(mine), rnd.randint(1, 3)))
            n = r.srem(key, *gone)
            if n != len(gone):
                errors.append("c%d: SREM %s answered %d" % (t, gone, n))
            mine -= set(gone)
        else:
            new = ["c%d:%d" % (t, nxt + i) for i in range(rnd.randint(1, 4))]
            nxt += len(new)
            again = rnd.sample(sorted(mine), 1) if mine and rnd.random() < 0.3 else []
            n = r.sadd(key, *(new + again))
            if n != len(new):
                errors.append("c%d: SADD %s answered %d" % (t, new + again, n))
            mine |= set(new)
    models[t] = mine

def guarded(t):
    try:
        client(t)
    except Exception as e:  # a refused or lost request fails the check
        errors.append("c%d: %r" % (t, e))
        models[t] = set()

threads = [threading.Thread(target=guarded, args=(t,)) for t in range(3)]
for th in threads:
    th.start()
for th in threads:
    th.join()
want = sorted(set().union(*models.values()))
for e in errors[:5]:
    print("#", e)
print(" ".join(want))
sys.exit(1 if errors else 0)
EOF
"$PYTHON" "$WORK/set_clients.py" "$CL_BASE" cc 150 >"$WORK/cc.out" 2>&1
assert_eq 0 "$?" "3 clients x 150 SADD/SREM through n1, n2, n3 concurrently: every reply as each client's own model says $(grep -v '^c' "$WORK/cc.out" | head -3 | tr '\n' ' ')"
want=$(grep '^c' "$WORK/cc.out" | tail -1)
[ -n "$want" ] || fail "the clients left no member"
bad=0
for j in 1 2 3; do
    got=$(members_via "$j" cc)
    [ "$got" = "$want" ] || { bad=$((bad + 1)); echo "# via n$j: $(echo "$got" | wc -w) members, want $(echo "$want" | wc -w)"; }
done
assert_eq 0 "$bad" "every node reads exactly the members added and not removed ($(echo "$want" | wc -w))"
cc_settled() {
    local j
    for j in $(replicas cc); do [ "$(local_members "$j" cc)" = "$want" ] || return 1; done
}
if wait_for 15 cc_settled; then ok "both replicas of cc hold exactly those members"
else fail "replicas of cc still differ from the clients' models"; fi

# ---- a partition: a remove on one side, a concurrent re-add on the other ---------
pk=$(key_on part: 1 3) || harness_error "no key on n1 and n3"
assert_eq 3 "$(ncli 1 SADD "$pk" a b c)" "SADD $pk a b c (replicas n1, n3)"
both_abc() { [ "$(local_members 1 "$pk")" = "a b c" ] && [ "$(local_members 3 "$pk")" = "a b c" ]; }
wait_for 10 both_abc || fail "n1 and n3 do not both hold a b c"
assert_eq OK "$(ncli 1 DYNAMO.CONFIG SET r 1)" "r=1"
assert_eq OK "$(ncli 1 DYNAMO.CONFIG SET w 1)" "w=1 (each side writes alone)"
bad=0
for a in 1 2; do
    [ "$(ncli 1 DYNAMO.FAULT "n$a" n3 DROP BOTH)" = OK ] || bad=$((bad + 1))
done
assert_eq 0 "$bad" "DYNAMO.FAULT cuts n3 from n1 and n2"
status_of() {
    ncli "$1" DYNAMO.MEMBERS | awk -v o="$2" '
        prev == "name" { on = ($0 == o) } on && prev == "status" { print; exit }
        { prev = $0 }'
}
cut_seen() {
    [ "$(status_of 1 n3)" = down ] && [ "$(status_of 3 n1)" = down ]
}
if wait_for 10 cut_seen; then ok "n1 and n3 see each other down"
else fail "the cut is not seen within 10 s"; fi
assert_eq 1 "$(ncli 1 SREM "$pk" a)" "n1's side: SREM a (it saw a's add)"
assert_eq 1 "$(ncli 1 SADD "$pk" d)" "n1's side: SADD d"
assert_eq 0 "$(ncli 3 SADD "$pk" a)" "n3's side: SADD a again (a new dot for a; replies 0)"
assert_eq 1 "$(ncli 3 SREM "$pk" b)" "n3's side: SREM b"
assert_eq "b c d" "$(local_members 1 "$pk")" "n1 holds b c d while cut"
assert_eq "a c" "$(local_members 3 "$pk")" "n3 holds a c while cut"
assert_eq OK "$(ncli 2 DYNAMO.FAULT CLEAR ALL)" "heal"
pk_settled() {
    [ "$(local_members 1 "$pk")" = "a c d" ] && [ "$(local_members 3 "$pk")" = "a c d" ]
}
if wait_for 20 pk_settled; then
    ok "after the heal n1 and n3 both hold a c d: the re-add of a wins over the remove that did not see it, b's remove and d's add are kept"
else
    fail "after the heal: n1 [$(local_members 1 "$pk")] n3 [$(local_members 3 "$pk")], want [a c d]"
fi
assert_eq OK "$(ncli 1 DYNAMO.CONFIG SET w 2)" "w=2"
assert_eq OK "$(ncli 1 DYNAMO.CONFIG SET r 2)" "r=2"
bad=0
for j in 1 2 3; do
    got=$(members_via "$j" "$pk")
    [ "$got" = "a c d" ] || { bad=$((bad + 1)); echo "# via n$j: [$got]"; }
done
assert_eq 0 "$bad" "every node reads a c d"

# ---- SSCAN: the cursor goes from node to node while the set changes ----------------
cat >"$WORK/set_sscan.py" <<'EOF'
import sys
import redis

base, key = int(sys.argv[1]), sys.argv[2]
nodes = [redis.Redis(port=base + i, socket_timeout=20) for i in range(3)]
keep = ["keep:%d" % i for i in range(300)]
tmp = ["tmp:%d" % i for i in range(100)]
nodes[0].sadd(key, *(keep + tmp))
cursor, calls, seen = 0, 0, set()
while True:
    cursor, items = nodes[calls % 3].sscan(key, cursor, count=25)
    seen |= {m.decode() for m in items}
    # between calls: a member goes, another comes
    nodes[(calls + 1) % 3].srem(key, tmp[calls % len(tmp)])
    nodes[(calls + 2) % 3].sadd(key, "new:%d" % calls)
    calls += 1
    if cursor == 0 or calls > 400:
        break
missing = [m for m in keep if m not in seen]
print("%d calls, %d distinct members returned, %d kept members missing"
      % (calls, len(seen), len(missing)))
sys.exit(0 if cursor == 0 and not missing else 1)
EOF
out=$("$PYTHON" "$WORK/set_sscan.py" "$CL_BASE" scanned)
assert_eq 0 "$?" "SSCAN COUNT 25 through n1, n2, n3 in turn, members removed and added between calls, ends with cursor 0 and returns all 300 members present throughout ($out)"

# ---- several keys through a node that is a replica of none ---------------------------
x=3
s1=$(key_off m1: $x) && s2=$(key_off m2: $x) && dst=$(key_off md: $x) ||
    harness_error "no keys without n$x as replica"
assert_eq 4 "$(ncli 1 SADD "$s1" a b c d)" "SADD $s1 a b c d"
assert_eq 3 "$(ncli 2 SADD "$s2" c d e)" "SADD $s2 c d e"
assert_eq "c d" "$(ncli $x SINTER "$s1" "$s2" | sort | tr '\n' ' ' | sed 's/ $//')" "SINTER through n$x"
assert_eq "a b c d e" "$(ncli $x SUNION "$s1" "$s2" | sort | tr '\n' ' ' | sed 's/ $//')" "SUNION through n$x"
assert_eq "a b" "$(ncli $x SDIFF "$s1" "$s2" | sort | tr '\n' ' ' | sed 's/ $//')" "SDIFF through n$x"
assert_eq 1 "$(ncli $x SINTERCARD 2 "$s1" "$s2" LIMIT 1)" "SINTERCARD 2 ... LIMIT 1 through n$x"
assert_eq 2 "$(ncli $x SINTERSTORE "$dst" "$s1" "$s2")" "SINTERSTORE through n$x stores 2"
dst_is() {
    local j
    for j in $(replicas "$dst"); do [ "$(local_members "$j" "$dst")" = "$1" ] || return 1; done
}
if wait_for 10 dst_is "c d"; then ok "both replicas of $dst hold c d"
else fail "replicas of $dst: $(for j in $(replicas "$dst"); do echo "n$j [$(local_members "$j" "$dst")]"; done)"; fi
assert_eq "" "$(local_members $x "$dst")" "n$x keeps no copy of $dst"
assert_eq 5 "$(ncli $x SUNIONSTORE "$dst" "$s1" "$s2")" "SUNIONSTORE through n$x stores 5"
assert_eq "a b c d e" "$(members_via 1 "$dst")" "n1 reads the union"
assert_eq 2 "$(ncli $x SDIFFSTORE "$dst" "$s1" "$s2")" "SDIFFSTORE through n$x stores 2"
assert_eq "a b" "$(members_via 2 "$dst")" "n2 reads the difference"
assert_eq 1 "$(ncli $x SMOVE "$s1" "$s2" a)" "SMOVE $s1 -> $s2 a through n$x"
assert_eq "b c d" "$(members_via 1 "$s1")" "the source lost a"
assert_eq "a c d e" "$(members_via 2 "$s2")" "the destination has it"
assert_eq 0 "$(ncli $x SINTERSTORE "$dst" "$s1" nokey:1)" "SINTERSTORE of an empty result through n$x"
assert_eq 0 "$(ncli 1 EXISTS "$dst")" "deletes the destination"
assert_eq "WRONGTYPE Operation against a key holding the wrong kind of value" \
    "$(ncli $x SUNION "$s1" str:1 2>&1)" "SUNION with a string key is WRONGTYPE through n$x"
finish
